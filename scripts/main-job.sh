#!/bin/sh
# The main job on a fresh machine, as root: install what is missing, build, then
# run the pipeline on the bundled CSV export written by real Spark (gzip part
# files with headers): convert, verify, stream, describe, and print a summary.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/deps.sh
scripts/build.sh build
PATH="$top/build:$PATH"
src=examples/spark-export
work=${SHARDKIT_OUT:-$(mktemp -d)}
out=$work/dataset

echo "== convert the Spark export ($src) to MDS shards"
shard-convert --header --schema "$(cat examples/spark-export.schema)" -o "$work/converted" "$src"
echo "== verify every byte of it"
shard-index verify "$work/converted"
echo "== stream it through a pipe into its final place ($out)"
shard-cat "$work/converted" -o - | shard-cat - -o "$out"
shard-index verify "$out"
echo "== describe it"
shard-index info "$out"
echo "== first samples as JSON Lines"
shard-cat -r 0:2 "$out"
echo "== a dataset written by Mosaic Streaming's own MDSWriter reads the same way"
shard-index verify examples/reference-mds
echo "== summary"
shard-index info --json "$out" | python3 -c '
import json, sys
i = json.load(sys.stdin)
print("%d samples in %d shards, %d bytes stored (%d raw), %d columns: %s" % (
    i["samples"], i["shards"], i["bytes_stored"], i["bytes_raw"], len(i["columns"]),
    ", ".join(c["name"] + ":" + c["encoding"] for c in i["columns"])))'
