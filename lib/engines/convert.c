/* The converter: CSV/TSV as Apache Spark writes it, or JSON Lines, typed by a
 * schema into MDS shards (see shard.h, "engine: converter", and
 * shard-convert(1)).
 *
 * The thread calling finish reads an input and cuts it into chunks of whole
 * records (a quote-aware scan finds where records end); pool tasks parse and
 * convert chunks into MDS sample bytes; the chunks are retired in input
 * order into the writer, so the output is the same whatever the thread
 * count. */
#include "config.h"

#include <jansson.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "shard.h"
#include "internal.h"

#define CHUNK (4u << 20)
#define INFLIGHT 6

/* One input, with the Hive-style partition values of its directories. */
struct input {
	char *path;		/* a file, or NULL */
	char *name;		/* for messages */
	int fd;			/* a descriptor, or -1 */
	shard_read_fn fn;	/* a reader, or NULL */
	void *ctx;
	const void *mem;	/* bytes, or NULL */
	size_t memlen;
	char **pkeys, **pvals;
	size_t np;
};

struct column {
	char *name;		/* as the files and the schema name it */
	const char *out;	/* as it is written (rename), else name */
	int dropped;		/* read from the files, not written (select) */
	struct shard_coltype type;
	char *fill;		/* text used for nulls, or NULL */
	int part;		/* 1 when the value comes from a key=value directory */
	int schema_pos;		/* index in the MDS (sorted) schema; -1 when not written */
	int valid_pos;		/* its validity column's index in the schema, or -1 */
	int packed;		/* read from the files, written only inside a pack column */
	size_t *pack, npack;	/* a pack column: the columns it packs, in order */
	struct shard_coltype elem;	/* their element type */
};

/* What a chunk's records need of their file. */
struct filectx {
	const struct input *in;
	const char *name;
	size_t ncsv;
	size_t *inv;			/* column -> its field in the file, or ncsv */
};

/* JSON Lines: each object's members land in the file-column slots by name;
 * strings are decoded, other values keep their JSON text, a missing member or
 * null is null (Spark's toJSON leaves nulls out). */
struct jline {
	const struct shard_converter *h;
	size_t ncsv;
	struct shard_csv_field *jf;
	size_t *stroff;		/* decoded string offsets in strs, or SIZE_MAX */
	size_t *keyat;		/* 1 + the byte of the key that gave the member, 0 for none yet */
	size_t at;		/* the 1-based byte an error is about, or 0 */
	struct shard_buf strs;
	struct shard_error *err;
};

/* Records whose every field is a plain number for a fixed-size column are
 * read straight into their sample: each value at its offset. */
struct fastrow {
	size_t n;	/* fields per record; 0: no fast path for this file */
	int *dtype;	/* per field */
	size_t *off;	/* per field: where its value goes in the sample */
	size_t size;	/* bytes per sample */
	size_t nulllen;	/* strlen of the null text */
	size_t *valid_off, nvalid;	/* validity bytes, each 1 on this path */
};

/* A rejected row kept for retiring in order: reason and raw bytes in text. */
struct rej {
	uint64_t line;
	size_t column, why, raw, raw_len;
};

struct chunk {
	struct shard_task task;
	struct shard_converter *h;
	const struct filectx *fc;
	struct shard_buf data;		/* whole records */
	uint64_t line0;
	struct shard_buf samples;	/* results: MDS sample bytes, back to back */
	uint32_t *lens;
	size_t nsamples, caplens;
	struct rej *rejs;		/* rejected rows */
	size_t nrejs, caprejs;
	struct shard_buf rejtext;
	uint64_t rows;
	uint64_t *null_line;		/* per column: line of the first null it cannot hold, or 0 */
	size_t *null_field;		/* and that null's field */
	uint64_t *nullcount;		/* per column: nulls met */
	int nulls;			/* any such null in this chunk */
	int failed;			/* status of the failure the chunk stopped at, or 0 */
	char msg[1400];
	/* scratch */
	struct shard_buf vals;
	size_t *offs;
	struct shard_field *f;
	struct jline jl;
	struct shard_error err;
	struct fastrow fr;
};

struct shard_converter {
	struct shard_convert_opts o;
	struct shard_csv_opts co;	/* the dialect, jsonl's applied */
	struct input *in;
	size_t nin;
	struct column *cols;
	size_t ncols;
	char **owned;			/* strings the columns point to */
	size_t nowned;
	struct shard_colspec *spec;	/* the schema's columns: names point into it */
	size_t nspec;
	struct shard_buf inferred;	/* the schema inferred, when the options give none */
	const char *schema_text;
	size_t *filecols;		/* the columns the files hold, in file order (indices into cols) */
	size_t ncsv;
	size_t nschema;			/* columns written: the value columns and their validity columns */
	size_t nvalid;			/* validity columns among them */
	struct shard_schema s;
	int have_schema, prepared, finished;
	char *extra;
	struct shard_tz *tz;
	char **null_at;			/* per column: FILE:LINE:FIELD of its first null it cannot hold */
	uint64_t *nullcount;
	int nullfail;			/* a null was found where none may be: the run fails at the end */
	uint64_t rows, written, rejected;
	struct shard_pool *pool, *own_pool;
	struct shard_writer *w;
	struct chunk ring[INFLIGHT];
	size_t head, tail;		/* ring positions: next to retire, next free */
};

static int oom(struct shard_error *err)
{
	return shard_error_set(err, SHARD_ENOMEM, "out of memory");
}

