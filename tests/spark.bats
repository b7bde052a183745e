#!/usr/bin/env bats
# Real Spark from PyPI: examples/spark_to_mds.py runs shard-convert inside
# every Spark task on local[4,2] and on a standalone master and worker started on
# loopback (tasks in separate executor processes, as on a cluster), with one
# task attempt forced to fail; the merged dataset must equal the DataFrame.

load helpers

setup() {
	[ -n "${SHARDKIT_PYTHON:-}" ] || skip "SHARDKIT_PYTHON unset: scripts/test.sh builds the interop environment"
	"$SHARDKIT_PYTHON" -c 'import pyspark' 2>/dev/null || skip "pyspark is not in the interop environment"
	command -v java >/dev/null || skip "no Java runtime"
	export TZ=UTC SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON="$SHARDKIT_PYTHON"
	BIN=${SHARDKIT_BUILD:-$SRC/build}
}

@test "to_mds on local[4,2]: a failed attempt's shards are left out and removed, the rest equals the DataFrame" {
	run "$SHARDKIT_PYTHON" "$SRC/tests/spark/pipe_test.py" "$BIN" "$BATS_TEST_TMPDIR" 'local[4,2]'
	[ "$status" -eq 0 ] || { echo "$output" | grep -v WARN | tail -n 30; false; }
	assert_output --partial "ok: 2000 rows equal"
	assert_output --partial "the failed attempt's removed"
}

@test "to_mds without a schema: every type nullable, a retried attempt, modes, overrides, a failing task named; lossless CSV" {
	run "$SHARDKIT_PYTHON" "$SRC/tests/spark/recipe_test.py" "$BIN" "$BATS_TEST_TMPDIR"
	[ "$status" -eq 0 ] || { echo "$output" | grep -v WARN | tail -n 30; false; }
	assert_output --partial "ok: recipe: 360 rows equal, nulls as None, 3 part directories, the failed attempt's removed"
	assert_output --partial "ok: mode='error' refuses a dataset and a directory with files; mode='overwrite' with overrides and fills replaced it"
	assert_output --regexp "ok: a failing task: ConversionError: partition [0-9]+ \\(attempt 1\\): shard-convert exited with status 1: shard-convert: <stdin>:[0-9]+:[0-9]+: column 'i64': '-?[0-9]+' is not an int8"
	assert_output --partial "ok: csv: 360 rows written by Spark with the lossless options convert to df.collect()'s values"
}

