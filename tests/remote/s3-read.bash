# Shared by tests/s3-read.bats and tests/cache.bats: a larger raw dataset and
# moto's S3 server with signature checks on, the datasets uploaded.

# big_ds DIR: 20000 rows in raw shards of 16 KiB, hashes listed (about 40 shards)
big_ds() {
	seq 1 20000 | awk '{ printf "%d,%d,row %d\n", $1, $1 * 7, $1 }' > "$1.csv"
	shard-convert -q -s n:int64,m:int64,s:str -c none --hashes sha1,xxh64 --size-limit 16KiB -o "$1" "$1.csv"
}

# moto_start DIR=BUCKET/PREFIX ...: moto on a free port ($MOTO), its pid in
# $BATS_FILE_TMPDIR/moto.pid; after its first three unauthenticated actions
# (creating the user and its key) every request must be signed with the key
# written to $BATS_FILE_TMPDIR/keys; the directories uploaded
moto_start() {
	local d=$BATS_FILE_TMPDIR
	export MOTO
	MOTO=$(free_port)
	INITIAL_NO_AUTH_ACTION_COUNT=3 "$SHARDKIT_PYTHON" -m moto.server -H 127.0.0.1 -p "$MOTO" > "$d/moto.log" 2>&1 3>&- &
	echo $! > "$d/moto.pid"
	wait_port "$MOTO" 60 || { cat "$d/moto.log"; false; }
	"$SHARDKIT_PYTHON" "$SRC/tests/remote/s3-upload.py" "http://127.0.0.1:$MOTO" "$d/keys" "$@" > "$d/upload.log" 2>&1 ||
		{ cat "$d/upload.log"; false; }
}

# read_keys: the uploading user's key in the AWS variables, the rest unset
read_keys() {
	read -r AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY < "$BATS_FILE_TMPDIR/keys"
	export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
	unset AWS_SESSION_TOKEN AWS_ENDPOINT_URL_S3 AWS_REGION AWS_DEFAULT_REGION SHARDKIT_IN_FLIGHT SHARDKIT_READ_AHEAD \
		SHARDKIT_CACHE SHARDKIT_CACHE_SIZE
}
