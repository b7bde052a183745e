#!/usr/bin/env bats
# shard-gpu-bench on the CPU backend: batches hold exactly the source rows
# (checksums computed independently from the CSV text), every input path,
# the device check, the report, and each error path with its exit status.
# Also the PyTorch end: examples/shardstream.py and examples/train_torch.py.

load helpers

PY=${SHARDKIT_PYTHON:-python3}

need_numpy() { "$PY" -c 'import numpy' 2>/dev/null || skip "numpy is not installed: scripts/test.sh builds the interop environment"; }

setup() {
	cd "$BATS_TEST_TMPDIR"
	# 2500 rows: an id, two floats, a small int, a string (variable-size)
	"$PY" -c '
for i in range(2500):
    print("%d,%s,%s,%d,s%d" % (i, i * 0.25 - 100, -i * 0.5, i % 7 - 3, i * 3))' >rows.csv
	shard-convert -q -s id:int64,a:float32,b:float64,k:int8,s:str --samples-per-shard 300 -o ds rows.csv
	shard-convert -q -s id:int64,a:float32,b:float64,k:int8,s:str --pack 'ab=a,b:float32' \
		--samples-per-shard 700 -o packed rows.csv
}

# value of key K in the JSON report on stdout's last line
jget() { printf '%s\n' "$output" | tail -n 1 | python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v)' "$1"; }

@test "every batch reaches the device and its checksums match the source rows" {
	need_numpy
	run shard-gpu-bench -d cpu -b 256 --json ds
	assert_success
	[ "$(jget samples)" = 2500 ]
	[ "$(jget batches)" = 10 ]
	[ "$(jget shards)" = 9 ]
	[ "$(jget bytes)" = $((2500 * 21)) ]
	[ "$(jget checksum_mismatches)" = 0 ]
	[ "$(jget columns)" = '["a", "b", "id", "k"]' ]
	want=$("$PY" "$SRC/tests/gpu/checksum.py" 256 rows.csv a=float32:1 b=float64:2 id=int64:0 k=int8:3)
	[ "$(jget checksums)" = "$want" ]
}

@test "the batch size, slot count and input path change nothing in the batches" {
	need_numpy
	want=$("$PY" "$SRC/tests/gpu/checksum.py" 100 rows.csv id=int64:0 k=int8:3)
	# the CPU device's work done by a copy thread, or by the waiting host thread alone
	for thread in 1 0; do
		for args in "-n 1" "-n 2" "-n 16" "--no-verify" "-j 1" "-j 8"; do
			run env SHARDKIT_CPU_COPY_THREAD=$thread shard-gpu-bench -d cpu -b 100 -c id,k $args --json ds
			assert_success
			[ "$(jget checksums)" = "$want" ]
			[ "$(jget batches)" = 25 ]
		done
		if [ $thread = 0 ]; then
			[ "$(jget device_batches_by_host)" = 25 ]
			assert_output --partial '"device": "cpu (host memory, copied by the host thread)"'
		else
			assert_output --partial '"device": "cpu (host memory, one copy thread)"'
		fi
	done
	run env SHARDKIT_CPU_COPY_THREAD=1 shard-gpu-bench -d cpu -b 256 --corrupt 4 ds
	assert_failure 3
	assert_output --partial "batch 4, column 'a'"
	run sh -c 'shard-cat ds -o - | shard-gpu-bench -d cpu -b 100 -c k,id --json'
	assert_success
	[ "$(jget checksums)" = "$want" ]
	[ "$(jget columns)" = '["k", "id"]' ]
	# several inputs are one run
	run shard-gpu-bench -d cpu -b 100 -c id --json ds ds
	assert_success
	[ "$(jget samples)" = 5000 ]
}

@test "an ndarray column is gathered whole, and columns after a string are split out" {
	need_numpy
	run shard-gpu-bench -d cpu -b 512 -c ab,id,k --json packed
	assert_success
	want=$("$PY" "$SRC/tests/gpu/checksum.py" 512 rows.csv ab=float32:1,2 id=int64:0 k=int8:3)
	[ "$(jget checksums)" = "$want" ]
	[ "$(jget sample_bytes)" = 17 ]
	# a string column sorted first: every sample is split to find the others
	shard-convert -q -s id:int64,a:float32,b:float64,k:int8,Name:str --samples-per-shard 700 -o split rows.csv
	run shard-gpu-bench -d cpu -b 512 -c a,id,k --json split
	assert_success
	want=$("$PY" "$SRC/tests/gpu/checksum.py" 512 rows.csv a=float32:1 id=int64:0 k=int8:3)
	[ "$(jget checksums)" = "$want" ]
	[ "$(jget samples)" = 2500 ]
}

