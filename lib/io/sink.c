/* Sinks take whole shards: a dataset directory (shards renamed into place as
 * they finish, index.json last), an s3:// dataset (shards PUT as they come,
 * index.json last; what was written deleted on abort) or a shard stream on a
 * file descriptor. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shard.h"
#include "internal.h"
#include "remote.h"

struct shard_sink {
	int is_dir;
	int no_index;		/* a task's part of a shared dataset: the driver writes index.json */
	char *dir;
	char *prefix;		/* "" or "sub/dir/" */
	int fd;
	struct shard_index ix;
	uint64_t samples, bytes;
	char **written;		/* files to remove on abort */
	size_t nwritten;
	void (*on_shard)(void *ctx, const struct shard_entry *e);
	void *ctx;
	int closed;
	int sync;		/* flush shards, then index.json, to stable storage at close */
	pthread_mutex_t lock;	/* held while a shard's file is written; by shard_sink_kill for good */
	/* an s3:// dataset: shards uploaded outside the lock, several at once */
	struct shard_remote *remote;
	struct remote_up *up;
	size_t next;		/* shard numbers handed out */
	size_t announced;	/* entries handed to on_shard, on the caller's thread */
	struct shard_entry *done;	/* uploaded shards by number, until the ones before them are */
	unsigned char *ready;
	size_t ndone;
	struct shard_pool *pool;	/* the uploads' threads */
	struct upload *uploads;	/* every shard handed to the pool */
	int outstanding;	/* uploads handed to the pool and not ended */
	int inflight;		/* of them, those under way */
	int killed;		/* by kill or abort: no upload starts */
	int failed;		/* an upload failed for good: ferr says why */
	struct shard_error ferr;
	pthread_cond_t idle;	/* signalled as each upload ends */
};

/* Shards going up to an s3:// dataset at once (and copies held). */
#define REMOTE_UPLOADS 4

static void sink_free(struct shard_sink *s);

static struct shard_sink *sink_alloc(void)
{
	struct shard_sink *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	if (pthread_mutex_init(&s->lock, NULL)) {
		free(s);
		return NULL;
	}
	if (pthread_cond_init(&s->idle, NULL)) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return NULL;
	}
	s->fd = -1;
	s->sync = 1;
	return s;
}

static int mkdirs(const char *path, struct shard_error *err)
{
	char tmp[4096];
	size_t i, n = strlen(path);
	if (n >= sizeof tmp)
		return shard_error_set(err, SHARD_EARG, "%s: path too long", path);
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] == '/' || tmp[i] == 0) {
			char c = tmp[i];
			tmp[i] = 0;
			if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
				return shard_error_set(err, SHARD_EIO, "%s: %s", tmp, strerror(errno));
			tmp[i] = c;
		}
	}
	return 0;
}

/* An s3:// dataset to write (sub: "" or a task's "part-.../"): refused when
 * DEST/index.json is there, as a directory is. Plain http(s) URLs have no
 * listing or delete to clean up after a failed write: refused. */
static int remote_open(struct shard_sink **out, const char *dest, const char *sub, struct shard_error *err)
{
	struct shard_sink *s = NULL;
	struct shard_remote *r;
	struct remote_up *up = NULL;
	char shown[1024];
	int rc;

	*out = NULL;
	if (strncmp(dest, "s3://", 5) != 0)
		return shard_error_set(err, SHARD_EARG, "%s: writing to an http(s) URL is not supported; "
				       "write to s3://BUCKET/PREFIX or a local directory",
				       shard_url_redact(dest, shown, sizeof shown));
	if ((rc = shard_remote_open(&r, dest, err)))
		return rc;
	if ((rc = remote_up_new(&up, r, err)))
		goto fail;
	if ((rc = remote_up_exists(up, "index.json", err)) < 0) {
		rc = -rc;
		goto fail;
	}
	if (rc) {
		rc = shard_error_set(err, SHARD_EARG,
				     "%s: already holds a dataset (index.json); remove it or choose another prefix",
				     shard_remote_url(r));
		goto fail;
	}
	if (!(s = sink_alloc()) || !(s->dir = strdup(shard_remote_url(r))) || !(s->prefix = strdup("")) ||
	    shard_sink_set_prefix(s, sub)) {
		rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = shard_pool_new(&s->pool, REMOTE_UPLOADS, err)))
		goto fail;
	s->is_dir = 1;
	s->remote = r;
	s->up = up;
	*out = s;
	return 0;
