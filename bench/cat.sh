#!/usr/bin/env bash
# Benchmarks reading one MDS dataset written by Mosaic Streaming's MDSWriter:
# shard-cat (CSV, JSON Lines, shard stream) against StreamingDataset iteration and
# against plain `zstd -dc` of the same shards.  See bench/README.md.
#
#   SHARDKIT_BUILD=build SHARDKIT_PYTHON=/path/to/venv/bin/python bench/cat.sh
#
# Environment:
#   SHARDKIT_BUILD          directory holding shard-cat (default: $top/build)
#   SHARDKIT_PYTHON         python with mosaicml-streaming (default: python3)
#   SHARDKIT_BENCH_DIR      where the dataset is cached (default: /tmp/shardkit-bench)
#   BENCH_MB                raw sample MiB to generate (default: 1024; 88 bytes a sample)
#   BENCH_GEN_JOBS          MDSWriter processes generating it (default: 1)
#   BENCH_PY_SAMPLES        samples StreamingDataset iterates, as configured, before the
#                           time is scaled to the whole dataset (default: 100000; 0 = all)
#   BENCH_PY_PREDOWNLOAD    predownload for the second StreamingDataset run (default: 1000)
#   BENCH_PY_TUNED_SAMPLES  samples for that run (default: 500000; 0 = all)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bench=$top/bench
build=${SHARDKIT_BUILD:-$top/build}
py=${SHARDKIT_PYTHON:-python3}
dir=${SHARDKIT_BENCH_DIR:-/tmp/shardkit-bench}
mb=${BENCH_MB:-1024}
gen_jobs=${BENCH_GEN_JOBS:-1}
py_n=${BENCH_PY_SAMPLES:-100000}
py_pd=${BENCH_PY_PREDOWNLOAD:-1000}
py_pd_n=${BENCH_PY_TUNED_SAMPLES:-500000}

die() { echo "bench/cat.sh: $*" >&2; exit 1; }
. "$bench/record.sh"

build=$(cd "$build" 2>/dev/null && pwd) || die "no build directory: ${SHARDKIT_BUILD:-$top/build}"
cat=$build/shard-cat
[ -x "$cat" ] || die "no shard-cat in $build (set SHARDKIT_BUILD)"
"$py" -c 'import streaming' 2>/dev/null ||
    die "$py cannot import streaming (set SHARDKIT_PYTHON to a python with mosaicml-streaming)"
need_pkgs=()
[ -x /usr/bin/time ] || need_pkgs+=(time)
command -v zstd >/dev/null || need_pkgs+=(zstd)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing: ${need_pkgs[*]} (apt-get install ${need_pkgs[*]})"
    apt-get install -y "${need_pkgs[@]}" >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y "${need_pkgs[@]}" >/dev/null; }
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
ds=$dir/mds-${mb}mib
small=$dir/mds-${mb}mib-eighth
work=$(mktemp -d "$dir/run.XXXXXX")
trap 'rm -rf "$work"' EXIT
log=$work/log
: > "$log"

# --- the dataset (generated once, then reused) -------------------------------------------------
samples_wanted=$(( mb * 1024 * 1024 / 88 ))
if [ ! -f "$ds.gen" ] || [ ! -f "$ds/index.json" ]; then
    rm -rf "$ds" "$ds.gen" "$small"
    echo "generating $ds: $samples_wanted samples with MDSWriter ($gen_jobs process(es)); slow..."
    "$py" "$bench/gen_mds.py" "$ds" "$samples_wanted" "$gen_jobs" > "$work/gen" ||
        die "generating the dataset failed"
    mv "$work/gen" "$ds.gen"
    cat "$ds.gen"
else
    echo "dataset cached in $ds; when generated: $(cat "$ds.gen")"
fi

# samples, raw (uncompressed shard) bytes, compressed bytes, shards
info() {
    "$py" - "$1" <<'EOF'
import json, sys
shards = json.load(open(sys.argv[1] + '/index.json'))['shards']
print(sum(s['samples'] for s in shards), sum(s['raw_data']['bytes'] for s in shards),
      sum(s['zip_data']['bytes'] for s in shards), len(shards))
EOF
}
read -r samples raw_bytes zip_bytes nshards < <(info "$ds")

