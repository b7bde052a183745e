/* The memcpy reference for bench/gpu.sh and bench/compare.sh: how fast this machine
 * copies BYTES bytes with memcpy, in blocks of 64 MiB (source and destination both
 * of min(BYTES, 512 MiB), so the copy goes through memory) and in blocks of SLOT bytes
 * into one destination slot (which stays in cache), the best of five passes each.
 *
 *   memcpy BYTES SLOT   prints 'big_bytes_per_s slot_bytes_per_s'
 *
 * memcpy is called through a volatile pointer and a byte of every destination block
 * is summed and printed to stderr, so the compiler can neither drop nor merge the copies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *(*volatile copy)(void *, const void *, size_t) = memcpy;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* best bytes/s of five passes copying TOTAL bytes of SRC (LEN bytes, read round and
 * round) in BLOCK-byte pieces to DST, which is LEN bytes or, with DST_FIXED, one block */
static double rate(char *dst, const char *src, size_t len, size_t total, size_t block, int dst_fixed,
		   unsigned long *sum)
{
	double best = 0;
	for (int pass = 0; pass < 5; pass++) {
		size_t off = 0;
		double t = now();
		for (size_t done = 0; done < total; done += block) {
			size_t n = total - done < block ? total - done : block;
			if (off + n > len)
				off = 0;
			copy(dst + (dst_fixed ? 0 : off), src + off, n);
			*sum += (unsigned char)dst[(dst_fixed ? 0 : off) + n - 1];
			off += n;
		}
		t = now() - t;
		if (t > 0 && total / t > best)
			best = total / t;
	}
	return best;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: memcpy BYTES SLOT\n");
		return 2;
	}
	size_t total = strtoull(argv[1], NULL, 10), slot = strtoull(argv[2], NULL, 10);
	size_t big = (size_t)64 << 20, len = total < ((size_t)512 << 20) ? total : (size_t)512 << 20;
	if (total == 0 || slot == 0 || slot > len) {
		fprintf(stderr, "memcpy: BYTES and SLOT must be positive, SLOT at most BYTES\n");
		return 2;
	}
	if (big > len)
		big = len;
	char *src = malloc(len), *dst = malloc(len);
	if (!src || !dst) {
		fprintf(stderr, "memcpy: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < len; i++)
		src[i] = (char)(i * 131 + 7);
	memset(dst, 1, len);
	unsigned long sum = 0;
	double r_big = rate(dst, src, len, total, big, 0, &sum);
	double r_slot = rate(dst, src, len, total, slot, 1, &sum);
	printf("%.6g %.6g\n", r_big, r_slot);
	fprintf(stderr, "memcpy: checksum %lu\n", sum);
	free(src);
	free(dst);
	return 0;
}
