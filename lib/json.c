/* JSON as Python's json module reads and writes it (arbitrary-size numbers,
 * NaN and Infinity): a syntax check that also finds value spans, and string
 * decoding, for json columns and JSON Lines input. */
#include "config.h"

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

int js_string(const uint8_t *p, size_t n, size_t *i)
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
				uint32_t v;
				if (n - *i < 5 || hex4(p + *i + 1, &v))
					return -1;
				*i += 4;
			} else if (!strchr("\"\\/bfnrt", p[*i]) || !p[*i]) {
				return -1;
			}
		}
	}
	return -1;
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

int js_value(const uint8_t *p, size_t n, size_t *i, int depth)
{
	js_ws(p, n, i);
	if (*i >= n || depth > JSON_DEPTH_MAX)
		return -1;
	switch (p[*i]) {
	case '"':
		return js_string(p, n, i);
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
		(*i)++;
		js_ws(p, n, i);
		if (*i < n && p[*i] == close) {
			(*i)++;
			return 0;
		}
		for (;;) {
			if (obj) {
				js_ws(p, n, i);
				if (*i >= n || p[*i] != '"' || js_string(p, n, i))
					return -1;
				js_ws(p, n, i);
				if (*i >= n || p[*i] != ':')
					return -1;
				(*i)++;
			}
			if (js_value(p, n, i, depth + 1))
				return -1;
			js_ws(p, n, i);
			if (*i < n && p[*i] == ',') {
				(*i)++;
				continue;
			}
			if (*i < n && p[*i] == close) {
				(*i)++;
				return 0;
			}
			return -1;
		}
	}
	default:
		return js_number(p, n, i);
	}
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
			   int (*fn)(void *ctx, const char *key, const uint8_t *val, size_t vlen), void *ctx,
			   struct shard_error *err)
{
	struct shard_buf key = {0};
	size_t i = 0;
	int rc = 0;

	js_ws(p, n, &i);
	if (i >= n || p[i] != '{')
		return shard_error_set(err, SHARD_EDATA, "not a JSON object (byte %zu)", i + 1);
	i++;
	js_ws(p, n, &i);
	if (i < n && p[i] == '}') {
		i++;
		goto tail;
	}
	for (;;) {
		size_t ks, vs;
		js_ws(p, n, &i);
		ks = i;
		if (i >= n || p[i] != '"' || js_string(p, n, &i)) {
			rc = shard_error_set(err, SHARD_EDATA, "invalid JSON: expected a key at byte %zu", ks + 1);
			break;
		}
		key.len = 0;
		if (js_unescape(p + ks + 1, i - ks - 2, &key) || shard_buf_putc(&key, 0)) {
			rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
			break;
		}
		js_ws(p, n, &i);
		if (i >= n || p[i] != ':') {
			rc = shard_error_set(err, SHARD_EDATA, "invalid JSON: expected ':' at byte %zu", i + 1);
			break;
		}
		i++;
		js_ws(p, n, &i);
		vs = i;
		if (js_value(p, n, &i, 0)) {
			rc = shard_error_set(err, SHARD_EDATA, "invalid JSON value for key \"%s\" at byte %zu",
					     (const char *)key.p, i + 1);
			break;
		}
		if ((rc = fn(ctx, (const char *)key.p, p + vs, i - vs)))
			break;
		js_ws(p, n, &i);
		if (i < n && p[i] == ',') {
			i++;
			continue;
		}
		if (i < n && p[i] == '}') {
			i++;
			goto tail;
		}
		rc = shard_error_set(err, SHARD_EDATA, "invalid JSON: expected ',' or '}' at byte %zu", i + 1);
		break;
	}
	shard_buf_free(&key);
	return rc;
tail:
	shard_buf_free(&key);
	js_ws(p, n, &i);
	if (i != n)
		return shard_error_set(err, SHARD_EDATA, "invalid JSON: text after the object at byte %zu", i + 1);
	return 0;
}

int shard_json_string_value(const uint8_t *p, size_t n, struct shard_buf *out)
{
	return js_unescape(p + 1, n - 2, out);
}
