#!/usr/bin/env bats
# shard-cat: text output, column and sample selection, copying datasets, pipes.

load helpers

@test "jsonl: one object per sample in column order" {
	run shard-cat "$REF"
	assert_success
	[ "${#lines[@]}" -eq 50 ]
	assert_line --index 1 '{"arr":[[0.0,1.0,2.0],[3.0,4.0,5.0]],"b":"AQD/","d":0.1,"f":0.33333334,"number":-24,"words":"héllo 1 \"q\""}'
}

@test "csv: header, Spark's backslash escapes, shortest floats; --rfc4180 doubles quotes" {
	run shard-cat -f csv -r 2:4 "$REF"
	assert_success
	assert_line --index 0 'arr,b,d,f,number,words'
	assert_line --index 1 '"[[0.0,2.0,4.0],[6.0,8.0,10.0]]",AgD/,0.2,0.6666667,-23,"héllo 2 \"q\""'
	assert_line --index 2 '"[[0.0,3.0,6.0],[9.0,12.0,15.0]]",AwD/,0.30000000000000004,1.0,-22,"héllo 3 \"q\""'
	[ "${#lines[@]}" -eq 3 ]
	run shard-cat -f csv --rfc4180 -r 2:4 "$REF"
	assert_success
	assert_line --index 1 '"[[0.0,2.0,4.0],[6.0,8.0,10.0]]",AgD/,0.2,0.6666667,-23,"héllo 2 ""q"""'
	[ "${#lines[@]}" -eq 3 ]
	run shard-cat -f tsv --rfc4180 "$REF"
	assert_failure 2
}

@test "csv: an empty string is \"\", a null an empty field, a backslash escaped; read back to the same dataset" {
	cd "$BATS_TEST_TMPDIR"
	printf 's,n\nplain,1\n"",2\n,3\n"a\\\\b\\"c",4\n" edge ",5\n"x,y",6\n' > in.csv
	run shard-convert -q --header -s 's:str?,n:int32' -o ds in.csv
	assert_success
	run shard-cat -f csv ds
	assert_success
	assert_output "$(printf '%s\n' 'n,s' '1,plain' '2,""' '3,' '4,"a\\b\"c"' '5," edge "' '6,"x,y"')"
	run shard-cat ds
	assert_line --index 2 '{"n":3,"s":null}'
	assert_line --index 3 '{"n":4,"s":"a\\b\"c"}'
	shard-cat -f csv ds | shard-convert -q --header -s 's:str?,n:int32' -o ds2 -
	diff <(shard-cat --raw ds) <(shard-cat --raw ds2)
}

@test "tsv with --columns and --no-header" {
	run shard-cat -f tsv --no-header -c words,number -r 48: "$REF"
	assert_success
	assert_output "$(printf 'héllo 48 "q"\t23\nhéllo 49 "q"\t24')"
}

@test "--range across shard boundaries and inputs" {
	run shard-cat -c number -r 22:25 "$REF"
	assert_success
	assert_output "$(printf '{"number":-3}\n{"number":-2}\n{"number":-1}')"
	run shard-cat -c number -r 49:51 "$REF" "$REF"
	assert_output "$(printf '{"number":24}\n{"number":-25}')"
}

@test "-o DIR copies shards byte for byte; the index matches the reference writer's" {
	run shard-cat "$REF" -o "$BATS_TEST_TMPDIR/copy"
	assert_success
	cmp "$REF/index.json" "$BATS_TEST_TMPDIR/copy/index.json"
	for f in "$REF"/shard.*; do cmp "$f" "$BATS_TEST_TMPDIR/copy/${f##*/}"; done
	run shard-cat "$REF" -o "$BATS_TEST_TMPDIR/copy"
	assert_failure 2
	assert_output --partial "already holds a dataset"
}

@test "-o DIR: a link planted at a shard's or index.json's temporary name is refused, never written through" {
	cd "$BATS_TEST_TMPDIR"
	for name in shard.00001.mds.zstd index.json; do
		rm -rf copy && mkdir copy
		run planted -s "copy/$name" shard-cat -q "$REF" -o copy
		refused_link
		[ "$(ls copy)" = "$(cd copy && ls "$name".tmp.*)" ]
	done
}

@test "-o DIR: SIGINT, SIGTERM and SIGHUP remove the shards copied; the status is 128+N" {
	cd "$BATS_TEST_TMPDIR"
	for sig in INT TERM HUP; do
		rm -rf copy
		endless_stream | env --default-signal=INT,TERM,HUP shard-cat -q -o copy - 3>&- &
		pid=$!
		signalled "$sig" copy
		run shard-index create copy
		assert_failure 1
		assert_output --partial "no shard files"
	done
}

@test "several inputs are renumbered into one dataset" {
	run shard-cat "$REF" "$REF" -o "$BATS_TEST_TMPDIR/two"
	assert_success
	run shard-index verify "$BATS_TEST_TMPDIR/two"
	assert_success
	assert_output --partial "6 shards, 100 samples"
	[ -f "$BATS_TEST_TMPDIR/two/shard.00005.mds.zstd" ]
}

