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

# attempts DIR: a dataset as a Spark job leaves it: two task attempts wrote
# the same rows with --entries (two part-* directories), the driver merged the
# entries of the first only; then a writer's stray temporary file, Spark's
# _SUCCESS marker and a hidden file. DIR.used names the part the index uses.
attempts() {
	seq 1 30 | shard-convert -q -s n:int32 --samples-per-shard 10 --entries -o "$1" > "$1.e1"
	seq 1 30 | shard-convert -q -s n:int32 --samples-per-shard 10 --entries -o "$1" > "$1.e2"
	shard-index merge -q -o "$1" - < "$1.e1"
	grep -o '"part-[^/]*' "$1.e1" | head -n 1 | tr -d '"' > "$1.used"
	echo junk > "$1/shard.00000.mds.tmp.1234"
	touch "$1/_SUCCESS" "$1/.nfs0001"
}

@test "verify: files index.json does not reference are warnings, or with --strict problems" {
	cd "$BATS_TEST_TMPDIR"
	attempts ds
	used=$(cat ds.used)
	orphan=$(cd ds && ls -d part-* | grep -vx "$used")
	run shard-index verify ds
	assert_success
	assert_line "ds/$orphan/: warning: not referenced by index.json (a directory of 3 files, $(cat ds/"$orphan"/* | wc -c) bytes)"
	assert_line "ds/shard.00000.mds.tmp.1234: warning: not referenced by index.json (a writer's temporary file)"
	assert_line "shard-index: ds: ok: 3 shards, 30 samples, 0 problems, 2 warnings"
	refute_output --partial "index.json:"
	refute_output --partial "_SUCCESS"
	refute_output --partial ".nfs0001"
	refute_output --partial "$used"
	run shard-index verify --strict ds
	assert_failure 3
	assert_line "ds/$orphan/: not referenced by index.json (a directory of 3 files, $(cat ds/"$orphan"/* | wc -c) bytes)"
	assert_line "ds/shard.00000.mds.tmp.1234: not referenced by index.json (a writer's temporary file)"
	assert_line "shard-index: ds: NOT SOUND: 3 shards, 30 samples, 2 problems"
	run shard-index verify --json ds
	assert_success
	assert_output --partial "\"unreferenced\":[\"$orphan/\",\"shard.00000.mds.tmp.1234\"]"
	assert_output --partial '"warning_count":2'
	run shard-index verify --json --strict ds
	assert_failure 3
	assert_output --partial '"problem_count":2'
	# an empty directory, a file in a directory the index uses, and a link
	mkdir ds/empty
	echo x > "ds/$used/notes.txt"
	ln -s /etc/passwd ds/link
	run shard-index verify ds
	assert_success
	assert_line "ds/empty/: warning: not referenced by index.json (an empty directory)"
	assert_line "ds/$used/notes.txt: warning: not referenced by index.json"
	assert_line "ds/link: warning: not referenced by index.json"
}

@test "verify: a part's own index.json stays with the part the dataset uses" {
	out=$BATS_TEST_TMPDIR/merged
	mkdir -p "$out"
	cp -r "$REF" "$out/part1"
	shard-index merge -q "$out"
	run shard-index verify --strict "$out"
	assert_success
	# a part the merged index does not use goes as a whole, its index.json too
	cp -r "$REF" "$out/part2"
	run shard-index verify --strict "$out"
	assert_failure 3
	assert_output --partial "$out/part2/: not referenced by index.json (a directory of 4 files,"
}

