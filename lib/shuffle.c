/* Deterministic randomness for shuffles: xoshiro256** (Blackman and Vigna),
 * seeded through SplitMix64 from (seed, epoch), unbiased bounded integers
 * (Lemire's method with rejection) and Fisher-Yates. The same seed and epoch
 * give the same stream on every machine and build; see shard-shuffle(1). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "shard.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void shard_rng_seed(struct shard_rng *r, uint64_t seed, uint64_t epoch)
{
	/* each epoch's stream starts from its own SplitMix64 state, so epochs are
	 * independent streams rather than offsets into one */
	uint64_t x = seed, y;
	int i;
	y = splitmix64(&x) ^ (epoch * 0xD1B54A32D192ED03ull);
	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&y);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t shard_rng_next(struct shard_rng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

uint64_t shard_rng_below(struct shard_rng *r, uint64_t n)
{
	unsigned __int128 m;
	uint64_t lo;
	if (n <= 1)
		return 0;
	m = (unsigned __int128)shard_rng_next(r) * n;
	lo = (uint64_t)m;
	if (lo < n) {
		uint64_t t = -n % n;	/* 2^64 mod n */
		while (lo < t) {
			m = (unsigned __int128)shard_rng_next(r) * n;
			lo = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

void shard_permute(struct shard_rng *r, uint64_t *a, size_t n)
{
	size_t i;
	for (i = n; i > 1; i--) {
		size_t j = (size_t)shard_rng_below(r, i);
		uint64_t t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

uint64_t *shard_deal(const uint64_t *perm, uint64_t n, uint64_t rank, uint64_t world, uint64_t batch, int pad,
		     uint64_t skip, uint64_t *count)
{
	uint64_t len, k, *out;

	/* This rank's share, position by position: p = rank + kW by sample; by
	 * batch, its k/B-th batch (batch rank + (k/B)W of the epoch) at k mod B.
	 * Only the share is walked, and no product may wrap: a batch times the
	 * world past 2^64 holds no whole round (padded, one round covers all). */
	if (!batch) {
		len = n / world + (rank < n % world);
	} else {
		uint64_t rounds;
		if (batch > UINT64_MAX / world)
			rounds = pad && n;
		else
			rounds = n / (batch * world) + (pad && n % (batch * world));
		if (rounds > UINT64_MAX / batch)
			return NULL;
		len = rounds * batch;
	}
	if (skip > len)
		skip = len;
	if (len - skip >= SIZE_MAX / sizeof *out)
		return NULL;
	out = malloc((size_t)(len - skip + 1) * sizeof *out);
	if (!out)
		return NULL;
	for (k = skip; k < len; k++) {
		unsigned __int128 p = batch ? ((unsigned __int128)(k / batch) * world + rank) * batch + k % batch
					    : (unsigned __int128)k * world + rank;
		out[k - skip] = perm[(uint64_t)(p % n)];
	}
	*count = len - skip;
	return out;
}