/* err's message after "PREFIX: ", with status. */
static int prefixed(struct shard_error *err, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int prefixed(struct shard_error *err, int status, const char *fmt, ...)
{
	char pre[PATH_MAX + 256], old[sizeof err->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof pre, fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof old);
	snprintf(err->msg, sizeof err->msg, "%s: %s", pre, old);
	err->status = status;
	return status;
}

static char *own(struct shard_converter *h, char *s)
{
	char **o = realloc(h->owned, (h->nowned + 1) * sizeof *o);
	if (!s || !o) {
		free(s);
		return NULL;
	}
	h->owned = o;
	h->owned[h->nowned++] = s;
	return s;
}

/* ---------------------------------------------------------------- inputs */

static struct input *new_input(struct shard_converter *h, const char *name, struct shard_error *err)
{
	struct input *in;
	if (h->prepared) {
		shard_error_set(err, SHARD_EARG, "%s: inputs are added before the schema is settled", name);
		return NULL;
	}
	if (!(in = realloc(h->in, (h->nin + 1) * sizeof *in))) {
		oom(err);
		return NULL;
	}
	h->in = in;
	in = &h->in[h->nin];
	memset(in, 0, sizeof *in);
	in->fd = -1;
	if (!(in->name = strdup(name))) {
		oom(err);
		return NULL;
	}
	h->nin++;
	return in;
}

static int add_file(void *ctx, const char *path, const char *const *keys, const char *const *vals, size_t np,
		    struct shard_error *err)
{
	struct shard_converter *h = ctx;
	struct input *in = new_input(h, path, err);
	size_t i;
	if (!in)
		return err->status;
	in->path = strdup(path);
	in->pkeys = calloc(np + 1, sizeof *in->pkeys);
	in->pvals = calloc(np + 1, sizeof *in->pvals);
	if (!in->path || !in->pkeys || !in->pvals)
		return oom(err);
	for (i = 0; i < np; i++, in->np++)
		if (!(in->pkeys[i] = strdup(keys[i])) || !(in->pvals[i] = strdup(vals[i])))
			return oom(err);
	return 0;
}

int shard_converter_add_path(struct shard_converter *h, const char *path, struct shard_error *err)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return shard_error_set(err, SHARD_EIO, "%s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return shard_part_walk(path, add_file, h, err);
	return add_file(h, path, NULL, NULL, 0, err);
}

int shard_converter_add_fd(struct shard_converter *h, int fd, const char *name, struct shard_error *err)
{
	struct input *in = new_input(h, name, err);
	if (!in)
		return err->status;
	in->fd = fd;
	return 0;
}

int shard_converter_add_read(struct shard_converter *h, shard_read_fn fn, void *ctx, const char *name,
			   struct shard_error *err)
{
	struct input *in = new_input(h, name, err);
	if (!in)
		return err->status;
	in->fn = fn;
	in->ctx = ctx;
	return 0;
}

int shard_converter_add_bytes(struct shard_converter *h, const void *p, size_t n, const char *name,
			    struct shard_error *err)
{
	struct input *in = new_input(h, name, err);
	if (!in)
		return err->status;
	in->mem = p ? p : "";
	in->memlen = n;
	return 0;
}

/* Open an input for reading; *empty when it holds nothing. */
static int open_input(struct shard_textin *t, const struct input *in, int *empty, struct shard_error *err)
{
	*empty = 0;
	shard_textin_open_mem(t, NULL, 0, in->name);	/* closed whatever happens next */
	if (in->fn) {
		shard_textin_open_read(t, in->fn, in->ctx, in->name);
		return 0;
	}
	if (in->mem) {
		shard_textin_open_mem(t, in->mem, in->memlen, in->name);
		return 0;
	}
	if (in->path && shard_textin_hadoop(in->path, err))
		return err->status;
	if (in->path ? shard_textin_open_path(t, in->path, in->name, empty, err)
		     : shard_textin_open_fd(t, in->fd, in->name, empty, err))
		return prefixed(err, err->status, "%s", in->name);
	return 0;
}

/* ---------------------------------------------------------------- names and nulls */

/* The file column (an index into h->filecols, below n) a header name or JSON
 * key names: exactly, else, unless case_sensitive, ignoring ASCII case as
 * Spark does by default. n when none does; *twice when several do. */
static size_t match_name(const struct shard_converter *h, const uint8_t *p, size_t len, size_t n, int *twice)
{
	size_t k, found = n;
	*twice = 0;
	for (k = 0; k < n; k++) {
		const char *nm = h->cols[h->filecols[k]].name;
		if (strlen(nm) == len && memcmp(nm, p, len) == 0)
			return k;
	}
	if (h->o.case_sensitive)
		return n;
	for (k = 0; k < n; k++) {
		const char *nm = h->cols[h->filecols[k]].name;
		if (strlen(nm) == len && strncasecmp(nm, (const char *)p, len) == 0) {
			*twice = found != n;
			found = k;
		}
	}
	return *twice ? n : found;
}

/* A column's type as the user named it: a logical type or its encoding. */
static const char *col_type_name(const struct column *c)
{
	return c->type.ltype ? shard_ltype_name(c->type.ltype) : c->type.enc_name;
}

/* Why a column cannot take a null, and the way out. */
static void null_text(const struct shard_converter *h, const struct column *c, char *out, size_t n)
{
	if (h->o.no_nulls)
		snprintf(out, n, "column '%s': null, and %s cannot hold a null (use --fill %s=VALUE)", c->name,
			 col_type_name(c), c->name);
	else
		snprintf(out, n, "column '%s': null, and %s cannot hold a null (use %s:%s? or --fill %s=VALUE)", c->name,
			 col_type_name(c), c->name, col_type_name(c), c->name);
}

static void warn(const struct shard_converter *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(const struct shard_converter *h, const char *fmt, ...)
{
	char msg[PATH_MAX + 1400];
	va_list ap;
	if (!h->o.on_warning)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	h->o.on_warning(h->o.ctx, msg);
}

/* The columns of a chunk that met a null they cannot hold, each remembered
 * at its first place in the input. */
static int note_nulls(struct shard_converter *h, struct chunk *ch, struct shard_error *err)
{
	size_t k;
	for (k = 0; k < h->ncols; k++) {
		char at[PATH_MAX + 64];
		if (!ch->null_line[k])
			continue;
		if (!h->null_at[k]) {
			if (ch->null_field[k])
				snprintf(at, sizeof at, "%s:%llu:%zu", ch->fc->name, (unsigned long long)ch->null_line[k],
					 ch->null_field[k]);
			else
				snprintf(at, sizeof at, "%s:%llu", ch->fc->name, (unsigned long long)ch->null_line[k]);
			if (!(h->null_at[k] = strdup(at)))
				return oom(err);
		}
		ch->null_line[k] = 0;
	}
	ch->nulls = 0;
	h->nullfail = 1;
	return 0;
}

/* Name every column that met a null it cannot hold, each with its first one,
 * as warnings; the last line goes into err when last is set (the failure
 * is the nulls), else err keeps the failure that follows them. */
static int report_nulls(const struct shard_converter *h, int last, struct shard_error *err)
{
	char msg[PATH_MAX + 1400], why[1200];
	size_t k, n = 0, nnull = 0;
	for (k = 0; k < h->ncols; k++)
		nnull += h->null_at[k] != NULL;
	for (k = 0; k < h->ncols; k++) {
		if (!h->null_at[k])
			continue;
		null_text(h, &h->cols[k], why, sizeof why);
		snprintf(msg, sizeof msg, "%s: %s", h->null_at[k], why);
		if (++n == nnull && last && nnull == 1)
			return shard_error_set(err, SHARD_EDATA, "%s", msg);
		warn(h, "%s", msg);
	}
	if (last)
		return shard_error_set(err, SHARD_EDATA, "%zu columns held nulls where none may be; nothing was written",
				       nnull);
	if (nnull > 1)
		warn(h, "%zu columns held nulls where none may be; nothing was written", nnull);
	return err->status;
}

/* ---------------------------------------------------------------- JSON Lines */

static int jline_member(void *ctx, const char *key, size_t key_at, const uint8_t *val, size_t vlen)
{
	struct jline *j = ctx;
	const struct shard_converter *h = j->h;
	int twice, json;
	size_t k = match_name(h, (const uint8_t *)key, strlen(key), j->ncsv, &twice);
	if (twice)
		return shard_error_set(j->err, SHARD_EDATA, "key \"%s\" matches several columns but their case: "
					"name it exactly, or use --case-sensitive", key);
	if (k == j->ncsv)
		return shard_error_set(j->err, SHARD_EDATA, "key \"%s\" is not in the schema", key);
	/* two keys that differ in case only name one column: which would win is no answer */
	if (j->keyat[k]) {
		j->at = key_at + 1;
		return shard_error_set(j->err, SHARD_EDATA, "key \"%s\" names column '%s', as the key at byte %zu does "
					"(use --case-sensitive to tell them apart)", key, h->cols[h->filecols[k]].name,
					j->keyat[k]);
	}
	json = h->cols[h->filecols[k]].type.enc.kind == SHARD_ENC_JSON;
	j->keyat[k] = key_at + 1;
	j->jf[k].null = vlen == 4 && memcmp(val, "null", 4) == 0 && !json;
	j->jf[k].quoted = 0;
	j->stroff[k] = SIZE_MAX;
	j->jf[k].p = val;
	j->jf[k].len = vlen;
	if (val[0] == '"' && !json) {
		j->stroff[k] = j->strs.len;
		if (shard_json_string_value(val, vlen, &j->strs))
			return oom(j->err);
		j->jf[k].len = j->strs.len - j->stroff[k];
	}
	return 0;
}

static int jline_parse(struct jline *j, const struct shard_csv_record *line, struct shard_csv_record *rec)
{
	size_t k, at;
	for (k = 0; k < j->ncsv; k++) {
		j->jf[k].null = 1;
		j->jf[k].p = (const uint8_t *)"";
		j->jf[k].len = 0;
		j->stroff[k] = SIZE_MAX;
		j->keyat[k] = 0;
	}
	j->strs.len = 0;
	j->at = 0;
	if (line->nfields != 1)
		return shard_error_set(j->err, SHARD_EDATA, "not one JSON object per line");
	if (shard_json_object_scan(line->fields[0].p, line->fields[0].len, jline_member, j, &at, j->err)) {
		if (at)
			j->at = at;
		return j->err->status;
	}
	for (k = 0; k < j->ncsv; k++)
		if (j->stroff[k] != SIZE_MAX)
			j->jf[k].p = j->strs.p + j->stroff[k];
	*rec = *line;
	rec->nfields = j->ncsv;
	rec->fields = j->jf;
	return 0;
}

/* ---------------------------------------------------------------- records */

/* The chunk stops at a failure: its message, FILE:LINE[:COLUMN]: first. */
static int chunk_fail(struct chunk *ch, int status, const struct shard_csv_record *rec, size_t col, const char *why)
{
	if (!rec)
		snprintf(ch->msg, sizeof ch->msg, "%s", why);
	else if (col)
		snprintf(ch->msg, sizeof ch->msg, "%s:%llu:%zu: %s", ch->fc->name, (unsigned long long)rec->line, col,
			 why);
	else
		snprintf(ch->msg, sizeof ch->msg, "%s:%llu: %s", ch->fc->name, (unsigned long long)rec->line, why);
	ch->failed = status;
	return -1;
}

static int chunk_reject(struct chunk *ch, const struct shard_csv_record *rec, size_t col, const char *why)
{
	struct rej *r;
	if (ch->nrejs == ch->caprejs) {
		size_t nc = ch->caprejs ? ch->caprejs * 2 : 64;
		if (!(r = realloc(ch->rejs, nc * sizeof *r)))
			return chunk_fail(ch, SHARD_ENOMEM, NULL, 0, "out of memory");
		ch->rejs = r;
		ch->caprejs = nc;
	}
	r = &ch->rejs[ch->nrejs];
	r->line = rec->line;
	r->column = col;
	r->why = ch->rejtext.len;
	r->raw_len = rec->raw_len;
	if (shard_buf_append(&ch->rejtext, why, strlen(why) + 1))
		return chunk_fail(ch, SHARD_ENOMEM, NULL, 0, "out of memory");
	r->raw = ch->rejtext.len;
	if (shard_buf_append(&ch->rejtext, rec->raw, rec->raw_len))
		return chunk_fail(ch, SHARD_ENOMEM, NULL, 0, "out of memory");
	ch->nrejs++;
	return 0;
}

/* A bad row: the chunk's failure (fail) or a rejected row (skip). */
static int chunk_bad(struct chunk *ch, const struct shard_csv_record *rec, size_t col, const char *why)
{
	if (!ch->h->o.skip)
		return chunk_fail(ch, SHARD_EDATA, rec, col, why);
	return chunk_reject(ch, rec, col, why);
}

/* One more sample of n bytes in the chunk's results. */
static int push_len(struct chunk *ch, size_t n)
{
	if (ch->nsamples == ch->caplens) {
		size_t nc = ch->caplens ? ch->caplens * 2 : 4096;
		uint32_t *nl = realloc(ch->lens, nc * sizeof *nl);
		if (!nl)
			return chunk_fail(ch, SHARD_ENOMEM, NULL, 0, "out of memory");
		ch->lens = nl;
		ch->caplens = nc;
	}
	ch->lens[ch->nsamples++] = (uint32_t)n;
	return 0;
}

/* A pack column's values, in order, as one fixed-shape ndarray: 0, or 1
 * with err set and *fi the field at fault. */
static int pack_values(struct chunk *ch, const struct column *c, const struct shard_csv_record *rec, size_t *fi)
{
	const struct shard_converter *h = ch->h;
	struct shard_error *err = &ch->err;
	size_t j;
	for (j = 0; j < c->npack; j++) {
		const struct column *src = &h->cols[c->pack[j]];
		const uint8_t *p;
		size_t n;
		*fi = ch->fc->inv[c->pack[j]];
		p = rec->fields[*fi].p;
		n = rec->fields[*fi].len;
		if (rec->fields[*fi].null) {
			ch->nullcount[c->pack[j]]++;
			if (!src->fill) {
				shard_error_set(err, SHARD_EDATA, "column '%s' (packed into '%s'): null (use --fill %s=VALUE)",
						src->name, c->name, src->name);
				return 1;
			}
			p = (const uint8_t *)src->fill;
			n = strlen(src->fill);
		}
		if (shard_text_to_value(&c->elem, p, n, &ch->vals, err)) {
			shard_error_prefix(err, "column '%s' (packed into '%s')", src->name, c->name);
			return 1;
		}
	}
	return 0;
}

/* Column k's value of one record into the sample's values: 0 done (or a null
 * noted for the end), 1 bad with err set and *fi its field (from 0; the
 * partition's when c->part). */
static int column_value(struct chunk *ch, size_t k, const struct shard_csv_record *rec, size_t *fi, int *nullrow)
{
	const struct shard_converter *h = ch->h;
	const struct filectx *fc = ch->fc;
	const struct column *c = &h->cols[k];
	struct shard_error *err = &ch->err;
	size_t start = ch->vals.len, n;
	const uint8_t *p;
	int null;

	if (c->part) {
		size_t j;
		for (j = 0; j < fc->in->np && strcmp(fc->in->pkeys[j], c->name); j++)
			;
		p = (const uint8_t *)(j < fc->in->np ? fc->in->pvals[j] : "");
		n = strlen((const char *)p);
		null = j == fc->in->np || strcmp((const char *)p, "__HIVE_DEFAULT_PARTITION__") == 0;
	} else {
		*fi = fc->inv[k];
		p = rec->fields[*fi].p;
		n = rec->fields[*fi].len;
		null = rec->fields[*fi].null;
	}
	ch->nullcount[k] += null;
	if (null && c->fill) {
		p = (const uint8_t *)c->fill;
		n = strlen(c->fill);
		null = 0;
	}
	if (null && c->type.enc.kind == SHARD_ENC_JSON) {
		p = (const uint8_t *)"null";
		n = 4;
		null = 0;
	}
	if (null && c->valid_pos < 0 && !h->o.skip) {
		/* every column that meets a null it cannot hold is named at
		 * the end of the run, not only the first: note where, go on */
		if (!ch->null_line[k]) {
			ch->null_line[k] = rec->line;
			ch->null_field[k] = c->part ? 0 : *fi + 1;
		}
		ch->nulls = 1;
		*nullrow = 1;
		return 0;
	}
	if (null && c->valid_pos >= 0 ? shard_null_value(&c->type, &ch->vals, err) == 0
	    : !null && shard_text_to_value(&c->type, p, n, &ch->vals, err) == 0) {
		ch->offs[c->schema_pos] = start;
		ch->f[c->schema_pos].len = ch->vals.len - start;
		if (c->valid_pos >= 0) {
			ch->offs[c->valid_pos] = ch->vals.len;
			ch->f[c->valid_pos].len = 1;
			if (shard_buf_putc(&ch->vals, !null)) {
				oom(err);
				return 1;
			}
		}
		return 0;
	}
	if (null) {
		char why[1200];
		null_text(h, c, why, sizeof why);
		shard_error_set(err, SHARD_EDATA, "%s", why);
	} else {
		shard_error_prefix(err, "column '%s'", c->name);
	}
	return 1;
}

/* One record (a JSON line with jsonl) converted into the chunk's samples: 0 to
 * go on, -1 when the chunk stops at a failure. */
static int convert_record(struct chunk *ch, const struct shard_csv_record *in)
{
	const struct shard_converter *h = ch->h;
	const struct filectx *fc = ch->fc;
	struct shard_csv_record rec;
	struct shard_error *err = &ch->err;
	size_t k, before;
	int bad = 0, nullrow = 0;

	ch->rows++;
	if (h->o.jsonl && jline_parse(&ch->jl, in, &rec))
		return chunk_bad(ch, in, ch->jl.at, err->msg);
	if (!h->o.jsonl)
		rec = *in;
	if (rec.nfields != fc->ncsv) {
		/* the column: the first field missing, or the first one too many */
		char why[128];
		snprintf(why, sizeof why, "row has %zu fields, expected %zu", rec.nfields, fc->ncsv);
		return chunk_bad(ch, &rec, (rec.nfields < fc->ncsv ? rec.nfields : fc->ncsv) + 1, why);
	}
	ch->vals.len = 0;
	for (k = 0; k < h->ncols && !bad; k++) {
		const struct column *c = &h->cols[k];
		size_t fi = 0, start = ch->vals.len;
		if (c->packed || c->dropped)
			continue;
		if (c->npack) {
			if (!pack_values(ch, c, &rec, &fi)) {
				ch->offs[c->schema_pos] = start;
				ch->f[c->schema_pos].len = ch->vals.len - start;
				continue;
			}
			bad = 1;
			if (chunk_bad(ch, &rec, fi + 1, err->msg) == 0)
				continue;
			return -1;
		}
		if (!column_value(ch, k, &rec, &fi, &nullrow))
			continue;
		bad = 1;
		if (err->status == SHARD_ENOMEM)
			return chunk_fail(ch, SHARD_ENOMEM, NULL, 0, err->msg);
		if (c->part && !h->o.skip) {
			char msg[1200];
			snprintf(msg, sizeof msg, "%s: partition %s", fc->name, err->msg);
			return chunk_fail(ch, SHARD_EDATA, NULL, 0, msg);
		}
		if (chunk_bad(ch, &rec, c->part ? 0 : fi + 1, err->msg))
			return -1;
	}
	if (bad || nullrow)
		return 0;
	for (k = 0; k < h->s.ncols; k++)
		ch->f[k].p = ch->vals.p + ch->offs[k];
	before = ch->samples.len;
	if (shard_sample_encode(&h->s, ch->f, &ch->samples, err))
		return chunk_bad(ch, &rec, 0, err->msg);
	return push_len(ch, ch->samples.len - before);
}

/* The fast path's layout for a file, or fr->n 0 when its records need the
 * general path. */
static void fast_layout(const struct shard_converter *h, const struct filectx *fc, struct fastrow *fr)
{
	const struct shard_schema *s = &h->s;
	size_t k, j, covered = 0, ndropped = 0;
	uint8_t d = (uint8_t)h->co.delim;

	fr->n = 0;
	fr->nvalid = 0;
	if (h->o.jsonl || s->nvar || !d || strchr("0123456789+-.eE", d))
		return;
	for (k = 0; k < fc->ncsv; k++)
		fr->dtype[k] = -1;
	for (k = 0; k < h->ncols; k++) {
		const struct column *c = &h->cols[k];
		size_t fi = fc->inv[k], off = 0;
		if (c->dropped && !c->part && fi < fc->ncsv) {
			fr->dtype[fi] = 0;	/* a field passed over */
			covered++;
			ndropped++;
			continue;
		}
		if (c->packed || c->npack || c->part || c->type.ltype || c->type.dtype < 0 || fi >= fc->ncsv ||
		    fr->dtype[fi] >= 0 || s->enc[c->schema_pos].size != (size_t)c->type.dtype >> 3)
			return;
		for (j = 0; j < (size_t)c->schema_pos; j++)
			off += s->enc[j].size;
		fr->dtype[fi] = c->type.dtype;
		fr->off[fi] = off;
		covered++;
		if (c->valid_pos >= 0) {
			for (j = 0, off = 0; j < (size_t)c->valid_pos; j++)
				off += s->enc[j].size;
			fr->valid_off[fr->nvalid++] = off;
		}
	}
	if (covered != fc->ncsv || s->ncols + ndropped != h->ncols + fr->nvalid)
		return;
	fr->size = 0;
	for (j = 0; j < s->ncols; j++)
		fr->size += s->enc[j].size;
	fr->nulllen = strlen(h->co.null_value);
	fr->n = fc->ncsv;
}

/* One record of plain numbers at p into row: the bytes it took, its line end
 * included, or 0 when it needs the general path (quotes, nulls, a field that
 * is not a number, a wrong field count: the general path says what). */
static size_t fast_record(const struct fastrow *fr, const struct shard_csv_opts *co, const uint8_t *p,
			  const uint8_t *end, uint8_t *row)
{
	const uint8_t *start = p, d = (uint8_t)co->delim, q = (uint8_t)co->quote;
	size_t i;
	for (i = 0;; i++) {
		ptrdiff_t r;
		if (q && p < end && *p == q)
			return 0;
		if (!fr->dtype[i]) {
			/* a column not written: its text up to the delimiter, unquoted */
			const uint8_t *x = p;
			while (x < end && *x != d && *x != '\n' && *x != '\r' && *x != q)
				x++;
			if (x < end && *x == q && q)
				return 0;
			r = x - p;
		} else
			r = shard_number_field(fr->dtype[i], d, p, end, row + fr->off[i]);
		if (r < 0 || ((size_t)r == fr->nulllen && memcmp(p, co->null_value, fr->nulllen) == 0))
			return 0;
		p += r;
		if (i + 1 == fr->n)
			break;
		if (p == end || *p != d)
			return 0;
		p++;
	}
	if (p < end) {
		if (*p == d)
			return 0;
		if (*p == '\r' && p + 1 < end && p[1] == '\n')
			p++;
		p++;
	}
	for (i = 0; i < fr->nvalid; i++)
		row[fr->valid_off[i]] = 1;
	return (size_t)(p - start);
}

/* A pool task: a chunk's records into sample bytes. */
static void convert_chunk(struct shard_task *t)
{
	struct chunk *ch = (struct chunk *)((char *)t - offsetof(struct chunk, task));
	const struct shard_converter *h = ch->h;
	struct shard_csv_opts co = h->co;
	struct shard_csv *csv;
	struct shard_csv_record rec;
	struct shard_error *err = &ch->err;
	struct fastrow *fr = &ch->fr;
	size_t pos = 0;
	uint64_t lineno = ch->line0;
	int rc;

	co.first_line = ch->line0;
	co.no_bom = 1;
	co.keep_raw = h->o.skip;
	ch->jl.ncsv = ch->fc->ncsv;
	if (shard_csv_new_mem(&csv, &co, ch->data.p, ch->data.len, err)) {
		chunk_fail(ch, err->status, NULL, 0, err->msg);
		return;
	}
	fast_layout(h, ch->fc, fr);
	for (;;) {
		if (fr->n) {
			size_t used;
			if (pos == ch->data.len) {
				rc = 0;
				break;
			}
			if (shard_buf_reserve(&ch->samples, fr->size)) {
				rc = 0;
				chunk_fail(ch, SHARD_ENOMEM, NULL, 0, "out of memory");
				break;
			}
			used = fast_record(fr, &co, ch->data.p + pos, ch->data.p + ch->data.len,
					   ch->samples.p + ch->samples.len);
			if (used) {
				ch->samples.len += fr->size;
				if (push_len(ch, fr->size))
					break;
				ch->rows++;
				pos += used;
				lineno++;
				continue;
			}
			shard_csv_mem_seek(csv, pos, lineno);
		}
		if ((rc = shard_csv_next(csv, &rec, err)) <= 0 || convert_record(ch, &rec))
			break;
		if (fr->n)
			pos = shard_csv_mem_tell(csv, &lineno);
	}
	if (rc < 0 && !ch->failed) {
		shard_csv_error_text(ch->msg, sizeof ch->msg, ch->fc->name, &rec, err);
		ch->failed = SHARD_EDATA;
	}
	shard_csv_free(csv);
}

/* ---------------------------------------------------------------- the ring */

static int ring_start(struct shard_converter *h, struct shard_error *err)
{
	int i;
	for (i = 0; i < INFLIGHT; i++) {
		struct chunk *ch = &h->ring[i];
		ch->h = h;
		ch->task.fn = convert_chunk;
		ch->jl.h = h;
		ch->jl.err = &ch->err;
		ch->null_line = calloc(h->ncols + 1, sizeof *ch->null_line);
		ch->null_field = calloc(h->ncols + 1, sizeof *ch->null_field);
		ch->nullcount = calloc(h->ncols + 1, sizeof *ch->nullcount);
		ch->offs = calloc(h->nschema + 1, sizeof *ch->offs);
		ch->f = calloc(h->nschema + 1, sizeof *ch->f);
		ch->jl.jf = calloc(h->ncols + 1, sizeof *ch->jl.jf);
		ch->jl.stroff = calloc(h->ncols + 1, sizeof *ch->jl.stroff);
		ch->jl.keyat = calloc(h->ncols + 1, sizeof *ch->jl.keyat);
		ch->fr.dtype = calloc(h->ncols + 1, sizeof *ch->fr.dtype);
		ch->fr.off = calloc(h->ncols + 1, sizeof *ch->fr.off);
		ch->fr.valid_off = calloc(h->nvalid + 1, sizeof *ch->fr.valid_off);
		if (!ch->null_line || !ch->null_field || !ch->nullcount || !ch->offs || !ch->f || !ch->jl.jf ||
		    !ch->jl.stroff || !ch->jl.keyat || !ch->fr.dtype || !ch->fr.off || !ch->fr.valid_off)
			return oom(err);
	}
	return 0;
}

static void ring_free(struct shard_converter *h)
{
	int i;
	for (i = 0; i < INFLIGHT; i++) {
		struct chunk *ch = &h->ring[i];
		shard_buf_free(&ch->data);
		shard_buf_free(&ch->samples);
		shard_buf_free(&ch->rejtext);
		shard_buf_free(&ch->vals);
		shard_buf_free(&ch->jl.strs);
		free(ch->lens);
		free(ch->rejs);
		free(ch->null_line);
		free(ch->null_field);
		free(ch->nullcount);
		free(ch->offs);
		free(ch->f);
		free(ch->jl.jf);
		free(ch->jl.stroff);
		free(ch->jl.keyat);
		free(ch->fr.dtype);
		free(ch->fr.off);
		free(ch->fr.valid_off);
	}
}

/* Wait for every chunk in flight, their results dropped (after a failure). */
static void ring_drain(struct shard_converter *h)
{
	for (; h->head != h->tail; h->head++)
		shard_pool_wait(h->pool, &h->ring[h->head % INFLIGHT].task);
}

static void pass_rejects(struct shard_converter *h, struct chunk *ch)
{
	size_t i;
	for (i = 0; i < ch->nrejs && h->o.on_reject; i++) {
		const struct rej *r = &ch->rejs[i];
		struct shard_convert_reject x = {ch->fc->name, r->line, r->column, (const char *)ch->rejtext.p + r->why,
						 ch->rejtext.p + r->raw, r->raw_len};
		h->o.on_reject(h->o.ctx, &x);
	}
}

/* Hand the oldest chunk's results to the writer (waiting for it), in order. */
static int retire_one(struct shard_converter *h, struct shard_error *err)
{
	struct chunk *ch = &h->ring[h->head % INFLIGHT];
	size_t k;

	shard_pool_wait(h->pool, &ch->task);
	h->head++;
	h->rows += ch->rows;
	h->rejected += ch->nrejs;
	for (k = 0; k < h->ncols; k++) {
		h->nullcount[k] += ch->nullcount[k];
		ch->nullcount[k] = 0;
	}
	pass_rejects(h, ch);
	if (ch->nulls && note_nulls(h, ch, err))
		return err->status;
	if (ch->failed) {
		shard_error_set(err, ch->failed, "%s", ch->msg);
		return report_nulls(h, 0, err);
	}
	/* after a null that fails the run, the rest is read only to find the
	 * other columns that hold one: nothing more is written */
	if (!h->nullfail && ch->nsamples && shard_writer_add_many(h->w, ch->samples.p, ch->lens, ch->nsamples, err))
		return err->status;
	h->written += ch->nsamples;
	if (h->o.on_progress)
		h->o.on_progress(h->o.ctx, ch->rows, ch->data.len);
	ch->samples.len = ch->rejtext.len = ch->data.len = 0;
	ch->nsamples = ch->nrejs = 0;
	ch->rows = 0;
	return 0;
}

/* Hand buf[0..cut) to the pool without copying it: the chunk takes buf's
 * memory, and buf gets the chunk's old buffer holding the bytes past cut. */
static int submit(struct shard_converter *h, const struct filectx *fc, struct shard_buf *buf, size_t cut,
		  uint64_t line0, struct shard_error *err)
{
	struct chunk *ch;
	struct shard_buf t;
	if (h->tail - h->head == INFLIGHT && retire_one(h, err))
		return err->status;
	ch = &h->ring[h->tail % INFLIGHT];
	ch->fc = fc;
	ch->line0 = line0;
	ch->failed = 0;
	t = ch->data;
	ch->data = *buf;
	*buf = t;
	buf->len = 0;
	if (shard_buf_append(buf, ch->data.p + cut, ch->data.len - cut))
		return oom(err);
	ch->data.len = cut;
	h->tail++;
	shard_pool_submit(h->pool, &ch->task);
	return 0;
}

/* ---------------------------------------------------------------- chunking */

/* Scans for record ends outside quotes, as lib/text/csv.c reads them. */
struct scan {
	int in_quotes, field_start;
	uint64_t lines;		/* line terminators seen */
	size_t delims;		/* delimiters outside quotes since the last record end */
};

/* The line feeds in p[0..n) into *nl, in one pass: 0, or -1 (*nl unset) when
 * a quote q (0: none) or a CR is among the bytes. */
static int count_plain_lines(const uint8_t *p, size_t n, uint8_t q, uint64_t *nl)
{
	uint64_t count = 0;
	size_t i = 0;
	if (!q)
		q = '\r';
#ifdef __SSE2__
	{
		const __m128i lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r'), qq = _mm_set1_epi8((char)q);
		while (n - i >= 16) {
			/* up to 255 blocks of 16 bytes: each byte counter holds at most 255 */
			__m128i acc = _mm_setzero_si128(), odd = _mm_setzero_si128(), sum;
			size_t k;
			for (k = 0; k < 255 && n - i >= 16; k++, i += 16) {
				__m128i v = _mm_loadu_si128((const __m128i *)(p + i));
				acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(v, lf));
				odd = _mm_or_si128(odd, _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, qq)));
			}
			if (_mm_movemask_epi8(odd))
				return -1;
			sum = _mm_sad_epu8(acc, _mm_setzero_si128());
			count += (uint64_t)_mm_cvtsi128_si64(sum) + (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(sum, sum));
		}
	}
