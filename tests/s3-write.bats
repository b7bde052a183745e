#!/usr/bin/env bats
# Datasets written to S3: moto's S3 server on loopback with signature checks
# on, listing 7 keys a page (so that every listing takes several). Shards go
# up by PUT (in parts above SHARDKIT_MULTIPART_SIZE), index.json last; a
# failed or interrupted write leaves nothing, a killed one leaves shards that
# shard-index prune lists and deletes; Spark-style writers each PUT their part
# and shard-index merge joins their entries.

load helpers

setup_file() {
	[ -n "${SHARDKIT_PYTHON:-}" ] || return 0
	local d=$BATS_FILE_TMPDIR
	export PORT
	PORT=$(free_port)
	# after three unauthenticated actions (creating the user and its key) every
	# request must carry a valid signature of a key the server knows
	INITIAL_NO_AUTH_ACTION_COUNT=3 MOTO_S3_DEFAULT_MAX_KEYS=7 \
		"$SHARDKIT_PYTHON" -m moto.server -H 127.0.0.1 -p "$PORT" > "$d/moto.log" 2>&1 3>&- &
	echo $! > "$d/moto.pid"
	wait_port "$PORT" 60 || { cat "$d/moto.log"; false; }
	export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT
	conv_ds "$d/conv"
	"$SHARDKIT_PYTHON" "$SRC/tests/remote/s3-upload.py" "$AWS_ENDPOINT_URL" "$d/keys" "$REF=bucket/ref" \
		> "$d/upload.log" 2>&1 || { cat "$d/upload.log"; false; }
}

teardown() {
	[ ! -f "$BATS_TEST_TMPDIR/proxy.pid" ] || kill "$(cat "$BATS_TEST_TMPDIR/proxy.pid")" 2>/dev/null || true
}

teardown_file() {
	[ ! -f "$BATS_FILE_TMPDIR/moto.pid" ] || kill "$(cat "$BATS_FILE_TMPDIR/moto.pid")" 2>/dev/null || true
}

setup() {
	[ -n "${SHARDKIT_PYTHON:-}" ] || skip "SHARDKIT_PYTHON unset: scripts/test.sh builds the interop environment"
	read -r AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY < "$BATS_FILE_TMPDIR/keys"
	export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
	unset AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 AWS_REGION AWS_DEFAULT_REGION SHARDKIT_MULTIPART_SIZE
	cd "$BATS_TEST_TMPDIR"
}

# s3ls BUCKET/PREFIX: "KEY SIZE" per object there, "upload KEY" per open multipart upload
s3ls() { "$SHARDKIT_PYTHON" "$SRC/tests/remote/s3-ls.py" "$AWS_ENDPOINT_URL" "$BATS_FILE_TMPDIR/keys" "$1"; }

# rows N FILE: N rows of the conv_ds table
rows() { seq 1 "$1" | awk '{ printf "%d,%d,row %d padding to make the shards bigger\n", $1, $1 * 7, $1 }' > "$2"; }

S=(-s n:int64,m:int64,s:str)

