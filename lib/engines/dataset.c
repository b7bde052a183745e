/* Operations on a dataset as a whole: an index made from the shard files in
 * a directory, indexes merged from the parts below a directory or from
 * entries one per line, and the files below a dataset that its index.json
 * does not reference (found, and removed). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shard.h"

int shard_schema_same(const struct shard_schema *a, const struct shard_schema *b)
{
	size_t i;
	if (a->ncols != b->ncols)
		return 0;
	for (i = 0; i < a->ncols; i++)
		if (strcmp(a->names[i], b->names[i]) || strcmp(a->enc_names[i], b->enc_names[i]))
			return 0;
	return 1;
}

uint64_t shard_index_samples(const struct shard_index *ix)
{
	uint64_t n = 0;
	size_t i;
	for (i = 0; i < ix->nshards; i++)
		n += ix->shards[i].samples;
	return n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A sorted list of strings. */
struct paths {
	char **v;
	size_t n;
};

static int paths_add(struct paths *p, const char *s, size_t len)
{
	char **v = realloc(p->v, (p->n + 1) * sizeof *v);
	if (!v)
		return -1;
	p->v = v;
	if (!(v[p->n] = strndup(s, len)))
		return -1;
	p->n++;
	return 0;
}

static void paths_sort(struct paths *p)
{
	size_t i, k = 0;
	if (!p->n)
		return;
	qsort(p->v, p->n, sizeof *p->v, cmp_str);
	for (i = 1; i < p->n; i++) {
		if (strcmp(p->v[k], p->v[i]) == 0)
			free(p->v[i]);
		else
			p->v[++k] = p->v[i];
	}
	p->n = k + 1;
}

static int paths_has(const struct paths *p, const char *s)
{
	return p->n && bsearch(&s, p->v, p->n, sizeof *p->v, cmp_str) != NULL;
}

static void paths_free(struct paths *p)
{
	size_t i;
	for (i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	memset(p, 0, sizeof *p);
}

static char *joined(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s%s%s", dir, *dir && dir[strlen(dir) - 1] != '/' ? "/" : "", name);
	return s;
}

/* ---------------------------------------------------------------- create */

static int shard_file_name(const char *n)
{
	const char *m = strstr(n, ".mds");
	if (!m || n[0] == '.')
		return 0;
	if (m[4] == 0)
		return 1;
	return m[4] == '.' && strchr(m + 5, '.') == NULL && !strstr(n, ".tmp");
}

/* An entry's file infos anew under the hashes algos, from the bytes read. */
static int rehash(struct shard_item *it, const char *const *algos, size_t nalgos, struct shard_error *err)
{
	struct shard_entry *e = &it->entry, old = {0};
	struct shard_fileinfo raw, zip;
	size_t k;
	int rc;

	for (k = 0; k < e->nhashes; k++)
		free(e->hashes[k]);
	free(e->hashes);
	e->nhashes = 0;
	if (!(e->hashes = calloc(nalgos + 1, sizeof *e->hashes)))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	for (k = 0; k < nalgos; k++)
		if (!(e->hashes[e->nhashes++] = strdup(algos[k])))
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	/* fill copies the basenames */
	if ((rc = shard_fileinfo_fill(&raw, algos, nalgos, e->raw.basename, it->mds.data, it->mds.size, err)))
		return rc;
	if (e->has_zip &&
	    (rc = shard_fileinfo_fill(&zip, algos, nalgos, e->zip.basename, it->stored.p, it->stored.len, err))) {
		old.raw = raw;
		shard_entry_free(&old);
		return rc;
	}
	old.raw = e->raw;
	e->raw = raw;
	if (e->has_zip) {
		old.zip = e->zip;
		e->zip = zip;
	}
	shard_entry_free(&old);
	return 0;
}

/* Whether name is a path below a dataset with a part starting with '.' or
 * '_' (see left_alone). */
static int hidden_path(const char *name)
{
	const char *p;
	if (name[0] == '.' || name[0] == '_')
		return 1;
	for (p = strchr(name, '/'); p; p = strchr(p + 1, '/'))
		if (p[1] == '.' || p[1] == '_')
			return 1;
	return 0;
}

/* The index of an s3:// dataset's shard files (those right below it): each
 * fetched into a temporary directory and indexed there as a local one. */
static int create_remote(struct shard_index *ix, const char *url, const char *const *algos, size_t nalgos,
			 int replace, struct shard_error *err)
{
	struct shard_remote *r;
	struct shard_remote_file *v = NULL;
	struct shard_buf b = {0};
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX], path[PATH_MAX];
	size_t n = 0, i, got = 0;
	uint64_t max;
	int rc;

	if ((rc = shard_max_shard(&max, err)) || (rc = shard_remote_open(&r, url, err)))
		return rc;
	if ((rc = shard_remote_list(r, "", &v, &n, err)))
		goto out;
	for (i = 0; i < n; i++)
		if (strcmp(v[i].name, "index.json") == 0 && !replace) {
			rc = shard_error_set(err, SHARD_EIO, "%s/index.json: already exists (use --force to replace it)",
					     shard_remote_url(r));
			goto out;
		}
	snprintf(dir, sizeof dir, "%s/shardkit-create-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		rc = shard_error_set(err, SHARD_EIO, "%s: %s", dir, strerror(errno));
		goto out;
	}
	for (i = 0; i < n && !rc; i++) {
		if (strchr(v[i].name, '/') || !shard_file_name(v[i].name))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, v[i].name);
		if (!(rc = shard_remote_get(r, v[i].name, &b, shard_max_stored(max), err)))
			rc = shard_write_file_atomic(path, b.p, b.len, 0, err);
		got++;
	}
	if (!rc && !got)
		rc = shard_error_set(err, SHARD_EIO, "%s: no shard files (*.mds or *.mds.EXT)", shard_remote_url(r));
	if (!rc)
		rc = shard_dataset_create(ix, dir, algos, nalgos, 1, err);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, v[i].name);
		if (!strchr(v[i].name, '/'))
			unlink(path);
	}
	rmdir(dir);