#endif
	for (; i < n; i++) {
		if (p[i] == '\r' || p[i] == q)
			return -1;
		count += p[i] == '\n';
	}
	*nl = count;
	return 0;
}

/* Scan p[0..n) (n-1 when more input follows: the last byte may need a peek);
 * returns how far it got and sets *cut just past the last record end. */
static size_t scan(struct scan *st, const struct shard_csv_opts *co, const uint8_t *p, size_t n, int final,
		   size_t *cut, uint64_t *cut_lines, int stop_first)
{
	const uint8_t d = (uint8_t)co->delim, q = (uint8_t)co->quote, e = (uint8_t)co->escape;
	size_t i, lim = final ? n : (n ? n - 1 : 0);
	uint64_t nl;

	/* fast path: no quote and no CR in sight, so records end at the last LF */
	if (!st->in_quotes && !stop_first && lim && count_plain_lines(p, lim, q, &nl) == 0) {
		const uint8_t *lf = memrchr(p, '\n', lim), *x = lf ? lf + 1 : p;
		if (lf) {
			*cut = (size_t)(lf - p) + 1;
			*cut_lines = st->lines + nl;
			st->delims = 0;
		}
		/* only the unfinished record's: a message about it names its field */
		while (d && (x = memchr(x, d, (size_t)(p + lim - x)))) {
			st->delims++;
			x++;
		}
		st->lines += nl;
		st->field_start = p[lim - 1] == '\n' || p[lim - 1] == d;
		return lim;
	}
	for (i = 0; i < lim; i++) {
		uint8_t c = p[i];
		if (st->in_quotes) {
			if (c == e && e != q && i + 1 < n && (p[i + 1] == q || p[i + 1] == e)) {
				i++;
			} else if (c == q) {
				if (i + 1 < n && p[i + 1] == q)
					i++;
				else
					st->in_quotes = 0;
			} else if (c == '\n' || (c == '\r' && !(i + 1 < n && p[i + 1] == '\n'))) {
				st->lines++;
			}
			continue;
		}
		if (c == '\n' || c == '\r') {
			if (c == '\r' && i + 1 < n && p[i + 1] == '\n')
				i++;
			st->lines++;
			st->field_start = 1;
			st->delims = 0;
			*cut = i + 1;
			*cut_lines = st->lines;
			if (stop_first)
				return i + 1;
			continue;
		}
		if (c == d) {
			st->field_start = 1;
			st->delims++;
			continue;
		}
		if (c == q && q && st->field_start)
			st->in_quotes = 1;
		st->field_start = 0;
	}
	return i;
}

