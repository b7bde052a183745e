#!/usr/bin/env bats
# Datasets on S3: moto's S3 server (from the interop environment, see
# tests/interop/requirements.txt) on loopback, with signature checks on;
# shard-cat and shard-index read s3:// URLs with SigV4-signed requests to the
# same bytes as from disk, and a wrong key or a missing object is named.

load helpers

setup_file() {
	[ -n "${SHARDKIT_PYTHON:-}" ] || return 0
	local d=$BATS_FILE_TMPDIR
	moto_start
	export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT
	conv_ds "$d/conv"
	cp -r "$REF" "$d/missing"
	rm "$d/missing/shard.00001.mds.zstd"
	"$SHARDKIT_PYTHON" "$SRC/tests/remote/s3-upload.py" "$AWS_ENDPOINT_URL" "$d/keys" "$REF=bucket/ref" \
		"$d/conv=bucket/data/conv" "$d/missing=bucket/missing" "$REF=root" > "$d/upload.log" 2>&1 ||
		{ cat "$d/upload.log"; false; }
}

teardown_file() { moto_stop; }

setup() {
	[ -n "${SHARDKIT_PYTHON:-}" ] || skip "SHARDKIT_PYTHON unset: scripts/test.sh builds the interop environment"
	read -r AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY < "$BATS_FILE_TMPDIR/keys"
	export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
	unset AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 AWS_REGION AWS_DEFAULT_REGION
	cd "$BATS_TEST_TMPDIR"
}

@test "shard-cat s3://BUCKET/PREFIX writes what shard-cat DIR writes" {
	shard-cat "$REF" > local.jsonl
	for u in s3://bucket/ref s3://bucket/ref/ s3://bucket/ref/index.json; do
		run shard-cat "$u"
		assert_success
		cmp local.jsonl <(shard-cat "$u")
	done
	cmp <(shard-cat -q "$BATS_FILE_TMPDIR/conv" -o -) <(shard-cat -q s3://bucket/data/conv -o -)
	cmp <(shard-cat "$BATS_FILE_TMPDIR/conv") <(shard-cat s3://bucket/data/conv)
	cmp local.jsonl <(shard-cat s3://root)
}

@test "shard-index verify and info read s3:// URLs" {
	run shard-index verify s3://bucket/data/conv
	assert_success
	assert_output --partial "s3://bucket/data/conv: ok: "
	run shard-index info s3://bucket/ref
	assert_success
	assert_output --partial "samples:     50"
}

@test "AWS_ENDPOINT_URL_S3 comes before AWS_ENDPOINT_URL" {
	run env AWS_ENDPOINT_URL_S3="$AWS_ENDPOINT_URL" AWS_ENDPOINT_URL=http://127.0.0.1:$(free_port) shard-cat s3://bucket/ref
	assert_success
	[ "${#lines[@]}" -eq 50 ]
}

@test "a wrong secret, an unknown key or no credentials: exit 1 and the 403 named" {
	run env AWS_SECRET_ACCESS_KEY=wrong shard-cat s3://bucket/ref
	assert_failure 1
	assert_output --partial "s3://bucket/ref/index.json: HTTP 403 (SignatureDoesNotMatch)"
	run env AWS_ACCESS_KEY_ID=AKIANOTKNOWN shard-cat s3://bucket/ref
	assert_failure 1
	assert_output --partial "s3://bucket/ref/index.json: HTTP 403 (InvalidAccessKeyId)"
	run env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY shard-cat s3://bucket/ref
	assert_failure 1
	assert_output --partial "s3://bucket/ref/index.json: HTTP 403"
	run env -u AWS_SECRET_ACCESS_KEY shard-cat s3://bucket/ref
	assert_failure 2
	assert_output --partial "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together"
}

@test "a missing object: exit 1 and the 404 named" {
	run shard-cat s3://bucket/missing
	assert_failure 1
	assert_output --partial "s3://bucket/missing/shard.00001.mds.zstd: HTTP 404 (NoSuchKey)"
	run shard-cat s3://bucket/nothing
	assert_failure 1
	assert_output --partial "s3://bucket/nothing/index.json: HTTP 404 (NoSuchKey)"
	run shard-cat s3://nobucket/ref
	assert_failure 1
	assert_output --partial "s3://nobucket/ref/index.json: HTTP 404 (NoSuchBucket)"
}
