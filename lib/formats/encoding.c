/* MDS column encodings: parsing their names, splitting a sample into fields,
 * checking each field's bytes, and the lossless text forms shard-cat prints. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "internal.h"

static const struct {
	const char *name;
	enum shard_enc_kind kind;
	size_t size;
} encodings[] = {
	{"bytes", SHARD_ENC_BYTES, 0}, {"str", SHARD_ENC_STR, 0}, {"int", SHARD_ENC_INT, 8},
	{"uint8", SHARD_ENC_UINT8, 1}, {"int8", SHARD_ENC_INT8, 1},
	{"uint16", SHARD_ENC_UINT16, 2}, {"int16", SHARD_ENC_INT16, 2},
	{"float16", SHARD_ENC_FLOAT16, 2}, {"uint32", SHARD_ENC_UINT32, 4},
	{"int32", SHARD_ENC_INT32, 4}, {"float32", SHARD_ENC_FLOAT32, 4},
	{"uint64", SHARD_ENC_UINT64, 8}, {"int64", SHARD_ENC_INT64, 8},
	{"float64", SHARD_ENC_FLOAT64, 8}, {"str_int", SHARD_ENC_STR_INT, 0},
	{"str_float", SHARD_ENC_STR_FLOAT, 0}, {"str_decimal", SHARD_ENC_STR_DECIMAL, 0},
	{"pil", SHARD_ENC_PIL, 0}, {"jpeg", SHARD_ENC_JPEG, 0}, {"png", SHARD_ENC_PNG, 0},
	{"list[pil]", SHARD_ENC_LIST_PIL, 0}, {"list[jpeg]", SHARD_ENC_LIST_JPEG, 0},
	{"list[png]", SHARD_ENC_LIST_PNG, 0}, {"jpeg_array", SHARD_ENC_JPEG_ARRAY, 0},
	{"jpegarray", SHARD_ENC_JPEG_ARRAY, 0}, {"pkl", SHARD_ENC_PKL, 0},
	{"json", SHARD_ENC_JSON, 0},
};

static const struct {
	int code;
	const char *name;
	size_t size;
} dtypes[] = {
	{8, "uint8", 1}, {9, "int8", 1}, {16, "uint16", 2}, {17, "int16", 2}, {18, "float16", 2},
	{32, "uint32", 4}, {33, "int32", 4}, {34, "float32", 4}, {64, "uint64", 8},
	{65, "int64", 8}, {66, "float64", 8},
};

size_t shard_dtype_size(int code)
{
	size_t i;
	for (i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (dtypes[i].code == code)
			return dtypes[i].size;
	return 0;
}

const char *shard_dtype_name(int code)
{
	size_t i;
	for (i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (dtypes[i].code == code)
			return dtypes[i].name;
	return NULL;
}

int shard_dtype_from_name(const char *name)
{
	size_t i;
	for (i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (strcmp(dtypes[i].name, name) == 0)
			return dtypes[i].code;
	return -1;
}

static int parse_ndarray(const char *name, const char *args, struct shard_encoding *e,
			 struct shard_error *err)
{
	char dt[32];
	const char *colon;
	size_t n;

	e->kind = SHARD_ENC_NDARRAY;
	e->dtype = -1;
	e->ndim = 0;
	e->size = 0;
	if (!args)
		return 0;
	colon = strchr(args, ':');
	n = colon ? (size_t)(colon - args) : strlen(args);
	if (n == 0 || n >= sizeof dt)
		return shard_error_set(err, SHARD_EDATA, "invalid encoding '%s': missing dtype", name);
	memcpy(dt, args, n);
	dt[n] = 0;
	e->dtype = shard_dtype_from_name(dt);
	if (e->dtype < 0)
		return shard_error_set(err, SHARD_EDATA, "invalid encoding '%s': unknown dtype '%s'", name, dt);
	if (colon) {
		const char *p = colon + 1;
		uint64_t total = shard_dtype_size(e->dtype);
		for (;;) {
			char *end;
			unsigned long long d;
			if (*p < '0' || *p > '9')
				return shard_error_set(err, SHARD_EDATA, "invalid encoding '%s': bad shape", name);
			errno = 0;
			d = strtoull(p, &end, 10);
			if (errno || d == 0 || e->ndim >= SHARD_NDIM_MAX || d > UINT32_MAX ||
			    total > UINT32_MAX / d)
				return shard_error_set(err, SHARD_EDATA, "invalid encoding '%s': bad shape", name);
			e->shape[e->ndim++] = d;
			total *= d;
			p = end;
			if (!*p)
				break;
			if (*p != ',')
				return shard_error_set(err, SHARD_EDATA, "invalid encoding '%s': bad shape", name);
			p++;
		}
		e->size = (size_t)total;
	}
	return 0;
}

int shard_encoding_parse(const char *name, struct shard_encoding *e, struct shard_error *err)
{
	size_t i;

	memset(e, 0, sizeof *e);
	e->dtype = -1;
	if (strncmp(name, "ndarray", 7) == 0 && (name[7] == 0 || name[7] == ':'))
		return parse_ndarray(name, name[7] ? name + 8 : NULL, e, err);
	for (i = 0; i < sizeof encodings / sizeof encodings[0]; i++) {
		if (strcmp(encodings[i].name, name) == 0) {
			e->kind = encodings[i].kind;
			e->size = encodings[i].size;
			return 0;
		}
	}
	return shard_error_set(err, SHARD_EDATA, "unknown encoding '%s'", name);
}

/* ---------------------------------------------------------------- schema */

