#!/usr/bin/env bash
# Shards into batch tensors, in one run on one dataset: the numeric export of
# bench/convert.sh (20 float32 columns and an int64 label, 10 million rows)
# converted by shard-convert, with its default zstd and uncompressed. Compared:
#   shard-gpu-bench --device cpu          (the C pipeline; CUDA too when there is a GPU)
#   examples/shardstream.py               (the Python stream reader, whole batches)
#   StreamingDataset + DataLoader         (num_workers 0 and 2, on a subset, scaled)
#   memcpy of the same bytes              (shard-gpu-bench --peak's copy loop: the limit)
#   zstd -dc of the zstd shards           (decompression alone, one core: the zstd rows' bound)
#
#   SHARDKIT_BUILD=build SHARDKIT_PYTHON=/path/to/venv/bin/python bench/gpu.sh
#
# BENCH_ROWS (default 10000000), BENCH_BATCH (default 1024), BENCH_PY_SAMPLES
# (samples StreamingDataset reads before its rate is taken, default 500000),
# SHARDKIT_BENCH_DIR (cache, default /tmp/shardkit-bench).
set -euo pipefail

batch=${BENCH_BATCH:-1024}
py_samples=${BENCH_PY_SAMPLES:-500000}
. "$(dirname "$0")/common.sh"
export PATH="$build:$PATH"
schema=$(printf 'f%02d:float32,' $(seq 0 19))label:int64
for c in zstd none; do
	ds=$dir/gpu-$rows-$c
	if [ ! -f "$ds/index.json" ]; then
		echo "converting $csv to $ds (compression $c)"
		shard-convert -q --header -s "$schema" --compression "$c" -o "$ds" "$csv"
	fi
	cat "$ds"/shard.* >/dev/null	# into the page cache
done
echo "dataset: $rows samples of 88 bytes (20 float32 + int64), batches of $batch; machine: $(nproc) cores"
results=$work/results
: >"$results"
for c in zstd none; do
	ds=$dir/gpu-$rows-$c
	time_cmd shard-gpu-bench -d cpu -b "$batch" --json "$ds"
	echo "gpu-bench-cpu-$c $(tail -n 1 "$work/out" | tr -d ' ')" >>"$results"
	echo "rss-gpu-bench-cpu-$c $rss" >>"$results"
	time_cmd shard-gpu-bench -d cpu -b "$batch" --no-verify --json "$ds"
	echo "gpu-bench-cpu-noverify-$c $(tail -n 1 "$work/out" | tr -d ' ')" >>"$results"
done
# the first five shards: less data, for the flat-memory check (RSS is bounded by
# two shards in the reader's hands, whatever the input's size)
head10=$work/head
mkdir "$head10"
python3 - "$dir/gpu-$rows-zstd" "$head10" <<'PY'
import json, os, sys
src, dst = sys.argv[1:]
ix = json.load(open(os.path.join(src, 'index.json')))
keep = ix['shards'][:5]
for s in keep:
    f = (s['zip_data'] or s['raw_data'])['basename']
    os.link(os.path.join(src, f), os.path.join(dst, f))
ix['shards'] = keep
json.dump(ix, open(os.path.join(dst, 'index.json'), 'w'))
PY
time_cmd shard-gpu-bench -d cpu -b "$batch" --json "$head10"
echo "gpu-bench-cpu-tenth $(tail -n 1 "$work/out" | tr -d ' ')" >>"$results"
echo "rss-gpu-bench-cpu-tenth $rss" >>"$results"
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
	for c in zstd none; do
		time_cmd shard-gpu-bench -d cuda -b "$batch" --peak --json "$dir/gpu-$rows-$c"
		echo "gpu-bench-cuda-$c $(tail -n 1 "$work/out" | tr -d ' ')" >>"$results"
	done
