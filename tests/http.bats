#!/usr/bin/env bats
# Datasets over http: a real nginx on loopback serves copies of local
# datasets, and every program reads them to the same bytes as from disk;
# missing and damaged files, a server that cuts bodies short and a closed
# port fail with the URL named.

load helpers

setup_file() {
	command -v nginx >/dev/null || return 0
	local d=$BATS_FILE_TMPDIR www=$BATS_FILE_TMPDIR/www
	mkdir -p "$www" "$d/nginx/logs"
	cp -r "$REF" "$www/ref"
	# uncompressed, several shards, hashes listed: the raw files are fetched
	conv_ds "$www/conv"
	# the index lists compressed files the server does not have: raw ones are fetched instead
	cp -r "$REF" "$www/rawonly"
	for z in "$www"/rawonly/*.zstd; do zstd -q -d --rm "$z"; done
	cp -r "$REF" "$www/missing"
	rm "$www/missing/shard.00001.mds.zstd"
	# under /private/, the user ReaderUser with the password Pw1@Pw2/Pw3 only
	mkdir "$www/private"
	cp -r "$www/conv" "$www/private/conv"
	cp -r "$REF" "$www/private/missing"
	rm "$www/private/missing/shard.00001.mds.zstd"
	echo 'ReaderUser:{PLAIN}Pw1@Pw2/Pw3' > "$d/users"
	# a dataset whose path holds an '@'
	cp -r "$REF" "$www/at@home"
	cp -r "$www/conv" "$www/corrupt"
	printf 'X' | dd of="$www/corrupt/shard.00002.mds" bs=1 seek=100 conv=notrunc 2>/dev/null
	chmod -R a+rX "$d"
	export PORT
	PORT=$(free_port)
	{
		# workers run as nobody by default, who cannot read a root-only temporary directory
		[ "$(id -u)" != 0 ] || echo 'user root;'
		cat <<-CONF
		worker_processes 1;
		error_log $d/nginx/logs/error.log;
		events { worker_connections 64; }
		http {
			access_log $d/nginx/logs/access.log;
			client_body_temp_path $d/nginx/body;
			proxy_temp_path $d/nginx/proxy;
			fastcgi_temp_path $d/nginx/fastcgi;
			uwsgi_temp_path $d/nginx/uwsgi;
			scgi_temp_path $d/nginx/scgi;
			server {
				listen 127.0.0.1:$PORT;
				root $www;
				location /private/ {
					auth_basic private;
					auth_basic_user_file $d/users;
				}
			}
		}
		CONF
	} > "$d/nginx.conf"
	nginx -e "$d/nginx/logs/error.log" -c "$d/nginx.conf" -p "$d/nginx" -g "daemon off; pid $d/nginx/nginx.pid;" \
		> "$d/nginx/logs/stdout.log" 2>&1 3>&- &
	echo $! > "$d/nginx.pid"
	wait_port "$PORT" 10 || { cat "$d/nginx/logs/"*; false; }
	export URL=http://127.0.0.1:$PORT
}

teardown_file() {
	[ ! -f "$BATS_FILE_TMPDIR/nginx.pid" ] || kill "$(cat "$BATS_FILE_TMPDIR/nginx.pid")" 2>/dev/null || true
	[ ! -f "$BATS_FILE_TMPDIR/short.pid" ] || kill "$(cat "$BATS_FILE_TMPDIR/short.pid")" 2>/dev/null || true
}

setup() {
	command -v nginx >/dev/null || skip "nginx is not installed (scripts/deps.sh installs it)"
	WWW=$BATS_FILE_TMPDIR/www
	cd "$BATS_TEST_TMPDIR"
}

@test "shard-cat URL writes the same text as shard-cat DIR, with or without a trailing slash or index.json" {
	for ds in ref conv rawonly; do
		shard-cat "$WWW/$ds" > local.jsonl
		for u in "$URL/$ds" "$URL/$ds/" "$URL/$ds/index.json"; do
			run shard-cat "$u"
			assert_success
			cmp local.jsonl <(shard-cat "$u")
		done
	done
	[ "$(wc -l < local.jsonl)" -eq 50 ]
	[ "$(ls "$WWW/conv" | grep -c '^shard\.')" -ge 4 ]
}

@test "shard-cat URL -o - is the same stream as from the directory; the stream back to a dataset verifies" {
	shard-cat -q "$WWW/conv" -o - > local.stream
	shard-cat -q "$URL/conv" -o - > remote.stream
	cmp local.stream remote.stream
	shard-cat -q - -o back < remote.stream
	run shard-index verify back
	assert_success
	for f in "$WWW"/conv/*; do cmp "$f" "back/${f##*/}"; done
	shard-cat -q "$URL/ref" -o copy
	for f in "$REF"/*; do cmp "$f" "copy/${f##*/}"; done
}

@test "shard-index verify and info read a URL" {
	for ds in ref conv rawonly; do
		run shard-index verify "$URL/$ds"
		assert_success
		assert_output --partial "$URL/$ds: ok"
	done
	run shard-index info --json "$URL/conv"
	assert_success
	[ "$(shard-index info --json "$URL/conv" | python3 -c 'import json,sys; print(json.load(sys.stdin)["samples"])')" -eq 3000 ]
}