/* The header, buf's first record: the file's columns mapped by name, and the
 * bytes it took (0 when the input ends inside or before it: *none). */
static int read_header(struct shard_converter *h, struct filectx *fc, const struct shard_buf *buf, size_t *consumed,
		       uint64_t *lines, int *none, struct shard_error *err)
{
	struct shard_csv *hc;
	struct shard_csv_record rec;
	struct shard_csv_opts ho = h->co;
	struct scan hs = {0, 1, 0};
	size_t i, k, ncsv = fc->ncsv, hcut = 0;
	int rc;

	ho.no_bom = 1;
	*none = 0;
	if (shard_csv_new_mem(&hc, &ho, buf->p, buf->len, err))
		return err->status;
	rc = shard_csv_next(hc, &rec, err);
	if (rc < 0) {
		char msg[sizeof err->msg + PATH_MAX];
		shard_csv_error_text(msg, sizeof msg, fc->name, &rec, err);
		shard_csv_free(hc);
		return shard_error_set(err, SHARD_EDATA, "%s", msg);
	}
	if (rc == 0) {
		*none = 1;
		shard_csv_free(hc);
		return 0;
	}
	rc = 0;
	if (rec.nfields != ncsv)
		rc = shard_error_set(err, SHARD_EDATA, "%s:%llu: header has %zu columns, the schema %zu", fc->name,
				     (unsigned long long)rec.line, rec.nfields, ncsv);
	/* each column the files hold named once: one left unnamed would be
	 * read from past the row's fields */
	for (k = 0; k < h->ncols; k++)
		fc->inv[k] = ncsv;
	for (i = 0; i < ncsv && !rc; i++) {
		const char *why = NULL;
		int twice;
		size_t fk = match_name(h, rec.fields[i].p, rec.fields[i].len, ncsv, &twice);
		k = fk < ncsv ? h->filecols[fk] : h->ncols;
		if (twice)
			why = "matches several schema columns but their case (name it exactly, or use --case-sensitive)";
		else if (k == h->ncols)
			why = "is not in the schema";
		else if (fc->inv[k] != ncsv)
			why = "is named twice";
		if (why)
			rc = shard_error_set(err, SHARD_EDATA, "%s:%llu:%zu: header column '%.*s' %s", fc->name,
					     (unsigned long long)rec.line, i + 1, (int)rec.fields[i].len,
					     (const char *)rec.fields[i].p, why);
		else
			fc->inv[k] = i;
	}
	shard_csv_free(hc);
	/* the header ends where the first record does */
	*lines = 0;
	scan(&hs, &h->co, buf->p, buf->len, 1, &hcut, lines, 1);
	*consumed = hcut ? hcut : buf->len;
	return rc;
}

