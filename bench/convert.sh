#!/usr/bin/env bash
# shard-convert against its peers, in one run, on one generated Spark-style CSV
# export (part files with headers, 20 float columns and an integer label):
#   (a) Mosaic's MDSWriter fed row by row as dataframe_to_mds does it,
#   (b) dataframe_to_mds itself on pyspark local[2],
#   (c) zstd -3 -T1 over the same CSV bytes (the ceiling: just compressing them).
# Also peak RSS of shard-convert on ~100 MB, a quarter and the full input (it must stay flat),
# and on ~100 MB and the full input with 16 MiB shards, which the small input fills too.
#
#   SHARDKIT_BUILD=build SHARDKIT_PYTHON=/path/to/venv/bin/python bench/convert.sh
#
# BENCH_ROWS (default 10000000, ~2 GB), BENCH_PY_ROWS (rows MDSWriter converts before
# its rate is taken, default 200000), BENCH_SPARK_FILES (part files dataframe_to_mds
# converts, default 1 of 16), SHARDKIT_BENCH_DIR (cache, default /tmp/shardkit-bench),
# BENCH_SYNC_RUNS (runs with and without --no-sync, default 3), BENCH_SYNC_ONLY=1 (time
# only those, then stop: no Python needed). shard-convert's rows/s is of the median of
# its runs with the default flush (the first and the BENCH_SYNC_RUNS ones).
set -euo pipefail

py_rows=${BENCH_PY_ROWS:-200000}
spark_files=${BENCH_SPARK_FILES:-1}
. "$(dirname "$0")/common.sh"
small=$dir/csv-small-$rows
if [ ! -f "$small/_SUCCESS" ]; then
	rm -rf "$small" && mkdir -p "$small"
	"$dir/gen-csv" "$small" "$((rows / 20))" 1
fi
bytes=$(cat "$csv"/part-*.csv | wc -c)
sbytes=$(cat "$small"/part-*.csv | wc -c)
schema=$(printf 'f%02d:float32,' $(seq 0 19))label:int64
echo "input: $rows rows, $bytes bytes of CSV in 16 part files; machine: $(nproc) cores"
time_cmd "$build/shard-convert" -q --header -s "$schema" -o "$work/ours" "$csv"
ours_rss=$rss runs=$secs
"$build/shard-index" verify -q "$work/ours"
rm -rf "$work/ours"
# what durability costs: the conversion with its default flush (the shards, their
# directory, then index.json, fsynced before and after index.json's rename) against
# --no-sync, alternated BENCH_SYNC_RUNS times (default 3), the best of each kept
sync_best= nosync_best=
for i in $(seq "${BENCH_SYNC_RUNS:-3}"); do
	time_cmd "$build/shard-convert" -q --header -s "$schema" -o "$work/sync" "$csv"
	sync_best=$(printf '%s\n' $sync_best $secs | sort -g | head -n 1)
	runs="$runs $secs"
	[ "$rss" -le "$ours_rss" ] || ours_rss=$rss
	time_cmd "$build/shard-convert" -q --header -s "$schema" --no-sync -o "$work/nosync" "$csv"
	nosync_best=$(printf '%s\n' $nosync_best $secs | sort -g | head -n 1)
	rm -rf "$work/sync" "$work/nosync"
done
sync_line=$(awk -v a="$sync_best" -v b="$nosync_best" -v r="$rows" -v n="${BENCH_SYNC_RUNS:-3}" 'BEGIN {
	pct = b > 0 ? 100 * (a - b) / b : 0
	printf "durability: %.2f s with the flush, %.2f s with --no-sync (best of %d): the flush costs %.2f s, %.1f %%; %.0f against %.0f rows/s\n",
		a, b, n, a - b, pct, r / a, r / b }')