void shard_schema_free(struct shard_schema *s)
{
	size_t i;
	for (i = 0; i < s->ncols; i++) {
		free(s->names ? s->names[i] : NULL);
		free(s->enc_names ? s->enc_names[i] : NULL);
	}
	free(s->names);
	free(s->enc_names);
	free(s->enc);
	memset(s, 0, sizeof *s);
}

int shard_schema_init(struct shard_schema *s, size_t n, const char *const *names,
		      const char *const *encs, int sort, struct shard_error *err)
{
	size_t i, j, *ord;

	memset(s, 0, sizeof *s);
	if (n == 0)
		return shard_error_set(err, SHARD_EDATA, "no columns");
	ord = malloc(n * sizeof *ord);
	s->names = calloc(n, sizeof *s->names);
	s->enc_names = calloc(n, sizeof *s->enc_names);
	s->enc = calloc(n, sizeof *s->enc);
	if (!ord || !s->names || !s->enc_names || !s->enc) {
		free(ord);
		shard_schema_free(s);
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	s->ncols = n;
	for (i = 0; i < n; i++)
		ord[i] = i;
	if (sort) {
		/* insertion sort: schemas are small */
		for (i = 1; i < n; i++)
			for (j = i; j > 0 && strcmp(names[ord[j - 1]], names[ord[j]]) > 0; j--) {
				size_t t = ord[j];
				ord[j] = ord[j - 1];
				ord[j - 1] = t;
			}
	}
	for (i = 0; i < n; i++) {
		const char *nm = names[ord[i]];
		if (i > 0 && strcmp(names[ord[i - 1]], nm) == 0) {
			shard_error_set(err, SHARD_EDATA, "duplicate column '%s'", nm);
			goto fail;
		}
		s->names[i] = strdup(nm);
		s->enc_names[i] = strdup(encs[ord[i]]);
		if (!s->names[i] || !s->enc_names[i]) {
			shard_error_set(err, SHARD_ENOMEM, "out of memory");
			goto fail;
		}
		if (shard_encoding_parse(encs[ord[i]], &s->enc[i], err)) {
			shard_error_prefix(err, "column '%s'", nm);
			goto fail;
		}
		if (!s->enc[i].size)
			s->nvar++;
	}
	if (!sort) {
		for (i = 0; i < n; i++)
			for (j = i + 1; j < n; j++)
				if (strcmp(names[i], names[j]) == 0) {
					shard_error_set(err, SHARD_EDATA, "duplicate column '%s'", names[i]);
					goto fail;
				}
	}
	free(ord);
	return 0;
fail:
	free(ord);
	shard_schema_free(s);
	return err ? err->status : SHARD_EDATA;
}

void shard_schema_set_size(struct shard_schema *s, size_t col, size_t size)
{
	if (col >= s->ncols)
		return;
	if (!s->enc[col].size && size)
		s->nvar--;
	else if (s->enc[col].size && !size)
		s->nvar++;
	s->enc[col].size = size;
}

int shard_schema_index(const struct shard_schema *s, const char *name)
{
	size_t i;
	for (i = 0; i < s->ncols; i++)
		if (strcmp(s->names[i], name) == 0)
			return (int)i;
	return -1;
}

int shard_sample_split(const struct shard_schema *s, const uint8_t *p, size_t n,
		       struct shard_field *f, struct shard_error *err)
{
	size_t i, v = 0, pos;
	uint64_t hdr = (uint64_t)s->nvar * 4;

	if (hdr > n)
		return shard_error_set(err, SHARD_EDATA,
				       "sample of %zu bytes is too short for %zu size prefixes", n, s->nvar);
	pos = (size_t)hdr;
	for (i = 0; i < s->ncols; i++) {
		size_t len = s->enc[i].size;
		if (!len)
			len = rd32(p + 4 * v++);
		if (len > n - pos)
			return shard_error_set(err, SHARD_EDATA,
					       "column '%s' (%zu bytes) runs past the end of the sample (%zu bytes)",
					       s->names[i], len, n);
		f[i].p = p + pos;
		f[i].len = len;
		pos += len;
	}
	if (pos != n)
		return shard_error_set(err, SHARD_EDATA, "sample has %zu trailing bytes after its columns",
				       n - pos);
	return 0;
}

/* ---------------------------------------------------------------- checks */

/* Strict UTF-8 as Python's bytes.decode('utf-8'): no overlongs, no surrogates,
 * nothing past U+10FFFF. Returns the offset of the first bad byte or SIZE_MAX. */
static size_t utf8_bad(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		size_t k;
		uint32_t cp, min;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			k = 1;
			cp = c & 0x1F;
			min = 0x80;
		} else if (c >= 0xE0 && c <= 0xEF) {
			k = 2;
			cp = c & 0x0F;
			min = 0x800;
		} else if (c >= 0xF0 && c <= 0xF4) {
			k = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return i;
		}
		if (n - i <= k)
			return i;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return i;
			cp = cp << 6 | (s[i + j] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return i;
		i += k + 1;
	}
	return SIZE_MAX;
}

