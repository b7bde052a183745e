/* The CPU backend of shard-gpu-bench: the same pipeline as CUDA's, into
 * ordinary memory. The device's work on a submitted slot: copy its region
 * into memory of its own (the "device" buffers) and checksum the columns
 * there, slots in the order submitted. On a machine with CPUs to spare a
 * copy thread does it; a caller that waits for a slot the thread has not
 * started does the queue up to it itself, since waiting for the scheduler
 * to run the thread again would stall the batching for a time slice. With
 * two CPUs or fewer the shard readers and the batching already use them
 * all, and a copy thread only competes with them (measured: 36-39 against
 * 42-43 million samples/s on two CPUs), so there the waiting caller does
 * every slot: still after the batching has moved on to the next ones. */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "cli.h"
#include "gpu.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_AVX2_PATH 1
/* Eight words a step in AVX2, the even and odd words' products in two
 * accumulators, so no step waits on the one before. Returns the words done,
 * their sum in *s; weights must fit in 32 bits (the caller checks). */
__attribute__((target("avx2"))) static size_t checksum_avx2(const uint8_t *b, size_t words, uint64_t *s)
{
	__m256i ae = _mm256_setzero_si256(), ao = _mm256_setzero_si256();
	__m256i we = _mm256_set_epi64x(13, 9, 5, 1), wo = _mm256_set_epi64x(15, 11, 7, 3);
	const __m256i step = _mm256_set1_epi64x(16);
	size_t i = 0;
	for (; i + 8 <= words; i += 8) {
		__m256i v = _mm256_loadu_si256((const __m256i *)(b + 4 * i));
		ae = _mm256_add_epi64(ae, _mm256_mul_epu32(v, we));
		ao = _mm256_add_epi64(ao, _mm256_mul_epu32(_mm256_srli_epi64(v, 32), wo));
		we = _mm256_add_epi64(we, step);
		wo = _mm256_add_epi64(wo, step);
	}
	uint64_t lanes[4];
	_mm256_storeu_si256((__m256i *)lanes, _mm256_add_epi64(ae, ao));
	*s = lanes[0] + lanes[1] + lanes[2] + lanes[3];
	return i;
}
#endif

int gpu_use_avx2;

uint64_t gpu_checksum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t s0 = 0, s1 = 0, j = 0;
	size_t words = n / 4, i = 0;
	/* the vector paths multiply 32 x 32 -> 64 bits: weights below 2^32 */
	int narrow = words < ((size_t)1 << 31) - 8;
#ifdef HAVE_AVX2_PATH
	if (narrow && gpu_use_avx2) {
		i = j = checksum_avx2(b, words, &s0);
		narrow = 0;
	}
#endif
#ifdef __SSE2__
	/* four words a step: lanes 0 and 2, and 1 and 3, in two accumulators */
	if (narrow) {
		__m128i ae = _mm_setzero_si128(), ao = _mm_setzero_si128();
		__m128i we = _mm_set_epi64x(5, 1), wo = _mm_set_epi64x(7, 3);
		const __m128i step = _mm_set_epi64x(8, 8);
		uint64_t lanes[2];
		for (; i + 4 <= words; i += 4, j += 4) {
			__m128i v = _mm_loadu_si128((const __m128i *)(b + 4 * i));
			ae = _mm_add_epi64(ae, _mm_mul_epu32(v, we));
			ao = _mm_add_epi64(ao, _mm_mul_epu32(_mm_srli_epi64(v, 32), wo));
			we = _mm_add_epi64(we, step);
			wo = _mm_add_epi64(wo, step);
		}
		_mm_storeu_si128((__m128i *)lanes, _mm_add_epi64(ae, ao));
		s0 = lanes[0] + lanes[1];
	}
#endif
	/* two words a step, two sums: short dependency chains */
	for (; i + 1 < words; i += 2, j += 2) {
		uint32_t w0, w1;
		memcpy(&w0, b + 4 * i, 4);
		memcpy(&w1, b + 4 * i + 4, 4);
		s0 += (uint64_t)w0 * (2 * j + 1);
		s1 += (uint64_t)w1 * (2 * j + 3);
	}
	for (; i < words; i++, j++) {
		uint32_t w;
		memcpy(&w, b + 4 * i, 4);
		s0 += (uint64_t)w * (2 * j + 1);
	}
	return s0 + s1;
}

struct gpu_dev {
	struct gpu_config cfg;
	uint8_t **host, **dev;
	uint64_t *sums;		/* nslots * ncols */
	size_t *bytes;		/* per slot, while submitted */
	int *state;		/* 0 free, 1 submitted, 2 done */
	int *queue, qhead, qlen;
	int stop;
	unsigned long long by_waiter;	/* slots whose work their waiter did */
	double busy, copying;	/* seconds of copying and checksumming, and of copying */
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	pthread_t thread;
};

