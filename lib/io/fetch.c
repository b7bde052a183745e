/* The fetcher: the files of one remote dataset fetched several at a time over
 * curl's multi interface (one multi handle, its connections reused, easy
 * handles kept for the next file), ahead of the reader but never more bytes
 * held than the read-ahead window, and handed back strictly in queue order.
 * A transient failure of one file is tried again later, with the pacing of
 * remote_backoff, while the others go on. The transfers run on a thread of
 * the fetcher's own, so that they go on while the reader works on what it
 * took; everything the reader and that thread share is under one mutex. */
#include "config.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shard.h"
#include "internal.h"
#include "remote.h"

enum { F_QUEUED, F_WAIT, F_RUNNING, F_DONE, F_FAILED, F_DROPPED };

struct fetch_file {
	char *name, *alt;
	uint64_t size, max, alt_size, alt_max, off, len;
	const struct shard_fileinfo *fi, *alt_fi;
	int state, on_alt, tries, lock;
	double due;		/* F_WAIT: when to start again */
	uint64_t held;		/* bytes of the window counted for it */
	struct shard_buf body, url;
	CURL *c;
	int first, failed, over, nomem, enough, cached;
	uint64_t skip;		/* a range answered whole: bytes before the range still to pass */
	long code;
	CURLcode rc;
	curl_off_t cl;
	struct shard_error err;	/* F_FAILED: why */
	int first_code;		/* the primary file's status when the alternative was tried */
	char first_msg[600];
	char curl_err[CURL_ERROR_SIZE];
};

struct fetcher {
	struct shard_remote *r;
	struct fetch_cache *cache;
	CURLM *multi;
	CURL **idle;
	size_t nidle;
	struct fetch_file **q;	/* q[head..n) not yet taken */
	size_t head, n, cap;
	unsigned in_flight, running;
	uint64_t window, held;
	struct fetch_stats st;
	/* the thread that runs the transfers */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started, stop, broken;
	struct shard_error err;		/* broken: why the thread cannot go on */
	struct fetch_file **dropped;	/* dropped while running: the thread stops and frees them */
	size_t ndropped;
};

static void *run(void *arg);

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double backoff_s(int attempt)
{
	return (250L << (attempt < 6 ? attempt : 6)) / 1000.0;
}

int fetch_open(struct fetcher **out, struct shard_remote *r, unsigned in_flight, uint64_t window,
	       struct fetch_cache *cache, struct shard_error *err)
{
	struct fetcher *f = calloc(1, sizeof *f);

	*out = NULL;
	if (!f || !(f->multi = curl_multi_init())) {
		free(f);
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	f->r = r;
	f->cache = cache;
	f->in_flight = in_flight ? in_flight : 1;
	f->window = window ? window : 1;
	/* one connection per transfer, kept for the next */
	curl_multi_setopt(f->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)f->in_flight);
	curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, (long)f->in_flight);
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	if (!(f->idle = calloc(f->in_flight + 1, sizeof *f->idle)) ||
	    !(f->dropped = calloc(f->in_flight + 1, sizeof *f->dropped))) {
		fetch_close(f);
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	{
		/* signals are the program's business: its own threads take them */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		f->started = pthread_create(&f->thread, NULL, run, f) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (!f->started) {
		fetch_close(f);
		return shard_error_set(err, SHARD_ENOMEM, "cannot start a thread for the transfers");
	}
	*out = f;
	return 0;
}

static void file_stop(struct fetcher *f, struct fetch_file *x)
{
	if (x->c) {
		curl_multi_remove_handle(f->multi, x->c);
		if (f->running)
			f->running--;
		/* the handle keeps its connection for the next file */
		f->idle[f->nidle++] = x->c;
		x->c = NULL;
	}
}

static void file_unlock(struct fetch_file *x)
{
	if (x->lock >= 0) {
		cache_unlock(x->lock);
		x->lock = -1;
	}
}

static void file_free(struct fetcher *f, struct fetch_file *x)
{
	if (!x)
		return;
	file_stop(f, x);
	file_unlock(x);
	f->held -= x->held;
	shard_buf_free(&x->body);
	shard_buf_free(&x->url);
	free(x->name);
	free(x->alt);
	free(x);
}

void fetch_close(struct fetcher *f)
{
	size_t i;
	if (!f)
		return;
	if (f->started) {
		pthread_mutex_lock(&f->mu);
		f->stop = 1;
		pthread_mutex_unlock(&f->mu);
		curl_multi_wakeup(f->multi);
		pthread_join(f->thread, NULL);
	}
	for (i = 0; i < f->ndropped; i++)
		file_free(f, f->dropped[i]);
	free(f->dropped);
	for (i = f->head; i < f->n; i++)
		file_free(f, f->q[i]);
	for (i = 0; i < f->nidle; i++)
		curl_easy_cleanup(f->idle[i]);
	curl_multi_cleanup(f->multi);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f->idle);
	free(f->q);
	free(f);
}

