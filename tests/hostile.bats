#!/usr/bin/env bats
# Hostile inputs (tests/hostile/): an index.json, a shard, a stream frame or a
# compressed shard that lies about a size, or a file that is no regular file,
# must cost no more memory than the data and SHARDKIT_MAX_SHARD allow: every
# program that reads it ends with a clear message and its documented status,
# under a ceiling of virtual memory and a timeout, never out of memory, never
# hanging. tests/hostile/cases lists what each program must do on each case.

load helpers

CASES=$SRC/tests/hostile/cases

# hostile CASE: builds CASE in a fresh directory and runs every line the
# catalogue has for it; reports each line that fails, and fails if any did
hostile() {
	local name=$1 dir=$BATS_TEST_TMPDIR/$1 c want kib cmd regex failed=0 n=0 limit
	mkdir -p "$dir"
	cd "$dir"
	python3 "$SRC/tests/hostile/make.py" "$name"
	while IFS=$'\t' read -r -u 3 c want kib cmd regex; do
		[ "$c" = "$name" ] || continue
		n=$((n + 1))
		rm -rf out out2 o2 big
		# AddressSanitizer reserves terabytes of address space: no ceiling under it
		limit="ulimit -v $kib;"
		[ -z "${SHARDKIT_SANITIZED:-}" ] || limit=
		run timeout 120 bash -c "set -o pipefail; $limit $cmd" </dev/null
		if [ "$status" != "$want" ] || [ "$status" -eq 124 ] ||
		   { [ -n "$regex" ] && ! grep -Eq -- "$regex" <<<"$output"; } ||
		   grep -qi "out of memory" <<<"$output"; then
			echo "FAILED: $cmd"
			echo "  wanted status $want, message /$regex/"
			echo "  got status $status: $output" | head -c 2000
			echo
			failed=1
		fi
	done 3<"$CASES"
	[ "$n" -gt 0 ] || { echo "no lines for case $name in $CASES"; return 1; }
	[ "$failed" -eq 0 ]
}

@test "every case in the catalogue has a test here" {
	local c
	for c in $(grep -v '^#' "$CASES" | cut -f1 | sort -u); do
		grep -q "^	hostile $c\$" "$BATS_TEST_FILENAME" || { echo "no test for $c"; return 1; }
	done
}

@test "an index claiming 10^8 samples in a 174-byte shard" {
	hostile samples-claim
}

@test "an index claiming 2^32-1 samples and bytes" {
	hostile samples-max
}

@test "a compressed shard claiming more than its bytes can inflate to" {
	hostile zip-samples-claim
}

@test "a 3 GiB sparse shard file where the index lists 174 bytes" {
	hostile sparse-larger
}

@test "a 3 GiB sparse shard file the index lists as it is" {
	hostile sparse-claimed
}

@test "a shard that is /dev/zero through a symbolic link" {
	hostile dev-zero
}

@test "a shard that is a FIFO: refused, never waited on" {
	hostile fifo
}

@test "an index.json that is a FIFO" {
	hostile fifo-index
}

@test "a zstd bomb: 1.5 GiB of zeros in 48 KiB, inflated no further than the entry and the limit allow" {
	hostile zstd-bomb
}

@test "a gz shard inflating past its entry's size" {
	hostile gz-bomb
}

@test "a bz2 shard inflating past its entry's size" {
	hostile bz2-bomb
}

@test "a br shard inflating past its entry's size" {
	hostile br-bomb
}

@test "a snappy shard inflating past its entry's size" {
	hostile snappy-bomb
}

@test "a stream frame claiming 5 GiB of data" {
	hostile frame-huge
}

@test "a stream frame claiming 1 GiB and sending 100 bytes" {
	hostile frame-lie
}

@test "a stream frame claiming 64 MiB of metadata and sending 10 bytes" {
	hostile frame-meta-lie
}

@test "a stream frame whose entry claims 10^8 samples" {
	hostile frame-samples
}

@test "a zstd bomb in a stream frame" {
	hostile frame-bomb
}

@test "--buffer of 10^9 samples on 4000: slots grow with the samples" {
	hostile buffer-huge
}

@test "--batch of 2*10^7 with --pad on 4000 samples: memory follows the data, not the batch" {
	hostile batch-pad-huge
}