out:
	shard_buf_free(&b);
	shard_remote_files_free(v, n);
	shard_remote_close(r);
	return rc;
}

int shard_dataset_create(struct shard_index *ix, const char *dir, const char *const *algos, size_t nalgos,
			 int replace, struct shard_error *err)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	char **names = NULL, path[PATH_MAX];
	size_t n = 0, i;
	int rc = 0;

	memset(ix, 0, sizeof *ix);
	if (shard_is_url(dir))
		return create_remote(ix, dir, algos, nalgos, replace, err);
	if (!(d = opendir(dir)))
		return shard_error_set(err, SHARD_EIO, "%s: %s", dir, strerror(errno));
	snprintf(path, sizeof path, "%s/index.json", dir);
	if (stat(path, &st) == 0 && !replace)
		rc = shard_error_set(err, SHARD_EIO, "%s: already exists (use --force to replace it)", path);
	for (i = 0; !rc && algos && i < nalgos; i++) {
		if (!shard_hash_known(algos[i]))
			rc = shard_error_set(err, SHARD_EARG, "unknown hash '%s'", algos[i]);
		else if (i && strcmp(algos[i - 1], algos[i]) >= 0)
			rc = shard_error_set(err, SHARD_EARG, "--hashes must be sorted and unique, as MDS requires");
	}
	while (!rc && (de = readdir(d))) {
		char **v;
		if (!shard_file_name(de->d_name))
			continue;
		if (!(v = realloc(names, (n + 1) * sizeof *names)) || !(v[n] = strdup(de->d_name)))
			rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
		if (v) {
			names = v;
			n += !rc;
		}
	}
	closedir(d);
	if (!rc && !n)
		rc = shard_error_set(err, SHARD_EIO, "%s: no shard files (*.mds or *.mds.EXT)", dir);
	if (n)
		qsort(names, n, sizeof *names, cmp_str);
	for (i = 0; !rc && i < n; i++) {
		struct shard_source *src;
		struct shard_item it = {0};
		size_t len = strlen(names[i]);
		/* a raw shard whose compressed twin is listed too is the same shard */
		if (i + 1 < n && strncmp(names[i + 1], names[i], len) == 0 && names[i + 1][len] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		if ((rc = shard_source_open(&src, path, 0, err)))
			break;
		if (shard_source_next(src, &it, err) < 0)
			rc = err->status;
		else if (algos)
			rc = rehash(&it, algos, nalgos, err);
		if (!rc && shard_index_append(ix, &it.entry))
			rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
		shard_item_free(&it);
		shard_source_close(src);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (rc)
		shard_index_free(ix);
	return rc;
}

/* ---------------------------------------------------------------- merge */

/* The index.json files below dir (not dir's own), never through a symbolic
 * link; directories that cannot be read are passed over. */
static int collect(struct paths *found, const char *dir, int level)
{
	DIR *d;
	struct dirent *de;
	struct stat st;
	int rc = 0;

	/* dir itself: not through a symbolic link, and a file has nothing below it */
	if (!level && lstat(dir, &st) != 0)
		return -1;
	if (!level && !S_ISDIR(st.st_mode))
		return 0;
	if (!(d = opendir(dir)))
		return level ? 0 : -1;
	while (!rc && (de = readdir(d))) {
		char *path;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!(path = joined(dir, de->d_name))) {
			errno = ENOMEM;
			rc = -1;
		} else if (lstat(path, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				rc = collect(found, path, level + 1);
			else if (!S_ISLNK(st.st_mode) && level && strcmp(de->d_name, "index.json") == 0 &&
				 paths_add(found, path, strlen(path)))
				rc = -1;
		}
		free(path);
	}
	closedir(d);
	return rc;
}

/* basename from a part's dir, relative to the output dir */
static int rebase(struct shard_fileinfo *f, const char *rel)
{
	size_t n = strlen(rel) + strlen(f->basename) + 2;
	char *s = malloc(n);
	if (!s)
		return -1;
	snprintf(s, n, "%s%s%s", rel, *rel ? "/" : "", f->basename);
	free(f->basename);
	f->basename = s;
	return 0;
}

/* Both paths made absolute; returns the part of path below root, or NULL. */
static char *relative_to(const char *root, const char *path)
{
	char a[PATH_MAX], b[PATH_MAX];
	size_t n;
	if (!realpath(root, a) || !realpath(path, b))
		return NULL;
	n = strlen(a);
	if (strncmp(a, b, n) != 0 || (b[n] != '/' && b[n] != 0))
		return NULL;
	return strdup(b[n] ? b + n + 1 : "");
}

/* One part's index into ix: its basenames made relative to the dataset by
 * rel, the "shardkit" metadata kept in *extra while every part agrees. */
static int merge_part(struct shard_index *ix, struct shard_index *part, const char *rel, size_t i, char **extra,
		      struct shard_error *err)
{
	size_t k;
	for (k = 0; k < part->nshards; k++) {
		struct shard_entry *e = &part->shards[k];
		if (rebase(&e->raw, rel) || (e->has_zip && rebase(&e->zip, rel)) || shard_index_append(ix, e))
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	/* logical column types carry over when every part agrees */
	if (i == 0 && part->extra)
		*extra = strdup(part->extra);
	else if (*extra && (!part->extra || strcmp(*extra, part->extra) != 0)) {
		free(*extra);
		*extra = NULL;
	}
	return 0;
}

/* The index.json files below an s3:// dataset (not its own), merged into the
 * dataset's: out must be the same dataset. */
static int merge_remote(struct shard_index *ix, const char *url, const char *out, size_t *nparts,
			struct shard_error *err)
{
	struct shard_remote *r, *o = NULL;
	struct shard_remote_file *v = NULL;
	struct shard_buf b = {0};
	char *extra = NULL, name[PATH_MAX];
	size_t n = 0, i;
	int rc;

	if ((rc = shard_remote_open(&r, url, err)))
		return rc;
	if (!shard_is_url(out) || (rc = shard_remote_open(&o, out, err)) == 0) {
		if (!o || strcmp(shard_remote_url(o), shard_remote_url(r)) != 0)
			rc = shard_error_set(err, SHARD_EARG, "%s: the index of an s3:// dataset's parts goes in the "
					     "dataset itself, not in %s", shard_remote_url(r), out);
	}
	if (!rc)
		rc = shard_remote_list(r, "", &v, &n, err);
	for (i = 0; i < n && !rc; i++) {
		struct shard_index part;
		size_t len = strlen(v[i].name);
		if (len <= 11 || strcmp(v[i].name + len - 11, "/index.json") != 0 || hidden_path(v[i].name))
			continue;
		snprintf(name, sizeof name, "%s/%s", shard_remote_url(r), v[i].name);
		if ((rc = shard_remote_get(r, v[i].name, &b, 1ull << 30, err)) ||
		    (rc = shard_index_parse(&part, (const char *)b.p, b.len, name, err)))
			break;
		v[i].name[len - 11] = 0;
		rc = merge_part(ix, &part, v[i].name, *nparts, &extra, err);
		shard_index_free(&part);
		++*nparts;
	}
	if (!rc && !*nparts)
		rc = shard_error_set(err, SHARD_EIO, "%s: no index.json files below it to merge", shard_remote_url(r));
	ix->extra = extra;
	if (rc)
		shard_index_free(ix);
	shard_buf_free(&b);
	shard_remote_files_free(v, n);
	shard_remote_close(o);
	shard_remote_close(r);
	return rc;
}

int shard_dataset_merge(struct shard_index *ix, const char *dir, const char *out, size_t *nparts,
			struct shard_error *err)
{
	struct paths found = {0};
	char *extra = NULL;
	size_t i;
	int rc = 0;

	memset(ix, 0, sizeof *ix);
	*nparts = 0;
	if (shard_is_url(dir))
		return merge_remote(ix, dir, out, nparts, err);
	if (collect(&found, dir, 0) != 0) {
		rc = shard_error_set(err, errno == ENOMEM ? SHARD_ENOMEM : SHARD_EIO, "%s: %s", dir, strerror(errno));
		goto out;
	}
	if (!found.n) {
		rc = shard_error_set(err, SHARD_EIO, "%s: no index.json files below it to merge", dir);
		goto out;
	}
	qsort(found.v, found.n, sizeof *found.v, cmp_str);
	for (i = 0; !rc && i < found.n; i++) {
		struct shard_index part;
		char *rel;
		if ((rc = shard_index_load(&part, found.v[i], err)))
			break;
		*strrchr(found.v[i], '/') = 0;
		if (!(rel = relative_to(out, found.v[i])))
			rc = shard_error_set(err, SHARD_EIO, "%s: not inside the output directory %s", found.v[i], out);
		else
			rc = merge_part(ix, &part, rel, i, &extra, err);
		free(rel);
		shard_index_free(&part);
	}
	*nparts = found.n;
	ix->extra = extra;
out:
	paths_free(&found);
	if (rc)
		shard_index_free(ix);
	return rc;
}

/* Whether an entry's file is in dir: 1 when there (its size as the entry
 * says), 0 when missing, -1 when its size differs (err says). */
static int file_here(const char *dir, const struct shard_fileinfo *f, struct shard_error *err)
{
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", dir, f->basename);
	if (stat(path, &st) != 0)
		return 0;
	if ((uint64_t)st.st_size != f->bytes)
		return -shard_error_set(err, SHARD_EDATA, "%s: %lld bytes, the entry says %llu", path,
					(long long)st.st_size, (unsigned long long)f->bytes);
	return 1;
}

int shard_index_add_line(struct shard_index *ix, const char *dir, const char *line, size_t len, const char *where,
			 struct shard_error *err)
{
	struct shard_entry e;
	int have, zip, rc = 0;

	/* {"shardkit": {...}}: the dataset's extra metadata (logical types),
	 * which every writer of a shared dataset repeats */
	if (len >= 12 && strncmp(line, "{\"shardkit\":", 12) == 0) {
		json_t *o = json_loadb(line, len, 0, NULL), *x = json_object_get(o, "shardkit");
		char *s = json_is_object(x) && json_object_size(o) == 1 ? json_dumps(x, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
		json_decref(o);
		if (!s)
			return shard_error_set(err, SHARD_EDATA, "%s: malformed shardkit metadata line", where);
		if (ix->extra && strcmp(ix->extra, s) != 0) {
			free(s);
			return shard_error_set(err, SHARD_EDATA, "%s: writers disagree on the dataset's metadata", where);
		}
		free(ix->extra);
		ix->extra = s;
		return 0;
	}
	if (shard_entry_from_json(&e, line, len, err))
		return shard_error_prefix(err, "%s", where);
	/* an s3:// dataset's files are checked in one listing, by
	 * shard_index_put_remote */
	if (shard_is_url(dir)) {
		rc = shard_index_append(ix, &e) ? shard_error_set(err, SHARD_ENOMEM, "out of memory") : 0;
		shard_entry_free(&e);
		return rc;
	}
	have = file_here(dir, &e.raw, err);
	if (have >= 0 && e.has_zip && (zip = file_here(dir, &e.zip, err)) != 0)
		have = zip < 0 ? zip : 1;
	if (have < 0)
		rc = err->status;
	else if (!have)
		rc = shard_error_set(err, SHARD_EDATA, "%s: %s/%s: the shard this entry names is missing", where, dir,
				     e.has_zip ? e.zip.basename : e.raw.basename);
	else if (shard_index_append(ix, &e))
		rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
	shard_entry_free(&e);
	return rc;
}

/* ---------------------------------------------------------------- unreferenced files */

/* Names starting with '.' or '_' are not looked at, nor below such a
 * directory: by the convention Hadoop and Spark follow they are not data
 * (_SUCCESS, _temporary/, .crc files), and neither are editors', NFS's and
 * version control's dot files. */
static int left_alone(const char *name)
{
	return name[0] == '.' || name[0] == '_';
}

/* What a writer leaves while writing PATH: PATH.tmp.PID. */
static int temporary(const char *name)
{
	const char *t = strstr(name, ".tmp."), *next;
	while (t && (next = strstr(t + 1, ".tmp.")))
		t = next;
	return t && t[5] && strspn(t + 5, "0123456789") == strlen(t + 5);
}

struct scan {
	struct paths files, dirs;	/* referenced: the shard files, the directories above them */
	struct shard_orphan *v;
	size_t n;
	int nomem;
};

static void scan_add(struct scan *s, const char *rel, int is_dir, int errnum, uint64_t files, uint64_t bytes)
{
	struct shard_orphan *v = realloc(s->v, (s->n + 1) * sizeof *v);
	if (!v || !(v[s->n].rel = strdup(rel))) {
		if (v)
			s->v = v;
		s->nomem = 1;
		return;
	}
	v[s->n].is_dir = is_dir;
	v[s->n].errnum = errnum;
	v[s->n].files = files;
	v[s->n].bytes = bytes;
	s->v = v;
	s->n++;
}

/* The names in an open directory but . and .., sorted; the directory is
 * closed. NULL with *n 0 when it holds none or memory ran out (*nomem). */
static char **dir_names(DIR *d, size_t *n, int *nomem)
{
	char **v = NULL, **w;
	struct dirent *de;
	*n = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!(w = realloc(v, (*n + 1) * sizeof *v)) || !(w[*n] = strdup(de->d_name))) {
			*nomem = 1;
			if (w)
				v = w;
			break;
		}
		v = w;
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof *v, cmp_str);
	return v;
}

/* The directory name in the one open as pfd, never through a symbolic link:
 * its names but . and .., sorted, in *names, and a descriptor for it
 * returned; -1 with errno. */
static int read_dir_at(int pfd, const char *name, char ***names, size_t *n, int *nomem)
{
	int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), keep = -1, e;
	DIR *d = NULL;

	if (fd >= 0 && (keep = dup(fd)) >= 0 && (d = fdopendir(fd))) {
		*names = dir_names(d, n, nomem);
		return keep;
	}
	e = errno;
	if (fd >= 0)
		close(fd);
	if (keep >= 0)
		close(keep);
	errno = e;
	return -1;
}

