/* Growable buffers, whole-file I/O and size parsing shared by libshard.
 * Nothing here prints or exits: failures land in a struct shard_error. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shard.h"

int shard_buf_reserve(struct shard_buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (extra > SIZE_MAX - b->len)
		return SHARD_ENOMEM;
	need = b->len + extra;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->p, cap);
	if (!p)
		return SHARD_ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int shard_buf_append(struct shard_buf *b, const void *p, size_t n)
{
	if (shard_buf_reserve(b, n))
		return SHARD_ENOMEM;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

int shard_buf_putc(struct shard_buf *b, int c)
{
	if (b->len == b->cap && shard_buf_reserve(b, 1))
		return SHARD_ENOMEM;
	b->p[b->len++] = (uint8_t)c;
	return 0;
}

int shard_buf_printf(struct shard_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (shard_buf_reserve(b, 64))
		return SHARD_ENOMEM;
	va_start(ap, fmt);
	n = vsnprintf((char *)b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return SHARD_EARG;
	if ((size_t)n >= b->cap - b->len) {
		if (shard_buf_reserve(b, (size_t)n + 1))
			return SHARD_ENOMEM;
		va_start(ap, fmt);
		vsnprintf((char *)b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
	return 0;
}

void shard_buf_free(struct shard_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static int read_file(const char *path, struct shard_buf *b, uint64_t max,
		    struct shard_error *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	b->len = 0;
	if (fd < 0)
		return shard_error_set(err, SHARD_EIO, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return shard_error_set(err, SHARD_EIO, "%s: is a directory", path);
	}
	if (st.st_size > 0 && (uint64_t)st.st_size > max) {
		close(fd);
		return shard_error_set(err, SHARD_ELIMIT, "%s: file of %lld bytes is over the limit of %llu",
				       path, (long long)st.st_size, (unsigned long long)max);
	}
	if (shard_buf_reserve(b, st.st_size > 0 ? (size_t)st.st_size + 1 : 65536)) {
		close(fd);
		return shard_error_set(err, SHARD_ENOMEM, "%s: out of memory", path);
	}
	for (;;) {
		ssize_t r;
		if (b->cap - b->len < 4096 && shard_buf_reserve(b, 65536)) {
			close(fd);
			return shard_error_set(err, SHARD_ENOMEM, "%s: out of memory", path);
		}
		r = read(fd, b->p + b->len, b->cap - b->len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return shard_error_set(err, SHARD_EIO, "%s: %s", path, strerror(errno));
		}
		if (r == 0)
			break;
		b->len += (size_t)r;
		if (b->len > max) {
			close(fd);
			return shard_error_set(err, SHARD_ELIMIT, "%s: file is over the limit of %llu bytes",
					       path, (unsigned long long)max);
		}
	}
	close(fd);
	return 0;
}

int shard_read_file(const char *path, struct shard_buf *b, uint64_t max, struct shard_error *err)
{
	int rc = read_file(path, b, max, err);

	if (rc)
		shard_error_file(err, path);
	return rc;
}

int shard_write_all(int fd, const void *p, size_t n, struct shard_error *err)
{
	const uint8_t *q = p;

	while (n) {
		ssize_t w = write(fd, q, n > (1u << 30) ? (1u << 30) : n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE)
				return shard_error_set(err, SHARD_EPIPE, "broken pipe");
			return shard_error_set(err, SHARD_EIO, "write: %s", strerror(errno));
		}
		q += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Whether what lies at path is a temporary file an earlier run of ours left
 * (killed under the same process id, as happens in containers): a plain file
 * of this user with no other name. Anything else is not ours to replace. */
static int own_stray(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && st.st_nlink == 1;
}

int shard_create_new(const char *path, int rdwr, struct shard_error *err)
{
	int flags = (rdwr ? O_RDWR : O_WRONLY) | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, fd, e;
	struct stat st;

	fd = open(path, flags, 0644);
	if (fd < 0 && errno == EEXIST && own_stray(path) && (unlink(path) == 0 || errno == ENOENT))
		fd = open(path, flags, 0644);
	if (fd >= 0)
		return fd;
	e = errno;
	if (e == EEXIST && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		shard_error_set(err, SHARD_EIO, "%s: a symbolic link is in the way of this new file: refusing to write through it",
				path);
	else if (e == EEXIST)
		shard_error_set(err, SHARD_EIO, "%s: another file is in the way of this new file: refusing to write over it "
				"(a second link to a file, or not this user's)", path);
	else
		shard_error_set(err, SHARD_EIO, "%s: %s", path, strerror(e));
	return -1;
}

static int fsync_path(const char *path, int is_dir, struct shard_error *err)
{
	/* a link is followed (what it names holds the bytes); a FIFO does not block */
	int fd = open(path, O_RDONLY | O_CLOEXEC | (is_dir ? O_DIRECTORY : O_NONBLOCK)), rc = 0;

	if (fd < 0)
		return shard_error_set(err, errno == ENOENT ? SHARD_ENOENT : SHARD_EIO, "%s: %s", path, strerror(errno));
	if (fsync(fd) != 0 && errno != EINVAL)
		rc = shard_error_set(err, SHARD_EIO, "%s: fsync: %s", path, strerror(errno));
	close(fd);
	return rc;
}

int shard_fsync_path(const char *path, int is_dir, struct shard_error *err)
{
	int rc = fsync_path(path, is_dir, err);

	if (rc)
		shard_error_file(err, path);
	return rc;
}

/* The directory holding path: "." for a bare name. */
static void parent_of(const char *path, char *dir, size_t n)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, n, ".");
	else if (slash == path)
		snprintf(dir, n, "/");
	else
		snprintf(dir, n, "%.*s", (int)(slash - path), path);
}

