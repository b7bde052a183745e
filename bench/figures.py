"""The figures of one bench/all.sh run, each with what it compares.

usage: figures.py RESULTS.json                 every figure, one a line, with what it compares
       figures.py RESULTS.json --fill FILE...  replaces each KEY in double braces in FILE
                                               (README.md, bench/README.md) by that figure,
                                               and a line of table:SCRIPT in double braces
                                               by the script's table

RESULTS.json is what bench/all.sh writes beside its results file: the machine, the
date, the load and 'records', every measurement the scripts took (bench/record.sh).
A ratio 'A / B' is A's rate over B's (above 1: A is faster) unless it says 'costs',
which is A's seconds over B's (above 1: A takes longer).
"""
import json
import re
import statistics
import sys


def sig(x, digits=2):
    """x to DIGITS significant digits (at least), thousands separated, no exponent."""
    if x == 0:
        return '0'
    mag = len(str(int(abs(x)))) if abs(x) >= 1 else 0
    dec = max(digits - mag, 0)
    if abs(x) < 1:
        dec = digits - 1
        while dec < 8 and abs(x) < 10 ** -(dec - digits + 1):
            dec += 1
    return f'{x:,.{dec}f}'


def millions(x):
    return f'{x / 1e6:.1f} million' if x >= 1e6 else f'{x:,.0f}'


def mib(kib):
    return f'{kib / 1024:.0f} MiB'


def subset(limit, total):
    """The samples a StreamingDataset run iterated: LIMIT (0: all) of TOTAL."""
    return f'{min(limit, total) if limit else total:,} of {total:,} samples'