/* Copy and checksum a slot; returns the time the copy ended. */
static double copy_slot(struct gpu_dev *d, int slot)
{
	const uint8_t *src = d->host[slot];
	uint8_t *dst = d->dev[slot];
	size_t n = d->bytes[slot], nc = d->cfg.ncols;
	const struct gpu_coldesc *desc;
	uint64_t *sums = d->sums + (size_t)slot * nc;

	memcpy(dst, src, n);
	double t = cli_now();
	/* the table travelled with the batch: read it where it landed */
	desc = (const struct gpu_coldesc *)(dst + n - nc * sizeof *desc);
	for (size_t c = 0; c < nc; c++)
		sums[c] = desc[c].off + desc[c].len <= n ? gpu_checksum(dst + desc[c].off, desc[c].len) : 0;
	return t;
}

/* Spin a little (about 50 us) for *flag to become want before sleeping on
 * a condition: the slot waited for is being copied, which takes
 * microseconds, and a sleep and wake-up cost as much. Called and returns
 * with d->mu held. */
#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() ((void)0)
#endif

static void spin_then_wait(struct gpu_dev *d, const int *flag, int want, pthread_cond_t *cv)
{
	if (__atomic_load_n(flag, __ATOMIC_ACQUIRE) != want) {
		pthread_mutex_unlock(&d->mu);
		for (int i = 0; i < 2000 && __atomic_load_n(flag, __ATOMIC_ACQUIRE) != want; i++)
			cpu_relax();
		pthread_mutex_lock(&d->mu);
	}
	while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) != want && !d->stop)
		pthread_cond_wait(cv, &d->mu);
}

/* Take the oldest submitted slot off the queue and do its work, whoever
 * calls. Called and returns with d->mu held. */
static void run_next(struct gpu_dev *d)
{
	int slot = d->queue[d->qhead];
	d->qhead = (d->qhead + 1) % d->cfg.nslots;
	d->qlen--;
	pthread_mutex_unlock(&d->mu);
	double t1 = cli_now(), t2 = copy_slot(d, slot), t3 = cli_now();
	pthread_mutex_lock(&d->mu);
	d->copying += t2 - t1;
	d->busy += t3 - t1;
	__atomic_store_n(&d->state[slot], 2, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&d->done);
}