@test "loose shard files are read through their embedded config" {
	run shard-cat -c number "$REF/shard.00002.mds.zstd"
	assert_success
	[ "${#lines[@]}" -eq 4 ]
	assert_line --index 0 '{"number":21}'
	zstd -qdc "$REF/shard.00000.mds.zstd" > "$BATS_TEST_TMPDIR/shard.00000.mds"
	run shard-cat -c words -r 0:1 "$BATS_TEST_TMPDIR/shard.00000.mds"
	assert_output '{"words":"héllo 0 \"q\""}'
}

@test "a closed pipe ends quietly" {
	run bash -c 'set -o pipefail; shard-cat "$1" "$1" "$1" | head -n 1' _ "$REF"
	assert_success
	assert_output --partial '"number":-25'
	refute_output --partial "shard-cat:"
}

@test "a corrupt shard is an error naming the file (exit 1)" {
	ds=$(ref_copy)
	printf '\x00' | dd of="$ds/shard.00001.mds.zstd" bs=1 seek=40 conv=notrunc 2>/dev/null
	run shard-cat "$ds"
	assert_failure 1
	assert_output --partial "shard.00001.mds.zstd: sha1 mismatch"
	rm "$ds/shard.00001.mds.zstd"
	run shard-cat "$ds" -o "$BATS_TEST_TMPDIR/out"
	assert_failure 1
	assert_output --partial "shard.00001.mds.zstd: shard 1 is missing"
	[ ! -e "$BATS_TEST_TMPDIR/out/index.json" ]
	[ ! -e "$BATS_TEST_TMPDIR/out/shard.00000.mds.zstd" ]
}

@test "on a terminal, copying shows shards, samples, bytes read and rate, cleared for the summary; text does not" {
	cd "$BATS_TEST_TMPDIR"
	run on_tty shard-cat "$REF" "$REF" -o two
	assert_success
	assert_output --regexp $'\r'"$(progress_line shard-cat samples)"
	assert_output --regexp 'shard-cat: [0-9]+ shards, [0-9]+ samples, '
	[ "$(screen <<< "$output")" = "shard-cat: two: 6 shards, 100 samples" ]
	shard-cat "$REF" -o one 2> err.txt
	[ "$(cat err.txt)" = "shard-cat: one: 3 shards, 50 samples" ]
	# a stream on stdout stays a stream, and goes on down a pipeline whose
	# last program shows the progress: none here, only the summary
	run on_tty shard-cat "$REF" -o -
	assert_success
	refute_output --regexp 'rows/s|samples/s|B/s'
	[ "$(screen <<< "$output")" = "shard-cat: <stdout>: 3 shards, 50 samples" ]
	[ "$(shard-cat - < tty.out)" = "$(shard-cat "$REF")" ]
	run on_tty shard-cat -q "$REF" -o three
	assert_success
	assert_output ''
	run on_tty shard-cat -c number "$REF"
	assert_success
	assert_output ''
	[ "$(wc -l < tty.out)" -eq 50 ]
	# an error after progress was shown starts on a clean line
	ds=$(ref_copy)
	printf '\x00' | dd of="$ds/shard.00001.mds.zstd" bs=1 seek=40 conv=notrunc 2>/dev/null
	run on_tty shard-cat "$ds" -o bad
	assert_failure 1
	assert_output --regexp "$(progress_line shard-cat samples)"
	run screen <<< "$output"
	[ "${#lines[@]}" -eq 1 ]
	assert_output --regexp '^shard-cat: [^ ]*/shard\.00001\.mds\.zstd: sha1 mismatch '
}

@test "usage errors exit 2" {
	run shard-cat -f xml "$REF"
	assert_failure 2
	assert_output --partial "unknown format"
	run shard-cat -r 5:2 "$REF"
	assert_failure 2
	run shard-cat -o - -f csv "$REF"
	assert_failure 2
	run shard-cat -o "$BATS_TEST_TMPDIR/x" -c words "$REF"
	assert_failure 2
	run shard-cat --nope
	assert_failure 2
	run shard-cat -c nosuch "$REF"
	assert_failure 1
	assert_output --partial "no column 'nosuch'"
}

@test "text: a malformed shard whose entry says 0 samples is refused, named (exit 1)" {
	cd "$BATS_TEST_TMPDIR"
	zero_claim z
	run shard-cat z
	assert_failure 1
	assert_line "shard-cat: z/shard.00001.mds: sample 0: offset 209 is past the end of the shard (206 bytes)"
	# past the range asked for: even so
	run shard-cat -f csv -r 5:6 z
	assert_failure 1
	assert_output --partial "z/shard.00001.mds: sample 0: offset 209 is past the end"
}

@test "an unknown compression in index.json is bad data (exit 1), not a usage error" {
	cd "$BATS_TEST_TMPDIR"
	unknown_codec ds
	run shard-cat ds
	assert_failure 1
	assert_output "shard-cat: ds/index.json: shard 0: unknown compression 'lz9' (expected zstd, gz, bz2, br or snappy, with :LEVEL)"
	run shard-cat -o copy ds
	assert_failure 1
}

@test "-o DIR flushes the shards and directory before index.json, and index.json after; --no-sync skips it" {
	cd "$BATS_TEST_TMPDIR"
	traced s.log shard-cat -q -o copy "$REF"
	run synced s.log copy
	assert_success
	traced n.log shard-cat -q --no-sync -o copy2 "$REF"
	run unsynced n.log
	assert_success
	diff copy/index.json copy2/index.json
}
