# Shared set-up for the bats tests: the built programs on PATH, bats-assert,
# the golden data, and a scratch directory per test.
bats_load_library bats-support 2>/dev/null || load /usr/lib/bats/bats-support/load
bats_load_library bats-assert 2>/dev/null || load /usr/lib/bats/bats-assert/load

SRC=${SHARDKIT_SRC:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)}
DATA=$SRC/tests/data
REF=$SRC/examples/reference-mds
export PATH="${SHARDKIT_BUILD:-$SRC/build}:$PATH"

# craft OUT.mds NAMES ENCS HEX... : a raw shard built byte by byte
craft() { python3 "$DATA/craft.py" "$@"; }

# copy of the golden dataset to damage
ref_copy() { cp -r "$REF" "$BATS_TEST_TMPDIR/ds"; chmod -R u+w "$BATS_TEST_TMPDIR/ds"; echo "$BATS_TEST_TMPDIR/ds"; }

# hex of a little-endian uint32
le32() { python3 -c "import struct,sys; print(struct.pack('<I', int(sys.argv[1])).hex())" "$1"; }
