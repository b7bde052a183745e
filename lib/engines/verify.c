/* The verifier: every byte of a dataset (a directory or a URL) read through
 * a source and checked against its index.json (sizes, hashes, MDS headers,
 * embedded configs, each sample's fields), what a job expects (samples, the
 * columns and their types), and, for a local dataset, the files index.json
 * does not reference. Each finding goes to the caller's callback as fields;
 * nothing is printed. */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shard.h"
#include "internal.h"

/* The most hashes a file's info lists that are checked (MDS names fewer). */
#define HASHES_MAX 32

/* A column the expected schema names. */
struct expected {
	char *name;
	char *type;		/* as given, without its '?' */
	struct shard_coltype t;	/* t.nullable: given with '?' */
};

struct shard_verifier {
	struct shard_verify_opts o;
	char **hashes;		/* o.hashes copied */
	struct expected *expect;
	size_t nexpect;
	uint64_t max;		/* problems reported, at most */
	uint64_t limit;		/* the largest raw shard read (SHARDKIT_MAX_SHARD) */
	/* the current run */
	struct shard_source *src;
	const char *dir;	/* the dataset's directory or URL, for messages */
	struct shard_verify_counts c;
	struct shard_orphan *orphans;	/* what index.json does not reference */
	size_t norphans;
};

/* The expected schema's text, in the grammar of shard-convert's --schema. A
 * type is what shard_coltype_parse takes, or any other MDS encoding (jpeg,
 * pkl, ndarray without a dtype): a dataset can hold what text cannot become. */