def figures(r):
    """(key, text, what it compares) for every figure the records allow."""
    out = []

    def add(key, text, what):
        out.append((key, text, what))

    loads = [v for k, v in r.items() if k.startswith('load.')]
    if loads and 'run.s' in r:
        add('load', f'load average {min(loads):.1f} to {max(loads):.1f}, other work '
            f'{r["run.other_cpu_s"]} CPU-s in {r["run.s"] / 60:.0f} min',
            "the machine's load: the 1-minute load average as each script started, and the CPU time "
            "of other processes during the run")

    if 'convert.s' in r:
        rows, s = r['convert.rows'], r['convert.s']
        rate = rows / s
        n = len(str(r['convert.runs_s']).split())
        add('convert.rows_per_s', millions(rate),
            f'shard-convert rows/s on {rows:,} rows, {r["convert.csv_bytes"] / 1e9:.2f} GB of CSV in 16 part '
            f'files, median of {n} runs with the default flush ({r["convert.runs_s"]} s)')
        b = r['convert.csv_bytes']
        add('convert.input', f'{b / 1e9:.1f} GB' if b >= 1e9 else f'{b / 1e6:.0f} MB', 'the CSV export converted')
        add('convert.rss', mib(r['convert.rss']), 'shard-convert peak RSS on the whole export')
        if 'convert.zstd3.s' in r:
            add('convert.vs_zstd', sig(r['convert.zstd3.s'] / s) + ' times',
                'shard-convert rows/s / zstd -3 -T1 over the same CSV bytes (one core, compressing only)')
            add('convert.vs_mdswriter', sig(rate / (r['convert.mdswriter.rows'] / r['convert.mdswriter.s'])) + ' times',
                f'shard-convert rows/s / MDSWriter fed row by row as dataframe_to_mds does '
                f'({r["convert.mdswriter.rows"]:,} rows)')
            add('convert.vs_spark', sig(rate / (r['convert.spark.rows'] / r['convert.spark.s'])) + ' times',
                f'shard-convert rows/s / dataframe_to_mds on pyspark local[2] ({r["convert.spark.rows"]:,} rows)')
            add('convert.rss_small', mib(r['convert.small_rss']),
                f'shard-convert peak RSS on {r["convert.small_bytes"] / 1e6:.0f} MB')
            add('convert.rss_quarter', mib(r['convert.quarter_rss']),
                f'shard-convert peak RSS on {r["convert.quarter_bytes"] / 1e6:.0f} MB (4 of the 16 part files)')
            add('convert.rss16', f'{mib(r["convert.size16_small_rss"])} and {mib(r["convert.size16_full_rss"])}',
                'shard-convert peak RSS with --size-limit 16MiB, on the small and the whole export')
        b, nb = r['convert.sync_best_s'], r['convert.nosync_best_s']
        add('convert.flush_cost', f'{100 * (b - nb) / nb:.0f} %',
            f'(default flush - --no-sync) / --no-sync, best of {r["convert.sync_runs"]} each: '
            f'{b:.2f} s against {nb:.2f} s')
    if 'shuffle.full.s' in r:
        rows, full = r['shuffle.rows'], r['shuffle.full.s']
        add('shuffle.rows', millions(rows), f'samples shuffled ({r["shuffle.raw_bytes"] / 1e6:.0f} MB raw, zstd)')
        add('shuffle.full_s', f'{full:.1f} s', 'shard-shuffle, full uniform shuffle in memory, seconds')
        add('shuffle.full_vs_copy', sig(full / r['shuffle.copy.s']) + ' times',
            'costs: full shuffle seconds / dataset copy seconds (shard-cat DS -o DIR; both write and flush a dataset)')
        add('shuffle.full_vs_stream', sig(full / r['shuffle.stream.s']) + ' times',
            'costs: full shuffle seconds / shard-cat DS -o - to /dev/null seconds (the shard stream, nothing decompressed)')
        add('shuffle.block_vs_copy', sig(r['shuffle.block.s'] / r['shuffle.copy.s']) + ' times',
            'costs: shard-shuffle --block seconds / dataset copy seconds (shard-cat DS -o DIR)')
        add('shuffle.windows_vs_full', sig(r['shuffle.windows.s'] / full) + ' times',
            'costs: shard-shuffle --memory 256MiB (windows on disk) seconds / in-memory full shuffle seconds')
        add('shuffle.rss', f'{mib(r["shuffle.full.rss"])} and {mib(r["shuffle.windows.rss"])}',
            'peak RSS of the full shuffle in memory and through 256 MiB windows')
        if 'shuffle.sd.s' in r:
            add('shuffle.vs_sd', sig(r['shuffle.sd.s'] / full) + ' times',
                f'full shuffle speed / StreamingDataset(shuffle=True, predownload=1000) speed over an epoch '
                f'(its time iterating {subset(r["shuffle.sd.samples"], rows)}, scaled)')
    if 'cat.csv.s' in r:
        n, csv = r['cat.samples'], r['cat.csv.s']
        add('cat.samples', millions(n), f'samples in cat.sh\'s MDSWriter dataset ({r["cat.shards"]} shards, '
            f'{r["cat.raw_bytes"] / 2**20:.0f} MiB raw)')
        add('cat.csv_sps', sig(n / csv / 1000, 3) + 'k', 'shard-cat --format csv samples/s (text out, every hash checked)')
        add('cat.jsonl_sps', sig(n / r['cat.jsonl.s'] / 1000, 3) + 'k', 'shard-cat (JSON Lines) samples/s')
        add('cat.csv_vs_zstd', sig(csv / r['cat.zstd.s']) + ' times',
            'costs: shard-cat --format csv seconds / zstd -dc of the same shards seconds')
        add('cat.stream_vs_zstd', sig(r['cat.zstd.s'] / r['cat.stream.s']) + ' times',
            'shard-cat -o - (stream, nothing inflated) speed / zstd -dc speed on the same shards')
        if 'cat.sd.s' in r:
            add('cat.vs_sd', sig(r['cat.sd.s'] / csv) + ' times',
                'shard-cat --format csv speed / StreamingDataset(batch_size=1) iteration, default predownload '
                f'({subset(r["cat.sd.samples"], n)}, scaled)')
            pd = sorted((r['cat.sd-pd-warm.s'] / csv, r['cat.sd-pd.s'] / csv))
            add('cat.vs_sd_pd', f'{sig(pd[0])} to {sig(pd[1])} times',
                'shard-cat --format csv speed / StreamingDataset with predownload=1000, its warm and cold runs '
                f'({subset(r["cat.sd-pd.samples"], n)}, scaled)')
        add('cat.rss', f'{mib(r["cat.csv.rss"])} on {r["cat.shards"]} shard(s), {mib(r["cat.small.rss"])} on '
            f'{r["cat.small.shards"]}', 'shard-cat --format csv peak RSS on the dataset and on its first eighth')
    if 'gpu.cpu-none.sps' in r:
        big = r['gpu.memcpy.big_Bps'] / 88
        src = r['gpu.memcpy.big_source']
        add('gpu.none_sps', millions(r['gpu.cpu-none.sps']),
            'shard-gpu-bench --device cpu samples/s, uncompressed shards, every hash checked')
        add('gpu.none_vs_memcpy', f'{r["gpu.cpu-none.sps"] / big:.2f}',
            f'shard-gpu-bench --device cpu (uncompressed, hashes checked) bytes/s / memcpy of the same bytes '
            f'in 64 MiB blocks ({src}, {r["gpu.memcpy.big_Bps"] / 1e9:.2f} GB/s)')
        add('gpu.none_noverify_vs_memcpy', f'{r["gpu.cpu-none-noverify.sps"] / big:.2f}',
            'the same with --no-verify / memcpy in 64 MiB blocks')
        add('gpu.zstd_sps', millions(r['gpu.cpu-zstd.sps']),
            'shard-gpu-bench --device cpu samples/s, zstd shards, every hash checked')
        add('gpu.zstd_vs_memcpy', f'{r["gpu.cpu-zstd.sps"] / big:.2f}',
            'shard-gpu-bench --device cpu (zstd) bytes/s / memcpy in 64 MiB blocks')
        add('gpu.zstd_d_vs_memcpy', f'{r["gpu.zstd-d.sps"] / big:.2f}',
            'zstd -dc of the zstd shards (one core) bytes/s / memcpy in 64 MiB blocks')
        if 'gpu.sd-w0.sps' in r:
            c = [r[k] for k in ('gpu.cpu-zstd.sps', 'gpu.cpu-none.sps')]
            s = [r[k] for k in ('gpu.sd-w0.sps', 'gpu.sd-w2.sps')]
            add('gpu.vs_sd', f'{sig(min(c) / max(s))} to {sig(max(c) / min(s))} times',
                'shard-gpu-bench --device cpu samples/s (zstd to uncompressed) / StreamingDataset + DataLoader '
                f'(2 and 0 workers; {subset(r["gpu.sd.samples"], r["gpu.rows"])}, scaled)')
            add('gpu.zstd_vs_sd', f'{sig(r["gpu.cpu-zstd.sps"] / r["gpu.sd-w0.sps"])} and '
                f'{sig(r["gpu.cpu-zstd.sps"] / r["gpu.sd-w2.sps"])} times',
                'shard-gpu-bench --device cpu (zstd) samples/s / StreamingDataset + DataLoader, 0 and 2 workers')
            p = [r[k] for k in ('gpu.py-stream-zstd.sps', 'gpu.py-stream-none.sps')]
            add('gpu.py_stream_sps', f'{millions(min(p))} to {millions(max(p))}',
                'examples/shardstream.py over shard-cat -o - samples/s (zstd, uncompressed)')
        add('gpu.rss', f'{mib(r["gpu.head.rss"])} on {r["gpu.head.samples"]:,} samples, '
            f'{mib(r["gpu.cpu-zstd.rss"])} on {r["gpu.rows"]:,}', 'shard-gpu-bench --device cpu peak RSS (zstd)')
    return out


