#!/usr/bin/env bash
# One run of every benchmark (convert.sh, shuffle.sh, cat.sh, gpu.sh), one after the
# other on one machine, into one results file: the machine, the date, the build and the
# load first, then each script's output verbatim, then every figure the docs quote with
# what it compares (bench/figures.py). Beside it, the same as JSON (every measurement the
# scripts recorded), from which bench/figures.py --docs prints the docs' figure text.
#
#   SHARDKIT_BUILD=build SHARDKIT_PYTHON=/path/to/venv/bin/python bench/all.sh
#
# SIZE        millions of CSV rows (default 10: a 2 GB export, and the 10-million-sample
#             datasets convert.sh, shuffle.sh and gpu.sh make from it); cat.sh's dataset,
#             written by MDSWriter, is SIZE * 51.2 MiB of samples (512 MiB at 10).
#             Fractions work (SIZE=0.2 for a quick trial).
# BENCH_RESULTS  the results file (default bench/results/YYYY-MM-DD.txt, -HHMM added if
#             that exists); the JSON is the same name with .json.
# SHARDKIT_BENCH_DIR  the data cache (default /tmp/shardkit-bench), kept between runs.
#
# StreamingDataset is timed on subsets and scaled (see bench/README.md): 50,000 and
# 250,000 samples in cat.sh, 300,000 in shuffle.sh, 500,000 in gpu.sh at SIZE 10 and
# above, in proportion below (at least 1,000).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
size=${SIZE:-10}
rows=$(awk -v s="$size" 'BEGIN { printf "%d", s * 1000000 }')
mb=$(awk -v s="$size" 'BEGIN { m = int(s * 51.2 + 0.5); print m < 1 ? 1 : m }')
[ "$rows" -ge 1000 ] || { echo "bench/all.sh: SIZE=$size is too small (at least 0.001)" >&2; exit 2; }
build=$(cd "${SHARDKIT_BUILD:-$top/build}" && pwd)
py=${SHARDKIT_PYTHON:-python3}
export SHARDKIT_BUILD=$build SHARDKIT_PYTHON=$py BENCH_ROWS=$rows
subset() {	# N: the StreamingDataset subset of N samples at SIZE 10, in proportion below
	awk -v s="$size" -v n="$1" 'BEGIN { f = s < 10 ? s / 10 : 1; v = int(n * f); print v < 1000 ? 1000 : v }'
}

mkdir -p "$top/bench/results"
out=${BENCH_RESULTS:-$top/bench/results/$(date -u +%F).txt}
[ -n "${BENCH_RESULTS:-}" ] || [ ! -e "$out" ] || out=${out%.txt}-$(date -u +%H%M).txt
json=${out%.txt}.json
. "$top/bench/record.sh"
record=$(mktemp)
export BENCH_RECORD=$record
trap 'rm -f "$record" "$record.times"' EXIT

# busy and total jiffies of all CPUs (steal counted busy: the host took it)
cpu_jiffies() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }
others() {	# the processes using 5 % of a CPU or more over one second, by name
	python3 - <<'PY'
import os, time
def ticks():
    t = {}
    for p in os.listdir('/proc'):
        try:
            s = open(f'/proc/{p}/stat').read()
        except (OSError, ValueError):
            continue
        if p.isdigit():
            f = s[s.rindex(')') + 2:].split()
            t[p] = (s[s.index('(') + 1:s.rindex(')')], int(f[11]) + int(f[12]))
    return t
a = ticks()
time.sleep(1)
b = ticks()
hz = os.sysconf('SC_CLK_TCK')
use = sorted(((v[1] - a[p][1]) / hz, v[0]) for p, v in b.items() if p in a)
print(', '.join(f'{n} {100 * u:.0f}%' for u, n in reversed(use) if u >= 0.05) or 'none')
PY
}
step() {	# name: the load before a step, into the results and the record
	echo "== $1: $(date -u +%T), load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out"
	record "load.$1" "$(cut -d' ' -f1 /proc/loadavg)"
}