ours_s=$(printf '%s\n' $runs | sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
record convert.rows "$rows"
record convert.csv_bytes "$bytes"
record convert.runs_s "$runs"
record convert.s "$ours_s"
record convert.rss "$ours_rss"
record convert.sync_best_s "$sync_best"
record convert.nosync_best_s "$nosync_best"
record convert.sync_runs "${BENCH_SYNC_RUNS:-3}"
if [ -n "${BENCH_SYNC_ONLY:-}" ]; then
	echo "$sync_line"
	exit 0
fi
time_cmd "$build/shard-convert" -q --header -s "$schema" -o "$work/ours-small" "$small"
small_s=$secs small_rss=$rss
# a quarter of the export (4 of its 16 part files): past the first shards, where
# memory stops growing
mkdir "$work/quarter"
for f in $(ls "$csv"/part-*.csv | head -n 4); do ln -s "$f" "$work/quarter/"; done
qbytes=$(cat "$work/quarter"/part-*.csv | wc -c)
time_cmd "$build/shard-convert" -q --header -s "$schema" -o "$work/ours-quarter" "$work/quarter"
quarter_rss=$rss
rm -rf "$work/ours-quarter" "$work/ours-small"
# with 16 MiB shards the small input fills several too: the same bound on both
time_cmd "$build/shard-convert" -q --header -s "$schema" --size-limit 16MiB -o "$work/ours-16" "$small"
small16_rss=$rss
rm -rf "$work/ours-16"
time_cmd "$build/shard-convert" -q --header -s "$schema" --size-limit 16MiB -o "$work/ours-16" "$csv"
full16_rss=$rss
rm -rf "$work/ours-16"
time_cmd sh -c "cat '$csv'/part-*.csv | zstd -3 -T1 -q -c"
zstd_s=$secs zstd_rss=$rss
time_cmd "$py" "$top/bench/convert_peers.py" mdswriter "$csv" "$work/mdswriter" "$py_rows"
read -r mw_rows mw_s < <(tail -n 1 "$work/out")
mw_rss=$rss
time_cmd "$py" "$top/bench/convert_peers.py" spark "$csv" "$work/spark" "$spark_files"
read -r sp_rows sp_s < <(tail -n 1 "$work/out")
sp_rss=$rss
record convert.small_bytes "$sbytes"
record convert.small_rss "$small_rss"
record convert.quarter_bytes "$qbytes"
record convert.quarter_rss "$quarter_rss"
record convert.size16_small_rss "$small16_rss"
record convert.size16_full_rss "$full16_rss"
record convert.zstd3.s "$zstd_s"
record convert.zstd3.rss "$zstd_rss"
record convert.mdswriter.rows "$mw_rows"
record convert.mdswriter.s "$mw_s"
record convert.mdswriter.rss "$mw_rss"
record convert.spark.rows "$sp_rows"
record convert.spark.s "$sp_s"
record convert.spark.rss "$sp_rss"
echo "shard-convert: median of $(echo $runs | wc -w) runs with the default flush ($runs s)"

"$py" - "$rows" "$bytes" "$ours_s" "$ours_rss" "$zstd_s" "$mw_rows" "$mw_s" "$mw_rss" "$sp_rows" "$sp_s" "$sp_rss" \
	"$sbytes" "$small_s" "$small_rss" "$qbytes" "$quarter_rss" "$small16_rss" "$full16_rss" <<'PY'
import sys
a = sys.argv[1:]
rows, nbytes = int(a[0]), int(a[1])
ours_s, ours_rss, zstd_s = float(a[2]), int(a[3]), float(a[4])
mw_rows, mw_s, mw_rss = int(a[5]), float(a[6]), int(a[7])
sp_rows, sp_s, sp_rss = int(a[8]), float(a[9]), int(a[10])
sbytes, small_s, small_rss = int(a[11]), float(a[12]), int(a[13])
qbytes, quarter_rss = int(a[14]), int(a[15])
small16_rss, full16_rss = int(a[16]), int(a[17])
ours = rows / ours_s
mw = mw_rows / mw_s
sp = sp_rows / sp_s
zs = rows / zstd_s
print(f"{'':34s}{'rows/s':>12s}{'MB/s':>9s}{'peak RSS MiB':>14s}{'shard-convert is':>20s}")
def line(name, rps, rss):
    print(f"{name:34s}{rps:12,.0f}{rps * nbytes / rows / 1e6:9.1f}{rss / 1024:14.0f}{ours / rps:18.1f} x")
line('shard-convert', ours, ours_rss)
line('zstd -3 -T1 (CSV bytes, ceiling)', zs, 0)
line(f'MDSWriter row by row ({mw_rows:,} rows)', mw, mw_rss)
line(f'dataframe_to_mds local[2] ({sp_rows:,})', sp, sp_rss)
print(f"shard-convert peak RSS: {small_rss / 1024:.0f} MiB on {sbytes / 1e6:.0f} MB (less than one shard), "
      f"{quarter_rss / 1024:.0f} MiB on {qbytes / 1e6:.0f} MB, {ours_rss / 1024:.0f} MiB on {nbytes / 1e6:.0f} MB")
print(f"  with --size-limit 16MiB: {small16_rss / 1024:.0f} MiB on {sbytes / 1e6:.0f} MB, "
      f"{full16_rss / 1024:.0f} MiB on {nbytes / 1e6:.0f} MB")
PY
echo "$sync_line"
