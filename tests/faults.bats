#!/usr/bin/env bats
# Faults between a reader and S3: tests/remote/faultproxy.py in front of
# moto's S3 server (signature checks on) cuts bodies short, stalls, closes
# connections and answers 500, 503, SlowDown, 403 and 404 where its plan
# says; shard-cat s3://... gives every sample once with the bytes of the local
# read, within SHARDKIT_RETRIES tries a file, and the proxy's log of requests
# shows how many each file took. Nothing here depends on the order in which
# files are asked for, so it holds for any number of transfers in flight.
# Writes too: a PUT or a multipart part answered 503 or cut short is retried
# and the dataset is whole; a 403, or a fault past the retries, fails and
# leaves neither index.json nor shards.

load helpers

setup_file() {
	[ -n "${SHARDKIT_PYTHON:-}" ] || return 0
	local d=$BATS_FILE_TMPDIR
	moto_start
	conv_ds "$d/conv"
	"$SHARDKIT_PYTHON" "$SRC/tests/remote/s3-upload.py" "http://127.0.0.1:$PORT" "$d/keys" "$d/conv=bucket/conv" \
		"$REF=bucket/ref" > "$d/upload.log" 2>&1 || { cat "$d/upload.log"; false; }
	shard-cat "$d/conv" > "$d/conv.jsonl"
	shard-cat -q "$d/conv" -o - > "$d/conv.stream"
	shard-cat "$REF" > "$d/ref.jsonl"
}

teardown_file() { moto_stop; }

setup() {
	[ -n "${SHARDKIT_PYTHON:-}" ] || skip "SHARDKIT_PYTHON unset: scripts/test.sh builds the interop environment"
	read -r AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY < "$BATS_FILE_TMPDIR/keys"
	export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY HOME=$BATS_TEST_TMPDIR
	unset AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 AWS_REGION AWS_DEFAULT_REGION AWS_PROFILE SHARDKIT_S3_ADDRESSING \
		SHARDKIT_RETRIES SHARDKIT_LOW_SPEED_TIME
	cd "$BATS_TEST_TMPDIR"
}

teardown() { proxy_stop; }

# proxy_start RULE...: a fresh proxy to moto with those rules (see
# faultproxy.py), its log in ./proxy.log, AWS_ENDPOINT_URL pointing at it
proxy_start() {
	proxy_stop
	rm -f proxy.log proxy.port
	"$SHARDKIT_PYTHON" "$SRC/tests/remote/faultproxy.py" "127.0.0.1:$PORT" proxy.log --port-file proxy.port "$@" \
		> proxy.out 2>&1 3>&- &
	echo $! > proxy.pid
	local i
	for i in $(seq 100); do
		[ ! -s proxy.port ] || break
		sleep 0.1
	done
	[ -s proxy.port ] || { cat proxy.out; false; }
	export AWS_ENDPOINT_URL=http://127.0.0.1:$(cat proxy.port)
}
proxy_stop() { [ ! -f proxy.pid ] || { kill "$(cat proxy.pid)" 2>/dev/null || true; rm -f proxy.pid; }; }

# tries FILE: how many times the proxy was asked for FILE of s3://bucket/conv
tries() { grep -c "^[0-9]* GET /bucket/conv/$1 " proxy.log || true; }

# faulted FILE N [F]: FILE took N requests, F of them (default N-1) met a fault
faulted() {
	local n
	n=$(tries "$1")
	[ "$n" -eq "$2" ] || { echo "$1: $n requests, not $2"; cat proxy.log; false; }
	[ "$(grep "^[0-9]* GET /bucket/conv/$1 " proxy.log | grep -vc ' pass$')" -eq "${3:-$(($2 - 1))}" ]
}

