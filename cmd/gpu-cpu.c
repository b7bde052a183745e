/* The CPU backend of shard-gpu-bench: the same pipeline as CUDA's, into
 * ordinary memory. The device's work on a submitted slot: copy its region
 * into memory of its own (the "device" buffers) and checksum the columns
 * there, one slot at a time. On a machine with CPUs to spare a task on the
 * program's pool does it; a caller that waits for a slot no worker has
 * started does it itself, since waiting for the scheduler to run a worker
 * would stall the batching for a time slice. With two CPUs or fewer the
 * shard readers and the batching already use them all, and a copy task only
 * competes with them (measured: 36-39 against 42-43 million samples/s on two
 * CPUs), so there the waiting caller does every slot: still after the
 * batching has moved on to the next ones. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gpu.h"
#include "shard.h"

/* A slot's device work, a task on the pool. claimed: whoever takes it first,
 * a worker or the waiter, does it. */
struct job {
	struct shard_task task;
	struct gpu_dev *d;
	int slot, claimed, submitted;
	size_t bytes;
};

struct gpu_dev {
	struct gpu_config cfg;
	uint8_t **host, **dev;
	uint64_t *sums;		/* nslots * ncols */
	struct job *jobs;	/* per slot */
	int tasks;		/* slots go to the pool, not only to their waiters */
	unsigned long long by_waiter;	/* slots whose work their waiter did */
	double busy, copying;	/* seconds of copying and checksumming, and of copying */
	pthread_mutex_t mu;	/* one slot at a time, as a device's copy engine; and the counts */
};

/* Copy and checksum a slot (with d->mu held); returns the time the copy ended. */
static double copy_slot(struct gpu_dev *d, int slot, size_t n)
{
	const uint8_t *src = d->host[slot];
	uint8_t *dst = d->dev[slot];
	size_t nc = d->cfg.ncols;
	const struct gpu_coldesc *desc;
	uint64_t *sums = d->sums + (size_t)slot * nc;

	memcpy(dst, src, n);
	double t = cli_now();
	/* the table travelled with the batch: read it where it landed */
	desc = (const struct gpu_coldesc *)(dst + n - nc * sizeof *desc);
	for (size_t c = 0; c < nc; c++)
		sums[c] = desc[c].off + desc[c].len <= n ? shard_batch_checksum(dst + desc[c].off, desc[c].len) : 0;
	return t;
}

/* Do a slot's work unless someone has: 1 when this call did it. */
static int run_job(struct job *j)
{
	struct gpu_dev *d = j->d;
	if (__atomic_exchange_n(&j->claimed, 1, __ATOMIC_ACQ_REL))
		return 0;
	pthread_mutex_lock(&d->mu);
	double t1 = cli_now(), t2 = copy_slot(d, j->slot, j->bytes), t3 = cli_now();
	d->copying += t2 - t1;
	d->busy += t3 - t1;
	pthread_mutex_unlock(&d->mu);
	return 1;
}

static void job_task(struct shard_task *t)
{
	run_job((struct job *)t);
}

static void cpu_close(struct gpu_dev *d)
{
	if (!d)
		return;
	for (int i = 0; d->jobs && i < d->cfg.nslots; i++)
		if (d->jobs[i].submitted)
			shard_pool_wait(d->cfg.pool, &d->jobs[i].task);
	for (int i = 0; i < d->cfg.nslots; i++) {
		if (d->host)
			free(d->host[i]);
		if (d->dev)
			free(d->dev[i]);
	}
	free(d->host);
	free(d->dev);
	free(d->sums);
	free(d->jobs);
	pthread_mutex_destroy(&d->mu);
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

/* Copy tasks on more than two CPUs; SHARDKIT_CPU_COPY_THREAD=1 or 0
 * decides instead (the tests run both ways). */
static int want_tasks(void)
{
	const char *v = getenv("SHARDKIT_CPU_COPY_THREAD");
	if (v && *v)
		return strcmp(v, "0") != 0;
	return shard_cpu_budget() > 2;
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
	d->host = calloc(n, sizeof *d->host);
	d->dev = calloc(n, sizeof *d->dev);
	d->sums = calloc((size_t)n * (cfg->ncols ? cfg->ncols : 1), sizeof *d->sums);
	d->jobs = calloc(n, sizeof *d->jobs);
	if (!d->host || !d->dev || !d->sums || !d->jobs)
		goto nomem;
	for (int i = 0; i < n; i++) {
		if (!(d->host[i] = zalloc(cfg->slot_bytes)) || !(d->dev[i] = zalloc(cfg->slot_bytes)))
			goto nomem;
		d->jobs[i] = (struct job){.task.fn = job_task, .d = d, .slot = i};
	}
	/* without a pool the device still works: its waiters do the slots */
	d->tasks = cfg->pool && want_tasks();
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
	struct job *j = &d->jobs[slot];
	(void)msg, (void)msglen;
	j->bytes = bytes;
	j->claimed = 0;
	if (d->tasks) {
		j->submitted = 1;
		shard_pool_submit(d->cfg.pool, &j->task);
	}
	return 0;
}

static int cpu_wait(struct gpu_dev *d, int slot, uint64_t *sums, char *msg, size_t msglen)
{
	struct job *j = &d->jobs[slot];
	(void)msg, (void)msglen;
	/* a slot no worker has started is done here, at once */
	int mine = run_job(j);
	if (j->submitted)
		shard_pool_wait(d->cfg.pool, &j->task);
	j->submitted = 0;
	pthread_mutex_lock(&d->mu);
	d->by_waiter += mine;
	memcpy(sums, d->sums + (size_t)slot * d->cfg.ncols, d->cfg.ncols * sizeof *sums);
	pthread_mutex_unlock(&d->mu);
	return 0;
}

/* Best of timed passes of memcpy over block-sized pieces of src (total
 * bytes) into dst (dlen bytes, another buffer), at least 3 passes and
 * 0.2 s. The barrier after each copy tells the compiler that something
 * reads dst, so it must make every copy (without it a copy into memory that
 * is freed unread is left out, and the rate is a fiction). */
static double copy_rate(uint8_t *dst, size_t dlen, const uint8_t *src, size_t total, size_t block)
{
	double best = 0, spent = 0;
	size_t copies = total / block, slots = dlen / block;
	for (int rep = 0; rep < 100 && (rep < 3 || spent < 0.2); rep++) {
		double t0 = cli_now();
		for (size_t k = 0; k < copies; k++) {
			uint8_t *to = dst + (k % slots) * block;
			memcpy(to, src + k * block, block);
			__asm__ volatile("" : : "r"(to) : "memory");
		}
		double t = cli_now() - t0;
		double r = (double)(copies * block) / (t > 1e-9 ? t : 1e-9);
		spent += t;
		if (r > best)
			best = r;
	}
	return best;
}

static int cpu_peak(struct gpu_dev *d, size_t batch_block, struct gpu_peak *p, char *msg, size_t msglen)
{
	(void)d;
	size_t total = (size_t)256 << 20, big = (size_t)64 << 20;
	/* zalloc writes every page of both: none is first touched while timed */
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
	p->pinned_big = p->pageable_big = copy_rate(dst, big, src, total, big);
	p->pinned_batch = copy_rate(dst, big, src, total, p->batch_block);
	free(src);
	free(dst);
	return 0;
}

static void cpu_stats(struct gpu_dev *d, struct gpu_stats *s)
{
	snprintf(s->name, sizeof s->name, d->tasks ? "cpu (host memory, one copy thread)"
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
