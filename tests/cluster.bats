#!/usr/bin/env bats
# A real cluster on loopback: a Spark standalone master and two workers of one
# core each (from the pyspark package) and moto's S3 server with signature
# checks on, started once for the file. tests/spark/cluster_test.py runs a
# DataFrame of 8 partitions through RDD.pipe() and shard-convert --entries in
# the workers' executors, with one task attempt failing after it wrote its
# shards, merges the entries of the attempts that succeeded and reads the
# dataset back through Mosaic's StreamingDataset: once into a directory the
# workers share, once into the bucket, in one Spark application. The two
# datasets hold the same bytes, and what the failed attempts wrote is found
# and pruned in both.

load helpers

# names of the things the tests below share
LOCAL_DS=local-ds
BUCKET_URL=s3://bucket/cluster
RECIPE_URL=s3://bucket/recipe

# cluster_down: every process setup_file started (each its own process group:
# a worker's executors and their Python workers go with it)
cluster_down() {
	local pids pid n
	[ -f "$BATS_FILE_TMPDIR/pids" ] || return 0
	pids=$(cat "$BATS_FILE_TMPDIR/pids")
	for pid in $pids; do kill -TERM -- "-$pid" 2>/dev/null || true; done
	# five seconds for the groups to go, then SIGKILL to what is left
	for n in $(seq 50); do
		groups_left $pids || break
		sleep 0.1
	done
	for pid in $pids; do kill -KILL -- "-$pid" 2>/dev/null || true; done
	rm -f "$BATS_FILE_TMPDIR/pids"
}

# groups_left PGID...: whether a process of one of these groups is left
groups_left() {
	local pgid
	for pgid; do kill -0 -- "-$pgid" 2>/dev/null && return 0; done
	return 1
}

# started LOG CMD ARG...: CMD in the background in a new session (its own
# process group), output in LOG, its id kept for cluster_down
started() {
	local log=$1
	shift
	setsid "$@" > "$log" 2>&1 < /dev/null 3>&- &
	echo $! >> "$BATS_FILE_TMPDIR/pids"
}

