/* MDS column encodings: parsing their names, splitting a sample into fields,
 * checking each field's bytes, and the lossless text forms shard-cat prints. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "internal.h"

/* The scalar dtypes: MDS's ndarray codes, names and sizes, and the encoding
 * that stores one scalar of each. The one table of them in libshard. */
static const struct {
	int code;
	const char *name;
	size_t size;
	enum shard_enc_kind kind;
} dtypes[] = {
	{8, "uint8", 1, SHARD_ENC_UINT8}, {9, "int8", 1, SHARD_ENC_INT8},
	{16, "uint16", 2, SHARD_ENC_UINT16}, {17, "int16", 2, SHARD_ENC_INT16},
	{18, "float16", 2, SHARD_ENC_FLOAT16}, {32, "uint32", 4, SHARD_ENC_UINT32},
	{33, "int32", 4, SHARD_ENC_INT32}, {34, "float32", 4, SHARD_ENC_FLOAT32},
	{64, "uint64", 8, SHARD_ENC_UINT64}, {65, "int64", 8, SHARD_ENC_INT64},
	{66, "float64", 8, SHARD_ENC_FLOAT64},
};

/* The other encodings by name ("int" is int64 under another name; ndarray
 * takes arguments and is parsed apart). */
static const struct {
	const char *name;
	enum shard_enc_kind kind;
	size_t size;
} encodings[] = {
	{"bytes", SHARD_ENC_BYTES, 0}, {"str", SHARD_ENC_STR, 0}, {"int", SHARD_ENC_INT, 8},
	{"str_int", SHARD_ENC_STR_INT, 0}, {"str_float", SHARD_ENC_STR_FLOAT, 0},
	{"str_decimal", SHARD_ENC_STR_DECIMAL, 0},
	{"pil", SHARD_ENC_PIL, 0}, {"jpeg", SHARD_ENC_JPEG, 0}, {"png", SHARD_ENC_PNG, 0},
	{"list[pil]", SHARD_ENC_LIST_PIL, 0}, {"list[jpeg]", SHARD_ENC_LIST_JPEG, 0},
	{"list[png]", SHARD_ENC_LIST_PNG, 0}, {"jpeg_array", SHARD_ENC_JPEG_ARRAY, 0},
	{"jpegarray", SHARD_ENC_JPEG_ARRAY, 0}, {"pkl", SHARD_ENC_PKL, 0},
	{"json", SHARD_ENC_JSON, 0},
};

int shard_kind_dtype(enum shard_enc_kind k)
{
	size_t i;
	if (k == SHARD_ENC_INT)
		k = SHARD_ENC_INT64;
	for (i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (dtypes[i].kind == k)
			return dtypes[i].code;
	return -1;
}

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
	for (i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
		if (strcmp(dtypes[i].name, name) == 0) {
			e->kind = dtypes[i].kind;
			e->size = dtypes[i].size;
			return 0;
		}
	}
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

int shard_parse_double_text(const uint8_t *p, size_t n, double *out)
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

int shard_nd_layout(const struct shard_encoding *e, const struct shard_field *f, int *dtype,
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
		int code = shard_kind_dtype(e->kind);
		const char *nm = e->kind == SHARD_ENC_INT ? "int" : shard_dtype_name(code);
		size_t size = shard_dtype_size(code);
		if (f->len != size)
			return shard_error_set(err, SHARD_EDATA, "%s value of %zu bytes (expected %zu)", nm,
					       f->len, size);
		return 0;
	}
	case SHARD_ENC_STR_INT:
		if (!str_int_ok(f->p, f->len))
			return shard_error_set(err, SHARD_EDATA, "str_int value is not an integer");
		return 0;
	case SHARD_ENC_STR_FLOAT: {
		double d;
		if (shard_parse_double_text(f->p, f->len, &d))
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
		return shard_nd_layout(e, f, &dt, &nd, shape, &vpos, err);
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