# The 1/8 dataset: the first eighth of the shards (hard links) under their own index.json.
if [ ! -f "$small/index.json" ]; then
    rm -rf "$small"
    mkdir -p "$small"
    "$py" - "$ds" "$small" <<'EOF'
import json, os, sys
src, dst = sys.argv[1:]
shards = json.load(open(src + '/index.json'))['shards']
shards = shards[:max(1, round(len(shards) / 8))]
for s in shards:
    os.link(os.path.join(src, s['zip_data']['basename']),
            os.path.join(dst, s['zip_data']['basename']))
with open(dst + '/index.json', 'w') as f:
    json.dump({'version': 2, 'shards': shards}, f, sort_keys=True)
EOF
fi
read -r _ s_raw_bytes _ s_nshards < <(info "$small")

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
echo "dataset: $samples samples, $nshards shards, $(mib "$raw_bytes") MiB uncompressed" \
     "(MiB/s below is of these bytes), $(mib "$zip_bytes") MiB zstd"
echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
     "load average now: $(cut -d' ' -f1-3 /proc/loadavg)"

# All runs read from the page cache: read the shards once first.
cat "$ds"/shard.* > /dev/null

results=$work/results
: > "$results"

# measure KEY LABEL CMD...: runs CMD (stdout to /dev/null) under /usr/bin/time
measure() {
    local key=$1 label=$2
    shift 2
    echo "running: $label"
    /usr/bin/time -f '%e %M' -o "$work/time" "$@" > /dev/null 2>> "$log" ||
        { cat "$log" >&2; die "failed: $*"; }
    read -r secs rss < "$work/time"
    printf '%s\t%s\t%s\t%s\t%s\n' "$key" "$label" "$secs" "$rss" "" >> "$results"
    echo "  $secs s, peak RSS $(mib $((rss * 1024))) MiB"
}

shopt -s nullglob
zst=("$ds"/shard.*.mds.zstd)
measure zstd "zstd -dc shard.*.mds.zstd" zstd -dc "${zst[@]}"
measure csv "shard-cat --format csv" "$cat" --format csv "$ds"
measure stream "shard-cat -o - (stream)" "$cat" "$ds" -o -
measure jsonl "shard-cat (jsonl)" "$cat" "$ds"

# sd_run KEY LABEL LIMIT PREDOWNLOAD WARM: StreamingDataset over a fresh copy of the dataset
# (hard links: StreamingDataset writes the decompressed .mds beside each .zstd and never
# changes the .zstd), cold: only compressed shards there.  With WARM=1 it then runs again on
# the same copy, its decompressed shards now present.
scaled=0
sd_run() {
    local key=$1 label=$2 limit=$3 pd=$4 warm=$5 copy pass
    copy=$(mktemp -d "$work/sd.XXXXXX")
    cp -al "$ds"/. "$copy"/ 2>/dev/null || cp -r "$ds"/. "$copy"/
    for pass in cold warm; do
        [ "$pass" = warm ] && [ "$warm" != 1 ] && break
        echo "running: $label, $pass$([ "$limit" -gt 0 ] && echo ", first $limit samples")"
        /usr/bin/time -f '%e %M' -o "$work/time" \
            "$py" "$bench/sd_iter.py" "$copy" "$limit" "$pd" > "$work/sd.json" 2>> "$log" ||
            { cat "$log" >&2; die "StreamingDataset run failed"; }
        read -r secs rss < "$work/time"
        # n, iteration seconds, startup seconds (wall - iteration), whole-dataset estimate
        read -r n iter start est < <("$py" - "$work/sd.json" "$secs" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
wall = float(sys.argv[2])
start = max(wall - r['iter_s'], 0.0)
print(r['samples'], '%.2f' % r['iter_s'], '%.2f' % start,
      '%.2f' % (start + r['iter_s'] * r['total'] / r['samples']))
EOF
)
        local mark='' lab=$label
        [ "$pass" = warm ] && lab="$label, warm"
        if [ "$n" -lt "$samples" ]; then
            mark='*'
            scaled=1
            echo "  $n of $samples samples: $secs s wall ($start s start-up + $iter s iterating," \
                 "$(awk -v n="$n" -v t="$iter" 'BEGIN { printf "%.0f", n / t }') samples/s);" \
                 "whole dataset estimated at $est s; peak RSS $(mib $((rss * 1024))) MiB"
        else
            est=$secs
            echo "  $secs s wall ($start s start-up), peak RSS $(mib $((rss * 1024))) MiB"
        fi
        printf '%s\t%s\t%s\t%s\t%s\n' "$key$([ "$pass" = warm ] && echo -warm)" "$lab" \
            "$est" "$rss" "$mark" >> "$results"
        local raws=("$copy"/shard.*.mds)
        local rb=0 f
        for f in "${raws[@]}"; do rb=$(( rb + $(stat -c %s "$f") )); done
        echo "  decompressed shards left in the copy afterwards: ${#raws[@]} of $nshards" \
             "($(mib "$rb") MiB; the .zstd files stay too)"
    done
    rm -rf "$copy"
}
echo "running: $py -c 'import streaming' (the start-up alone)"
/usr/bin/time -f '%e %M' -o "$work/time" "$py" -c 'import streaming' 2>> "$log"
read -r imp_secs imp_rss < "$work/time"
echo "  $imp_secs s, peak RSS $(mib $((imp_rss * 1024))) MiB"
sd_run sd "StreamingDataset (batch_size=1)" "$py_n" default 0
sd_run sd-pd "StreamingDataset (predownload=$py_pd)" "$py_pd_n" "$py_pd" 1

