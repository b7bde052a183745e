#!/usr/bin/env bats
# Fast reads from S3: moto's S3 server with signature checks on, behind a
# loopback proxy that logs every request (tests/remote/s3-tap.py). Several
# shards in flight give the bytes one at a time gives, over few connections;
# a read-ahead window smaller than a shard still reads; -r fetches only the
# bytes of its samples; S3's 403 for a missing compressed file falls back to
# the raw one.

load helpers
load remote/s3-read

setup_file() {
	[ -n "${SHARDKIT_PYTHON:-}" ] || return 0
	local d=$BATS_FILE_TMPDIR
	big_ds "$d/big"
	# the index lists compressed files; of shard 1 only the raw file is there
	cp -r "$REF" "$d/fallback"
	zstd -q -d --rm "$d/fallback/shard.00001.mds.zstd"
	cp -r "$REF" "$d/gone"
	rm "$d/gone/shard.00001.mds.zstd"
	moto_up "$REF=bucket/ref" "$d/big=bucket/big" "$d/fallback=bucket/fallback" "$d/gone=bucket/gone"
	export TAP DENY
	TAP=$(free_port)
	"$SHARDKIT_PYTHON" "$SRC/tests/remote/s3-tap.py" "$MOTO" "$TAP" "$d/tap.log" > "$d/tap.out" 2>&1 3>&- &
	echo $! > "$d/tap.pid"
	DENY=$(free_port)
	"$SHARDKIT_PYTHON" "$SRC/tests/remote/s3-tap.py" "$MOTO" "$DENY" "$d/deny.log" --missing-403 > "$d/deny.out" 2>&1 3>&- &
	echo $! > "$d/deny.pid"
	wait_port "$TAP" 30 && wait_port "$DENY" 30
}

teardown_file() {
	local p
	for p in tap deny moto; do
		[ ! -f "$BATS_FILE_TMPDIR/$p.pid" ] || kill "$(cat "$BATS_FILE_TMPDIR/$p.pid")" 2>/dev/null || true
	done
}

setup() {
	[ -n "${SHARDKIT_PYTHON:-}" ] || skip "SHARDKIT_PYTHON unset: scripts/test.sh builds the interop environment"
	read_keys
	export AWS_ENDPOINT_URL=http://127.0.0.1:$TAP
	: > "$BATS_FILE_TMPDIR/tap.log"
	cd "$BATS_TEST_TMPDIR"
}

# shard_gets PREFIX: the requests the proxy saw for shard files under PREFIX
shard_gets() { grep -E "^GET /bucket/$1/shard\." "$BATS_FILE_TMPDIR/tap.log" || true; }

