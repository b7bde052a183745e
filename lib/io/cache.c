/* A cache of fetched files on local disk, shared by the processes of a job.
 *
 * DIR/KEY holds a file (KEY: the SHA-1 of the dataset's URL, a newline and
 * the basename), whole or not at all: it is written under a temporary name
 * and renamed. DIR/locks/KEY is the key's lock: whoever holds it fetches the
 * file, the others wait, then read what it stored. Files are checked against
 * their index entry (size and hashes) on the way in and on every read; one
 * that fails is dropped. A read touches the file's times; past the size limit
 * the least recently used files go, under the lock DIR/locks/.evict. A file
 * another process has open stays readable there: it is read whole, and an
 * unlinked file lives on while open. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shard.h"
#include "internal.h"
#include "remote.h"

struct fetch_cache {
	char *dir;
	uint64_t limit;
	unsigned serial;
};

int cache_open(struct fetch_cache **out, const char *dir, uint64_t limit, struct shard_error *err)
{
	struct fetch_cache *c;
	char p[4200];
	struct stat st;

	*out = NULL;
	if (strlen(dir) > 4000)
		return shard_error_set(err, SHARD_EARG, "%s: cache directory name too long", dir);
	snprintf(p, sizeof p, "%s/locks", dir);
	if ((mkdir(dir, 0777) && errno != EEXIST) || (mkdir(p, 0777) && errno != EEXIST))
		return shard_error_set(err, SHARD_EIO, "%s: cannot create the cache directory: %s", dir,
				       strerror(errno));
	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		return shard_error_set(err, SHARD_EIO, "%s: not a directory (the cache)", dir);
	if (!(c = calloc(1, sizeof *c)) || !(c->dir = strdup(dir))) {
		free(c);
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	c->limit = limit;
	*out = c;
	return 0;
}

void cache_close(struct fetch_cache *c)
{
	if (!c)
		return;
	free(c->dir);
	free(c);
}

static int key_of(const char *url, const char *name, char *key)
{
	struct shard_buf b = {0};
	struct shard_error err;
	int rc = shard_buf_printf(&b, "%s\n%s", url, name) || shard_hash_hex("sha1", b.p, b.len, key, &err);
	shard_buf_free(&b);
	return rc ? -1 : 0;
}

void cache_unlock(int lock)
{
	if (lock >= 0)
		close(lock);	/* the flock goes with it */
}

/* The key's lock: its descriptor, or -1 when another process holds it
 * (*busy) or it cannot be had. */
