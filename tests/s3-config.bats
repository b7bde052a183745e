#!/usr/bin/env bats
# Where S3 credentials and settings come from, against moto's S3 server on
# loopback with signature checks on (as in tests/s3.bats): the environment
# first, then the profile's sections of ~/.aws/credentials and ~/.aws/config
# (region, endpoint, session token, addressing style); path-style and
# virtual-hosted requests read the same bytes; a missing profile, a file that
# does not parse and a bad addressing style are usage errors that say where.

load helpers

setup_file() {
	[ -n "${SHARDKIT_PYTHON:-}" ] || return 0
	local d=$BATS_FILE_TMPDIR
	moto_start
	{ "$SHARDKIT_PYTHON" "$SRC/tests/remote/s3-upload.py" "http://127.0.0.1:$PORT" "$d/keys" "$REF=bucket/ref" &&
		"$SHARDKIT_PYTHON" "$SRC/tests/remote/s3-session.py" "http://127.0.0.1:$PORT" "$d/keys" "$d/session"; } \
		> "$d/upload.log" 2>&1 || { cat "$d/upload.log"; false; }
	shard-cat "$REF" > "$d/local.jsonl"
}

teardown_file() { moto_stop; }

setup() {
	[ -n "${SHARDKIT_PYTHON:-}" ] || skip "SHARDKIT_PYTHON unset: scripts/test.sh builds the interop environment"
	read -r KEY SECRET < "$BATS_FILE_TMPDIR/keys"
	read -r TKEY TSECRET TOKEN < "$BATS_FILE_TMPDIR/session"
	unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 \
		AWS_REGION AWS_DEFAULT_REGION AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SHARED_CREDENTIALS_FILE AWS_CONFIG_FILE \
		AWS_IGNORE_CONFIGURED_ENDPOINT_URLS SHARDKIT_S3_ADDRESSING
	export HOME=$BATS_TEST_TMPDIR/home
	mkdir -p "$HOME/.aws"
	cd "$BATS_TEST_TMPDIR"
}

# same_as_local URL: shard-cat URL succeeds and writes the local dataset's text
same_as_local() {
	run shard-cat "$1"
	assert_success
	[ "$output" = "$(cat "$BATS_FILE_TMPDIR/local.jsonl")" ]
}

@test "a named profile's key from ~/.aws/credentials, its endpoint from ~/.aws/config" {
	cat > "$HOME/.aws/credentials" <<-EOF
	# the reader's key
	[default]
	aws_access_key_id = AKIANOTKNOWN
	aws_secret_access_key = wrong

	[reader]
	aws_access_key_id = $KEY   ; as IAM gave it
	aws_secret_access_key=$SECRET
	EOF
	printf '[profile reader]\r\nendpoint_url = http://127.0.0.1:%s\r\n' "$PORT" > "$HOME/.aws/config"
	AWS_PROFILE=reader same_as_local s3://bucket/ref
	AWS_DEFAULT_PROFILE=reader same_as_local s3://bucket/ref
	# the default profile is the one with the unknown key
	run env AWS_ENDPOINT_URL=http://127.0.0.1:$PORT shard-cat s3://bucket/ref
	assert_failure 1
	assert_output --partial "s3://bucket/ref/index.json: HTTP 403 (InvalidAccessKeyId)"
	# files named by AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE, HOME or not
	mv "$HOME/.aws" aws
	AWS_SHARED_CREDENTIALS_FILE=$PWD/aws/credentials AWS_CONFIG_FILE=$PWD/aws/config AWS_PROFILE=reader \
		same_as_local s3://bucket/ref
	run env -u HOME AWS_SHARED_CREDENTIALS_FILE=$PWD/aws/credentials AWS_CONFIG_FILE=$PWD/aws/config \
		AWS_PROFILE=reader shard-cat s3://bucket/ref
	assert_success
	[ "${#lines[@]}" -eq 50 ]
}