# both RULE...: through a proxy with those rules, shard-cat's JSON text and
# its shard stream out of s3://bucket/conv are the local read's, to the
# byte; the log of the text run is left in proxy.log (the stream run's in
# stream.log)
both() {
	proxy_start "$@"
	shard-cat -q s3://bucket/conv -o - > got.stream
	cmp got.stream "$BATS_FILE_TMPDIR/conv.stream"
	mv proxy.log stream.log
	proxy_start "$@"
	shard-cat s3://bucket/conv > got.jsonl
	cmp got.jsonl "$BATS_FILE_TMPDIR/conv.jsonl"
	[ "$(wc -l < got.jsonl)" -eq 3000 ]
	[ "$(sort -u got.jsonl | wc -l)" -eq 3000 ]
	# the same requests, in whatever order
	[ "$(cut -d' ' -f2- stream.log | sort)" = "$(cut -d' ' -f2- proxy.log | sort)" ]
}

@test "the proxy passes requests through unchanged: the signature still verifies" {
	both
	for f in index.json shard.00000.mds shard.00005.mds; do faulted $f 1; done
	# virtual-hosted requests through it too: the Host header, BUCKET.localhost:PORT, goes on as it came
	SHARDKIT_S3_ADDRESSING=virtual AWS_ENDPOINT_URL=http://localhost:$(cat proxy.port) shard-cat s3://bucket/conv > got.jsonl
	cmp got.jsonl "$BATS_FILE_TMPDIR/conv.jsonl"
	grep -q '^[0-9]* GET /conv/shard.00005.mds pass$' proxy.log
	run env AWS_SECRET_ACCESS_KEY=wrong shard-cat s3://bucket/conv
	assert_failure 1
	assert_output --partial "s3://bucket/conv/index.json: HTTP 403 (SignatureDoesNotMatch)"
}

@test "bodies cut short: retried, every sample once with the local bytes" {
	both path='/index\.json$',fault=drop,bytes=10 path='shard\.00001\.mds$',fault=drop,bytes=1000,times=2 \
		path='shard\.00003\.mds$',fault=drop
	faulted index.json 2
	faulted shard.00001.mds 3
	faulted shard.00003.mds 2
	faulted shard.00000.mds 1
	grep -q "GET /bucket/conv/shard.00001.mds path=.*fault=drop,bytes=1000,times=2$" proxy.log
}

@test "stalled bodies: SHARDKIT_LOW_SPEED_TIME ends them and they are retried" {
	export SHARDKIT_LOW_SPEED_TIME=1
	SECONDS=0
	both path='shard\.00002\.mds$',fault=stall,seconds=30 path='/index\.json$',fault=stall,bytes=100,seconds=30
	faulted shard.00002.mds 2
	faulted index.json 2
	# two runs, each with two stalls cut after about a second, not thirty
	[ "$SECONDS" -lt 25 ]
}

@test "500, 503, SlowDown and a connection closed unanswered: retried" {
	# a plan file, as well as rules on the command line
	cat > plan <<-'EOF'
	# SEQ METHOD PATH FAULT
	path=shard\.00000\.mds$,fault=500,times=2
	path=shard\.00004\.mds$,fault=slowdown,times=3   # S3's XML body, code SlowDown
	path=/index\.json$,fault=503
	EOF
	both --plan "$PWD/plan" path='shard\.00005\.mds$',fault=close
	faulted shard.00000.mds 3
	faulted shard.00004.mds 4
	faulted index.json 2
	faulted shard.00005.mds 2
	faulted shard.00003.mds 1
}

@test "a fault that outlasts SHARDKIT_RETRIES: exit 1 naming the file, the status and the tries" {
	proxy_start path='shard\.00002\.mds$',fault=slowdown,times=0
	run env SHARDKIT_RETRIES=2 shard-cat s3://bucket/conv
	assert_failure 1
	assert_output --partial "s3://bucket/conv/shard.00002.mds: HTTP 503 (SlowDown) (after 3 tries)"
	faulted shard.00002.mds 3 3
	proxy_start path='shard\.00004\.mds$',fault=drop,bytes=500,times=0
	run shard-cat -q s3://bucket/conv -o out.stream
	assert_failure 1
	assert_output --partial "s3://bucket/conv/shard.00004.mds: body cut short: 500 of "
	assert_output --partial " bytes (after 4 tries)"
	faulted shard.00004.mds 4 4
	proxy_start path='shard\.00001\.mds$',fault=500,times=0
	run env SHARDKIT_RETRIES=0 shard-cat s3://bucket/conv
	assert_failure 1
	assert_output --partial "s3://bucket/conv/shard.00001.mds: HTTP 500 (InternalError)"
	refute_output --partial "tries"
	faulted shard.00001.mds 1 1
	# the retry budget: 3 retries by default, 0.25 s, 0.5 s and 1 s apart
	proxy_start path='/index\.json$',fault=close,times=0
	SECONDS=0
	run shard-cat s3://bucket/conv
	assert_failure 1
	assert_output --partial "s3://bucket/conv/index.json: "
	assert_output --partial "(after 4 tries)"
	faulted index.json 4 4
	[ "$SECONDS" -ge 1 ] && [ "$SECONDS" -lt 10 ]
}