static int lock_key(const struct fetch_cache *c, const char *key, int *busy)
{
	char p[4200];
	int fd;

	*busy = 0;
	snprintf(p, sizeof p, "%s/locks/%s", c->dir, key);
	if ((fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		*busy = errno == EWOULDBLOCK;
		close(fd);
		return -1;
	}
	return fd;
}

/* A cached file read and checked: 1 good (its times touched), 0 none there,
 * -1 there but bad (with drop, removed: only under the key's lock, whose
 * holder alone writes it). */
static int read_checked(const struct fetch_cache *c, const char *key, const struct shard_fileinfo *fi, uint64_t max,
			struct shard_buf *body, int drop)
{
	char p[4200];
	struct shard_error err;
	int rc;

	snprintf(p, sizeof p, "%s/%s", c->dir, key);
	body->len = 0;
	if ((rc = shard_read_file(p, body, max, &err)) == SHARD_ENOENT || (rc && access(p, F_OK) && errno == ENOENT))
		return 0;
	if (rc || shard_fileinfo_verify(fi, body->p, body->len, 1, p, &err)) {
		body->len = 0;
		if (drop)
			unlink(p);
		return -1;
	}
	utimensat(AT_FDCWD, p, NULL, 0);
	return 1;
}

int cache_get(struct fetch_cache *c, const char *url, const char *name, const struct shard_fileinfo *fi,
	      uint64_t max, struct shard_buf *body, int *lock, unsigned *dropped)
{
	char key[160];
	int got, busy;

	*lock = -1;
	/* without an entry and a hash to check it against, a file is neither
	 * kept nor trusted: a size alone does not tell a rewritten shard */
	if (!fi || !fi->nhashes || key_of(url, name, key))
		return CACHE_MISS;
	/* a file that fails here is judged again under the lock */
	if (read_checked(c, key, fi, max, body, 0) > 0)
		return CACHE_HIT;
	if ((*lock = lock_key(c, key, &busy)) < 0)
		return busy ? CACHE_BUSY : CACHE_MISS;
	/* stored while this process waited for the lock, or bad: dropped */
	if ((got = read_checked(c, key, fi, max, body, 1)) > 0) {
		cache_unlock(*lock);
		*lock = -1;
		return CACHE_HIT;
	}
	if (got < 0)
		++*dropped;
	return CACHE_MISS;
}

struct cached {
	char name[48];
	uint64_t size;
	struct timespec used;
};

static int older(const void *a, const void *b)
{
	const struct cached *x = a, *y = b;
	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	return x->used.tv_nsec < y->used.tv_nsec ? -1 : x->used.tv_nsec > y->used.tv_nsec;
}

static int is_key(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");
	return n == 40 && !s[n];
}

/* Past the limit, the least recently used files go, oldest first, under the
 * eviction lock; one whose key another process holds (being fetched or
 * dropped) is left alone. */
static void evict(struct fetch_cache *c, const char *keep)
{
	char p[4200];
	struct cached *v = NULL;
	size_t n = 0, cap = 0, i;
	uint64_t total = 0;
	struct dirent *d;
	DIR *dir;
	int lk;

	snprintf(p, sizeof p, "%s/locks/.evict", c->dir);
	if ((lk = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) < 0)
		return;
	if (flock(lk, LOCK_EX) || !(dir = opendir(c->dir))) {
		close(lk);
		return;
	}
	while ((d = readdir(dir))) {
		struct stat st;
		/* the temporary file of a process killed while it wrote, an hour on */
		if (strncmp(d->d_name, ".tmp-", 5) == 0 && fstatat(dirfd(dir), d->d_name, &st, 0) == 0 &&
		    st.st_mtime < time(NULL) - 3600) {
			unlinkat(dirfd(dir), d->d_name, 0);
			continue;
		}
		if (!is_key(d->d_name) || fstatat(dirfd(dir), d->d_name, &st, 0) || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			struct cached *w = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof *v);
			if (!w)
				break;
			v = w;
		}
		snprintf(v[n].name, sizeof v[n].name, "%s", d->d_name);
		v[n].size = (uint64_t)st.st_size;
		v[n].used = st.st_mtim;
		total += v[n].size;
		n++;
	}
	closedir(dir);
	if (total > c->limit && n) {
		qsort(v, n, sizeof *v, older);
		for (i = 0; i < n && total > c->limit; i++) {
			int busy, kl;
			if (strcmp(v[i].name, keep) == 0 || (kl = lock_key(c, v[i].name, &busy)) < 0)
				continue;
			snprintf(p, sizeof p, "%s/%s", c->dir, v[i].name);
			if (unlink(p) == 0)
				total -= v[i].size;
			cache_unlock(kl);
		}
	}
	free(v);
	close(lk);
}

/* p..p+n as the cached file of key: a temporary file renamed into place. */
static int store(struct fetch_cache *c, const char *key, const void *p, size_t n)
{
	char tmp[4300], dst[4200];
	struct shard_error err;
	int fd, rc;

	snprintf(tmp, sizeof tmp, "%s/.tmp-%s-%ld-%u", c->dir, key, (long)getpid(), c->serial++);
	snprintf(dst, sizeof dst, "%s/%s", c->dir, key);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
		return -1;
	rc = shard_write_all(fd, p, n, &err);
	if (close(fd))
		rc = -1;
	if (rc || rename(tmp, dst)) {
		unlink(tmp);
		return -1;
	}
	evict(c, key);
	return 0;
}

int cache_put(struct fetch_cache *c, const char *url, const char *name, const struct shard_fileinfo *fi,
	      const void *p, size_t n)
{
	char key[160];
	struct shard_error err;

	if (!fi || !fi->nhashes || key_of(url, name, key) || shard_fileinfo_verify(fi, p, n, 1, name, &err) ||
	    n > c->limit)
		return -1;
	return store(c, key, p, n);
}

int cache_keep(struct fetch_cache *c, const char *url, const char *name, const void *p, size_t n)
{
	char key[160];
	if (key_of(url, name, key) || n > c->limit)
		return -1;
	return store(c, key, p, n);
}

int cache_read(struct fetch_cache *c, const char *url, const char *name, uint64_t max, struct shard_buf *body)
{
	char key[160], p[4200];
	struct shard_error err;

	if (key_of(url, name, key))
		return -1;
	snprintf(p, sizeof p, "%s/%s", c->dir, key);
	body->len = 0;
	if (shard_read_file(p, body, max, &err))
		return -1;
	utimensat(AT_FDCWD, p, NULL, 0);
	return 0;
}