static int queue_locked(struct fetcher *f, const struct fetch_spec *sp, struct shard_error *err);

int fetch_queue(struct fetcher *f, const struct fetch_spec *sp, struct shard_error *err)
{
	int rc;
	pthread_mutex_lock(&f->mu);
	rc = queue_locked(f, sp, err);
	pthread_mutex_unlock(&f->mu);
	curl_multi_wakeup(f->multi);
	return rc;
}

static int queue_locked(struct fetcher *f, const struct fetch_spec *sp, struct shard_error *err)
{
	struct fetch_file *x;

	if (f->n == f->cap) {
		/* the taken ones at the front make room first */
		if (f->head) {
			memmove(f->q, f->q + f->head, (f->n - f->head) * sizeof *f->q);
			f->n -= f->head;
			f->head = 0;
		}
		if (f->n == f->cap) {
			size_t cap = f->cap ? 2 * f->cap : 64;
			struct fetch_file **q = realloc(f->q, cap * sizeof *q);
			if (!q)
				return shard_error_set(err, SHARD_ENOMEM, "out of memory");
			f->q = q;
			f->cap = cap;
		}
	}
	if (!(x = calloc(1, sizeof *x)) || !(x->name = strdup(sp->name)) || (sp->alt && !(x->alt = strdup(sp->alt)))) {
		if (x)
			free(x->name);
		free(x);
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	x->size = sp->size;
	x->max = sp->max ? sp->max : sp->size;
	x->alt_size = sp->alt_size;
	x->alt_max = sp->alt_max ? sp->alt_max : sp->alt_size;
	x->fi = sp->fi;
	x->alt_fi = sp->alt_fi;
	x->off = sp->off;
	x->len = sp->len;
	x->lock = -1;
	f->q[f->n++] = x;
	return 0;
}

size_t fetch_pending(struct fetcher *f)
{
	size_t n;
	pthread_mutex_lock(&f->mu);
	n = f->n - f->head;
	pthread_mutex_unlock(&f->mu);
	return n;
}

void fetch_stats(struct fetcher *f, struct fetch_stats *st)
{
	pthread_mutex_lock(&f->mu);
	*st = f->st;
	pthread_mutex_unlock(&f->mu);
}

/* What the window counts for a file: the bytes it will hold. */
static uint64_t want_bytes(const struct fetch_file *x)
{
	if (x->len)
		return x->len;
	return x->on_alt ? (x->alt_size ? x->alt_size : x->alt_max) : (x->size ? x->size : x->max);
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct fetch_file *x = ctx;
	size_t len = size * n;
	uint64_t max = x->len ? x->len : x->on_alt ? x->alt_max : x->max;

	if (x->first) {
		curl_off_t cl = -1;
		x->first = 0;
		curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &x->code);
		x->failed = !(x->code == 200 || (x->len && x->code == 206));
		/* a server that ignores Range sends the whole file: pass over what
		 * comes before the range, stop after it */
		x->skip = x->len && x->code == 200 ? x->off : 0;
		curl_easy_getinfo(x->c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		if (!x->failed && !x->skip && cl > 0 && (uint64_t)cl <= max && shard_buf_reserve(&x->body, (size_t)cl)) {
			x->nomem = 1;
			return 0;
		}
	}
	if (x->failed) {
		/* of an error's body, the start is enough to say why */
		if (x->body.len + len <= 65536 && shard_buf_append(&x->body, p, len))
			x->nomem = 1;
		return x->nomem ? 0 : len;
	}
	if (x->skip) {
		size_t k = x->skip < len ? (size_t)x->skip : len;
		x->skip -= k;
		p += k;
		if (k == len)
			return size * n;
		len -= k;
	}
	if (x->len && x->code == 200 && len > max - x->body.len) {
		/* the range is all there: the rest of the file is not wanted */
		len = (size_t)(max - x->body.len);
		if (len && shard_buf_append(&x->body, p, len)) {
			x->nomem = 1;
			return 0;
		}
		x->enough = 1;
		return 0;
	}
	if (len > max - x->body.len) {
		x->over = 1;
		return 0;
	}
	if (shard_buf_append(&x->body, p, len)) {
		x->nomem = 1;
		return 0;
	}
	return size * n;
}

/* Start (or start again) the transfer of x; a cached file needs none. */
static int file_start(struct fetcher *f, struct fetch_file *x, double now, struct shard_error *err)
{
	const char *name = x->on_alt ? x->alt : x->name;
	CURL *c;

	x->body.len = 0;
	if (f->cache && !x->len && x->lock < 0) {
		int got = cache_get(f->cache, f->r->url, name, x->on_alt ? x->alt_fi : x->fi,
				    x->on_alt ? x->alt_max : x->max, &x->body, &x->lock, &f->st.cache_dropped);
		if (got == CACHE_HIT) {
			x->state = F_DONE;
			x->cached = 1;
			f->st.cache_hits++;
			return 0;
		}
		if (got == CACHE_BUSY) {
			/* another process is fetching it: look again soon */
			x->state = F_WAIT;
			x->due = now + 0.02;
			return 0;
		}
	}
	if (remote_file_url(f->r, name, &x->url))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	if (f->nidle) {
		c = f->idle[--f->nidle];
	} else if ((c = curl_easy_init())) {
		remote_easy_init(f->r, c);
	} else {
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	curl_easy_setopt(c, CURLOPT_URL, (const char *)x->url.p);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->curl_err);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_PRIVATE, x);
	if (x->len) {
		char range[64];
		snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)x->off,
			 (unsigned long long)(x->off + x->len - 1));
		curl_easy_setopt(c, CURLOPT_RANGE, range);
	} else {
		curl_easy_setopt(c, CURLOPT_RANGE, NULL);
	}
	x->c = c;
	x->first = 1;
	x->failed = x->over = x->nomem = x->enough = 0;
	x->skip = 0;
	x->code = 0;
	x->curl_err[0] = 0;
	if (curl_multi_add_handle(f->multi, c) != CURLM_OK) {
		x->c = NULL;
		f->idle[f->nidle++] = c;
		return shard_error_set(err, SHARD_ENOMEM, "%s/%s: cannot start the transfer", f->r->url, name);
	}
	f->running++;
	f->st.requests++;
	x->state = F_RUNNING;
	return 0;
}

