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
targets=${*:-mds index stream stream_raw csv tz codec codec_rt writer shuffle remote}
scripts/build.sh build >/dev/null
out=build-fuzz
mkdir -p "$out/crashes" "$out/obj"
flags="-g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -Ibuild -Ilib -Itests/fuzz"
libs=$(pkg-config --libs libzstd libarchive jansson libcrypto libxxhash zlib libbrotlienc libbrotlidec snappy libcurl)
# the library and the targets once, instrumented for coverage; then one binary per target
objs=
for src in $(ls lib/*/*.c tests/fuzz/fuzz-*.c | grep -v -e tests/fuzz/fuzz-main.c); do
	obj=$out/obj/$(echo "$src" | tr / _ | sed 's/\.c$/.o/')
	clang $flags -fsanitize=fuzzer-no-link -c -o "$obj" "$src"
	objs="$objs $obj"
done
for t in $targets; do
	clang $flags -fsanitize=fuzzer -DFUZZ_TARGET=fuzz_$t -o "$out/fuzz-$t" tests/fuzz/libfuzzer.c $objs \
		$libs -lbz2 -lpthread -lm
	# a variant's seeds are its base target's (stream_raw: stream's)
	seeds=tests/fuzz/corpus/$t
	[ -d "$seeds" ] || seeds=tests/fuzz/corpus/${t%_*}
	mkdir -p "$out/corpus-$t"
	echo "== fuzz_$t for ${secs}s"
	"$out/fuzz-$t" -max_total_time="$secs" -artifact_prefix="$out/crashes/$t-" -max_len=65536 -timeout=10 \
		"$out/corpus-$t" "$seeds" 2>&1 | tail -n 3
done
