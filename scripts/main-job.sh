#!/bin/sh
# The main job on a fresh machine, as root: install what is missing, build, then
# run the pipeline on the bundled CSV export written by real Spark (gzip part
# files with headers): convert, verify, stream, describe, shuffle and stream it
# into the loader (shard-gpu-bench: the GPU when there is one, else the CPU),
# and print a summary.
#
# SHARDKIT_BUILD=DIR: use the programs already built in DIR, installing and
# building nothing (the test suite runs the job so).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if [ -n "${SHARDKIT_BUILD:-}" ]; then
	PATH="$(cd "$SHARDKIT_BUILD" && pwd):$PATH"
else
	scripts/deps.sh
	scripts/build.sh build
	PATH="$top/build:$PATH"
fi
src=examples/spark-export
work=${SHARDKIT_OUT:-$(mktemp -d)}
out=$work/dataset

echo "== convert the Spark export ($src) to MDS shards"
shard-convert --header --schema "$(cat examples/spark-export.schema)" \
	--pack 'features=f00,f01,f02,f03,f04,f05,f06,f07:float32' -o "$work/converted" "$src"
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
echo "== shuffle epoch 0 and stream it into the loader: batches of features and labels, checked on the device"
shard-cat "$out" -o - | shard-shuffle -q - --seed 1 -o - |
	shard-gpu-bench --columns features,label --batch 256 --json >"$work/loader.txt"
echo "== summary"
shard-index info --json "$out" | python3 -c '
import json, sys
i = json.load(sys.stdin)
g = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print("%d samples in %d shards, %d bytes stored (%d raw), %d columns: %s" % (
    i["samples"], i["shards"], i["bytes_stored"], i["bytes_raw"], len(i["columns"]),
    ", ".join(c["name"] + ":" + c["encoding"] for c in i["columns"])))
print("loader on %s: %d samples in %d batches of %d (features %s, label), %.0f samples/s, "
      "%d checksum mismatches" % (g["device"], g["samples"], g["batches"], g["batch"],
      "x".join(str(n) for n in (g["batch"], 8)), g["samples_per_s"], g["checksum_mismatches"]))
sys.exit(1 if g["checksum_mismatches"] or g["samples"] != i["samples"] else 0)' "$work/loader.txt"