@test "columns side by side are gathered four at a time, with the same bytes and checksums" {
	need_numpy
	"$PY" -c '
for i in range(1003):
    print(",".join(str((i * 7 + c * 13) % 1000 - (0 if c == 3 else 500)) for c in range(7)))' >wide.csv
	shard-convert -q -s c0:int32,c1:int32,c2:float32,c3:uint32,c4:int32,c5:int32,c6:int64 -o wide wide.csv
	# with AVX2 where the CPU has it, and with SSE2 alone
	for noavx in '' 1; do
		for b in 37 64 1003; do
			run env ${noavx:+SHARDKIT_NO_AVX2=1} shard-gpu-bench -d cpu -b $b --json wide
			assert_success
			want=$("$PY" "$SRC/tests/gpu/checksum.py" $b wide.csv c0=int32:0 c1=int32:1 c2=float32:2 \
				c3=uint32:3 c4=int32:4 c5=int32:5 c6=int64:6)
			[ "$(jget checksums)" = "$want" ]
		done
	done
	# in another order the columns are not side by side: one at a time, same sums
	run shard-gpu-bench -d cpu -b 37 -c c3,c0,c1,c2,c5 --json wide
	assert_success
	want=$("$PY" "$SRC/tests/gpu/checksum.py" 37 wide.csv c0=int32:0 c1=int32:1 c2=float32:2 c3=uint32:3 c5=int32:5)
	[ "$(jget checksums)" = "$want" ]
	[ "$(jget samples)" = 1003 ]
}

@test "--drop-last leaves out the partial batch and counts it" {
	run shard-gpu-bench -d cpu -b 1000 --drop-last --json ds
	assert_success
	[ "$(jget samples)" = 2000 ]
	[ "$(jget dropped)" = 500 ]
	[ "$(jget batches)" = 2 ]
}

@test "a batch damaged on its way fails the run with status 3, naming it" {
	run shard-gpu-bench -d cpu -b 256 --corrupt 4 ds
	assert_failure 3
	assert_output --partial "batch 4, column 'a'"
	assert_output --partial "1 of 10 batches"
	run shard-gpu-bench -d cpu -b 256 --corrupt 4 --json ds
	assert_failure 3
	[ "$(printf '%s\n' "$output" | grep -c '^{')" = 1 ]
	output=$(printf '%s\n' "$output" | grep '^{')
	[ "$(jget checksum_mismatches)" = 1 ]
	[ "$(jget batches)" = 10 ]
	run shard-gpu-bench -d cpu -b 256 --corrupt 10 ds
	assert_success
}