static int write_file_atomic(const char *path, const void *p, size_t n, int sync, struct shard_error *err)
{
	char tmp[4096], dir[4096];
	int fd, rc;

	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return shard_error_set(err, SHARD_EARG, "%s: path too long", path);
	if ((fd = shard_create_new(tmp, 0, err)) < 0)
		return err ? err->status : SHARD_EIO;
	rc = shard_write_all(fd, p, n, err);
	if (!rc && sync && fsync(fd) != 0 && errno != EINVAL)
		rc = shard_error_set(err, SHARD_EIO, "%s: fsync: %s", tmp, strerror(errno));
	if (close(fd) != 0 && !rc)
		rc = shard_error_set(err, SHARD_EIO, "%s: %s", tmp, strerror(errno));
	/* rename replaces whatever has the final name, a link too, never writing through it */
	if (!rc && rename(tmp, path) != 0)
		rc = shard_error_set(err, SHARD_EIO, "%s: %s", path, strerror(errno));
	if (rc) {
		unlink(tmp);
		shard_error_prefix(err, "%s", path);
		return rc;
	}
	parent_of(path, dir, sizeof dir);
	return sync ? shard_fsync_path(dir, 1, err) : 0;
}

int shard_write_file_atomic(const char *path, const void *p, size_t n, int sync, struct shard_error *err)
{
	int rc = write_file_atomic(path, p, n, sync, err);

	if (rc)
		shard_error_file(err, path);
	return rc;
}

int shard_parse_size(const char *s, uint64_t *out)
{
	static const struct { const char *sfx; unsigned shift; } units[] = {
		{"", 0}, {"b", 0}, {"k", 10}, {"kb", 10}, {"kib", 10}, {"m", 20}, {"mb", 20},
		{"mib", 20}, {"g", 30}, {"gb", 30}, {"gib", 30}, {"t", 40}, {"tb", 40}, {"tib", 40},
	};
	char *end;
	unsigned long long v;
	size_t i;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	for (i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcasecmp(end, units[i].sfx) == 0) {
			if (units[i].shift && v > (UINT64_MAX >> units[i].shift))
				return -1;
			*out = (uint64_t)v << units[i].shift;
			return 0;
		}
	}
	return -1;
}

int shard_max_shard(uint64_t *out, struct shard_error *err)
{
	const char *v = getenv("SHARDKIT_MAX_SHARD");

	*out = SHARD_MAX_SHARD_DEFAULT;
	if (!v || !*v)
		return 0;
	if (shard_parse_size(v, out) || *out < 8 || *out > 0xFFFFFFFFull)
		return shard_error_set(err, SHARD_EARG,
				       "SHARDKIT_MAX_SHARD=%s: expected a size from 8 bytes to 4GiB less one byte "
				       "(such as 64MiB or 2GiB)", v);
	return 0;
}

uint64_t shard_max_stored(uint64_t limit)
{
	/* snappy's worst case, n + n/6 + 32, is the largest of the codecs' */
	return limit + limit / 4 + (1u << 20);
}

static int read_shard(const char *path, struct shard_buf *b, uint64_t max, struct shard_error *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	size_t size;

	b->len = 0;
	if (fd < 0)
		return shard_error_set(err, SHARD_EIO, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return shard_error_set(err, SHARD_EIO, "%s: %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return shard_error_set(err, SHARD_EDATA, "%s: not a regular file (a %s): refusing to read it",
				       path, S_ISDIR(st.st_mode) ? "directory" : S_ISFIFO(st.st_mode) ? "FIFO"
					   : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "device" : "socket or other special file");
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return shard_error_set(err, SHARD_ELIMIT, "%s: file of %lld bytes is over the limit of %llu", path,
				       (long long)st.st_size, (unsigned long long)max);
	}
	size = (size_t)st.st_size;
	if (shard_buf_reserve(b, size + 1)) {
		close(fd);
		return shard_error_set(err, SHARD_ENOMEM, "%s: out of memory", path);
	}
	while (b->len < size) {
		ssize_t r = read(fd, b->p + b->len, size - b->len > (1u << 30) ? (1u << 30) : size - b->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = errno;
			close(fd);
			return r < 0 ? shard_error_set(err, SHARD_EIO, "%s: %s", path, strerror(e))
				     : shard_error_set(err, SHARD_EDATA, "%s: file shrank while read (%zu of %zu bytes)",
						       path, b->len, size);
		}
		b->len += (size_t)r;
	}
	close(fd);
	return 0;
}

int shard_read_shard(const char *path, struct shard_buf *b, uint64_t max, struct shard_error *err)
{
	int rc = read_shard(path, b, max, err);

	if (rc)
		shard_error_file(err, path);
	return rc;
}