@test "shard-convert -o s3://, shard-cat -o s3:// and shard-shuffle -o s3:// write what shard-cat reads back" {
	local conv=$BATS_FILE_TMPDIR/conv
	shard-convert -q "${S[@]}" -c none --hashes sha1,xxh64 --size-limit 16KiB -o s3://bucket/w/conv "$conv.csv"
	cmp <(shard-cat "$conv") <(shard-cat s3://bucket/w/conv)
	cmp <(shard-cat -q "$conv" -o -) <(shard-cat -q s3://bucket/w/conv -o -)
	# the shards and index.json are the local run's, byte for byte
	s3ls bucket/w/conv/ > listed
	[ "$(wc -l < listed)" -eq "$(ls "$conv" | wc -l)" ]
	for f in "$conv"/*; do
		grep -qx "w/conv/${f##*/} $(stat -c %s "$f")" listed
	done
	shard-cat -q s3://bucket/ref -o s3://bucket/w/copy
	cmp <(shard-cat "$REF") <(shard-cat s3://bucket/w/copy)
	shard-shuffle -q --seed 7 "$REF" -o s3://bucket/w/shuf
	shard-shuffle -q --seed 7 "$REF" -o shuf
	cmp <(shard-cat shuf) <(shard-cat s3://bucket/w/shuf)
	run shard-index verify s3://bucket/w/shuf
	assert_success
}

@test "a shard over SHARDKIT_MULTIPART_SIZE goes up in parts of that size; a size under S3's 5 MiB is refused" {
	rows 200000 big.csv
	SHARDKIT_MULTIPART_SIZE=5MiB shard-convert -q "${S[@]}" -c none --size-limit 64MiB -o s3://bucket/w/big big.csv
	shard-convert -q "${S[@]}" -c none --size-limit 64MiB -o big big.csv
	local size
	size=$(stat -c %s big/shard.00000.mds)
	[ "$size" -gt $((10 << 20)) ] && [ "$size" -le $((15 << 20)) ]
	cmp <(shard-cat big) <(shard-cat s3://bucket/w/big)
	grep -q "PUT /bucket/w/big/shard.00000.mds?partNumber=3&uploadId=" "$BATS_FILE_TMPDIR/moto.log"
	! grep -q "PUT /bucket/w/big/shard.00000.mds?partNumber=4&" "$BATS_FILE_TMPDIR/moto.log"
	grep -qx "w/big/shard.00000.mds $size" <(s3ls bucket/w/big/)
	run env SHARDKIT_MULTIPART_SIZE=1MiB shard-convert -q "${S[@]}" -o s3://bucket/w/small big.csv
	assert_failure 2
	assert_output --partial "SHARDKIT_MULTIPART_SIZE=1MiB: expected a size from 5 MiB to 5 GiB"
}

@test "a write that fails after shards went up leaves nothing: no index.json, no shard, no open upload" {
	rows 400000 bad.csv
	echo "x,1,bad" >> bad.csv
	run shard-convert -q "${S[@]}" --size-limit 1MiB -o s3://bucket/w/bad bad.csv
	assert_failure 1
	assert_output --partial "bad.csv:400001:1: column 'n': 'x' is not an int64"
	# shards were PUT before the bad row was read, and deleted after
	grep -q "PUT /bucket/w/bad/shard.00000.mds.zstd HTTP" "$BATS_FILE_TMPDIR/moto.log"
	grep -q "DELETE /bucket/w/bad/shard.00000.mds.zstd HTTP" "$BATS_FILE_TMPDIR/moto.log"
	[ -z "$(s3ls bucket/w/bad/)" ]
	run shard-cat s3://bucket/w/bad
	assert_failure 1
	assert_output --partial "s3://bucket/w/bad/index.json: HTTP 404 (NoSuchKey)"
}

@test "writes through failures: a part's 503, CompleteMultipartUpload's 500, a dropped index.json PUT and a listing's 503 are tried again; without retries the 503 is named and nothing is left" {
	rows 600000 parts.csv
	local pp
	pp=$(free_port)
	"$SHARDKIT_PYTHON" "$SRC/tests/remote/s3-flaky.py" "$pp" "$PORT" \
		'503:PUT:/w/flaky/shard\.00000\.mds\?partNumber=2&' '500:POST:/w/flaky/shard\.00000\.mds\?uploadId=' \
		'drop:PUT:/w/flaky/index\.json$' '503:GET:list-type=2&prefix=w%2Fflaky%2F' \
		'503:PUT:/w/flaky0/shard\.00000\.mds\?partNumber=2&' > proxy.log 2>&1 3>&- &
	echo $! > "$BATS_TEST_TMPDIR/proxy.pid"
	wait_port "$pp" 30
	AWS_ENDPOINT_URL=http://127.0.0.1:$pp SHARDKIT_MULTIPART_SIZE=5MiB \
		shard-convert -q "${S[@]}" -c none --size-limit 12MiB -o s3://bucket/w/flaky parts.csv
	run env AWS_ENDPOINT_URL=http://127.0.0.1:$pp shard-index prune -n s3://bucket/w/flaky
	assert_success
	assert_output --partial "nothing to remove"
	[ "$(wc -l < proxy.log)" -eq 4 ]
	shard-convert -q "${S[@]}" -c none --size-limit 12MiB -o flaky parts.csv
	cmp <(shard-cat flaky) <(shard-cat s3://bucket/w/flaky)
	grep -qx "w/flaky/shard.00000.mds $(stat -c %s flaky/shard.00000.mds)" <(s3ls bucket/w/flaky/)
	run env AWS_ENDPOINT_URL=http://127.0.0.1:$pp SHARDKIT_RETRIES=0 SHARDKIT_MULTIPART_SIZE=5MiB \
		shard-convert -q "${S[@]}" -c none --size-limit 12MiB -o s3://bucket/w/flaky0 parts.csv
	assert_failure 1
	assert_output --partial "s3://bucket/w/flaky0/shard.00000.mds: PUT: HTTP 503 (SlowDown)"
	[ -z "$(s3ls bucket/w/flaky0/)" ]
	kill "$(cat "$BATS_TEST_TMPDIR/proxy.pid")"
}

@test "SIGTERM during a write: exit 143, and what went up is deleted" {
	# some 2000 shards: long enough to be caught at work
	rows 600000 slow.csv
	shard-convert -q "${S[@]}" --size-limit 16KiB -o s3://bucket/w/term slow.csv 3>&- &
	local pid=$! i
	for i in $(seq 100); do
		[ -z "$(s3ls bucket/w/term/)" ] || break
		sleep 0.1
	done
	kill -TERM "$pid"
	local st=0
	wait "$pid" || st=$?
	[ "$st" -eq 143 ]
	# shards had gone up before the signal came
	grep -q "PUT /bucket/w/term/shard.00000.mds.zstd HTTP" "$BATS_FILE_TMPDIR/moto.log"
	[ -z "$(s3ls bucket/w/term/)" ]
}

@test "SIGTERM during multipart uploads: exit 143, the uploads aborted, nothing left" {
	# 130 MB in shards of 64 MiB, 13 parts each: caught after the first part
	rows 2400000 parts.csv
	SHARDKIT_MULTIPART_SIZE=5MiB shard-convert -q "${S[@]}" -c none --size-limit 64MiB -o s3://bucket/w/mpterm parts.csv 3>&- &
	local pid=$! i st=0
	for i in $(seq 500); do
		! grep -q "PUT /bucket/w/mpterm/shard.00000.mds?partNumber=1&" "$BATS_FILE_TMPDIR/moto.log" || break
		sleep 0.02
	done
	kill -TERM "$pid"
	wait "$pid" || st=$?
	[ "$st" -eq 143 ]
	grep -q "DELETE /bucket/w/mpterm/shard.00000.mds?uploadId=" "$BATS_FILE_TMPDIR/moto.log"
	! grep -q "PUT /bucket/w/mpterm/index.json" "$BATS_FILE_TMPDIR/moto.log"
	[ -z "$(s3ls bucket/w/mpterm/)" ]
}

@test "SIGKILL leaves shards without index.json: shard-index prune lists them (-n), then deletes them" {
	rows 600000 slow.csv
	shard-convert -q "${S[@]}" --size-limit 16KiB -o s3://bucket/w/kill slow.csv 3>&- &
	local pid=$! i n
	for i in $(seq 100); do
		[ "$(s3ls bucket/w/kill/ | wc -l)" -lt 3 ] || break
		sleep 0.1
	done
	kill -KILL "$pid"
	local st=0
	wait "$pid" || st=$?
	[ "$st" -eq 137 ]
	s3ls bucket/w/kill/ > left
	n=$(wc -l < left)
	[ "$n" -ge 3 ]
	! grep -q "index.json\|^upload" left
	# a file that is no shard is left alone in a prefix without index.json
	echo note > note.txt
	"$SHARDKIT_PYTHON" -c 'import boto3, sys; k, s = open(sys.argv[2]).read().split(); boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id=k, aws_secret_access_key=s).upload_file("note.txt", "bucket", "w/kill/note.txt")' "$AWS_ENDPOINT_URL" "$BATS_FILE_TMPDIR/keys"
	run shard-index prune -n s3://bucket/w/kill
	assert_success
	[ "$(grep -c '^would remove s3://bucket/w/kill/shard\.[0-9]*\.mds\.zstd$' <<< "$output")" -eq "$n" ]
	assert_output --partial "s3://bucket/w/kill: would remove $n files"
	[ "$(s3ls bucket/w/kill/ | wc -l)" -eq $((n + 1)) ]
	run shard-index prune s3://bucket/w/kill
	assert_success
	assert_output --partial "s3://bucket/w/kill: removed $n files"
	[ "$(s3ls bucket/w/kill/)" = "w/kill/note.txt 5" ]
	run shard-index prune s3://bucket/w/kill
	assert_success
	assert_output --partial "s3://bucket/w/kill: nothing to remove"
}

@test "--entries from two processes at once, merged from stdin into s3://.../index.json; prune takes what no entry names" {
	local conv=$BATS_FILE_TMPDIR/conv
	head -1700 "$conv.csv" > a.csv
	tail -n +1701 "$conv.csv" > b.csv
	shard-convert -q "${S[@]}" --size-limit 16KiB --entries -o s3://bucket/w/spark a.csv > a.jsonl &
	local pid=$!
	shard-convert -q "${S[@]}" --size-limit 16KiB --entries -o s3://bucket/w/spark b.csv > b.jsonl
	wait "$pid"
	# a third attempt whose entries the driver drops (a failed task's)
	shard-convert -q "${S[@]}" --size-limit 16KiB --entries -o s3://bucket/w/spark b.csv > dropped.jsonl
	[ "$(grep -c raw_data a.jsonl)" -ge 2 ] && [ "$(grep -c raw_data b.jsonl)" -ge 2 ]
	run shard-index merge -o s3://bucket/w/spark - < <(cat a.jsonl b.jsonl)
	assert_success
	assert_output --partial "s3://bucket/w/spark/index.json: "
	cmp <(shard-cat "$conv") <(shard-cat s3://bucket/w/spark)
	# the dropped attempt's objects, listed: warnings, and with --strict problems
	local part
	part=$(sed -n 's/.*"basename": *"\(part-[^/]*\)\/.*/\1/p' dropped.jsonl | head -1)
	run shard-index verify s3://bucket/w/spark
	assert_success
	assert_output --partial "s3://bucket/w/spark/$part/shard.00000.mds.zstd: warning: not referenced by index.json"
	run shard-index verify --strict s3://bucket/w/spark
	assert_failure 3
	[ "$(grep -c "s3://bucket/w/spark/$part/.*not referenced by index.json" <<< "$output")" -eq "$(grep -c raw_data dropped.jsonl)" ]
	run shard-index prune s3://bucket/w/spark
	assert_success
	assert_output --partial "removed $(grep -c raw_data dropped.jsonl) files"
	! s3ls bucket/w/spark/ | grep -q "$(sed -n 's/.*"basename": *"\(part-[^/]*\)\/.*/\1/p' dropped.jsonl | head -1)"
	cmp <(shard-cat "$conv") <(shard-cat s3://bucket/w/spark)
	run shard-index verify --strict s3://bucket/w/spark
	assert_success
	# an entry whose shard is not there: nothing written
	sed 's/shard\.00000/shard.00099/' a.jsonl > wrong.jsonl
	run shard-index merge -o s3://bucket/w/wrong - < wrong.jsonl
	assert_failure 1
	assert_output --partial "s3://bucket/w/wrong/part-"
	assert_output --partial "is missing"
	[ -z "$(s3ls bucket/w/wrong/)" ]
}

@test "shard-index create and merge s3://: an index of the shards listed there, of the parts' index.json files" {
	shard-cat -q "$REF" -o s3://bucket/w/parts/a
	shard-cat -q "$BATS_FILE_TMPDIR/conv" -o s3://bucket/w/parts/b
	# before the merge, a prune of the prefix (no index.json there yet) leaves
	# the parts that hold their own index.json alone, and takes a loose shard
	s3ls bucket/w/parts/ > before
	"$SHARDKIT_PYTHON" -c 'import boto3, sys; k, s = open(sys.argv[2]).read().split(); boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id=k, aws_secret_access_key=s).upload_file(sys.argv[3], "bucket", "w/parts/shard.00000.mds")' "$AWS_ENDPOINT_URL" "$BATS_FILE_TMPDIR/keys" "$REF/index.json"
	run shard-index prune s3://bucket/w/parts
	assert_success
	assert_output --partial "removed s3://bucket/w/parts/shard.00000.mds"
	assert_output --partial "s3://bucket/w/parts: removed 1 file"
	cmp before <(s3ls bucket/w/parts/)
	run shard-index merge s3://bucket/w/parts
	assert_success
	assert_output --partial "s3://bucket/w/parts/index.json: 2 indexes, "
	cmp <(shard-cat "$REF"; shard-cat "$BATS_FILE_TMPDIR/conv") <(shard-cat s3://bucket/w/parts)
	run shard-index merge -o s3://bucket/w/elsewhere s3://bucket/w/parts
	assert_failure 2
	assert_output --partial "goes in the dataset itself"
	# create: the index made again from the shards alone
	shard-cat -q "$REF" -o s3://bucket/w/created
	run shard-index create s3://bucket/w/created
	assert_failure 1
	assert_output --partial "s3://bucket/w/created/index.json: already exists (use --force to replace it)"
	run shard-index create --force s3://bucket/w/created
	assert_success
	cmp <(shard-cat "$REF") <(shard-cat s3://bucket/w/created)
	run shard-index verify s3://bucket/w/created
	assert_success
}

@test "a DEST holding index.json is refused (exit 2); --overwrite on s3:// is refused; nothing is written" {
	for cmd in "shard-cat -q $REF -o s3://bucket/ref" "shard-convert -q ${S[*]} -o s3://bucket/ref $BATS_FILE_TMPDIR/conv.csv" \
		"shard-convert -q ${S[*]} --entries -o s3://bucket/ref $BATS_FILE_TMPDIR/conv.csv" \
		"shard-shuffle -q $REF -o s3://bucket/ref"; do
		run $cmd
		assert_failure 2
		assert_output --partial "s3://bucket/ref: already holds a dataset (index.json)"
	done
	run shard-convert -q "${S[@]}" --overwrite -o s3://bucket/ref "$BATS_FILE_TMPDIR/conv.csv"
	assert_failure 2
	assert_output --partial "--overwrite applies to a local directory"
	[ "$(s3ls bucket/ref/ | wc -l)" -eq "$(ls "$REF" | wc -l)" ]
}

@test "a wrong secret on write: exit 1, S3's 403 named with the object; a PUT's 404 too, not retried; nothing written" {
	run env AWS_SECRET_ACCESS_KEY=wrong shard-cat -q "$REF" -o s3://bucket/w/denied
	assert_failure 1
	assert_output --partial "s3://bucket/w/denied/index.json: GET: HTTP 403 (SignatureDoesNotMatch)"
	run env AWS_SECRET_ACCESS_KEY=wrong shard-index merge -o s3://bucket/w/denied - < /dev/null
	assert_failure 1
	assert_output --partial "s3://bucket/w/denied/: GET: HTTP 403 (SignatureDoesNotMatch)"
	run env AWS_SECRET_ACCESS_KEY=wrong shard-index prune s3://bucket/ref
	assert_failure 1
	assert_output --partial "HTTP 403 (SignatureDoesNotMatch)"
	[ -z "$(s3ls bucket/w/denied/)" ]
	# a PUT's error is named too, and a 404 is not tried again
	run shard-cat -q "$REF" -o s3://nobucket/ds
	assert_failure 1
	assert_output --regexp "s3://nobucket/ds/shard\.0000[0-9]\.mds\.zstd: PUT: HTTP 404 \(NoSuchBucket\)$"
	[ "$(grep -c 'PUT /nobucket/ds/shard.00000.mds.zstd ' "$BATS_FILE_TMPDIR/moto.log")" -eq 1 ]
}

@test "examples/spark_to_mds.py into s3://: tasks PUT their parts, a failed attempt's deleted, shard-cat equals the local run" {
	"$SHARDKIT_PYTHON" -c 'import pyspark' 2>/dev/null || skip "pyspark is not in the interop environment"
	command -v java >/dev/null || skip "no Java runtime"
	TZ=UTC SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON="$SHARDKIT_PYTHON" \
		run "$SHARDKIT_PYTHON" "$SRC/tests/spark/s3_recipe_test.py" "${SHARDKIT_BUILD:-$SRC/build}" "$BATS_TEST_TMPDIR" \
		s3://bucket/w/recipe
	[ "$status" -eq 0 ] || { echo "$output" | grep -v WARN | tail -n 30; false; }
	assert_output --partial "ok: s3 recipe: 600 rows"
	# the tasks' shards went up under part-PID-RANDOM/ (one attempt's deleted after)
	grep -q "PUT /bucket/w/recipe/part-[0-9]*-[0-9a-f]*/shard.00000.mds.zstd HTTP" "$BATS_FILE_TMPDIR/moto.log"
	grep -q "DELETE /bucket/w/recipe/part-[0-9]*-[0-9a-f]*/shard.00000.mds.zstd HTTP" "$BATS_FILE_TMPDIR/moto.log"
}