@test "the human report and --peak" {
	run shard-gpu-bench -d cpu --peak ds
	assert_success
	assert_output --partial "samples       2500 in 3 batches of 1024"
	assert_output --partial "0 mismatched"
	assert_output --partial "peak          pinned"
	run shard-gpu-bench -d cpu --peak --json ds
	assert_success
	python3 -c 'import json,sys; p=json.loads(sys.argv[1].splitlines()[-1])["peak"]; assert p["pinned_bytes_per_s"] > 1e8 and p["pinned_batch_bytes_per_s"] > 1e8, p' "$output"
	# every member of the report, and how they hang together
	python3 - "$output" <<'PY'
import json, sys
j = json.loads(sys.argv[1].splitlines()[-1])
want = {"device", "backend", "columns", "batch", "slots", "shards", "samples", "batches", "bytes", "dropped",
        "sample_bytes", "seconds", "samples_per_s", "bytes_per_s", "device_wait_s", "input_wait_s",
        "reader_wait_s", "device_busy_s", "setup_s", "checksum_mismatches", "checksums", "h2d_bytes_per_s",
        "copy_s", "device_batches_by_host", "peak_rss_kib", "peak"}
assert set(j) == want, set(j) ^ want
assert j["backend"] == "cpu" and j["device"].startswith("cpu")
assert j["bytes"] == j["samples"] * j["sample_bytes"] == 2500 * 21
assert j["seconds"] > 0 and abs(j["samples_per_s"] * j["seconds"] - 2500) < 1
assert abs(j["bytes_per_s"] * j["seconds"] - j["bytes"]) < 21
for k in ("device_wait_s", "input_wait_s", "reader_wait_s", "device_busy_s", "setup_s", "copy_s"):
    assert 0 <= j[k] < 60, (k, j[k])
assert j["device_busy_s"] <= j["seconds"] + 1e-3 and j["copy_s"] <= j["device_busy_s"] + 1e-6
assert abs(j["device_wait_s"] - (j["seconds"] - j["device_busy_s"])) < 1e-3
assert 0 <= j["device_batches_by_host"] <= j["batches"] == 3
assert j["h2d_bytes_per_s"] > 0 and j["peak_rss_kib"] > 1000
p = j["peak"]
assert set(p) == {"big_block", "batch_block", "pinned_bytes_per_s", "pageable_bytes_per_s",
                  "pinned_batch_bytes_per_s", "h2d_fraction_of_peak"}, p
assert p["big_block"] == 64 << 20 and 4096 <= p["batch_block"] <= p["big_block"]
assert p["pageable_bytes_per_s"] > 1e8
assert abs(p["h2d_fraction_of_peak"] - j["h2d_bytes_per_s"] / p["pinned_batch_bytes_per_s"]) < 1e-3 * p["h2d_fraction_of_peak"] + 1e-9
PY
	run shard-gpu-bench -d cpu ds
	assert_success
	assert_line --regexp '^throughput    [0-9]+ samples/s, [0-9.]+ MB/s$'
	assert_line --regexp '^waits         device waited [0-9.]+ s for input, input waited [0-9.]+ s for the device,$'
	assert_line --regexp '^              batching waited [0-9.]+ s for the shard reader$'
	assert_line --regexp '^copies        [0-9.]+ s, [0-9.]+ GB/s host to device'
	assert_line "checksums     3 batches checked on the device, 0 mismatched"
	run shard-gpu-bench -d cpu -q ds
	assert_success
	assert_output ""
}

@test "--peak measures real copies: finite rates between 1e8 and 1e12 bytes/s" {
	# each copy must be made: a copy loop the compiler leaves out reports 1e14 B/s and more
	run shard-gpu-bench -d cpu -b 4096 --peak --json ds
	assert_success
	python3 - "$output" <<'PY'
import json, math, sys
p = json.loads(sys.argv[1].splitlines()[-1])["peak"]
for k in ("pinned_bytes_per_s", "pageable_bytes_per_s", "pinned_batch_bytes_per_s"):
    assert math.isfinite(p[k]) and 1e8 < p[k] < 1e12, (k, p[k])
assert math.isfinite(p["h2d_fraction_of_peak"]) and p["h2d_fraction_of_peak"] > 0, p
PY
}

@test "asked for CUDA without a GPU it says so in one line and exits 4" {
	if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then skip "this machine has a GPU"; fi
	for d in cuda cuda:0 cuda:3; do
		run shard-gpu-bench -d $d ds
		assert_failure 4
		[ "${#lines[@]}" = 1 ]
		assert_output --regexp '^shard-gpu-bench: .*(CUDA|cuda)'
	done
	# said before any input is read: a missing input, or one that is no stream
	run shard-gpu-bench -d cuda nowhere
	assert_failure 4
	run shard-gpu-bench -d cuda </dev/zero
	assert_failure 4
	# auto falls back to the CPU with a note
	run shard-gpu-bench --json ds
	assert_success
	[ "$(jget backend)" = cpu ]
}