/* Read until a chunk's worth of bytes past scanned is in hand (or the end);
 * a BOM opening the input is dropped. */
static int fill(struct shard_textin *t, struct shard_buf *buf, size_t scanned, int first, int *eof,
		struct shard_error *err)
{
	while (!*eof && buf->len - scanned < CHUNK) {
		ssize_t got;
		if (shard_buf_reserve(buf, 1u << 20))
			return oom(err);
		got = shard_textin_read(t, buf->p + buf->len, 1u << 20, err);
		if (got < 0)
			return err->status;
		if (got == 0)
			*eof = 1;
		buf->len += (size_t)got;
		if (first && buf->len >= 3 && scanned == 0 && memcmp(buf->p, "\xEF\xBB\xBF", 3) == 0) {
			memmove(buf->p, buf->p + 3, buf->len - 3);	/* a BOM opens the file only */
			buf->len -= 3;
		}
	}
	return 0;
}

/* An input's records, cut into chunks, through the pool into the writer. */
static int convert_input(struct shard_converter *h, struct filectx *fc, struct shard_textin *t, int eof,
			 struct shard_error *err)
{
	struct shard_buf buf = {0};
	struct scan st = {0, 1, 0};
	uint64_t line_of_buf = 1;	/* line number of buf's first byte */
	size_t scanned = 0;
	int header_pending = h->o.header, rc = 0;

