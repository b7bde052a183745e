#!/usr/bin/env bash
# The same engines from two builds, side by side on the benchmark data: is NEW slower
# than OLD, and does it write the same bytes?
#
#   bench/compare.sh OLD_BUILD NEW_BUILD
#
# OLD_BUILD and NEW_BUILD are build directories holding shard-convert, shard-shuffle and
# shard-gpu-bench. On bench/common.sh's generated CSV export (BENCH_ROWS rows, default
# 10,000,000: 2 GB in 16 part files) it times, COMPARE_REPS times (default 5), each
# build in turn, the order alternating from one repetition to the next (old new, new old,
# ...) so that a drift in the machine's load falls on both:
#   shard-convert of the export (zstd, the default flush)
#   shard-shuffle, full (in memory) and --block, of the dataset OLD converted
#   shard-gpu-bench --device cpu on that dataset and on its uncompressed twin
#     (the program's own seconds, start-up and mapping left out)
# and prints each one's median seconds per build, NEW/OLD (above 1: NEW is slower) and
# the spread of each build's runs (max - min over the median), which is the noise to
# read the ratio against. Then byte identity: diff -r of the two builds' converted and
# shuffled datasets, and the gpu-bench checksums of every column compared. It exits 1
# if any output differs.
#
# SHARDKIT_BENCH_DIR (the data cache, default /tmp/shardkit-bench). Takes about
# 4 minutes at the defaults on a quiet 2-CPU machine; BENCH_ROWS=1000000 COMPARE_REPS=3
# about half a minute. On a busy machine the spread says whether NEW/OLD means anything.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: bench/compare.sh OLD_BUILD NEW_BUILD" >&2; exit 2; }
old=$(cd "$1" && pwd) new=$(cd "$2" && pwd)
for b in "$old" "$new"; do
	for p in shard-convert shard-shuffle shard-gpu-bench; do
		[ -x "$b/$p" ] || { echo "bench/compare.sh: no $p in $b" >&2; exit 2; }
	done
done
reps=${COMPARE_REPS:-5}
SHARDKIT_BUILD=$old
. "$(dirname "$0")/common.sh"
schema=$(printf 'f%02d:float32,' $(seq 0 19))label:int64
times=$work/times
: >"$times"

# the inputs of shuffle and gpu-bench, written by OLD, not timed
"$old/shard-convert" -q --header -s "$schema" -o "$work/ds" "$csv"
"$old/shard-convert" -q --header -s "$schema" --compression none -o "$work/ds-none" "$csv"
cat "$csv"/part-* "$work/ds"/shard.* "$work/ds-none"/shard.* >/dev/null	# into the page cache

echo "compare: OLD $old"
echo "         NEW $new"
echo "$rows rows ($(cat "$csv"/part-*.csv | wc -c) bytes of CSV), $reps repetitions, $(date -u '+%F %T UTC');" \
	"machine: $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# run NAME WHICH BUILD CMD...: times CMD (BUILD's program), one line into $times
run() {
	local name=$1 which=$2
	shift 2
	time_cmd "$@"
	echo "$name $which $secs $rss" >>"$times"
}
# gpu NAME WHICH BUILD DS: shard-gpu-bench's own seconds; its checksums into $work
gpu() {
	time_cmd "$3/shard-gpu-bench" -d cpu --json "$4"
	local s
	s=$(tail -n 1 "$work/out" | python3 -c 'import json, sys; print(json.load(sys.stdin)["seconds"])')
	echo "$1 $2 $s $rss" >>"$times"
	tail -n 1 "$work/out" | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["checksums"], sort_keys=True))' \
		>"$work/sums-$1-$2"
}
one() {	# WHICH BUILD REP: every engine once
	local w=$1 b=$2 rep=$3
	rm -rf "$work/conv-$w" "$work/full-$w" "$work/block-$w"
	run convert "$w" "$b/shard-convert" -q --header -s "$schema" -o "$work/conv-$w" "$csv"
	run shuffle "$w" "$b/shard-shuffle" -q --seed 7 -o "$work/full-$w" "$work/ds"
	run shuffle-block "$w" "$b/shard-shuffle" -q --block --seed 7 -o "$work/block-$w" "$work/ds"
	gpu gpu-bench-zstd "$w" "$b" "$work/ds"
	gpu gpu-bench-none "$w" "$b" "$work/ds-none"
	if [ "$rep" -gt 1 ]; then	# the first repetition's outputs are kept for the identity check
		rm -rf "$work/conv-$w" "$work/full-$w" "$work/block-$w"
	else
		for d in conv full block; do mv "$work/$d-$w" "$work/keep-$d-$w"; done
	fi
}
for rep in $(seq "$reps"); do
	if [ $((rep % 2)) = 1 ]; then
		one old "$old" "$rep"
		one new "$new" "$rep"
	else
		one new "$new" "$rep"
		one old "$old" "$rep"
	fi
	echo "  repetition $rep of $reps done, load average $(cut -d' ' -f1 /proc/loadavg)"
done

python3 - "$times" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    name, which, secs, rss = line.split()
    t.setdefault(name, {}).setdefault(which, []).append((float(secs), int(rss)))
print(f"{'':24s}{'OLD s':>9s}{'NEW s':>9s}{'NEW/OLD':>9s}{'OLD spread':>12s}{'NEW spread':>12s}"
      f"{'OLD RSS MiB':>13s}{'NEW RSS MiB':>13s}")
for name, w in t.items():
    med = {k: statistics.median(s for s, _ in v) for k, v in w.items()}
    spread = {k: (max(s for s, _ in v) - min(s for s, _ in v)) / med[k] if med[k] else 0 for k, v in w.items()}
    rss = {k: max(r for _, r in v) / 1024 for k, v in w.items()}
    print(f"{name:24s}{med['old']:9.3f}{med['new']:9.3f}{med['new'] / med['old']:9.3f}"
          f"{100 * spread['old']:11.0f}%{100 * spread['new']:11.0f}%{rss['old']:13.0f}{rss['new']:13.0f}")
print("median seconds of each build's runs; NEW/OLD above 1: NEW is slower; spread: (max - min) / median "
      "of a build's runs, the noise to read NEW/OLD against")
PY

same=1
for d in conv full block; do
	if diff -r "$work/keep-$d-old" "$work/keep-$d-new" >/dev/null; then
		echo "identical: $d (diff -r of the two builds' output directories)"
	else
		echo "DIFFERENT: $d (diff -r of the two builds' output directories):"
		diff -rq "$work/keep-$d-old" "$work/keep-$d-new" | sed "s|$work/keep-||g" | head -n 5 || true
		same=0
	fi
done
for g in gpu-bench-zstd gpu-bench-none; do
	if cmp -s "$work/sums-$g-old" "$work/sums-$g-new"; then
		echo "identical: $g checksums ($(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$work/sums-$g-old") columns)"
	else
		echo "DIFFERENT: $g checksums"
		same=0
	fi
done
[ "$same" = 1 ]