/* Python int(): optional sign, digits with single underscores between them,
 * surrounding whitespace. */
static int str_int_ok(const uint8_t *p, size_t n)
{
	size_t i = 0, digits = 0;
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n'))
		i++;
	while (n > i && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\n'))
		n--;
	if (i < n && (p[i] == '+' || p[i] == '-'))
		i++;
	for (; i < n; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			digits++;
		else if (p[i] == '_' && digits && i + 1 < n && p[i + 1] >= '0' && p[i + 1] <= '9')
			continue;
		else
			return 0;
	}
	return digits > 0;
}

static int parse_double_text(const uint8_t *p, size_t n, double *out)
{
	char tmp[512], *end;
	size_t i, j = 0;
	if (n == 0 || n >= sizeof tmp)
		return -1;
	for (i = 0; i < n; i++)
		if (p[i] != '_')
			tmp[j++] = (char)p[i];
	tmp[j] = 0;
	errno = 0;
	*out = strtod(tmp, &end);
	while (*end == ' ' || *end == '\t' || *end == '\n')
		end++;
	if (*end || end == tmp)
		return -1;
	return 0;
}

/* Python Decimal(): sign, digits with optional point and exponent, or
 * Infinity/Inf/NaN/sNaN (any case). */
static int str_decimal_ok(const uint8_t *p, size_t n)
{
	size_t i = 0, digits = 0;
	char word[16];
	while (i < n && p[i] == ' ')
		i++;
	while (n > i && p[n - 1] == ' ')
		n--;
	if (i < n && (p[i] == '+' || p[i] == '-'))
		i++;
	if (n - i < sizeof word && n > i && ((p[i] | 32) == 'i' || (p[i] | 32) == 'n' || (p[i] | 32) == 's')) {
		size_t k;
		for (k = 0; i + k < n; k++)
			word[k] = (char)(p[i + k] | 32);
		word[k] = 0;
		return !strcmp(word, "inf") || !strcmp(word, "infinity") || !strncmp(word, "nan", 3) ||
		       !strncmp(word, "snan", 4);
	}
	for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
		digits++;
	if (i < n && p[i] == '.')
		for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++)
			digits++;
	if (!digits)
		return 0;
	if (i < n && (p[i] | 32) == 'e') {
		size_t ed = 0;
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
			ed++;
		if (!ed)
			return 0;
	}
	return i == n;
}

/* ndarray header: returns the value dtype, ndim, dims and where values start. */
static int nd_layout(const struct shard_encoding *e, const struct shard_field *f, int *dtype,
		     int *ndim, uint64_t *shape, size_t *vpos, struct shard_error *err)
{
	size_t pos = 0, vsize;
	uint64_t count = 1;
	int i;

	*dtype = e->dtype;
	if (*dtype < 0) {
		if (f->len < 1)
			return shard_error_set(err, SHARD_EDATA, "ndarray: missing dtype byte");
		*dtype = f->p[pos++];
		if (!shard_dtype_size(*dtype))
			return shard_error_set(err, SHARD_EDATA, "ndarray: unknown dtype code %d", *dtype);
	}
	vsize = shard_dtype_size(*dtype);
	if (e->ndim) {
		*ndim = e->ndim;
		for (i = 0; i < e->ndim; i++) {
			shape[i] = e->shape[i];
			count *= e->shape[i];
		}
	} else {
		int code;
		size_t dsz;
		if (f->len - pos < 1)
			return shard_error_set(err, SHARD_EDATA, "ndarray: missing shape byte");
		*ndim = f->p[pos] >> 2;
		code = f->p[pos] & 3;
		pos++;
		dsz = (size_t)1 << code;
		if (*ndim < 1)
			return shard_error_set(err, SHARD_EDATA, "ndarray: zero dimensions");
		if ((size_t)*ndim * dsz > f->len - pos)
			return shard_error_set(err, SHARD_EDATA, "ndarray: shape runs past the field");
		for (i = 0; i < *ndim; i++) {
			const uint8_t *q = f->p + pos + (size_t)i * dsz;
			uint64_t d = dsz == 1 ? q[0] : dsz == 2 ? (uint64_t)(q[0] | q[1] << 8)
					      : dsz == 4 ? rd32(q) : rd64(q);
			if (d == 0)
				return shard_error_set(err, SHARD_EDATA, "ndarray: dimension %d is zero", i);
			if (count > (UINT64_MAX / 16) / d)
				return shard_error_set(err, SHARD_EDATA, "ndarray: shape too large");
			shape[i] = d;
			count *= d;
		}
		pos += (size_t)*ndim * dsz;
	}
	if (count > (f->len - pos) / vsize || count * vsize != f->len - pos)
		return shard_error_set(err, SHARD_EDATA,
				       "ndarray: %zu bytes of values for %llu elements of %zu bytes",
				       f->len - pos, (unsigned long long)count, vsize);
	*vpos = pos;
	return 0;
}