	while (!rc && (!eof || buf.len)) {
		size_t cut = 0;
		uint64_t cut_lines = 0;
		if ((rc = fill(t, &buf, scanned, line_of_buf == 1, &eof, err)))
			break;
		{
			size_t upto = scan(&st, &h->co, buf.p + scanned, buf.len - scanned, eof, &cut, &cut_lines, 0);
			if (cut)
				cut += scanned;
			scanned += upto;
		}
		if (eof) {
			cut = buf.len;	/* the rest, even without a final newline */
			cut_lines = st.lines;
		} else if (!cut) {
			if (buf.len > h->co.max_record + CHUNK)
				rc = shard_error_set(err, SHARD_EDATA, "%s:%llu:%zu: record longer than %zu bytes", fc->name,
						     (unsigned long long)line_of_buf, st.delims + 1, h->co.max_record);
			continue;	/* one record longer than a chunk: read more */
		}
		if (header_pending && cut) {
			size_t consumed = 0;
			uint64_t hl = 0;
			int none;
			if ((rc = read_header(h, fc, &buf, &consumed, &hl, &none, err)) || none)
				break;
			header_pending = 0;
			line_of_buf += hl;
			memmove(buf.p, buf.p + consumed, buf.len - consumed);
			buf.len -= consumed;
			st = (struct scan){0, 1, 0};
			scanned = 0;
			continue;
		}
		if (cut && (rc = submit(h, fc, &buf, cut, line_of_buf, err)))	/* buf keeps the rest */
			break;
		line_of_buf += cut_lines;
		scanned -= scanned >= cut ? cut : scanned;
		st.lines -= cut_lines;	/* lines past the cut belong to the next chunk */
		if (eof && !buf.len)
			break;
	}
	/* finish this input's chunks before its context goes away */
	while (!rc && h->head != h->tail)
		rc = retire_one(h, err);
	ring_drain(h);
	if (!rc && header_pending)
		warn(h, "%s: empty file (no header line)", fc->name);
	shard_buf_free(&buf);
	return rc;
}

static int convert_file(struct shard_converter *h, const struct input *in, struct shard_error *err)
{
	struct filectx fc = {in, in->name, h->ncsv, NULL};
	struct shard_textin t;
	size_t i, k;
	int rc, empty;

	if (!(fc.inv = calloc(h->ncols + 1, sizeof *fc.inv)))
		return oom(err);
	/* a column -> its field in the file: schema order unless a header says otherwise */
	for (k = 0; k < h->ncols; k++)
		fc.inv[k] = h->ncsv;
	for (i = 0; i < h->ncsv; i++)
		fc.inv[h->filecols[i]] = i;
	rc = open_input(&t, in, &empty, err);
	if (!rc)
		rc = convert_input(h, &fc, &t, empty, err);
	shard_textin_close(&t);
	free(fc.inv);
	return rc;
}

/* ---------------------------------------------------------------- the schema */

/* No schema given: the first input's first rows say it. */
static int infer(struct shard_converter *h, struct shard_error *err)
{
	const struct input *in = h->nin ? &h->in[0] : NULL;
	struct shard_textin t;
	struct shard_csv *csv;
	int empty = 0, rc;

	if (!in || (!in->path && !in->mem))
		return shard_error_set(err, SHARD_EARG, "no --schema: inferring one needs a file to read twice, not stdin");
	if (in->path && shard_textin_hadoop(in->path, err))
		return err->status;
	if (in->path) {
		if (shard_textin_open_path(&t, in->path, in->name, &empty, err) || empty) {
			shard_textin_close(&t);
			if (empty)
				snprintf(err->msg, sizeof err->msg, "empty file");
			return prefixed(err, SHARD_EDATA, "%s: cannot infer a schema", in->name);
		}
	} else {
		shard_textin_open_mem(&t, in->mem, in->memlen, in->name);
	}
	if (!(rc = shard_csv_new(&csv, &h->co, shard_textin_read, &t, err))) {
		rc = shard_infer_schema(csv, in->name, h->o.jsonl, h->o.header, &h->inferred, err);
		shard_csv_free(csv);
	}
	shard_textin_close(&t);
	return rc;
}

static struct column *new_column(struct shard_converter *h, struct shard_error *err)
{
	struct column *c = realloc(h->cols, (h->ncols + 1) * sizeof *c);
	if (!c) {
		oom(err);
		return NULL;
	}
	h->cols = c;
	c = &h->cols[h->ncols++];
	memset(c, 0, sizeof *c);
	return c;
}

/* The schema column an option's "COL<sep>..." names (COL may be in
 * backquotes); *rest the text after sep. h->ncols on a usage error. */
static size_t opt_column(struct shard_converter *h, const char *opt, const char *arg, char sep, const char **rest,
			 struct shard_error *err)
{
	char *name;
	size_t k;
	if (shard_colname_split(arg, sep ? sep : '\0', &name, rest, err)) {
		prefixed(err, SHARD_EARG, "%s", opt);
		return h->ncols;
	}
	if (sep && (*rest == arg + strlen(arg) || (*rest)[-1] != sep)) {
		free(name);
		shard_error_set(err, SHARD_EARG, "%s takes COL%cVALUE, not '%s'", opt, sep, arg);
		return h->ncols;
	}
	for (k = 0; k < h->ncols && strcmp(h->cols[k].name, name); k++)
		;
	if (k == h->ncols)
		shard_error_set(err, SHARD_EARG, "%s: no column '%s' in the schema", opt, name);
	free(name);
	return k;
}

/* The schema list: columns in file order, each named once. */
static int parse_columns(struct shard_converter *h, struct shard_error *err)
{
	size_t i, k;
	if (shard_colspec_parse(h->schema_text, 1, &h->spec, &h->nspec, err))
		return prefixed(err, SHARD_EARG, "--schema");
	for (i = 0; i < h->nspec; i++) {
		struct column *c = new_column(h, err);
		if (!c)
			return err->status;
		c->name = h->spec[i].name;
		if (shard_coltype_parse(h->spec[i].type, &c->type, err))
			return prefixed(err, SHARD_EARG, "--schema: column '%s'", c->name);
	}
	for (i = 0; i < h->ncols; i++)
		for (k = i + 1; k < h->ncols; k++)
			if (strcmp(h->cols[i].name, h->cols[k].name) == 0)
				return shard_error_set(err, SHARD_EARG, "--schema: column '%s' twice", h->cols[i].name);
	return 0;
}

/* types: another type than the schema's (a decimal as float64, a long as
 * int32, range-checked); nullable if either says so. Then the time zone of
 * timestamp text without an offset, in the files and in key=value
 * directories alike. */
