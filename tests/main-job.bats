#!/usr/bin/env bats
# The README's first command, scripts/main-job.sh, on the bundled Spark export,
# with the programs of this build (SHARDKIT_BUILD: nothing installed or built).

load helpers

@test "the main job converts, verifies, streams and loads the bundled Spark export, and sums it up" {
	export SHARDKIT_OUT=$BATS_TEST_TMPDIR/job
	mkdir -p "$SHARDKIT_OUT"
	run "$SRC/scripts/main-job.sh"
	assert_success
	for step in "convert the Spark export" "verify every byte of it" "stream it through a pipe" "describe it" \
		"first samples as JSON Lines" "shuffle epoch 0 and stream it into the loader" "summary"; do
		assert_line --partial "== $step"
	done
	# every row Spark wrote reached the loader, checked there
	rows=$(for f in "$SRC"/examples/spark-export/part-*; do gzip -dc "$f" | python3 -c '
import csv, sys
print(sum(1 for _ in csv.reader(sys.stdin)) - 1)'; done | awk '{ n += $1 } END { print n }')
	[ "$rows" -gt 0 ]
	assert_line --regexp "^$rows samples in [0-9]+ shards, [0-9]+ bytes stored \\([0-9]+ raw\\), [0-9]+ columns: "
	assert_line --regexp "^loader on .*: $rows samples in [0-9]+ batches of 256 \\(features 256x8, label\\), [0-9]+ samples/s, 0 checksum mismatches$"
	[ -f "$SHARDKIT_OUT/dataset/index.json" ]
	run shard-index verify -q "$SHARDKIT_OUT/dataset"
	assert_success
}
