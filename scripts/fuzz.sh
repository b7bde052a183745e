#!/bin/sh
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for SECONDS
# (default 60) from its seed corpus: scripts/fuzz.sh [SECONDS] [TARGET...].
# New crashes land in build-fuzz/crashes/; add the file to tests/fuzz/corpus/TARGET/
# once fixed so make check replays it forever.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-mds index stream csv tz}
scripts/build.sh build >/dev/null
out=build-fuzz
mkdir -p "$out/crashes"
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Ibuild -Ilib -Itests/fuzz"
libs=$(pkg-config --libs libzstd libarchive jansson libcrypto libxxhash zlib libbrotlienc libbrotlidec snappy libcurl)
for t in $targets; do
	clang $flags -DFUZZ_TARGET=fuzz_$t -o "$out/fuzz-$t" tests/fuzz/libfuzzer.c tests/fuzz/fuzz-targets.c \
		$(ls lib/*.c | grep -v lib/cli.c) \
		$libs -lbz2 -lm
	mkdir -p "$out/corpus-$t"
	echo "== fuzz_$t for ${secs}s"
	"$out/fuzz-$t" -max_total_time="$secs" -artifact_prefix="$out/crashes/$t-" -max_len=65536 \
		"$out/corpus-$t" "tests/fuzz/corpus/$t" 2>&1 | tail -n 3
done