fi
time_cmd shard-gpu-bench -d cpu -b "$batch" --peak -q --json "$dir/gpu-$rows-none"
echo "memcpy $(tail -n 1 "$work/out" | tr -d ' ')" >>"$results"
# what decompressing the zstd shards alone costs, on one core: the bound of the zstd rows
time_cmd sh -c "zstd -dc '$dir/gpu-$rows-zstd'/shard.*.zstd >/dev/null"
echo "zstd-d $secs" >>"$results"
for c in zstd none; do
	time_cmd "$py" "$top/bench/gpu_peers.py" stream "$dir/gpu-$rows-$c" "$batch"
	echo "py-stream-$c $(tail -n 1 "$work/out") $rss" >>"$results"
done
for w in 0 2; do
	time_cmd "$py" "$top/bench/gpu_peers.py" streaming "$dir/gpu-$rows-zstd" "$batch" "$w" "$py_samples"
	echo "streaming-$w $(tail -n 1 "$work/out") $rss" >>"$results"
done

python3 - "$results" "$rows" <<'PY'
import json, sys
rows = int(sys.argv[2])
r = {}
for line in open(sys.argv[1]):
    k, v = line.split(' ', 1)
    r[k] = v.strip()
J = {k: json.loads(v) for k, v in r.items() if v.startswith('{')}
mem = J['memcpy']['peak']
nbytes = rows * 88
def py(k):
    n, t, first, rss = r[k].split()
    n, t, first = int(n), float(t), float(first)
    return rows / (t / n * rows + first), int(rss), n < rows
runs = []
for c in ('zstd', 'none'):
    g = J[f'gpu-bench-cpu-{c}']
    runs.append((f'shard-gpu-bench --device cpu ({c})', g['samples_per_s'], int(r[f'rss-gpu-bench-cpu-{c}']), False))
    g = J[f'gpu-bench-cpu-noverify-{c}']
    runs.append((f'  the same, --no-verify', g['samples_per_s'], 0, False))
    if f'gpu-bench-cuda-{c}' in J:
        g = J[f'gpu-bench-cuda-{c}']
        runs.append((f'shard-gpu-bench --device cuda ({c})', g['samples_per_s'], 0, False))
for c in ('zstd', 'none'):
    runs.append((f'shardstream.py over a pipe ({c})',) + py(f'py-stream-{c}'))
for w in (0, 2):
    runs.append((f'StreamingDataset+DataLoader, {w} workers',) + py(f'streaming-{w}'))
memcpy_big = mem['pinned_bytes_per_s'] / 88
runs.append(('zstd -dc of the zstd shards (one core)', rows / float(r['zstd-d']), 0, False))
memcpy_batch = mem['pinned_batch_bytes_per_s'] / 88
runs.append(('memcpy, 64 MiB blocks (the limit)', memcpy_big, 0, False))
runs.append((f'memcpy, {mem["batch_block"]}-byte blocks', memcpy_batch, 0, False))
sd0 = py('streaming-0')[0]
sd2 = py('streaming-2')[0]
print(f"{'':44s}{'samples/s':>13s}{'GB/s':>7s}{'RSS MiB':>9s}{'/ SD w0':>9s}{'/ SD w2':>9s}{'/ memcpy':>10s}")
for name, sps, rss, scaled in runs:
    print(f"{name + (' *' if scaled else ''):44s}{sps:13,.0f}{sps * 88 / 1e9:7.2f}{rss / 1024 if rss else float('nan'):9.0f}"
          f"{sps / sd0:9.1f}{sps / sd2:9.1f}{sps / memcpy_big:10.2f}")
t = J['gpu-bench-cpu-tenth']
print(f"shard-gpu-bench peak RSS: {int(r['rss-gpu-bench-cpu-tenth']) / 1024:.0f} MiB on {t['samples']:,} samples, "
      f"{int(r['rss-gpu-bench-cpu-zstd']) / 1024:.0f} MiB on {rows:,}")
g = J['gpu-bench-cpu-zstd']
print(f"shard-gpu-bench (zstd): device waited {g['device_wait_s']:.2f} s of {g['seconds']:.2f} s, "
      f"batching waited {g['reader_wait_s']:.2f} s for the shard reader")
print('* StreamingDataset timed on its first samples, scaled to the whole dataset (start-up added once)')
PY