@test "bad columns, options and data get one clear line and their status" {
	run shard-gpu-bench -d cpu -c nope ds
	assert_failure 1
	assert_output --partial "no column 'nope'"
	run shard-gpu-bench -d cpu -c s ds
	assert_failure 1
	assert_output --partial "column 's' is str, which has no fixed size"
	run shard-gpu-bench -d cpu -c id,id ds
	assert_failure 2
	for bad in "-b 0" "-b x" "-n 0" "-n 17" "-j 0" "-j 9" "-d gpu" "-d cuda:x" "--corrupt -1"; do
		run shard-gpu-bench $bad ds
		assert_failure 2
	done
	seq 3 | shard-convert -q -s s:str -o strs
	run shard-gpu-bench -d cpu strs
	assert_failure 1
	assert_output --partial "no fixed-size columns"
	run shard-gpu-bench -d cpu nowhere
	assert_failure 1
	run shard-gpu-bench -d cpu ds strs
	assert_failure 1
	assert_output --partial "its columns differ from the first shard's"
	run sh -c 'printf "" | shard-gpu-bench -d cpu'
	assert_failure 1
}

@test "damaged shards and streams are refused, naming the shard" {
	cp -r ds bad
	f=$(ls bad/shard.00003.mds*)
	printf '\377' | dd of="$f" bs=1 seek=40 conv=notrunc 2>/dev/null
	run shard-gpu-bench -d cpu bad
	assert_failure 1
	assert_output --partial "shard.00003"
	shard-cat ds -o - >s.stream
	head -c $(($(wc -c <s.stream) - 30)) s.stream >cut.stream
	run sh -c 'shard-gpu-bench -d cpu <cut.stream'
	assert_failure 1
	# a shard whose second sample is shorter than its columns
	craft short.mds n,x int,int32 0100000000000000ffffffff 02000000000000000700
	run shard-gpu-bench -d cpu short.mds
	assert_failure 1
	assert_output --partial "short.mds: sample 1 is 10 bytes long; its columns take 12"
	craft good.mds n,x int,int32 0100000000000000ffffffff 0200000000000000feffffff
	run shard-gpu-bench -d cpu --json good.mds
	assert_success
	[ "$(jget samples)" = 2 ]
}

