/* shard-index: create, merge, verify and describe a dataset's index.json.
 * verify is the CI gate: it reads every byte and exits 3 when anything is off. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
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

#define RAW_MAX 0xFFFFFFFFull

static const char usage[] =
	"Usage: shard-index create [-q] [--force] [--hashes ALGO,...] DIR\n"
	"       shard-index merge [-o OUT] DIR\n"
	"       shard-index merge -o DIR -\n"
	"       shard-index verify [--json] [-q] [--max-problems N] DIR\n"
	"       shard-index info [--json] DIR\n";

static void __attribute__((noreturn)) help(void)
{
	printf("%s\n"
	       "  create   write DIR/index.json for the shard files in DIR\n"
	       "  merge    join the index.json files below DIR (or entries on stdin) into one\n"
	       "  verify   check every byte of a dataset; exit 3 if it is not sound\n"
	       "  info     samples, shards, bytes and columns of a dataset\n\n"
	       "  -o, --output DIR       where merge writes index.json (default: DIR)\n"
	       "      --hashes LIST      hashes for create (default: those each shard's config lists)\n"
	       "      --force            create: replace an existing index.json\n"
	       "      --json             machine-readable output (verify, info)\n"
	       "      --max-problems N   verify: stop after N problems (default 100)\n"
	       "  -q, --quiet            print nothing on success\n"
	       "  -h, --help             show this help\n"
	       "  -V, --version          show the version\n\n"
	       "Exit status: 0 success, 1 failure, 2 usage error, 3 verify found problems.\n",
	       usage);
	exit(0);
}

enum { OPT_JSON = 256, OPT_HASHES, OPT_FORCE, OPT_MAXP };

static const struct option longopts[] = {
	{"output", required_argument, NULL, 'o'},
	{"hashes", required_argument, NULL, OPT_HASHES},
	{"force", no_argument, NULL, OPT_FORCE},
	{"json", no_argument, NULL, OPT_JSON},
	{"max-problems", required_argument, NULL, OPT_MAXP},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static struct {
	const char *out, *hashes;
	int json, quiet, force;
	uint64_t max_problems;
} opt = {NULL, NULL, 0, 0, 0, 100};

static void write_index(const char *dir, const struct shard_index *ix)
{
	struct shard_buf b = {0};
	struct shard_error err;
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/index.json", dir);
	if (shard_index_to_json(ix, &b, &err) || shard_write_file_atomic(path, b.p, b.len, &err))
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

/* ---------------------------------------------------------------- verify */

static json_t *problems;
static size_t nproblems;

static void problem(const char *file, long shard, long long sample, const char *column, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void problem(const char *file, long shard, long long sample, const char *column, const char *fmt, ...)
{
	char msg[1500];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	nproblems++;
	if (nproblems > opt.max_problems)
		return;
	json_array_append_new(problems,
			      json_pack("{s:o, s:s, s:o, s:o, s:s}", "shard", shard >= 0 ? json_integer(shard) : json_null(),
					"file", file, "sample", sample >= 0 ? json_integer(sample) : json_null(), "column",
					column ? json_string(column) : json_null(), "message", msg));
	if (!opt.json && !opt.quiet) {
		fprintf(stderr, "%s", file);
		if (sample >= 0)
			fprintf(stderr, ": sample %lld", sample);
		if (column)
			fprintf(stderr, ": column '%s'", column);
		fprintf(stderr, ": %s\n", msg);
	}
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
			cli_die_err(err);
	} else if (stat(path, &st) != 0) {
		return 0;
	} else {
		rc = shard_read_file(path, b, max, err);
	}
	return rc == SHARD_ENOENT ? 0 : rc ? -1 : 1;
}

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
	int got_zip = 0, got_raw;

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
		got_zip = read_part(remote, zipp, e->zip.basename, &zip, RAW_MAX + (1ull << 30), &err);
		if (got_zip) {
			name = zipp;
			if (got_zip < 0) {
				problem(zipp, (long)si, -1, NULL, "%s", unnamed(err.msg, zipp));
			} else {
				if (shard_fileinfo_verify(&e->zip, zip.p, zip.len, 1, "compressed file", &err))
					problem(zipp, (long)si, -1, NULL, "%s", err.msg);
				if (shard_codec_parse(e->compression, &c, &err) ||
				    shard_decompress(&c, zip.p, zip.len, e->raw.bytes < RAW_MAX ? e->raw.bytes : RAW_MAX,
						     &dec, &err)) {
					problem(zipp, (long)si, -1, NULL, "%s", err.msg);
				} else {
					if (shard_fileinfo_verify(&e->raw, dec.p, dec.len, 1, "decompressed data", &err))
						problem(zipp, (long)si, -1, NULL, "%s", err.msg);
					use = &dec;
				}
			}
		}
	}
	got_raw = read_part(remote, rawp, e->raw.basename, &raw, RAW_MAX, &err);
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
	f = calloc(e->schema.ncols, sizeof *f);
	if (!f)
		cli_die(CLI_FAIL, "out of memory");
	for (s = 0; s < m.nsamples && nproblems <= opt.max_problems; s++) {
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
		if (!bad)
			(*samples_ok)++;
	}
	free(f);
