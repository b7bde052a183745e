/* The MDS shard container: validating a raw shard's header and offsets, and
 * locating samples in it. Layout in shard-mds(5). */
#include "config.h"

#include <string.h>

#include "shard.h"
#include "internal.h"

int shard_mds_parse(struct shard_mds *m, const uint8_t *data, size_t size, struct shard_error *err)
{
	uint64_t n, hdr, prev, i;

	memset(m, 0, sizeof *m);
	if (size < 8)
		return shard_error_set(err, SHARD_EDATA, "shard of %zu bytes is too short for an MDS header", size);
	n = rd32(data);
	hdr = 4 + 4 * (n + 1);
	if (hdr > size)
		return shard_error_set(err, SHARD_EDATA,
				       "header claims %llu samples, but the offsets would run past the end (%zu bytes)",
				       (unsigned long long)n, size);
	prev = rd32(data + 4);
	if (prev < hdr)
		return shard_error_set(err, SHARD_EDATA, "first offset %llu points inside the header (%llu bytes)",
				       (unsigned long long)prev, (unsigned long long)hdr);
	if (prev > size)
		return shard_error_set(err, SHARD_EDATA, "first offset %llu is past the end of the shard (%zu bytes)",
				       (unsigned long long)prev, size);
	for (i = 1; i <= n; i++) {
		uint64_t o = rd32(data + 4 + 4 * i);
		if (o < prev)
			return shard_error_set(err, SHARD_EDATA,
					       "sample %llu: offset %llu is before the previous offset %llu",
					       (unsigned long long)(i - 1), (unsigned long long)o,
					       (unsigned long long)prev);
		if (o > size)
			return shard_error_set(err, SHARD_EDATA,
					       "sample %llu: offset %llu is past the end of the shard (%zu bytes)",
					       (unsigned long long)(i - 1), (unsigned long long)o, size);
		prev = o;
	}
	if (prev != size)
		return shard_error_set(err, SHARD_EDATA,
				       "last offset %llu does not match the shard size %zu (truncated or padded)",
				       (unsigned long long)prev, size);
	m->data = data;
	m->size = size;
	m->nsamples = (uint32_t)n;
	return 0;
}

void shard_mds_sample(const struct shard_mds *m, uint32_t i, const uint8_t **p, size_t *n)
{
	uint32_t a = rd32(m->data + 4 + 4 * (size_t)i), b = rd32(m->data + 8 + 4 * (size_t)i);
	*p = m->data + a;
	*n = b - a;
}

void shard_mds_config(const struct shard_mds *m, const uint8_t **p, size_t *n)
{
	size_t hdr = 4 + 4 * ((size_t)m->nsamples + 1);
	*p = m->data + hdr;
	*n = rd32(m->data + 4) - hdr;
}
