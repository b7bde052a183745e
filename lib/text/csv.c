/* A streaming CSV reader for Apache Spark's dialect: quote ", escape \, ""
 * doubling accepted, unquoted empty = null, "" = empty string, CR/LF/CRLF,
 * a UTF-8 BOM, quoted delimiters and newlines. Records are handed out one at a
 * time from a bounded buffer; fields point into a per-record arena. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "internal.h"

#define CSV_CHUNK (1u << 20)

struct shard_csv {
	struct shard_csv_opts o;
	shard_read_fn read;
	void *ctx;
	uint8_t *buf;		/* input window */
	size_t cap, pos, len;
	int eof, at_start;
	uint64_t line;		/* physical line of the next byte */
	struct shard_buf arena;	/* field bytes of the current record */
	size_t *offs;		/* arena offsets: field i is offs[i]..offs[i+1] */
	size_t *src, *srclen;	/* in memory mode: a field taken straight from the input */
	const uint8_t *mem;	/* memory mode: the whole input, read in place */
	size_t direct_off, direct_len;	/* the current field, when direct */
	int direct;
	uint8_t *flags;		/* per field: quoted */
	size_t nf, capf;
	struct shard_csv_field *fields;
	size_t capfields;
	struct shard_buf raw;	/* the record's bytes as read (for rejects) */
};

void shard_csv_opts_default(struct shard_csv_opts *o)
{
	memset(o, 0, sizeof *o);
	o->delim = ',';
	o->quote = '"';
	o->escape = '\\';
	o->null_value = "";
	o->max_record = 64u << 20;
}