/* [u32 count][u32 size x count][payloads] after skip leading bytes. */
static int list_ok(const struct shard_field *f, size_t skip, int need_one, struct shard_error *err)
{
	uint64_t count, total = 0, i;
	size_t pos = skip;
	if (f->len < skip + 4)
		return shard_error_set(err, SHARD_EDATA, "list: header runs past the field");
	count = rd32(f->p + pos);
	pos += 4;
	if (need_one && count == 0)
		return shard_error_set(err, SHARD_EDATA, "list: no elements");
	if (count > (f->len - pos) / 4)
		return shard_error_set(err, SHARD_EDATA, "list: %llu sizes run past the field",
				       (unsigned long long)count);
	for (i = 0; i < count; i++)
		total += rd32(f->p + pos + 4 * i);
	pos += 4 * count;
	if (total != f->len - pos)
		return shard_error_set(err, SHARD_EDATA, "list: element sizes add to %llu, field holds %zu",
				       (unsigned long long)total, f->len - pos);
	return 0;
}

int shard_field_check(const struct shard_encoding *e, const struct shard_field *f,
		      struct shard_error *err)
{
	size_t bad;

	switch (e->kind) {
	case SHARD_ENC_STR:
		bad = utf8_bad(f->p, f->len);
		if (bad != SIZE_MAX)
			return shard_error_set(err, SHARD_EDATA, "invalid UTF-8 at byte %zu of a str value", bad);
		return 0;
	case SHARD_ENC_INT: case SHARD_ENC_UINT8: case SHARD_ENC_INT8: case SHARD_ENC_UINT16:
	case SHARD_ENC_INT16: case SHARD_ENC_FLOAT16: case SHARD_ENC_UINT32: case SHARD_ENC_INT32:
	case SHARD_ENC_FLOAT32: case SHARD_ENC_UINT64: case SHARD_ENC_INT64: case SHARD_ENC_FLOAT64: {
		struct shard_encoding std = {0};
		const char *nm = NULL;
		size_t i;
		for (i = 0; i < sizeof encodings / sizeof encodings[0]; i++)
			if (encodings[i].kind == e->kind) {
				nm = encodings[i].name;
				std.size = encodings[i].size;
			}
		if (f->len != std.size)
			return shard_error_set(err, SHARD_EDATA, "%s value of %zu bytes (expected %zu)", nm,
					       f->len, std.size);
		return 0;
	}
	case SHARD_ENC_STR_INT:
		if (!str_int_ok(f->p, f->len))
			return shard_error_set(err, SHARD_EDATA, "str_int value is not an integer");
		return 0;
	case SHARD_ENC_STR_FLOAT: {
		double d;
		if (parse_double_text(f->p, f->len, &d))
			return shard_error_set(err, SHARD_EDATA, "str_float value is not a number");
		return 0;
	}
	case SHARD_ENC_STR_DECIMAL:
		if (!str_decimal_ok(f->p, f->len))
			return shard_error_set(err, SHARD_EDATA, "str_decimal value is not a decimal");
		return 0;
	case SHARD_ENC_JSON:
		bad = utf8_bad(f->p, f->len);
		if (bad != SIZE_MAX)
			return shard_error_set(err, SHARD_EDATA, "invalid UTF-8 at byte %zu of a json value", bad);
		{
			size_t pos = 0;
			if (js_value(f->p, f->len, &pos, 0) || (js_ws(f->p, f->len, &pos), pos != f->len))
				return shard_error_set(err, SHARD_EDATA, "json value does not parse (byte %zu)", pos);
		}
		return 0;
	case SHARD_ENC_NDARRAY: {
		int dt, nd;
		uint64_t shape[SHARD_NDIM_MAX];
		size_t vpos;
		return nd_layout(e, f, &dt, &nd, shape, &vpos, err);
	}
	case SHARD_ENC_PIL: {
		uint64_t ml;
		if (f->len < 12)
			return shard_error_set(err, SHARD_EDATA, "pil: header runs past the field");
		ml = rd32(f->p + 8);
		if (ml > f->len - 12)
			return shard_error_set(err, SHARD_EDATA, "pil: mode runs past the field");
		return 0;
	}
	case SHARD_ENC_JPEG:
		if (f->len < 3 || f->p[0] != 0xFF || f->p[1] != 0xD8)
			return shard_error_set(err, SHARD_EDATA, "jpeg value does not start with a JPEG marker");
		return 0;
	case SHARD_ENC_PNG:
		if (f->len < 8 || memcmp(f->p, "\x89PNG\r\n\x1a\n", 8) != 0)
			return shard_error_set(err, SHARD_EDATA, "png value does not start with the PNG signature");
		return 0;
	case SHARD_ENC_LIST_PIL: case SHARD_ENC_LIST_JPEG: case SHARD_ENC_LIST_PNG:
		return list_ok(f, 4, 0, err);
	case SHARD_ENC_JPEG_ARRAY:
		return list_ok(f, 0, 1, err);
	case SHARD_ENC_BYTES: case SHARD_ENC_PKL:
		return 0;
	}
	return shard_error_set(err, SHARD_EDATA, "unknown encoding");
}

