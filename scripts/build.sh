#!/bin/sh
# Configures and builds shardkit out of tree: scripts/build.sh [BUILDDIR [configure args...]].
# Default BUILDDIR is build/. Reconfigures only when the build dir is new.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build}
[ $# -gt 0 ] && shift
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] && [ configure -nt Makefile.am ] || ./bootstrap >/dev/null 2>&1 || ./bootstrap
mkdir -p "$dir"
cd "$dir"
if [ ! -f Makefile ] || [ ../configure -nt config.status ]; then
	"$top/configure" -q "$@"
fi
make -s -j"$(nproc)"