@test "403 and 404 are not retried and say what is wrong" {
	proxy_start path='shard\.00001\.mds$',fault=403
	run shard-cat s3://bucket/conv
	assert_failure 1
	assert_output --partial "s3://bucket/conv/shard.00001.mds: HTTP 403 (AccessDenied)"
	refute_output --partial "tries"
	faulted shard.00001.mds 1 1
	proxy_start path='shard\.00003\.mds$',fault=404
	run shard-cat -q s3://bucket/conv -o out.stream
	assert_failure 1
	assert_output --partial "s3://bucket/conv/shard.00003.mds: HTTP 404 (NoSuchKey)"
	refute_output --partial "tries"
	faulted shard.00003.mds 1 1
	proxy_start path='/index\.json$',fault=403,code=InvalidAccessKeyId
	run shard-cat s3://bucket/conv
	assert_failure 1
	assert_output --partial "s3://bucket/conv/index.json: HTTP 403 (InvalidAccessKeyId)"
	faulted index.json 1 1
}

@test "a compressed dataset through the proxy: cut and refused bodies of .zstd shards retried" {
	proxy_start path='shard\.00001\.mds\.zstd$',fault=drop,times=2 path='shard\.00002\.mds\.zstd$',fault=slowdown
	run shard-cat s3://bucket/ref
	assert_success
	[ "$output" = "$(cat "$BATS_FILE_TMPDIR/ref.jsonl")" ]
	[ "$(grep -c ' GET /bucket/ref/shard.00001.mds.zstd ' proxy.log)" -eq 3 ]
	[ "$(grep -c ' GET /bucket/ref/shard.00002.mds.zstd ' proxy.log)" -eq 2 ]
}

@test "with 1 and with 8 transfers in flight: cuts, stalls and 503s at once, every sample once" {
	export SHARDKIT_LOW_SPEED_TIME=1
	for n in 1 8; do
		SHARDKIT_IN_FLIGHT=$n both path='shard\.00000\.mds$',fault=drop,bytes=4000 \
			path='shard\.00002\.mds$',fault=stall,seconds=30 path='shard\.00003\.mds$',fault=slowdown,times=2 \
			path='shard\.00005\.mds$',fault=close
		faulted shard.00000.mds 2
		faulted shard.00002.mds 2
		faulted shard.00003.mds 3
		faulted shard.00005.mds 2
		faulted shard.00004.mds 1
	done
}

# puts OBJECT: how many times the proxy was asked to PUT OBJECT (with its query)
puts() { grep -c "^[0-9]* PUT /bucket/$1 " proxy.log || true; }

# s3ls BUCKET/PREFIX: "KEY SIZE" per object there, "upload KEY" per open multipart upload (from moto itself)
s3ls() { "$SHARDKIT_PYTHON" "$SRC/tests/remote/s3-ls.py" "http://127.0.0.1:$PORT" "$BATS_FILE_TMPDIR/keys" "$1"; }