cluster_up() {
	local d=$BATS_FILE_TMPDIR home port master i w
	home=$("$SHARDKIT_PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
	port=$(free_port)
	# after three unauthenticated actions (creating the user and its key) every
	# request must carry a valid signature of a key the server knows
	started "$d/moto.log" env INITIAL_NO_AUTH_ACTION_COUNT=3 "$SHARDKIT_PYTHON" -m moto.server -H 127.0.0.1 -p "$port"
	wait_port "$port" 60 || { cat "$d/moto.log"; return 1; }
	echo "http://127.0.0.1:$port" > "$d/endpoint"
	mkdir -p "$d/empty" "$d/conf"
	"$SHARDKIT_PYTHON" "$SRC/tests/remote/s3-upload.py" "http://127.0.0.1:$port" "$d/keys" "$d/empty=bucket" \
		> "$d/upload.log" 2>&1 || { cat "$d/upload.log"; return 1; }

	# Spark's own processes: no AWS settings of their own, an empty
	# configuration directory, scratch space under this file's directory
	port=$(free_port)
	master=spark://127.0.0.1:$port
	echo "$master" > "$d/master"
	set -- env -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_S3 -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
		-u AWS_SESSION_TOKEN -u AWS_REGION -u AWS_DEFAULT_REGION SPARK_LOCAL_IP=127.0.0.1 \
		SPARK_CONF_DIR="$d/conf" SPARK_LOG_DIR="$d" SPARK_LOCAL_DIRS="$d/scratch" "$home/bin/spark-class"
	started "$d/master.log" "$@" org.apache.spark.deploy.master.Master --host 127.0.0.1 --port "$port" --webui-port 0
	wait_port "$port" 90 || { cat "$d/master.log"; return 1; }
	for w in 1 2; do
		mkdir -p "$d/worker$w"
		started "$d/worker$w.log" "$@" org.apache.spark.deploy.worker.Worker --host 127.0.0.1 --port 0 \
			--webui-port 0 --cores 1 --memory 1g --work-dir "$d/worker$w" "$master"
	done
	for i in $(seq 90); do
		[ "$(grep -l "Successfully registered with master" "$d"/worker[12].log 2>/dev/null | wc -l)" -eq 2 ] && return 0
		sleep 1
	done
	tail -n 20 "$d"/master.log "$d"/worker[12].log
	return 1
}

setup_file() {
	[ -n "${SHARDKIT_PYTHON:-}" ] || return 0
	"$SHARDKIT_PYTHON" -c 'import pyspark, moto' 2>/dev/null || return 0
	command -v java >/dev/null || return 0
	cluster_up || { cluster_down; false; }
}

teardown_file() {
	cluster_down
}

setup() {
	[ -n "${SHARDKIT_PYTHON:-}" ] || skip "SHARDKIT_PYTHON unset: scripts/test.sh builds the interop environment"
	"$SHARDKIT_PYTHON" -c 'import pyspark, moto' 2>/dev/null || skip "pyspark or moto is not in the interop environment"
	command -v java >/dev/null || skip "no Java runtime"
	export TZ=UTC SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON="$SHARDKIT_PYTHON" SPARK_CONF_DIR=$BATS_FILE_TMPDIR/conf
	export AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION=us-east-1 S3_ENDPOINT_URL
	AWS_ENDPOINT_URL=$(cat "$BATS_FILE_TMPDIR/endpoint")
	S3_ENDPOINT_URL=$AWS_ENDPOINT_URL
	read -r AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY < "$BATS_FILE_TMPDIR/keys"
	unset AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 AWS_REGION
	MASTER=$(cat "$BATS_FILE_TMPDIR/master")
	BIN=${SHARDKIT_BUILD:-$SRC/build}
	cd "$BATS_FILE_TMPDIR" || return
}

# s3_get BUCKET/KEY: the object's bytes, with boto3
s3_get() {
	"$SHARDKIT_PYTHON" -c 'import boto3, os, sys
b, k = sys.argv[1].split("/", 1)
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
sys.stdout.buffer.write(s3.get_object(Bucket=b, Key=k)["Body"].read())' "$1"
}

# s3_keys BUCKET/PREFIX: the keys of the objects below PREFIX/, the prefix
# left out, sorted; no multipart upload may be open there
s3_keys() {
	"$SHARDKIT_PYTHON" "$SRC/tests/remote/s3-ls.py" "$AWS_ENDPOINT_URL" keys "$1/" > listed || return
	if grep '^upload ' listed; then return 1; fi
	cut -d' ' -f1 listed | sed "s|^${1#*/}/||" | sort
}

# referenced INDEX: the shard files index.json INDEX names (the compressed
# one where a shard has one: the raw one is not stored), one a line, sorted
referenced() {
	python3 -c 'import json, sys
for s in json.load(open(sys.argv[1]))["shards"]:
    print((s["zip_data"] or s["raw_data"])["basename"])' "$1" | sort
}

# shards_of INDEX: INDEX's entries with the part-* directory left out of
# every name: what two runs of one job write alike
shards_of() {
	python3 -c 'import json, re, sys
for s in json.load(open(sys.argv[1]))["shards"]:
    for f in (s["raw_data"], s["zip_data"]):
        if f: f["basename"] = re.sub(r"^part-[^/]*/", "", f["basename"])
    print(json.dumps(s, sort_keys=True))' "$1"
}

# same_as_local URL: the dataset at URL holds the same samples as the
# directory's, in the same order, in shards of the same bytes (the index
# entries alike but for the part-* names); prints URL's index.json
same_as_local() {
	cmp <(shard-cat "$LOCAL_DS") <(shard-cat "$1")
	cmp <(shard-cat -q "$LOCAL_DS" -o -) <(shard-cat -q "$1" -o -)
	s3_get "${1#s3://}/index.json" > index.tmp
	diff <(shards_of "$LOCAL_DS/index.json") <(shards_of index.tmp) >&2
	cat index.tmp
}

@test "8 partitions through RDD.pipe() on two workers, into a shared directory and into $BUCKET_URL: one attempt failed each time, StreamingDataset reads every row once" {
	run timeout -k 10 600 "$SHARDKIT_PYTHON" "$SRC/tests/spark/cluster_test.py" "$BIN" "$MASTER" \
		"$BATS_FILE_TMPDIR/$LOCAL_DS" "$BATS_FILE_TMPDIR/failed-local" "$BUCKET_URL" "$BATS_FILE_TMPDIR/failed-s3" \
		"to_mds:$RECIPE_URL" "$BATS_FILE_TMPDIR/failed-recipe"
	[ "$status" -eq 0 ] || {
		# the driver's own lines and Python's traceback, not the JVM's stacks
		echo "$output" | grep -Ev '^\s+at |^\s*$| (INFO|WARN) ' | tail -n 30
		# what the programs in the tasks said
		grep -h '^shard-[a-z]*: ' worker[12]/app-*/*/stderr | sort | uniq -c | tail -n 10
		false
	}
	echo "$output" | grep '^ok: '
	for dest in "$BATS_FILE_TMPDIR/$LOCAL_DS" "$BUCKET_URL"; do
		assert_output --regexp "ok: $dest: [0-9]+ shard entries from 8 partitions, one attempt failed and ran again"
	done
	assert_output --partial "ok: $RECIPE_URL: to_mds wrote it, one attempt failed and ran again"
	for dest in "$BATS_FILE_TMPDIR/$LOCAL_DS" "$BUCKET_URL" "$RECIPE_URL"; do
		assert_output --partial "ok: $dest: 2000 rows read by StreamingDataset, each once, equal to the DataFrame's"
	done
	# the tasks ran in executors of both workers
	ls worker1/app-*/*/stderr worker2/app-*/*/stderr
	touch job-done
}

@test "in the directory: the failed attempt's part is the only one index.json does not use; verify --strict names it, prune removes it" {
	[ -f job-done ] || skip "the job failed"
	# nine part directories: eight the index uses, one the failed attempt left
	referenced "$LOCAL_DS/index.json" | cut -d/ -f1 | uniq > used
	[ "$(wc -l < used)" -eq 8 ]
	ls "$LOCAL_DS" | grep '^part-' > parts
	[ "$(wc -l < parts)" -eq 9 ]
	left=$(comm -23 parts used)
	[ -n "$left" ] && [ "$(echo "$left" | wc -l)" -eq 1 ]
	run shard-index verify --strict "$LOCAL_DS"
	assert_failure 3
	assert_output --partial "$LOCAL_DS/$left/: not referenced by index.json"
	run shard-index prune "$LOCAL_DS"
	assert_success
	assert_output --partial "$left"
	ls "$LOCAL_DS" | grep '^part-' | cmp - used
	run shard-index verify --strict "$LOCAL_DS"
	assert_success
}

@test "in the bucket: shard-cat gives the directory's bytes; the failed attempt's objects are the only ones index.json does not name, and prune deletes them" {
	[ -f job-done ] || skip "the job failed"
	same_as_local "$BUCKET_URL" > s3-index.json
	# every object the index names is there; the others are the failed
	# attempt's shards, under one part-* prefix the index does not use
	s3_keys bucket/cluster > objects
	referenced s3-index.json > named
	[ -z "$(comm -13 objects named)" ]
	comm -23 objects named | grep -v '^index\.json$' > stray
	echo "not referenced: $(cat stray)"
	[ -s stray ] && [ "$(cut -d/ -f1 stray | sort -u | wc -l)" -eq 1 ]
	[ -z "$(grep -F "$(cut -d/ -f1 stray | head -n 1)/" named)" ]
	# prune deletes exactly those
	run shard-index prune "$BUCKET_URL"
	assert_success
	while read -r k; do assert_output --partial "removed $BUCKET_URL/$k"; done < stray
	assert_output --regexp "$BUCKET_URL: removed $(wc -l < stray) files? "
	s3_keys bucket/cluster > objects
	(cat named; echo index.json) | sort | cmp - objects
	run shard-index verify "$BUCKET_URL"
	assert_success
	cmp <(shard-cat "$LOCAL_DS") <(shard-cat "$BUCKET_URL")
}

@test "to_mds() of examples/spark_to_mds.py into $RECIPE_URL on the cluster: the directory's bytes, and only what index.json names is left in the bucket" {
	[ -f job-done ] || skip "the job failed"
	same_as_local "$RECIPE_URL" > recipe-index.json
	s3_keys bucket/recipe > objects
	(referenced recipe-index.json; echo index.json) | sort | cmp - objects
}
