#!/bin/sh
# Installs the Debian packages shardkit needs to build and test (run as root).
# Idempotent: packages already present are left alone; apt-get runs only if needed.
set -eu
pkgs="build-essential autoconf automake libtool pkg-config
libzstd-dev libarchive-dev libcurl4-openssl-dev libjansson-dev libssl-dev libxxhash-dev
zlib1g-dev libbz2-dev libbrotli-dev libsnappy-dev
bats bats-assert bats-support mandoc zsh fish zstd xz-utils lz4 time python3-venv clang libclang-rt-14-dev nginx tzdata strace"
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
# Spark needs a Java runtime; the image usually has one outside dpkg's view
command -v java >/dev/null 2>&1 || missing="$missing openjdk-17-jre-headless"
if [ -n "$missing" ]; then
	echo "deps: installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
