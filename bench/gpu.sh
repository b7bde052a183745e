#!/usr/bin/env bash
# Shards into batch tensors, in one run on one dataset: the numeric export of
# bench/convert.sh (20 float32 columns and an int64 label, 10 million rows)
# converted by shard-convert, with its default zstd and uncompressed. Compared:
#   shard-gpu-bench --device cpu          (the C pipeline; CUDA too when there is a GPU)
#   examples/shardstream.py               (the Python stream reader, whole batches)
#   StreamingDataset + DataLoader         (num_workers 0 and 2, on a subset, scaled)
#   memcpy of the same bytes              (the limit: shard-gpu-bench --peak's copy loop when
#                                          its figures are sane, below 1e12 B/s, else
#                                          bench/memcpy.c's; both are printed)
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
	echo "rss-gpu-bench-cpu-noverify-$c $rss" >>"$results"
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
# the same copies by bench/memcpy.c: the reference when --peak's are not sane
time_cmd "$dir/memcpy" "$((rows * 88))" "$((batch * 88))"
echo "memcpy-own $(cat "$work/out")" >>"$results"
# what decompressing the zstd shards alone costs, on one core: the bound of the zstd rows
time_cmd sh -c "zstd -dc '$dir/gpu-$rows-zstd'/shard.*.zstd >/dev/null"
echo "zstd-d $secs" >>"$results"
echo "rss-zstd-d $rss" >>"$results"
for c in zstd none; do
	time_cmd "$py" "$top/bench/gpu_peers.py" stream "$dir/gpu-$rows-$c" "$batch"
	echo "py-stream-$c $(tail -n 1 "$work/out") $rss" >>"$results"
done
for w in 0 2; do
	time_cmd "$py" "$top/bench/gpu_peers.py" streaming "$dir/gpu-$rows-zstd" "$batch" "$w" "$py_samples"
	echo "streaming-$w $(tail -n 1 "$work/out") $rss" >>"$results"
done

python3 - "$results" "$rows" "$batch" "$py_samples" <<'PY'
import json, os, sys
rows, batch = int(sys.argv[2]), int(sys.argv[3])
r = {}
for line in open(sys.argv[1]):
    k, v = line.split(' ', 1)
    r[k] = v.strip()
J = {k: json.loads(v) for k, v in r.items() if v.startswith('{')}
rec = open(os.environ['BENCH_RECORD'], 'a') if os.environ.get('BENCH_RECORD') else None
def record(key, value):
    if rec:
        print(f'gpu.{key}\t{value}', file=rec)
# the memcpy reference: --peak's copy loop where it reports a sane rate (a copy the
# compiler dropped reports 1e14 B/s and more), else bench/memcpy.c's same copies
peak = J['memcpy'].get('peak') or {}
own_big, own_slot = (float(x) for x in r['memcpy-own'].split())
def ref(key, own):
    v = peak.get(key)
    return (v, '--peak') if isinstance(v, (int, float)) and 0 < v < 1e12 else (own, 'bench/memcpy.c')
mem = {'batch_block': peak.get('batch_block', batch * 88)}
mem['pinned_bytes_per_s'], big_src = ref('pinned_bytes_per_s', own_big)
mem['pinned_batch_bytes_per_s'], slot_src = ref('pinned_batch_bytes_per_s', own_slot)
if slot_src != '--peak':
    mem['batch_block'] = batch * 88
print(f"memcpy reference: 64 MiB blocks {mem['pinned_bytes_per_s'] / 1e9:.2f} GB/s ({big_src}), "
      f"{mem['batch_block']}-byte blocks {mem['pinned_batch_bytes_per_s'] / 1e9:.2f} GB/s ({slot_src}); "
      f"bench/memcpy.c: {own_big / 1e9:.2f} and {own_slot / 1e9:.2f} GB/s; "
      f"--peak: {peak.get('pinned_bytes_per_s', 0) / 1e9:.2f} and {peak.get('pinned_batch_bytes_per_s', 0) / 1e9:.2f} GB/s")
