"""Builds raw MDS shards byte by byte (stdlib only) for the bad-input tests:
craft.py OUT.mds COLS ENCS SAMPLE_HEX...  where each sample is given as hex of its bytes."""
import json
import struct
import sys

out, names, encs = sys.argv[1], sys.argv[2].split(','), sys.argv[3].split(',')
samples = [bytes.fromhex(h) for h in sys.argv[4:]]
sizes = {'int': 8, 'int32': 4, 'float32': 4, 'float64': 8, 'uint8': 1}
config = json.dumps({'column_encodings': encs, 'column_names': names,
                     'column_sizes': [sizes.get(e) for e in encs], 'compression': None,
                     'format': 'mds', 'hashes': ['xxh64'], 'size_limit': None, 'version': 2},
                    sort_keys=True).encode()
head = 4 + 4 * (len(samples) + 1) + len(config)
offsets = [head]
for s in samples:
    offsets.append(offsets[-1] + len(s))
with open(out, 'wb') as f:
    f.write(struct.pack('<I', len(samples)))
    f.write(struct.pack('<%dI' % len(offsets), *offsets))
    f.write(config)
    for s in samples:
        f.write(s)