/* Start what the slots and the window allow, in queue order: retries that
 * are due first come first as they are earlier in the queue. */
static int start_more(struct fetcher *f, struct shard_error *err)
{
	double now = now_s();
	size_t i;
	unsigned ready = 0;
	int rc;

	for (i = f->head; i < f->n && f->running < f->in_flight; i++) {
		struct fetch_file *x = f->q[i];
		/* with a cache, files come off the disk faster than they are
		 * read: no more than in_flight of them are held ready */
		if (x->state == F_DONE && f->cache && ++ready >= f->in_flight)
			break;
		if (x->state == F_WAIT && x->due <= now) {
			if ((rc = file_start(f, x, now, err)))
				return rc;
		} else if (x->state == F_QUEUED) {
			uint64_t need = want_bytes(x);
			/* the window bounds what is held; the next file to take always
			 * goes, however big */
			if (f->held && f->held + need > f->window)
				break;
			x->held = need;
			f->held += need;
			if (f->held > f->st.peak_buffered)
				f->st.peak_buffered = f->held;
			if ((rc = file_start(f, x, now, err)))
				return rc;
			if (x->state == F_DONE && f->cache && ++ready >= f->in_flight)
				break;
		}
	}
	return 0;
}

/* A file that failed for good: its message, as shard_remote_get words it. */
static void file_failed(struct fetcher *f, struct fetch_file *x, const char *name)
{
	char tries[32] = "", why[80] = "";
	uint64_t max = x->len ? x->len : x->on_alt ? x->alt_max : x->max;
	struct shard_error *err = &x->err;

	x->state = F_FAILED;
	if (x->tries)
		snprintf(tries, sizeof tries, " (after %d tries)", x->tries + 1);
	if (x->nomem)
		shard_error_set(err, SHARD_ENOMEM, "%s/%s: out of memory", f->r->url, name);
	else if (x->over)
		shard_error_set(err, SHARD_ELIMIT, "%s/%s: file over the limit of %llu bytes", f->r->url, name,
				(unsigned long long)max);
	else if ((x->rc == CURLE_PARTIAL_FILE || x->rc == CURLE_OK) && !x->failed && x->code)
		shard_error_set(err, SHARD_EIO, "%s/%s: body cut short: %zu of %lld bytes%s", f->r->url, name,
				x->body.len, (long long)(x->cl >= 0 ? (uint64_t)x->cl : max), tries);
	else if (x->rc != CURLE_OK)
		shard_error_set(err, SHARD_EIO, "%s/%s: %s%s", f->r->url, name,
				x->curl_err[0] ? x->curl_err : curl_easy_strerror(x->rc), tries);
	else {
		if (f->r->s3)
			remote_s3_code(&x->body, why, sizeof why);
		shard_error_set(err, x->code == 404 ? SHARD_ENOENT : SHARD_EIO, "%s/%s: HTTP %ld%s%s", f->r->url, name,
				x->code, why, tries);
	}
	x->body.len = 0;
}