@test "shard-shuffle and shard-gpu-bench read a URL as they read the directory" {
	cmp <(shard-shuffle -q "$WWW/conv" --seed 5 -o - | shard-cat) <(shard-shuffle -q "$URL/conv" --seed 5 -o - | shard-cat)
	cmp <(shard-shuffle -q "$WWW/conv" --seed 5 --buffer 100 -o - | shard-cat) \
		<(shard-shuffle -q "$URL/conv" --seed 5 --buffer 100 -o - | shard-cat)
	run shard-gpu-bench -d cpu -b 100 -c n,m --json "$URL/conv"
	assert_success
	assert_output --partial '"samples": 3000'
	sums() { shard-gpu-bench -d cpu -b 100 -c n,m --json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["checksums"])'; }
	[ "$(sums "$URL/conv")" = "$(sums "$WWW/conv")" ]
}

@test "a missing shard: exit 1, its URL and the 404 named" {
	run shard-cat "$URL/missing"
	assert_failure 1
	assert_output --partial "$URL/missing/shard.00001.mds.zstd: HTTP 404"
	run shard-cat "$URL/nothing-here"
	assert_failure 1
	assert_output --partial "$URL/nothing-here/index.json: HTTP 404"
	run shard-index verify "$URL/missing"
	assert_failure 3
	assert_output --partial "$URL/missing/shard.00001.mds.zstd: shard file is missing (HTTP 404)"
}

@test "a damaged shard: the hash mismatch names its URL" {
	run shard-cat "$URL/corrupt"
	assert_failure 1
	assert_output --partial "$URL/corrupt/shard.00002.mds: sha1 mismatch"
	run shard-index verify "$URL/corrupt"
	assert_failure 3
	assert_output --partial "$URL/corrupt/shard.00002.mds"
}

@test "a body shorter than its Content-Length is an error, never a shorter shard; a stalled one times out" {
	python3 "$SRC/tests/remote/short-body.py" "$WWW" "$BATS_FILE_TMPDIR/short.port" 3>&- &
	echo $! > "$BATS_FILE_TMPDIR/short.pid"
	for _ in $(seq 100); do [ -s "$BATS_FILE_TMPDIR/short.port" ] && break; sleep 0.1; done
	short=http://127.0.0.1:$(cat "$BATS_FILE_TMPDIR/short.port")
	run env SHARDKIT_RETRIES=1 shard-cat "$short/ref"
	assert_failure 1
	assert_output --regexp "$short/ref/shard\.00000\.mds\.zstd: body cut short: [0-9]+ of 908 bytes \(after 2 tries\)"
	run env SHARDKIT_RETRIES=0 shard-cat "$short/conv" -o - --force
	assert_failure 1
	assert_output --partial "$short/conv/shard.00000.mds: body cut short"
	start=$SECONDS
	run env SHARDKIT_RETRIES=0 SHARDKIT_LOW_SPEED_TIME=1 shard-cat "$short/stall/ref"
	assert_failure 1
	assert_output --partial "$short/stall/ref/shard.00000.mds.zstd: Operation too slow"
	[ $((SECONDS - start)) -le 5 ]
}

@test "a closed port fails within seconds, after its retries, with curl's reason" {
	port=$(free_port)
	start=$SECONDS
	run shard-cat "http://127.0.0.1:$port/ds"
	assert_failure 1
	assert_output --partial "http://127.0.0.1:$port/ds/index.json: Failed to connect"
	assert_output --partial "(after 4 tries)"
	[ $((SECONDS - start)) -le 6 ]
	run env SHARDKIT_RETRIES=0 shard-cat "http://127.0.0.1:$port/ds"
	assert_failure 1
	refute_output --partial "tries"
	run shard-index verify "http://127.0.0.1:$port/ds"
	assert_failure 1
	assert_output --partial "Failed to connect"
}

@test "http(s) URLs are read, never written: -o http://... is a usage error; -o s3://... writes there" {
	run shard-cat "$URL/ref" -o "$URL/out"
	assert_failure 2
	assert_output --partial "$URL/out: writing to an http(s) URL is not supported"
	run shard-shuffle "$URL/ref" -o "$URL/out"
	assert_failure 2
	assert_output --partial "$URL/out: writing to an http(s) URL is not supported"
	run shard-convert -s n:int64,m:int64,s:str -o "$URL/out" "$WWW/conv.csv"
	assert_failure 2
	run shard-index create "$URL/out"
	assert_failure 2
	assert_output --partial "create takes a local directory or an s3:// dataset, not an http(s) URL"
	# s3:// is a destination (tests/s3-write.bats): with no server there the
	# write fails, exit 1, naming the object it could not look at
	run env AWS_ENDPOINT_URL="http://127.0.0.1:$(free_port)" SHARDKIT_RETRIES=0 shard-cat "$URL/ref" -o s3://bucket/ds
	assert_failure 1
	assert_output --partial "s3://bucket/ds/index.json: GET: "
	[ ! -e s3: ] && [ ! -e http: ]
}

