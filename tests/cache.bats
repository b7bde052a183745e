#!/usr/bin/env bats
# The cache of fetched shards (--cache, SHARDKIT_CACHE): moto's S3 server
# with signature checks on, behind a loopback proxy that logs every request
# (tests/remote/s3-tap.py). A second read makes no shard requests and works
# with the server gone; a damaged cached file is dropped and fetched again;
# the size limit evicts the least recently used; several processes filling
# one cache at once fetch each shard once and leave each file whole, once.

load helpers
load remote/s3-read

setup_file() {
	[ -n "${SHARDKIT_PYTHON:-}" ] || return 0
	big_ds "$BATS_FILE_TMPDIR/big"
	moto_up "$REF=bucket/ref" "$BATS_FILE_TMPDIR/big=bucket/big"
}

teardown_file() {
	[ ! -f "$BATS_FILE_TMPDIR/moto.pid" ] || kill "$(cat "$BATS_FILE_TMPDIR/moto.pid")" 2>/dev/null || true
}

setup() {
	[ -n "${SHARDKIT_PYTHON:-}" ] || skip "SHARDKIT_PYTHON unset: scripts/test.sh builds the interop environment"
	read_keys
	cd "$BATS_TEST_TMPDIR"
	# a proxy of this test's own, to be stopped
	TAP=$(free_port)
	"$SHARDKIT_PYTHON" "$SRC/tests/remote/s3-tap.py" "$MOTO" "$TAP" "$BATS_TEST_TMPDIR/tap.log" > tap.out 2>&1 3>&- &
	echo $! > tap.pid
	wait_port "$TAP" 30
	export AWS_ENDPOINT_URL=http://127.0.0.1:$TAP
	NSHARDS=$(ls "$BATS_FILE_TMPDIR/big"/shard.*.mds | wc -l)
	shard-cat -q "$BATS_FILE_TMPDIR/big" -o - > local.stream
}

teardown() {
	[ ! -f "$BATS_TEST_TMPDIR/tap.pid" ] || kill "$(cat "$BATS_TEST_TMPDIR/tap.pid")" 2>/dev/null || true
}

shard_gets() { grep -cE "^GET /bucket/big/shard\." "$BATS_TEST_TMPDIR/tap.log" || true; }
# key NAME: the cache's file name of big's file NAME
key() { printf 's3://bucket/big\n%s' "$1" | sha1sum | cut -c1-40; }

@test "a second read takes every shard from the cache, and reads with the server gone" {
	shard-cat -q --cache c s3://bucket/big -o - > one
	cmp local.stream one
	[ "$(shard_gets)" -eq "$NSHARDS" ]
	[ -f "c/$(key shard.00000.mds)" ]
	cmp "c/$(key shard.00007.mds)" "$BATS_FILE_TMPDIR/big/shard.00007.mds"
	: > tap.log
	SHARDKIT_CACHE=c shard-cat -q s3://bucket/big -o - > two
	cmp local.stream two
	[ "$(shard_gets)" -eq 0 ]
	# index.json alone was asked for
	[ "$(wc -l < tap.log)" -eq 1 ]
	kill "$(cat tap.pid)"
	wait_gone() { ! (exec 3<>"/dev/tcp/127.0.0.1/$TAP") 2>/dev/null; }
	until wait_gone; do sleep 0.1; done
	run env SHARDKIT_RETRIES=0 shard-cat --cache c s3://bucket/big -o three
	assert_success
	assert_output --partial "s3://bucket/big/index.json: "
	assert_output --partial "index.json read from the cache"
	cmp <(shard-cat -q three -o -) local.stream
	# no cache, no index
	run env SHARDKIT_RETRIES=0 shard-cat s3://bucket/big
	assert_failure 1
}

@test "a damaged file in the cache is dropped, fetched again and reported" {
	shard-cat -q --cache c s3://bucket/big -o - > /dev/null
	local f=c/$(key shard.00003.mds)
	printf 'X' | dd of="$f" bs=1 seek=100 conv=notrunc status=none
	: > tap.log
	run shard-cat -q --cache c s3://bucket/big -o one
	assert_success
	assert_output --partial "s3://bucket/big: 1 cached file failed its check and was fetched again"
	cmp <(shard-cat -q one -o -) local.stream
	[ "$(shard_gets)" -eq 1 ]
	grep -q "GET /bucket/big/shard.00003.mds " tap.log
	cmp "$f" "$BATS_FILE_TMPDIR/big/shard.00003.mds"
	# a cut file too
	truncate -s 10 "$f"
	run shard-cat -q --cache c s3://bucket/big -o two
	assert_success
	assert_output --partial "1 cached file failed its check"
	cmp "$f" "$BATS_FILE_TMPDIR/big/shard.00003.mds"
}

@test "past --cache-size the least recently used files go" {
	local limit=120000 total last
	shard-cat -q --cache c --cache-size "$limit" s3://bucket/big -o - > one
	cmp local.stream one
	total=$(find c -maxdepth 1 -type f -regex '.*/[0-9a-f]*' -printf '%s\n' | awk '{ s += $1 } END { print s }')
	[ "$total" -le "$limit" ]
	# the last shards read are there, the first ones are gone
	last=$(printf 'shard.%05d.mds' $((NSHARDS - 1)))
	[ -f "c/$(key "$last")" ]
	[ ! -f "c/$(key shard.00000.mds)" ]
	[ "$(find c -maxdepth 1 -name '.tmp*' | wc -l)" -eq 0 ]
	# a read from the cache counts as a use: its time is touched
	shard-cat --cache d s3://bucket/ref > /dev/null
	touch -d '1 hour ago' d/*
	: > tap.log
	cmp <(shard-cat -r 0:5 "$REF") <(shard-cat --cache d -r 0:5 s3://bucket/ref)
	! grep -q shard tap.log
	ref0=d/$(printf 's3://bucket/ref\nshard.00000.mds.zstd' | sha1sum | cut -c1-40)
	ref1=d/$(printf 's3://bucket/ref\nshard.00001.mds.zstd' | sha1sum | cut -c1-40)
	[ "$ref0" -nt "$ref1" ]
}

@test "six processes reading into one empty cache at once: correct bytes, each shard fetched once, stored once" {
	local i pids=()
	for i in 1 2 3 4 5 6; do
		shard-cat -q --cache c --in-flight 4 s3://bucket/big -o - > "out.$i" 2> "err.$i" &
		pids+=($!)
	done
	# the readers, not the proxy
	for i in "${pids[@]}"; do
		wait "$i"
	done
	for i in 1 2 3 4 5 6; do
		cmp local.stream "out.$i"
		[ ! -s "err.$i" ] || { cat "err.$i"; false; }
	done
	[ "$(shard_gets)" -eq "$NSHARDS" ]
	[ "$(grep -E '^GET /bucket/big/shard\.' tap.log | awk '{ print $2 }' | sort | uniq -d | wc -l)" -eq 0 ]
	# each shard's file once, whole, and no temporary file left
	[ "$(find c -maxdepth 1 -type f -name '.tmp*' | wc -l)" -eq 0 ]
	for i in $(seq 0 $((NSHARDS - 1))); do
		cmp "c/$(key "$(printf 'shard.%05d.mds' "$i")")" "$BATS_FILE_TMPDIR/big/$(printf 'shard.%05d.mds' "$i")"
	done
	[ "$(find c -maxdepth 1 -type f | wc -l)" -eq $((NSHARDS + 1)) ]
}

@test "the cache directory must be a directory" {
	touch plain
	run shard-cat --cache plain s3://bucket/big
	assert_failure 1
	assert_output --partial "plain"
}
