/* Text inputs as Spark writes them: a file (gzip, bzip2, xz, zstd or
 * lz4-frame compressed or not, recognised from the content by libarchive), a
 * descriptor, a caller's reader or bytes in memory; and an output directory of
 * part files whose key=value subdirectories are partition values. */
#include "config.h"

#include <archive.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shard.h"
#include "internal.h"

/* ---------------------------------------------------------------- reading */

static int regular_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* libarchive's reader on a file or a descriptor, its first (raw) entry read. */
static int archive_open(struct shard_textin *t, const char *path, int fd, int *empty, struct shard_error *err)
{
	struct archive_entry *ae;
	int h;
	*empty = 0;
	if (!(t->a = archive_read_new()))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	archive_read_support_filter_all(t->a);
	archive_read_support_format_raw(t->a);
	archive_read_support_format_empty(t->a);
	if ((path ? archive_read_open_filename(t->a, path, 1 << 20) : archive_read_open_fd(t->a, fd, 1 << 20)) !=
	    ARCHIVE_OK)
		return shard_error_set(err, SHARD_EDATA, "%s", archive_error_string(t->a));
	h = archive_read_next_header(t->a, &ae);
	if (h == ARCHIVE_EOF) {
		*empty = 1;
		return 0;
	}
	if (h != ARCHIVE_OK)
		return shard_error_set(err, SHARD_EDATA, "%s", archive_error_string(t->a) ? archive_error_string(t->a)
											: "unreadable");
	return 0;
}

int shard_textin_open_path(struct shard_textin *t, const char *path, const char *name, int *empty,
			   struct shard_error *err)
{
	memset(t, 0, sizeof *t);
	t->name = name;
	t->fd = -1;
	if (archive_open(t, path, -1, empty, err))
		return err->status;
	if (!*empty && archive_filter_count(t->a) == 1 && archive_filter_code(t->a, 0) == ARCHIVE_FILTER_NONE &&
	    regular_file(path)) {
		/* not compressed: read the file itself, a copy fewer than through
		 * libarchive (not a pipe: what libarchive has read of it is gone) */
		t->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (t->fd < 0)
			return shard_error_set(err, SHARD_EIO, "%s", strerror(errno));
	}
	return 0;
}

int shard_textin_open_fd(struct shard_textin *t, int fd, const char *name, int *empty, struct shard_error *err)
{
	memset(t, 0, sizeof *t);
	t->name = name;
	t->fd = -1;
	return archive_open(t, NULL, fd, empty, err);
}

void shard_textin_open_read(struct shard_textin *t, shard_read_fn fn, void *ctx, const char *name)
{
	memset(t, 0, sizeof *t);
	t->name = name;
	t->fd = -1;
	t->fn = fn;
	t->ctx = ctx;
}

void shard_textin_open_mem(struct shard_textin *t, const void *p, size_t n, const char *name)
{
	memset(t, 0, sizeof *t);
	t->name = name;
	t->fd = -1;
	t->mem = p;
	t->len = n;
}

ssize_t shard_textin_read(void *ctx, void *buf, size_t n, struct shard_error *err)
{
	struct shard_textin *t = ctx;
	la_ssize_t k;
	if (t->fd >= 0) {
		ssize_t got;
		while ((got = read(t->fd, buf, n)) < 0 && errno == EINTR)
			;
		if (got < 0)
			return shard_error_set(err, SHARD_EIO, "%s: %s", t->name, strerror(errno)), -1;
		return got;
	}
	if (t->fn)
		return t->fn(t->ctx, buf, n, err);
	if (!t->a) {
		if (n > t->len - t->pos)
			n = t->len - t->pos;
		if (n)
			memcpy(buf, t->mem + t->pos, n);
		t->pos += n;
		return (ssize_t)n;
	}
	k = archive_read_data(t->a, buf, n);
	if (k < 0)
		return shard_error_set(err, SHARD_EDATA, "%s: %s", t->name, archive_error_string(t->a)), -1;
	return (ssize_t)k;
}

void shard_textin_close(struct shard_textin *t)
{
	if (t->fd >= 0)
		close(t->fd);
	if (t->a)
		archive_read_free(t->a);
	t->fd = -1;
	t->a = NULL;
}

