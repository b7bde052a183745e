/* Text forms of values: a field under its encoding as JSON, CSV or TSV
 * (shard-cat(1)), logical values (bool, date, timestamp) and the shortest
 * text of floating-point numbers. Reads fields, never writes them: the
 * checks are lib/formats/encoding.c's, text to values is lib/text/values.c. */
#include "config.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "internal.h"

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
	int dt = shard_kind_dtype(e->kind), rc;
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
		if (shard_parse_double_text(f->p, f->len, &d))
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
		if ((rc = shard_nd_layout(e, f, &dtype, &ndim, shape, &vpos, err)))
			return rc;
		return put_nd(f->p + vpos, dtype, ndim, shape, 0, &idx, out);
	}
	case SHARD_ENC_LIST_PIL: case SHARD_ENC_LIST_JPEG: case SHARD_ENC_LIST_PNG:
		if ((rc = shard_field_check(e, f, err)))
			return rc;
		return put_list(f, 4, out);
	case SHARD_ENC_JPEG_ARRAY:
		if ((rc = shard_field_check(e, f, err)))
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
	if (shard_kind_dtype(e->kind) >= 0 || e->kind == SHARD_ENC_STR) {
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

/* y-m-d from days since 1970-01-01 (proleptic Gregorian). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;
	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t rdle(const uint8_t *p, size_t k)
{
	uint64_t v = 0;
	size_t i;
	for (i = 0; i < k; i++)
		v |= (uint64_t)p[i] << (8 * i);
	if (k < 8 && (v >> (8 * k - 1)) & 1)
		v |= ~0ull << (8 * k);	/* sign-extend */
	return (int64_t)v;
}

int shard_ltype_format(int ltype, const struct shard_field *f, enum shard_text how, struct shard_buf *out,
		       struct shard_error *err)
{
	char tmp[64];
	int n = 0, q = how == SHARD_TEXT_JSON;
	int64_t y;
	unsigned m, d;

	switch (ltype) {
	case SHARD_LT_BOOL:
		if (f->len != 1 || f->p[0] > 1)
			return shard_error_set(err, SHARD_EDATA, "bool value is not 0 or 1");
		n = snprintf(tmp, sizeof tmp, "%s", f->p[0] ? "true" : "false");
		q = 0;
		break;
	case SHARD_LT_DATE:
		if (f->len != 4)
			return shard_error_set(err, SHARD_EDATA, "date value of %zu bytes", f->len);
		civil_from_days(rdle(f->p, 4), &y, &m, &d);
		n = snprintf(tmp, sizeof tmp, "%s%04lld-%02u-%02u%s", q ? "\"" : "", (long long)y, m, d, q ? "\"" : "");
		break;
	case SHARD_LT_TIMESTAMP: {
		int64_t us, secs, days, rem;
		if (f->len != 8)
			return shard_error_set(err, SHARD_EDATA, "timestamp value of %zu bytes", f->len);
		us = rdle(f->p, 8);
		secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
		rem = us - secs * 1000000;
		days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
		civil_from_days(days, &y, &m, &d);
		secs -= days * 86400;
		n = snprintf(tmp, sizeof tmp, "%s%04lld-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ%s", q ? "\"" : "",
			     (long long)y, m, d, (long long)(secs / 3600), (long long)(secs / 60 % 60),
			     (long long)(secs % 60), (long long)rem, q ? "\"" : "");
		break;
	}
	default:
		return shard_error_set(err, SHARD_EARG, "not a logical type");
	}
	return shard_buf_append(out, tmp, (size_t)n) ? shard_error_set(err, SHARD_ENOMEM, "out of memory") : 0;
}