static int apply_types(struct shard_converter *h, struct shard_error *err)
{
	size_t i, k;
	const char *rest;
	for (i = 0; i < h->o.ntypes; i++) {
		struct shard_coltype t;
		int was;
		if ((k = opt_column(h, "--type", h->o.types[i], '=', &rest, err)) == h->ncols)
			return err->status;
		if (shard_coltype_parse(rest, &t, err))
			return prefixed(err, SHARD_EARG, "--type %s", h->o.types[i]);
		was = h->cols[k].type.nullable;
		h->cols[k].type = t;
		h->cols[k].type.nullable |= was;
	}
	if (h->o.timezone && shard_tz_new(&h->tz, h->o.timezone, h->o.tzdir, err)) {
		if (err->status == SHARD_EARG)
			shard_error_prefix(err, "--timezone");
		return err->status;
	}
	for (i = 0; i < h->ncols; i++)
		h->cols[i].type.tz = h->tz;
	return 0;
}

/* fills: the text for nulls, checked against the column's type. */
static int apply_fills(struct shard_converter *h, struct shard_error *err)
{
	size_t i, k;
	const char *rest;
	for (i = 0; i < h->o.nfills; i++) {
		struct shard_buf v = {0}, tmp = {0};
		struct column *c;
		int bad;
		if ((k = opt_column(h, "--fill", h->o.fills[i], '=', &rest, err)) == h->ncols)
			return err->status;
		c = &h->cols[k];
		/* a decimal's fill is scaled like its values: 0 in decimal(10,2) is 0.00 */
		if (shard_decimal_scaled(&c->type, rest, &v, err) || shard_buf_putc(&v, 0)) {
			shard_buf_free(&v);
			return prefixed(err, SHARD_EARG, "--fill %s", h->o.fills[i]);
		}
		if (!(c->fill = own(h, (char *)v.p)))
			return oom(err);
		c->type.nullable = 0;	/* a value instead of the null */
		bad = shard_text_to_value(&c->type, (const uint8_t *)c->fill, strlen(c->fill), &tmp, err);
		shard_buf_free(&tmp);
		if (bad)
			return prefixed(err, SHARD_EARG, "--fill %s", h->o.fills[i]);
	}
	return 0;
}

/* select: the columns written; the others are read and left out. renames:
 * the name written. */
static int apply_select(struct shard_converter *h, struct shard_error *err)
{
	size_t i, k;
	const char *rest;
	if (h->o.select) {
		struct shard_colspec *sel;
		size_t nsel;
		if (shard_colspec_parse(h->o.select, 0, &sel, &nsel, err))
			return prefixed(err, SHARD_EARG, "--select");
		for (k = 0; k < h->ncols; k++)
			h->cols[k].dropped = 1;
		for (i = 0; i < nsel; i++) {
			if ((k = opt_column(h, "--select", sel[i].name, 0, &rest, err)) == h->ncols)
				break;
			h->cols[k].dropped = 0;
		}
		shard_colspec_free(sel, nsel);
		if (i < nsel)
			return err->status;
	}
	for (k = 0; k < h->ncols; k++)
		h->cols[k].out = h->cols[k].name;
	for (i = 0; i < h->o.nrenames; i++) {
		if ((k = opt_column(h, "--rename", h->o.renames[i], '=', &rest, err)) == h->ncols)
			return err->status;
		if (!*rest)
			return shard_error_set(err, SHARD_EARG, "--rename %s: no new name", h->o.renames[i]);
		h->cols[k].out = rest;
	}
	return 0;
}

/* no_nulls: nulls are errors. With Spark's schema, the fields it says may
 * hold one and that have no fill are named now, before any data. */
static int apply_no_nulls(struct shard_converter *h, struct shard_error *err)
{
	struct shard_buf list = {0};
	size_t i, n = 0;
	if (!h->o.no_nulls)
		return 0;
	for (i = 0; i < h->ncols; i++) {
		if (h->o.spark_schema && shard_has_validity(&h->cols[i].type))
			shard_buf_printf(&list, "%s%s", n++ ? ", " : "", h->cols[i].name);
		h->cols[i].type.nullable = 0;
	}
	shard_buf_putc(&list, 0);
	if (n)
		shard_error_set(err, SHARD_EARG, "--no-nulls: the Spark schema says %s may hold nulls; give each a --fill "
				"COL=VALUE, or drop --no-nulls to keep the nulls", list.p ? (const char *)list.p : "");
	shard_buf_free(&list);
	return n ? err->status : 0;
}

/* One pack "NAME=a,b,c:DTYPE": the columns a, b, c are read from the files and
 * written as one ndarray:DTYPE:3 column NAME, in that order. */
