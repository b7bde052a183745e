#!/bin/sh
# Creates, or reuses, the Python virtual environment for the interop tests and
# prints its path as the last line of stdout.
#
# The environment lives outside the clone, keyed by the requirements:
#   ${SHARDKIT_VENV_ROOT:-$HOME/.cache/shardkit}/venv-<first 12 hex of sha256(requirements.txt)>
# A marker file is written only after a successful install, so a half-built
# environment (interrupted install, failed download) is removed and rebuilt.
# Concurrent runs wait for each other (flock, where available).
# Environment: SHARDKIT_VENV_ROOT (where), PYTHON (interpreter, default python3).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
req="$top/tests/interop/requirements.txt"
python=${PYTHON:-python3}

if command -v sha256sum >/dev/null 2>&1; then
	sum=$(sha256sum "$req" | cut -c1-12)
elif command -v shasum >/dev/null 2>&1; then
	sum=$(shasum -a 256 "$req" | cut -c1-12)
else
	sum=$("$python" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest()[:12])' "$req")
fi

root=${SHARDKIT_VENV_ROOT:-${HOME:?}/.cache/shardkit}
venv="$root/venv-$sum"
marker="$venv/.shardkit-complete"
mkdir -p "$root"

build() {
	[ -f "$marker" ] && [ -x "$venv/bin/python" ] && return 0
	echo "venv: building $venv (this downloads mosaicml-streaming and torch)" >&2
	rm -rf "$venv"
	"$python" -m venv "$venv" >&2
	PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q -r "$req" >&2
	"$venv/bin/python" -c 'import streaming, numpy, PIL' >&2
	cp "$req" "$venv/requirements.txt"
	: >"$marker"
}

if command -v flock >/dev/null 2>&1; then
	(
		flock 9
		build
	) 9>"$root/.lock-$sum"
else
	build
fi
echo "$venv"
