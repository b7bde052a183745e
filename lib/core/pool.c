/* The thread pool every engine shares (the writer's compressors, the
 * converter's parsers, the batcher's gatherers), and the CPU budget that
 * sizes it. */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shard.h"
#include "internal.h"

enum { T_IDLE = 0, T_QUEUED, T_RUNNING, T_DONE };

struct shard_pool {
	pthread_mutex_t mu;
	pthread_cond_t work;	/* a task queued, or stop */
	pthread_cond_t done;	/* a task finished */
	struct shard_task *head, *tail;
	int stop;
	unsigned nthreads;
	pthread_t th[];
};

/* ---------------------------------------------------------------- CPU budget */

/* A cgroup v2 cpu.max ("max 100000" or "QUOTA PERIOD") or v1 quota/period
 * pair as CPUs, rounded up; 0 when there is no limit or nothing to read. */
static unsigned quota_cpus(long long quota, long long period)
{
	if (quota <= 0 || period <= 0)
		return 0;
	long long n = (quota + period - 1) / period;
	return n > UINT_MAX ? UINT_MAX : (unsigned)(n < 1 ? 1 : n);
}

static unsigned read_cpu_max(const char *path)
{
	char buf[128];
	long long q, p;
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof buf, f)) {
		fclose(f);
		return 0;
	}
	fclose(f);
	if (strncmp(buf, "max", 3) == 0)
		return 0;
	if (sscanf(buf, "%lld %lld", &q, &p) != 2)
		return 0;
	return quota_cpus(q, p);
}

static long long read_ll(const char *path)
{
	long long v;
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static unsigned tighter(unsigned a, unsigned b)
{
	return !a ? b : !b ? a : a < b ? a : b;
}

/* Whether a cgroup v1 controller list ("cpu,cpuacct", "cpuset") names cpu. */
static int has_cpu(const char *list)
{
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		if (n == 3 && strncmp(p, "cpu", 3) == 0)
			return 1;
		p += n + (p[n] == ',');
	}
	return 0;
}

/* The tightest quota on the way from this process's cgroup up to the root
 * of the hierarchy as mounted here (a container sees its own cgroup as the
 * root). */
static unsigned cgroup_cpus(void)
{
	char line[4096], path[4096 + 64];
	unsigned best = 0;
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (f) {
		while (fgets(line, sizeof line, f)) {
			char *rel, *nl = strchr(line, '\n');
			if (nl)
				*nl = 0;
			if (strncmp(line, "0::", 3) == 0) {
				rel = line + 3;
				for (;;) {
					snprintf(path, sizeof path, "/sys/fs/cgroup%s/cpu.max", strcmp(rel, "/") ? rel : "");
					best = tighter(best, read_cpu_max(path));
					char *slash = strrchr(rel, '/');
					if (!slash || slash == rel)
						break;
					*slash = 0;
				}
			} else {
				char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
				if (!c2)
					continue;
				*c2 = 0;
				/* the hierarchy whose controllers include cpu itself (not
				 * cpuset or cpuacct alone), mounted under its list's name */
				const char *ctl = c1 + 1;
				if (!has_cpu(ctl))
					continue;
				rel = c2 + 1;
				for (;;) {
					long long q, p;
					snprintf(path, sizeof path, "/sys/fs/cgroup/%s%s/cpu.cfs_quota_us", ctl,
						 strcmp(rel, "/") ? rel : "");
					q = read_ll(path);
					snprintf(path, sizeof path, "/sys/fs/cgroup/%s%s/cpu.cfs_period_us", ctl,
						 strcmp(rel, "/") ? rel : "");
					p = read_ll(path);
					best = tighter(best, quota_cpus(q, p));
					char *slash = strrchr(rel, '/');
					if (!slash || slash == rel)
						break;
					*slash = 0;
				}
			}
		}
		fclose(f);
	}
	/* the namespace's root, whatever /proc/self/cgroup names */
	best = tighter(best, read_cpu_max("/sys/fs/cgroup/cpu.max"));
	return best;
}

