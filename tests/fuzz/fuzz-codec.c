/* Every decompressor behind its size cap, and every codec's round trip. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "fuzz.h"

static const char *const codec_names[] = {"", "zstd", "gz", "bz2", "br", "snappy"};

/* Byte 0: the codec (low bits) and how far the cap is shifted up (high bits);
 * bytes 1-2: the cap's low bits; the rest: the compressed bytes. A success
 * gives at most the cap; a failure never held more than one byte past it;
 * the same input decompresses to the same bytes under a cap of exactly its
 * length, and fails under one byte less. */
int fuzz_codec(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size, 0};
	struct shard_codec c;
	struct shard_error err;
	struct shard_buf out = {0}, again = {0};
	uint8_t sel = fuzz_u8(&in);
	uint64_t cap = fuzz_u64(&in, 2) << ((sel >> 4) % 9);
	const uint8_t *src = data + in.i;
	size_t n = fuzz_left(&in);
	int rc;

	if (shard_codec_parse(codec_names[(sel & 15) % 6], &c, &err))
		abort();
	rc = shard_decompress(&c, src, n, cap, &out, &err);
	if (out.len > cap + 1 || (rc == 0 && out.len > cap)) {
		fprintf(stderr, "%s: %zu bytes out under a cap of %llu (rc %d)\n", codec_names[c.id], out.len,
			(unsigned long long)cap, rc);
		abort();
	}
	/* (a cap of 0 refuses even empty output from the streaming codecs:
	 * their loop asks for room before it looks; so from 1 byte up) */
	if (rc == 0) {
		if (out.len && (shard_decompress(&c, src, n, out.len, &again, &err) || again.len != out.len ||
		    memcmp(again.p, out.p, out.len))) {
			fprintf(stderr, "%s: not the same %zu bytes under a cap of exactly that: %s\n",
				codec_names[c.id], out.len, err.msg);
			abort();
		}
		if (out.len && shard_decompress(&c, src, n, out.len - 1, &again, &err) == 0) {
			fprintf(stderr, "%s: %zu bytes decompressed under a cap of one less\n", codec_names[c.id],
				out.len);
			abort();
		}
	} else if (err.status == SHARD_OK || !err.msg[0]) {
		abort();
	}
	shard_buf_free(&out);
	shard_buf_free(&again);
	return 0;
}

/* Byte 0: the codec and its level; the rest is compressed and must come back
 * exactly under a cap of its length, and not under one byte less. Levels stay
 * low enough for the fuzzer's pace. */
int fuzz_codec_rt(const uint8_t *data, size_t size)
{
	static const int hi[] = {0, 9, 9, 9, 9, 0};
	struct fuzz_in in = {data, size, 0};
	struct shard_codec c;
	struct shard_error err;
	struct shard_buf z = {0}, back = {0};
	uint8_t sel = fuzz_u8(&in);
	int id = (sel & 7) % 6, level;
	char name[32];
	const uint8_t *src = data + in.i;
	size_t n = fuzz_left(&in);

	if (hi[id]) {
		level = (sel >> 3) % (hi[id] + 1);
		if (id == SHARD_CODEC_ZSTD || id == SHARD_CODEC_BZ2)
			level = level ? level : 1;
		snprintf(name, sizeof name, "%s:%d", codec_names[id], level);
	} else {
		snprintf(name, sizeof name, "%s", codec_names[id]);
	}
	if (shard_codec_parse(name, &c, &err)) {
		fprintf(stderr, "%s: %s\n", name, err.msg);
		abort();
	}
	if (shard_compress(&c, src, n, &z, &err)) {
		fprintf(stderr, "%s: compressing %zu bytes: %s\n", name, n, err.msg);
		abort();
	}
	/* (an empty input under a cap of 1: see fuzz_codec on a cap of 0) */
	if (shard_decompress(&c, z.p, z.len, n ? n : 1, &back, &err) || back.len != n || (n && memcmp(back.p, src, n))) {
		fprintf(stderr, "%s: %zu bytes came back as %zu: %s\n", name, n, back.len, err.msg);
		abort();
	}
	if (n && shard_decompress(&c, z.p, z.len, n - 1, &back, &err) == 0) {
		fprintf(stderr, "%s: %zu bytes decompressed under a cap of one less\n", name, n);
		abort();
	}
	shard_buf_free(&z);
	shard_buf_free(&back);
	return 0;
}