@test "1, 2 and 8 shards in flight give the bytes of the local dataset, over at most that many connections" {
	local big=$BATS_FILE_TMPDIR/big n shards
	shards=$(ls "$big"/shard.*.mds | wc -l)
	[ "$shards" -ge 30 ]
	shard-cat -q "$big" -o - > local.stream
	for n in 1 2 8; do
		: > "$BATS_FILE_TMPDIR/tap.log"
		shard-cat -q --in-flight "$n" s3://bucket/big -o - > "remote.$n"
		cmp local.stream "remote.$n"
		# every shard fetched once, and the connections kept for the next
		[ "$(shard_gets big | wc -l)" -eq "$shards" ]
		[ "$(shard_gets big | awk '{ print $6 }' | sort -u | wc -l)" -le "$n" ]
	done
	cmp <(shard-cat "$REF") <(SHARDKIT_IN_FLIGHT=8 shard-cat s3://bucket/ref)
	cmp <(shard-cat -q "$REF" -o -) <(SHARDKIT_IN_FLIGHT=3 SHARDKIT_READ_AHEAD=2K shard-cat -q s3://bucket/ref -o -)
}

@test "a read-ahead window smaller than one shard still reads every shard, in order" {
	cmp <(shard-cat "$BATS_FILE_TMPDIR/big") <(shard-cat --in-flight 8 --read-ahead 1K s3://bucket/big)
	cmp <(shard-cat "$BATS_FILE_TMPDIR/big") <(SHARDKIT_READ_AHEAD=20000 shard-cat --in-flight 8 s3://bucket/big)
}

@test "shard-shuffle and shard-index verify take the settings from the environment" {
	export SHARDKIT_IN_FLIGHT=6 SHARDKIT_READ_AHEAD=64K
	cmp <(shard-shuffle -q --seed 7 "$BATS_FILE_TMPDIR/big" -o - | shard-cat) \
		<(shard-shuffle -q --seed 7 s3://bucket/big -o - | shard-cat)
	run shard-index verify s3://bucket/big
	assert_success
}

@test "a rank's shuffle fetches only the shards that hold its share" {
	local shards got
	shards=$(ls "$BATS_FILE_TMPDIR/big"/shard.*.mds | wc -l)
	cmp <(shard-shuffle -q --block --batch 5000 --rank 1 --world 4 "$BATS_FILE_TMPDIR/big" -o - | shard-cat) \
		<(shard-shuffle -q --block --batch 5000 --rank 1 --world 4 s3://bucket/big -o - | shard-cat)
	got=$(shard_gets big | wc -l)
	# its batch is a quarter of the shards in block order (and the two its ends cut), each once
	[ "$got" -le $((shards / 4 + 2)) ]
	[ "$(shard_gets big | awk '{ print $2 }' | sort | uniq -d | wc -l)" -eq 0 ]
}

@test "-r fetches the offset table and the bytes of its samples, not whole raw shards" {
	local big=$BATS_FILE_TMPDIR/big total got
	cmp <(shard-cat -r 5000:5010 "$big") <(shard-cat -r 5000:5010 s3://bucket/big)
	: > "$BATS_FILE_TMPDIR/tap.log"
	[ "$(shard-cat -r 5000:5010 s3://bucket/big | wc -l)" -eq 10 ]
	# one shard: its offset table, then its samples' bytes
	[ "$(shard_gets big | wc -l)" -eq 2 ]
	shard_gets big | awk '{ print $3 }' | grep -qE '^bytes=0-[0-9]+$'
	shard_gets big | awk '{ print $3 }' | grep -qE '^bytes=[1-9][0-9]*-[0-9]+$'
	[ "$(shard_gets big | awk '{ print $4 }' | sort -u)" = 206 ]
	got=$(shard_gets big | awk '{ s += $5 } END { print s }')
	total=$(cat "$big"/shard.*.mds | wc -c)
	[ "$got" -lt $((total / 20)) ]
	# a range across shard boundaries, and a range to the end
	for r in 950:1450 19990: 0:3 :700; do
		cmp <(shard-cat -c s,n -r "$r" "$big") <(shard-cat -c s,n -r "$r" s3://bucket/big)
	done
	# compressed shards are fetched whole, and only those the range touches
	: > "$BATS_FILE_TMPDIR/tap.log"
	cmp <(shard-cat -r 0:5 "$REF") <(shard-cat -r 0:5 s3://bucket/ref)
	[ "$(shard_gets ref | awk '{ print $2 }')" = /bucket/ref/shard.00000.mds.zstd ]
	shard_gets ref | grep -q ' - 200 '
}

@test "a server that ignores Range and sends the whole file: only the range is kept" {
	local www=$BATS_TEST_TMPDIR/www port
	mkdir "$www" && cp -r "$BATS_FILE_TMPDIR/big" "$www/"
	port=$(free_port)
	(cd "$www" && exec python3 -m http.server -b 127.0.0.1 "$port" > ../http.log 2>&1 3>&-) &
	echo $! > http.pid
	wait_port "$port" 30
	run shard-cat -r 1000:1200 "http://127.0.0.1:$port/big"
	kill "$(cat http.pid)"
	assert_success
	[ "${#lines[@]}" -eq 200 ]
	cmp <(printf '%s\n' "${lines[@]}") <(shard-cat -r 1000:1200 "$BATS_FILE_TMPDIR/big")
}

@test "S3's 403 for a missing compressed file: the raw file is read; when both are missing, the 403 is explained" {
	export AWS_ENDPOINT_URL=http://127.0.0.1:$DENY
	cmp <(shard-cat "$REF") <(shard-cat --in-flight 4 s3://bucket/fallback)
	grep -q 'GET /bucket/fallback/shard.00001.mds.zstd - 403' "$BATS_FILE_TMPDIR/deny.log"
	grep -q 'GET /bucket/fallback/shard.00001.mds - 200' "$BATS_FILE_TMPDIR/deny.log"
	run shard-cat s3://bucket/gone
	assert_failure 1
	assert_output --partial "s3://bucket/gone/shard.00001.mds.zstd: HTTP 403 (AccessDenied) (S3 answers 403 for a missing key when the caller may not list the bucket; the uncompressed file: s3://bucket/gone/shard.00001.mds: HTTP 403 (AccessDenied))"
	# 403 is not retried
	[ "$(grep -c 'GET /bucket/gone/shard.00001.mds.zstd' "$BATS_FILE_TMPDIR/deny.log")" -eq 1 ]
	# moto itself says 404: the shard is missing
	export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO
	run shard-cat s3://bucket/gone
	assert_failure 1
	assert_output --partial "s3://bucket/gone/shard.00001.mds.zstd: HTTP 404 (NoSuchKey) (shard 1 is missing; index.json lists it)"
}

@test "bad read settings are usage errors" {
	for bad in "--in-flight 0" "--in-flight 300" "--read-ahead lots" "--cache-size 0" "--cache="; do
		run shard-cat $bad s3://bucket/ref
		assert_failure 2
	done
	run env SHARDKIT_IN_FLIGHT=0 shard-cat s3://bucket/ref
	assert_failure 2
	assert_output --partial "SHARDKIT_IN_FLIGHT=0: expected a size of at least 1"
	run env SHARDKIT_READ_AHEAD=much shard-cat s3://bucket/ref
	assert_failure 2
	assert_output --partial "SHARDKIT_READ_AHEAD=much"
}
