#!/usr/bin/env bats
# Two-way compatibility with the real Mosaic Streaming (mosaicml-streaming from
# PyPI, in the virtual environment scripts/venv.sh builds): what its MDSWriter
# writes, shardkit reads to the same values; what shardkit writes, its
# StreamingDataset reads back exactly, with hash validation on.

load helpers

PYREF=$SRC/tests/interop/mds_reference.py

setup_file() {
	[ -n "${SHARDKIT_PYTHON:-}" ] || return 0
	export REFS=$BATS_FILE_TMPDIR/ref WANT=$BATS_FILE_TMPDIR/want
	"$SHARDKIT_PYTHON" "$SRC/tests/interop/mds_reference.py" write "$REFS" >"$BATS_FILE_TMPDIR/write.log" 2>&1
	"$SHARDKIT_PYTHON" "$SRC/tests/interop/mds_reference.py" dump-all "$REFS" "$WANT" >"$BATS_FILE_TMPDIR/dump.log" 2>&1
}

setup() {
	[ -n "${SHARDKIT_PYTHON:-}" ] || skip "SHARDKIT_PYTHON unset: scripts/test.sh builds the interop environment"
	[ -s "$REFS/cases.txt" ] || { cat "$BATS_FILE_TMPDIR"/*.log; false; }
}

@test "the reference writer made every case" {
	n=$(wc -l < "$REFS/cases.txt")
	[ "$n" -ge 40 ]
	for c in enc_int enc_float16 enc_str_decimal enc_ndarray enc_jpeg_array enc_pkl comp_snappy comp_br_5 hash_all_zstd; do
		grep -qx "$c" "$REFS/cases.txt" || { echo "missing case $c"; false; }
	done
}

@test "verify accepts every dataset the reference writer wrote" {
	for c in $(cat "$REFS/cases.txt"); do
		run shard-index verify -q "$REFS/$c"
		[ "$status" -eq 0 ] || { echo "case $c: $output"; false; }
	done
}

@test "shard-cat --format jsonl reads exactly the values Python reads" {
	for c in $(cat "$REFS/cases.txt"); do
		shard-cat -q -f jsonl "$REFS/$c" > "$BATS_TEST_TMPDIR/$c.jsonl"
		diff -u "$WANT/$c.jsonl" "$BATS_TEST_TMPDIR/$c.jsonl" | head -n 20 > "$BATS_TEST_TMPDIR/d"
		[ ! -s "$BATS_TEST_TMPDIR/d" ] || { echo "case $c:"; cat "$BATS_TEST_TMPDIR/d"; false; }
	done
}

@test "StreamingDataset reads what shard-cat -o DIR writes, hashes validated" {
	args=()
	for c in $(cat "$REFS/cases.txt"); do
		shard-cat -q "$REFS/$c" -o "$BATS_TEST_TMPDIR/out/$c"
		args+=("$BATS_TEST_TMPDIR/out/$c" "$WANT/$c.jsonl")
	done
	run "$SHARDKIT_PYTHON" "$PYREF" check "${args[@]}"
	assert_success
}

@test "StreamingDataset reads a dataset that went through the shard stream" {
	shard-cat "$REFS/mixed_all" -o - | shard-cat - -o "$BATS_TEST_TMPDIR/s"
	run "$SHARDKIT_PYTHON" "$PYREF" check "$BATS_TEST_TMPDIR/s" "$WANT/mixed_all.jsonl"
	assert_success
}

@test "StreamingDataset reads datasets the library writer made, every codec" {
	args=()
	for comp in none zstd zstd:9 gz:6 bz2 br:4 snappy; do
		d=$BATS_TEST_TMPDIR/lib-${comp/:/-}
		"$SHARDKIT_BUILD/tests/unit/write-ds" "$d" 300 "$comp" sha1,xxh3_64,xxh64 4096 > "$d.jsonl"
		run shard-index verify -q "$d"
		assert_success
		args+=("$d" "$d.jsonl")
	done
	[ "$(ls "$BATS_TEST_TMPDIR/lib-zstd" | wc -l)" -gt 5 ]
	run "$SHARDKIT_PYTHON" "$PYREF" check "${args[@]}"
	assert_success
}

@test "merged indexes at any depth load in Python" {
	m=$BATS_TEST_TMPDIR/merged
	mkdir -p "$m/x/y" "$m/z"
	cp -r "$REFS/comp_zstd" "$m/x/y/p0"
	cp -r "$REFS/comp_gz" "$m/z/p1"
	shard-index merge -q "$m"
	cat "$WANT/comp_zstd.jsonl" "$WANT/comp_gz.jsonl" > "$BATS_TEST_TMPDIR/both.jsonl"
	run "$SHARDKIT_PYTHON" "$PYREF" check "$m" "$BATS_TEST_TMPDIR/both.jsonl"
	assert_success
}

@test "nulls: StreamingDataset reads the value and validity columns, default_collate batches them into tensors" {
	cd "$BATS_TEST_TMPDIR"
	awk 'BEGIN { for (i = 0; i < 1000; i++) if (i % 7 == 3) print i ",,,"; else print i "," i / 4 ",s" i "," (i % 2 ? "true" : "false") }' > n.csv
	run shard-convert -q -s 'id:int64,x:float32?,s:str?,b:bool?' -o ds n.csv
	assert_success
	run "$SHARDKIT_PYTHON" - "$BATS_TEST_TMPDIR/ds" <<'PY'
import sys, tempfile
import numpy as np
from streaming import StreamingDataset
from torch.utils.data import DataLoader
with tempfile.TemporaryDirectory() as cache:
    ds = StreamingDataset(local=sys.argv[1], shuffle=False, batch_size=64)
    seen = 0
    for batch in DataLoader(ds, batch_size=64):
        ids = batch['id'].numpy()
        valid = batch['x.valid'].numpy()
        assert batch['x.valid'].dtype.is_floating_point is False and valid.dtype == np.uint8, valid.dtype
        want = (ids % 7 != 3).astype(np.uint8)
        assert (valid == want).all(), (ids, valid)
        assert (batch['s.valid'].numpy() == want).all() and (batch['b.valid'].numpy() == want).all()
        x = batch['x'].numpy()
        assert np.allclose(x[valid == 1], ids[valid == 1] / 4) and (x[valid == 0] == 0).all()
        for i, s, v in zip(ids, batch['s'], valid):
            assert s == (f's{i}' if v else ''), (i, s, v)
        seen += len(ids)
    del ds
assert seen == 1000, seen
print('ok', seen)
PY
	assert_success
	assert_output --partial "ok 1000"
}
