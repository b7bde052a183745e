#!/usr/bin/env bats
# The shard stream between programs: round trips, and every way a stream can break.

load helpers

@test "dataset -> stream -> dataset is a copy" {
	shard-cat "$REF" -o - | shard-cat - -o "$BATS_TEST_TMPDIR/back"
	cmp "$REF/index.json" "$BATS_TEST_TMPDIR/back/index.json"
	run shard-index verify "$BATS_TEST_TMPDIR/back"
	assert_success
}

@test "a stream prints as text like the dataset" {
	diff <(shard-cat "$REF") <(shard-cat "$REF" -o - | shard-cat)
}

@test "concatenated streams read as one" {
	run bash -c 'cat <(shard-cat -q "$1" -o -) <(shard-cat -q "$1" -o -) | shard-cat - | wc -l' _ "$REF"
	assert_success
	assert_output 100
}

@test "a truncated stream is detected, never a shorter dataset" {
	shard-cat "$REF" -o - > "$BATS_TEST_TMPDIR/s"
	size=$(stat -c %s "$BATS_TEST_TMPDIR/s")
	for cut in 10 20 500 $((size / 2)) $((size - 30)) $((size - 1)); do
		head -c "$cut" "$BATS_TEST_TMPDIR/s" > "$BATS_TEST_TMPDIR/t"
		run shard-cat - -o "$BATS_TEST_TMPDIR/out$cut" < "$BATS_TEST_TMPDIR/t"
		assert_failure 1
		assert_output --regexp "truncated|not a shard stream"
		[ ! -e "$BATS_TEST_TMPDIR/out$cut/index.json" ]
	done
}

@test "a flipped byte anywhere in a frame fails its checksum" {
	shard-cat "$REF" -o - > "$BATS_TEST_TMPDIR/s"
	for pos in 20 100 700 1500; do
		cp "$BATS_TEST_TMPDIR/s" "$BATS_TEST_TMPDIR/c"
		printf '\x5a' | dd of="$BATS_TEST_TMPDIR/c" bs=1 seek=$pos conv=notrunc 2>/dev/null
		run shard-cat - < "$BATS_TEST_TMPDIR/c"
		assert_failure 1
		assert_output --regexp "checksum mismatch|corrupt stream|implausible"
	done
}

@test "not a stream, and an empty one" {
	run shard-cat - < "$REF/index.json"
	assert_failure 1
	assert_output --partial "not a shard stream"
	run shard-cat - < /dev/null
	assert_failure 1
	assert_output --partial "empty input"
}

@test "binary output to a terminal is refused" {
	command -v script >/dev/null || skip "script(1) not installed"
	run script -qec "shard-cat '$REF' -o -" /dev/null
	assert_output --partial "refusing to write a binary shard stream to a terminal"
}
