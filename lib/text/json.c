/* JSON as Python's json module reads and writes it (arbitrary-size numbers,
 * NaN and Infinity): a syntax check that also finds value spans, and string
 * decoding, for json columns and JSON Lines input. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "internal.h"

int hex4(const uint8_t *p, uint32_t *v)
{
	int i;
	*v = 0;
	for (i = 0; i < 4; i++) {
		uint8_t c = p[i];
		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= c - '0';
		else if ((c | 32) >= 'a' && (c | 32) <= 'f')
			*v |= (c | 32) - 'a' + 10;
		else
			return -1;
	}
	return 0;
}

/* JSON syntax as Python's json.loads accepts it: arbitrary-size numbers and
 * the NaN, Infinity and -Infinity tokens its json.dumps writes. */
#define JSON_DEPTH_MAX 512

void js_ws(const uint8_t *p, size_t n, size_t *i)
{
	while (*i < n && (p[*i] == ' ' || p[*i] == '\t' || p[*i] == '\n' || p[*i] == '\r'))
		(*i)++;
}

int js_word(const uint8_t *p, size_t n, size_t *i, const char *w)
{
	size_t k = strlen(w);
	if (n - *i < k || memcmp(p + *i, w, k) != 0)
		return -1;
	*i += k;
	return 0;
}

/* Strict reading, for JSON Lines input, where a value must mean one thing:
 * an escaped surrogate must be half of a pair, and an object must not hold a
 * key twice. The keys of the objects open are kept, decoded, for the check;
 * at is the 0-based byte of what is wrong. */
struct js_key {
	size_t off, len;	/* the decoded key in keys */
	size_t at;		/* its opening quote in the text */
	size_t vs, vlen;	/* its value's span in the text */
	const uint8_t *p;	/* keys.p + off, while sorted */
};

struct js_strict {
	struct shard_buf keys;
	struct js_key *v;
	size_t n, cap;
	size_t at;		/* what is wrong: */
	const char *why;	/* a lone surrogate, */
	int repeat, oom;	/* a key repeated, or no memory to tell */
};

static int strict_fail(struct js_strict *st, size_t at, const char *why)
{
	st->at = at;
	st->why = why;
	return -1;
}

static int strict_oom(struct js_strict *st, size_t at)
{
	st->oom = 1;
	return strict_fail(st, at, "out of memory");
}

/* An escape \uXXXX at p[*i] (the 'u'), under the strict rule when st is set. */
static int unicode_escape(const uint8_t *p, size_t n, size_t *i, struct js_strict *st)
{
	uint32_t v, lo;
	size_t at = *i - 1;

	if (n - *i < 5 || hex4(p + *i + 1, &v))
		return -1;
	*i += 4;
	if (!st || v < 0xD800 || v >= 0xE000)
		return 0;
	if (v >= 0xDC00)
		return strict_fail(st, at, "a low surrogate without its high one");
	if (n - *i < 7 || p[*i + 1] != '\\' || p[*i + 2] != 'u' || hex4(p + *i + 3, &lo) || lo < 0xDC00 ||
	    lo >= 0xE000)
		return strict_fail(st, at, "a high surrogate without its low one");
	*i += 6;
	return 0;
}

static int string_in(const uint8_t *p, size_t n, size_t *i, struct js_strict *st)
{
	for ((*i)++; *i < n; (*i)++) {
		uint8_t c = p[*i];
		if (c == '"') {
			(*i)++;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			(*i)++;
			if (*i >= n)
				return -1;
			if (p[*i] == 'u') {
				if (unicode_escape(p, n, i, st))
					return -1;
			} else if (!strchr("\"\\/bfnrt", p[*i]) || !p[*i]) {
				return -1;
			}
		}
	}
	return -1;
}

int js_string(const uint8_t *p, size_t n, size_t *i)
{
	return string_in(p, n, i, NULL);
}

int js_number(const uint8_t *p, size_t n, size_t *i)
{
	size_t d = 0;
	if (*i < n && p[*i] == '-')
		(*i)++;
	if (*i < n && p[*i] == 'I')
		return js_word(p, n, i, "Infinity");
	if (*i < n && p[*i] == '0') {
		(*i)++;
		d = 1;
	} else {
		while (*i < n && p[*i] >= '0' && p[*i] <= '9') {
			(*i)++;
			d++;
		}
	}
	if (!d)
		return -1;
	if (*i < n && p[*i] == '.') {
		d = 0;
		for ((*i)++; *i < n && p[*i] >= '0' && p[*i] <= '9'; (*i)++)
			d++;
		if (!d)
			return -1;
	}
	if (*i < n && (p[*i] | 32) == 'e') {
		d = 0;
		(*i)++;
		if (*i < n && (p[*i] == '+' || p[*i] == '-'))
			(*i)++;
		for (; *i < n && p[*i] >= '0' && p[*i] <= '9'; (*i)++)
			d++;
		if (!d)
			return -1;
	}
	return 0;
}