def table(r, script):
    """A compact table of SCRIPT's runs: seconds, rate, peak RSS."""
    rows = []

    def timed(prefix, n, runs):  # seconds, samples/s and peak RSS of each run recorded
        for k, label in runs:
            if f'{prefix}.{k}.s' in r:
                s = r[f'{prefix}.{k}.s']
                rows.append((label, f'{s:.2f}', f'{n / s:,.0f}', f'{r[f"{prefix}.{k}.rss"] / 1024:.0f}'))
        return ('', 'seconds', 'samples/s', 'peak RSS MiB')

    if script == 'shuffle':
        head = timed('shuffle', r['shuffle.rows'], (
            ('stream', 'shard-cat DS -o - (stream to /dev/null)'),
            ('copy', 'shard-cat DS -o DIR (dataset copy)'),
            ('pipe', 'shard-cat -o - | shard-cat - -o DIR'),
            ('full', 'shard-shuffle (full, in memory)'),
            ('windows', 'shard-shuffle --memory 256MiB (windows)'),
            ('block', 'shard-shuffle --block'),
            ('sd', 'StreamingDataset(shuffle=True) *')))
    elif script == 'cat':
        head = timed('cat', r['cat.samples'], (
            ('zstd', 'zstd -dc shard.*.mds.zstd'), ('csv', 'shard-cat --format csv'),
            ('stream', 'shard-cat -o - (stream)'), ('jsonl', 'shard-cat (jsonl)'),
            ('sd', 'StreamingDataset (batch_size=1) *'),
            ('sd-pd', 'StreamingDataset (predownload=1000) *'),
            ('sd-pd-warm', 'StreamingDataset (predownload=1000), warm *')))
    elif script == 'convert':
        n = r['convert.rows']
        rows.append(('shard-convert', f'{n / r["convert.s"]:,.0f}', f'{r["convert.rss"] / 1024:.0f}'))
        if 'convert.zstd3.s' in r:
            zr = r.get('convert.zstd3.rss')
            rows.append(('zstd -3 -T1 (CSV bytes, one core)', f'{n / r["convert.zstd3.s"]:,.0f}',
                         f'{zr / 1024:.0f}' if zr else '-'))
            for k, label in (('mdswriter', 'MDSWriter row by row'), ('spark', 'dataframe_to_mds local[2]')):
                rows.append((f'{label} ({r[f"convert.{k}.rows"]:,} rows)',
                             f'{r[f"convert.{k}.rows"] / r[f"convert.{k}.s"]:,.0f}', f'{r[f"convert.{k}.rss"] / 1024:.0f}'))
        head = ('', 'rows/s', 'peak RSS MiB')
    elif script == 'gpu':
        big = r['gpu.memcpy.big_Bps'] / 88
        for k, label in (('cpu-zstd', 'shard-gpu-bench --device cpu (zstd)'),
                         ('cpu-zstd-noverify', '  the same, --no-verify'),
                         ('cpu-none', 'shard-gpu-bench --device cpu (none)'),
                         ('cpu-none-noverify', '  the same, --no-verify'),
                         ('cuda-zstd', 'shard-gpu-bench --device cuda (zstd)'),
                         ('cuda-none', 'shard-gpu-bench --device cuda (none)'),
                         ('py-stream-zstd', 'shardstream.py over a pipe (zstd)'),
                         ('py-stream-none', 'shardstream.py over a pipe (none)'),
                         ('sd-w0', 'StreamingDataset+DataLoader, 0 workers *'),
                         ('sd-w2', 'StreamingDataset+DataLoader, 2 workers *'),
                         ('zstd-d', 'zstd -dc of the zstd shards (one core)')):
            if f'gpu.{k}.sps' in r:
                v = r[f'gpu.{k}.sps']
                rss = r.get(f'gpu.{k}.rss')
                rows.append((label, f'{v:,.0f}', f'{rss / 1024:.0f}' if rss else '-', f'{v / big:.2f}'))
        rows.append((f'memcpy, 64 MiB blocks ({r["gpu.memcpy.big_source"]})', f'{big:,.0f}', '-', '1.00'))
        head = ('', 'samples/s', 'peak RSS MiB', '/ memcpy')
    else:
        raise SystemExit(f'figures.py: no table for {script}')
    widths = [max(len(x[i]) for x in [head] + rows) for i in range(len(head))]
    return ['  '.join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(x, widths))).rstrip()
            for x in [head] + rows]