@test "writes: a 503 on a PUT, SlowDown and a cut body on multipart parts are retried, and the dataset is whole" {
	local conv=$BATS_FILE_TMPDIR/conv
	proxy_start method=PUT,path='/w1/shard\.00002\.mds$',fault=503 method=PUT,path='/w1/index\.json$',fault=slowdown
	shard-convert -q -s n:int64,m:int64,s:str -c none --hashes sha1,xxh64 --size-limit 16KiB -o s3://bucket/w1 \
		"$conv.csv"
	[ "$(puts w1/shard.00002.mds)" -eq 2 ] && [ "$(puts w1/shard.00001.mds)" -eq 1 ] && [ "$(puts w1/index.json)" -eq 2 ]
	cmp <(shard-cat "$conv") <(shard-cat s3://bucket/w1)
	diff <(cd "$conv" && for f in *; do echo "w1/$f $(stat -c %s "$f")"; done) <(s3ls bucket/w1/ | sort)
	# a shard of three parts: the second answered SlowDown, the third cut short once
	seq 1 220000 | awk '{ printf "%d,%d,row %d padding to make the shard bigger\n", $1, $1 * 7, $1 }' > big.csv
	shard-convert -q -s n:int64,m:int64,s:str -c none --size-limit 64MiB -o big big.csv
	[ "$(stat -c %s big/shard.00000.mds)" -gt $((10 << 20)) ] && [ "$(stat -c %s big/shard.00000.mds)" -le $((15 << 20)) ]
	proxy_start method=PUT,path='shard\.00000\.mds\?partNumber=2&',fault=slowdown \
		method=PUT,path='shard\.00000\.mds\?partNumber=3&',fault=drop,bytes=100000
	SHARDKIT_MULTIPART_SIZE=5MiB shard-convert -q -s n:int64,m:int64,s:str -c none --size-limit 64MiB \
		-o s3://bucket/w2 big.csv
	[ "$(grep -c ' PUT /bucket/w2/shard.00000.mds?partNumber=2&' proxy.log)" -eq 2 ]
	[ "$(grep -c ' PUT /bucket/w2/shard.00000.mds?partNumber=3&' proxy.log)" -eq 2 ]
	[ "$(grep -c ' PUT /bucket/w2/shard.00000.mds?partNumber=1&' proxy.log)" -eq 1 ]
	cmp <(shard-cat big) <(shard-cat s3://bucket/w2)
	diff <(echo "w2/index.json $(stat -c %s big/index.json)"; echo "w2/shard.00000.mds $(stat -c %s big/shard.00000.mds)") \
		<(s3ls bucket/w2/ | sort)
}

@test "writes: a 403 on a PUT or a PUT past its retries fails, no index.json and no shard left" {
	local conv=$BATS_FILE_TMPDIR/conv
	proxy_start method=PUT,path='/w3/shard\.00001\.mds$',fault=403
	run shard-convert -q -s n:int64,m:int64,s:str -c none --size-limit 16KiB -o s3://bucket/w3 "$conv.csv"
	assert_failure 1
	assert_output --partial "s3://bucket/w3/shard.00001.mds: PUT: HTTP 403 (AccessDenied)"
	refute_output --partial "tries"
	[ "$(puts w3/shard.00001.mds)" -eq 1 ] && [ "$(puts w3/index.json)" -eq 0 ]
	[ -z "$(s3ls bucket/w3/)" ]
	proxy_start method=PUT,path='/w4/shard\.00003\.mds$',fault=500,times=0
	run env SHARDKIT_RETRIES=1 shard-convert -q -s n:int64,m:int64,s:str -c none --size-limit 16KiB \
		-o s3://bucket/w4 "$conv.csv"
	assert_failure 1
	assert_output --partial "s3://bucket/w4/shard.00003.mds: PUT: HTTP 500 (InternalError) (after 2 tries)"
	[ "$(puts w4/shard.00003.mds)" -eq 2 ] && [ "$(puts w4/index.json)" -eq 0 ]
	[ -z "$(s3ls bucket/w4/)" ]
	proxy_start method=PUT,path='/w5/index\.json$',fault=403
	run shard-cat -q "$REF" -o s3://bucket/w5
	assert_failure 1
	assert_output --partial "s3://bucket/w5/index.json: PUT: HTTP 403 (AccessDenied)"
	[ -z "$(s3ls bucket/w5/)" ]
}
