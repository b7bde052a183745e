/* The fuzz targets, one per decoder of untrusted bytes. */
#ifndef SHARD_FUZZ_H
#define SHARD_FUZZ_H
#include <stddef.h>
#include <stdint.h>
int fuzz_mds(const uint8_t *data, size_t size);
int fuzz_index(const uint8_t *data, size_t size);
int fuzz_stream(const uint8_t *data, size_t size);
int fuzz_csv(const uint8_t *data, size_t size);
int fuzz_tz(const uint8_t *data, size_t size);
#endif