/* ---------------------------------------------------------------- text forms */

float shard_half_to_float(uint16_t h)
{
	int s = h >> 15, ex = (h >> 10) & 31, m = h & 1023;
	float v;
	if (ex == 0)
		v = ldexpf((float)m, -24);
	else if (ex == 31)
		v = m ? NAN : INFINITY;
	else
		v = ldexpf((float)(m | 1024), ex - 25);
	return s ? -v : v;
}

/* Python repr style from significant digits and the exponent of the first:
 * positional when -4 <= exp < 16, else d.ddde+XX; integral values keep ".0". */
static int emit_python(int neg, const char *digits, int nd, int exp, char *buf, size_t n)
{
	size_t o = 0;
	int i;

	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	if (n < 48)
		return -1;
	if (neg)
		buf[o++] = '-';
	if (exp >= 16 || exp < -4) {
		int ae = exp < 0 ? -exp : exp;
		buf[o++] = digits[0];
		if (nd > 1) {
			buf[o++] = '.';
			memcpy(buf + o, digits + 1, (size_t)nd - 1);
			o += (size_t)nd - 1;
		}
		buf[o++] = 'e';
		buf[o++] = exp < 0 ? '-' : '+';
		if (ae >= 100)
			buf[o++] = (char)('0' + ae / 100);
		buf[o++] = (char)('0' + ae / 10 % 10);
		buf[o++] = (char)('0' + ae % 10);
	} else if (exp < 0) {
		buf[o++] = '0';
		buf[o++] = '.';
		for (i = -1; i > exp; i--)
			buf[o++] = '0';
		memcpy(buf + o, digits, (size_t)nd);
		o += (size_t)nd;
	} else {
		for (i = 0; i <= exp; i++)
			buf[o++] = i < nd ? digits[i] : '0';
		buf[o++] = '.';
		if (nd > exp + 1) {
			memcpy(buf + o, digits + exp + 1, (size_t)(nd - exp - 1));
			o += (size_t)(nd - exp - 1);
		} else {
			buf[o++] = '0';
		}
	}
	buf[o] = 0;
	return (int)o;
}

/* The same from a %.*e rendering. */
static int python_style(const char *sci, char *buf, size_t n)
{
	char digits[32];
	int nd = 0, neg = 0;
	const char *p = sci, *e;

	if (*p == '-') {
		neg = 1;
		p++;
	}
	e = strchr(p, 'e');
	if (!e)
		return snprintf(buf, n, "%s", sci);
	for (; p < e; p++)
		if (*p >= '0' && *p <= '9' && nd < 30)
			digits[nd++] = *p;
	return emit_python(neg, digits, nd, atoi(e + 1), buf, n);
}

static int special(double v, char *buf, size_t n)
{
	if (isnan(v))
		return snprintf(buf, n, "NaN");
	if (isinf(v))
		return snprintf(buf, n, v < 0 ? "-Infinity" : "Infinity");
	return -1;
}

int shard_format_double(double v, char *buf, size_t n)
{
	char sci[48];
	int lo = 1, hi = 17;
	if (!isfinite(v))
		return special(v, buf, n);
	/* shortest precision that reads back exactly; it is monotone in p */
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		snprintf(sci, sizeof sci, "%.*e", mid - 1, v);
		if (strtod(sci, NULL) == v)
			hi = mid;
		else
			lo = mid + 1;
	}
	snprintf(sci, sizeof sci, "%.*e", lo - 1, v);
	return python_style(sci, buf, n);
}

