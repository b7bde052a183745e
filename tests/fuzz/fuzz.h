/* The fuzz targets, one per decoder of untrusted bytes and per round trip
 * whose properties must hold whatever the input. */
#ifndef SHARD_FUZZ_H
#define SHARD_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
int fuzz_mds(const uint8_t *data, size_t size);
int fuzz_index(const uint8_t *data, size_t size);
int fuzz_stream(const uint8_t *data, size_t size);
int fuzz_stream_raw(const uint8_t *data, size_t size);
int fuzz_csv(const uint8_t *data, size_t size);
int fuzz_tz(const uint8_t *data, size_t size);
int fuzz_codec(const uint8_t *data, size_t size);
int fuzz_codec_rt(const uint8_t *data, size_t size);
int fuzz_writer(const uint8_t *data, size_t size);
int fuzz_shuffle(const uint8_t *data, size_t size);
int fuzz_remote(const uint8_t *data, size_t size);

/* A property broken: say which, and crash so the fuzzer keeps the input. */
#define FUZZ_FAIL(...)                        \
	do {                                  \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr);          \
		abort();                      \
	} while (0)

/* Parameters taken from the front of an input, zeros once it runs out. */
struct fuzz_in {
	const uint8_t *p;
	size_t n, i;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	return in->i < in->n ? in->p[in->i++] : 0;
}

static inline uint64_t fuzz_u64(struct fuzz_in *in, int bytes)
{
	uint64_t v = 0;
	int k;
	for (k = 0; k < bytes; k++)
		v |= (uint64_t)fuzz_u8(in) << (8 * k);
	return v;
}

static inline size_t fuzz_left(const struct fuzz_in *in)
{
	return in->n - in->i;
}
#endif