static int by_key(const void *a, const void *b)
{
	const struct js_key *x = a, *y = b;
	int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
	if (!c)
		c = x->len < y->len ? -1 : x->len > y->len;
	return c ? c : x->at < y->at ? -1 : x->at > y->at;
}

/* A key of the object open, its value starting at vs: kept for the check. */
static int key_add(struct js_strict *st, const uint8_t *p, size_t ks, size_t ke)
{
	struct js_key *k;
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 32;
		struct js_key *v = realloc(st->v, cap * sizeof *v);
		if (!v)
			return strict_oom(st, ks);
		st->v = v;
		st->cap = cap;
	}
	k = &st->v[st->n++];
	k->off = st->keys.len;
	k->at = ks;
	if (js_unescape(p + ks + 1, ke - ks - 2, &st->keys) || shard_buf_putc(&st->keys, 0))
		return strict_oom(st, ks);
	k->len = st->keys.len - 1 - k->off;
	return 0;
}

/* The keys of the object whose first is v[first]: none twice. Leaves them,
 * in text order, for the caller to drop or use. */
static int keys_once(struct js_strict *st, size_t first)
{
	size_t i, n = st->n - first, bad = SIZE_MAX;
	struct js_key *v = st->v + first, *sorted;

	if (n < 2)
		return 0;
	if (!(sorted = malloc(n * sizeof *sorted)))
		return strict_oom(st, v[0].at);
	for (i = 0; i < n; i++) {
		sorted[i] = v[i];
		sorted[i].p = st->keys.p + v[i].off;
	}
	qsort(sorted, n, sizeof *sorted, by_key);
	/* the first repeat in the text is the one reported */
	for (i = 1; i < n; i++)
		if (sorted[i].len == sorted[i - 1].len && memcmp(sorted[i].p, sorted[i - 1].p, sorted[i].len) == 0 &&
		    sorted[i].at < bad)
			bad = sorted[i].at;
	free(sorted);
	if (bad == SIZE_MAX)
		return 0;
	st->repeat = 1;
	return strict_fail(st, bad, "a key repeated");
}

static int value_in(const uint8_t *p, size_t n, size_t *i, int depth, struct js_strict *st)
{
	js_ws(p, n, i);
	if (*i >= n || depth > JSON_DEPTH_MAX)
		return -1;
	switch (p[*i]) {
	case '"':
		return string_in(p, n, i, st);
	case 't':
		return js_word(p, n, i, "true");
	case 'f':
		return js_word(p, n, i, "false");
	case 'n':
		return js_word(p, n, i, "null");
	case 'N':
		return js_word(p, n, i, "NaN");
	case '[': case '{': {
		uint8_t close = p[*i] == '[' ? ']' : '}';
		int obj = close == '}';
		size_t first = st ? st->n : 0, keys0 = st ? st->keys.len : 0;
		int rc = -1;
		(*i)++;
		js_ws(p, n, i);
		if (*i < n && p[*i] == close) {
			(*i)++;
			return 0;
		}
		for (;;) {
			if (obj) {
				size_t ks;
				js_ws(p, n, i);
				ks = *i;
				if (*i >= n || p[*i] != '"' || string_in(p, n, i, st))
					break;
				if (st && key_add(st, p, ks, *i))
					break;
				js_ws(p, n, i);
				if (*i >= n || p[*i] != ':')
					break;
				(*i)++;
			}
			if (value_in(p, n, i, depth + 1, st))
				break;
			js_ws(p, n, i);
			if (*i < n && p[*i] == ',') {
				(*i)++;
				continue;
			}
			if (*i < n && p[*i] == close) {
				(*i)++;
				rc = obj && st ? keys_once(st, first) : 0;
			}
			break;
		}
		if (st) {
			st->n = first;
			st->keys.len = keys0;
		}
		return rc;
	}
	default:
		return js_number(p, n, i);
	}
}

int js_value(const uint8_t *p, size_t n, size_t *i, int depth)
{
	return value_in(p, n, i, depth, NULL);
}

int put_utf8(uint32_t cp, struct shard_buf *out)
{
	uint8_t b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (uint8_t)(0xC0 | cp >> 6);
		b[1] = (uint8_t)(0x80 | (cp & 63));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (uint8_t)(0xE0 | cp >> 12);
		b[1] = (uint8_t)(0x80 | (cp >> 6 & 63));
		b[2] = (uint8_t)(0x80 | (cp & 63));
		n = 3;
	} else {
		b[0] = (uint8_t)(0xF0 | cp >> 18);
		b[1] = (uint8_t)(0x80 | (cp >> 12 & 63));
		b[2] = (uint8_t)(0x80 | (cp >> 6 & 63));
		b[3] = (uint8_t)(0x80 | (cp & 63));
		n = 4;
	}
	return shard_buf_append(out, b, n);
}

