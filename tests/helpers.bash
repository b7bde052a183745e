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

# on_tty CMD ARG...: CMD with its stderr on a terminal (a pseudo-terminal from
# script(1)) and its stdout in tty.out; prints what reached the terminal, and
# exits as CMD did
on_tty() { script -qfec "$(printf '%q ' "$@") >tty.out" /dev/null </dev/null; }

# screen: what a terminal shows of the text on stdin, each \r going back to
# the start of the line and what follows writing over it
screen() {
	python3 -c '
import sys
text = sys.stdin.read()
for line in (text[:-1] if text.endswith("\n") else text).split("\n"):
    row, col = [], 0
    for c in line:
        if c == "\r":
            col = 0
            continue
        row[col:col + 1] = c
        col += 1
    print("".join(row).rstrip())'
}

# progress_line PROG WHAT: the shape of PROG's progress line counting WHAT
progress_line() { echo "$1: ([0-9,]+ shards, )?[0-9,]+ $2, [0-9.]+ [kMGTP]?B read in [0-9]+s, [0-9.]+ ([kMGTP] )?($2|[kMGTP]?B)/s"; }

# conv_ds DIR: 3000 rows written by shard-convert into several uncompressed
# shards with hashes listed (DIR.csv holds the rows)
conv_ds() {
	seq 1 3000 | awk '{ printf "%d,%d,row %d\n", $1, $1 * 7, $1 }' > "$1.csv"
	shard-convert -q -s n:int64,m:int64,s:str -c none --hashes sha1,xxh64 --size-limit 16KiB -o "$1" "$1.csv"
}

# free_port: a TCP port on 127.0.0.1 nothing listens on (at the time asked)
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_port PORT SECONDS: until something accepts connections on 127.0.0.1:PORT
wait_port() {
	local end=$((SECONDS + $2))
	until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# planted HOW NAME CMD ARG...: runs CMD in place of a shell (exec keeps its
# process id, so NAME.tmp.PID is the temporary name CMD will write NAME
# under) that first puts there a symbolic link (HOW -s) or a second hard link
# (-h) to ./target, which holds "precious", or a stray file such as a run
# killed under the same id leaves (-f)
planted() {
	[ -e target ] || echo precious > target
	sh -c 'how=$1 name=$2; shift 2
		case $how in
		-s) ln -s "$PWD/target" "$name.tmp.$$" ;;
		-h) ln target "$name.tmp.$$" ;;
		-f) echo stale > "$name.tmp.$$" ;;
		esac
		exec "$@"' sh "$@"
}

# refused_link: the planted link's run failed (status 1), named the
# temporary file, and left ./target as it was
refused_link() {
	assert_failure 1
	assert_output --regexp "\.tmp\.[0-9]+: (a symbolic link|another file) is in the way of this new file: refusing to write"
	[ "$(cat target)" = precious ]
}

# endless_stream: an endless shard stream of small shards on stdout (each
# row of yes into shard-convert, --size-limit 64KiB)
endless_stream() { yes 12345,abcdefghij | shard-convert -q -s a:int64,b:str --size-limit 64KiB -o - -; }

# signalled SIG DIR: once a shard file appears below DIR, sends SIG to the
# program $pid (started in the background with SIG at its default action),
# waits for it and checks that it ended by SIG (status 128+N) and left below
# DIR no shard, index.json or temporary file
signalled() {
	local sig=$1 dir=$2 status=0 i
	for i in $(seq 150); do
		[ -z "$(find "$dir" -name 'shard.*' 2>/dev/null)" ] || break
		sleep 0.1
	done
	[ -n "$(find "$dir" -name 'shard.*')" ]
	kill -s "$sig" "$pid"
	wait "$pid" || status=$?
	echo "ended with status $status"
	[ "$status" -eq $((128 + $(kill -l "$sig"))) ]
	[ -z "$(find "$dir" -name 'shard.*' -o -name '*.tmp.*' -o -name index.json)" ]
}