@test "to_mds on a standalone master and worker on loopback" {
	home=$("$SHARDKIT_PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
	port=$((20000 + RANDOM % 20000))
	export SPARK_LOG_DIR=$BATS_TEST_TMPDIR/logs SPARK_WORKER_DIR=$BATS_TEST_TMPDIR/work
	mkdir -p "$SPARK_LOG_DIR"
	setsid "$home/bin/spark-class" org.apache.spark.deploy.master.Master --host 127.0.0.1 --port "$port" \
		--webui-port 0 > "$SPARK_LOG_DIR/master.log" 2>&1 &
	master=$!
	setsid "$home/bin/spark-class" org.apache.spark.deploy.worker.Worker --host 127.0.0.1 --cores 2 \
		--memory 2g --webui-port 0 "spark://127.0.0.1:$port" > "$SPARK_LOG_DIR/worker.log" 2>&1 &
	worker=$!
	for i in $(seq 60); do grep -q "Successfully registered with master" "$SPARK_LOG_DIR/worker.log" && break; sleep 1; done
	run "$SHARDKIT_PYTHON" "$SRC/tests/spark/pipe_test.py" "$BIN" "$BATS_TEST_TMPDIR" "spark://127.0.0.1:$port"
	kill -- -"$master" -"$worker" 2>/dev/null || kill "$master" "$worker" 2>/dev/null || true
	[ "$status" -eq 0 ] || { echo "$output" | grep -v WARN | tail -n 30; tail -n 20 "$SPARK_LOG_DIR"/*.log; false; }
	assert_output --partial "ok: 2000 rows equal"
	# the tasks ran in executor processes the worker started
	ls "$SPARK_WORKER_DIR"/app-*/0/stderr >/dev/null
}

@test "the bundled Spark export converts to exactly the values Spark reads from it" {
	run shard-convert -q --header -s "$(cat "$SRC/examples/spark-export.schema")" -o "$BATS_TEST_TMPDIR/ds" \
		"$SRC/examples/spark-export"
	assert_success
	"$SHARDKIT_PYTHON" "$SRC/tests/spark/export_values.py" "$SRC/examples/spark-export" \
		"$SRC/examples/spark-export.schema" 2>/dev/null | sort > "$BATS_TEST_TMPDIR/spark.jsonl"
	shard-cat "$BATS_TEST_TMPDIR/ds" | sort > "$BATS_TEST_TMPDIR/ours.jsonl"
	[ "$(wc -l < "$BATS_TEST_TMPDIR/spark.jsonl")" -eq 4000 ]
	diff "$BATS_TEST_TMPDIR/spark.jsonl" "$BATS_TEST_TMPDIR/ours.jsonl"
}

@test "a Spark export with nulls, NaN, CR, bzip2, no header and partitionBy converts to Spark's values" {
	"$SHARDKIT_PYTHON" "$SRC/tests/spark/export_edge.py" "$BATS_TEST_TMPDIR/export" "$BATS_TEST_TMPDIR/spark.jsonl" 2>/dev/null
	ls "$BATS_TEST_TMPDIR"/export/part=*/*.csv.bz2 >/dev/null
	ls -d "$BATS_TEST_TMPDIR"/export/part=δ%2Fε >/dev/null	# Spark escapes the slash
	run shard-convert -q -s 'id:int64,s:str,x:float64,f:float32,b:bool,d:date,ts:timestamp' \
		--fill s='<null>' --fill x=-1 --fill b=false -o "$BATS_TEST_TMPDIR/ds" "$BATS_TEST_TMPDIR/export"
	assert_success
	sort "$BATS_TEST_TMPDIR/spark.jsonl" > "$BATS_TEST_TMPDIR/want"
	shard-cat "$BATS_TEST_TMPDIR/ds" | sort > "$BATS_TEST_TMPDIR/got"
	[ "$(wc -l < "$BATS_TEST_TMPDIR/want")" -eq 400 ]
	diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
}

@test "timestamps exported in America/New_York (LMT, 1582, DST edges, a timestamp partitionBy) convert with --timezone to Spark's instants" {
	"$SHARDKIT_PYTHON" "$SRC/tests/spark/export_tz.py" "$BATS_TEST_TMPDIR/export" "$BATS_TEST_TMPDIR/spark.jsonl" \
		> "$BATS_TEST_TMPDIR/differences" 2> "$BATS_TEST_TMPDIR/log" || { grep -v WARN "$BATS_TEST_TMPDIR/log" | tail -n 30; false; }
	run cat "$BATS_TEST_TMPDIR/differences"
	# the partition directories hold local wall-clock time, so Spark itself reads
	# a time that happened twice (the 2024-11-03 overlap, the 1883 switch from
	# local mean time) back as the earlier instant; nothing else differs
	assert_output "$(printf '%s\n' 'p 1883-11-18T17:00:00.000000Z: Spark reads back 1883-11-18T16:56:02.000000Z' \
		'p 2024-11-03T06:00:00.000000Z: Spark reads back 2024-11-03T05:00:00.000000Z' \
		'p 2024-11-03T06:30:00.000000Z: Spark reads back 2024-11-03T05:30:00.000000Z')"
	ls -d "$BATS_TEST_TMPDIR/export/p=2024-11-03 01%3A30%3A00" "$BATS_TEST_TMPDIR/export/p=1582-10-10 07%3A03%3A58" >/dev/null
	grep -q '^3,1850-06-01T07:03:58.250000-04:56:02$' "$BATS_TEST_TMPDIR"/export/p=1850-*/*.csv
	run shard-convert -q --header -s 'id:int64,ts:timestamp,p:timestamp' --timezone America/New_York \
		-o "$BATS_TEST_TMPDIR/ds" "$BATS_TEST_TMPDIR/export"
	assert_success
	sort "$BATS_TEST_TMPDIR/spark.jsonl" > "$BATS_TEST_TMPDIR/want"
	shard-cat "$BATS_TEST_TMPDIR/ds" | sort > "$BATS_TEST_TMPDIR/got"
	[ "$(wc -l < "$BATS_TEST_TMPDIR/want")" -eq 20 ]
	diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
}