/* Add what index.json does not reference below the directory name in the
 * one open as pfd to s (rel: its path below the dataset, "" for the dataset's
 * own). Symbolic links are never followed. Returns 1 when nothing in the
 * directory is referenced, left alone or unreadable: it goes as a whole, and
 * files and bytes count what it holds. */
static int scan_dir(struct scan *s, int pfd, const char *name, const char *rel, uint64_t *files, uint64_t *bytes)
{
	char **names = NULL;
	size_t n, i;
	int whole = 1, fd = read_dir_at(pfd, name, &names, &n, &s->nomem);

	if (fd < 0) {
		scan_add(s, rel, 1, errno, 0, 0);
		return 0;
	}
	for (i = 0; i < n; i++) {
		char *child = joined(rel, names[i]);
		struct stat st;
		uint64_t f = 0, b = 0;

		if (!child) {
			s->nomem = 1;
		/* index.json is the dataset's, or a part's that the dataset uses */
		} else if (left_alone(names[i]) || paths_has(&s->files, child) ||
			   (strcmp(names[i], "index.json") == 0 && (!*rel || paths_has(&s->dirs, rel)))) {
			whole = 0;
		} else if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno != ENOENT) {	/* else gone since it was listed */
				scan_add(s, child, 0, errno, 0, 0);
				whole = 0;
			}
		} else if (!S_ISDIR(st.st_mode)) {
			/* a link standing for a directory the index goes through is used */
			if (paths_has(&s->dirs, child)) {
				whole = 0;
			} else {
				scan_add(s, child, 0, 0, 1, (uint64_t)st.st_size);
				(*files)++;
				*bytes += (uint64_t)st.st_size;
			}
		} else {
			size_t mark = s->n;
			if (scan_dir(s, fd, names[i], child, &f, &b) && !paths_has(&s->dirs, child)) {
				while (s->n > mark)
					free(s->v[--s->n].rel);
				scan_add(s, child, 1, 0, f, b);
			} else {
				whole = 0;
			}
			*files += f;
			*bytes += b;
		}
		free(child);
		free(names[i]);
	}
	free(names);
	close(fd);
	return whole;
}