static int add_pack(struct shard_converter *h, const char *arg, struct shard_error *err)
{
	char *spec = own(h, strdup(arg)), *eq, *colon, *p, *save = NULL, enc[64];
	struct column *pc;
	size_t np = 0, j, k, before = h->ncols;

	if (!spec)
		return oom(err);
	eq = strchr(spec, '=');
	colon = strrchr(spec, ':');
	if (!eq || eq == spec || !colon || colon < eq)
		return shard_error_set(err, SHARD_EARG, "--pack takes NAME=COL,COL,...:DTYPE");
	*eq = 0;
	*colon = 0;
	if (shard_dtype_from_name(colon + 1) < 0)
		return shard_error_set(err, SHARD_EARG, "--pack %s: unknown dtype '%s'", spec, colon + 1);
	for (k = 0; k < h->ncols; k++)
		if (strcmp(h->cols[k].name, spec) == 0)
			return shard_error_set(err, SHARD_EARG, "--pack %s: a column of that name exists already", spec);
	if (!(pc = new_column(h, err)))
		return err->status;
	pc->name = spec;
	if (!(pc->pack = calloc(before + 1, sizeof *pc->pack)))
		return oom(err);
	for (p = strtok_r(eq + 1, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		for (k = 0; k < before && strcmp(h->cols[k].name, p); k++)
			;
		if (k == before)
			return shard_error_set(err, SHARD_EARG, "--pack %s: no column '%s' in the schema", spec, p);
		if (h->cols[k].packed)
			return shard_error_set(err, SHARD_EARG, "--pack %s: column '%s' is packed twice", spec, p);
		for (j = 0; j < np; j++)
			if (pc->pack[j] == k)
				return shard_error_set(err, SHARD_EARG, "--pack %s: column '%s' listed twice", spec, p);
		pc->pack[np++] = k;
	}
	if (!np)
		return shard_error_set(err, SHARD_EARG, "--pack %s: no columns", spec);
	pc->npack = np;
	snprintf(enc, sizeof enc, "%s", colon + 1);
	if (shard_coltype_parse(enc, &pc->elem, err))
		return prefixed(err, SHARD_EARG, "--pack %s", spec);
	snprintf(enc, sizeof enc, "ndarray:%s:%zu", colon + 1, np);
	if (shard_coltype_parse(enc, &pc->type, err))
		return prefixed(err, SHARD_EARG, "--pack %s", spec);
	for (j = 0; j < np; j++)
		h->cols[pc->pack[j]].packed = 1;
	return 0;
}

/* Spark drops partition columns from the rows and puts them in key=value
 * directory names: a schema column of that name takes its type from the
 * schema, any other key becomes a str column. Then the columns the files
 * hold, in file order. */
static int add_partitions(struct shard_converter *h, struct shard_error *err)
{
	size_t i, k, j;
	for (i = 0; i < h->nin; i++) {
		for (k = 0; k < h->in[i].np; k++) {
			for (j = 0; j < h->ncols && strcmp(h->cols[j].name, h->in[i].pkeys[k]); j++)
				;
			if (j == h->ncols) {
				struct column *c = new_column(h, err);
				if (!c)
					return err->status;
				c->name = h->in[i].pkeys[k];
				shard_coltype_parse(h->o.no_nulls ? "str" : "str?", &c->type, err);
			}
			h->cols[j].part = 1;
		}
	}
	if (!(h->filecols = calloc(h->ncols + 1, sizeof *h->filecols)))
		return oom(err);
	for (i = 0; i < h->ncols; i++)
		if (!h->cols[i].part && !h->cols[i].npack)
			h->filecols[h->ncsv++] = i;
	if (!h->ncsv)
		return shard_error_set(err, SHARD_EARG, "--schema names no column that the files hold");
	return 0;
}

/* The names and encodings written: value columns, then validity columns. */
static int written_columns(struct shard_converter *h, char **names, const char **encs, size_t *n,
			   struct shard_error *err)
{
	size_t i, j, k = 0;
	for (i = 0; i < h->ncols; i++) {
		struct column *c = &h->cols[i];
		if (!c->out)
			c->out = c->name;	/* pack and partition columns */
		if (c->packed || c->dropped)
			continue;	/* only inside its pack column, or not at all */
		for (j = 0; j < k && strcmp(names[j], c->out); j++)
			;
		if (j < k)
			return shard_error_set(err, SHARD_EARG, "two columns would be written as '%s'", c->out);
		names[k] = (char *)c->out;
		encs[k++] = c->type.enc_name;
	}
	for (i = 0; i < h->ncols; i++) {
		/* a nullable column's validity column beside it (shard-mds(5), NULLS) */
		const struct column *c = &h->cols[i];
		char vn[1024];
		if (c->packed || c->dropped || !shard_has_validity(&c->type))
			continue;
		if (shard_validity_name(c->out, vn, sizeof vn))
			return shard_error_set(err, SHARD_EARG, "column name '%s' is too long", c->out);
		for (j = 0; j < k && strcmp(names[j], vn); j++)
			;
		if (j < k)
			return shard_error_set(err, SHARD_EARG, "column '%s' is nullable, and its validity column '%s' is "
					       "taken by another column", c->out, vn);
		if (!(names[k] = own(h, strdup(vn))))
			return oom(err);
		encs[k++] = "uint8";
		h->nvalid++;
	}
	*n = k;
	return 0;
}

/* Logical types and validity columns go in index.json, where Python's reader
 * ignores them. */
static int make_extra(struct shard_converter *h, struct shard_error *err)
{
	json_t *x = json_object(), *lt = json_object(), *va = json_object();
	size_t i;
	int rc = 0;
	if (!x || !lt || !va)
		rc = oom(err);
	for (i = 0; i < h->ncols && !rc; i++) {
		const struct column *c = &h->cols[i];
		if (c->schema_pos < 0)
			continue;
		if (c->type.ltype)
			json_object_set_new(lt, c->out, json_string(shard_ltype_name(c->type.ltype)));
		if (c->valid_pos >= 0)
			json_object_set_new(va, c->out, json_string(h->s.names[c->valid_pos]));
	}
	if (!rc && json_object_size(lt))
		json_object_set(x, "logical_types", lt);
	if (!rc && json_object_size(va))
		json_object_set(x, "validity", va);
	if (!rc && json_object_size(x) && !(h->extra = json_dumps(x, JSON_SORT_KEYS | JSON_COMPACT)))
		rc = oom(err);
	json_decref(lt);
	json_decref(va);
	json_decref(x);
	return rc;
}

static int build_schema(struct shard_converter *h, struct shard_error *err)
{
	char **names = calloc(2 * h->ncols + 1, sizeof *names);
	const char **encs = calloc(2 * h->ncols + 1, sizeof *encs);
	size_t i, k = 0;
	int rc = 0;

	if (!names || !encs)
		rc = oom(err);
	if (!rc)
		rc = written_columns(h, names, encs, &k, err);
	if (!rc && shard_schema_init(&h->s, k, (const char *const *)names, encs, 1, err))
		rc = prefixed(err, SHARD_EARG, "--schema");
	free(names);
	free(encs);
	if (rc)
		return rc;
	h->have_schema = 1;
	h->nschema = k;
	for (i = 0; i < h->ncols; i++) {
		struct column *c = &h->cols[i];
		char vn[1024];
		int w = !c->packed && !c->dropped;
		c->schema_pos = w ? shard_schema_index(&h->s, c->out) : -1;
		c->valid_pos = -1;
		if (w && shard_has_validity(&c->type) && !shard_validity_name(c->out, vn, sizeof vn))
			c->valid_pos = shard_schema_index(&h->s, vn);
	}
	if (!(h->null_at = calloc(h->ncols + 1, sizeof *h->null_at)) ||
	    !(h->nullcount = calloc(h->ncols + 1, sizeof *h->nullcount)))
		return oom(err);
	return make_extra(h, err);
}

int shard_converter_prepare(struct shard_converter *h, struct shard_error *err)
{
	size_t i;
	if (h->prepared)
		return 0;
	h->prepared = 1;
	if (h->o.skip && !h->o.on_reject)
		return shard_error_set(err, SHARD_EARG, "skipping bad rows needs a reject callback");
	h->schema_text = h->o.schema;
	if (!h->schema_text) {
		if (infer(h, err))
			return err->status;
		h->schema_text = (const char *)h->inferred.p;
	}
	if (parse_columns(h, err) || apply_types(h, err) || apply_fills(h, err) || apply_select(h, err) ||
	    apply_no_nulls(h, err))
		return err->status;
	for (i = 0; i < h->o.npacks; i++)
		if (add_pack(h, h->o.packs[i], err))
			return err->status;
	if (add_partitions(h, err) || build_schema(h, err))
		return err->status;
	return 0;
}

/* ---------------------------------------------------------------- the handle */

int shard_converter_new(struct shard_converter **out, const struct shard_convert_opts *o, struct shard_error *err)
{
	struct shard_converter *h = calloc(1, sizeof *h);
	*out = NULL;
	if (!h)
		return oom(err);
	h->o = *o;
	h->co = o->csv;
	if (!h->co.null_value)
		h->co.null_value = "";
	if (o->jsonl) {
		/* one record per line: JSON text holds no raw newlines, and no NUL */
		h->co.delim = 0;
		h->co.quote = 0;
		h->co.escape = 0;
	}
	h->co.keep_raw = o->skip;
	h->pool = o->pool;
	*out = h;
	return 0;
}

int shard_converter_finish(struct shard_converter *h, struct shard_sink *sink, struct shard_error *err)
{
	struct shard_writer_opts wo;
	size_t i;
	int rc;
	if (shard_converter_prepare(h, err))
		return err->status;
	if (h->finished)
		return shard_error_set(err, SHARD_EARG, "the converter has finished already");
	h->finished = 1;
	if (!h->pool) {
		unsigned n = h->o.threads ? h->o.threads : shard_cpu_budget();
		/* more threads than chunks in flight would idle */
		if (shard_pool_new(&h->own_pool, n < INFLIGHT ? n : INFLIGHT, err))
			return err->status;
		h->pool = h->own_pool;
	}
	/* one pool: the writer's compression runs beside the chunks' parsing */
	wo = h->o.writer;
	if (!wo.pool)
		wo.pool = h->pool;
	if (ring_start(h, err) || shard_writer_new(&h->w, sink, &h->s, &wo, err))
		return err->status;
	if (h->extra && shard_sink_set_extra(sink, h->extra))
		return oom(err);
	for (i = 0, rc = 0; i < h->nin && !rc; i++)
		rc = convert_file(h, &h->in[i], err);
	if (!rc && h->nullfail)
		rc = report_nulls(h, 1, err);
	if (!rc)
		rc = shard_writer_finish(h->w, err);
	if (rc)
		shard_writer_abort(h->w);
	return rc;
}

const char *shard_converter_schema_text(const struct shard_converter *h)
{
	return h->schema_text;
}

const char *shard_converter_inferred_from(const struct shard_converter *h)
{
	return h->prepared && !h->o.schema && h->nin ? h->in[0].name : NULL;
}

const struct shard_schema *shard_converter_schema(const struct shard_converter *h)
{
	return h->have_schema ? &h->s : NULL;
}

const char *shard_converter_extra(const struct shard_converter *h)
{
	return h->extra;
}

void shard_converter_stats(const struct shard_converter *h, struct shard_convert_stats *st)
{
	st->rows_read = h->rows;
	st->rows_written = h->written;
	st->rows_rejected = h->rejected;
	st->inputs = h->nin;
}

uint64_t shard_converter_nulls(const struct shard_converter *h, const char *column)
{
	size_t k;
	for (k = 0; h->nullcount && k < h->ncols; k++)
		if (strcmp(h->cols[k].name, column) == 0)
			return h->nullcount[k];
	return 0;
}

void shard_converter_free(struct shard_converter *h)
{
	size_t i;
	if (!h)
		return;
	if (h->pool)
		ring_drain(h);
	shard_writer_free(h->w);
	shard_pool_free(h->own_pool);
	ring_free(h);
	for (i = 0; i < h->nin; i++) {
		size_t k;
		for (k = 0; k < h->in[i].np; k++) {
			free(h->in[i].pkeys[k]);
			free(h->in[i].pvals[k]);
		}
		free(h->in[i].pkeys);
		free(h->in[i].pvals);
		free(h->in[i].path);
		free(h->in[i].name);
	}
	free(h->in);
	for (i = 0; i < h->nowned; i++)
		free(h->owned[i]);
	free(h->owned);
	for (i = 0; i < h->ncols; i++) {
		free(h->cols[i].pack);
		if (h->null_at)
			free(h->null_at[i]);
	}
	free(h->cols);
	shard_colspec_free(h->spec, h->nspec);
	shard_buf_free(&h->inferred);
	free(h->filecols);
	if (h->have_schema)
		shard_schema_free(&h->s);
	free(h->extra);
	free(h->null_at);
	free(h->nullcount);
	shard_tz_free(h->tz);
	free(h);
}