static void *copier(void *arg)
{
	struct gpu_dev *d = arg;
	pthread_mutex_lock(&d->mu);
	for (;;) {
		/* no spinning here: a slot left waiting is done by its waiter,
		 * and a spinning thread would take a CPU from the readers */
		while (!d->qlen && !d->stop)
			pthread_cond_wait(&d->work, &d->mu);
		if (!d->qlen)
			break;
		run_next(d);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

static void cpu_close(struct gpu_dev *d)
{
	if (!d)
		return;
	if (d->thread) {
		pthread_mutex_lock(&d->mu);
		d->stop = 1;
		pthread_cond_signal(&d->work);
		pthread_mutex_unlock(&d->mu);
		pthread_join(d->thread, NULL);
	}
	for (int i = 0; i < d->cfg.nslots; i++) {
		if (d->host)
			free(d->host[i]);
		if (d->dev)
			free(d->dev[i]);
	}
	free(d->host);
	free(d->dev);
	free(d->sums);
	free(d->bytes);
	free(d->state);
	free(d->queue);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->work);
	pthread_cond_destroy(&d->done);
	free(d);
}

static uint8_t *zalloc(size_t n)
{
	size_t r = (n + 4095) & ~(size_t)4095;
	uint8_t *p = aligned_alloc(4096, r ? r : 4096);
	if (p)
		memset(p, 0, r);
	return p;
}

int gpu_cpus(void)
{
	cpu_set_t set;
	long n;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

/* A copy thread on more than two CPUs; SHARDKIT_CPU_COPY_THREAD=1 or 0
 * decides instead (the tests run both ways). */
static int want_thread(void)
{
	const char *v = getenv("SHARDKIT_CPU_COPY_THREAD");
	if (v && *v)
		return strcmp(v, "0") != 0;
	return gpu_cpus() > 2;
}

static int cpu_open(struct gpu_dev **out, int index, const struct gpu_config *cfg, char *msg, size_t msglen)
{
	struct gpu_dev *d = calloc(1, sizeof *d);
	int n = cfg->nslots;
	*out = NULL;
	if (index != 0) {
		free(d);
		snprintf(msg, msglen, "device cpu:%d does not exist: the CPU backend is device 0", index);
		return GPU_NODEV;
	}
	if (!d)
		goto nomem;
	d->cfg = *cfg;
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->work, NULL);
	pthread_cond_init(&d->done, NULL);
	d->host = calloc(n, sizeof *d->host);
	d->dev = calloc(n, sizeof *d->dev);
	d->sums = calloc((size_t)n * (cfg->ncols ? cfg->ncols : 1), sizeof *d->sums);
	d->bytes = calloc(n, sizeof *d->bytes);
	d->state = calloc(n, sizeof *d->state);
	d->queue = calloc(n, sizeof *d->queue);
	if (!d->host || !d->dev || !d->sums || !d->bytes || !d->state || !d->queue)
		goto nomem;
	for (int i = 0; i < n; i++)
		if (!(d->host[i] = zalloc(cfg->slot_bytes)) || !(d->dev[i] = zalloc(cfg->slot_bytes)))
			goto nomem;
	/* without the thread the device still works: its waiters do the slots */
	if (want_thread() && pthread_create(&d->thread, NULL, copier, d))
		d->thread = 0;
	*out = d;
	return 0;
nomem:
	cpu_close(d);
	snprintf(msg, msglen, "out of memory for %d batch buffers of %zu bytes", n, cfg->slot_bytes);
	return GPU_FAIL;
}

static uint8_t *cpu_host(struct gpu_dev *d, int slot)
{
	return d->host[slot];
}

static int cpu_submit(struct gpu_dev *d, int slot, size_t bytes, char *msg, size_t msglen)
{
	(void)msg, (void)msglen;
	pthread_mutex_lock(&d->mu);
	d->bytes[slot] = bytes;
	__atomic_store_n(&d->state[slot], 1, __ATOMIC_RELEASE);
	d->queue[(d->qhead + d->qlen) % d->cfg.nslots] = slot;
	d->qlen++;
	if (d->thread)
		pthread_cond_signal(&d->work);
	pthread_mutex_unlock(&d->mu);
	return 0;
}

static int queued(const struct gpu_dev *d, int slot)
{
	for (int i = 0; i < d->qlen; i++)
		if (d->queue[(d->qhead + i) % d->cfg.nslots] == slot)
			return 1;
	return 0;
}

static int cpu_wait(struct gpu_dev *d, int slot, uint64_t *sums, char *msg, size_t msglen)
{
	(void)msg, (void)msglen;
	pthread_mutex_lock(&d->mu);
	/* slots are done in the order they were submitted: a waiter whose slot
	 * the copy thread has not started does the queue up to it */
	while (d->state[slot] == 1 && queued(d, slot)) {
		run_next(d);
		d->by_waiter++;
	}
	if (d->state[slot] == 1)
		spin_then_wait(d, &d->state[slot], 2, &d->done);
	d->state[slot] = 0;
	memcpy(sums, d->sums + (size_t)slot * d->cfg.ncols, d->cfg.ncols * sizeof *sums);
	pthread_mutex_unlock(&d->mu);
	return 0;
}

/* Best of several timed passes of memcpy over block-sized pieces of src. */
static double copy_rate(uint8_t *dst, const uint8_t *src, size_t total, size_t block)
{
	double best = 0;
	for (int rep = 0; rep < 5; rep++) {
		double t0 = cli_now();
		for (size_t off = 0; off + block <= total; off += block)
			memcpy(dst, src + off, block);	/* one device buffer, reused */
		double t = cli_now() - t0;
		double r = (double)(total / block * block) / (t > 1e-9 ? t : 1e-9);
		if (r > best)
			best = r;
	}
	return best;
}

static int cpu_peak(struct gpu_dev *d, size_t batch_block, struct gpu_peak *p, char *msg, size_t msglen)
{
	(void)d;
	size_t total = (size_t)512 << 20, big = (size_t)64 << 20;
	uint8_t *src = zalloc(total), *dst = zalloc(big);
	if (!src || !dst) {
		free(src);
		free(dst);
		snprintf(msg, msglen, "out of memory for the copy-loop buffers");
		return GPU_FAIL;
	}
	for (size_t i = 0; i < total; i += 64)
		src[i] = (uint8_t)i;
	gpu_peak_blocks(p, big, batch_block);
	/* no pinned memory here: both sources are ordinary memory */
	p->pinned_big = p->pageable_big = copy_rate(dst, src, total, big);
	p->pinned_batch = copy_rate(dst, src, total, p->batch_block);
	free(src);
	free(dst);
	return 0;
}

static void cpu_stats(struct gpu_dev *d, struct gpu_stats *s)
{
	snprintf(s->name, sizeof s->name, d->thread ? "cpu (host memory, one copy thread)"
						   : "cpu (host memory, copied by the host thread)");
	pthread_mutex_lock(&d->mu);
	s->busy = d->busy;
	s->copy_seconds = d->copying;
	s->by_host = d->by_waiter;
	pthread_mutex_unlock(&d->mu);
}

const struct gpu_backend gpu_cpu_backend = {
	.name = "cpu",
	.open = cpu_open,
	.host = cpu_host,
	.submit = cpu_submit,
	.wait = cpu_wait,
	.peak = cpu_peak,
	.stats = cpu_stats,
	.close = cpu_close,
};
