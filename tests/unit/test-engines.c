/* Unit tests of the shuffling that libshard's engines share: the generator, the
 * permutations, an epoch's order and its deal to ranks. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shard.h"

#include "tap.h"

/* The shuffle's guarantees, statistically: over many seeds every element is
 * equally likely at every position (chi-square, 9 degrees of freedom, critical
 * value 27.88 at p = 0.001), and the end of an epoch is as mixed as its start
 * (Mosaic Streaming's issue #796: where tail positions draw from is uniform). */
static void test_shuffle(void)
{
	enum { N = 10, SEEDS = 50000, BIG = 1000 };
	static uint64_t count[N][N], tail[N], head[N];
	struct shard_rng r, r2;
	uint64_t a[BIG], s, i;
	double chi_worst = 0, chi_tail = 0, chi_head = 0, e;
	int p, v;

	for (s = 0; s < SEEDS; s++) {
		for (i = 0; i < N; i++)
			a[i] = i;
		shard_rng_seed(&r, s, 0);
		shard_permute(&r, a, N);
		for (p = 0; p < N; p++)
			count[p][a[p]]++;
	}
	e = (double)SEEDS / N;
	for (p = 0; p < N; p++) {
		double chi = 0;
		for (v = 0; v < N; v++)
			chi += (count[p][v] - e) * (count[p][v] - e) / e;
		if (chi > chi_worst)
			chi_worst = chi;
	}
	CHECK(chi_worst < 27.88, "position %s not uniform: chi-square %.1f >= 27.88", "distribution", chi_worst);
	/* tail and head of a 1000-sample epoch: which tenth of the input they come from */
	for (s = 0; s < 2000; s++) {
		for (i = 0; i < BIG; i++)
			a[i] = i;
		shard_rng_seed(&r, s, 1);
		shard_permute(&r, a, BIG);
		for (i = 0; i < 10; i++) {
			head[a[i] * N / BIG]++;
			tail[a[BIG - 1 - i] * N / BIG]++;
		}
	}
	e = 2000.0 * 10 / N;
	for (v = 0; v < N; v++) {
		chi_tail += (tail[v] - e) * (tail[v] - e) / e;
		chi_head += (head[v] - e) * (head[v] - e) / e;
	}
	CHECK(chi_tail < 27.88, "end of epoch not uniform: chi-square %.1f", chi_tail);
	CHECK(chi_head < 27.88, "start of epoch not uniform: chi-square %.1f", chi_head);
	/* determinism and independence of epochs */
	shard_rng_seed(&r, 42, 3);
	shard_rng_seed(&r2, 42, 3);
	CHECK(shard_rng_next(&r) == shard_rng_next(&r2), "same seed and epoch, different streams");
	shard_rng_seed(&r2, 42, 4);
	CHECK(shard_rng_next(&r) != shard_rng_next(&r2), "epochs 3 and 4 share a stream");
	/* pinned values: a change here changes every saved order and resumption point */
	shard_rng_seed(&r, 0, 0);
	CHECK(shard_rng_next(&r) == 0xfb5405f7bd79c540ull, "the generator changed (seed 0, epoch 0)");
	shard_rng_seed(&r, 7, 3);
	CHECK(shard_rng_next(&r) == 0xba124e8710dff1c2ull, "the generator changed (seed 7, epoch 3)");
	for (i = 0; i < 1000; i++)
		CHECK(shard_rng_below(&r, 7) < 7, "below out of range");
}

/* Dealing to ranks: for every world size from 1 to 64, the shares are disjoint,
 * cover the epoch and differ by at most one; with batches, whole batches, equal
 * counts, and a dropped or padded remainder. */
static void test_deal(void)
{
	enum { N = 1000 };
	static uint64_t perm[N], seen[N];
	uint64_t w, r, i, cnt, lo, hi, *share;
	for (i = 0; i < N; i++)
		perm[i] = (i * 7919) % N;	/* any permutation */
	for (w = 1; w <= 64; w++) {
		memset(seen, 0, sizeof seen);
		lo = UINT64_MAX;
		hi = 0;
		for (r = 0; r < w; r++) {
			share = shard_deal(perm, N, r, w, 0, 0, 0, &cnt);
			for (i = 0; i < cnt; i++)
				seen[share[i]]++;
			lo = cnt < lo ? cnt : lo;
			hi = cnt > hi ? cnt : hi;
			free(share);
		}
		for (i = 0; i < N; i++)
			if (seen[i] != 1)
				break;
		CHECK(i == N, "world %llu: sample %llu dealt %llu times", (unsigned long long)w, (unsigned long long)i,
		      (unsigned long long)(i < N ? seen[i] : 0));
		CHECK(hi - lo <= 1, "world %llu: shares from %llu to %llu", (unsigned long long)w, (unsigned long long)lo,
		      (unsigned long long)hi);
		/* batches of 16: equal whole-batch shares, dropped remainder, no repeats */
		memset(seen, 0, sizeof seen);
		for (r = 0; r < w; r++) {
			share = shard_deal(perm, N, r, w, 16, 0, 0, &cnt);
			CHECK(cnt == N / (16 * w) * 16, "world %llu: batch share %llu", (unsigned long long)w,
			      (unsigned long long)cnt);
			for (i = 0; i < cnt; i++)
				seen[share[i]]++;
			free(share);
		}
		for (i = 0; i < N; i++)
			CHECK(seen[i] <= 1, "world %llu: a sample dealt twice with batches", (unsigned long long)w);
		/* padded: every sample at least once, equal shares */
		memset(seen, 0, sizeof seen);
		for (r = 0; r < w; r++) {
			share = shard_deal(perm, N, r, w, 16, 1, 0, &cnt);
			CHECK(cnt == (N + 16 * w - 1) / (16 * w) * 16, "world %llu: padded share %llu", (unsigned long long)w,
			      (unsigned long long)cnt);
			for (i = 0; i < cnt; i++)
				seen[share[i]]++;
			free(share);
		}
		for (i = 0; i < N; i++)
			CHECK(seen[i] >= 1, "world %llu: padding lost a sample", (unsigned long long)w);
	}
	/* skip drops a prefix of the share */
	{
		uint64_t c1, c2, *a = shard_deal(perm, N, 2, 5, 0, 0, 0, &c1), *b = shard_deal(perm, N, 2, 5, 0, 0, 37, &c2);
		CHECK(c2 == c1 - 37 && memcmp(a + 37, b, c2 * sizeof *a) == 0, "skip is not a suffix");
		free(a);
		free(b);
	}
}

int main(void)
{
	static const struct tap_case cases[] = {
		TAP(test_shuffle),
		TAP(test_deal),
		{0},
	};
	return tap_run(cases);
}
