/* shard-index: create, merge, verify and describe a dataset's index.json, and
 * prune what it does not reference. verify is the CI gate: it reads every
 * byte, checks what a job expects, and exits 3 when anything is off. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "shard.h"


static const char usage[] =
	"Usage: shard-index create [-q] [--force] [--no-sync] [--hashes ALGO,...] DIR\n"
	"       shard-index merge [--no-sync] [-o OUT] DIR\n"
	"       shard-index merge [--no-sync] -o DIR -\n"
	"       shard-index verify [--json] [-q] [--strict] [--expect-schema LIST]\n"
	"                          [--expect-samples N] [--max-problems N] DIR\n"
	"       shard-index info [--json] DIR\n"
	"       shard-index prune [-n] [-q] DIR\n";

static void __attribute__((noreturn)) help(void)
{
	printf("%s\n"
	       "  create   write DIR/index.json for the shard files in DIR\n"
	       "  merge    join the index.json files below DIR (or entries on stdin) into one\n"
	       "  verify   check every byte of a dataset; exit 3 if it is not sound\n"
	       "  info     samples, shards, bytes and columns of a dataset\n"
	       "  prune    remove the files below DIR that its index.json does not reference\n\n"
	       "  -o, --output DIR       where merge writes index.json (default: DIR)\n"
	       "      --hashes LIST      hashes for create (default: those each shard's config lists)\n"
	       "      --force            create: replace an existing index.json\n"
	       "      --no-sync          create, merge: do not flush the shards and index.json\n"
	       "                         to disk (for scratch data: faster, not power-safe)\n"
	       "      --json             machine-readable output (verify, info)\n"
	       "      --max-problems N   verify: stop after N problems (default 100)\n"
	       "      --strict           verify: files index.json does not reference are problems,\n"
	       "                         not warnings\n"
	       "      --expect-schema LIST\n"
	       "                         verify: the columns expected, in any order, as\n"
	       "                         NAME:TYPE[?],... (shard-convert's types; '?': nullable)\n"
	       "      --expect-samples N verify: the number of samples expected\n"
	       "  -n, --dry-run          prune: print what would be removed, remove nothing\n"
	       "  -q, --quiet            print nothing on success\n"
	       "  -h, --help             show this help\n"
	       "  -V, --version          show the version\n\n"
	       "Exit status: 0 success, 1 failure, 2 usage error, 3 verify found problems.\n",
	       usage);
	exit(0);
}

enum { OPT_JSON = 256, OPT_HASHES, OPT_FORCE, OPT_MAXP, OPT_STRICT, OPT_EXPECT_SCHEMA, OPT_EXPECT_SAMPLES, OPT_NO_SYNC };

static const struct option longopts[] = {
	{"output", required_argument, NULL, 'o'},
	{"hashes", required_argument, NULL, OPT_HASHES},
	{"force", no_argument, NULL, OPT_FORCE},
	{"no-sync", no_argument, NULL, OPT_NO_SYNC},
	{"json", no_argument, NULL, OPT_JSON},
	{"max-problems", required_argument, NULL, OPT_MAXP},
	{"strict", no_argument, NULL, OPT_STRICT},
	{"expect-schema", required_argument, NULL, OPT_EXPECT_SCHEMA},
	{"expect-samples", required_argument, NULL, OPT_EXPECT_SAMPLES},
	{"dry-run", no_argument, NULL, 'n'},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

/* A column --expect-schema names. */
struct expected {
	char *name;
	char *type;		/* as given, without its '?' */
	struct shard_coltype t;	/* t.nullable: given with '?' */
};

static struct {
	const char *out, *hashes;
	int json, quiet, force, strict, dry_run, expect_samples_set, no_sync;
	uint64_t max_problems, expect_samples;
	struct expected *expect;	/* --expect-schema */
	size_t nexpect;
} opt = {.max_problems = 100};

/* A file that entries on standard input, or the parts merged, name twice. */
static void repeat_refused(void *dir, const char *name, size_t first, size_t again)
{
	cli_warn("%s/%s: named by shard %zu and again by shard %zu", (const char *)dir, name, first, again);
}

static void write_index(const char *dir, const struct shard_index *ix)
{
	struct shard_buf b = {0};
	struct shard_error err;
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/index.json", dir);
	switch (shard_index_repeats(ix, repeat_refused, (void *)dir)) {
	case 0: break;
	case -1: cli_die(CLI_FAIL, "out of memory");
	default: cli_die(CLI_FAIL, "%s: not written: a dataset lists each shard file once", path);
	}
	/* the shards it names reach the disk before it does (see --no-sync) */
	if ((!opt.no_sync && shard_index_sync(dir, ix, &err)) || shard_index_to_json(ix, &b, &err) ||
	    shard_write_file_atomic(path, b.p, b.len, !opt.no_sync, &err))
		cli_die_err(&err);
	shard_buf_free(&b);
}

static uint64_t total_samples(const struct shard_index *ix)
{
	uint64_t n = 0;
	size_t i;
	for (i = 0; i < ix->nshards; i++)
		n += ix->shards[i].samples;
	return n;
}

/* ---------------------------------------------------------------- create */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int shard_file_name(const char *n)
{
	const char *m = strstr(n, ".mds");
	if (!m || n[0] == '.')
		return 0;
	if (m[4] == 0)
		return 1;
	return m[4] == '.' && strchr(m + 5, '.') == NULL && !strstr(n, ".tmp");
}