@test "bad settings in the environment are usage errors" {
	run env SHARDKIT_RETRIES=lots shard-cat "$URL/ref"
	assert_failure 2
	assert_output --partial "SHARDKIT_RETRIES=lots: expected a whole number"
	run env SHARDKIT_CONNECT_TIMEOUT=0 shard-cat "$URL/ref"
	assert_failure 2
	assert_output --partial "SHARDKIT_CONNECT_TIMEOUT=0: expected a whole number from 1 to 86400"
}

# as_user USERINFO PATH: the URL of PATH on the test server with USERINFO@
as_user() { echo "http://$1@${URL#http://}/$2"; }

@test "a user and password in the URL are sent decoded, as the authority's last '@' ends them" {
	run shard-cat -c n -r 0:1 "$URL/private/conv"
	assert_failure 1
	assert_output --partial "http://127.0.0.1:$PORT/private/conv/index.json: HTTP 401"
	for userinfo in ReaderUser:Pw1%40Pw2%2FPw3 ReaderUser:Pw1@Pw2%2FPw3 Reader%55ser:Pw1%40Pw2%2fPw3; do
		run shard-cat -c n -r 0:1 "$(as_user "$userinfo" private/conv)"
		assert_success
		assert_output '{"n":1}'
	done
	run shard-cat "$(as_user ReaderUser:Pw1%40Pw2 private/conv)"
	assert_failure 1
	assert_output --partial "http://***@127.0.0.1:$PORT/private/conv/index.json: HTTP 401"
	# an '@' in the path is no password's end when the authority is a HOST:PORT alone
	cmp <(shard-cat "$URL/at@home") <(shard-cat "$REF")
	# a password with an unescaped '/', '?' or '#' is refused before any request
	for userinfo in ReaderUser:Pw1@Pw2/Pw3 ReaderUser:Pw1/Pw2@Pw3 ReaderUser:Pw1?Pw2@Pw3 ReaderUser:Pw1#Pw2@Pw3; do
		run shard-cat "$(as_user "$userinfo" private/conv)"
		assert_failure 2
		assert_output "shard-cat: http://***@127.0.0.1:$PORT/private/conv: the user or password in the URL holds an '@', '/', '?' or '#' that is not percent-encoded (%40, %2F, %3F, %23), so where its host begins is ambiguous"
	done
	run shard-cat "s3://ReaderUser:Pw1@bucket/ds"
	assert_failure 2
	assert_output "shard-cat: s3://***@bucket/ds: an s3:// URL takes no user or password; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
	# nginx logs the user it was sent
	grep -q -- '- ReaderUser \[' "$BATS_FILE_TMPDIR/nginx/logs/access.log"
}

# every_program URL: each program's run on URL, stdout and stderr, and the
# index.json of what it copied, in all.out
every_program() {
	local u=$1
	{
		shard-cat "$u"
		shard-cat -q "$u" -o -
		shard-cat "$u" -o copy; cat copy/index.json; rm -rf copy
		shard-index info "$u"
		shard-index info --json "$u"
		shard-index verify "$u"
		shard-index verify --json "$u"
		shard-shuffle "$u" -o shuffled; cat shuffled/index.json; rm -rf shuffled
		shard-shuffle "$u" --buffer 10 -o - | shard-cat -q -o /dev/null -
		shard-gpu-bench -d cpu -b 10 "$u"
		shard-gpu-bench -d cpu -b 10 --json "$u"
	} >> all.out 2>&1 || true
}

@test "no program says a URL's user or password: not on success, a 401 or 404, a closed port, nor a refused URL" {
	port=$(free_port)
	export SHARDKIT_RETRIES=0
	for userinfo in ReaderUser:Pw1%40Pw2%2FPw3 ReaderUser:Pw1@Pw2%2FPw3 ReaderUser:Pw1@Pw2/Pw3 ReaderUser:Pw1/Pw2@Pw3 \
		ReaderUser:Pw1%40Pw2 ReaderUser Pw1 :Pw1@Pw2; do
		for path in private/conv private/missing private/nothing-here; do
			every_program "$(as_user "$userinfo" "$path")"
		done
		every_program "http://$userinfo@127.0.0.1:$port/ds"
		every_program "https://$userinfo@127.0.0.1:$port/ds"
		every_program "s3://$userinfo@bucket/ds"
	done
	run grep -a -n -e ReaderUser -e Pw1 -e Pw2 -e Pw3 all.out
	assert_failure 1
	# the runs did reach the server, succeed, fail and refuse
	grep -q '"samples":3000' all.out	# shard-index info --json
	grep -q '"samples": 3000' all.out	# shard-gpu-bench --json
	grep -q 'shard-index: http://\*\*\*@127.0.0.1:[0-9]*/private/conv: ok' all.out
	grep -q 'HTTP 401' all.out
	grep -q 'shard.00001.mds.zstd: HTTP 404' all.out
	grep -q 'Failed to connect' all.out
	grep -q 'is ambiguous' all.out
	grep -q 's3:// URL takes no user or password' all.out
	grep -q '://\*\*\*@' all.out
}
