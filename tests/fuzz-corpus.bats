#!/usr/bin/env bats
# Replays every fuzz corpus and past crash file through the fuzz targets, so a
# decoder bug once found stays fixed (under ASan/UBSan in the sanitizer build).

load helpers

FUZZ_RUN=${SHARDKIT_BUILD:-$SRC/build}/tests/fuzz/fuzz-run

@test "mds corpus" {
	run "$FUZZ_RUN" mds "$SRC"/tests/fuzz/corpus/mds/*
	assert_success
}

@test "index corpus" {
	run "$FUZZ_RUN" index "$SRC"/tests/fuzz/corpus/index/*
	assert_success
}

@test "stream corpus" {
	run "$FUZZ_RUN" stream "$SRC"/tests/fuzz/corpus/stream/*
	assert_success
}

@test "csv corpus" {
	run "$FUZZ_RUN" csv "$SRC"/tests/fuzz/corpus/csv/*
	assert_success
}

@test "tz corpus" {
	run "$FUZZ_RUN" tz "$SRC"/tests/fuzz/corpus/tz/*
	assert_success
}
