#!/usr/bin/env bats
# libshard's interface: the shared library exports what lib/shard.h declares,
# nothing more and nothing less, and its version agrees with the package's.

load helpers

BUILD=${SHARDKIT_BUILD:-$SRC/build}

# The functions and objects shard.h declares, found by the compiler itself
# (gcc's -aux-info lists every prototype with the file that declares it),
# apart from the awk script that makes the export list.
declared() {
	gcc -fsyntax-only -aux-info "$BATS_TEST_TMPDIR/aux" -x c "$SRC/lib/shard.h"
	{
		# the first identifier followed by " (" on each line is the function's name
		grep -F '/lib/shard.h:' "$BATS_TEST_TMPDIR/aux" | sed -E 's/^([^(]*[^A-Za-z0-9_(])([A-Za-z_][A-Za-z0-9_]*) \(.*/\2/'
		grep -E '^extern [^(]*;' "$SRC/lib/shard.h" | sed -E 's/\[[^]]*\]//g; s/.*[^A-Za-z0-9_]([A-Za-z_][A-Za-z0-9_]*) *;.*/\1/'
	} | sort -u
}

@test "libshard.so exports exactly what shard.h declares" {
	command -v gcc >/dev/null || skip "gcc not installed"
	so=$BUILD/lib/.libs/libshard.so
	[ -f "$so" ] || skip "no shared library built"
	nm -D --defined-only "$so" | awk '{ print $3 }' | sort -u > "$BATS_TEST_TMPDIR/exported"
	run grep -v '^shard_' "$BATS_TEST_TMPDIR/exported"
	assert_output ""
	declared > "$BATS_TEST_TMPDIR/declared"
	[ "$(wc -l < "$BATS_TEST_TMPDIR/declared")" -gt 100 ]
	run diff "$BATS_TEST_TMPDIR/declared" "$BATS_TEST_TMPDIR/exported"
	assert_success
}

@test "the internals are hidden" {
	so=$BUILD/lib/.libs/libshard.so
	[ -f "$so" ] || skip "no shared library built"
	run sh -c "nm -D --defined-only '$so' | grep -wE 'js_value|hex4|put_utf8|stream_read_frame|shard_tz_build|shard_number_field'"
	assert_failure
}