static double pow10i(int k)
{
	static const double t[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
				   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
	return k >= 0 && k <= 22 ? t[k] : pow(10.0, k);
}

/* Fast path for float32: a float has at most 9 significant digits, which double
 * arithmetic finds directly; the first digit count that reads back to v is the
 * shortest. strtof then confirms the text, so a rare double-rounding slip falls
 * back to the exact search instead of printing a wrong value. */
static int format_float_fast(float v, char *buf, size_t n)
{
	double a = fabs((double)v), d = 0;
	int k = (int)floor(log10(a)), p, s = 0;
	for (p = 1; p <= 9; p++) {
		s = k - (p - 1);
		d = nearbyint(s >= 0 ? a / pow10i(s) : a * pow10i(-s));
		if (d >= pow10i(p)) {	/* 9.99 rounded up to 10.0 */
			d /= 10;
			s++;
		} else if (d < pow10i(p - 1)) {	/* log10 landed one low */
			continue;
		}
		if ((float)(s >= 0 ? d * pow10i(s) : d / pow10i(-s)) == (float)a)
			break;
	}
	if (p > 9)
		return -1;
	{
		char digs[16];
		uint32_t di = (uint32_t)d;
		int nd = p, i, r;
		for (i = nd - 1; i >= 0; i--) {
			digs[i] = (char)('0' + di % 10);
			di /= 10;
		}
		r = emit_python(signbit(v) != 0, digs, nd, s + nd - 1, buf, n);
		if (r < 0 || strtof(buf, NULL) != v)
			return -1;
		return r;
	}
}

int shard_format_float(float v, char *buf, size_t n)
{
	char sci[48];
	int lo = 1, hi = 9, r;
	if (!isfinite(v))
		return special(v, buf, n);
	if (v == 0)
		return snprintf(buf, n, signbit(v) ? "-0.0" : "0.0");
	if ((r = format_float_fast(v, buf, n)) >= 0)
		return r;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		snprintf(sci, sizeof sci, "%.*e", mid - 1, (double)v);
		if (strtof(sci, NULL) == v)
			hi = mid;
		else
			lo = mid + 1;
	}
	snprintf(sci, sizeof sci, "%.*e", lo - 1, (double)v);
	return python_style(sci, buf, n);
}

static int format_half(uint16_t h, char *buf, size_t n)
{
	char sci[48];
	float v = shard_half_to_float(h);
	int p;
	if (!isfinite(v))
		return special(v, buf, n);
	for (p = 1; p < 9; p++) {
		snprintf(sci, sizeof sci, "%.*e", p - 1, (double)v);
		if (shard_float_to_half(strtof(sci, NULL)) == h)
			break;
	}
	if (v == 0)
		snprintf(sci, sizeof sci, "%s0e+00", signbit(v) ? "-" : "");
	return python_style(sci, buf, n);
}

static int put_scalar(int dtype, const uint8_t *q, struct shard_buf *out)
{
	char tmp[64];
	int k;
	switch (dtype) {
	case 8: k = snprintf(tmp, sizeof tmp, "%u", q[0]); break;
	case 9: k = snprintf(tmp, sizeof tmp, "%d", (int8_t)q[0]); break;
	case 16: k = snprintf(tmp, sizeof tmp, "%u", (unsigned)(q[0] | q[1] << 8)); break;
	case 17: k = snprintf(tmp, sizeof tmp, "%d", (int16_t)(q[0] | q[1] << 8)); break;
	case 18: k = format_half((uint16_t)(q[0] | q[1] << 8), tmp, sizeof tmp); break;
	case 32: k = snprintf(tmp, sizeof tmp, "%u", rd32(q)); break;
	case 33: k = snprintf(tmp, sizeof tmp, "%d", (int32_t)rd32(q)); break;
	case 34: {
		uint32_t u = rd32(q);
		float f;
		memcpy(&f, &u, 4);
		k = shard_format_float(f, tmp, sizeof tmp);
		break;
	}
	case 64: k = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)rd64(q)); break;
	case 65: k = snprintf(tmp, sizeof tmp, "%lld", (long long)(int64_t)rd64(q)); break;
	case 66: {
		uint64_t u = rd64(q);
		double d;
		memcpy(&d, &u, 8);
		k = shard_format_double(d, tmp, sizeof tmp);
		break;
	}
	default:
		return SHARD_EDATA;
	}
	if (k < 0)
		return SHARD_EDATA;
	return shard_buf_append(out, tmp, (size_t)k);
}

static int kind_dtype(enum shard_enc_kind k)
{
	switch (k) {
	case SHARD_ENC_UINT8: return 8;
	case SHARD_ENC_INT8: return 9;
	case SHARD_ENC_UINT16: return 16;
	case SHARD_ENC_INT16: return 17;
	case SHARD_ENC_FLOAT16: return 18;
	case SHARD_ENC_UINT32: return 32;
	case SHARD_ENC_INT32: return 33;
	case SHARD_ENC_FLOAT32: return 34;
	case SHARD_ENC_UINT64: return 64;
	case SHARD_ENC_INT: case SHARD_ENC_INT64: return 65;
	case SHARD_ENC_FLOAT64: return 66;
	default: return -1;
	}
}

static int put_base64(const uint8_t *p, size_t n, struct shard_buf *out)
{
	size_t need = 4 * ((n + 2) / 3) + 1;
	if (n > (SIZE_MAX / 4) - 3 || shard_buf_reserve(out, need))
		return SHARD_ENOMEM;
	/* EVP_EncodeBlock takes an int length: go in chunks that are multiples of 3 */
	while (n) {
		size_t c = n > 3u * (1u << 28) ? 3u * (1u << 28) : n;
		out->len += (size_t)EVP_EncodeBlock(out->p + out->len, p, (int)c);
		p += c;
		n -= c;
	}
	return 0;
}