/* Decode the body of a JSON string literal (between its quotes, already
 * validated by js_string) into UTF-8; a lone surrogate stays an escape. */
int js_unescape(const uint8_t *p, size_t n, struct shard_buf *out)
{
	size_t i;
	for (i = 0; i < n; i++) {
		uint32_t cp;
		int rc;
		if (p[i] != '\\') {
			rc = shard_buf_putc(out, p[i]);
		} else if (i + 1 < n && p[i + 1] != 'u') {
			static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
			const char *k = strchr(from, p[i + 1]);
			rc = shard_buf_putc(out, k ? to[k - from] : p[i + 1]);
			i++;
		} else if (i + 5 < n && hex4(p + i + 2, &cp) == 0) {
			uint32_t lo;
			i += 5;
			if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < n && p[i + 1] == '\\' && p[i + 2] == 'u' &&
			    hex4(p + i + 3, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				i += 6;
			}
			if (cp >= 0xD800 && cp < 0xE000)
				rc = shard_buf_printf(out, "\\u%04x", cp);
			else
				rc = put_utf8(cp, out);
		} else {
			rc = shard_buf_putc(out, p[i]);
		}
		if (rc)
			return SHARD_ENOMEM;
	}
	return 0;
}

int shard_json_object_scan(const uint8_t *p, size_t n,
			   int (*fn)(void *ctx, const char *key, size_t key_at, const uint8_t *val, size_t vlen), void *ctx,
			   size_t *at, struct shard_error *err)
{
	struct js_strict st = {0};
	size_t i = 0, k;
	int rc = 0;

	*at = 0;
	js_ws(p, n, &i);
	if (i >= n || p[i] != '{')
		return shard_error_set(err, SHARD_EDATA, "not a JSON object (byte %zu)", i + 1);
	i++;
	js_ws(p, n, &i);
	if (i < n && p[i] == '}') {
		i++;
		goto tail;
	}
	/* every member first, checked; then each to fn, in text order */
	for (;;) {
		size_t ks, vs;
		js_ws(p, n, &i);
		ks = i;
		if (i >= n || p[i] != '"' || string_in(p, n, &i, &st)) {
			if (st.why)
				goto strict;
			rc = shard_error_set(err, SHARD_EDATA, "invalid JSON: expected a key at byte %zu", ks + 1);
			goto out;
		}
		if (key_add(&st, p, ks, i))
			goto strict;
		js_ws(p, n, &i);
		if (i >= n || p[i] != ':') {
			rc = shard_error_set(err, SHARD_EDATA, "invalid JSON: expected ':' at byte %zu", i + 1);
			goto out;
		}
		i++;
		js_ws(p, n, &i);
		vs = i;
		if (value_in(p, n, &i, 0, &st)) {
			if (st.why)
				goto strict;
			rc = shard_error_set(err, SHARD_EDATA, "invalid JSON value for key \"%s\" at byte %zu",
					     (const char *)st.keys.p + st.v[st.n - 1].off, i + 1);
			goto out;
		}
		st.v[st.n - 1].vs = vs;
		st.v[st.n - 1].vlen = i - vs;
		js_ws(p, n, &i);
		if (i < n && p[i] == ',') {
			i++;
			continue;
		}
		if (i < n && p[i] == '}') {
			i++;
			break;
		}
		rc = shard_error_set(err, SHARD_EDATA, "invalid JSON: expected ',' or '}' at byte %zu", i + 1);
		goto out;
	}
	if (keys_once(&st, 0))
		goto strict;
	for (k = 0; k < st.n && !rc; k++)
		rc = fn(ctx, (const char *)st.keys.p + st.v[k].off, st.v[k].at, p + st.v[k].vs, st.v[k].vlen);
	if (rc)
		goto out;
tail:
	js_ws(p, n, &i);
	if (i != n)
		rc = shard_error_set(err, SHARD_EDATA, "invalid JSON: text after the object at byte %zu", i + 1);
	goto out;
strict:
	*at = st.at + 1;
	if (st.oom) {
		rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
	} else if (st.repeat) {
		size_t e = st.at;
		string_in(p, n, &e, NULL);
		rc = shard_error_set(err, SHARD_EDATA, "key %.*s is in this object already", (int)(e - st.at),
				     (const char *)p + st.at);
	} else {
		rc = shard_error_set(err, SHARD_EDATA, "lone surrogate escape %.6s (%s)", (const char *)p + st.at, st.why);
	}
	if (!st.oom)
		shard_error_line(err, 0, *at);
out:
	shard_buf_free(&st.keys);
	free(st.v);
	return rc;
}

int shard_json_string_value(const uint8_t *p, size_t n, struct shard_buf *out)
{
	return js_unescape(p + 1, n - 2, out);
}
