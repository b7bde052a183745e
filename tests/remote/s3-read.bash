# Shared by tests/s3-read.bats and tests/cache.bats: a larger raw dataset and
# moto's S3 server with signature checks on, the datasets uploaded.

# big_ds DIR: 20000 rows in raw shards of 16 KiB, hashes listed (about 40 shards)
big_ds() {
	seq 1 20000 | awk '{ printf "%d,%d,row %d\n", $1, $1 * 7, $1 }' > "$1.csv"
	shard-convert -q -s n:int64,m:int64,s:str -c none --hashes sha1,xxh64 --size-limit 16KiB -o "$1" "$1.csv"
}

# moto_up DIR=BUCKET/PREFIX ...: moto_start (tests/helpers.bash), its port
# also in $MOTO, and the directories uploaded by the user whose key
# tests/remote/s3-upload.py writes to $BATS_FILE_TMPDIR/keys
moto_up() {
	local d=$BATS_FILE_TMPDIR
	moto_start
	export MOTO=$PORT
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
