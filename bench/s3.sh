#!/usr/bin/env bash
# Datasets on S3: one dataset of about 1 GiB (BENCH_S3_SAMPLES samples of an id and
# BENCH_S3_BYTES random bytes, uncompressed, written by Mosaic Streaming's MDSWriter)
# on moto's S3 server on loopback, read and written side by side in one run:
#
#   shard-cat s3://... -o - >/dev/null   with 1 and with 8 shards in flight
#   shard-cat DIR -o - >/dev/null        the same dataset from local disk (page cache)
#   StreamingDataset(remote=s3://...)    Mosaic's reader with its own S3 client (boto3)
#   shard-cat DIR -o s3://...            the dataset written to S3
#   shard-cat DIR -o DIR2                the same written locally
#
# Every run prints its seconds, MiB/s and peak RSS (of shardkit's process or of
# StreamingDataset's Python process; the server's memory is not counted), then the ratios.
# The S3 server is a Python process on the same 2 CPUs: every S3 figure is bounded by it,
# and compares tools reading from the same server, not against AWS.
#
#   SHARDKIT_BUILD=build SHARDKIT_PYTHON=/path/to/venv/bin/python bench/s3.sh
#
# BENCH_S3_SAMPLES (default 16384), BENCH_S3_BYTES (default 65536), BENCH_S3_SHARD
# (MDSWriter's size_limit, default 33554432: 32 shards of 32 MiB), SHARDKIT_BENCH_DIR
# (the dataset cache, default /tmp/shardkit-bench), BENCH_RESULTS (default
# bench/results/YYYY-MM-DD-s3.txt; -HHMM added if it exists; .json beside it).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bench=$top/bench
build=$(cd "${SHARDKIT_BUILD:-$top/build}" && pwd)
py=${SHARDKIT_PYTHON:-python3}
dir=${SHARDKIT_BENCH_DIR:-/tmp/shardkit-bench}
n=${BENCH_S3_SAMPLES:-16384}
bytes=${BENCH_S3_BYTES:-65536}
shard=${BENCH_S3_SHARD:-33554432}
cat=$build/shard-cat

die() { echo "bench/s3.sh: $*" >&2; exit 1; }
[ -x "$cat" ] || die "no shard-cat in $build (set SHARDKIT_BUILD)"
"$py" -c 'import streaming, moto, boto3' 2>/dev/null ||
	die "$py cannot import streaming, moto and boto3 (set SHARDKIT_PYTHON to the interop environment)"
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null
. "$bench/record.sh"

mkdir -p "$top/bench/results" "$dir"
out=${BENCH_RESULTS:-$top/bench/results/$(date -u +%F)-s3.txt}
[ -n "${BENCH_RESULTS:-}" ] || [ ! -e "$out" ] || out=${out%.txt}-$(date -u +%H%M).txt
json=${out%.txt}.json
record_file=$(mktemp)
export BENCH_RECORD=$record_file
work=$(mktemp -d "$dir/s3.XXXXXX")
server=
cleanup() {
	[ -z "$server" ] || kill "$server" 2>/dev/null || true
	rm -rf "$work" "$record_file"
}
trap cleanup EXIT
exec > >(tee "$out") 2>&1

ds=$dir/s3-$n-$bytes-$shard
if [ ! -f "$ds/index.json" ]; then
	rm -rf "$ds"
	echo "generating $ds with MDSWriter: $n samples of $bytes bytes"
	"$py" "$bench/s3_gen.py" "$ds" "$n" "$bytes" "$shard" || die "generating the dataset failed"
fi
read -r samples raw nshards < <("$py" - "$ds" <<'PY'
import json, sys
s = json.load(open(sys.argv[1] + '/index.json'))['shards']
print(sum(x['samples'] for x in s), sum(x['raw_data']['bytes'] for x in s), len(s))
PY
)
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

echo "shardkit benchmarks, bench/s3.sh, one run"
echo "date: $(date -u '+%F %T UTC')"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs," \
	"$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) memory, kernel $(uname -r)"
echo "build: $("$cat" --version | head -n 1); bench scripts at $(git -C "$top" log -1 --format='%h %cs' 2>/dev/null || echo unknown)"
echo "server: moto $("$py" -c 'import moto; print(moto.__version__)') (python -m moto.server) on 127.0.0.1, no signature checks"
echo "dataset: $samples samples, $nshards shards, $(mib "$raw") MiB (uncompressed; MiB/s below is of these bytes)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
record s3.samples "$samples"
record s3.bytes "$raw"
record s3.shards "$nshards"