@test "temporary credentials: region, key and session token from the config file; a wrong token is refused" {
	cat > "$HOME/.aws/config" <<-EOF
	[profile temp]
	region = eu-west-2
	endpoint_url = http://127.0.0.1:$PORT/
	aws_access_key_id = $TKEY
	aws_secret_access_key = $TSECRET
	aws_session_token = $TOKEN
	EOF
	AWS_PROFILE=temp same_as_local s3://bucket/ref
	# the region is the profile's: a malformed one is named with its place
	sed -i 's/^region = eu-west-2/region = EU_West/' "$HOME/.aws/config"
	run env AWS_PROFILE=temp shard-cat s3://bucket/ref
	assert_failure 2
	assert_output --partial "s3://bucket/ref: region EU_West at $HOME/.aws/config:2: expected lower-case letters, digits and '-'"
	sed -i 's/^region = EU_West/region = eu-west-2/; s/^aws_session_token = .*/aws_session_token = FQoGZXIvYXdzEwrong/' \
		"$HOME/.aws/config"
	run env AWS_PROFILE=temp shard-cat s3://bucket/ref
	assert_failure 1
	# moto answers a token that is not the session's as S3 does a malformed one
	assert_output --partial "s3://bucket/ref/index.json: HTTP 400 (InvalidToken)"
	# the session's key without its token is no key the server knows
	sed -i '/^aws_session_token/d' "$HOME/.aws/config"
	run env AWS_PROFILE=temp shard-cat s3://bucket/ref
	assert_failure 1
	assert_output --partial "s3://bucket/ref/index.json: HTTP 403 (InvalidAccessKeyId)"
	# the token in the environment goes with the environment's key
	run env AWS_PROFILE=temp AWS_ACCESS_KEY_ID=$TKEY AWS_SECRET_ACCESS_KEY=$TSECRET AWS_SESSION_TOKEN=$TOKEN \
		shard-cat s3://bucket/ref
	assert_success
	[ "${#lines[@]}" -eq 50 ]
}

@test "the environment comes before the files: key, region and endpoint" {
	printf '[default]\naws_access_key_id = %s\naws_secret_access_key = wrong\n' "$KEY" > "$HOME/.aws/credentials"
	printf '[default]\nregion = Not_A_Region\nendpoint_url = http://127.0.0.1:%s\n' "$(free_port)" > "$HOME/.aws/config"
	run env AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET AWS_REGION=us-east-1 \
		AWS_ENDPOINT_URL=http://127.0.0.1:$PORT shard-cat s3://bucket/ref
	assert_success
	[ "$output" = "$(cat "$BATS_FILE_TMPDIR/local.jsonl")" ]
	# the files alone: their wrong secret, refused
	run env AWS_REGION=us-east-1 AWS_ENDPOINT_URL=http://127.0.0.1:$PORT shard-cat s3://bucket/ref
	assert_failure 1
	assert_output --partial "s3://bucket/ref/index.json: HTTP 403 (SignatureDoesNotMatch)"
	# AWS_ENDPOINT_URL_S3 before AWS_ENDPOINT_URL before the file's endpoint_url
	run env AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET AWS_REGION=us-east-1 \
		AWS_ENDPOINT_URL_S3=http://127.0.0.1:$PORT AWS_ENDPOINT_URL=http://127.0.0.1:1 shard-cat s3://bucket/ref
	assert_success
	# the endpoint of a [services NAME] section's s3 sub-section
	cat > "$HOME/.aws/config" <<-EOF
	[default]
	services = local
	endpoint_url = http://127.0.0.1:1
	[services local]
	s3 =
	  endpoint_url = http://127.0.0.1:$PORT
	EOF
	run env AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET shard-cat s3://bucket/ref
	assert_success
	[ "${#lines[@]}" -eq 50 ]
}

@test "a named profile in neither file, a half key, a file that does not parse: exit 2, and where" {
	printf '[reader]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$KEY" "$SECRET" > "$HOME/.aws/credentials"
	printf '[profile other]\nregion = us-east-1\n' > "$HOME/.aws/config"
	run env AWS_PROFILE=nobody AWS_ENDPOINT_URL=http://127.0.0.1:$PORT shard-cat s3://bucket/ref
	assert_failure 2
	assert_output "shard-cat: s3://bucket/ref: the profile nobody (AWS_PROFILE) is in neither $HOME/.aws/credentials (as [nobody]) nor $HOME/.aws/config (as [profile nobody])"
	run env AWS_DEFAULT_PROFILE=nobody AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET shard-cat s3://bucket/ref
	assert_failure 2
	assert_output --partial "the profile nobody (AWS_DEFAULT_PROFILE) is in neither"
	rm -r "$HOME/.aws"
	run env AWS_PROFILE=reader shard-cat s3://bucket/ref
	assert_failure 2
	assert_output --partial "(as [profile reader]), which do not exist"
	run env -u HOME AWS_PROFILE=reader shard-cat s3://bucket/ref
	assert_failure 2
	assert_output --partial "s3://bucket/ref: the profile reader (AWS_PROFILE) cannot be read: HOME is unset"
	mkdir "$HOME/.aws"
	printf '[reader]\naws_access_key_id = %s\n' "$KEY" > "$HOME/.aws/credentials"
	run env AWS_PROFILE=reader shard-cat s3://bucket/ref
	assert_failure 2
	assert_output "shard-cat: $HOME/.aws/credentials:2: the profile reader has aws_access_key_id but no aws_secret_access_key"
	printf '[default]\nregion = us-east-1\n  addressing_style = path\n' > "$HOME/.aws/config"
	run shard-cat s3://bucket/ref
	assert_failure 2
	assert_output --partial "$HOME/.aws/config:3: an indented line, but no sub-section is open"
	printf '[default\n' > "$HOME/.aws/config"
	run shard-cat s3://bucket/ref
	assert_failure 2
	assert_output "shard-cat: $HOME/.aws/config:1: a section header without its closing ']'"
}