/* JSON string body (without quotes) of UTF-8 text. */
static int put_json_chars(const uint8_t *p, size_t n, struct shard_buf *out)
{
	size_t i, start = 0;
	if (!n)
		return 0;
	for (i = 0; i < n; i++) {
		uint8_t c = p[i];
		const char *esc = NULL;
		char u[8];
		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7F)
			continue;
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default:
			snprintf(u, sizeof u, "\\u%04x", c);
			esc = u;
		}
		if (shard_buf_append(out, p + start, i - start) || shard_buf_append(out, esc, strlen(esc)))
			return SHARD_ENOMEM;
		start = i + 1;
	}
	return shard_buf_append(out, p + start, n - start);
}

/* A stored json value in the canonical text form: whitespace outside strings
 * dropped, strings re-escaped as str values are (UTF-8 raw, \uXXXX only for
 * controls), numbers and NaN/Infinity tokens kept exactly as spelled. The
 * input has passed shard_field_check, so it is valid JSON. */
static int put_json_compact(const uint8_t *p, size_t n, struct shard_buf *out)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = p[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			i++;
			continue;
		}
		if (c != '"') {
			if (shard_buf_putc(out, c))
				return SHARD_ENOMEM;
			i++;
			continue;
		}
		/* a string: decode escapes, then write it as put_json_chars does */
		{
			struct shard_buf tmp = {0};
			size_t end = i;
			int rc;
			if (js_string(p, n, &end)) {
				shard_buf_free(&tmp);
				return SHARD_EDATA;
			}
			rc = js_unescape(p + i + 1, end - i - 2, &tmp);
			i = end;
			rc = rc || shard_buf_putc(out, '"') || put_json_chars(tmp.p, tmp.len, out) ||
			     shard_buf_putc(out, '"');
			shard_buf_free(&tmp);
			if (rc)
				return SHARD_ENOMEM;
		}
	}
	return 0;
}

static int put_nd(const uint8_t *v, int dtype, int ndim, const uint64_t *shape, int dim,
		  size_t *idx, struct shard_buf *out)
{
	size_t vs = shard_dtype_size(dtype);
	uint64_t i;
	if (shard_buf_putc(out, '['))
		return SHARD_ENOMEM;
	for (i = 0; i < shape[dim]; i++) {
		if (i && shard_buf_putc(out, ','))
			return SHARD_ENOMEM;
		if (dim + 1 == ndim) {
			if (put_scalar(dtype, v + *idx * vs, out))
				return SHARD_ENOMEM;
			(*idx)++;
		} else if (put_nd(v, dtype, ndim, shape, dim + 1, idx, out)) {
			return SHARD_ENOMEM;
		}
	}
	return shard_buf_putc(out, ']');
}

/* A list field as a JSON array of base64 strings. */
static int put_list(const struct shard_field *f, size_t skip, struct shard_buf *out)
{
	uint32_t count = rd32(f->p + skip), i;
	size_t pos = skip + 4 + 4 * (size_t)count;
	if (shard_buf_putc(out, '['))
		return SHARD_ENOMEM;
	for (i = 0; i < count; i++) {
		uint32_t sz = rd32(f->p + skip + 4 + 4 * (size_t)i);
		if ((i && shard_buf_putc(out, ',')) || shard_buf_putc(out, '"') ||
		    put_base64(f->p + pos, sz, out) || shard_buf_putc(out, '"'))
			return SHARD_ENOMEM;
		pos += sz;
	}
	return shard_buf_putc(out, ']');
}

/* The value as JSON text (a number, string, array or object). */
static int format_json(const struct shard_encoding *e, const struct shard_field *f,
		       struct shard_buf *out, int *is_string, struct shard_error *err)
{
	int dt = kind_dtype(e->kind), rc;
	*is_string = 0;
	if (dt >= 0)
		return put_scalar(dt, f->p, out);
	switch (e->kind) {
	case SHARD_ENC_STR: case SHARD_ENC_STR_DECIMAL:
		*is_string = 1;
		return shard_buf_putc(out, '"') || put_json_chars(f->p, f->len, out) || shard_buf_putc(out, '"');
	case SHARD_ENC_STR_INT: {
		/* normalised to a JSON integer: no '+', '_', spaces or leading zeros */
		size_t i = 0, n = f->len, start;
		while (i < n && (f->p[i] == ' ' || f->p[i] == '\t' || f->p[i] == '\n'))
			i++;
		if (i < n && f->p[i] == '-') {
			if (shard_buf_putc(out, '-'))
				return SHARD_ENOMEM;
			i++;
		} else if (i < n && f->p[i] == '+') {
			i++;
		}
		start = out->len;
		for (; i < n; i++) {
			if (f->p[i] < '0' || f->p[i] > '9')
				continue;
			if (f->p[i] == '0' && out->len == start)
				continue;
			if (shard_buf_putc(out, f->p[i]))
				return SHARD_ENOMEM;
		}
		if (out->len == start) {
			if (start > 0 && out->p[start - 1] == '-')
				out->len--;
			return shard_buf_putc(out, '0');
		}
		return 0;
	}
	case SHARD_ENC_STR_FLOAT: {
		double d;
		char tmp[64];
		int k;
		if (parse_double_text(f->p, f->len, &d))
			return shard_error_set(err, SHARD_EDATA, "str_float value is not a number");
		k = shard_format_double(d, tmp, sizeof tmp);
		return shard_buf_append(out, tmp, (size_t)k);
	}
	case SHARD_ENC_JSON:
		if ((rc = shard_field_check(e, f, err)))
			return rc;
		return put_json_compact(f->p, f->len, out);
	case SHARD_ENC_NDARRAY: {
		int dtype, ndim;
		uint64_t shape[SHARD_NDIM_MAX];
		size_t vpos, idx = 0;
		if ((rc = nd_layout(e, f, &dtype, &ndim, shape, &vpos, err)))
			return rc;
		return put_nd(f->p + vpos, dtype, ndim, shape, 0, &idx, out);
	}
	case SHARD_ENC_LIST_PIL: case SHARD_ENC_LIST_JPEG: case SHARD_ENC_LIST_PNG:
		if ((rc = list_ok(f, 4, 0, err)))
			return rc;
		return put_list(f, 4, out);
	case SHARD_ENC_JPEG_ARRAY:
		if ((rc = list_ok(f, 0, 1, err)))
			return rc;
		return put_list(f, 0, out);
	default:
		*is_string = 1;
		return shard_buf_putc(out, '"') || put_base64(f->p, f->len, out) || shard_buf_putc(out, '"');
	}
}