unsigned shard_cpu_budget(void)
{
	unsigned n = 0;
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0)
		n = (unsigned)CPU_COUNT(&set);
	if (!n) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		n = c < 1 ? 1 : (unsigned)c;
	}
	unsigned q = cgroup_cpus();
	if (q && q < n)
		n = q;
	return n ? n : 1;
}

/* ---------------------------------------------------------------- the pool */

static void finish(struct shard_pool *p, struct shard_task *t)
{
	pthread_mutex_lock(&p->mu);
	t->state_ = T_DONE;
	pthread_cond_broadcast(&p->done);
	pthread_mutex_unlock(&p->mu);
}

static void *worker(void *arg)
{
	struct shard_pool *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct shard_task *t;
		while (!p->head && !p->stop)
			pthread_cond_wait(&p->work, &p->mu);
		if (!p->head)
			break;
		t = p->head;
		p->head = t->next_;
		if (!p->head)
			p->tail = NULL;
		t->state_ = T_RUNNING;
		pthread_mutex_unlock(&p->mu);
		t->fn(t);
		pthread_mutex_lock(&p->mu);
		t->state_ = T_DONE;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int shard_pool_new(struct shard_pool **out, unsigned threads, struct shard_error *err)
{
	struct shard_pool *p;
	*out = NULL;
	if (!threads)
		threads = shard_cpu_budget();
	if (threads > SHARD_POOL_MAX)
		return shard_error_set(err, SHARD_EARG, "%u threads: at most %u", threads, SHARD_POOL_MAX);
	p = calloc(1, sizeof *p + threads * sizeof p->th[0]);
	if (!p)
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	if (pthread_mutex_init(&p->mu, NULL)) {
		free(p);
		return shard_error_set(err, SHARD_ENOMEM, "cannot make a lock");
	}
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	for (p->nthreads = 0; p->nthreads < threads; p->nthreads++) {
		int e = pthread_create(&p->th[p->nthreads], NULL, worker, p);
		if (e) {
			shard_pool_free(p);
			return shard_error_set(err, SHARD_ENOMEM, "cannot start a thread: %s", strerror(e));
		}
	}
	*out = p;
	return 0;
}

unsigned shard_pool_threads(const struct shard_pool *p)
{
	return p ? p->nthreads : 0;
}

void shard_pool_submit(struct shard_pool *p, struct shard_task *t)
{
	t->next_ = NULL;
	if (!p) {
		t->state_ = T_RUNNING;
		t->fn(t);
		t->state_ = T_DONE;
		return;
	}
	pthread_mutex_lock(&p->mu);
	t->state_ = T_QUEUED;
	if (p->tail)
		p->tail->next_ = t;
	else
		p->head = t;
	p->tail = t;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
}

int shard_task_done(struct shard_pool *p, struct shard_task *t)
{
	int done;
	if (!p)
		return t->state_ != T_QUEUED && t->state_ != T_RUNNING;
	pthread_mutex_lock(&p->mu);
	done = t->state_ != T_QUEUED && t->state_ != T_RUNNING;
	pthread_mutex_unlock(&p->mu);
	return done;
}

void shard_pool_wait(struct shard_pool *p, struct shard_task *t)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	if (t->state_ == T_QUEUED) {
		/* not started: take it off the queue and run it here */
		struct shard_task **pp = &p->head, *prev = NULL;
		while (*pp != t) {
			prev = *pp;
			pp = &(*pp)->next_;
		}
		*pp = t->next_;
		if (p->tail == t)
			p->tail = prev;
		t->state_ = T_RUNNING;
		pthread_mutex_unlock(&p->mu);
		t->fn(t);
		finish(p, t);
		return;
	}
	while (t->state_ == T_RUNNING)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void shard_pool_free(struct shard_pool *p)
{
	unsigned i;
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->th[i], NULL);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
