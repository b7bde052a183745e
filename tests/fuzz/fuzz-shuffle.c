/* The shuffle planner: an epoch's order from (seed, epoch), over a whole
 * dataset or shard by shard (shard-shuffle's --block), dealt to ranks by sample
 * or by batch, padded or not, after a skip. The order must be a permutation,
 * the same for the same parameters, and each rank's share exactly what
 * shard-shuffle(1) documents, all ranks together covering the epoch. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "fuzz.h"

#define FAIL(...) FUZZ_FAIL("shuffle: " __VA_ARGS__)

/* The epoch's order, as shard-shuffle builds it. */
static void plan(uint64_t seed, uint64_t epoch, int block, const uint64_t *first, size_t nshards, uint64_t *perm)
{
	if (shard_epoch_order(seed, epoch, block, first, nshards, perm))
		abort();
}

/* What one rank gets before the skip, as the manual words it: position p to
 * rank p mod W; with a batch B, batch j to rank j mod W, the remainder
 * dropped, or with pad the order wrapping round to fill whole batches for all. */
static unsigned __int128 share_len(uint64_t n, uint64_t rank, uint64_t world, uint64_t batch, int pad)
{
	unsigned __int128 round, rounds;
	if (!batch)
		return n / world + (rank < n % world);
	round = (unsigned __int128)batch * world;
	rounds = n / round;
	if (pad && n % round)
		rounds++;
	return rounds * batch;
}

static uint64_t share_at(const uint64_t *perm, uint64_t n, uint64_t rank, uint64_t world, uint64_t batch,
			 uint64_t j)
{
	unsigned __int128 pos;
	if (!batch)
		pos = (unsigned __int128)j * world + rank;
	else
		pos = ((unsigned __int128)(j / batch) * world + rank) * batch + j % batch;
	return perm[(uint64_t)(pos % n)];
}

/* A count: small (most inputs) or any 64-bit value. */
static uint64_t count(struct fuzz_in *in, int wide, uint64_t small)
{
	return wide ? fuzz_u64(in, 8) : fuzz_u8(in) % small;
}

int fuzz_shuffle(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size, 0};
	uint64_t seed = fuzz_u64(&in, 8), epoch = fuzz_u64(&in, 8);
	uint8_t mode = fuzz_u8(&in);
	int block = mode & 1, pad = mode >> 1 & 1;
	uint64_t world = count(&in, mode >> 2 & 1, 16), batch = count(&in, mode >> 3 & 1, 9),
		 skip = count(&in, mode >> 4 & 1, 64), rank;
	uint64_t first[65], n, i, *perm, *again, *seen, total = 0;
	size_t nshards = fuzz_u8(&in) % 65, s;

	if (world == 0)
		world = 1;
	rank = count(&in, mode >> 5 & 1, 16) % world;
	if (!batch)
		pad = 0;	/* shard-shuffle refuses --pad without --batch */
	first[0] = 0;
	for (s = 0; s < nshards; s++)
		first[s + 1] = first[s] + fuzz_u8(&in) * (mode & 0x40 ? 16 : 1);
	n = first[nshards];
	perm = malloc((n + 1) * sizeof *perm);
	again = malloc((n + 1) * sizeof *again);
	seen = calloc(n + 1, sizeof *seen);
	if (!perm || !again || !seen)
		abort();

	/* a permutation, the same every time */
	plan(seed, epoch, block, first, nshards, perm);
	plan(seed, epoch, block, first, nshards, again);
	if (n && memcmp(perm, again, n * sizeof *perm))
		FAIL("two plans of seed %llu epoch %llu differ", (unsigned long long)seed, (unsigned long long)epoch);
	for (i = 0; i < n; i++) {
		if (perm[i] >= n || seen[perm[i]]++)
			FAIL("position %llu holds %llu: not a permutation of %llu", (unsigned long long)i,
			     (unsigned long long)perm[i], (unsigned long long)n);
	}
	/* --block: each shard's samples stay together */
	if (block) {
		uint64_t k = 0;
		while (k < n) {
			for (s = 0; s < nshards && !(perm[k] >= first[s] && perm[k] < first[s + 1]); s++)
				;
			for (i = 1; i < first[s + 1] - first[s]; i++)
				if (perm[k + i] < first[s] || perm[k + i] >= first[s + 1])
					FAIL("block shuffle: shard %zu's samples are split at %llu", s,
					     (unsigned long long)(k + i));
			k += first[s + 1] - first[s];
		}
	}

	/* every rank's share (or this one's alone when there are many ranks) */
	memset(seen, 0, (n + 1) * sizeof *seen);
	{
		uint64_t r0 = world <= 64 ? 0 : rank, r1 = world <= 64 ? world : rank + 1, r;
		unsigned __int128 len0 = share_len(n, 0, world, batch, pad);
		for (r = r0; r < r1; r++) {
			unsigned __int128 len = share_len(n, r, world, batch, pad);
			uint64_t got, want, j, *sh;
			if (n == 0)
				len = 0;
			if (len > (1u << 20))
				continue;	/* would not fit in memory: nothing to check */
			want = (uint64_t)len > skip ? (uint64_t)len - skip : 0;
			sh = shard_deal(perm, n, r, world, batch, pad, skip, &got);
			if (!sh && batch && batch > UINT64_MAX / 2 / world)
				continue;	/* a round past 2^63 positions: refused, as documented */
			if (!sh)
				FAIL("rank %llu of %llu: no share", (unsigned long long)r, (unsigned long long)world);
			if (got != want)
				FAIL("rank %llu of %llu, batch %llu, pad %d, skip %llu, %llu samples: %llu dealt, %llu expected",
				     (unsigned long long)r, (unsigned long long)world, (unsigned long long)batch, pad,
				     (unsigned long long)skip, (unsigned long long)n, (unsigned long long)got,
				     (unsigned long long)want);
			for (j = 0; j < got; j++)
				if (sh[j] != share_at(perm, n, r, world, batch, j + skip))
					FAIL("rank %llu of %llu: sample %llu of its share differs", (unsigned long long)r,
					     (unsigned long long)world, (unsigned long long)j);
			if (!batch ? (len + 1 < len0 || len > len0) : len != len0)
				FAIL("ranks' shares differ: %llu and %llu", (unsigned long long)len0,
				     (unsigned long long)len);
			if (skip == 0 && world <= 64) {
				for (j = 0; j < got; j++)
					seen[sh[j]]++;
				total += got;
			}
			free(sh);
		}
		/* all ranks together: the epoch exactly once (by sample), each sample
		 * at most once (by batch), at least once (padded) */
		if (skip == 0 && world <= 64 && n && share_len(n, 0, world, batch, pad) <= (1u << 20)) {
			for (i = 0; i < n; i++)
				if ((!batch && seen[i] != 1) || (batch && !pad && seen[i] > 1) || (pad && seen[i] < 1))
					FAIL("sample %llu dealt %llu times", (unsigned long long)i,
					     (unsigned long long)seen[i]);
			if (!batch && total != n)
				FAIL("%llu of %llu samples dealt", (unsigned long long)total, (unsigned long long)n);
		}
	}
	free(perm);
	free(again);
	free(seen);
	return 0;
}