void shard_orphans_free(struct shard_orphan *v, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++)
		free(v[i].rel);
	free(v);
}

static int remote_referenced(const struct paths *files, const struct paths *dirs, const char *name);

/* The objects below an s3:// dataset that s does not reference, one by one
 * (a bucket has no directories to report whole). */
static int unreferenced_remote(struct scan *s, const char *url, struct shard_error *err)
{
	struct shard_remote *r;
	struct shard_remote_file *v = NULL;
	size_t n = 0, i;
	int rc;

	if ((rc = shard_remote_open(&r, url, err)))
		return rc;
	if (!(rc = shard_remote_list(r, "", &v, &n, err)))
		for (i = 0; i < n; i++)
			if (!hidden_path(v[i].name) && !remote_referenced(&s->files, &s->dirs, v[i].name))
				scan_add(s, v[i].name, 0, 0, 1, v[i].size);
	shard_remote_files_free(v, n);
	shard_remote_close(r);
	return rc;
}

int shard_dataset_unreferenced(const char *dir, const struct shard_index *ix, struct shard_orphan **out, size_t *n,
			       struct shard_error *err)
{
	struct scan s = {0};
	size_t i, k;
	uint64_t files = 0, bytes = 0;
	int root;

	*out = NULL;
	*n = 0;
	for (i = 0; i < ix->nshards; i++)
		for (k = 0; k < 2; k++) {
			const struct shard_fileinfo *f = k ? &ix->shards[i].zip : &ix->shards[i].raw;
			const char *slash;
			if (k && !ix->shards[i].has_zip)
				continue;
			s.nomem |= paths_add(&s.files, f->basename, strlen(f->basename)) != 0;
			for (slash = strchr(f->basename, '/'); slash; slash = strchr(slash + 1, '/'))
				s.nomem |= paths_add(&s.dirs, f->basename, (size_t)(slash - f->basename)) != 0;
		}
	paths_sort(&s.files);
	paths_sort(&s.dirs);
	if (!s.nomem && strncmp(dir, "s3://", 5) == 0) {
		int rc = unreferenced_remote(&s, dir, err);
		if (rc) {
			paths_free(&s.files);
			paths_free(&s.dirs);
			shard_orphans_free(s.v, s.n);
			return rc;
		}
	} else if (!s.nomem) {
		if ((root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			int rc = shard_error_set(err, SHARD_EIO, "%s: %s", dir, strerror(errno));
			paths_free(&s.files);
			paths_free(&s.dirs);
			return rc;
		}
		scan_dir(&s, root, ".", "", &files, &bytes);
		close(root);
	}
	paths_free(&s.files);
	paths_free(&s.dirs);
	if (s.nomem) {
		shard_orphans_free(s.v, s.n);
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	*out = s.v;
	*n = s.n;
	return 0;
}

void shard_orphan_message(const struct shard_orphan *o, char *msg, size_t n)
{
	const char *base = strrchr(o->rel, '/');
	if (o->errnum)
		snprintf(msg, n, "cannot look for files index.json does not reference: %s", strerror(o->errnum));
	else if (o->is_dir && !o->files)
		snprintf(msg, n, "not referenced by index.json (an empty directory)");
	else if (o->is_dir)
		snprintf(msg, n, "not referenced by index.json (a directory of %llu file%s, %llu bytes)",
			 (unsigned long long)o->files, o->files == 1 ? "" : "s", (unsigned long long)o->bytes);
	else if (temporary(base ? base + 1 : o->rel))
		snprintf(msg, n, "not referenced by index.json (a writer's temporary file)");
	else
		snprintf(msg, n, "not referenced by index.json");
}

/* ---------------------------------------------------------------- prune */

struct prune {
	const struct shard_prune_opts *o;
	struct shard_prune_counts *c;
};

static void prune_note(struct prune *p, const char *rel, int is_dir, int errnum)
{
	if (errnum)
		p->c->failed++;
	if (p->o->removed)
		p->o->removed(p->o->ctx, rel, is_dir, errnum);
}

/* The directory holding rel's last part, opened from the dataset's without
 * following a symbolic link on the way; *leaf is that last part. -1 with
 * errno. */
static int open_parent(int root, const char *rel, const char **leaf)
{
	int fd = dup(root);
	const char *slash;

	while (fd >= 0 && (slash = strchr(rel, '/'))) {
		char part[NAME_MAX + 1];
		size_t n = (size_t)(slash - rel);
		int next = -1;
		if (n < sizeof part) {
			memcpy(part, rel, n);
			part[n] = 0;
			next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		} else {
			errno = ENAMETOOLONG;
		}
		close(fd);
		fd = next;
		rel = slash + 1;
	}
	*leaf = rel;
	return fd;
}

/* Remove the file (or link, never what it points to) name in the directory
 * open as fd; rel is its path below the dataset dir. */
static void prune_file(struct prune *p, int fd, const char *name, const char *rel, uint64_t bytes)
{
	if (!p->o->dry_run && unlinkat(fd, name, 0) != 0) {
		prune_note(p, rel, 0, errno);
		return;
	}
	p->c->files++;
	p->c->bytes += bytes;
	prune_note(p, rel, 0, 0);
}

/* Remove the directory name in the one open as pfd, what it holds first. */
static void prune_tree(struct prune *p, int pfd, const char *name, const char *rel)
{
	char **names = NULL;
	size_t n, i;
	int nomem = 0, fd = read_dir_at(pfd, name, &names, &n, &nomem);

	if (fd < 0 || nomem) {
		prune_note(p, rel, 1, fd < 0 ? errno : ENOMEM);
		for (i = 0; names && i < n; i++)
			free(names[i]);
		free(names);
		if (fd >= 0)
			close(fd);
		return;
	}
	for (i = 0; i < n; i++) {
		char *child = joined(rel, names[i]);
		struct stat st;
		/* what was left alone when the dataset was looked at stays so,
		 * should it have appeared since; the directory then stays too */
		if (!child)
			prune_note(p, rel, 1, ENOMEM);
		else if (left_alone(names[i]))
			;
		else if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) != 0)
			prune_note(p, child, 0, errno);
		else if (S_ISDIR(st.st_mode))
			prune_tree(p, fd, names[i], child);
		else
			prune_file(p, fd, names[i], child, (uint64_t)st.st_size);
		free(child);
		free(names[i]);
	}
	free(names);
	close(fd);
	if (!p->o->dry_run && unlinkat(pfd, name, AT_REMOVEDIR) != 0) {
		prune_note(p, rel, 1, errno);
		return;
	}
	p->c->dirs++;
	prune_note(p, rel, 1, 0);
}

