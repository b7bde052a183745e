/* Schema inference: the narrowest type every sampled value of a column
 * parses as (int64, float64, bool, date, timestamp, else str), as a --schema
 * column list; JSON Lines objects and arrays become json and ndarray
 * columns, and a column that held a null in the sample keeps its nulls. */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "internal.h"

#define INFER_ROWS 1000

/* The types inference can give, narrowest first; str when none fits. */
enum { T_INT, T_FLOAT, T_BOOL, T_DATE, T_TS, T_STR };
static const char *const tnames[] = {"int64", "float64", "bool", "date", "timestamp", "str"};
#define T_ALL ((1u << T_STR) - 1)

struct infer_col {
	char *name;
	unsigned cand;	/* bit T: every non-null value so far parses as type T */
	int json;	/* JSON Lines: an object or an array that is not all numbers */
	int array;	/* JSON Lines: arrays of numbers */
	size_t seen;	/* values that were not null */
	int nulls;	/* CSV: a null among them */
};

struct infer {
	struct shard_coltype ct[T_STR];
	struct shard_buf scratch;	/* one value parsed under up to five types, without allocating each time */
	struct infer_col *cols;
	size_t ncols;
	int oom;
};

static int fits(struct infer *in, int t, const uint8_t *p, size_t n)
{
	struct shard_error err;
	in->scratch.len = 0;
	return shard_text_to_value(&in->ct[t], p, n, &in->scratch, &err) == 0;
}

static struct infer_col *icol(struct infer *in, const char *name, size_t n)
{
	struct infer_col *c;
	size_t i;
	for (i = 0; i < in->ncols; i++)
		if (strlen(in->cols[i].name) == n && memcmp(in->cols[i].name, name, n) == 0)
			return &in->cols[i];
	if (!(c = realloc(in->cols, (in->ncols + 1) * sizeof *c)))
		return NULL;
	in->cols = c;
	c = &in->cols[in->ncols];
	memset(c, 0, sizeof *c);
	if (!(c->name = strndup(name, n)))
		return NULL;
	c->cand = T_ALL;
	in->ncols++;
	return c;
}

/* Rule out every type the value does not parse as: the column's type must
 * take each sampled value, not only the latest (5 then 2024-01-01 is str,
 * not date). */
static void observe(struct infer *in, struct infer_col *c, const uint8_t *p, size_t n)
{
	int t;
	for (t = 0; t < T_STR; t++)
		if (c->cand & (1u << t) && !fits(in, t, p, n))
			c->cand &= ~(1u << t);
}

/* The narrowest type left; a lone 0 or 1 is a number first, as int64 comes
 * before bool. No value parses as both int64 and date, so every type left
 * means a column null throughout: str. */
static int infer_type(const struct infer_col *c)
{
	int t;
	for (t = 0; t < T_STR && !(c->cand & (1u << t)); t++)
		;
	return c->cand == T_ALL ? T_STR : t;
}

static int infer_member(void *ctx, const char *key, size_t key_at, const uint8_t *val, size_t vlen)
{
	struct infer *in = ctx;
	struct infer_col *c = icol(in, key, strlen(key));
	(void)key_at;
	if (!c) {
		in->oom = 1;
		return SHARD_ENOMEM;
	}
	if (vlen == 4 && memcmp(val, "null", 4) == 0)
		return 0;
	c->seen++;
	if (val[0] == '{') {
		c->json = 1;
	} else if (val[0] == '[') {
		size_t i;
		int numeric = 1;
		for (i = 1; i + 1 < vlen && numeric; i++)
			numeric = strchr("0123456789+-.eE, \tNaInfity", val[i]) != NULL;
		if (numeric)
			c->array = 1;
		else
			c->json = 1;
	} else if (val[0] == '"') {
		c->cand = 0;	/* JSON strings stay strings, as Spark infers them */
	} else {
		observe(in, c, val, vlen);
	}
	return 0;
}

