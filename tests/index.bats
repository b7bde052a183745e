#!/usr/bin/env bats
# shard-index: create, merge, verify and info, on a dataset written by Mosaic's MDSWriter.

load helpers

@test "verify: a dataset written by the reference writer is sound" {
	run shard-index verify "$REF"
	assert_success
	assert_output --partial "ok: 3 shards, 50 samples"
}

@test "verify --json reports ok and counts" {
	run shard-index verify --json "$REF"
	assert_success
	assert_output --partial '"ok":true'
	assert_output --partial '"samples":50'
	assert_output --partial '"problems":[]'
}

@test "info: samples, shards, bytes and columns" {
	run shard-index info "$REF"
	assert_success
	assert_line --regexp '^samples: +50$'
	assert_line --regexp '^shards: +3$'
	assert_line --regexp '^  arr +ndarray:float32:2,3 +24 bytes$'
	assert_line --regexp '^  words +str +variable$'
	run shard-index info --json "$REF"
	assert_success
	assert_output --partial '"samples":50'
	assert_output --partial '"compression":"zstd"'
}

@test "create: rebuilds the reference writer's index.json byte for byte" {
	ds=$(ref_copy)
	rm "$ds/index.json"
	run shard-index create "$ds"
	assert_success
	cmp "$REF/index.json" "$ds/index.json"
}

@test "create: refuses to replace an index.json without --force" {
	ds=$(ref_copy)
	run shard-index create "$ds"
	assert_failure 1
	assert_output --partial "already exists"
	run shard-index create --force --hashes md5,xxh3_64 "$ds"
	assert_success
	run shard-index verify "$ds"
	assert_success
	grep -q '"xxh3_64"' "$ds/index.json"
}

@test "create and merge: a link planted at index.json's temporary name is refused, never written through" {
	cd "$BATS_TEST_TMPDIR"
	ds=$(ref_copy)
	rm "$ds/index.json"
	run planted -h "$ds/index.json" shard-index create "$ds"
	refused_link
	[ ! -e "$ds/index.json" ]
	# the temporary files a killed run leaves are no shards
	echo stale > "$ds/shard.00003.mds.zstd.tmp.4242"
	echo stale > "$ds/shard.00001.mds.tmp.4242"
	rm "$ds"/index.json.tmp.*
	shard-index create -q "$ds"
	cmp "$REF/index.json" "$ds/index.json"
	mkdir -p m/a && cp -r "$REF" m/a/part
	run planted -s m/index.json shard-index merge m
	refused_link
	[ ! -e m/index.json ]
}

@test "merge: per-partition indexes at any depth" {
	out=$BATS_TEST_TMPDIR/merged
	mkdir -p "$out/a/b" "$out/c"
	cp -r "$REF" "$out/a/b/part1"
	cp -r "$REF" "$out/c/part2"
	run shard-index merge "$out"
	assert_success
	grep -q '"basename": "a/b/part1/shard.00000.mds"' "$out/index.json"
	grep -q '"basename": "c/part2/shard.00002.mds.zstd"' "$out/index.json"
	run shard-index verify "$out"
	assert_success
	assert_output --partial "6 shards, 100 samples"
	# merging again ignores the top-level index and gives the same result
	cp "$out/index.json" "$BATS_TEST_TMPDIR/first.json"
	run shard-index merge "$out"
	assert_success
	cmp "$BATS_TEST_TMPDIR/first.json" "$out/index.json"
}

@test "merge -o DIR -: index entries as JSON lines on stdin" {
	out=$BATS_TEST_TMPDIR/m
	mkdir -p "$out"
	cp -r "$REF" "$out/t1"
	python3 -c '
import json, sys
for s in json.load(open(sys.argv[1]))["shards"]:
    for k in ("raw_data", "zip_data"):
        s[k]["basename"] = "t1/" + s[k]["basename"]
    print(json.dumps(s))
' "$REF/index.json" > "$BATS_TEST_TMPDIR/entries.jsonl"
	run shard-index merge -o "$out" - < "$BATS_TEST_TMPDIR/entries.jsonl"
	assert_success
	run shard-index verify "$out"
	assert_success
	assert_output --partial "3 shards, 50 samples"
	# an entry naming a shard that is not there is refused
	sed 's/t1\//t9\//g' "$BATS_TEST_TMPDIR/entries.jsonl" > "$BATS_TEST_TMPDIR/bad.jsonl"
	run shard-index merge -o "$out" - < "$BATS_TEST_TMPDIR/bad.jsonl"
	assert_failure 1
	assert_output --partial "<stdin>:1:"
	assert_output --partial "missing"
}