int shard_field_format(const struct shard_encoding *e, const struct shard_field *f,
		       enum shard_text how, struct shard_buf *out, struct shard_error *err)
{
	size_t start = out->len, i;
	int is_string, rc;

	err->status = 0;
	/* Fixed-width checks up front so a short field never reads out of bounds. */
	if (kind_dtype(e->kind) >= 0 || e->kind == SHARD_ENC_STR) {
		if ((rc = shard_field_check(e, f, err)))
			return rc;
	}
	if (how == SHARD_TEXT_JSON) {
		rc = format_json(e, f, out, &is_string, err);
		return rc && !err->status ? shard_error_set(err, rc, "out of memory") : rc;
	}
	/* CSV and TSV: strings raw (then quoted/escaped), other values in their JSON text */
	if (e->kind == SHARD_ENC_STR || e->kind == SHARD_ENC_STR_DECIMAL) {
		if (shard_buf_append(out, f->p, f->len))
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	} else {
		rc = format_json(e, f, out, &is_string, err);
		if (rc)
			return err->status ? rc : shard_error_set(err, rc, "out of memory");
		if (is_string) {
			/* strip the JSON quotes of base64 text */
			memmove(out->p + start, out->p + start + 1, out->len - start - 2);
			out->len -= 2;
		}
	}
	if (how == SHARD_TEXT_CSV || how == SHARD_TEXT_CSV_RFC4180) {
		/* Spark's dialect: quoted when empty (an empty field is null), when
		 * holding the delimiter, a quote, a line end, a backslash or edge
		 * spaces; inside, \" and \\. RFC 4180 doubles quotes instead. */
		int bs = how == SHARD_TEXT_CSV, quote = out->len == start;
		size_t extra = 0, j;
		for (i = start; i < out->len; i++) {
			uint8_t c = out->p[i];
			if (c == '"' || (bs && c == '\\'))
				extra++;
			quote |= c == ',' || c == '"' || c == '\n' || c == '\r' || (bs && c == '\\');
		}
		if (out->len > start && (out->p[start] == ' ' || out->p[out->len - 1] == ' '))
			quote = 1;
		if (quote) {
			if (shard_buf_reserve(out, extra + 2))
				return shard_error_set(err, SHARD_ENOMEM, "out of memory");
			/* widen in place from the end: each byte moves right by the
			 * escapes before it, plus the opening quote */
			j = out->len + extra + 2;
			out->p[--j] = '"';
			for (i = out->len; i-- > start;) {
				uint8_t c = out->p[i];
				out->p[--j] = c;
				if (c == '"' || (bs && c == '\\'))
					out->p[--j] = bs ? '\\' : '"';
			}
			out->p[--j] = '"';
			out->len += extra + 2;
		}
	} else {
		int need = 0;
		for (i = start; i < out->len && !need; i++)
			need = out->p[i] == '\t' || out->p[i] == '\n' || out->p[i] == '\r' || out->p[i] == '\\';
		if (need) {
			struct shard_buf tmp = {0};
			for (i = start; i < out->len; i++) {
				const char *esc = out->p[i] == '\t' ? "\\t" : out->p[i] == '\n' ? "\\n"
						: out->p[i] == '\r' ? "\\r" : out->p[i] == '\\' ? "\\\\" : NULL;
				if (esc ? shard_buf_append(&tmp, esc, 2) : shard_buf_putc(&tmp, out->p[i]))
					return shard_error_set(err, SHARD_ENOMEM, "out of memory");
			}
			out->len = start;
			rc = shard_buf_append(out, tmp.p, tmp.len);
			shard_buf_free(&tmp);
			if (rc)
				return shard_error_set(err, SHARD_ENOMEM, "out of memory");
		}
	}
	return 0;
}