/* The alternative failed too: say why in the primary file's words. */
static void alt_failed(struct fetch_file *x)
{
	struct shard_error alt = x->err;
	if (x->first_code == 404) {
		if (alt.status == SHARD_ENOENT)
			snprintf(x->err.msg, sizeof x->err.msg, "%s", x->first_msg);
		return;		/* else the alternative's own failure */
	}
	shard_error_set(&x->err, alt.status == SHARD_ENOENT ? SHARD_ENOENT : SHARD_EIO,
			"%s (S3 answers 403 for a missing key when the caller may not list the bucket; "
			"the uncompressed file: %s)", x->first_msg, alt.msg);
}

static void file_done(struct fetcher *f, struct fetch_file *x, CURLcode rc)
{
	const char *name = x->on_alt ? x->alt : x->name;
	uint64_t want = x->len ? x->len : x->on_alt ? x->alt_size : x->size;

	x->rc = x->enough ? CURLE_OK : rc;
	x->cl = -1;
	curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &x->code);
	curl_easy_getinfo(x->c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &x->cl);
	/* an answer with no body never reached on_body */
	x->failed = x->code && !(x->code == 200 || (x->len && x->code == 206));
	if (!x->failed)
		f->st.bytes += x->body.len;
	file_stop(f, x);
	if (x->rc == CURLE_OK && !x->failed && (x->code == 200 || x->code == 206) &&
	    (x->enough || x->cl < 0 || (x->code == 200 && x->len) || (uint64_t)x->cl == x->body.len) &&
	    (!want || x->body.len >= want)) {
		x->state = F_DONE;
		/* checked against the index on the way in; a file that fails is not
		 * kept; the other processes waiting for it read it from there */
		if (x->lock >= 0)
			cache_put(f->cache, f->r->url, name, x->on_alt ? x->alt_fi : x->fi, x->body.p, x->body.len);
		file_unlock(x);
		return;
	}
	/* a body shorter than the index says is cut short: never a short file */
	if (x->rc == CURLE_OK && !x->failed && (x->code == 200 || x->code == 206))
		x->rc = CURLE_PARTIAL_FILE;
	if (x->nomem || x->over) {
		file_failed(f, x, name);
		return;
	}
	if (x->rc == CURLE_OK && (x->code == 404 || x->code == 403) && x->alt && !x->on_alt) {
		/* the compressed file is not there (S3 says 403 for a missing key
		 * when listing is not allowed): the raw one may be */
		file_failed(f, x, name);
		file_unlock(x);
		x->first_code = (int)x->code;
		snprintf(x->first_msg, sizeof x->first_msg, "%s", x->err.msg);
		x->on_alt = 1;
		x->tries = 0;
		f->held -= x->held;
		x->held = want_bytes(x);
		f->held += x->held;
		x->state = F_WAIT;
		x->due = 0;
		return;
	}
	if (remote_transient(x->rc, x->code) && x->tries < f->r->retries) {
		x->state = F_WAIT;
		x->due = now_s() + backoff_s(x->tries);
		x->tries++;
		return;
	}
	file_failed(f, x, name);
	file_unlock(x);
	if (x->on_alt)
		alt_failed(x);
}