@test "verify: a flipped byte in a compressed shard is a hash mismatch (exit 3)" {
	ds=$(ref_copy)
	printf '\x00' | dd of="$ds/shard.00001.mds.zstd" bs=1 seek=40 conv=notrunc 2>/dev/null
	run shard-index verify "$ds"
	assert_failure 3
	assert_output --partial "shard.00001.mds.zstd"
	assert_output --partial "mismatch"
	run shard-index verify --json "$ds"
	assert_failure 3
	assert_output --partial '"ok":false'
	assert_output --partial '"shard":1'
}

@test "verify: a missing shard file" {
	ds=$(ref_copy)
	rm "$ds/shard.00002.mds.zstd"
	run shard-index verify "$ds"
	assert_failure 3
	assert_output --partial "shard.00002.mds.zstd: shard file is missing"
}

@test "verify: a shard shorter than its index says" {
	ds=$(ref_copy)
	truncate -s -10 "$ds/shard.00000.mds.zstd"
	run shard-index verify "$ds"
	assert_failure 3
	assert_output --partial "index says"
}

@test "verify: malformed and incomplete index.json" {
	ds=$(ref_copy)
	head -c 100 "$REF/index.json" > "$ds/index.json"
	run shard-index verify "$ds"
	assert_failure 3
	assert_output --partial "invalid JSON"
	sed 's/"samples": 23, //' "$REF/index.json" > "$ds/index.json"
	run shard-index verify "$ds"
	assert_failure 3
	assert_output --partial 'missing key "samples"'
	sed 's/"format": "mds"/"format": "mds", "extra": 1/' "$REF/index.json" > "$ds/index.json"
	run shard-index verify "$ds"
	assert_failure 3
	assert_output --partial "unexpected key \"extra\""
	sed 's/"str"\]/"str9"]/' "$REF/index.json" > "$ds/index.json"
	run shard-index verify "$ds"
	assert_failure 3
	assert_output --partial "unknown encoding 'str9'"
}

@test "verify: offsets out of order, out of bounds, and a truncated shard" {
	d=$BATS_TEST_TMPDIR/raw
	mkdir -p "$d"
	craft "$d/shard.00000.mds" n,s int,str "$(le32 1)010000000000000061" "$(le32 2)02000000000000006263"
	run shard-index create "$d"
	assert_success
	run shard-index verify "$d"
	assert_success
	# swap offsets 1 and 2 (bytes 8..15): out of order
	python3 - "$d/shard.00000.mds" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
o = struct.unpack_from('<3I', b, 4)
struct.pack_into('<3I', b, 4, o[0], o[2], o[1])
open(sys.argv[1], 'wb').write(b)
PY
	run shard-index verify "$d"
	assert_failure 3
	assert_output --partial "before the previous offset"
	rm -rf "$d"; mkdir -p "$d"
	craft "$d/shard.00000.mds" n,s int,str "$(le32 1)010000000000000061"
	shard-index create -q "$d"
	python3 - "$d/shard.00000.mds" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
struct.pack_into('<I', b, 4, 10**6)
open(sys.argv[1], 'wb').write(b)
PY
	run shard-index verify "$d"
	assert_failure 3
	assert_output --partial "past the end"
}

@test "verify: invalid UTF-8 in a str column names shard, sample and column" {
	d=$BATS_TEST_TMPDIR/raw
	mkdir -p "$d"
	craft "$d/shard.00000.mds" n,s int,str "$(le32 1)010000000000000061" "$(le32 2)0200000000000000c328"
	shard-index create -q "$d"
	run shard-index verify "$d"
	assert_failure 3
	assert_output --partial "shard.00000.mds: sample 1: column 's': invalid UTF-8 at byte 0"
	run shard-cat "$d"
	assert_failure 1
	assert_output --partial "sample 1: column 's': invalid UTF-8"
}

@test "usage errors exit 2" {
	run shard-index
	assert_failure 2
	run shard-index frobnicate "$REF"
	assert_failure 2
	assert_output --partial "unknown subcommand"
	run shard-index verify --bogus "$REF"
	assert_failure 2
	run shard-index verify --max-problems 0 "$REF"
	assert_failure 2
	run shard-index merge -
	assert_failure 2
	run shard-index verify /nonexistent/dir
	assert_failure 1
	assert_output --partial "/nonexistent/dir"
}

@test "--help and --version" {
	run shard-index --help
	assert_success
	assert_output --partial "Usage: shard-index create"
	run shard-index --version
	assert_success
	assert_output --regexp '^shard-index \(shardkit\) [0-9]'
}