/* Whether an s3:// dataset's file name is its index, a shard file the index
 * lists, or the index of a part of it (a directory holding such a file). */
static int remote_referenced(const struct paths *files, const struct paths *dirs, const char *name)
{
	size_t n = strlen(name);
	if (strcmp(name, "index.json") == 0 || paths_has(files, name))
		return 1;
	if (n > 11 && strcmp(name + n - 11, "/index.json") == 0) {
		char *d = strndup(name, n - 11);
		int used = d && paths_has(dirs, d);
		free(d);
		return used;
	}
	return 0;
}

/* Whether name lies below a directory of the listing v (n objects, in name
 * order) that holds an index.json: a part waiting for its merge. */
static int indexed_part(const struct shard_remote_file *v, size_t n, const char *name)
{
	const char *slash;
	for (slash = strchr(name, '/'); slash; slash = strchr(slash + 1, '/')) {
		size_t len = (size_t)(slash - name) + 1, lo = 0, hi = n;
		char want[4200];
		if (len + 10 >= sizeof want)
			return 1;	/* too deep to tell: left alone */
		memcpy(want, name, len);
		memcpy(want + len, "index.json", 11);
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = strcmp(v[mid].name, want);
			if (!c)
				return 1;
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	return 0;
}

/* Prune an s3:// dataset. Its objects are listed; with an index.json, every
 * one it does not reference is deleted (after the checks a directory gets);
 * without one (a writer killed before it could write it), the shard files
 * and writers' temporary files only, so that a prefix holding other data
 * keeps it, and none below a directory holding an index.json (a part that
 * waits for shard-index merge). */
static int prune_remote(const char *url, const struct shard_prune_opts *o, struct shard_prune_counts *c,
			struct shard_error *err)
{
	struct shard_remote *r;
	struct shard_remote_file *v = NULL;
	struct shard_index ix = {0};
	struct paths files = {0}, dirs = {0};
	size_t n = 0, i, k;
	int rc, have_index = 0, present = 0, nomem = 0;

	if ((rc = shard_remote_open(&r, url, err)))
		return rc;
	if ((rc = shard_remote_list(r, "", &v, &n, err)))
		goto out;
	for (i = 0; i < n; i++)
		have_index |= strcmp(v[i].name, "index.json") == 0;
	if (have_index && shard_index_load_remote(&ix, r, err)) {
		char msg[sizeof err->msg];
		memcpy(msg, err->msg, sizeof msg);
		rc = shard_error_set(err, SHARD_EIO, "%s; prune goes by a valid index.json: nothing removed", msg);
		goto out;
	}
	for (i = 0; i < ix.nshards; i++)
		for (k = 0; k < 2; k++) {
			const struct shard_fileinfo *f = k ? &ix.shards[i].zip : &ix.shards[i].raw;
			const char *slash;
			if (k && !ix.shards[i].has_zip)
				continue;
			nomem |= paths_add(&files, f->basename, strlen(f->basename)) != 0;
			for (slash = strchr(f->basename, '/'); slash; slash = strchr(slash + 1, '/'))
				nomem |= paths_add(&dirs, f->basename, (size_t)(slash - f->basename)) != 0;
		}
	paths_sort(&files);
	paths_sort(&dirs);
	if (nomem) {
		rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		present |= paths_has(&files, v[i].name);
	if (have_index && !present) {
		rc = shard_error_set(err, SHARD_EIO, "%s/index.json: %s: nothing removed", shard_remote_url(r),
				     ix.nshards ? "none of the shard files it lists is here" : "it lists no shards");
		goto out;
	}
	for (i = 0; i < n; i++) {
		const char *base = strrchr(v[i].name, '/');
		struct shard_error e;
		base = base ? base + 1 : v[i].name;
		if (hidden_path(v[i].name) || remote_referenced(&files, &dirs, v[i].name) ||
		    (!have_index && ((!shard_file_name(base) && !temporary(base)) || indexed_part(v, n, v[i].name))))
			continue;
		if (!o->dry_run && shard_remote_delete(r, v[i].name, &e)) {
			prune_note(&(struct prune){o, c}, v[i].name, 0, EIO);
			continue;
		}
		c->files++;
		c->bytes += v[i].size;
		prune_note(&(struct prune){o, c}, v[i].name, 0, 0);
	}
out:
	paths_free(&files);
	paths_free(&dirs);
	shard_index_free(&ix);
	shard_remote_files_free(v, n);
	shard_remote_close(r);
	return rc;
}

int shard_dataset_prune(const char *dir, const struct shard_prune_opts *o, struct shard_prune_counts *c,
			struct shard_error *err)
{
	struct prune p = {o, c};
	struct shard_index ix;
	struct shard_orphan *v;
	struct stat st;
	char path[PATH_MAX];
	size_t n, i, k, present = 0;
	int root, rc;

	memset(c, 0, sizeof *c);
	if (shard_is_url(dir))
		return prune_remote(dir, o, c, err);
	if (stat(dir, &st) != 0)
		return shard_error_set(err, SHARD_EIO, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return shard_error_set(err, SHARD_EIO, "%s: not a dataset directory", dir);
	snprintf(path, sizeof path, "%s/index.json", dir);
	if (shard_index_load(&ix, path, err)) {
		char msg[sizeof err->msg];
		memcpy(msg, err->msg, sizeof msg);
		return shard_error_set(err, SHARD_EIO, "%s; prune goes by a valid index.json: nothing removed", msg);
	}
	if ((rc = shard_dataset_unreferenced(dir, &ix, &v, &n, err)))
		goto out_ix;
	if ((root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = shard_error_set(err, SHARD_EIO, "%s: %s", dir, strerror(errno));
		goto out;
	}
	for (i = 0; i < n; i++)
		if (v[i].errnum) {
			rc = shard_error_set(err, SHARD_EIO, "%s: %s: nothing removed", v[i].rel[0] ? v[i].rel : dir,
					     strerror(v[i].errnum));
			goto out_root;
		}
	/* an index none of whose files are here is another directory's */
	for (i = 0; i < ix.nshards && !present; i++)
		for (k = 0; k < 2 && !present; k++)
			if (!k || ix.shards[i].has_zip)
				present = fstatat(root, k ? ix.shards[i].zip.basename : ix.shards[i].raw.basename, &st, 0) == 0;
	if (!present) {
		rc = shard_error_set(err, SHARD_EIO, "%s: %s: nothing removed", path,
				     ix.nshards ? "none of the shard files it lists is here" : "it lists no shards");
		goto out_root;
	}
	for (i = 0; i < n; i++) {
		const char *leaf;
		int pfd = open_parent(root, v[i].rel, &leaf);
		if (pfd < 0)
			prune_note(&p, v[i].rel, v[i].is_dir, errno);
		else if (v[i].is_dir)
			prune_tree(&p, pfd, leaf, v[i].rel);
		else
			prune_file(&p, pfd, leaf, v[i].rel, v[i].bytes);
		if (pfd >= 0)
			close(pfd);
	}
out_root:
	close(root);
out:
	shard_orphans_free(v, n);
out_ix:
	shard_index_free(&ix);
	return rc;
}
