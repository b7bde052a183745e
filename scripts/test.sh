#!/bin/sh
# The whole test suite on a fresh machine, as root: dependencies, the interop
# virtual environment, the build, unit/bats/interop tests, then all of it again
# under AddressSanitizer and UndefinedBehaviorSanitizer.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
start=$(date +%s)

scripts/deps.sh
venv=$(scripts/venv.sh | tail -n 1)
export SHARDKIT_PYTHON="$venv/bin/python"

status=0
run_suite() {
	name=$1
	shift
	echo "== $name: build"
	scripts/build.sh "$@"
	echo "== $name: make check"
	if ! make -C "$1" -s check -j"$(nproc)"; then
		status=1
		for log in "$1"/tests/*.log "$1"/tests/unit/*.log; do
			if [ -f "$log" ] && grep -qE '^(not ok|FAIL)' "$log"; then
				echo "--- $log"
				cat "$log"
			fi
		done
	fi
}

run_suite plain build
echo "== make distcheck (the release tarball builds, installs and passes its tests)"
# (the Python tiers already ran above; the tarball's own check skips them)
env -u SHARDKIT_PYTHON make -C build -s distcheck >build/distcheck.log 2>&1 || { tail -n 40 build/distcheck.log; status=1; }
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 SHARDKIT_SANITIZED=1
run_suite sanitizers build-asan CC=clang CFLAGS="$san" LDFLAGS="-fsanitize=address,undefined" --without-cuda

pass=0 fail=0
for trs in build/tests/*.trs build/tests/unit/*.trs build-asan/tests/*.trs build-asan/tests/unit/*.trs; do
	[ -f "$trs" ] || continue
	pass=$((pass + $(grep -c '^:test-result: \(PASS\|SKIP\|XFAIL\)' "$trs" || true)))
	fail=$((fail + $(grep -c '^:test-result: \(FAIL\|ERROR\|XPASS\)' "$trs" || true)))
done
echo "test suite took $(( $(date +%s) - start )) s"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$status" -eq 0 ]