start=$(date -u +%s)
read -r busy0 total0 < <(cpu_jiffies)
{
	echo "shardkit benchmarks, bench/all.sh, one run"
	echo "date: $(date -u '+%F %T UTC')"
	echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs usable of $(nproc --all)," \
		"$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) memory, kernel $(uname -r)"
	echo "build: $build ($("$build/shard-convert" --version | head -n 1)); bench scripts at $(git -C "$top" log -1 --format='%h %cs' 2>/dev/null || echo unknown)"
	echo "python: $("$py" -c 'import sys, streaming, torch; print(sys.version.split()[0], "mosaicml-streaming", streaming.__version__, "torch", torch.__version__)' 2>/dev/null || echo "$py (no streaming)")"
	echo "sizes: SIZE=$size: $rows CSV rows (convert.sh, shuffle.sh, gpu.sh), $mb MiB of MDSWriter samples (cat.sh);" \
		"StreamingDataset subsets: $(subset 50000) and $(subset 250000) (cat.sh), $(subset 300000) (shuffle.sh), $(subset 500000) (gpu.sh)"
	echo "load before: load average $(cut -d' ' -f1-3 /proc/loadavg); processes above 5% CPU: $(others)"
	echo
} | tee "$out"
record size "$size"
record rows "$rows"
record cat_mb "$mb"

step convert
"$top/bench/convert.sh" 2>&1 | tee -a "$out"
step shuffle
BENCH_PY_SAMPLES=$(subset 300000) "$top/bench/shuffle.sh" 2>&1 | tee -a "$out"
step cat
BENCH_MB=$mb BENCH_PY_SAMPLES=$(subset 50000) BENCH_PY_TUNED_SAMPLES=$(subset 250000) "$top/bench/cat.sh" 2>&1 | tee -a "$out"
step gpu
BENCH_PY_SAMPLES=$(subset 500000) "$top/bench/gpu.sh" 2>&1 | tee -a "$out"

read -r busy1 total1 < <(cpu_jiffies)
secs=$(( $(date -u +%s) - start ))
# CPU time of this run's processes (the shell's children, from times, which must run
# in this shell) against all the machine's busy CPU time meanwhile
times >"$record.times"
ours=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.0f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$record.times")
read -r busy_pct other < <(awk -v b=$((busy1 - busy0)) -v t=$((total1 - total0)) -v hz="$(getconf CLK_TCK)" -v o="$ours" \
	'BEGIN { v = b / hz - o; printf "%.1f %.0f\n", 100 * b / t, (v > 0 ? v : 0) }')
{
	echo
	echo "load after: load average $(cut -d' ' -f1-3 /proc/loadavg); processes above 5% CPU: $(others)"
	echo "the run took $secs s; the CPUs were busy $busy_pct % of it: $ours CPU-s by this run, $other CPU-s by other work"
} | tee -a "$out"
record run.s "$secs"
record run.busy_pct "$busy_pct"
record run.other_cpu_s "$other"

python3 - "$record" "$json" "$out" <<'PY'
import json, sys
rec, path, txt = sys.argv[1:]
head = {}
for line in open(txt):
    if not line.strip():
        break
    k, _, v = line.partition(': ')
    if v:
        head[k] = v.strip()
values = {}
for line in open(rec):
    k, v = line.rstrip('\n').split('\t', 1)
    try:
        v = int(v)
    except ValueError:
        try:
            v = float(v)
        except ValueError:
            pass
    values[k] = v
json.dump({'results': txt.rsplit('/', 1)[-1], **head, 'records': values}, open(path, 'w'), indent=1, sort_keys=True)
PY
echo | tee -a "$out"
python3 "$top/bench/figures.py" "$json" | tee -a "$out"
echo "results: $out and $json"
