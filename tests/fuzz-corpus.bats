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

@test "stream corpus, checksums as they are" {
	run "$FUZZ_RUN" stream_raw "$SRC"/tests/fuzz/corpus/stream/*
	assert_success
}

@test "codec corpus" {
	run "$FUZZ_RUN" codec "$SRC"/tests/fuzz/corpus/codec/*
	assert_success
}

@test "codec round-trip corpus" {
	run "$FUZZ_RUN" codec_rt "$SRC"/tests/fuzz/corpus/codec_rt/*
	assert_success
}

@test "writer round-trip corpus" {
	run "$FUZZ_RUN" writer "$SRC"/tests/fuzz/corpus/writer/*
	assert_success
}

@test "shuffle planner corpus" {
	run "$FUZZ_RUN" shuffle "$SRC"/tests/fuzz/corpus/shuffle/*
	assert_success
}

@test "remote responses corpus" {
	run "$FUZZ_RUN" remote "$SRC"/tests/fuzz/corpus/remote/*
	assert_success
}