int shard_textin_hadoop(const char *path, struct shard_error *err)
{
	size_t n = strlen(path);
	unsigned char magic[4] = {0};
	const char *why = NULL;
	FILE *f;
	if (n > 7 && strcmp(path + n - 7, ".snappy") == 0)
		why = "Hadoop's block-framed snappy cannot be read outside Hadoop";
	if (n > 4 && strcmp(path + n - 4, ".lz4") == 0 && (f = fopen(path, "rb"))) {
		size_t got = fread(magic, 1, 4, f);
		fclose(f);
		if (got < 4 || memcmp(magic, "\x04\x22\x4d\x18", 4) != 0)
			why = "Hadoop's block-framed lz4 is not the lz4 frame format";
	}
	if (!why)
		return 0;
	return shard_error_set(err, SHARD_EDATA, "%s: %s; write the export with option(\"compression\", \"gzip\") "
				"or \"bzip2\" (or none) instead", path, why);
}

/* ---------------------------------------------------------------- partition directories */

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Spark escapes partition values in directory names as %XX (its
 * escapePathName); undo that so the column holds the value itself. */
static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static char *unescape_path(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;
	if (!out)
		return NULL;
	while (*s) {
		if (s[0] == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
			*o++ = (char)(hexval(s[1]) << 4 | hexval(s[2]));
			s += 3;
		} else {
			*o++ = *s++;
		}
	}
	*o = 0;
	return out;
}

struct walk {
	shard_part_fn fn;
	void *ctx;
	char **keys, **vals;	/* the partition of the directory being walked, np deep */
	size_t np;
	struct shard_error *err;
};

static int walk_dir(struct walk *w, const char *dir);

/* A key=value subdirectory: its key and value pushed, walked, popped. */
static int walk_partition(struct walk *w, const char *path, const char *name)
{
	const char *eq = strchr(name, '=');
	char **k2, **v2;
	int rc;
	if (!eq || eq == name)
		return shard_error_set(w->err, SHARD_EDATA, "%s: a subdirectory that is not a key=value partition", path);
	k2 = realloc(w->keys, (w->np + 1) * sizeof *k2);
	if (k2)
		w->keys = k2;
	v2 = realloc(w->vals, (w->np + 1) * sizeof *v2);
	if (v2)
		w->vals = v2;
	if (!k2 || !v2)
		return shard_error_set(w->err, SHARD_ENOMEM, "out of memory");
	w->keys[w->np] = strndup(name, (size_t)(eq - name));
	w->vals[w->np] = unescape_path(eq + 1);
	if (!w->keys[w->np] || !w->vals[w->np])
		rc = shard_error_set(w->err, SHARD_ENOMEM, "out of memory");
	else {
		w->np++;
		rc = walk_dir(w, path);
		w->np--;
	}
	free(w->keys[w->np]);
	free(w->vals[w->np]);
	return rc;
}

static int walk_dir(struct walk *w, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, i;
	int rc = 0;

	if (!d)
		return shard_error_set(w->err, SHARD_EIO, "%s: %s", dir, strerror(errno));
	while ((de = readdir(d)) && !rc) {
		char **nn;
		if (de->d_name[0] == '_' || de->d_name[0] == '.')
			continue;
		if (!(nn = realloc(names, (n + 1) * sizeof *names)) || !(nn[n] = strdup(de->d_name)))
			rc = shard_error_set(w->err, SHARD_ENOMEM, "out of memory");
		else
			n++;
		if (nn)
			names = nn;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmp_name);
	for (i = 0; i < n && !rc; i++) {
		char path[PATH_MAX];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		if (stat(path, &st) != 0)
			rc = shard_error_set(w->err, SHARD_EIO, "%s: %s", path, strerror(errno));
		else if (S_ISDIR(st.st_mode))
			rc = walk_partition(w, path, names[i]);
		else
			rc = w->fn(w->ctx, path, (const char *const *)w->keys, (const char *const *)w->vals, w->np, w->err);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int shard_part_walk(const char *dir, shard_part_fn fn, void *ctx, struct shard_error *err)
{
	struct walk w = {fn, ctx, NULL, NULL, 0, err};
	int rc = walk_dir(&w, dir);
	free(w.keys);
	free(w.vals);
	return rc;
}