record('rows', rows)
record('batch', batch)
record('memcpy.big_Bps', mem['pinned_bytes_per_s'])
record('memcpy.big_source', big_src)
record('memcpy.slot_Bps', mem['pinned_batch_bytes_per_s'])
record('memcpy.slot_source', slot_src)
record('memcpy.slot_bytes', mem['batch_block'])
record('memcpy.own_big_Bps', own_big)
record('memcpy.own_slot_Bps', own_slot)
for k in ('pinned_bytes_per_s', 'pinned_batch_bytes_per_s'):
    if k in peak:
        record(f'peak.{k}', peak[k])
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
    runs.append((f'  the same, --no-verify', g['samples_per_s'], int(r[f'rss-gpu-bench-cpu-noverify-{c}']), False))
    if f'gpu-bench-cuda-{c}' in J:
        g = J[f'gpu-bench-cuda-{c}']
        runs.append((f'shard-gpu-bench --device cuda ({c})', g['samples_per_s'], 0, False))
for c in ('zstd', 'none'):
    runs.append((f'shardstream.py over a pipe ({c})',) + py(f'py-stream-{c}'))
for w in (0, 2):
    runs.append((f'StreamingDataset+DataLoader, {w} workers',) + py(f'streaming-{w}'))
memcpy_big = mem['pinned_bytes_per_s'] / 88
runs.append(('zstd -dc of the zstd shards (one core)', rows / max(float(r['zstd-d']), 0.005), int(r['rss-zstd-d']), False))
memcpy_batch = mem['pinned_batch_bytes_per_s'] / 88
runs.append(('memcpy, 64 MiB blocks (the limit)', memcpy_big, 0, False))
runs.append((f'memcpy, {mem["batch_block"]}-byte blocks', memcpy_batch, 0, False))
sd0 = py('streaming-0')[0]
sd2 = py('streaming-2')[0]
print(f"{'':44s}{'samples/s':>13s}{'GB/s':>7s}{'RSS MiB':>9s}{'/ SD w0':>9s}{'/ SD w2':>9s}{'/ memcpy':>10s}")
keys = {'shard-gpu-bench --device cpu (zstd)': 'cpu-zstd', 'shard-gpu-bench --device cpu (none)': 'cpu-none',
        'shard-gpu-bench --device cuda (zstd)': 'cuda-zstd', 'shard-gpu-bench --device cuda (none)': 'cuda-none',
        'shardstream.py over a pipe (zstd)': 'py-stream-zstd', 'shardstream.py over a pipe (none)': 'py-stream-none',
        'StreamingDataset+DataLoader, 0 workers': 'sd-w0', 'StreamingDataset+DataLoader, 2 workers': 'sd-w2',
        'zstd -dc of the zstd shards (one core)': 'zstd-d'}
last = None
for name, sps, rss, scaled in runs:
    key = keys.get(name) or (last + '-noverify' if name.strip() == 'the same, --no-verify' else None)
    if key:
        record(f'{key}.sps', sps)
        if rss:
            record(f'{key}.rss', rss)
        last = key
    print(f"{name + (' *' if scaled else ''):44s}{sps:13,.0f}{sps * 88 / 1e9:7.2f}{rss / 1024 if rss else float('nan'):9.0f}"
          f"{sps / sd0:9.1f}{sps / sd2:9.1f}{sps / memcpy_big:10.2f}")
t = J['gpu-bench-cpu-tenth']
record('head.samples', t['samples'])
record('head.rss', r['rss-gpu-bench-cpu-tenth'])
record('cpu-zstd.device_wait_s', J['gpu-bench-cpu-zstd']['device_wait_s'])
record('cpu-zstd.reader_wait_s', J['gpu-bench-cpu-zstd']['reader_wait_s'])
record('cpu-zstd.seconds', J['gpu-bench-cpu-zstd']['seconds'])
record("sd.samples", int(sys.argv[4]))
print(f"shard-gpu-bench peak RSS: {int(r['rss-gpu-bench-cpu-tenth']) / 1024:.0f} MiB on {t['samples']:,} samples, "
      f"{int(r['rss-gpu-bench-cpu-zstd']) / 1024:.0f} MiB on {rows:,}")
g = J['gpu-bench-cpu-zstd']
print(f"shard-gpu-bench (zstd): device waited {g['device_wait_s']:.2f} s of {g['seconds']:.2f} s, "
      f"batching waited {g['reader_wait_s']:.2f} s for the shard reader")
print('* StreamingDataset timed on its first samples, scaled to the whole dataset (start-up added once)')
PY