static int cmd_create(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL, path[PATH_MAX];
	size_t n = 0, i;
	struct shard_index ix = {0};
	struct shard_error err;
	struct stat st;
	char **algos = NULL;
	size_t nalgos = 0;

	if (!d)
		cli_die(CLI_FAIL, "%s: %s", dir, strerror(errno));
	snprintf(path, sizeof path, "%s/index.json", dir);
	if (stat(path, &st) == 0 && !opt.force)
		cli_die(CLI_FAIL, "%s: already exists (use --force to replace it)", path);
	if (opt.hashes) {
		algos = cli_split(opt.hashes, &nalgos);
		for (i = 0; i < nalgos; i++) {
			if (!shard_hash_known(algos[i]))
				cli_die(CLI_USAGE, "unknown hash '%s'", algos[i]);
			if (i && strcmp(algos[i - 1], algos[i]) >= 0)
				cli_die(CLI_USAGE, "--hashes must be sorted and unique, as MDS requires");
		}
	}
	while ((de = readdir(d))) {
		if (!shard_file_name(de->d_name))
			continue;
		names = realloc(names, (n + 1) * sizeof *names);
		if (!names || !(names[n] = strdup(de->d_name)))
			cli_die(CLI_FAIL, "out of memory");
		n++;
	}
	closedir(d);
	if (!n)
		cli_die(CLI_FAIL, "%s: no shard files (*.mds or *.mds.EXT)", dir);
	qsort(names, n, sizeof *names, cmp_str);
	for (i = 0; i < n; i++) {
		struct shard_source *src;
		struct shard_item it = {0};
		size_t len = strlen(names[i]);
		/* a raw shard whose compressed twin is listed too is the same shard */
		if (i + 1 < n && strncmp(names[i + 1], names[i], len) == 0 && names[i + 1][len] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		if (shard_source_open(&src, path, 0, &err) || shard_source_next(src, &it, &err) < 0)
			cli_die_err(&err);
		if (algos) {
			struct shard_entry *e = &it.entry;
			size_t k;
			for (k = 0; k < e->nhashes; k++)
				free(e->hashes[k]);
			free(e->hashes);
			e->hashes = calloc(nalgos + 1, sizeof *e->hashes);
			for (k = 0; k < nalgos; k++)
				e->hashes[k] = strdup(algos[k]);
			e->nhashes = nalgos;
			{
				/* new file infos under the chosen hashes; fill copies the basenames */
				struct shard_fileinfo raw, zip;
				if (shard_fileinfo_fill(&raw, (const char *const *)algos, nalgos, e->raw.basename, it.mds.data,
							it.mds.size, &err) ||
				    (e->has_zip && shard_fileinfo_fill(&zip, (const char *const *)algos, nalgos, e->zip.basename,
								      it.stored.p, it.stored.len, &err)))
					cli_die_err(&err);
				{
					struct shard_entry old = {0};
					old.raw = e->raw;
					e->raw = raw;
					if (e->has_zip) {
						old.zip = e->zip;
						e->zip = zip;
					}
					shard_entry_free(&old);
				}
			}
		}
		if (shard_index_append(&ix, &it.entry))
			cli_die(CLI_FAIL, "out of memory");
		shard_item_free(&it);
		shard_source_close(src);
	}
	write_index(dir, &ix);
	if (!opt.quiet)
		fprintf(stderr, "%s: %s/index.json: %zu shards, %llu samples\n", cli_prog, dir, ix.nshards,
			(unsigned long long)total_samples(&ix));
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	shard_index_free(&ix);
	if (algos) {
		free(algos[0]);
		free(algos);
	}
	return 0;
}

/* ---------------------------------------------------------------- merge */

static char **found;
static size_t nfound;
static const char *merge_root;

static int collect(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	if (type == FTW_F && strcmp(path + ftw->base, "index.json") == 0 && ftw->level > 1) {
		found = realloc(found, (nfound + 1) * sizeof *found);
		if (!found || !(found[nfound] = strdup(path)))
			cli_die(CLI_FAIL, "out of memory");
		nfound++;
	}
	return 0;
}

/* basename from a part's dir, relative to the output dir */
static char *prefixed(const char *rel, const char *base)
{
	size_t n = strlen(rel) + strlen(base) + 2;
	char *s = malloc(n);
	if (!s)
		cli_die(CLI_FAIL, "out of memory");
	snprintf(s, n, "%s%s%s", rel, *rel ? "/" : "", base);
	return s;
}

static void rebase(struct shard_entry *e, const char *rel)
{
	char *r = prefixed(rel, e->raw.basename);
	free(e->raw.basename);
	e->raw.basename = r;
	if (e->has_zip) {
		r = prefixed(rel, e->zip.basename);
		free(e->zip.basename);
		e->zip.basename = r;
	}
}

/* Both paths made absolute; returns the part of `path` below `root`, or NULL. */
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

static int check_file(const char *dir, const struct shard_fileinfo *f, int is_zip_or_missing_ok)
{
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", dir, f->basename);
	if (stat(path, &st) != 0)
		return is_zip_or_missing_ok ? 0 : -1;
	if ((uint64_t)st.st_size != f->bytes)
		cli_die(CLI_FAIL, "%s: %lld bytes, the entry says %llu", path, (long long)st.st_size,
			(unsigned long long)f->bytes);
	return 1;
}

static int cmd_merge_stdin(const char *out)
{
	struct shard_index ix = {0};
	struct shard_error err;
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	struct stat st;

	if (stat(out, &st) != 0 || !S_ISDIR(st.st_mode))
		cli_die(CLI_FAIL, "%s: not a directory", out);
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		struct shard_entry e;
		int have;
		lineno++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
			line[--len] = 0;
		if (!len)
			continue;
		/* {"shardkit": {...}}: the dataset's extra metadata (logical types),
		 * which every writer of a shared dataset repeats */
		if (strncmp(line, "{\"shardkit\":", 12) == 0) {
			json_t *o = json_loads(line, 0, NULL), *x = json_object_get(o, "shardkit");
			char *s = json_is_object(x) && json_object_size(o) == 1 ? json_dumps(x, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
			json_decref(o);
			if (!s)
				cli_die(CLI_FAIL, "<stdin>:%zu: malformed shardkit metadata line", lineno);
			if (ix.extra && strcmp(ix.extra, s) != 0)
				cli_die(CLI_FAIL, "<stdin>:%zu: writers disagree on the dataset's metadata", lineno);
			free(ix.extra);
			ix.extra = s;
			continue;
		}
		if (shard_entry_from_json(&e, line, (size_t)len, &err))
			cli_die(CLI_FAIL, "<stdin>:%zu: %s", lineno, err.msg);
		have = check_file(out, &e.raw, 1);
		if (e.has_zip)
			have |= check_file(out, &e.zip, 1);
		if (!have)
			cli_die(CLI_FAIL, "<stdin>:%zu: %s/%s: the shard this entry names is missing", lineno, out,
				e.has_zip ? e.zip.basename : e.raw.basename);
		if (shard_index_append(&ix, &e))
			cli_die(CLI_FAIL, "out of memory");
		shard_entry_free(&e);
	}
	free(line);
	write_index(out, &ix);
	if (!opt.quiet)
		fprintf(stderr, "%s: %s/index.json: %zu shards, %llu samples\n", cli_prog, out, ix.nshards,
			(unsigned long long)total_samples(&ix));
	shard_index_free(&ix);
	return 0;
}

static int cmd_merge(const char *dir)
{
	const char *out = opt.out ? opt.out : dir;
	struct shard_index ix = {0};
	struct shard_error err;
	char *extra = NULL;
	size_t i, k;

	if (strcmp(dir, "-") == 0) {
		if (!opt.out)
			cli_usage_error(usage, "merge from stdin needs -o DIR");
		return cmd_merge_stdin(opt.out);
	}
	merge_root = dir;
	if (nftw(dir, collect, 32, FTW_PHYS) != 0)
		cli_die(CLI_FAIL, "%s: %s", dir, strerror(errno));
	if (!nfound)
		cli_die(CLI_FAIL, "%s: no index.json files below it to merge", dir);
	qsort(found, nfound, sizeof *found, cmp_str);
	for (i = 0; i < nfound; i++) {
		struct shard_index part;
		char *slash, *rel;
		if (shard_index_load(&part, found[i], &err))
			cli_die_err(&err);
		slash = strrchr(found[i], '/');
		*slash = 0;
		rel = relative_to(out, found[i]);
		if (!rel)
			cli_die(CLI_FAIL, "%s: not inside the output directory %s", found[i], out);
		for (k = 0; k < part.nshards; k++) {
			rebase(&part.shards[k], rel);
			if (shard_index_append(&ix, &part.shards[k]))
				cli_die(CLI_FAIL, "out of memory");
		}
		/* logical column types carry over when every part agrees */
		if (i == 0 && part.extra)
			extra = strdup(part.extra);
		else if (extra && (!part.extra || strcmp(extra, part.extra) != 0)) {
			free(extra);
			extra = NULL;
		}
		free(rel);
		shard_index_free(&part);
		free(found[i]);
	}
	free(found);
	ix.extra = extra;
	write_index(out, &ix);
	if (!opt.quiet)
		fprintf(stderr, "%s: %s/index.json: %zu indexes, %zu shards, %llu samples\n", cli_prog, out, nfound,
			ix.nshards, (unsigned long long)total_samples(&ix));
	shard_index_free(&ix);
	return 0;
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

/* A sorted list of paths below the dataset. */
struct paths {
	char **v;
	size_t n;
};

static void paths_add(struct paths *p, const char *s, size_t len)
{
	char **v = realloc(p->v, (p->n + 1) * sizeof *v);
	if (!v || !(v[p->n] = strndup(s, len)))
		cli_die(CLI_FAIL, "out of memory");
	p->v = v;
	p->n++;
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
}

/* A file or directory index.json does not reference, or one that could not be
 * looked at (errnum set). */
struct orphan {
	char *rel;		/* below the dataset */
	int is_dir, errnum;
	uint64_t files, bytes;	/* a directory's: the files it holds */
};

struct scan {
	struct paths files, dirs;	/* referenced: the shard files, the directories above them */
	struct orphan *v;
	size_t n;
};

static void scan_add(struct scan *s, const char *rel, int is_dir, int errnum, uint64_t files, uint64_t bytes)
{
	struct orphan *v = realloc(s->v, (s->n + 1) * sizeof *v);
	if (!v || !(v[s->n].rel = strdup(rel)))
		cli_die(CLI_FAIL, "out of memory");
	v[s->n].is_dir = is_dir;
	v[s->n].errnum = errnum;
	v[s->n].files = files;
	v[s->n].bytes = bytes;
	s->v = v;
	s->n++;
}

static void scan_free(struct scan *s)
{
	size_t i;
	for (i = 0; i < s->n; i++)
		free(s->v[i].rel);
	free(s->v);
	paths_free(&s->files);
	paths_free(&s->dirs);
}

/* The names in an open directory but . and .., sorted; the directory is closed. */
static char **dir_names(DIR *d, size_t *n)
{
	char **v = NULL;
	struct dirent *de;
	*n = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		v = realloc(v, (*n + 1) * sizeof *v);
		if (!v || !(v[*n] = strdup(de->d_name)))
			cli_die(CLI_FAIL, "out of memory");
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof *v, cmp_str);
	return v;
}

static char *joined(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *s = malloc(n);
	if (!s)
		cli_die(CLI_FAIL, "out of memory");
	snprintf(s, n, "%s%s%s", dir, *dir && dir[strlen(dir) - 1] != '/' ? "/" : "", name);
	return s;
}

/* The directory name in the one open as pfd, never through a symbolic link:
 * its names but . and .., sorted, in *names, and a descriptor for it
 * returned; -1 with errno. */
static int read_dir_at(int pfd, const char *name, char ***names, size_t *n)
{
	int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), keep = -1, e;
	DIR *d = NULL;

	if (fd >= 0 && (keep = dup(fd)) >= 0 && (d = fdopendir(fd))) {
		*names = dir_names(d, n);
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
	char **names;
	size_t n, i;
	int whole = 1, fd = read_dir_at(pfd, name, &names, &n);

	if (fd < 0) {
		scan_add(s, rel, 1, errno, 0, 0);
		return 0;
	}
	for (i = 0; i < n; i++) {
		char *child = joined(rel, names[i]);
		struct stat st;
		uint64_t f = 0, b = 0;

		/* index.json is the dataset's, or a part's that the dataset uses */
		if (left_alone(names[i]) || paths_has(&s->files, child) ||
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

/* What index.json does not reference below dir, in s; the dataset's own
 * directory open as *root (to remove things relative to it). -1 with errno
 * when dir cannot be opened. */
static int scan_dataset(const char *dir, const struct shard_index *ix, struct scan *s, int *root)
{
	size_t i, k;
	uint64_t files = 0, bytes = 0;

	memset(s, 0, sizeof *s);
	for (i = 0; i < ix->nshards; i++)
		for (k = 0; k < 2; k++) {
			const struct shard_fileinfo *f = k ? &ix->shards[i].zip : &ix->shards[i].raw;
			const char *slash;
			if (k && !ix->shards[i].has_zip)
				continue;
			paths_add(&s->files, f->basename, strlen(f->basename));
			for (slash = strchr(f->basename, '/'); slash; slash = strchr(slash + 1, '/'))
				paths_add(&s->dirs, f->basename, (size_t)(slash - f->basename));
		}
	paths_sort(&s->files);
	paths_sort(&s->dirs);
	if ((*root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	scan_dir(s, *root, ".", "", &files, &bytes);
	return 0;
}

/* What is wrong with an orphan, for a message. */
static void orphan_message(const struct orphan *o, char *msg, size_t n)
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

/* ---------------------------------------------------------------- verify */

/* What verify found; --json prints it as one document whatever the outcome. */
static struct {
	const char *dataset;
	json_t *problems, *warnings;
	json_t *unreferenced;	/* paths below the dataset; NULL when not looked for */
	size_t nproblems, nwarnings;
	uint64_t shards, samples, ok;
} rep;

/* A JSON string of text that need not be UTF-8 (a file name): bytes that are
 * not become '?'. */
static json_t *jstr(const char *s)
{
	json_t *j = json_string(s);
	char *copy, *p;
	if (j)
		return j;
	if (!(copy = strdup(s)))
		cli_die(CLI_FAIL, "out of memory");
	for (p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static json_t *finding(const char *file, long shard, long long sample, const char *column, const char *msg)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o}", "shard", shard >= 0 ? json_integer(shard) : json_null(), "file",
			 jstr(file), "sample", sample >= 0 ? json_integer(sample) : json_null(), "column",
			 column ? jstr(column) : json_null(), "message", jstr(msg));
}

static void problem(const char *file, long shard, long long sample, const char *column, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void problem(const char *file, long shard, long long sample, const char *column, const char *fmt, ...)
{
	char msg[1500];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	rep.nproblems++;
	if (rep.nproblems > opt.max_problems)
		return;
	json_array_append_new(rep.problems, finding(file, shard, sample, column, msg));
	/* -q keeps the problems on standard error, even beside --json */
	if (!opt.json || opt.quiet) {
		fprintf(stderr, "%s", file);
		if (sample >= 0)
			fprintf(stderr, ": sample %lld", sample);
		if (column)
			fprintf(stderr, ": column '%s'", column);
		fprintf(stderr, ": %s\n", msg);
	}
}

/* Something not wrong with the data that a job may still want gone. */
static void warning(const char *file, const char *msg)
{
	rep.nwarnings++;
	if (rep.nwarnings > opt.max_problems)
		return;
	json_array_append_new(rep.warnings, finding(file, -1, -1, NULL, msg));
	if (!opt.json && !opt.quiet)
		fprintf(stderr, "%s: warning: %s\n", file, msg);
}

/* The --json document: status is the exit status, error the message that
 * stopped the run before it could judge the dataset. */
static void report_json(int status, const char *error)
{
	char *s;
	char shown[4096];
	json_t *o = json_pack("{s:o, s:b, s:i, s:o, s:I, s:I, s:I, s:I, s:o, s:I, s:o, s:o}", "dataset",
			      /* a URL's user and password stay unsaid */
			      rep.dataset ? jstr(shard_url_redact(rep.dataset, shown, sizeof shown)) : json_null(), "ok", status == CLI_OK, "status", status,
			      "error", error ? jstr(error) : json_null(), "shards", (json_int_t)rep.shards, "samples",
			      (json_int_t)rep.samples, "samples_ok", (json_int_t)rep.ok, "problem_count",
			      (json_int_t)rep.nproblems, "problems", rep.problems ? rep.problems : json_array(),
			      "warning_count", (json_int_t)rep.nwarnings, "warnings",
			      rep.warnings ? rep.warnings : json_array(), "unreferenced",
			      rep.unreferenced ? rep.unreferenced : json_null());
	if (!o || !(s = json_dumps(o, JSON_COMPACT)))
		cli_die(CLI_FAIL, "out of memory");
	rep.problems = rep.warnings = rep.unreferenced = NULL;
	cli_out_str(s);
	cli_out_str("\n");
	cli_out_flush();
	free(s);
	json_decref(o);
}

/* A failure that stops verify before it could judge the dataset: the message,
 * and with --json the document too. */
static void __attribute__((noreturn, format(printf, 2, 3))) verify_fail(int status, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cli_warn("%s", msg);
	if (opt.json)
		report_json(status, msg);
	exit(status);
}

static void __attribute__((noreturn)) verify_fail_err(const struct shard_error *err)
{
	verify_fail(err->status == SHARD_EARG ? CLI_USAGE : CLI_FAIL, "%s", err->msg);
}

/* A message from the library without the file name it starts with, when the
 * problem is reported under that name already. */
static const char *unnamed(const char *msg, const char *name)
{
	size_t n = strlen(name);
	return strncmp(msg, name, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ' ? msg + n + 2 : msg;
}

/* A dataset file's bytes into b, from the directory or from the server: 1 when
 * read, 0 when there is no such file, -1 when reading it failed (err says).
 * A remote failure other than a 404 ends the run: the data went unchecked,
 * which is not a finding about the data. */
static int read_part(struct shard_remote *r, const char *path, const char *basename, struct shard_buf *b,
		     uint64_t max, struct shard_error *err)
{
	struct stat st;
	int rc;

	if (r) {
		rc = shard_remote_get(r, basename, b, max, err);
		if (rc && rc != SHARD_ENOENT)
			verify_fail_err(err);
	} else if (stat(path, &st) != 0) {
		return 0;
	} else {
		/* a FIFO or a device is refused, a file over max never read */
		rc = shard_read_shard(path, b, max, err);
	}
	return rc == SHARD_ENOENT ? 0 : rc ? -1 : 1;
}

/* The largest shard read (SHARDKIT_MAX_SHARD), and the most a file listed as
 * bytes long is read for: no more than it should hold. */
static uint64_t read_max(uint64_t bytes, int zip)
{
	static uint64_t limit;
	struct shard_error err;
	uint64_t max;

	if (!limit && shard_max_shard(&limit, &err))
		cli_die_err(&err);
	max = zip ? shard_max_stored(limit) : limit;
	return bytes < max ? bytes : max;
}

/* A shard's samples count as sound only when its files are: a shard whose
 * size, hash or header is wrong has none that are. */
static void verify_shard(const char *dir, struct shard_remote *remote, size_t si, const struct shard_entry *e,
			 uint64_t *samples_ok)
{
	char rawp[PATH_MAX], zipp[PATH_MAX];
	struct shard_buf raw = {0}, zip = {0}, dec = {0};
	struct shard_error err;
	const struct shard_buf *use = NULL;
	const char *name;
	struct shard_mds m;
	struct shard_field *f;
	size_t i;
	uint32_t s;
	uint64_t good = 0;
	size_t before = rep.nproblems;
	int got_zip = 0, got_raw, files_bad;

	snprintf(rawp, sizeof rawp, "%s/%s", dir, e->raw.basename);
	name = rawp;
	for (i = 0; i < e->schema.ncols; i++) {
		struct shard_encoding std;
		if (shard_encoding_parse(e->schema.enc_names[i], &std, &err) == 0 && std.size != e->schema.enc[i].size)
			problem(rawp, (long)si, -1, e->schema.names[i], "column_sizes says %zu, encoding %s is %zu",
				e->schema.enc[i].size, e->schema.enc_names[i], std.size);
	}
	/* Every check runs even after one fails, so one pass reports every problem. */
	if (e->has_zip) {
		struct shard_codec c;
		snprintf(zipp, sizeof zipp, "%s/%s", dir, e->zip.basename);
		got_zip = read_part(remote, zipp, e->zip.basename, &zip, read_max(e->zip.bytes, 1), &err);
		if (got_zip) {
			name = zipp;
			if (got_zip < 0) {
				problem(zipp, (long)si, -1, NULL, "%s", unnamed(err.msg, zipp));
			} else {
				if (shard_fileinfo_verify(&e->zip, zip.p, zip.len, 1, "compressed file", &err))
					problem(zipp, (long)si, -1, NULL, "%s", err.msg);
				if (shard_codec_parse(e->compression, &c, &err) ||
				    shard_decompress(&c, zip.p, zip.len, read_max(e->raw.bytes, 0), &dec, &err)) {
					problem(zipp, (long)si, -1, NULL, "%s", err.msg);
				} else {
					if (shard_fileinfo_verify(&e->raw, dec.p, dec.len, 1, "decompressed data", &err))
						problem(zipp, (long)si, -1, NULL, "%s", err.msg);
					use = &dec;
				}
			}
		}
	}
	got_raw = read_part(remote, rawp, e->raw.basename, &raw, read_max(e->raw.bytes, 0), &err);
	if (got_raw) {
		if (got_raw < 0) {
			problem(rawp, (long)si, -1, NULL, "%s", unnamed(err.msg, rawp));
		} else {
			if (shard_fileinfo_verify(&e->raw, raw.p, raw.len, 1, "raw file", &err))
				problem(rawp, (long)si, -1, NULL, "%s", err.msg);
			if (!use) {
				use = &raw;
				name = rawp;
			}
		}
	} else if (!got_zip) {
		problem(e->has_zip ? zipp : rawp, (long)si, -1, NULL, "shard file is missing%s", remote ? " (HTTP 404)" : "");
	}
	if (!use)
		goto out;
	if (shard_mds_parse(&m, use->p, use->len, &err)) {
		problem(name, (long)si, -1, NULL, "%s", err.msg);
		goto out;
	}
	if (m.nsamples != e->samples)
		problem(name, (long)si, -1, NULL, "shard holds %u samples, index says %llu", m.nsamples,
			(unsigned long long)e->samples);
	{
		const uint8_t *cp;
		size_t cn;
		shard_mds_config(&m, &cp, &cn);
		if (shard_entry_config_check(e, cp, cn, &err))
			problem(name, (long)si, -1, NULL, "%s", err.msg);
	}
	files_bad = rep.nproblems != before;
	f = calloc(e->schema.ncols, sizeof *f);
	if (!f)
		cli_die(CLI_FAIL, "out of memory");
	for (s = 0; s < m.nsamples && rep.nproblems <= opt.max_problems; s++) {
		const uint8_t *p;
		size_t len;
		int bad = 0;
		shard_mds_sample(&m, s, &p, &len);
		if (shard_sample_split(&e->schema, p, len, f, &err)) {
			problem(name, (long)si, s, NULL, "%s", err.msg);
			continue;
		}
		for (i = 0; i < e->schema.ncols; i++) {
			if (shard_field_check(&e->schema.enc[i], &f[i], &err)) {
				problem(name, (long)si, s, e->schema.names[i], "%s", err.msg);
				bad = 1;
			}
		}
		good += !bad;
	}
	if (!files_bad)
		*samples_ok += good;
	free(f);
out:
	shard_buf_free(&raw);
	shard_buf_free(&zip);
	shard_buf_free(&dec);
}

/* ---------------------------------------------------------------- expectations */

static int same_encoding(const struct shard_encoding *a, const struct shard_encoding *b)
{
	int i;
	if (a->kind != b->kind)
		return 0;
	if (a->kind != SHARD_ENC_NDARRAY)
		return 1;
	if (a->dtype != b->dtype || a->ndim != b->ndim)
		return 0;
	for (i = 0; i < a->ndim; i++)
		if (a->shape[i] != b->shape[i])
			return 0;
	return 1;
}

static int same_columns(const struct shard_schema *a, const struct shard_schema *b)
{
	size_t i;
	if (a->ncols != b->ncols)
		return 0;
	for (i = 0; i < a->ncols; i++)
		if (strcmp(a->names[i], b->names[i]) || strcmp(a->enc_names[i], b->enc_names[i]))
			return 0;
	return 1;
}

/* Whether name is the validity column index.json records for a column. */
static int validity_column(json_t *validity, const char *name)
{
	const char *k;
	json_t *v;
	json_object_foreach(validity, k, v)
		if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
			return 1;
	return 0;
}

/* A column's type as the dataset has it: its logical type with what stores
 * it ("date (int32)"), or its encoding. */
static void found_type(const struct shard_schema *s, size_t k, json_t *logical, char *buf, size_t n)
{
	const char *l = json_string_value(json_object_get(logical, s->names[k]));
	if (l)
		snprintf(buf, n, "%s (%s)", l, s->enc_names[k]);
	else
		snprintf(buf, n, "%s", s->enc_names[k]);
}

/* One shard's columns against --expect-schema (si: the shard, -1 when its
 * columns stand for the whole dataset's); each difference is a problem. */
static void expect_columns(const char *path, long si, const struct shard_schema *s, json_t *extra)
{
	json_t *logical = json_object_get(extra, "logical_types"), *validity = json_object_get(extra, "validity");
	char where[32] = "", got[200];
	size_t i, k;

	if (si >= 0)
		snprintf(where, sizeof where, "shard %ld: ", si);
	for (i = 0; i < opt.nexpect; i++) {
		const struct expected *c = &opt.expect[i];
		const char *want = c->type, *lt = shard_ltype_name(c->t.ltype), *l, *valid;
		int col = shard_schema_index(s, c->name), vk, has_valid = shard_has_validity(&c->t);

		if (col < 0) {
			problem(path, si, -1, c->name, "%smissing (%s%s expected)", where, want, c->t.nullable ? "?" : "");
			continue;
		}
		k = (size_t)col;
		l = json_string_value(json_object_get(logical, c->name));
		if (!same_encoding(&s->enc[k], &c->t.enc) || (lt ? !l || strcmp(l, lt) : l != NULL)) {
			found_type(s, k, logical, got, sizeof got);
			problem(path, si, -1, c->name, "%stype %s expected, %s found", where, want, got);
		}
		/* a nullable column's validity column (a json column holds its nulls itself) */
		valid = json_string_value(json_object_get(validity, c->name));
		if (!has_valid && valid)
			problem(path, si, -1, c->name, "%s%s expected (%s%s), but index.json records validity column '%s' for it",
				where, c->t.nullable ? "no validity column" : "not nullable", want, c->t.nullable ? "?" : "",
				valid);
		else if (has_valid && !valid)
			problem(path, si, -1, c->name, "%snullable expected (%s?), but index.json records no validity column for it",
				where, want);
		else if (has_valid && (vk = shard_schema_index(s, valid)) < 0)
			problem(path, si, -1, c->name, "%sits validity column '%s' is missing", where, valid);
		else if (has_valid && s->enc[vk].kind != SHARD_ENC_UINT8) {
			found_type(s, (size_t)vk, logical, got, sizeof got);
			problem(path, si, -1, c->name, "%sits validity column '%s' is %s, uint8 expected", where, valid, got);
		}
	}
	for (k = 0; k < s->ncols; k++) {
		for (i = 0; i < opt.nexpect && strcmp(opt.expect[i].name, s->names[k]); i++)
			;
		if (i < opt.nexpect || validity_column(validity, s->names[k]))
			continue;
		found_type(s, k, logical, got, sizeof got);
		problem(path, si, -1, s->names[k], "%snot expected (%s)", where, got);
	}
}

/* --expect-samples and --expect-schema against the index. Every shard's
 * columns are compared, each run of shards with the same columns once. */
static void expect_check(const char *path, const struct shard_index *ix)
{
	static const struct shard_schema none;
	json_t *extra;
	size_t i, last = 0;

	if (opt.expect_samples_set && rep.samples != opt.expect_samples)
		problem(path, -1, -1, NULL, "%llu samples expected, %llu found", (unsigned long long)opt.expect_samples,
			(unsigned long long)rep.samples);
	if (!opt.expect)
		return;
	extra = ix->extra ? json_loads(ix->extra, 0, NULL) : NULL;
	if (!ix->nshards)
		expect_columns(path, -1, &none, extra);
	for (i = 0; i < ix->nshards; i++) {
		if (i && same_columns(&ix->shards[last].schema, &ix->shards[i].schema))
			continue;
		expect_columns(path, i ? (long)i : -1, &ix->shards[i].schema, extra);
		last = i;
	}
	json_decref(extra);
}

/* Files below a local dataset that its index does not reference: warnings,
 * or with --strict problems. */
static void unreferenced_check(const char *dir, const struct shard_index *ix)
{
	struct scan s;
	size_t i;
	int root;

	if (scan_dataset(dir, ix, &s, &root) != 0)
		verify_fail(CLI_FAIL, "%s: %s", dir, strerror(errno));
	close(root);
	rep.unreferenced = json_array();
	for (i = 0; i < s.n; i++) {
		char *path = joined(dir, s.v[i].rel), msg[300];
		orphan_message(&s.v[i], msg, sizeof msg);
		if (!s.v[i].errnum) {
			char *rel = s.v[i].is_dir ? joined(s.v[i].rel, "") : NULL;
			json_array_append_new(rep.unreferenced, jstr(rel ? rel : s.v[i].rel));
			free(rel);
		}
		if (s.v[i].is_dir) {
			char *p = joined(path, "");
			free(path);
			path = p;
		}
		if (opt.strict)
			problem(path, -1, -1, NULL, "%s", msg);
		else
			warning(path, msg);
		free(path);
	}
	scan_free(&s);
}

/* A file the index names twice: the second entry is the problem. */
static void repeat_problem(void *dir, const char *name, size_t first, size_t again)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", (const char *)dir, name);
	problem(path, (long)again, -1, NULL, "index.json lists this file twice: shard %zu names it, and shard %zu already does",
		again, first);
}

static int cmd_verify(const char *dir)
{
	struct shard_index ix;
	struct shard_error err;
	char path[PATH_MAX];
	struct stat st;
	struct shard_remote *remote = NULL;
	size_t i;
	int sound, rc;

	memset(&ix, 0, sizeof ix);
	rep.dataset = dir;
	rep.problems = json_array();
	rep.warnings = json_array();
	if (shard_is_url(dir)) {
		if (shard_remote_open(&remote, dir, &err))
			verify_fail_err(&err);
		rep.dataset = dir = shard_remote_url(remote);
		snprintf(path, sizeof path, "%s/index.json", dir);
		rc = shard_index_load_remote(&ix, remote, &err);
		if (rc && rc != SHARD_EDATA && rc != SHARD_ENOENT)
			verify_fail_err(&err);
	} else {
		if (stat(dir, &st) != 0)
			verify_fail(CLI_FAIL, "%s: %s", dir, strerror(errno));
		if (!S_ISDIR(st.st_mode))
			verify_fail(CLI_FAIL, "%s: not a dataset directory", dir);
		snprintf(path, sizeof path, "%s/index.json", dir);
		rc = shard_index_load(&ix, path, &err);
	}
	if (rc) {
		problem(path, -1, -1, NULL, "%s", unnamed(err.msg, path));
	} else {
		rep.shards = ix.nshards;
		rep.samples = total_samples(&ix);
		expect_check(path, &ix);
		if (shard_index_repeats(&ix, repeat_problem, (void *)dir) < 0)
			verify_fail(CLI_FAIL, "out of memory");
		for (i = 0; i < ix.nshards && rep.nproblems <= opt.max_problems; i++)
			verify_shard(dir, remote, i, &ix.shards[i], &rep.ok);
		if (!remote)
			unreferenced_check(dir, &ix);
		else if (!opt.json && !opt.quiet)
			cli_warn("%s: not looked for files index.json does not reference: a remote dataset cannot be listed",
				 dir);
	}
	sound = rep.nproblems == 0;
	if (opt.json) {
		report_json(sound ? CLI_OK : CLI_UNSOUND, NULL);
	} else if (!opt.quiet) {
		char warnings[64] = "";
		if (rep.nwarnings)
			snprintf(warnings, sizeof warnings, ", %zu warning%s", rep.nwarnings, rep.nwarnings == 1 ? "" : "s");
		fprintf(sound ? stdout : stderr, "%s: %s: %s: %llu shards, %llu samples, %zu problem%s%s\n", cli_prog,
			dir, sound ? "ok" : "NOT SOUND", (unsigned long long)rep.shards, (unsigned long long)rep.samples,
			rep.nproblems, rep.nproblems == 1 ? "" : "s", warnings);
	}
	shard_index_free(&ix);
	shard_remote_close(remote);
	return sound ? CLI_OK : CLI_UNSOUND;
}

/* ---------------------------------------------------------------- info */

/* The logical type index.json records for a column ("bool", "date", ...), or NULL. */
static const char *logical_type(const struct shard_index *ix, const char *col, json_t **keep)
{
	json_t *x;
	if (!ix->extra)
		return NULL;
	if (!*keep)
		*keep = json_loads(ix->extra, 0, NULL);
	x = json_object_get(json_object_get(*keep, "logical_types"), col);
	return json_string_value(x);
}

static int cmd_info(const char *dir)
{
	struct shard_index ix;
	struct shard_error err;
	char path[PATH_MAX];
	uint64_t raw = 0, zip = 0;
	size_t i, k;
	const struct shard_entry *e0;
	json_t *lt = NULL;
	char shown[PATH_MAX];
	const char *name = shard_url_redact(dir, shown, sizeof shown);	/* a URL's password stays unsaid */

	snprintf(path, sizeof path, "%s/index.json", dir);
	if (shard_index_load(&ix, path, &err))
		cli_die_err(&err);
	for (i = 0; i < ix.nshards; i++) {
		raw += ix.shards[i].raw.bytes;
		zip += ix.shards[i].has_zip ? ix.shards[i].zip.bytes : ix.shards[i].raw.bytes;
	}
	e0 = ix.nshards ? &ix.shards[0] : NULL;
	if (opt.json) {
		json_t *cols = json_array(), *hashes = json_array(), *o;
		char *s;
		for (k = 0; e0 && k < e0->schema.ncols; k++) {
			const char *l = logical_type(&ix, e0->schema.names[k], &lt);
			json_t *c = json_pack("{s:s, s:s, s:o}", "name", e0->schema.names[k], "encoding",
					      e0->schema.enc_names[k], "size",
					      e0->schema.enc[k].size ? json_integer((json_int_t)e0->schema.enc[k].size)
								     : json_null());
			if (l)
				json_object_set_new(c, "logical_type", json_string(l));
			json_array_append_new(cols, c);
		}
		for (k = 0; e0 && k < e0->nhashes; k++)
			json_array_append_new(hashes, json_string(e0->hashes[k]));
		o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:o}", "dataset", name, "samples",
			      (json_int_t)total_samples(&ix), "shards", (json_int_t)ix.nshards, "bytes_raw",
			      (json_int_t)raw, "bytes_stored", (json_int_t)zip, "compression",
			      e0 && e0->compression ? json_string(e0->compression) : json_null(), "hashes", hashes,
			      "columns", cols);
		if (ix.extra)
			json_object_set_new(o, "shardkit", json_loads(ix.extra, 0, NULL));
		s = json_dumps(o, JSON_COMPACT);
		cli_out_str(s);
		cli_out_str("\n");
		free(s);
		json_decref(o);
	} else {
		char line[4096];
		snprintf(line, sizeof line,
			 "dataset:     %s\nsamples:     %llu\nshards:      %zu\nbytes raw:   %llu\nbytes stored: %llu\n"
			 "compression: %s\nhashes:     ",
			 name, (unsigned long long)total_samples(&ix), ix.nshards, (unsigned long long)raw,
			 (unsigned long long)zip, e0 && e0->compression ? e0->compression : "none");
		cli_out_str(line);
		for (k = 0; e0 && k < e0->nhashes; k++) {
			cli_out_str(" ");
			cli_out_str(e0->hashes[k]);
		}
		cli_out_str(e0 && e0->nhashes ? "\n" : " none\ncolumns:\n");
		if (e0 && e0->nhashes)
			cli_out_str("columns:\n");
		for (k = 0; e0 && k < e0->schema.ncols; k++) {
			const char *l = logical_type(&ix, e0->schema.names[k], &lt);
			char enc[128];
			snprintf(enc, sizeof enc, "%s%s%s%s", e0->schema.enc_names[k], l ? " (" : "", l ? l : "", l ? ")" : "");
			if (e0->schema.enc[k].size)
				snprintf(line, sizeof line, "  %-24s %-20s %zu bytes\n", e0->schema.names[k], enc,
					 e0->schema.enc[k].size);
			else
				snprintf(line, sizeof line, "  %-24s %-20s variable\n", e0->schema.names[k], enc);
			cli_out_str(line);
		}
	}
	cli_out_flush();
	json_decref(lt);
	shard_index_free(&ix);
	return 0;
}

/* ---------------------------------------------------------------- prune */

static struct {
	uint64_t files, dirs, bytes;
	int failed;
} pruned;

static void prune_say(const char *dir, const char *rel, int is_dir)
{
	char *path;
	if (opt.quiet)
		return;
	path = joined(dir, rel);
	cli_out_str(opt.dry_run ? "would remove " : "removed ");
	cli_out_str(path);
	cli_out_str(is_dir ? "/\n" : "\n");
	free(path);
}

static void prune_failed(const char *dir, const char *rel, int errnum)
{
	char *path = joined(dir, rel);
	cli_out_flush();
	cli_warn("%s: cannot remove: %s", path, strerror(errnum));
	free(path);
	pruned.failed = 1;
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
static void prune_file(int fd, const char *name, const char *dir, const char *rel, uint64_t bytes)
{
	if (!opt.dry_run && unlinkat(fd, name, 0) != 0) {
		prune_failed(dir, rel, errno);
		return;
	}
	pruned.files++;
	pruned.bytes += bytes;
	prune_say(dir, rel, 0);
}

/* Remove the directory name in the one open as pfd, what it holds first. */
static void prune_tree(int pfd, const char *name, const char *dir, const char *rel)
{
	char **names;
	size_t n, i;
	int fd = read_dir_at(pfd, name, &names, &n);

	if (fd < 0) {
		prune_failed(dir, rel, errno);
		return;
	}
	for (i = 0; i < n; i++) {
		char *child = joined(rel, names[i]);
		struct stat st;
		/* what was left alone when the dataset was looked at stays so,
		 * should it have appeared since; the directory then stays too */
		if (left_alone(names[i]))
			;
		else if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) != 0)
			prune_failed(dir, child, errno);
		else if (S_ISDIR(st.st_mode))
			prune_tree(fd, names[i], dir, child);
		else
			prune_file(fd, names[i], dir, child, (uint64_t)st.st_size);
		free(child);
		free(names[i]);
	}
	free(names);
	close(fd);
	if (!opt.dry_run && unlinkat(pfd, name, AT_REMOVEDIR) != 0) {
		prune_failed(dir, rel, errno);
		return;
	}
	pruned.dirs++;
	prune_say(dir, rel, 1);
}

/* Remove what index.json does not reference, checking first that there is
 * an index to go by and that all of the dataset could be looked at: either
 * everything is removed, or nothing. */
static int cmd_prune(const char *dir)
{
	struct shard_index ix;
	struct shard_error err;
	struct scan s;
	struct stat st;
	char path[PATH_MAX];
	size_t i, present = 0;
	int root;

	if (stat(dir, &st) != 0)
		cli_die(CLI_FAIL, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		cli_die(CLI_FAIL, "%s: not a dataset directory", dir);
	snprintf(path, sizeof path, "%s/index.json", dir);
	if (shard_index_load(&ix, path, &err))
		cli_die(CLI_FAIL, "%s; prune goes by a valid index.json: nothing removed", err.msg);
	if (scan_dataset(dir, &ix, &s, &root) != 0)
		cli_die(CLI_FAIL, "%s: %s", dir, strerror(errno));
	for (i = 0; i < s.n; i++)
		if (s.v[i].errnum)
			cli_die(CLI_FAIL, "%s: %s: nothing removed", s.v[i].rel[0] ? s.v[i].rel : dir,
				strerror(s.v[i].errnum));
	/* an index none of whose files are here is another directory's */
	for (i = 0; i < s.files.n; i++)
		present += fstatat(root, s.files.v[i], &st, 0) == 0;
	if (!present)
		cli_die(CLI_FAIL, "%s: %s: nothing removed", path,
			ix.nshards ? "none of the shard files it lists is here" : "it lists no shards");
	for (i = 0; i < s.n; i++) {
		const char *leaf;
		int pfd = open_parent(root, s.v[i].rel, &leaf);
		if (pfd < 0)
			prune_failed(dir, s.v[i].rel, errno);
		else if (s.v[i].is_dir)
			prune_tree(pfd, leaf, dir, s.v[i].rel);
		else
			prune_file(pfd, leaf, dir, s.v[i].rel, s.v[i].bytes);
		if (pfd >= 0)
			close(pfd);
	}
	cli_out_flush();
	if (!opt.quiet) {
		char dirs[64] = "";
		if (pruned.dirs)
			snprintf(dirs, sizeof dirs, " and %llu director%s", (unsigned long long)pruned.dirs,
				 pruned.dirs == 1 ? "y" : "ies");
		if (pruned.files || pruned.dirs)
			fprintf(stderr, "%s: %s: %s %llu file%s (%llu bytes)%s\n", cli_prog, dir,
				opt.dry_run ? "would remove" : "removed", (unsigned long long)pruned.files,
				pruned.files == 1 ? "" : "s", (unsigned long long)pruned.bytes, dirs);
		else
			fprintf(stderr, "%s: %s: nothing to remove: index.json references every file\n", cli_prog, dir);
	}
	close(root);
	scan_free(&s);
	shard_index_free(&ix);
	return pruned.failed ? CLI_FAIL : CLI_OK;
}

/* --expect-schema's text, in the grammar of shard-convert's --schema (the
 * column-list parser of libshard), into opt.expect. A type is what
 * shard_coltype_parse takes, or any other MDS encoding (jpeg, pkl, ndarray
 * without a dtype): a dataset can hold what text cannot become. */
static int expect_parse(const char *text, struct shard_error *err)
{
	struct shard_colspec *c;
	size_t n, i, k;
	int rc = 0;

	if (shard_colspec_parse(text, 1, &c, &n, err))
		return err->status;
	if (!n)
		rc = shard_error_set(err, SHARD_EARG, "no columns");
	if (!rc && !(opt.expect = calloc(n, sizeof *opt.expect)))
		rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
	for (i = 0; !rc && i < n; i++) {
		struct expected *e = &opt.expect[i];
		size_t len = strlen(c[i].type);
		struct shard_error stored;

		for (k = 0; k < i && strcmp(opt.expect[k].name, c[i].name); k++)
			;
		if (k < i) {
			rc = shard_error_set(err, SHARD_EARG, "column '%s' twice", c[i].name);
			break;
		}
		e->name = c[i].name;
		e->type = c[i].type;
		c[i].name = c[i].type = NULL;
		opt.nexpect++;
		if (!shard_coltype_parse(e->type, &e->t, err)) {
			e->type[len - (size_t)e->t.nullable] = 0;
			continue;
		}
		memset(&e->t, 0, sizeof e->t);
		e->t.nullable = len && e->type[len - 1] == '?';
		e->type[len - (size_t)e->t.nullable] = 0;
		if (!e->type[0] || shard_encoding_parse(e->type, &e->t.enc, &stored)) {
			shard_error_prefix(err, "column '%s'", e->name);
			rc = err->status = SHARD_EARG;
		}
	}
	shard_colspec_free(c, n);
	return rc;
}

/* The first usage error; reported once every option is read, so that
 * verify --json can report it as a document wherever --json stands. */
static char usage_msg[600];

static void __attribute__((format(printf, 1, 2))) bad_usage(const char *fmt, ...)
{
	va_list ap;
	if (usage_msg[0])
		return;
	va_start(ap, fmt);
	vsnprintf(usage_msg, sizeof usage_msg, fmt, ap);
	va_end(ap);
}

/* An option given to a subcommand it does not apply to. */
static void only_for(const char *sub, const char *what, int given, const char *for_sub)
{
	if (given && strcmp(sub, for_sub))
		bad_usage("%s applies to %s only", what, for_sub);
}

int main(int argc, char **argv)
{
	static const char *const subs[] = {"create", "merge", "verify", "info", "prune", NULL};
	const char *sub, *expect = NULL;
	struct shard_error err;
	int c, i;

	cli_init(argv[0]);
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
		help();
	if (argc >= 2 && (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0))
		cli_version();
	if (argc < 2)
		cli_usage_error(usage, "missing subcommand");
	sub = argv[1];
	for (i = 0; subs[i] && strcmp(subs[i], sub); i++)
		;
	if (!subs[i])
		cli_usage_error(usage, "unknown subcommand '%s'", sub);
	optind = 2;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:qnhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': opt.out = optarg; break;
		case 'q': opt.quiet = 1; break;
		case 'n': opt.dry_run = 1; break;
		case OPT_JSON: opt.json = 1; break;
		case OPT_HASHES: opt.hashes = optarg; break;
		case OPT_FORCE: opt.force = 1; break;
		case OPT_NO_SYNC: opt.no_sync = 1; break;
		case OPT_STRICT: opt.strict = 1; break;
		case OPT_MAXP:
			if (cli_parse_u64(optarg, &opt.max_problems) || opt.max_problems == 0)
				bad_usage("--max-problems takes a positive number");
			break;
		case OPT_EXPECT_SCHEMA: expect = optarg; break;
		case OPT_EXPECT_SAMPLES:
			if (cli_parse_u64(optarg, &opt.expect_samples))
				bad_usage("--expect-samples takes a number of samples, not '%s'", optarg);
			opt.expect_samples_set = 1;
			break;
		case 'h': help();
		case 'V': cli_version();
		case ':':
			bad_usage("option '%s' needs a value", argv[optind - 1]);
			break;
		default:
			if (optopt > 0 && optopt < 128)
				bad_usage("invalid option -- '%c'", optopt);
			else if (optopt)
				bad_usage("option '%s' takes no value", argv[optind - 1]);
			else
				bad_usage("unrecognized option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		bad_usage(optind >= argc ? "missing DIR" : "too many arguments");
	if (expect && expect_parse(expect, &err))
		bad_usage("--expect-schema: %s", err.msg);
	only_for(sub, "--strict", opt.strict, "verify");
	only_for(sub, "--expect-schema", expect != NULL, "verify");
	only_for(sub, "--expect-samples", opt.expect_samples_set, "verify");
	only_for(sub, "--dry-run", opt.dry_run, "prune");
	if (opt.no_sync && strcmp(sub, "create") && strcmp(sub, "merge"))
		bad_usage("--no-sync applies to create and merge only");
	if ((strcmp(sub, "create") == 0 || strcmp(sub, "merge") == 0) && optind == argc - 1 &&
	    (shard_is_url(argv[optind]) || (opt.out && shard_is_url(opt.out))))
		bad_usage("%s writes a local index.json: give it a directory, not a URL", sub);
	if (strcmp(sub, "prune") == 0 && optind == argc - 1 && shard_is_url(argv[optind]))
		bad_usage("prune removes files from a local directory: give it a directory, not a URL");
	if (usage_msg[0]) {
		if (strcmp(sub, "verify") || !opt.json)
			cli_usage_error(usage, "%s", usage_msg);
		rep.dataset = optind == argc - 1 ? argv[optind] : NULL;
		verify_fail(CLI_USAGE, "%s", usage_msg);
	}
	if (strcmp(sub, "create") == 0)
		return cmd_create(argv[optind]);
	if (strcmp(sub, "merge") == 0)
		return cmd_merge(argv[optind]);
	if (strcmp(sub, "prune") == 0)
		return cmd_prune(argv[optind]);
	if (strcmp(sub, "info") == 0)
		return cmd_info(argv[optind]);
	return cmd_verify(argv[optind]);
}