# zero_claim DIR: a dataset of two raw shards whose second is cut short (its
# last sample's bytes gone) while its entry says 0 samples, with the size it
# has now and no hashes: only reading the shard itself shows it is malformed
zero_claim() {
	mkdir -p "$1"
	craft "$1/shard.00000.mds" n,s int,str "$(le32 1)010000000000000061" "$(le32 2)02000000000000006263"
	craft "$1/shard.00001.mds" n,s int,str "$(le32 1)030000000000000061"
	shard-index create -q "$1"
	python3 - "$1" <<'PY'
import json, sys
d = sys.argv[1]
b = open(d + '/shard.00001.mds', 'rb').read()[:-3]
open(d + '/shard.00001.mds', 'wb').write(b)
ix = json.load(open(d + '/index.json'))
e = ix['shards'][1]
e['samples'], e['hashes'], e['raw_data']['bytes'], e['raw_data']['hashes'] = 0, [], len(b), {}
json.dump(ix, open(d + '/index.json', 'w'), sort_keys=True)
PY
}

# unknown_codec DIR: a copy of the golden dataset whose index.json names a compression no program knows
unknown_codec() {
	cp -r "$REF" "$1" && chmod -R u+w "$1"
	sed -i 's/"compression": "zstd"/"compression": "lz9"/' "$1/index.json"
}

# traced LOG CMD ARG...: CMD under strace, its fsync, fdatasync and rename
# calls (with the paths of descriptors) in LOG; a sanitized build's leak
# check, which cannot run under ptrace, is left to the untraced runs
traced() {
	local log=$1
	shift
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -y -qq -e trace=fsync,fdatasync,rename,renameat,renameat2 -e signal=none -o "$log" "$@"
}

# synced LOG DIR: in strace LOG, every shard file of DIR's index.json that is
# there, and every directory holding one, was flushed before index.json was
# renamed into place, and index.json before and DIR after that rename
synced() {
	python3 - "$@" <<'PY'
import json, os, re, sys
log, d = sys.argv[1], os.path.realpath(sys.argv[2])
lines = open(log).read().splitlines()
flushed = lambda ls: {m.group(1) for l in ls for m in [re.search(r'f(?:data)?sync\(\d+<([^>]*)>\)\s*= 0', l)] if m}
renamed = [(i, re.search(r'"([^"]*index\.json)"\)\s*= 0', l)) for i, l in enumerate(lines)
           if re.search(r'rename\w*\(.*"[^"]*index\.json\.tmp\.\d+", .*"[^"]*index\.json"\)\s*= 0', l)]
at = [i for i, m in renamed if os.path.realpath(m.group(1)) == os.path.join(d, 'index.json')]
if len(at) != 1:
    sys.exit('index.json renamed %d times' % len(at))
before, after = flushed(lines[:at[0]]), flushed(lines[at[0] + 1:])
want = {d}
for e in json.load(open(os.path.join(d, 'index.json')))['shards']:
    for f in (e['raw_data'], e['zip_data']):
        p = f and os.path.join(d, f['basename'])
        if p and os.path.exists(p):
            want |= {p, os.path.dirname(p)}
missing = sorted(want - before)
if not any(re.match(re.escape(d) + r'/index\.json\.tmp\.\d+$', p) for p in before):
    missing.append('index.json.tmp')
if d not in after:
    missing.append(d + ' after the rename')
if missing:
    sys.exit('not flushed: ' + ', '.join(missing))
PY
}

# unsynced LOG: no fsync or fdatasync at all in strace LOG
unsynced() { ! grep -E 'f(data)?sync\(' "$1"; }

# moto_start: moto's S3 server (SHARDKIT_PYTHON's) on a free port of
# 127.0.0.1, exported as PORT; after three unauthenticated actions (creating
# a user and its key, tests/remote/s3-upload.py) every request must carry a
# valid signature of a key the server knows. Its log (a line per request) is
# $BATS_FILE_TMPDIR/moto.log; moto_stop ends it.
moto_start() {
	local d=$BATS_FILE_TMPDIR
	export PORT
	PORT=$(free_port)
	INITIAL_NO_AUTH_ACTION_COUNT=3 "$SHARDKIT_PYTHON" -m moto.server -H 127.0.0.1 -p "$PORT" > "$d/moto.log" 2>&1 3>&- &
	echo $! > "$d/moto.pid"
	wait_port "$PORT" 60 || { cat "$d/moto.log"; false; }
}
moto_stop() { [ ! -f "$BATS_FILE_TMPDIR/moto.pid" ] || kill "$(cat "$BATS_FILE_TMPDIR/moto.pid")" 2>/dev/null || true; }