@test "the Python stream reader yields exact batches, split over DataLoader workers" {
	"$PY" -c 'import torch' 2>/dev/null || skip "torch is not in the interop environment"
	cd "$BATS_TEST_TMPDIR"
	run "$PY" - "$SRC/examples" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np, torch
from torch.utils.data import DataLoader
from shardstream import ShardStreamDataset
rows = np.loadtxt('rows.csv', delimiter=',', usecols=(0, 1, 2), dtype=np.float64)
for workers in (0, 2):
    ds = ShardStreamDataset('shard-cat -q packed -o - | shard-shuffle -q - --seed 3 --rank {rank} --world {world} -o -',
                            batch_size=128, columns=['id', 'ab', 'k'])
    got = list(DataLoader(ds, batch_size=None, num_workers=workers))
    assert all(isinstance(b['ab'], torch.Tensor) for b in got)
    sizes = [len(b['id']) for b in got]
    assert sum(sizes) == 2500 and max(sizes) == 128, sizes
    ids = torch.cat([b['id'] for b in got]).numpy()
    assert sorted(ids.tolist()) == list(range(2500)), 'ids'
    assert ids.tolist() != list(range(2500)), 'not shuffled'
    ab = torch.cat([b['ab'] for b in got]).numpy()
    assert ab.shape == (2500, 2) and ab.dtype == np.float32
    assert np.array_equal(ab, rows[ids][:, 1:].astype(np.float32)), 'features'
    k = torch.cat([b['k'] for b in got]).numpy()
    assert np.array_equal(k, (ids % 7 - 3).astype(np.int8)), 'k'
# a stream file, read whole: the same rows in order
import subprocess
subprocess.run('shard-cat -q ds -o - > ds.stream', shell=True, check=True)
ids = np.concatenate([b['id'] for b in ShardStreamDataset('ds.stream', 1000, as_numpy=True)])
assert ids.tolist() == list(range(2500))
# without {rank} in the source, each worker takes every world-th shard (of 300 samples)
got = list(DataLoader(ShardStreamDataset('ds.stream', 100), batch_size=None, num_workers=2))
ids = torch.cat([b['id'] for b in got]).numpy()
assert sorted(ids.tolist()) == list(range(2500)), 'each shard once over two workers'
# ranks from the environment when torch.distributed is not set up, times the workers
import os
os.environ.update(RANK='1', WORLD_SIZE='2')
mine = np.concatenate([b['id'] for b in ShardStreamDataset('ds.stream', 100, as_numpy=True)])
assert sorted(mine.tolist()) == [i for i in range(2500) if (i // 300) % 2 == 1], 'rank 1 of 2: odd shards'
got = list(DataLoader(ShardStreamDataset('ds.stream', 100), batch_size=None, num_workers=2))
mine = sorted(torch.cat([b['id'] for b in got]).numpy().tolist())
assert mine == [i for i in range(2500) if (i // 300) % 4 in (2, 3)], 'rank 1 of 2, two workers: shards 2, 3 mod 4'
cmd = 'shard-cat -q ds -o - | shard-shuffle -q - --seed 3 --rank {rank} --world {world} -o -'
half = np.concatenate([b['id'] for b in ShardStreamDataset(cmd, 100, as_numpy=True)])
os.environ.update(RANK='0')
other = np.concatenate([b['id'] for b in ShardStreamDataset(cmd, 100, as_numpy=True)])
assert len(half) == len(other) == 1250 and sorted(np.concatenate([half, other]).tolist()) == list(range(2500))
print('ok')
PY
	assert_success
	assert_output --partial ok
}

@test "train_torch.py trains on the converted Spark export through both readers, rows exact" {
	"$PY" -c 'import torch, streaming' 2>/dev/null || skip "torch and streaming are not in the interop environment"
	shard-convert -q --header --schema "$(cat "$SRC/examples/spark-export.schema")" \
		--pack 'features=f00,f01,f02,f03,f04,f05,f06,f07:float32' -o ex "$SRC/examples/spark-export"
	run "$PY" "$SRC/examples/train_torch.py" ex --reader both --epochs 4 --workers 2 \
		--check "$SRC/examples/spark-export" --pack features=f00,f01,f02,f03,f04,f05,f06,f07 --min-accuracy 0.95
	assert_success
	assert_output --partial "features: active, features (10 inputs); label: label (2 classes)"
	assert_output --partial "streaming: checked 4000 rows against the export: features and labels equal"
	assert_output --partial "stream: checked 4000 rows against the export: features and labels equal"
	assert_output --partial "stream: epoch 3: 4000 samples"
}

@test "uncompressed shards: their hashes are checked, and a damaged one fails the run" {
	need_numpy
	cut -d, -f1-4 rows.csv >fixed.csv
	shard-convert -q -s id:int64,a:float32,b:float64,k:int8 --compression none --samples-per-shard 300 -o raw fixed.csv
	run shard-gpu-bench -d cpu --json raw
	assert_success
	[ "$(jget samples)" = 2500 ]
	[ "$(jget checksum_mismatches)" = 0 ]
	want=$("$PY" "$SRC/tests/gpu/checksum.py" 1024 fixed.csv id=int64:0 a=float32:1 b=float64:2 k=int8:3)
	[ "$(jget checksums)" = "$want" ]
	# one bit of a sample in the middle of shard 3 (its 301 offsets take 1208 bytes)
	cp -r raw bad
	printf '\001' | dd of=bad/shard.00003.mds bs=1 seek=$((1208 + 150 * 21 + 5)) conv=notrunc 2>/dev/null
	run shard-gpu-bench -d cpu --json bad
	assert_failure 1
	assert_output --regexp "shard-gpu-bench: .*bad/shard\.00003\.mds: xxh64 mismatch \(index [0-9a-f]{16}, data [0-9a-f]{16}\)$"
	# the same bytes unchecked go through: it was the hash that caught them
	run shard-gpu-bench -d cpu --no-verify --json bad
	assert_success
	[ "$(jget samples)" = 2500 ]
	[ "$(jget checksums)" != "$want" ]
	# and the last byte of the last shard, and through a stream
	cp -r raw bad2
	last=$(ls bad2/shard.*.mds | tail -n 1)
	printf '\377' | dd of="$last" bs=1 seek=$(($(wc -c <"$last") - 1)) conv=notrunc 2>/dev/null
	run shard-gpu-bench -d cpu bad2
	assert_failure 1
	assert_output --partial "$(basename "$last"): xxh64 mismatch"
	run sh -c 'shard-cat bad -o - --no-verify 2>/dev/null | shard-gpu-bench -d cpu -'
	assert_failure 1
	assert_output --partial "xxh64 mismatch"
}
