#!/usr/bin/env bash
# shard-shuffle on 10 million tabular samples (20 float32 columns and a label,
# zstd): full shuffle in memory and out of it (windows under --memory), block
# shuffle, against plain sequential copies with shard-cat (the shard stream to
# /dev/null, and a dataset copy, shard-cat DS -o DIR, which like shard-shuffle writes
# a dataset and flushes it) and against Mosaic's StreamingDataset(shuffle=True)
# iterating the same dataset (a subset, scaled).
#
#   SHARDKIT_BUILD=build SHARDKIT_PYTHON=/path/to/venv/bin/python bench/shuffle.sh
#
# BENCH_ROWS (default 10000000), BENCH_PY_SAMPLES (default 300000),
# BENCH_SMALL_MEMORY (default 256MiB), SHARDKIT_BENCH_DIR (default /tmp/shardkit-bench).
set -euo pipefail

py_n=${BENCH_PY_SAMPLES:-300000}
small_mem=${BENCH_SMALL_MEMORY:-256MiB}
. "$(dirname "$0")/common.sh"
ds=$dir/mds-shuffle-$rows
if [ ! -f "$ds/index.json" ]; then
	rm -rf "$ds"
	"$build/shard-convert" -q --header -s "$(printf 'f%02d:float32,' $(seq 0 19))label:int64" -o "$ds" "$csv"
fi
measure() {	# key label command...: prints and records seconds and peak RSS
	local key=$1 label=$2
	shift 2
	time_cmd "$@"
	record "shuffle.$key.s" "$secs"
	record "shuffle.$key.rss" "$rss"
	printf '%-44s %9.2f s %10.0f samples/s %8.0f MiB\n' "$label" "$secs" "$(echo "$rows / $secs" | bc -l)" \
		"$(echo "$rss / 1024" | bc -l)"
	echo "$label|$secs|$rss" >> "$work/table"
}

raw=$("$build/shard-index" info --json "$ds" | grep -o '"bytes_raw":[0-9]*' | cut -d: -f2)
echo "dataset: $rows samples, $raw bytes raw; machine: $(nproc) cores"
record shuffle.rows "$rows"
record shuffle.raw_bytes "$raw"
cat "$ds"/shard.* >/dev/null	# into the page cache
measure stream "shard-cat -o - (stream to /dev/null)" "$build/shard-cat" -q "$ds" -o -
measure copy "shard-cat DS -o DIR (dataset copy)" "$build/shard-cat" -q "$ds" -o "$work/copy"
rm -rf "$work/copy"
measure pipe "shard-cat -o - | shard-cat - -o DIR" sh -c "'$build/shard-cat' -q '$ds' -o - | '$build/shard-cat' -q - -o '$work/copy'"
measure full "shard-shuffle (full, in memory)" "$build/shard-shuffle" -q --seed 7 -o "$work/full" "$ds"
measure windows "shard-shuffle --memory $small_mem (windows)" "$build/shard-shuffle" -q --seed 7 --memory "$small_mem" -o "$work/ext" "$ds"
cmp "$work/full/index.json" "$work/ext/index.json" && echo "  (same order and bytes as the in-memory run)"
measure block "shard-shuffle --block" "$build/shard-shuffle" -q --block --seed 7 -o "$work/block" "$ds"
rm -rf "$work/full" "$work/ext" "$work/block" "$work/copy"
/usr/bin/time -f '%e %M' -o "$work/time" "$py" "$top/bench/sd_shuffle.py" "$ds" "$py_n" > "$work/out" 2>"$work/err" ||
	{ cat "$work/err" >&2; exit 1; }
read -r n it total < <(tail -n 1 "$work/out")
read -r secs rss < "$work/time"
est=$(echo "$it * $total / $n" | bc -l)
record shuffle.sd.samples "$n"
record shuffle.sd.s "$est"
record shuffle.sd.rss "$rss"
printf '%-44s %9.2f s %10.0f samples/s %8.0f MiB   (%d samples iterated, scaled)\n' \
	"StreamingDataset(shuffle=True)" "$est" "$(echo "$n / $it" | bc -l)" "$(echo "$rss / 1024" | bc -l)" "$n"