/* One CSV record: a header's names, or values observed column by column
 * (columns past the header's named _cN, as Spark names them). */
static int infer_record(struct infer *in, const struct shard_csv_record *rec, int header)
{
	size_t i;
	if (header) {
		for (i = 0; i < rec->nfields; i++)
			if (!icol(in, (const char *)rec->fields[i].p, rec->fields[i].len))
				return -1;
		return 0;
	}
	for (i = in->ncols; i < rec->nfields; i++) {
		char nm[32];
		snprintf(nm, sizeof nm, "_c%zu", i);
		if (!icol(in, nm, strlen(nm)))
			return -1;
	}
	for (i = 0; i < rec->nfields && i < in->ncols; i++) {
		if (!rec->fields[i].null)
			observe(in, &in->cols[i], rec->fields[i].p, rec->fields[i].len);
		else
			in->cols[i].nulls = 1;
	}
	return 0;
}

/* The column list from what was observed over rows records. */
static int infer_list(struct infer *in, const char *name, int jsonl, size_t rows, struct shard_buf *out,
		      struct shard_error *err)
{
	size_t i;
	out->len = 0;
	for (i = 0; i < in->ncols; i++) {
		const struct infer_col *c = &in->cols[i];
		const char *t = c->json ? "json" : c->array ? "ndarray:float64" : tnames[infer_type(c)];
		if (strpbrk(c->name, ",:="))
			return shard_error_set(err, SHARD_EDATA, "%s: column name '%s' cannot be used; give --schema", name,
					       c->name);
		/* a column that held a null in the sample keeps its nulls */
		if (shard_buf_printf(out, "%s%s:%s%s", i ? "," : "", c->name, t,
				     !c->json && (jsonl ? c->seen < rows : c->nulls) ? "?" : ""))
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	if (shard_buf_putc(out, 0))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	return 0;
}

static int infer_rows(struct infer *in, struct shard_csv *csv, const char *name, int jsonl, int header,
		      struct shard_buf *out, struct shard_error *err)
{
	struct shard_csv_record rec;
	size_t rows = 0;
	int rc = 0;

	while (rows < INFER_ROWS && (rc = shard_csv_next(csv, &rec, err)) > 0) {
		if (jsonl) {
			size_t at;
			if (shard_json_object_scan(rec.fields[0].p, rec.fields[0].len, infer_member, in, &at, err)) {
				if (in->oom)
					return shard_error_set(err, SHARD_ENOMEM, "out of memory");
				if (at)
					return shard_error_prefix(err, "%s:%llu:%zu", name, (unsigned long long)rec.line, at);
				return shard_error_prefix(err, "%s:%llu", name, (unsigned long long)rec.line);
			}
		} else if (infer_record(in, &rec, header)) {
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
		}
		if (!jsonl && header)
			header = 0;
		else
			rows++;
	}
	if (rc < 0 && rows < INFER_ROWS) {
		char msg[sizeof err->msg + PATH_MAX];
		shard_csv_error_text(msg, sizeof msg, name, &rec, err);
		return shard_error_set(err, SHARD_EDATA, "%s", msg);
	}
	if (!in->ncols)
		return shard_error_set(err, SHARD_EDATA, "%s: no rows to infer a schema from; give --schema", name);
	return infer_list(in, name, jsonl, rows, out, err);
}

int shard_infer_schema(struct shard_csv *csv, const char *name, int jsonl, int header, struct shard_buf *out,
		       struct shard_error *err)
{
	struct infer in = {0};
	size_t i;
	int rc;
	for (i = 0; i < T_STR; i++)
		shard_coltype_parse(tnames[i], &in.ct[i], err);
	rc = infer_rows(&in, csv, name, jsonl, header, out, err);
	for (i = 0; i < in.ncols; i++)
		free(in.cols[i].name);
	free(in.cols);
	shard_buf_free(&in.scratch);
	return rc;
}
