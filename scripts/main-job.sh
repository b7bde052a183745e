#!/bin/sh
# The main job on a fresh machine, as root: install what is missing, build, then
# run the pipeline on the bundled dataset (written by Mosaic Streaming's own
# MDSWriter) and print a summary.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
scripts/deps.sh
scripts/build.sh build
PATH="$top/build:$PATH"
src=examples/reference-mds
out=${SHARDKIT_OUT:-$(mktemp -d)/dataset}

echo "== verify the input ($src)"
shard-index verify "$src"
echo "== stream it through a pipe into a new dataset ($out)"
shard-cat "$src" -o - | shard-cat - -o "$out"
echo "== verify the copy"
shard-index verify "$out"
echo "== describe it"
shard-index info "$out"
echo "== first samples as JSON Lines"
shard-cat -r 0:3 "$out"
echo "== summary"
shard-index info --json "$out" | python3 -c '
import json, sys
i = json.load(sys.stdin)
print("%d samples in %d shards, %d bytes stored (%d raw), %d columns: %s" % (
    i["samples"], i["shards"], i["bytes_stored"], i["bytes_raw"], len(i["columns"]),
    ", ".join(c["name"] + ":" + c["encoding"] for c in i["columns"])))'
