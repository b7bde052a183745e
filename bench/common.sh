# Sourced by the bench scripts: where things are, the generated CSV export,
# a timer and record (bench/record.sh). Sets top, build, py, dir, rows, csv, work
# (removed at exit), and builds $dir/gen-csv and $dir/memcpy.
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${SHARDKIT_BUILD:-$top/build}" && pwd)
py=${SHARDKIT_PYTHON:-python3}
dir=${SHARDKIT_BENCH_DIR:-/tmp/shardkit-bench}
rows=${BENCH_ROWS:-10000000}
mkdir -p "$dir"
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null
cc -O2 -o "$dir/gen-csv" "$top/bench/gen-csv.c" -lm
cc -O2 -o "$dir/memcpy" "$top/bench/memcpy.c"
. "$top/bench/record.sh"

# the Spark-style export: 16 part files with headers, 20 floats and a label
csv=$dir/csv-$rows
if [ ! -f "$csv/_SUCCESS" ]; then
	rm -rf "$csv" && mkdir -p "$csv"
	echo "generating $csv ($rows rows in 16 part files)"
	"$dir/gen-csv" "$csv" "$rows" 16
fi
work=$(mktemp -d "$dir/$(basename "$0" .sh).XXXXXX")
trap 'rm -rf "$work"' EXIT

# time_cmd COMMAND...: seconds and peak RSS (KiB) into $secs and $rss, its
# stdout in $work/out; a failure prints its stderr and stops the run
time_cmd() {
	/usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/out" 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
	read -r secs rss < "$work/time"
}
