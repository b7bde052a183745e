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

int shard_epoch_order(uint64_t seed, uint64_t epoch, int block, const uint64_t *first, size_t nshards,
		      uint64_t *perm)
{
	struct shard_rng rng;
	uint64_t n = first[nshards], i, k = 0, *so;
	size_t s;

	shard_rng_seed(&rng, seed, epoch);
	if (!block) {
		for (i = 0; i < n; i++)
			perm[i] = i;
		shard_permute(&rng, perm, n);
		return 0;
	}
	if (!(so = malloc((nshards + 1) * sizeof *so)))
		return SHARD_ENOMEM;
	for (s = 0; s < nshards; s++)
		so[s] = s;
	shard_permute(&rng, so, nshards);
	for (s = 0; s < nshards; s++) {
		uint64_t a = first[so[s]], b = first[so[s] + 1];
		for (i = a; i < b; i++)
			perm[k + i - a] = i;
		shard_permute(&rng, perm + k, b - a);
		k += b - a;
	}
	free(so);
	return 0;
}

int shard_dealer_init(struct shard_dealer *d, uint64_t n, uint64_t rank, uint64_t world, uint64_t batch, int pad,
		      uint64_t skip)
{
	uint64_t all;

	memset(d, 0, sizeof *d);
	if (!world || rank >= world || (batch && batch > UINT64_MAX / 2 / world))
		return SHARD_EARG;
	d->n = n;
	d->rank = rank;
	d->world = world;
	d->batch = batch;
	d->skip = skip;
	d->total = n;
	if (batch) {
		uint64_t round = batch * world;
		d->total = n / round * round;
		if (pad && n % round) {
			if (d->total > UINT64_MAX - round)
				return SHARD_EARG;
			d->total += round;
		}
	}
	all = batch ? d->total / world : n > rank ? (n - rank - 1) / world + 1 : 0;
	d->count = all > skip ? all - skip : 0;
	return 0;
}

uint64_t shard_dealer_at(const struct shard_dealer *d, uint64_t k)
{
	uint64_t q = k + d->skip, i;

	if (d->batch)
		i = ((q / d->batch) * d->world + d->rank) * d->batch + q % d->batch;
	else
		i = q * d->world + d->rank;
	return i % d->n;
}

int shard_dealer_find(const struct shard_dealer *d, uint64_t i, uint64_t *k)
{
	uint64_t q;

	if (i >= d->total)
		return 0;
	if (d->batch) {
		uint64_t j = i / d->batch;
		if (j % d->world != d->rank)
			return 0;
		q = j / d->world * d->batch + i % d->batch;
	} else {
		if (i % d->world != d->rank)
			return 0;
		q = i / d->world;
	}
	if (q < d->skip)
		return 0;
	*k = q - d->skip;
	return 1;
}

uint64_t *shard_deal(const uint64_t *perm, uint64_t n, uint64_t rank, uint64_t world, uint64_t batch, int pad,
		     uint64_t skip, uint64_t *count)
{
	struct shard_dealer d;
	uint64_t k, *out;

	if (shard_dealer_init(&d, n, rank, world, batch, pad, skip))
		return NULL;
	out = malloc((d.count + 1) * sizeof *out);
	if (!out)
		return NULL;
	for (k = 0; k < d.count; k++)
		out[k] = perm[shard_dealer_at(&d, k)];
	*count = d.count;
	return out;
}
