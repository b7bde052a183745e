"""Prints the bench/cat.sh results table.

usage: report.py RESULTS_TSV RAW_BYTES SAMPLES

RESULTS_TSV has one row per run: key, label, seconds, peak RSS in KiB, note mark.
Key 'zstd' is the zstd -dc baseline and key 'sd' StreamingDataset as configured;
'speed vs X' is X's seconds over the row's seconds (above 1: faster than X).
"""
import sys


def num(x):
    """Three significant digits, no exponent."""
    if x >= 100:
        return '%.0f' % x
    digits = 2
    while digits < 6 and x < 10 ** (2 - digits):
        digits += 1
    return '%.*f' % (digits - (1 if x >= 10 else 0), x)


def main():
    path, raw_bytes, samples = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rows = []
    with open(path) as f:
        for line in f:
            key, label, secs, rss_kb, mark = line.rstrip('\n').split('\t')
            rows.append((key, label, float(secs), int(rss_kb), mark))
    ref = {key: secs for key, _, secs, _, _ in rows}
    head = ('tool', 'seconds', 'MiB/s', 'samples/s', 'peak RSS MiB', 'speed vs SD',
            'speed vs zstd -dc')
    body = []
    for key, label, secs, rss_kb, mark in rows:
        s = max(secs, 0.005)  # /usr/bin/time has 10 ms resolution
        body.append((label, '%.2f%s' % (secs, mark), num(raw_bytes / 2**20 / s),
                     '%.0f' % (samples / s), '%.1f' % (rss_kb / 1024),
                     num(ref['sd'] / s) + 'x' if 'sd' in ref else '-',
                     num(ref['zstd'] / s) + 'x' if 'zstd' in ref else '-'))
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]

    def fmt(r):
        return '  '.join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(r, widths)))

    print(fmt(head))
    print('  '.join('-' * w for w in widths))
    for r in body:
        print(fmt(r))


if __name__ == '__main__':
    main()