# Peak RSS against input size: the same CSV run on the first eighth of the shards.
echo "running: shard-cat --format csv on 1/8 of the dataset"
/usr/bin/time -f '%e %M' -o "$work/time" "$cat" --format csv "$small" > /dev/null 2>> "$log" ||
    { cat "$log" >&2; die "failed: shard-cat --format csv $small"; }
read -r s_secs s_rss < "$work/time"
csv_rss=$(awk -F'\t' '$1 == "csv" { print $4 }' "$results")
record cat.samples "$samples"
record cat.raw_bytes "$raw_bytes"
record cat.zip_bytes "$zip_bytes"
record cat.shards "$nshards"
while IFS=$'\t' read -r key _ secs rss _; do
    record "cat.$key.s" "$secs"
    record "cat.$key.rss" "$rss"
done < "$results"
record cat.sd.samples "$py_n"
record cat.sd-pd.samples "$py_pd_n"
record cat.import.s "$imp_secs"
record cat.import.rss "$imp_rss"
record cat.small.raw_bytes "$s_raw_bytes"
record cat.small.shards "$s_nshards"
record cat.small.rss "$s_rss"

echo
"$py" "$bench/report.py" "$results" "$raw_bytes" "$samples"
echo
cat <<EOF
MiB/s: of the $(mib "$raw_bytes") MiB of uncompressed shards ($samples samples).
speed vs X: X's seconds / this row's seconds (above 1: faster than X); SD is the
  StreamingDataset (batch_size=1) row.
StreamingDataset rows: StreamingDataset(local=COPY, shuffle=False, batch_size=1) and a for
  loop over every sample dict, cold: COPY is a fresh copy of the dataset holding only the
  .zstd shards, which StreamingDataset decompresses beside them as it goes.  Its default
  predownload (8 * batch_size = 8) lets it run only 8 samples ahead of the loop, which then
  sleeps a 7 ms poll: ~8 samples every 7 ms.  The predownload=$py_pd rows lift that cap.
  Peak RSS includes the interpreter and its imports: 'import streaming' alone
  peaks at $(mib $((imp_rss * 1024))) MiB (torch) and takes $imp_secs s.
shard-cat -o - moves shards still compressed and checks their hashes: it decompresses
  nothing, so its MiB/s is of bytes it never inflates.
EOF
if [ "$scaled" = 1 ]; then
    cat <<EOF
* estimated: StreamingDataset iterated only its first samples (counts above); the
  iteration time was scaled to all $samples samples and the measured start-up added.
  Peak RSS is the subset run's.
EOF
fi
echo
echo "peak RSS of shard-cat --format csv: $(mib $((csv_rss * 1024))) MiB on" \
     "$(mib "$raw_bytes") MiB ($nshards shards), $(mib $((s_rss * 1024))) MiB on" \
     "$(mib "$s_raw_bytes") MiB ($s_nshards shards, ${s_secs} s)"