int shard_csv_new(struct shard_csv **out, const struct shard_csv_opts *o, shard_read_fn read, void *ctx,
		  struct shard_error *err)
{
	struct shard_csv *c = calloc(1, sizeof *c);
	*out = NULL;
	if (!c || !(c->buf = malloc(CSV_CHUNK))) {
		free(c);
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	c->o = *o;
	c->cap = CSV_CHUNK;
	c->read = read;
	c->ctx = ctx;
	c->line = o->first_line ? o->first_line : 1;
	c->at_start = !o->no_bom;
	*out = c;
	return 0;
}

int shard_csv_new_mem(struct shard_csv **out, const struct shard_csv_opts *o, const void *p, size_t n,
		      struct shard_error *err)
{
	struct shard_csv *c = calloc(1, sizeof *c);
	*out = NULL;
	if (!c)
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	c->o = *o;
	c->mem = p;
	c->buf = (uint8_t *)p;	/* never written: fill() does not read in memory mode */
	c->len = n;
	c->eof = 1;
	c->line = o->first_line ? o->first_line : 1;
	if (!o->no_bom && n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		c->pos = 3;
	*out = c;
	return 0;
}

size_t shard_csv_mem_tell(const struct shard_csv *c, uint64_t *line)
{
	*line = c->line;
	return c->pos;
}

void shard_csv_mem_seek(struct shard_csv *c, size_t pos, uint64_t line)
{
	c->pos = pos;
	c->line = line;
}

void shard_csv_free(struct shard_csv *c)
{
	if (!c)
		return;
	if (!c->mem)
		free(c->buf);
	free(c->offs);
	free(c->src);
	free(c->srclen);
	free(c->flags);
	free(c->fields);
	shard_buf_free(&c->arena);
	shard_buf_free(&c->raw);
	free(c);
}

/* Make at least one unread byte available; 0 at end of input. */
static int fill(struct shard_csv *c, struct shard_error *err)
{
	ssize_t r;
	if (c->pos < c->len)
		return 1;
	if (c->eof)
		return 0;
	c->pos = c->len = 0;
	r = c->read(c->ctx, c->buf, c->cap, err);
	if (r < 0)
		return -1;
	if (r == 0) {
		c->eof = 1;
		return 0;
	}
	c->len = (size_t)r;
	if (c->at_start) {
		c->at_start = 0;
		if (c->len >= 3 && memcmp(c->buf, "\xEF\xBB\xBF", 3) == 0)
			c->pos = 3;
		if (c->pos == c->len)
			return fill(c, err);
	}
	return 1;
}

static int end_field(struct shard_csv *c, int quoted)
{
	if (c->nf + 2 > c->capf) {
		size_t n = c->capf ? c->capf * 2 : 64;
		size_t *o = realloc(c->offs, n * sizeof *o), *sr, *sl;
		uint8_t *f;
		if (!o)
			return -1;
		c->offs = o;
		sr = realloc(c->src, n * sizeof *sr);
		if (!sr)
			return -1;
		c->src = sr;
		sl = realloc(c->srclen, n * sizeof *sl);
		if (!sl)
			return -1;
		c->srclen = sl;
		f = realloc(c->flags, n);
		if (!f)
			return -1;
		c->flags = f;
		c->capf = n;
	}
	c->flags[c->nf] = (uint8_t)quoted;
	c->src[c->nf] = c->direct ? c->direct_off : SIZE_MAX;
	c->srclen[c->nf] = c->direct_len;
	c->direct = 0;
	c->nf++;
	c->offs[c->nf] = c->arena.len;
	return 0;
}

#define PUT(ch)                                                                  \
	do {                                                                     \
		if (shard_buf_putc(&c->arena, (ch)))                             \
			return -shard_error_set(err, SHARD_ENOMEM, "out of memory"); \
	} while (0)

/* The record passed max_record bytes in the field being read. */
static int too_long(struct shard_csv *c, struct shard_csv_record *rec, struct shard_error *err)
{
	rec->bad_field = c->nf + 1;
	return -shard_error_set(err, SHARD_EDATA, "record longer than %zu bytes", c->o.max_record);
}

/* Next record: 1 with fields set, 0 at end of input, <0 on error. Empty lines
 * are skipped, as Spark's reader does. */
static int csv_next(struct shard_csv *c, struct shard_csv_record *rec, struct shard_error *err)
{
	const uint8_t d = (uint8_t)c->o.delim, q = (uint8_t)c->o.quote, e = (uint8_t)c->o.escape;
	int r, quoted, in_quotes, field_start;
	uint64_t quote_line = 0;
	size_t i, quote_field = 0, direct_bytes;

again:
	c->nf = 0;
	c->direct = 0;
	c->arena.len = 0;
	c->raw.len = 0;
	direct_bytes = 0;
	if (!c->offs && end_field(c, 0) == 0)
		c->nf = 0;
	c->offs[0] = 0;
	rec->line = c->line;
	rec->bad_field = 0;
	r = fill(c, err);
	if (r <= 0)
		return r < 0 ? -err->status : 0;
	quoted = in_quotes = 0;
	field_start = 1;
	for (;;) {
		uint8_t ch;
		if (c->pos >= c->len) {
			r = fill(c, err);
			if (r < 0)
				return -err->status;
			if (r == 0) {
				if (in_quotes) {
					rec->bad_field = quote_field;
					return -shard_error_set(err, SHARD_EDATA,
								"unterminated quoted field (the quote opened on line %llu)",
								(unsigned long long)quote_line);
				}
				break;
			}
		}
		if (!in_quotes && !(field_start && q && c->buf[c->pos] == q)) {
			/* fast path: the rest of an unquoted field, copied in one go */
			const uint8_t *b = c->buf + c->pos, *end = c->buf + c->len, *x = b;
			while (x < end && *x != d && *x != '\n' && *x != '\r')
				x++;
			if (x > b) {
				size_t k = (size_t)(x - b);
				if (c->mem && field_start) {
					/* a whole unquoted field, used where it lies */
					c->direct = 1;
					c->direct_off = c->pos;
					c->direct_len = k;
					direct_bytes += k;
					if (c->o.keep_raw && shard_buf_append(&c->raw, b, k))
						return -shard_error_set(err, SHARD_ENOMEM, "out of memory");
				} else if (shard_buf_append(&c->arena, b, k) ||
					   (c->o.keep_raw && shard_buf_append(&c->raw, b, k))) {
					return -shard_error_set(err, SHARD_ENOMEM, "out of memory");
				}
				c->pos += k;
				field_start = 0;
				if (c->arena.len + direct_bytes > c->o.max_record)
					return too_long(c, rec, err);
				continue;
			}
		}
		ch = c->buf[c->pos++];
		if (c->o.keep_raw && shard_buf_putc(&c->raw, ch))
			return -shard_error_set(err, SHARD_ENOMEM, "out of memory");
		if (c->arena.len + direct_bytes > c->o.max_record)
			return too_long(c, rec, err);
		if (in_quotes) {
			if (ch == e && e != q) {
				/* \" and \\ inside quotes stand for the character; any other
				 * backslash is literal */
				r = fill(c, err);
				if (r < 0)
					return -err->status;
				if (r > 0 && (c->buf[c->pos] == q || c->buf[c->pos] == e)) {
					uint8_t nx = c->buf[c->pos++];
					if (c->o.keep_raw)
						shard_buf_putc(&c->raw, nx);
					PUT(nx);
				} else {
					PUT(ch);
				}
				continue;
			}
			if (ch == q) {
				r = fill(c, err);
				if (r < 0)
					return -err->status;
				if (r > 0 && c->buf[c->pos] == q) {	/* "" doubling */
					c->pos++;
					if (c->o.keep_raw)
						shard_buf_putc(&c->raw, q);
					PUT(q);
					continue;
				}
				in_quotes = 0;
				continue;
			}
			if (ch == '\n')
				c->line++;
			else if (ch == '\r') {
				r = fill(c, err);
				if (r < 0)
					return -err->status;
				if (!(r > 0 && c->buf[c->pos] == '\n'))
					c->line++;
			}
			PUT(ch);
			continue;
		}
		if (ch == d) {
			if (end_field(c, quoted))
				return -shard_error_set(err, SHARD_ENOMEM, "out of memory");
			quoted = 0;
			field_start = 1;
			continue;
		}
		if (ch == '\n' || ch == '\r') {
			if (ch == '\r') {
				r = fill(c, err);
				if (r < 0)
					return -err->status;
				if (r > 0 && c->buf[c->pos] == '\n') {
					c->pos++;
					if (c->o.keep_raw)
						shard_buf_putc(&c->raw, '\n');
				}
			}
			c->line++;
			if (c->nf == 0 && c->arena.len == 0 && !quoted && !c->direct)
				goto again;	/* an empty line */
			break;
		}
		if (ch == q && q && field_start) {
			quoted = in_quotes = 1;
			quote_line = c->line;
			quote_field = c->nf + 1;
			field_start = 0;
			continue;
		}
		field_start = 0;
		PUT(ch);
	}
	if (end_field(c, quoted))
		return -shard_error_set(err, SHARD_ENOMEM, "out of memory");
	if (c->nf > c->capfields) {
		struct shard_csv_field *f = realloc(c->fields, c->nf * sizeof *f);
		if (!f)
			return -shard_error_set(err, SHARD_ENOMEM, "out of memory");
		c->fields = f;
		c->capfields = c->nf;
	}
	for (i = 0; i < c->nf; i++) {
		size_t a = c->offs[i], b = c->offs[i + 1];
		if (c->src[i] != SIZE_MAX) {
			c->fields[i].p = c->mem + c->src[i];
			c->fields[i].len = c->srclen[i];
		} else {
			c->fields[i].p = c->arena.p ? c->arena.p + a : (const uint8_t *)"";
			c->fields[i].len = b - a;
		}
		a = 0;
		b = c->fields[i].len;
		c->fields[i].quoted = c->flags[i];
		c->fields[i].null = !c->flags[i] && b == strlen(c->o.null_value) &&
				    memcmp(c->fields[i].p, c->o.null_value, b) == 0;
	}
	rec->nfields = c->nf;
	rec->fields = c->fields;
	rec->raw = c->raw.p;
	rec->raw_len = c->raw.len;
	return 1;
}

int shard_csv_next(struct shard_csv *c, struct shard_csv_record *rec, struct shard_error *err)
{
	int r = csv_next(c, rec, err);

	/* the input at fault: the record's first line and the field */
	if (r < 0 && rec->bad_field)
		shard_error_line(err, rec->line, rec->bad_field);
	return r;
}

void shard_csv_error_text(char *out, size_t n, const char *name, const struct shard_csv_record *rec,
			  const struct shard_error *err)
{
	if (rec->bad_field)
		snprintf(out, n, "%s:%llu:%zu: %s", name, (unsigned long long)rec->line, rec->bad_field, err->msg);
	else
		snprintf(out, n, "%s", err->msg);
}