fail:
	if (s)
		sink_free(s);
	remote_up_free(up);
	shard_remote_close(r);
	return rc;
}

/* A directory whose index.json is there holds a finished dataset: new shards,
 * whether the whole dataset or one task's part of it, never go into it. */
static int dataset_refused(const char *dir, struct shard_error *err)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof path, "%s/index.json", dir);
	if (stat(path, &st) == 0)
		return shard_error_set(err, SHARD_EARG,
				       "%s: already holds a dataset (index.json); remove it or choose another directory",
				       dir);
	return 0;
}

int shard_sink_open_dir(struct shard_sink **out, const char *dir, struct shard_error *err)
{
	struct shard_sink *s;
	int rc;

	*out = NULL;
	if (shard_is_url(dir))
		return remote_open(out, dir, "", err);
	if ((rc = dataset_refused(dir, err)) || (rc = mkdirs(dir, err)))
		return rc;
	s = sink_alloc();
	if (!s || !(s->dir = strdup(dir)) || !(s->prefix = strdup(""))) {
		if (s)
			sink_free(s);
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	s->is_dir = 1;
	*out = s;
	return 0;
}

int shard_sink_open_part(struct shard_sink **out, const char *dest, struct shard_error *err)
{
	char sub[64], path[4096];
	uint8_t r[8];
	FILE *f = fopen("/dev/urandom", "rb");
	size_t got = f ? fread(r, 1, sizeof r, f) : 0;
	int rc, i;

	if (f)
		fclose(f);
	if (got != sizeof r)
		return shard_error_set(err, SHARD_EIO, "/dev/urandom: cannot read");
	/* unique per task attempt, so retries and speculative copies never collide */
	i = snprintf(sub, sizeof sub, "part-%ld-", (long)getpid());
	for (got = 0; got < sizeof r; got++)
		i += snprintf(sub + i, sizeof sub - (size_t)i, "%02x", r[got]);
	snprintf(path, sizeof path, "%s/%s", dest, sub);
	if (shard_is_url(dest)) {
		if ((rc = remote_open(out, dest, sub, err)))
			return rc;
		(*out)->no_index = 1;
		return 0;
	}
	if ((rc = dataset_refused(dest, err)) || (rc = mkdirs(dest, err)))
		return rc;
	if (mkdir(path, 0777) != 0)
		return shard_error_set(err, SHARD_EIO, "%s: %s", path, strerror(errno));
	*out = sink_alloc();
	if (!*out || !((*out)->dir = strdup(dest)) || shard_sink_set_prefix(*out, sub)) {
		if (*out)
			sink_free(*out);
		*out = NULL;
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	(*out)->is_dir = 1;
	(*out)->no_index = 1;
	return 0;
}

int shard_sink_open_fd(struct shard_sink **out, int fd, struct shard_error *err)
{
	struct shard_sink *s = sink_alloc();
	int rc;

	*out = NULL;
	if (!s || !(s->prefix = strdup(""))) {
		if (s)
			sink_free(s);
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	s->fd = fd;
	if ((rc = stream_write_header(fd, err))) {
		sink_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int shard_sink_set_prefix(struct shard_sink *s, const char *prefix)
{
	size_t n = strlen(prefix);
	char *p = malloc(n + 2);
	if (!p)
		return SHARD_ENOMEM;
	memcpy(p, prefix, n + 1);
	if (n && p[n - 1] != '/') {
		p[n] = '/';
		p[n + 1] = 0;
	}
	free(s->prefix);
	s->prefix = p;
	return 0;
}

int shard_sink_set_extra(struct shard_sink *s, const char *json)
{
	char *x = json ? strdup(json) : NULL;
	if (json && !x)
		return SHARD_ENOMEM;
	free(s->ix.extra);
	s->ix.extra = x;
	return 0;
}

/* An s3:// dataset's objects are durable once PUT: nothing to flush. */
void shard_sink_set_sync(struct shard_sink *s, int on)
{
	s->sync = on;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* DIR, or DIR/ and the first len bytes of base, into v. */
static int push_dir(char ***v, size_t *n, size_t *cap, const char *dir, const char *base, size_t len)
{
	char *d;
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		char **nv = realloc(*v, c * sizeof *nv);
		if (!nv)
			return -1;
		*v = nv;
		*cap = c;
	}
	if (asprintf(&d, "%s%s%.*s", dir, len ? "/" : "", (int)len, base) < 0)
		return -1;
	(*v)[(*n)++] = d;
	return 0;
}

/* Every directory from DIR down to the one holding basename, into v. */
static int add_dirs(char ***v, size_t *n, size_t *cap, const char *dir, const char *basename)
{
	const char *q;
	if (push_dir(v, n, cap, dir, basename, 0))
		return -1;
	for (q = strchr(basename, '/'); q; q = strchr(q + 1, '/'))
		if (push_dir(v, n, cap, dir, basename, (size_t)(q - basename)))
			return -1;
	return 0;
}

int shard_index_sync(const char *dir, const struct shard_index *ix, struct shard_error *err)
{
	char **dirs = NULL, path[8192];
	size_t ndirs = 0, cap = 0, i, k;
	int rc = 0;

	for (i = 0; i < ix->nshards && !rc; i++) {
		const struct shard_entry *e = &ix->shards[i];
		for (k = 0; k < 2 && !rc; k++) {
			const char *base = k ? (e->has_zip ? e->zip.basename : NULL) : e->raw.basename;
			if (!base)
				continue;
			snprintf(path, sizeof path, "%s/%s", dir, base);
			/* a compressed dataset holds no raw files */
			if ((rc = shard_fsync_path(path, 0, err)) == SHARD_ENOENT)
				rc = 0;
			if (!rc && add_dirs(&dirs, &ndirs, &cap, dir, base))
				rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
		}
	}
	if (!rc && !ix->nshards && add_dirs(&dirs, &ndirs, &cap, dir, ""))
		rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
	if (ndirs)
		qsort(dirs, ndirs, sizeof *dirs, cmp_path);
	for (i = 0; i < ndirs && !rc; i++)
		if (i == 0 || strcmp(dirs[i], dirs[i - 1]))
			rc = shard_fsync_path(dirs[i], 1, err);
	for (i = 0; i < ndirs; i++)
		free(dirs[i]);
	free(dirs);
	return rc;
}

void shard_sink_on_shard(struct shard_sink *s, void (*fn)(void *, const struct shard_entry *), void *ctx)
{
	s->on_shard = fn;
	s->ctx = ctx;
}

uint64_t shard_sink_samples(const struct shard_sink *s)
{
	return s->samples;
}

uint64_t shard_sink_shards(const struct shard_sink *s)
{
	return s->ix.nshards;
}

static int rename_entry(struct shard_sink *s, struct shard_entry *e, size_t k, struct shard_error *err)
{
	char name[4096];

	snprintf(name, sizeof name, "%sshard.%05zu.mds", s->prefix, k);
	free(e->raw.basename);
	if (!(e->raw.basename = strdup(name)))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	if (e->has_zip) {
		struct shard_codec c;
		int rc;
		if ((rc = shard_codec_parse(e->compression, &c, err)))
			return rc;
		snprintf(name, sizeof name, "%sshard.%05zu.mds.%s", s->prefix, k, c.ext);
		free(e->zip.basename);
		if (!(e->zip.basename = strdup(name)))
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	return 0;
}

/* Remember a file written (or being written), to remove on abort. */
static int note_written(struct shard_sink *s, const char *path)
{
	char **nw = realloc(s->written, (s->nwritten + 1) * sizeof *nw);
	if (!nw)
		return -1;
	s->written = nw;
	if (!(nw[s->nwritten] = strdup(path)))
		return -1;
	s->nwritten++;
	return 0;
}

/* The uploaded shards whose predecessors all are, into the index in order. */
static int drain(struct shard_sink *s)
{
	while (s->ix.nshards < s->ndone && s->ready[s->ix.nshards]) {
		struct shard_entry *e = &s->done[s->ix.nshards];
		if (shard_index_append(&s->ix, e))
			return -1;
		shard_entry_free(e);
	}
	return 0;
}

/* The entries uploaded since the last call, in order, to on_shard: on the
 * caller's thread and without the lock, so that a callback may write, fail
 * and end the process through shard_sink_kill. */
static int announce(struct shard_sink *s, struct shard_error *err)
{
	while (s->on_shard) {
		struct shard_entry e;
		int nomem;
		pthread_mutex_lock(&s->lock);
		if (s->announced >= s->ix.nshards) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		nomem = shard_entry_copy(&e, &s->ix.shards[s->announced]) != 0;
		s->announced += !nomem;
		pthread_mutex_unlock(&s->lock);
		if (nomem)
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
		s->on_shard(s->ctx, &e);
		shard_entry_free(&e);
	}
	return 0;
}

/* One shard on its way to an s3:// dataset: a task of the sink's pool. */
struct upload {
	struct shard_task task;
	struct shard_sink *s;
	struct shard_entry e;	/* renamed to shard k */
	size_t k;
	void *bytes;		/* a copy: the caller's buffer is its own again once put returns */
	size_t n;
	int zip;
	struct upload *next;
};

static void fail_upload(struct shard_sink *s, const struct shard_error *err)
{
	if (!s->failed) {
		s->failed = 1;
		s->ferr = *err;
	}
}

/* Upload one shard; with the lock, its entry into the index in order. */
static void upload_task(struct shard_task *t)
{
	struct upload *u = (struct upload *)((char *)t - offsetof(struct upload, task));
	struct shard_sink *s = u->s;
	struct shard_error err;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (s->killed) {
		s->outstanding--;
		pthread_cond_broadcast(&s->idle);
		pthread_mutex_unlock(&s->lock);
		goto out;
	}
	s->inflight++;
	pthread_mutex_unlock(&s->lock);
	rc = remote_up_put(s->up, u->zip ? u->e.zip.basename : u->e.raw.basename, u->bytes, u->n, &err);
	free(u->bytes);
	u->bytes = NULL;
	pthread_mutex_lock(&s->lock);
	if (!rc && u->k >= s->ndone) {
		size_t c = u->k + 16;
		struct shard_entry *d = realloc(s->done, c * sizeof *d);
		unsigned char *r = d ? realloc(s->ready, c) : NULL;
		if (d)
			s->done = d;
		if (r) {
			s->ready = r;
			memset(r + s->ndone, 0, c - s->ndone);
			s->ndone = c;
		} else {
			rc = shard_error_set(&err, SHARD_ENOMEM, "out of memory");
		}
	}
	if (!rc) {
		s->done[u->k] = u->e;
		memset(&u->e, 0, sizeof u->e);
		s->ready[u->k] = 1;
		if (drain(s))
			rc = shard_error_set(&err, SHARD_ENOMEM, "out of memory");
	}
	if (rc)
		fail_upload(s, &err);
	s->inflight--;
	s->outstanding--;
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
out:
	free(u->bytes);
	u->bytes = NULL;
	shard_entry_free(&u->e);
}

/* A shard handed to the pool as the next object: put returns once its bytes
 * are copied, and a few shards go up at once. A failed upload fails the next
 * put, and close. */
static int put_remote(struct shard_sink *s, const struct shard_entry *in, const void *stored, size_t n,
		      int stored_is_zip, struct shard_error *err)
{
	struct upload *u;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	while (!s->killed && !s->failed && s->outstanding >= REMOTE_UPLOADS)
		pthread_cond_wait(&s->idle, &s->lock);
	if (s->killed) {
		/* shard_sink_kill ends the process: as a put into a directory waits
		 * on the lock kill keeps, this one waits for that end */
		pthread_mutex_unlock(&s->lock);
		for (;;)
			sleep(60);
	}
	if (s->failed) {
		*err = s->ferr;
		pthread_mutex_unlock(&s->lock);
		return err->status;
	}
	if (!(u = calloc(1, sizeof *u))) {
		pthread_mutex_unlock(&s->lock);
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	u->k = s->next++;
	u->s = s;
	u->n = n;
	u->zip = stored_is_zip;
	u->task.fn = upload_task;
	u->next = s->uploads;
	s->uploads = u;
	pthread_mutex_unlock(&s->lock);
	if (shard_entry_copy(&u->e, in) || !(u->bytes = malloc(n ? n : 1)))
		rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
	if (!rc)
		rc = rename_entry(s, &u->e, u->k, err);
	if (!rc)
		memcpy(u->bytes, stored, n);
	pthread_mutex_lock(&s->lock);
	/* noted before it is sent: a PUT that fails late may still land */
	if (!rc && note_written(s, stored_is_zip ? u->e.zip.basename : u->e.raw.basename))
		rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
	if (rc) {
		fail_upload(s, err);
		pthread_mutex_unlock(&s->lock);
		free(u->bytes);
		u->bytes = NULL;
		shard_entry_free(&u->e);
		return rc;
	}
	s->outstanding++;
	s->samples += u->e.samples;
	s->bytes += n;
	pthread_mutex_unlock(&s->lock);
	shard_pool_submit(s->pool, &u->task);
	return announce(s, err);
}

int shard_sink_put(struct shard_sink *s, const struct shard_entry *in, const void *stored, size_t n,
		   int stored_is_zip, struct shard_error *err)
{
	struct shard_entry e;
	int rc;

	if (s->remote) {
		if (stored_is_zip && !in->has_zip)
			return shard_error_set(err, SHARD_EARG, "compressed bytes for a shard without zip_data");
		return put_remote(s, in, stored, n, stored_is_zip, err);
	}
	if (shard_entry_copy(&e, in))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	if (stored_is_zip && !e.has_zip) {
		shard_entry_free(&e);
		return shard_error_set(err, SHARD_EARG, "compressed bytes for a shard without zip_data");
	}
	if ((rc = rename_entry(s, &e, s->ix.nshards, err)))
		goto out;
	if (s->is_dir) {
		char path[8192], *slash;
		const char *base = stored_is_zip ? e.zip.basename : e.raw.basename;
		char **nw;
		snprintf(path, sizeof path, "%s/%s", s->dir, base);
		slash = strrchr(path, '/');
		pthread_mutex_lock(&s->lock);
		nw = realloc(s->written, (s->nwritten + 1) * sizeof *nw);
		if (nw)
			s->written = nw;
		if (!nw || !(nw[s->nwritten] = strdup(path))) {
			rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
		} else {
			*slash = 0;
			rc = mkdirs(path, err);
			*slash = '/';
			if (!rc)
				rc = shard_write_file_atomic(path, stored, n, 0, err);	/* flushed at close */
			if (rc)
				free(nw[s->nwritten]);
			else
				s->nwritten++;
		}
		pthread_mutex_unlock(&s->lock);
		if (rc)
			goto out;
	} else {
		struct shard_buf meta = {0};
		if (shard_buf_append(&meta, "{\"entry\": ", 10) || shard_entry_to_json(&e, &meta, err) ||
		    (s->ix.extra && shard_buf_printf(&meta, ", \"shardkit\": %s", s->ix.extra)) ||
		    shard_buf_printf(&meta, ", \"stored\": \"%s\"}", stored_is_zip ? "zip" : "raw")) {
			shard_buf_free(&meta);
			rc = err->status ? err->status : shard_error_set(err, SHARD_ENOMEM, "out of memory");
			goto out;
		}
		rc = stream_write_frame(s->fd, "SHRD", meta.p, meta.len, stored, n, err);
		shard_buf_free(&meta);
		if (rc)
			goto out;
	}
	if (shard_index_append(&s->ix, &e)) {
		rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
		goto out;
	}
	s->samples += e.samples;
	s->bytes += n;
	if (s->on_shard)
		s->on_shard(s->ctx, &e);
out:
	shard_entry_free(&e);
	return rc;
}

static void sink_free(struct shard_sink *s)
{
	size_t i;
	for (i = 0; i < s->nwritten; i++)
		free(s->written[i]);
	free(s->written);
	for (i = 0; i < s->ndone; i++)
		if (s->ready[i] && i >= s->ix.nshards)
			shard_entry_free(&s->done[i]);
	free(s->done);
	free(s->ready);
	shard_pool_free(s->pool);	/* none queued by now */
	while (s->uploads) {
		struct upload *u = s->uploads;
		s->uploads = u->next;
		free(u);
	}
	remote_up_free(s->up);
	shard_remote_close(s->remote);
	pthread_cond_destroy(&s->idle);
	shard_index_free(&s->ix);
	free(s->dir);
	free(s->prefix);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* Delete every object s wrote, the last first (index.json before the shards
 * it names); uploads under way end first. */
static void remote_remove(struct shard_sink *s)
{
	struct shard_error ignored;
	size_t i;
	for (i = s->nwritten; i-- > 0;)
		remote_up_delete(s->up, s->written[i], &ignored);
}

/* index.json PUT once every shard is up (no_index: nothing to write). */
static int remote_close(struct shard_sink *s, struct shard_error *err)
{
	struct shard_buf b = {0};
	int rc = 0;

	/* every upload ends before the pool's threads do */
	shard_pool_free(s->pool);
	s->pool = NULL;
	if (s->failed) {
		*err = s->ferr;
		rc = err->status ? err->status : SHARD_EIO;
	} else if (s->ix.nshards != s->next) {
		rc = shard_error_set(err, SHARD_EIO, "%s: closed with shards not uploaded", s->dir);
	}
	if (!rc)
		rc = announce(s, err);
	if (!rc && !s->no_index) {
		rc = shard_index_to_json(&s->ix, &b, err);
		/* noted first: a PUT whose answer is lost may have landed, and an
		 * index must not outlive the shards an abort deletes */
		if (!rc && note_written(s, "index.json"))
			rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
		if (!rc)
			rc = remote_up_put(s->up, "index.json", b.p, b.len, err);
		shard_buf_free(&b);
	}
	if (rc) {
		shard_sink_abort(s);
		return rc;
	}
	sink_free(s);
	return 0;
}

int shard_sink_close(struct shard_sink *s, struct shard_error *err)
{
	int rc;

	if (s->remote)
		return remote_close(s, err);
	/* the shards and their directories reach the disk before an index names
	 * them: a task's part before the driver's merge, a dataset's before its
	 * index.json */
	rc = s->is_dir && s->sync ? shard_index_sync(s->dir, &s->ix, err) : 0;
	if (rc) {
		shard_sink_abort(s);
		return rc;
	} else if (s->is_dir && s->no_index) {
		rc = 0;
	} else if (s->is_dir) {
		struct shard_buf b = {0};
		char path[4096];
		snprintf(path, sizeof path, "%s/index.json", s->dir);
		rc = shard_index_to_json(&s->ix, &b, err);
		if (!rc)
			rc = shard_write_file_atomic(path, b.p, b.len, s->sync, err);
		shard_buf_free(&b);
		if (rc) {
			shard_sink_abort(s);
			return rc;
		}
	} else {
		struct shard_buf meta = {0};
		shard_buf_printf(&meta, "{\"bytes\": %llu, \"samples\": %llu, \"shards\": %llu}",
				 (unsigned long long)s->bytes, (unsigned long long)s->samples,
				 (unsigned long long)s->ix.nshards);
		rc = stream_write_frame(s->fd, "END.", meta.p, meta.len, NULL, 0, err);
		shard_buf_free(&meta);
	}
	sink_free(s);
	return rc;
}

void shard_sink_abort(struct shard_sink *s)
{
	size_t i;
	if (!s)
		return;
	if (s->remote) {
		/* the uploads queued end at once, those under way soon */
		pthread_mutex_lock(&s->lock);
		s->killed = 1;
		pthread_mutex_unlock(&s->lock);
		remote_up_cancel(s->up);
		shard_pool_free(s->pool);
		s->pool = NULL;
		remote_remove(s);
		sink_free(s);
		return;
	}
	for (i = 0; i < s->nwritten; i++)
		unlink(s->written[i]);
	sink_free(s);
}

void shard_sink_kill(struct shard_sink *s)
{
	size_t i;
	if (!s)
		return;
	/* a shard being written is finished and renamed first; no other follows */
	pthread_mutex_lock(&s->lock);
	if (s->remote) {
		/* uploads under way end at once; what they sent goes too */
		s->killed = 1;
		remote_up_cancel(s->up);
		while (s->inflight)
			pthread_cond_wait(&s->idle, &s->lock);
		remote_remove(s);
		return;
	}
	for (i = 0; i < s->nwritten; i++)
		unlink(s->written[i]);
}