out:
	shard_buf_free(&raw);
	shard_buf_free(&zip);
	shard_buf_free(&dec);
}

static int cmd_verify(const char *dir)
{
	struct shard_index ix;
	struct shard_error err;
	char path[PATH_MAX];
	struct stat st;
	struct shard_remote *remote = NULL;
	uint64_t ok = 0;
	size_t i;
	int sound, rc;

	problems = json_array();
	memset(&ix, 0, sizeof ix);
	if (shard_is_url(dir)) {
		if (shard_remote_open(&remote, dir, &err))
			cli_die_err(&err);
		dir = shard_remote_url(remote);
		snprintf(path, sizeof path, "%s/index.json", dir);
		rc = shard_index_load_remote(&ix, remote, &err);
		if (rc && rc != SHARD_EDATA && rc != SHARD_ENOENT)
			cli_die_err(&err);
	} else {
		if (stat(dir, &st) != 0)
			cli_die(CLI_FAIL, "%s: %s", dir, strerror(errno));
		if (!S_ISDIR(st.st_mode))
			cli_die(CLI_FAIL, "%s: not a dataset directory", dir);
		snprintf(path, sizeof path, "%s/index.json", dir);
		rc = shard_index_load(&ix, path, &err);
	}
	if (rc) {
		problem(path, -1, -1, NULL, "%s", unnamed(err.msg, path));
	} else {
		for (i = 0; i < ix.nshards && nproblems <= opt.max_problems; i++)
			verify_shard(dir, remote, i, &ix.shards[i], &ok);
	}
	sound = nproblems == 0;
	if (opt.json) {
		json_t *o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:o}", "ok", sound, "shards", (json_int_t)ix.nshards,
				      "samples", (json_int_t)total_samples(&ix), "samples_ok", (json_int_t)ok,
				      "problem_count", (json_int_t)nproblems, "problems", problems);
		char *s = json_dumps(o, JSON_COMPACT);
		cli_out_str(s);
		cli_out_str("\n");
		cli_out_flush();
		free(s);
		json_decref(o);
	} else {
		if (!opt.quiet || !sound)
			fprintf(sound ? stdout : stderr, "%s: %s: %s: %zu shards, %llu samples%s%zu problem%s\n",
				cli_prog, dir, sound ? "ok" : "NOT SOUND", ix.nshards,
				(unsigned long long)total_samples(&ix), sound ? ", " : ", ", nproblems,
				nproblems == 1 ? "" : "s");
		json_decref(problems);
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

int main(int argc, char **argv)
{
	const char *sub;
	int c;

	cli_init(argv[0]);
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
		help();
	if (argc >= 2 && (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0))
		cli_version();
	if (argc < 2)
		cli_usage_error(usage, "missing subcommand");
	sub = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "o:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': opt.out = optarg; break;
		case 'q': opt.quiet = 1; break;
		case OPT_JSON: opt.json = 1; break;
		case OPT_HASHES: opt.hashes = optarg; break;
		case OPT_FORCE: opt.force = 1; break;
		case OPT_MAXP:
			if (cli_parse_u64(optarg, &opt.max_problems) || opt.max_problems == 0)
				cli_usage_error(usage, "--max-problems takes a positive number");
			break;
		case 'h': help();
		case 'V': cli_version();
		default: cli_usage_error(usage, "invalid option");
		}
	}
	if (optind != argc - 1)
		cli_usage_error(usage, optind >= argc ? "missing DIR" : "too many arguments");
	if ((strcmp(sub, "create") == 0 || strcmp(sub, "merge") == 0) &&
	    (shard_is_url(argv[optind]) || (opt.out && shard_is_url(opt.out))))
		cli_usage_error(usage, "%s writes a local index.json: give it a directory, not a URL", sub);
	if (strcmp(sub, "create") == 0)
		return cmd_create(argv[optind]);
	if (strcmp(sub, "merge") == 0)
		return cmd_merge(argv[optind]);
	if (strcmp(sub, "verify") == 0)
		return cmd_verify(argv[optind]);
	if (strcmp(sub, "info") == 0)
		return cmd_info(argv[optind]);
	cli_usage_error(usage, "unknown subcommand '%s'", sub);
}