/* How long until the earliest waiting file is due, in ms (at most 100). */
static int next_due_ms(const struct fetcher *f)
{
	double now = now_s(), best = 0.1;
	size_t i;
	for (i = f->head; i < f->n; i++)
		if (f->q[i]->state == F_WAIT && f->q[i]->due - now < best)
			best = f->q[i]->due - now;
	return best <= 0 ? 0 : (int)(best * 1000) + 1;
}

/* The transfers' thread: start what may start, wait for the network (or a
 * wake-up from the reader), hand finished files over. The write callbacks
 * fill files no one else touches until they are done; the rest is under mu. */
static void *run(void *arg)
{
	struct fetcher *f = arg;
	CURLMsg *m;
	int left, still, timeout;
	size_t i;

	pthread_mutex_lock(&f->mu);
	while (!f->stop) {
		for (i = 0; i < f->ndropped; i++)
			file_free(f, f->dropped[i]);
		f->ndropped = 0;
		if (!f->broken && start_more(f, &f->err)) {
			f->broken = 1;
			pthread_cond_broadcast(&f->cv);
		}
		timeout = next_due_ms(f);
		pthread_mutex_unlock(&f->mu);
		curl_multi_poll(f->multi, NULL, 0, timeout, NULL);
		curl_multi_perform(f->multi, &still);
		pthread_mutex_lock(&f->mu);
		while ((m = curl_multi_info_read(f->multi, &left))) {
			struct fetch_file *x = NULL;
			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			if (x)
				file_done(f, x, m->data.result);
		}
		pthread_cond_broadcast(&f->cv);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

int fetch_take(struct fetcher *f, struct shard_buf *out, int *alt, struct shard_error *err)
{
	struct fetch_file *x;
	int rc;

	*alt = 0;
	pthread_mutex_lock(&f->mu);
	if (f->head >= f->n) {
		pthread_mutex_unlock(&f->mu);
		return shard_error_set(err, SHARD_EARG, "nothing queued");
	}
	x = f->q[f->head];
	while (x->state != F_DONE && x->state != F_FAILED && !f->broken)
		pthread_cond_wait(&f->cv, &f->mu);
	if (x->state != F_DONE && x->state != F_FAILED) {
		*err = f->err;
		pthread_mutex_unlock(&f->mu);
		return err->status;
	}
	f->q[f->head++] = NULL;
	*alt = x->on_alt;
	if (x->state == F_FAILED) {
		*err = x->err;
		rc = err->status;
	} else {
		struct shard_buf t = *out;
		*out = x->body;
		x->body = t;
		rc = 0;
	}
	/* done: no transfer of its own any more, nothing the thread touches */
	file_free(f, x);
	pthread_mutex_unlock(&f->mu);
	/* the freed room lets the next transfers start now */
	curl_multi_wakeup(f->multi);
	return rc;
}

int fetch_drop(struct fetcher *f)
{
	struct fetch_file *x;

	pthread_mutex_lock(&f->mu);
	if (f->head >= f->n) {
		pthread_mutex_unlock(&f->mu);
		return 0;
	}
	x = f->q[f->head];
	f->q[f->head++] = NULL;
	if (x->c) {
		/* a running transfer is the thread's to stop (room for every one
		 * that can run) */
		f->dropped[f->ndropped++] = x;
	} else {
		file_free(f, x);
	}
	pthread_mutex_unlock(&f->mu);
	curl_multi_wakeup(f->multi);
	return 1;
}