static int expect_parse(struct shard_verifier *v, const char *text, struct shard_error *err)
{
	struct shard_colspec *c;
	size_t n, i, k;
	int rc = 0;

	if (shard_colspec_parse(text, 1, &c, &n, err))
		return err->status;
	if (!n)
		rc = shard_error_set(err, SHARD_EARG, "no columns");
	if (!rc && !(v->expect = calloc(n, sizeof *v->expect)))
		rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
	for (i = 0; !rc && i < n; i++) {
		struct expected *e = &v->expect[i];
		size_t len = strlen(c[i].type);
		struct shard_error stored;

		for (k = 0; k < i && strcmp(v->expect[k].name, c[i].name); k++)
			;
		if (k < i) {
			rc = shard_error_set(err, SHARD_EARG, "column '%s' twice", c[i].name);
			break;
		}
		e->name = c[i].name;
		e->type = c[i].type;
		c[i].name = c[i].type = NULL;
		v->nexpect++;
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

int shard_verifier_new(struct shard_verifier **out, const struct shard_verify_opts *o, struct shard_error *err)
{
	struct shard_verifier *v = calloc(1, sizeof *v);
	size_t i;
	int rc = 0;

	*out = NULL;
	if (!v)
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	v->o = *o;
	v->o.hashes = NULL;
	v->o.expect_schema = NULL;
	v->max = o->max_problems ? o->max_problems : UINT64_MAX - 1;
	if (o->hashes) {
		if (!(v->hashes = calloc(o->nhashes + 1, sizeof *v->hashes)))
			rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
		for (i = 0; !rc && i < o->nhashes; i++)
			if (!(v->hashes[i] = strdup(o->hashes[i])))
				rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	if (!rc && o->expect_schema)
		rc = expect_parse(v, o->expect_schema, err);
	if (rc) {
		shard_verifier_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

void shard_verifier_free(struct shard_verifier *v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; v->hashes && i < v->o.nhashes; i++)
		free(v->hashes[i]);
	free(v->hashes);
	for (i = 0; i < v->nexpect; i++) {
		free(v->expect[i].name);
		free(v->expect[i].type);
	}
	free(v->expect);
	shard_orphans_free(v->orphans, v->norphans);
	shard_source_close(v->src);
	free(v);
}

void shard_verifier_counts(const struct shard_verifier *v, struct shard_verify_counts *c)
{
	*c = v->c;
}

/* ---------------------------------------------------------------- findings */

static void report(struct shard_verifier *v, int severity, const char *file, long shard, long long sample,
		   const char *column, const char *unreferenced, const char *msg)
{
	struct shard_problem p = {severity, file, shard, sample, column, msg, unreferenced};
	if (v->o.problem)
		v->o.problem(v->o.ctx, &p);
}

static void problem(struct shard_verifier *v, const char *file, long shard, long long sample, const char *column,
		    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void problem(struct shard_verifier *v, const char *file, long shard, long long sample, const char *column,
		    const char *fmt, ...)
{
	char msg[1500];
	va_list ap;
	if (++v->c.problems > v->max)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	report(v, SHARD_PROBLEM_ERROR, file, shard, sample, column, NULL, msg);
}

/* A library message without the file name it starts with, when the problem
 * is reported under that name already. */
static const char *unnamed(const char *msg, const char *name)
{
	size_t n = strlen(name);
	return strncmp(msg, name, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ' ? msg + n + 2 : msg;
}

/* ---------------------------------------------------------------- shards */

/* Whether the verifier checks the hash algo. */
static int checks_hash(const struct shard_verifier *v, const char *algo)
{
	size_t i;
	if (!v->hashes)
		return 1;
	for (i = 0; i < v->o.nhashes; i++)
		if (strcmp(v->hashes[i], algo) == 0)
			return 1;
	return 0;
}

/* A file's size and the hashes its info lists that the verifier checks. */
static int file_check(const struct shard_verifier *v, const struct shard_fileinfo *f, const void *p, size_t n,
		      const char *what, struct shard_error *err)
{
	struct shard_fileinfo some = *f;
	char *names[HASHES_MAX], *values[HASHES_MAX];
	size_t i;

	if (!v->hashes)
		return shard_fileinfo_verify(f, p, n, 1, what, err);
	some.nhashes = 0;
	some.hash_names = names;
	some.hash_values = values;
	for (i = 0; i < f->nhashes && some.nhashes < HASHES_MAX; i++)
		if (checks_hash(v, f->hash_names[i])) {
			names[some.nhashes] = f->hash_names[i];
			values[some.nhashes++] = f->hash_values[i];
		}
	return shard_fileinfo_verify(&some, p, n, 1, what, err);
}

/* A dataset file's bytes into b: 1 when read, 0 when there is no such file,
 * -1 when reading it failed (err says). A remote failure other than a 404
 * ends the run (-2): the data went unchecked, which is not a finding about
 * the data. */
static int read_part(struct shard_verifier *v, const char *basename, struct shard_buf *b, uint64_t max,
		     struct shard_error *err)
{
	int rc = shard_source_read(v->src, basename, b, max, err);
	if (rc == SHARD_ENOENT)
		return 0;
	if (rc && shard_source_is_remote(v->src))
		return -2;
	if (!rc)
		v->c.bytes += b->len;
	return rc ? -1 : 1;
}

/* The most a file listed as bytes long is read for: no more than it should
 * hold, nor than the largest shard taken. */
static uint64_t read_max(const struct shard_verifier *v, uint64_t bytes, int zip)
{
	uint64_t max = zip ? shard_max_stored(v->limit) : v->limit;
	return bytes < max ? bytes : max;
}

/* One shard's files, header and samples. A shard's samples count as sound
 * only when its files are: a shard whose size, hash or header is wrong has
 * none that are. Every check runs even after one fails, so that one pass
 * reports every problem. */
static int verify_shard(struct shard_verifier *v, size_t si, const struct shard_entry *e, struct shard_error *fatal)
{
	char rawp[8400], zipp[8400];
	struct shard_buf raw = {0}, zip = {0}, dec = {0};
	struct shard_error err;
	const struct shard_buf *use = NULL;
	const char *name, *dir = v->dir;
	struct shard_mds m;
	struct shard_field *f = NULL;
	size_t i;
	uint32_t s;
	uint64_t good = 0, before = v->c.problems;
	int got_zip = 0, got_raw, files_bad, rc = 0, remote = shard_source_is_remote(v->src);

	snprintf(rawp, sizeof rawp, "%s/%s", dir, e->raw.basename);
	name = rawp;
	for (i = 0; i < e->schema.ncols; i++) {
		struct shard_encoding std;
		if (shard_encoding_parse(e->schema.enc_names[i], &std, &err) == 0 && std.size != e->schema.enc[i].size)
			problem(v, rawp, (long)si, -1, e->schema.names[i], "column_sizes says %zu, encoding %s is %zu",
				e->schema.enc[i].size, e->schema.enc_names[i], std.size);
	}
	if (e->has_zip) {
		struct shard_codec c;
		snprintf(zipp, sizeof zipp, "%s/%s", dir, e->zip.basename);
		got_zip = read_part(v, e->zip.basename, &zip, read_max(v, e->zip.bytes, 1), &err);
		if (got_zip == -2) {
			*fatal = err;
			rc = err.status;
			goto out;
		}
		if (got_zip) {
			name = zipp;
			if (got_zip < 0) {
				problem(v, zipp, (long)si, -1, NULL, "%s", unnamed(err.msg, zipp));
			} else {
				if (file_check(v, &e->zip, zip.p, zip.len, "compressed file", &err))
					problem(v, zipp, (long)si, -1, NULL, "%s", err.msg);
				if (shard_codec_parse(e->compression, &c, &err) ||
				    shard_decompress(&c, zip.p, zip.len, read_max(v, e->raw.bytes, 0), &dec, &err)) {
					problem(v, zipp, (long)si, -1, NULL, "%s", err.msg);
				} else {
					if (file_check(v, &e->raw, dec.p, dec.len, "decompressed data", &err))
						problem(v, zipp, (long)si, -1, NULL, "%s", err.msg);
					use = &dec;
				}
			}
		}
	}
	got_raw = read_part(v, e->raw.basename, &raw, read_max(v, e->raw.bytes, 0), &err);
	if (got_raw == -2) {
		*fatal = err;
		rc = err.status;
		goto out;
	}
	if (got_raw) {
		if (got_raw < 0) {
			problem(v, rawp, (long)si, -1, NULL, "%s", unnamed(err.msg, rawp));
		} else {
			if (file_check(v, &e->raw, raw.p, raw.len, "raw file", &err))
				problem(v, rawp, (long)si, -1, NULL, "%s", err.msg);
			if (!use) {
				use = &raw;
				name = rawp;
			}
		}
	} else if (!got_zip) {
		problem(v, e->has_zip ? zipp : rawp, (long)si, -1, NULL, "shard file is missing%s",
			remote ? " (HTTP 404)" : "");
	}
	if (!use)
		goto out;
	if (shard_mds_parse(&m, use->p, use->len, &err)) {
		problem(v, name, (long)si, -1, NULL, "%s", err.msg);
		goto out;
	}
	if (m.nsamples != e->samples)
		problem(v, name, (long)si, -1, NULL, "shard holds %u samples, index says %llu", m.nsamples,
			(unsigned long long)e->samples);
	{
		const uint8_t *cp;
		size_t cn;
		shard_mds_config(&m, &cp, &cn);
		if (shard_entry_config_check(e, cp, cn, &err))
			problem(v, name, (long)si, -1, NULL, "%s", err.msg);
	}
	files_bad = v->c.problems != before;
	if (e->schema.ncols && !(f = calloc(e->schema.ncols, sizeof *f))) {
		rc = shard_error_set(fatal, SHARD_ENOMEM, "out of memory");
		goto out;
	}
	for (s = 0; s < m.nsamples && v->c.problems <= v->max; s++) {
		const uint8_t *p;
		size_t len;
		int bad = 0;
		shard_mds_sample(&m, s, &p, &len);
		if (shard_sample_split(&e->schema, p, len, f, &err)) {
			problem(v, name, (long)si, s, NULL, "%s", err.msg);
			continue;
		}
		for (i = 0; i < e->schema.ncols; i++) {
			if (shard_field_check(&e->schema.enc[i], &f[i], &err)) {
				problem(v, name, (long)si, s, e->schema.names[i], "%s", err.msg);
				bad = 1;
			}
		}
		good += !bad;
	}
	if (!files_bad)
		v->c.samples_ok += good;
	v->c.shards_read++;
out:
	free(f);
	shard_buf_free(&raw);
	shard_buf_free(&zip);
	shard_buf_free(&dec);
	return rc;
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

/* Whether name is the validity column index.json records for a column. */
static int validity_column(json_t *validity, const char *name)
{
	const char *k;
	json_t *x;
	json_object_foreach(validity, k, x)
		if (json_is_string(x) && strcmp(json_string_value(x), name) == 0)
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

/* One shard's columns against the expected schema (si: the shard, -1 when
 * its columns stand for the whole dataset's); each difference is a problem. */
static void expect_columns(struct shard_verifier *v, const char *path, long si, const struct shard_schema *s,
			   json_t *extra)
{
	json_t *logical = json_object_get(extra, "logical_types"), *validity = json_object_get(extra, "validity");
	char where[32] = "", got[200];
	size_t i, k;

	if (si >= 0)
		snprintf(where, sizeof where, "shard %ld: ", si);
	for (i = 0; i < v->nexpect; i++) {
		const struct expected *c = &v->expect[i];
		const char *want = c->type, *lt = shard_ltype_name(c->t.ltype), *l, *valid;
		int col = shard_schema_index(s, c->name), vk, has_valid = shard_has_validity(&c->t);

		if (col < 0) {
			problem(v, path, si, -1, c->name, "%smissing (%s%s expected)", where, want, c->t.nullable ? "?" : "");
			continue;
		}
		k = (size_t)col;
		l = json_string_value(json_object_get(logical, c->name));
		if (!same_encoding(&s->enc[k], &c->t.enc) || (lt ? !l || strcmp(l, lt) : l != NULL)) {
			found_type(s, k, logical, got, sizeof got);
			problem(v, path, si, -1, c->name, "%stype %s expected, %s found", where, want, got);
		}
		/* a nullable column's validity column (a json column holds its nulls itself) */
		valid = json_string_value(json_object_get(validity, c->name));
		if (!has_valid && valid)
			problem(v, path, si, -1, c->name,
				"%s%s expected (%s%s), but index.json records validity column '%s' for it", where,
				c->t.nullable ? "no validity column" : "not nullable", want, c->t.nullable ? "?" : "", valid);
		else if (has_valid && !valid)
			problem(v, path, si, -1, c->name,
				"%snullable expected (%s?), but index.json records no validity column for it", where, want);
		else if (has_valid && (vk = shard_schema_index(s, valid)) < 0)
			problem(v, path, si, -1, c->name, "%sits validity column '%s' is missing", where, valid);
		else if (has_valid && s->enc[vk].kind != SHARD_ENC_UINT8) {
			found_type(s, (size_t)vk, logical, got, sizeof got);
			problem(v, path, si, -1, c->name, "%sits validity column '%s' is %s, uint8 expected", where, valid,
				got);
		}
	}
	for (k = 0; k < s->ncols; k++) {
		for (i = 0; i < v->nexpect && strcmp(v->expect[i].name, s->names[k]); i++)
			;
		if (i < v->nexpect || validity_column(validity, s->names[k]))
			continue;
		found_type(s, k, logical, got, sizeof got);
		problem(v, path, si, -1, s->names[k], "%snot expected (%s)", where, got);
	}
}

/* The expected samples and schema against the index. Every shard's columns
 * are compared, each run of shards with the same columns once. */
static void expect_check(struct shard_verifier *v, const char *path, const struct shard_index *ix)
{
	static const struct shard_schema none;
	json_t *extra;
	size_t i, last = 0;

	if (v->o.expect_samples_set && v->c.samples != v->o.expect_samples)
		problem(v, path, -1, -1, NULL, "%llu samples expected, %llu found",
			(unsigned long long)v->o.expect_samples, (unsigned long long)v->c.samples);
	if (!v->expect)
		return;
	extra = ix->extra ? json_loads(ix->extra, 0, NULL) : NULL;
	if (!ix->nshards)
		expect_columns(v, path, -1, &none, extra);
	for (i = 0; i < ix->nshards; i++) {
		if (i && shard_schema_same(&ix->shards[last].schema, &ix->shards[i].schema))
			continue;
		expect_columns(v, path, i ? (long)i : -1, &ix->shards[i].schema, extra);
		last = i;
	}
	json_decref(extra);
}

/* Files below a local or s3:// dataset that its index does not reference: warnings,
 * or when strict problems. */
static int unreferenced_check(struct shard_verifier *v, const struct shard_index *ix, struct shard_error *err)
{
	/* a bucket's dataset by the URL its source settled on (no index.json at its end) */
	const char *dir = shard_source_is_remote(v->src) ? shard_source_path(v->src) : v->dir;
	struct shard_orphan *o;
	size_t n, i;
	int rc;

	if ((rc = shard_dataset_unreferenced(dir, ix, &o, &n, err)))
		return rc;
	v->orphans = o;
	v->norphans = n;
	v->c.listed = 1;
	for (i = 0; i < n; i++) {
		char path[8400], rel[4200], msg[300];
		snprintf(rel, sizeof rel, "%s%s", o[i].rel, o[i].is_dir ? "/" : "");
		snprintf(path, sizeof path, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", rel);
		shard_orphan_message(&o[i], msg, sizeof msg);
		if (v->o.strict) {
			if (++v->c.problems > v->max)
				continue;
			report(v, SHARD_PROBLEM_ERROR, path, -1, -1, NULL, o[i].errnum ? NULL : rel, msg);
		} else {
			if (++v->c.warnings > v->max)
				continue;
			report(v, SHARD_PROBLEM_WARNING, path, -1, -1, NULL, o[i].errnum ? NULL : rel, msg);
		}
	}
	return 0;
}

/* A file the index names twice: the second entry is the problem. */
static void repeat_problem(void *ctx, const char *name, size_t first, size_t again)
{
	struct shard_verifier *v = ctx;
	char path[8400];
	snprintf(path, sizeof path, "%s/%s", v->dir, name);
	problem(v, path, (long)again, -1, NULL,
		"index.json lists this file twice: shard %zu names it, and shard %zu already does", again, first);
}

int shard_verifier_run(struct shard_verifier *v, const char *dataset, struct shard_error *err)
{
	const struct shard_index *ix;
	const struct shard_error *ixerr;
	char path[8400];
	size_t i;
	int rc;

	memset(&v->c, 0, sizeof v->c);
	shard_source_close(v->src);
	v->src = NULL;
	shard_orphans_free(v->orphans, v->norphans);
	v->orphans = NULL;
	v->norphans = 0;
	v->dir = dataset;
	if ((rc = shard_max_shard(&v->limit, err)))
		return rc;
	if (!shard_is_url(dataset)) {
		struct stat st;
		if (stat(dataset, &st) != 0)
			return shard_error_set(err, SHARD_EIO, "%s: %s", dataset, strerror(errno));
		if (!S_ISDIR(st.st_mode))
			return shard_error_set(err, SHARD_EIO, "%s: not a dataset directory", dataset);
	}
	if ((rc = shard_source_open(&v->src, dataset, SHARD_SRC_INDEX_ERROR_OK, err)))
		return rc;
	v->dir = shard_source_path(v->src);
	snprintf(path, sizeof path, "%s/index.json", v->dir);
	ix = shard_source_index(v->src);
	if ((ixerr = shard_source_index_error(v->src))) {
		problem(v, path, -1, -1, NULL, "%s", unnamed(ixerr->msg, path));
		return 0;
	}
	v->c.index_ok = 1;
	v->c.shards = ix->nshards;
	for (i = 0; i < ix->nshards; i++)
		v->c.samples += ix->shards[i].samples;
	expect_check(v, path, ix);
	if (shard_index_repeats(ix, repeat_problem, v) < 0)
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	for (i = 0; i < ix->nshards && v->c.problems <= v->max; i++)
		if ((rc = verify_shard(v, i, &ix->shards[i], err)))
			return rc;
	/* a directory is read, a bucket listed; a web server cannot be */
	if (!shard_source_is_remote(v->src) || strncmp(v->dir, "s3://", 5) == 0)
		return unreferenced_check(v, ix, err);
	return 0;
}

const char *shard_verifier_dataset(const struct shard_verifier *v)
{
	return v->src ? shard_source_path(v->src) : NULL;
}

const struct shard_orphan *shard_verifier_orphans(const struct shard_verifier *v, size_t *n)
{
	*n = v->norphans;
	return v->orphans;
}