@test "prune: removes what index.json does not reference, -n first says what it would" {
	cd "$BATS_TEST_TMPDIR"
	attempts ds
	used=$(cat ds.used)
	orphan=$(cd ds && ls -d part-* | grep -vx "$used")
	(cd ds && find . -type f | sort | xargs sha1sum) > before.sums
	find ds | sort > before.list
	run shard-index prune -n ds
	assert_success
	assert_output "$(printf '%s\n' "would remove ds/$orphan/shard.00000.mds.zstd" "would remove ds/$orphan/shard.00001.mds.zstd" \
		"would remove ds/$orphan/shard.00002.mds.zstd" "would remove ds/$orphan/" \
		"would remove ds/shard.00000.mds.tmp.1234" \
		"shard-index: ds: would remove 4 files ($(cat ds/"$orphan"/* ds/*.tmp.* | wc -c) bytes) and 1 directory")"
	find ds | sort | cmp - before.list
	run shard-index prune ds
	assert_success
	assert_line "removed ds/$orphan/"
	assert_line "removed ds/shard.00000.mds.tmp.1234"
	assert_line --partial "shard-index: ds: removed 4 files ("
	[ ! -e "ds/$orphan" ] && [ ! -e ds/shard.00000.mds.tmp.1234 ]
	# what the index references, the index, and what is left alone are untouched
	(cd ds && sha1sum -c --quiet ../before.sums 2>/dev/null) | grep -v -e "$orphan" -e tmp.1234 > changed || true
	[ ! -s changed ]
	[ -e ds/_SUCCESS ] && [ -e ds/.nfs0001 ]
	run shard-index verify --strict ds
	assert_success
	assert_output "shard-index: ds: ok: 3 shards, 30 samples, 0 problems"
	run shard-index prune ds
	assert_success
	assert_output "shard-index: ds: nothing to remove: index.json references every file"
	run shard-index prune -q ds
	assert_success
	assert_output ""
}

@test "prune: symbolic links are removed, never followed; referenced files stay" {
	cd "$BATS_TEST_TMPDIR"
	attempts ds
	used=$(cat ds.used)
	mkdir -p outside/sub
	echo keep > outside/sub/f
	echo keep > outside/file
	ln -s ../outside ds/to-dir
	ln -s ../outside/file ds/to-file
	# the used part reached through a link: the link and the files stay
	mv "ds/$used" real-part
	ln -s ../real-part "ds/$used"
	run shard-index prune ds
	assert_success
	assert_line "removed ds/to-dir"
	assert_line "removed ds/to-file"
	[ ! -L ds/to-dir ] && [ ! -L ds/to-file ]
	[ "$(cat outside/sub/f outside/file)" = "$(printf 'keep\nkeep')" ]
	[ -L "ds/$used" ] && [ "$(ls real-part | wc -l)" -eq 3 ]
	run shard-index verify --strict ds
	assert_success
}

@test "prune: refuses without a valid index.json to go by, and removes nothing" {
	cd "$BATS_TEST_TMPDIR"
	attempts ds
	mv ds/index.json index.json.saved
	find ds | sort > before.list
	run shard-index prune ds
	assert_failure 1
	assert_output --partial "ds/index.json"
	assert_output --partial "nothing removed"
	head -c 50 index.json.saved > ds/index.json
	run shard-index prune ds
	assert_failure 1
	assert_output --partial "invalid JSON"
	assert_output --partial "nothing removed"
	rm ds/index.json
	find ds | sort | cmp - before.list
	# an index none of whose shards are here is some other directory's
	mkdir other
	cp index.json.saved other/index.json
	echo x > other/keep.txt
	run shard-index prune other
	assert_failure 1
	assert_output "shard-index: other/index.json: none of the shard files it lists is here: nothing removed"
	[ -e other/keep.txt ]
	run shard-index prune nonexistent
	assert_failure 1
	# an http(s) dataset cannot be listed (s3:// can: tests/s3-write.bats)
	run shard-index prune http://127.0.0.1:1/ds
	assert_failure 2
	assert_output --partial "prune takes a local directory or an s3:// dataset, not an http(s) URL"
	run shard-index prune --strict ds
	assert_failure 2
	assert_output --partial "--strict applies to verify only"
	run shard-index verify -n ds
	assert_failure 2
	assert_output --partial "--dry-run applies to prune only"
}

@test "verify of a remote dataset says it cannot look for unreferenced files" {
	cd "$BATS_TEST_TMPDIR"
	cp -r "$REF" www
	echo junk > www/stray
	port=$(free_port)
	python3 -m http.server -b 127.0.0.1 -d www "$port" > /dev/null 2>&1 3>&- &
	echo $! > server.pid
	wait_port "$port" 10
	run shard-index verify --strict "http://127.0.0.1:$port"
	assert_success
	assert_line "shard-index: http://127.0.0.1:$port: not looked for files index.json does not reference: an http(s) dataset cannot be listed"
	run shard-index verify --json "http://127.0.0.1:$port"
	assert_success
	assert_output --partial '"unreferenced":null'
}

teardown() {
	[ ! -f "$BATS_TEST_TMPDIR/server.pid" ] || kill "$(cat "$BATS_TEST_TMPDIR/server.pid")" 2>/dev/null || true
}

@test "verify --json: a shard whose hash failed counts none of its samples as sound" {
	ds=$(ref_copy)
	# the compressed file's recorded hash is wrong; its samples all decode
	sed -i 's/b5447c78d34d6b6d/b5447c78d34d6b6e/' "$ds/index.json"
	run shard-index verify --json "$ds"
	assert_failure 3
	assert_output --partial '"samples":50,"samples_ok":27,"problem_count":1'
	assert_output --partial '"shard":1'
}

# one_doc: the output is exactly one JSON document; prints KEY=VALUE of some keys
one_doc() {
	python3 -c '
import json, sys
text = sys.stdin.read()
assert text.count("\n") == 1 and text.endswith("\n"), repr(text)
d = json.loads(text)
print(" ".join("%s=%s" % (k, json.dumps(d[k])) for k in ("dataset", "ok", "status", "error", "problem_count")))'
}

@test "verify --json prints one document for every outcome, and the status says which" {
	cd "$BATS_TEST_TMPDIR"
	ds=$(ref_copy)
	export -f one_doc
	check() { # STATUS EXPECTED-KEYS ARGS...
		local want=$1 keys=$2
		shift 2
		run bash -c 'out=$(shard-index verify "$@" 2>/dev/null); rc=$?; printf "%s\n" "$out" | one_doc; echo "rc=$rc"' _ "$@"
		assert_output "$keys
rc=$want"
	}
	check 0 "dataset=\"$REF\" ok=true status=0 error=null problem_count=0" --json "$REF"
	check 1 'dataset="/nonexistent/dir" ok=false status=1 error="/nonexistent/dir: No such file or directory" problem_count=0' \
		--json /nonexistent/dir
	check 1 "dataset=\"$REF/index.json\" ok=false status=1 error=\"$REF/index.json: not a dataset directory\" problem_count=0" \
		--json "$REF/index.json"
	head -c 100 "$REF/index.json" > "$ds/index.json"
	check 3 "dataset=\"$ds\" ok=false status=3 error=null problem_count=1" --json "$ds"
	chmod 000 "$ds/index.json"
	if [ "$(id -u)" != 0 ]; then
		check 3 "dataset=\"$ds\" ok=false status=3 error=null problem_count=1" --json "$ds"
	fi
	chmod 644 "$ds/index.json"
	check 2 "dataset=\"$REF\" ok=false status=2 error=\"--max-problems takes a positive number\" problem_count=0" \
		--json --max-problems 0 "$REF"
	check 2 "dataset=\"$REF\" ok=false status=2 error=\"unrecognized option '--bogus'\" problem_count=0" \
		"$REF" --bogus --json
	check 2 "dataset=\"$REF\" ok=false status=2 error=\"--expect-schema: column 'a': unknown encoding 'flaot32'\" problem_count=0" \
		--expect-schema a:flaot32 --json "$REF"
	check 2 'dataset=null ok=false status=2 error="missing DIR" problem_count=0' --json
	# the message goes to standard error too
	run shard-index verify --json /nonexistent/dir
	assert_failure 1
	assert_line "shard-index: /nonexistent/dir: No such file or directory"
}

@test "verify -q: the problems on standard error, nothing else" {
	cd "$BATS_TEST_TMPDIR"
	attempts ds
	shard-index verify -q ds > out 2> err
	[ ! -s out ] && [ ! -s err ]
	printf '\x00' | dd of=ds/"$(cat ds.used)"/shard.00001.mds.zstd bs=1 seek=40 conv=notrunc 2>/dev/null
	run shard-index verify -q ds
	assert_failure 3
	assert_output --partial "shard.00001.mds.zstd: "
	refute_output --partial "NOT SOUND"
	refute_output --partial "warning"
	# beside --json too; without -q, --json alone prints nothing there
	run bash -c 'shard-index verify -q --json ds > out 2> err'
	assert_failure 3
	grep -q '"ok":false' out
	grep -q 'shard.00001.mds.zstd: ' err
	run bash -c 'shard-index verify --json ds > out 2> err'
	assert_failure 3
	[ ! -s err ]
}

# nullable DIR: id, name, day (a date), score (float32, nullable: with the
# validity column score.valid that index.json names for it)
nullable() {
	printf '1,a,2024-01-02,1.5\n2,b,2024-01-03,\n' |
		shard-convert -q -s 'id:int64,name:str,day:date,score:float32?' -o "$1"
	grep -q '"validity": {"score": "score.valid"}' "$1/index.json"
}

@test "verify --expect-schema and --expect-samples: what differs, exactly" {
	cd "$BATS_TEST_TMPDIR"
	nullable ds
	run shard-index verify --expect-schema 'id:int64,name:str,day:date,score:float32?' --expect-samples 2 ds
	assert_success
	# any order
	run shard-index verify --expect-schema 'score:float32?,day:date,name:str,id:int64' ds
	assert_success
	run shard-index verify --expect-schema 'id:int32,day:int32,score:float32,label:int32?' --expect-samples 3 ds
	assert_failure 3
	assert_output "ds/index.json: 3 samples expected, 2 found
ds/index.json: column 'id': type int32 expected, int64 found
ds/index.json: column 'day': type int32 expected, date (int32) found
ds/index.json: column 'score': not nullable expected (float32), but index.json records validity column 'score.valid' for it
ds/index.json: column 'label': missing (int32? expected)
ds/index.json: column 'name': not expected (str)
shard-index: ds: NOT SOUND: 1 shards, 2 samples, 6 problems"
	run shard-index verify --expect-schema 'id:int64,name:str?,day:timestamp,score:float32?' ds
	assert_failure 3
	assert_line "ds/index.json: column 'name': nullable expected (str?), but index.json records no validity column for it"
	assert_line "ds/index.json: column 'day': type timestamp expected, date (int32) found"
	# the validity column index.json names must be there, and uint8
	sed -i 's/"score": "score.valid"/"score": "name"/' ds/index.json
	run shard-index verify --expect-schema 'id:int64,day:date,score:float32?' ds
	assert_failure 3
	assert_output --partial "column 'score': its validity column 'name' is str, uint8 expected"
	sed -i 's/"score": "name"/"score": "gone"/' ds/index.json
	run shard-index verify --expect-schema 'id:int64,name:str,day:date,score:float32?' ds
	assert_failure 3
	assert_output --partial "column 'score': its validity column 'gone' is missing"
	# in the document
	run shard-index verify --json --expect-samples 5 "$REF"
	assert_failure 3
	assert_output --partial '"problems":[{"shard":null,"file":"'"$REF"'/index.json","sample":null,"column":null,"message":"5 samples expected, 50 found"}]'
	run shard-index verify --expect-schema 'arr:ndarray:float32:2,3,b:bytes,d:float64,f:float32,number:int,words:str' "$REF"
	assert_success
	run shard-index verify --expect-schema 'arr:ndarray:float32:3,2,b:bytes,d:float64,f:float32,number:int64,words:str' "$REF"
	assert_failure 3
	assert_line "$REF/index.json: column 'arr': type ndarray:float32:3,2 expected, ndarray:float32:2,3 found"
	assert_line "$REF/index.json: column 'number': type int64 expected, int found"
	# a json column holds its nulls itself: no validity column to expect
	printf '{"j":null}\n{"j":[1]}\n' | shard-convert -q -f jsonl -s 'j:json?' -o js
	run shard-index verify --expect-schema 'j:json?' js
	assert_success
	# what a dataset holds but text cannot become can be expected too
	mkdir pic
	craft pic/shard.00000.mds img,n jpeg,int "$(le32 5)ffd8ffe0000100000000000000"
	shard-index create -q pic
	run shard-index verify --expect-schema 'n:int,img:jpeg' pic
	assert_success
	run shard-index verify --expect-schema 'n:int,img:png' pic
	assert_failure 3
	assert_output --partial "column 'img': type png expected, jpeg found"
	# bad expectations are usage errors
	run shard-index verify --expect-schema 'id:int64,id:str' ds
	assert_failure 2
	assert_output --partial "--expect-schema: column 'id' twice"
	run shard-index verify --expect-schema 'id' ds
	assert_failure 2
	assert_output --partial "--expect-schema: 'id' is not NAME:TYPE"
	run shard-index verify --expect-samples -1 ds
	assert_failure 2
	assert_output --partial "--expect-samples takes a number of samples, not '-1'"
	run shard-index info --expect-samples 2 ds
	assert_failure 2
	assert_output --partial "--expect-samples applies to verify only"
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

@test "verify: a shard file listed twice; merge will not write such an index" {
	cd "$BATS_TEST_TMPDIR"
	ds=$(ref_copy)
	python3 - "$ds/index.json" <<'PY'
import json, sys
ix = json.load(open(sys.argv[1]))
ix['shards'].append(ix['shards'][0])
json.dump(ix, open(sys.argv[1], 'w'), sort_keys=True)
PY
	run shard-index verify "$ds"
	assert_failure 3
	assert_line "$ds/shard.00000.mds.zstd: index.json lists this file twice: shard 3 names it, and shard 0 already does"
	assert_line "shard-index: $ds: NOT SOUND: 4 shards, 73 samples, 2 problems"
	# the same entry twice on standard input: no index.json
	rm "$ds/index.json"
	python3 -c 'import json, sys; e = json.load(open(sys.argv[1]))["shards"][1]; print(json.dumps(e)); print(json.dumps(e))' \
		"$REF/index.json" > twice.jsonl
	run shard-index merge -q -o "$ds" - < twice.jsonl
	assert_failure 1
	assert_line "shard-index: $ds/shard.00001.mds.zstd: named by shard 0 and again by shard 1"
	assert_line "shard-index: $ds/index.json: not written: a dataset lists each shard file once"
	[ ! -e "$ds/index.json" ]
}

@test "verify: an embedded config that disagrees with its entry, or is not JSON" {
	cd "$BATS_TEST_TMPDIR"
	ds=$(ref_copy)
	sed -i 's/"size_limit": 2000/"size_limit": 3000/' "$ds/index.json"
	run shard-index verify "$ds"
	assert_failure 3
	assert_line "$ds/shard.00000.mds.zstd: embedded config disagrees with the index entry: size_limit is 2000 in the shard, 3000 in index.json"
	assert_line "shard-index: $ds: NOT SOUND: 3 shards, 50 samples, 1 problem"
	# hashes may differ: create --hashes records others than the shard's config lists
	mkdir raw
	craft raw/shard.00000.mds n,s int,str "$(le32 1)010000000000000061"
	shard-index create -q --hashes sha1 raw
	run shard-index verify raw
	assert_success
	# a config that does not parse (its first byte broken), with the entry's size and hashes made to match
	python3 - raw <<'PY'
import hashlib, json, struct, sys
d = sys.argv[1]
b = bytearray(open(d + '/shard.00000.mds', 'rb').read())
b[12] = ord('x')
open(d + '/shard.00000.mds', 'wb').write(b)
ix = json.load(open(d + '/index.json'))
ix['shards'][0]['raw_data']['hashes']['sha1'] = hashlib.sha1(b).hexdigest()
json.dump(ix, open(d + '/index.json', 'w'), sort_keys=True)
PY
	run shard-index verify raw
	assert_failure 3
	assert_line --regexp "^raw/shard.00000.mds: embedded config is not valid JSON \(.*\)$"
	assert_line "shard-index: raw: NOT SOUND: 1 shards, 1 samples, 1 problem"
}

@test "verify: a malformed shard whose entry says 0 samples" {
	cd "$BATS_TEST_TMPDIR"
	zero_claim z
	run shard-index verify z
	assert_failure 3
	assert_line "z/shard.00001.mds: sample 0: offset 209 is past the end of the shard (206 bytes)"
}

@test "an unknown compression in index.json is bad data: verify 3, the other subcommands 1" {
	cd "$BATS_TEST_TMPDIR"
	unknown_codec ds
	run shard-index verify ds
	assert_failure 3
	assert_line "ds/index.json: shard 0: unknown compression 'lz9' (expected zstd, gz, bz2, br or snappy, with :LEVEL)"
	run shard-index verify --json ds
	assert_failure 3
	run shard-index info ds
	assert_failure 1
	assert_output --partial "unknown compression 'lz9'"
	mkdir out && mv ds out/part
	run shard-index merge out
	assert_failure 1
	assert_output --partial "unknown compression 'lz9'"
	python3 -c 'import json; print(json.dumps(json.load(open("out/part/index.json"))["shards"][0]))' > e.jsonl
	run shard-index merge -q -o out/part - < e.jsonl
	assert_failure 1
	assert_output --partial "unknown compression 'lz9'"
}

@test "create and merge flush the shards and directories before index.json, and index.json after; --no-sync skips it" {
	cd "$BATS_TEST_TMPDIR"
	seq 1 30 | shard-convert -q -s n:int32 --samples-per-shard 10 -o ds/a/p1
	seq 1 30 | shard-convert -q -s n:int32 --samples-per-shard 10 -o ds/b/p2
	traced m.log shard-index merge -q ds
	run synced m.log ds
	assert_success
	for d in a a/p1 b b/p2; do
		grep -qE "fsync\([0-9]+<$(realpath ds/$d)>\)" m.log
	done
	traced n.log shard-index merge -q --no-sync ds
	run unsynced n.log
	assert_success
	shard-index verify -q ds
	mkdir raw
	craft raw/shard.00000.mds n,s int,str "$(le32 1)010000000000000061"
	traced c.log shard-index create -q raw
	run synced c.log raw
	assert_success
	traced c2.log shard-index create -q --force --no-sync raw
	run unsynced c2.log
	assert_success
	run shard-index verify --no-sync raw
	assert_failure 2
	assert_output --partial "--no-sync applies to create and merge only"
}