@test "virtual-hosted requests (BUCKET.localhost) read the same bytes as path-style ones" {
	export AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET AWS_ENDPOINT_URL=http://localhost:$PORT
	local log=$BATS_FILE_TMPDIR/moto.log
	# the request lines moto logs: the key alone in the path when the bucket is in the host name
	SHARDKIT_S3_ADDRESSING=virtual same_as_local s3://bucket/ref
	grep -q '"GET /ref/index.json HTTP/1.1" 200' "$log"
	grep -c '"GET /ref/shard.00000.mds.zstd HTTP/1.1" 200' "$log" > virtual.count
	SHARDKIT_S3_ADDRESSING=path same_as_local s3://bucket/ref
	grep -q '"GET /bucket/ref/index.json HTTP/1.1" 200' "$log"
	# a custom endpoint is path-style unless asked
	n=$(grep -c '"GET /bucket/ref/shard.00000.mds.zstd HTTP/1.1" 200' "$log")
	same_as_local s3://bucket/ref
	[ "$(grep -c '"GET /bucket/ref/shard.00000.mds.zstd HTTP/1.1" 200' "$log")" -eq $((n + 1)) ]
	# the profile's s3 sub-section asks for it, and the environment overrides that
	printf '[default]\ns3 =\n    addressing_style = virtual  # BUCKET.HOST\n' > "$HOME/.aws/config"
	same_as_local s3://bucket/ref
	[ "$(grep -c '"GET /ref/shard.00000.mds.zstd HTTP/1.1" 200' "$log")" -eq $(($(cat virtual.count) + 1)) ]
	SHARDKIT_S3_ADDRESSING=path same_as_local s3://bucket/ref
	[ "$(grep -c '"GET /bucket/ref/shard.00000.mds.zstd HTTP/1.1" 200' "$log")" -eq $((n + 2)) ]
	# a wrong secret is still refused: the signature covers the host name
	run env SHARDKIT_S3_ADDRESSING=virtual AWS_SECRET_ACCESS_KEY=wrong shard-cat s3://bucket/ref
	assert_failure 1
	assert_output --partial "s3://bucket/ref/index.json: HTTP 403 (SignatureDoesNotMatch)"
}

@test "an addressing style that is none, or virtual-hosted at an IP address or for no host name: exit 2" {
	export AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET AWS_ENDPOINT_URL=http://127.0.0.1:$PORT
	run env SHARDKIT_S3_ADDRESSING=vhost shard-cat s3://bucket/ref
	assert_failure 2
	assert_output "shard-cat: SHARDKIT_S3_ADDRESSING=vhost: expected path, virtual or auto"
	printf '[default]\nregion = us-east-1\ns3 =\n  addressing_style = Virtual\n' > "$HOME/.aws/config"
	run shard-cat s3://bucket/ref
	assert_failure 2
	assert_output "shard-cat: $HOME/.aws/config:4: addressing_style = Virtual: expected path, virtual or auto"
	run env SHARDKIT_S3_ADDRESSING=virtual shard-cat s3://bucket/ref
	assert_failure 2
	assert_output --partial "s3://bucket/ref: virtual-hosted addressing puts the bucket in the host name, and the endpoint http://127.0.0.1:$PORT has an IP address for its host"
	run env SHARDKIT_S3_ADDRESSING=virtual AWS_ENDPOINT_URL=http://localhost:$PORT shard-cat s3://My_Bucket/ref
	assert_failure 2
	assert_output --partial "s3://My_Bucket/ref: the bucket My_Bucket is no host name"
}