def main():
    path = sys.argv[1]
    res = json.load(open(path))
    r = res['records']
    figs = figures(r)
    if len(sys.argv) > 2 and sys.argv[2] == '--fill':
        known = {k: t for k, t, _ in figs}
        known['results'] = 'bench/results/' + res['results']
        known['date'] = res['date'].split()[0]
        known['machine'] = res['machine']
        known['size'] = str(r['size'])
        for f in sys.argv[3:]:
            text = open(f).read()
            missing = sorted(set(k for k in re.findall(r'\{\{([^}:]+)\}\}', text) if k not in known))
            if missing:
                raise SystemExit(f'figures.py: {f}: no figure for ' + ', '.join(missing))
            text = re.sub(r'^( *)\{\{table:(\w+)\}\}$',
                          lambda m: '\n'.join(m.group(1) + x for x in table(r, m.group(2))), text, flags=re.M)
            text = re.sub(r'\{\{([^}]+)\}\}', lambda m: known[m.group(1)], text)
            open(f, 'w').write(text)
        return
    print(f'figures ({res["results"]}; "costs": seconds over seconds, above 1 takes longer; '
          f'otherwise speed over speed, above 1 is faster):')
    for key, text, what in figs:
        print(f'  {key:28s} {text:24s} {what}')
    if 'convert.runs_s' in r:
        runs = [float(x) for x in str(r['convert.runs_s']).split()]
        if len(runs) > 1:
            print(f'  (shard-convert runs spread {100 * (max(runs) - min(runs)) / statistics.median(runs):.0f} % '
                  f'of their median: the noise on this machine at this load)')


if __name__ == '__main__':
    main()