port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$py" -m moto.server -H 127.0.0.1 -p "$port" > "$work/moto.log" 2>&1 &
server=$!
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.2
done
export AWS_ENDPOINT_URL=http://127.0.0.1:$port S3_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
"$py" -c 'import boto3; boto3.client("s3").create_bucket(Bucket="bench")'

results=$work/results
: > "$results"
# run KEY LABEL CMD...: CMD under /usr/bin/time, stdout to /dev/null
run() {
	local key=$1 label=$2 secs rss
	shift 2
	echo "== $label: $(date -u +%T), load average $(cut -d' ' -f1 /proc/loadavg)"
	/usr/bin/time -f '%e %M' -o "$work/time" "$@" > "$work/stdout" 2> "$work/err" ||
		{ cat "$work/err" >&2; die "failed: $*"; }
	read -r secs rss < "$work/time"
	echo "   $secs s, $(awk -v b="$raw" -v s="$secs" 'BEGIN { printf "%.0f", b / 1048576 / s }') MiB/s, peak RSS $(mib $((rss * 1024))) MiB"
	printf '%s\t%s\t%s\t%s\n' "$key" "$label" "$secs" "$rss" >> "$results"
	record "s3.$key.s" "$secs"
	record "s3.$key.rss" "$rss"
}

cat "$ds"/shard.* > /dev/null	# local reads come from the page cache
run write-local "shard-cat DIR -o DIR2 (write locally)" "$cat" -q "$ds" -o "$work/copy"
run write-s3 "shard-cat DIR -o s3://bench/ds (write to S3)" "$cat" -q "$ds" -o s3://bench/ds
rm -rf "$work/copy"
run local "shard-cat DIR -o - (local disk)" "$cat" -q "$ds" -o -
run s3-1 "shard-cat s3://bench/ds -o - (1 in flight)" env SHARDKIT_IN_FLIGHT=1 "$cat" -q s3://bench/ds -o -
run s3-8 "shard-cat s3://bench/ds -o - (8 in flight)" env SHARDKIT_IN_FLIGHT=8 "$cat" -q s3://bench/ds -o -
cmp <("$cat" -q "$ds") <("$cat" -q s3://bench/ds) > /dev/null || die "s3://bench/ds does not read as the local dataset"
run sd "StreamingDataset(remote=s3://bench/ds)" "$py" "$bench/sd_remote.py" s3://bench/ds "$work/sd-cache"
sd_work=$("$py" - "$work/stdout" "$samples" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r['samples'] == int(sys.argv[2]), r
print('%.2f' % (r['init_s'] + r['iter_s']))
PY
) || die "StreamingDataset did not read the whole dataset"
echo "   of which constructing and iterating (no imports): $sd_work s"
record s3.sd-work.s "$sd_work"

echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '%-48s %8s %8s %12s\n' run seconds MiB/s "peak RSS MiB"
while IFS=$'\t' read -r key label secs rss; do
	printf '%-48s %8s %8.0f %12s\n' "$label" "$secs" "$(awk -v b="$raw" -v s="$secs" 'BEGIN { print b / 1048576 / s }')" "$(mib $((rss * 1024)))"
done < "$results"
t() { awk -F'\t' -v k="$1" '$1 == k { print $3 }' "$results"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }
echo
echo "ratios (speed: the second run's seconds over the first's):"
echo "  8 in flight vs 1 in flight:                    $(ratio "$(t s3-8)" "$(t s3-1)")x"
echo "  S3, 8 in flight vs local disk:                 $(ratio "$(t s3-8)" "$(t local)")x"
echo "  shard-cat (8 in flight) vs StreamingDataset:   $(ratio "$(t s3-8)" "$(t sd)")x" \
	"(whole processes; $(ratio "$(t s3-8)" "$sd_work")x against StreamingDataset's construction and iteration alone)"
echo "  write to S3 vs write locally:                  $(ratio "$(t write-s3)" "$(t write-local)")x"
"$py" - "$record_file" "$json" <<'PY'
import json, sys
d = {}
for line in open(sys.argv[1]):
    k, v = line.rstrip('\n').split('\t')
    d[k] = float(v)
json.dump(d, open(sys.argv[2], 'w'), indent=1, sort_keys=True)
PY
echo "results: $out (and $(basename "$json"))"
