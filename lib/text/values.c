/* Text to MDS values: numbers with range checks, Spark's NaN/Infinity, strict
 * UTF-8, and the logical types bool, date and timestamp that MDS itself lacks. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>

#include "shard.h"
#include "internal.h"

static const char *const ltype_names[] = {"", "bool", "date", "timestamp"};

int shard_coltype_parse(const char *type, struct shard_coltype *t, struct shard_error *err)
{
	char buf[sizeof t->enc_name];
	const char *name = buf;
	size_t n = strlen(type);
	memset(t, 0, sizeof *t);
	/* "TYPE?": the column may hold nulls (see shard_null_value) */
	if (n && type[n - 1] == '?') {
		t->nullable = 1;
		n--;
	}
	if (n >= sizeof buf)
		return shard_error_set(err, SHARD_EARG, "type '%s' is too long", type);
	memcpy(buf, type, n);
	buf[n] = 0;
	t->dec_s = -1;
	if (strncasecmp(buf, "decimal", 7) == 0 && (buf[7] == '(' || !buf[7])) {
		/* decimal(P[,S]), Spark's DecimalType: its text kept exactly, checked
		 * against the precision and scale */
		int p = 10, sc = 0, used = 0;
		if (buf[7] && !((sscanf(buf + 7, "(%d,%d)%n", &p, &sc, &used) == 2 ||
				 (sc = 0, sscanf(buf + 7, "(%d)%n", &p, &used) == 1)) && !buf[7 + used]))
			return shard_error_set(err, SHARD_EARG, "'%s' is not decimal(PRECISION,SCALE)", buf);
		if (p < 1 || p > 38 || sc < 0 || sc > p)
			return shard_error_set(err, SHARD_EARG, "'%s': precision 1 to 38, scale 0 to the precision", buf);
		t->dec_p = p;
		t->dec_s = sc;
		name = "str_decimal";
	}
	if (strcmp(name, "bool") == 0 || strcmp(name, "boolean") == 0) {
		t->ltype = SHARD_LT_BOOL;
		name = "uint8";
	} else if (strcmp(name, "date") == 0) {
		t->ltype = SHARD_LT_DATE;
		name = "int32";
	} else if (strcmp(name, "timestamp") == 0 || strcmp(name, "timestamp_ltz") == 0 ||
		   strcmp(name, "timestamp_ntz") == 0) {
		t->ltype = SHARD_LT_TIMESTAMP;
		t->ntz = strcmp(name, "timestamp_ntz") == 0;
		name = "int64";
	}
	snprintf(t->enc_name, sizeof t->enc_name, "%s", name);
	if (shard_encoding_parse(name, &t->enc, err))
		return err->status;
	t->dtype = shard_kind_dtype(t->enc.kind);
	switch (t->enc.kind) {
	case SHARD_ENC_PIL: case SHARD_ENC_JPEG: case SHARD_ENC_PNG: case SHARD_ENC_LIST_PIL:
	case SHARD_ENC_LIST_JPEG: case SHARD_ENC_LIST_PNG: case SHARD_ENC_JPEG_ARRAY: case SHARD_ENC_PKL:
		return shard_error_set(err, SHARD_EARG, "encoding '%s' cannot be read from text", name);
	case SHARD_ENC_NDARRAY:
		if (t->enc.dtype < 0)
			return shard_error_set(err, SHARD_EARG, "ndarray from text needs a dtype: ndarray:DTYPE[:SHAPE]");
		break;
	default:
		break;
	}
	return 0;
}

int shard_null_value(const struct shard_coltype *t, struct shard_buf *out, struct shard_error *err)
{
	const struct shard_encoding *e = &t->enc;
	static const uint8_t zeros[64];
	size_t n;
	int rc = 0;
	if (e->size) {
		/* fixed size: numbers, bool, date, timestamp, shaped ndarrays: zeros */
		for (n = e->size; n && !rc; n -= n < sizeof zeros ? n : sizeof zeros)
			rc = shard_buf_append(out, zeros, n < sizeof zeros ? n : sizeof zeros);
	} else {
		switch (e->kind) {
		case SHARD_ENC_STR_INT: case SHARD_ENC_STR_FLOAT: case SHARD_ENC_STR_DECIMAL:
			rc = shard_buf_append(out, "0", 1);	/* Python parses these: "" would not */
			break;
		case SHARD_ENC_JSON:
			rc = shard_buf_append(out, "null", 4);
			break;
		case SHARD_ENC_NDARRAY:
			return shard_text_to_value(t, (const uint8_t *)"[0]", 3, out, err);
		default:
			break;	/* str, bytes: empty */
		}
	}
	return rc ? shard_error_set(err, SHARD_ENOMEM, "out of memory") : 0;
}

int shard_has_validity(const struct shard_coltype *t)
{
	return t->nullable && t->enc.kind != SHARD_ENC_JSON;
}

int shard_validity_name(const char *col, char *buf, size_t n)
{
	return snprintf(buf, n, "%s" SHARD_VALIDITY_SUFFIX, col) < (int)n ? 0 : -1;
}

const char *shard_ltype_name(int ltype)
{
	return ltype > 0 && ltype < 4 ? ltype_names[ltype] : NULL;
}

static int bad(struct shard_error *err, const char *what, const uint8_t *p, size_t n)
{
	return shard_error_set(err, SHARD_EDATA, "'%.*s' is not %s", (int)(n > 60 ? 60 : n), (const char *)p, what);
}

/* Decimal integers without a copy: optional sign, digits, nothing else. */
static int parse_i64(const uint8_t *p, size_t n, int64_t lo, int64_t hi, int64_t *v)
{
	size_t i = 0;
	uint64_t x = 0, lim;
	int neg = 0;
	if (n && (p[0] == '-' || p[0] == '+')) {
		neg = p[0] == '-';
		i = 1;
	}
	if (i == n)
		return -1;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n; i++) {
		unsigned d = (unsigned)p[i] - '0';
		if (d > 9 || x > (lim - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	if (neg) {
		if (x == (uint64_t)INT64_MAX + 1)
			*v = INT64_MIN;
		else
			*v = -(int64_t)x;
	} else {
		*v = (int64_t)x;
	}
	return *v < lo || *v > hi ? -1 : 0;
}

static int parse_u64(const uint8_t *p, size_t n, uint64_t hi, uint64_t *v)
{
	size_t i = n && p[0] == '+';
	uint64_t x = 0;
	if (i == n)
		return -1;
	for (; i < n; i++) {
		unsigned d = (unsigned)p[i] - '0';
		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	if (x > hi)
		return -1;
	*v = x;
	return 0;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SWAR_DIGITS 1

/* How many of the 8 bytes at p, from the first, are decimal digits. */
static inline unsigned digit_run(uint64_t v)
{
	const uint64_t hi = 0xF0F0F0F0F0F0F0F0ull, zeros = 0x3030303030303030ull;
	/* a byte is a digit when it is 0x3N and adding 6 keeps it 0x3N; a carry out
	 * of a non-digit only disturbs the bytes after it */
	uint64_t x = ((v & hi) ^ zeros) | (((v + 0x0606060606060606ull) & hi) ^ zeros);
	uint64_t nz = (((x & 0x7F7F7F7F7F7F7F7Full) + 0x7F7F7F7F7F7F7F7Full) | x) & 0x8080808080808080ull;
	return nz ? (unsigned)__builtin_ctzll(nz) >> 3 : 8;
}

/* The value of the first k (1..8) digits of the 8 bytes at p. */
static inline uint32_t digits_value(uint64_t v, unsigned k)
{
	/* the digits' values in the low k bytes (borrows only reach the bytes past
	 * them), moved up so that zeros lead */
	uint64_t t = (v - 0x3030303030303030ull) << (8 * (8 - k));
	t = t * 10 + (t >> 8);
	return (uint32_t)(((t & 0x000000FF000000FFull) * (100 + (1000000ull << 32)) +
			   ((t >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32))) >> 32);
}

/* Digits from x on into *m, 8 at a time while 8 bytes are left. */
static inline const uint8_t *digits_swar(const uint8_t *x, const uint8_t *end, uint64_t *m)
{
	static const uint64_t p10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};
	while (end - x >= 8) {
		uint64_t v;
		unsigned k;
		memcpy(&v, x, 8);
		k = digit_run(v);
		if (!k)
			return x;
		*m = *m * p10[k] + digits_value(v, k);
		x += k;
		if (k < 8)
			return x;
	}
	return x;
}
#endif

/* A decimal number as mantissa * 10^exp, when the mantissa fits 19 digits:
 * read from p as far as it goes (not past end), *stop set where it ended. */
static inline int dec_scan(const uint8_t *p, const uint8_t *end, uint64_t *mant, int *exp10, int *neg,
			   const uint8_t **stop)
{
	const uint8_t *x = p, *start;
	size_t digits;
	uint64_t m = 0;
	int e = 0;
	unsigned d;
	*neg = 0;
	if (x < end) {
		/* without a branch: signs come in no predictable order */
		unsigned c = *x;
		*neg = c == '-';
		x += c == '-' || c == '+';
	}
	/* every digit goes into m; more than 19 (leading zeros included) is left
	 * to strtod, which is rare and only slower. Integer parts are mostly
	 * short, fractions long enough to take 8 digits at a time. */
	start = x;
	for (; x < end && (d = (unsigned)*x - '0') <= 9; x++)
		m = m * 10 + d;
	digits = (size_t)(x - start);
	if (x < end && *x == '.') {
		start = ++x;
#ifdef SWAR_DIGITS
		x = digits_swar(x, end, &m);
#endif
		for (; x < end && (d = (unsigned)*x - '0') <= 9; x++)
			m = m * 10 + d;
		e = -(int)(x - start);
		digits += (size_t)(x - start);
	}
	if (digits > 19 || !digits)
		return -1;
	if (x < end && (*x | 32) == 'e') {
		int es = 1, ev = 0, ed = 0;
		x++;
		if (x < end && (*x == '-' || *x == '+'))
			es = *x++ == '-' ? -1 : 1;
		for (; x < end && *x >= '0' && *x <= '9'; x++, ed++)
			if (ev < 10000)
				ev = ev * 10 + (*x - '0');
		if (!ed)
			return -1;
		e += es * ev;
	}
	*mant = m;
	*exp10 = e;
	*stop = x;
	return 0;
}

/* Exact small cases take Clinger's fast path: one correctly rounded IEEE
 * operation on exact operands. 1 when it applies. */
static inline int decimal_fast(uint64_t m, int e, int neg, int single, double *dv, float *fv)
{
	static const double p10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
				     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
	static const float p10f[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f, 1e8f, 1e9f, 1e10f};
	if (single && m <= (1u << 24) && e >= -10 && e <= 10) {
		float f = (float)m;
		f = e >= 0 ? f * p10f[e] : f / p10f[-e];
		*fv = neg ? -f : f;
		return 1;
	}
	if (!single && m <= (1ull << 53) && e >= -22 && e <= 22) {
		double d = (double)m;
		d = e >= 0 ? d * p10[e] : d / p10[-e];
		*dv = neg ? -d : d;
		return 1;
	}
	return 0;
}

#define FLOAT_TEXT_MAX 512	/* longer number texts are refused */

/* Spark writes NaN, Infinity and -Infinity; strtod's spellings are accepted
 * too. The exact small cases take decimal_fast; the rest go to strtod/strtof. */
static int parse_float(const uint8_t *p, size_t n, int single, double *dv, float *fv)
{
	char b[FLOAT_TEXT_MAX], *end;
	const uint8_t *stop;
	uint64_t m;
	int e, neg;

	if (!n || n >= sizeof b || p[0] == ' ' || p[0] == '\t')
		return -1;
	if (dec_scan(p, p + n, &m, &e, &neg, &stop) == 0 && stop == p + n &&
	    decimal_fast(m, e, neg, single, dv, fv))
		return 0;
	memcpy(b, p, n);
	b[n] = 0;
	if (strcmp(b, "NaN") == 0) {
		*dv = NAN;
		*fv = NAN;
		return 0;
	}
	if (strcmp(b, "Infinity") == 0 || strcmp(b, "+Infinity") == 0 || strcmp(b, "-Infinity") == 0) {
		*dv = b[0] == '-' ? -INFINITY : INFINITY;
		*fv = (float)*dv;
		return 0;
	}
	if ((b[0] == '0' && (b[1] | 32) == 'x') || ((b[0] == '-' || b[0] == '+') && b[1] == '0' && (b[2] | 32) == 'x'))
		return -1;	/* no hex floats */
	errno = 0;
	if (single) {
		*fv = strtof(b, &end);
		*dv = *fv;
		if (*end)
			return -1;
		/* strtof overflows to infinity: only a spelled-out infinity may */
		if (isinf(*fv) && !(strchr(b, 'i') || strchr(b, 'I')))
			return -2;
		return 0;
	}
	*dv = strtod(b, &end);
	*fv = (float)*dv;
	if (*end)
		return -1;
	/* strtod overflows to infinity: only a spelled-out infinity may */
	if (isinf(*dv) && !(strchr(b, 'i') || strchr(b, 'I')))
		return -3;
	return 0;
}

uint16_t shard_float_to_half(float f)
{
	uint32_t x, sign, mant;
	int ex;
	memcpy(&x, &f, 4);
	sign = (x >> 16) & 0x8000;
	ex = (int)((x >> 23) & 255) - 127 + 15;
	mant = x & 0x7FFFFF;
	if (((x >> 23) & 255) == 255)
		return (uint16_t)(sign | 0x7C00 | (mant ? 0x200 : 0));
	if (ex >= 31)
		return (uint16_t)(sign | 0x7C00);
	if (ex <= 0) {
		uint32_t m, half, r;
		int sh;
		if (ex < -10)
			return (uint16_t)sign;
		m = mant | 0x800000;
		sh = 14 - ex;
		half = 1u << (sh - 1);
		r = m >> sh;
		if ((m & ((1u << sh) - 1)) > half || ((m & ((1u << sh) - 1)) == half && (r & 1)))
			r++;
		return (uint16_t)(sign | r);
	} else {
		uint32_t r = (uint32_t)ex << 10 | mant >> 13;
		uint32_t rest = mant & 0x1FFF;
		if (rest > 0x1000 || (rest == 0x1000 && (r & 1)))
			r++;
		return (uint16_t)(sign | r);
	}
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;
	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const uint8_t *p, size_t n, size_t at, size_t k, int *v)
{
	size_t i;
	*v = 0;
	if (at + k > n)
		return -1;
	for (i = 0; i < k; i++) {
		if (p[at + i] < '0' || p[at + i] > '9')
			return -1;
		*v = *v * 10 + (p[at + i] - '0');
	}
	return 0;
}

static int parse_date(const uint8_t *p, size_t n, size_t *used, int64_t *days)
{
	int y, m, d;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (digits(p, n, 0, 4, &y) || n < 10 || p[4] != '-' || digits(p, n, 5, 2, &m) || p[7] != '-' ||
	    digits(p, n, 8, 2, &d) || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return -1;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return -1;
	*days = days_from_civil(y, (unsigned)m, (unsigned)d);
	*used = 10;
	return 0;
}

/* yyyy-MM-dd[[T| ]HH:mm[:ss[.fraction]][Z|+HH[[:]MM[[:]SS]]|-...]] ->
 * microseconds UTC; text without an offset is wall-clock time in tz (NULL:
 * UTC), and with ntz must have none. Fractions past microseconds must be
 * zero: nothing is rounded away. */
static int parse_timestamp(const uint8_t *p, size_t n, const struct shard_tz *tz, int ntz, int64_t *us)
{
	size_t i;
	int64_t days, secs, frac = 0;
	int32_t off = 0;
	int hh = 0, mi = 0, ss = 0, zoned = 0;
	if (parse_date(p, n, &i, &days))
		return -1;
	if (i == n)
		goto local;
	if (p[i] != 'T' && p[i] != ' ')
		return -1;
	if (digits(p, n, i + 1, 2, &hh) || i + 3 >= n || p[i + 3] != ':' || digits(p, n, i + 4, 2, &mi) || hh > 23 ||
	    mi > 59)
		return -1;
	i += 6;
	if (i < n && p[i] == ':') {
		if (digits(p, n, i + 1, 2, &ss) || ss > 59)
			return -1;
		i += 3;
		if (i < n && p[i] == '.') {
			int nd = 0;
			for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++, nd++) {
				if (nd < 6)
					frac = frac * 10 + (p[i] - '0');
				else if (p[i] != '0')
					return -1;
			}
			if (!nd)
				return -1;
			for (; nd < 6; nd++)
				frac *= 10;
		}
	}
	if (i < n) {
		/* an offset of its own: the zone is not looked at */
		if (ntz || ((p[i] != 'Z' || i + 1 != n) && shard_tz_parse_offset(p + i, n - i, &off)))
			return -1;
		zoned = 1;
	}
local:
	secs = days * 86400 + hh * 3600 + mi * 60 + ss;
	*us = (zoned ? secs - off : shard_tz_to_utc(ntz ? NULL : tz, secs)) * 1000000LL + frac;
	return 0;
}

static void le(uint8_t *b, uint64_t v, size_t k)
{
	size_t i;
	for (i = 0; i < k; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

/* The value of text p[0..n) as dtype (a code below: the width in bits plus a
 * small tag) into b[0..dtype >> 3), little-endian. 0, or what is wrong:
 * NUM_BAD (not such a number), NUM_RANGE (a float beyond the type's range),
 * NUM_DTYPE (no such dtype). */
enum { NUM_BAD = 1, NUM_RANGE, NUM_DTYPE };

static inline int number_bytes(int dtype, const uint8_t *p, size_t n, uint8_t *b)
{
	int64_t i;
	uint64_t u;
	double d;
	switch (dtype) {
	case 8: if (parse_u64(p, n, UINT8_MAX, &u)) return NUM_BAD; le(b, u, 1); break;
	case 9: if (parse_i64(p, n, INT8_MIN, INT8_MAX, &i)) return NUM_BAD; le(b, (uint64_t)i, 1); break;
	case 16: if (parse_u64(p, n, UINT16_MAX, &u)) return NUM_BAD; le(b, u, 2); break;
	case 17: if (parse_i64(p, n, INT16_MIN, INT16_MAX, &i)) return NUM_BAD; le(b, (uint64_t)i, 2); break;
	case 32: if (parse_u64(p, n, UINT32_MAX, &u)) return NUM_BAD; le(b, u, 4); break;
	case 33: if (parse_i64(p, n, INT32_MIN, INT32_MAX, &i)) return NUM_BAD; le(b, (uint64_t)i, 4); break;
	case 64: if (parse_u64(p, n, UINT64_MAX, &u)) return NUM_BAD; le(b, u, 8); break;
	case 65: if (parse_i64(p, n, INT64_MIN, INT64_MAX, &i)) return NUM_BAD; le(b, (uint64_t)i, 8); break;
	case 18: case 34: case 66: {
		float fl;
		int r = parse_float(p, n, dtype == 34, &d, &fl);
		if (r)
			return r == -1 ? NUM_BAD : NUM_RANGE;
		if (dtype == 66) {
			memcpy(&u, &d, 8);
			le(b, u, 8);
		} else if (dtype == 34) {
			uint32_t x;
			memcpy(&x, &fl, 4);
			le(b, x, 4);
		} else {
			uint16_t h = shard_float_to_half((float)d);
			if ((h & 0x7C00) == 0x7C00 && !(h & 0x3FF) && !isinf(d))
				return NUM_RANGE;
			le(b, h, 2);
		}
		break;
	}
	default:
		return NUM_DTYPE;
	}
	return 0;
}

static int put_number(int dtype, const uint8_t *p, size_t n, struct shard_buf *out, struct shard_error *err)
{
	uint8_t b[8];
	const char *what;
	switch (number_bytes(dtype, p, n, b)) {
	case 0:
		return shard_buf_append(out, b, (size_t)dtype >> 3) ? shard_error_set(err, SHARD_ENOMEM, "out of memory") : 0;
	case NUM_DTYPE:
		return shard_error_set(err, SHARD_EARG, "unsupported dtype");
	case NUM_RANGE:
		what = dtype == 34 ? "a float32 (out of range)" : dtype == 66 ? "a float64 (out of range)"
									     : "a float16 (out of range)";
		break;
	default:
		switch (dtype) {
		case 8: what = "a uint8"; break;
		case 9: what = "an int8"; break;
		case 16: what = "a uint16"; break;
		case 17: what = "an int16"; break;
		case 32: what = "a uint32"; break;
		case 33: what = "an int32"; break;
		case 64: what = "a uint64"; break;
		case 65: what = "an int64"; break;
		default: what = "a number"; break;
		}
	}
	return bad(err, what, p, n);
}

static inline int field_end(uint8_t c, uint8_t delim)
{
	return c == delim || c == '\n' || c == '\r';
}

/* shard_number_field's general case, kept out of its fast one. */
static __attribute__((noinline)) ptrdiff_t number_field_any(int dtype, uint8_t delim, const uint8_t *p,
							    const uint8_t *end, uint8_t *out)
{
	const uint8_t *x;
	for (x = p; x < end && !field_end(*x, delim); x++)
		;
	return number_bytes(dtype, p, (size_t)(x - p), out) ? -1 : x - p;
}

ptrdiff_t shard_number_field(int dtype, uint8_t delim, const uint8_t *p, const uint8_t *end, uint8_t *out)
{
	const uint8_t *x;
	if (dtype == 34 || dtype == 66) {
		/* the common case in one pass: a short decimal, read up to its delimiter */
		uint64_t m;
		int e, neg;
		if (dec_scan(p, end, &m, &e, &neg, &x) == 0 && (x == end || field_end(*x, delim)) &&
		    x - p < FLOAT_TEXT_MAX) {
			double d;
			float f;
			if (decimal_fast(m, e, neg, dtype == 34, &d, &f)) {
				uint64_t u;
				uint32_t v;
				if (dtype == 34) {
					memcpy(&v, &f, 4);
					wr32(out, v);
				} else {
					memcpy(&u, &d, 8);
					wr64(out, u);
				}
				return x - p;
			}
		}
	}
	return number_field_any(dtype, delim, p, end, out);
}

/* "[1, 2, 3]" or "[[1,2],[3,4]]": the numbers in order, brackets ignored. */
static int put_ndarray(const struct shard_encoding *e, const uint8_t *p, size_t n, struct shard_buf *out,
		       struct shard_error *err)
{
	size_t i = 0, start = out->len, count = 0, vs = shard_dtype_size(e->dtype);
	int depth = 0;
	if (!e->ndim && shard_buf_append(out, "", 0) == 0) {
		/* 1-D with the length in the data: [(1<<2)|code][len] filled in below */
		uint8_t hdr[5] = {(1 << 2) | 2, 0, 0, 0, 0};
		if (shard_buf_append(out, hdr, 5))
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	while (i < n) {
		size_t j;
		int rc;
		if (p[i] == '[') {
			depth++;
			i++;
			continue;
		}
		if (p[i] == ']') {
			depth--;
			i++;
			continue;
		}
		if (p[i] == ',' || p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
			i++;
			continue;
		}
		for (j = i; j < n && p[j] != ',' && p[j] != ']' && p[j] != ' ' && p[j] != '['; j++)
			;
		if ((rc = put_number(e->dtype, p + i, j - i, out, err))) {
			out->len = start;
			return shard_error_prefix(err, "array element %zu", count);
		}
		count++;
		i = j;
	}
	if (depth != 0) {
		out->len = start;
		return shard_error_set(err, SHARD_EDATA, "unbalanced brackets in an array");
	}
	if (e->ndim) {
		if (count * vs != e->size) {
			out->len = start;
			return shard_error_set(err, SHARD_EDATA, "array of %zu elements, the shape holds %zu", count,
					       e->size / vs);
		}
	} else {
		if (count == 0) {
			out->len = start;
			return shard_error_set(err, SHARD_EDATA, "empty array (MDS ndarrays need at least one element)");
		}
		le(out->p + start + 1, count, 4);
	}
	return 0;
}

/* A decimal's text as digits M (no leading or trailing zeros) times 10^e10:
 * 0, or -1 when it is not [+-]digits[.digits][E[+-]digits]. */
struct dec {
	int neg;
	char m[80];
	size_t mlen;
	long e10;
};

static int dec_parse(const uint8_t *p, size_t n, struct dec *d)
{
	size_t i = 0, nd = 0, frac = 0;
	long ex = 0;
	int seen_dot = 0, edig = 0;
	memset(d, 0, sizeof *d);
	if (i < n && (p[i] == '-' || p[i] == '+'))
		d->neg = p[i++] == '-';
	for (; i < n; i++) {
		if (p[i] >= '0' && p[i] <= '9') {
			nd++;
			frac += seen_dot;
			if (d->mlen || p[i] != '0') {
				if (d->mlen + 1 >= sizeof d->m)
					return -1;
				d->m[d->mlen++] = (char)p[i];
			}
		} else if (p[i] == '.' && !seen_dot) {
			seen_dot = 1;
		} else {
			break;
		}
	}
	if (!nd)
		return -1;
	if (i < n && (p[i] | 32) == 'e') {
		int es = 1;
		if (++i < n && (p[i] == '-' || p[i] == '+'))
			es = p[i++] == '-' ? -1 : 1;
		for (; i < n && p[i] >= '0' && p[i] <= '9'; i++, edig++)
			if (ex < 100000)
				ex = ex * 10 + (p[i] - '0');
		if (!edig)
			return -1;
		ex *= es;
	}
	if (i != n)
		return -1;
	d->e10 = ex - (long)frac;
	while (d->mlen && d->m[d->mlen - 1] == '0') {
		d->mlen--;
		d->e10++;
	}
	if (!d->mlen)
		d->e10 = 0;
	return 0;
}

/* Whether d fits decimal(P,S): at most S fraction digits, P-S integer digits. */
static int dec_fits(const struct dec *d, int prec, int scale)
{
	long fdig = d->e10 < 0 ? -d->e10 : 0, idig = (long)d->mlen + d->e10;
	return fdig <= scale && (idig < 0 ? 0 : idig) <= prec - scale;
}

static int decimal_check(const struct shard_coltype *t, const uint8_t *p, size_t n, struct shard_error *err)
{
	struct dec d;
	char what[48];
	snprintf(what, sizeof what, "a decimal(%d,%d)", t->dec_p, t->dec_s);
	if (dec_parse(p, n, &d) || !dec_fits(&d, t->dec_p, t->dec_s))
		return bad(err, what, p, n);
	return 0;
}

int shard_decimal_scaled(const struct shard_coltype *t, const char *text, struct shard_buf *out,
			 struct shard_error *err)
{
	struct dec d;
	long point, i;
	if (t->dec_s < 0)
		return shard_buf_append(out, text, strlen(text)) ? shard_error_set(err, SHARD_ENOMEM, "out of memory") : 0;
	if (decimal_check(t, (const uint8_t *)text, strlen(text), err))
		return err->status;
	dec_parse((const uint8_t *)text, strlen(text), &d);
	/* digit k of M has weight 10^(mlen-1-k+e10); the point sits after the
	 * digit of weight 10^0 */
	point = (long)d.mlen + d.e10;	/* integer digits */
	if (d.neg && d.mlen)
		shard_buf_putc(out, '-');
	if (point <= 0)
		shard_buf_putc(out, '0');
	for (i = 0; i < point; i++)
		shard_buf_putc(out, i < (long)d.mlen ? d.m[i] : '0');
	if (t->dec_s)
		shard_buf_putc(out, '.');
	for (i = 0; i < t->dec_s; i++) {
		long k = point + i;
		shard_buf_putc(out, k >= 0 && k < (long)d.mlen ? d.m[k] : '0');
	}
	return 0;
}

int shard_text_to_value(const struct shard_coltype *t, const uint8_t *p, size_t n, struct shard_buf *out,
			struct shard_error *err)
{
	const struct shard_encoding *e = &t->enc;
	struct shard_field f = {p, n};
	int64_t v;
	uint8_t b[8];
	int dt;

	switch (t->ltype) {
	case SHARD_LT_BOOL:
		if ((n == 4 && strncasecmp((const char *)p, "true", 4) == 0) || (n == 1 && p[0] == '1'))
			b[0] = 1;
		else if ((n == 5 && strncasecmp((const char *)p, "false", 5) == 0) || (n == 1 && p[0] == '0'))
			b[0] = 0;
		else
			return bad(err, "a boolean (true/false)", p, n);
		return shard_buf_append(out, b, 1) ? shard_error_set(err, SHARD_ENOMEM, "out of memory") : 0;
	case SHARD_LT_DATE: {
		size_t used;
		if (parse_date(p, n, &used, &v) || used != n || v < INT32_MIN || v > INT32_MAX)
			return bad(err, "a date (yyyy-MM-dd)", p, n);
		le(b, (uint64_t)v, 4);
		return shard_buf_append(out, b, 4) ? shard_error_set(err, SHARD_ENOMEM, "out of memory") : 0;
	}
	case SHARD_LT_TIMESTAMP:
		if (parse_timestamp(p, n, t->tz, t->ntz, &v))
			return bad(err, t->ntz ? "a timestamp without an offset (yyyy-MM-ddTHH:mm:ss[.ffffff])"
					       : "a timestamp (yyyy-MM-ddTHH:mm:ss[.ffffff][Z|+HH:MM[:SS]])", p, n);
		le(b, (uint64_t)v, 8);
		return shard_buf_append(out, b, 8) ? shard_error_set(err, SHARD_ENOMEM, "out of memory") : 0;
	default:
		break;
	}
	dt = t->dtype;
	if (dt >= 0)
		return put_number(dt, p, n, out, err);
	if (e->kind == SHARD_ENC_NDARRAY)
		return put_ndarray(e, p, n, out, err);
	if (t->dec_s >= 0 && decimal_check(t, p, n, err))
		return err->status;
	if (e->kind != SHARD_ENC_BYTES && shard_field_check(e, &f, err))
		return err->status;
	return shard_buf_append(out, p, n) ? shard_error_set(err, SHARD_ENOMEM, "out of memory") : 0;
}

int shard_ltype_from_name(const char *name)
{
	int i;
	for (i = 1; i < 4; i++)
		if (strcmp(ltype_names[i], name) == 0)
			return i;
	return 0;
}

/* ---------------------------------------------------------------- Spark schemas */

/* A Spark SQL type name (lower-cased, parameters stripped) as a shard-convert type. */
static const char *spark_type(const char *t, const char *elem)
{
	static const struct { const char *spark, *ours; } m[] = {
		{"long", "int64"}, {"bigint", "int64"}, {"integer", "int32"}, {"int", "int32"},
		{"short", "int16"}, {"smallint", "int16"}, {"byte", "int8"}, {"tinyint", "int8"},
		{"float", "float32"}, {"real", "float32"}, {"double", "float64"}, {"string", "str"},
		{"varchar", "str"}, {"char", "str"}, {"boolean", "bool"}, {"date", "date"},
		{"timestamp", "timestamp"}, {"timestamp_ntz", "timestamp_ntz"}, {"timestamp_ltz", "timestamp"},
		{"binary", "bytes"}, {"decimal", "decimal"}, {"dec", "decimal"}, {"numeric", "decimal"},
	};
	static const struct { const char *spark, *ours; } nd[] = {
		{"float", "ndarray:float32"}, {"real", "ndarray:float32"}, {"double", "ndarray:float64"},
		{"integer", "ndarray:int32"}, {"int", "ndarray:int32"}, {"long", "ndarray:int64"},
		{"bigint", "ndarray:int64"}, {"short", "ndarray:int16"}, {"smallint", "ndarray:int16"},
		{"byte", "ndarray:int8"}, {"tinyint", "ndarray:int8"},
	};
	size_t i;
	if (strcmp(t, "array") == 0) {
		for (i = 0; elem && i < sizeof nd / sizeof nd[0]; i++)
			if (strcmp(nd[i].spark, elem) == 0)
				return nd[i].ours;
		return "json";
	}
	if (strcmp(t, "map") == 0 || strcmp(t, "struct") == 0)
		return "json";
	for (i = 0; i < sizeof m / sizeof m[0]; i++)
		if (strcmp(m[i].spark, t) == 0)
			return m[i].ours;
	return NULL;
}

/* Lower-case the leading identifier of s into buf (type names like "decimal(10,2)"
 * or "array<float>" keep only their head); *rest points past it. */
static void type_head(const char *s, char *buf, size_t n, const char **rest)
{
	size_t k = 0;
	while (*s == ' ')
		s++;
	while (*s && (((*s | 32) >= 'a' && (*s | 32) <= 'z') || (*s >= '0' && *s <= '9') || *s == '_') && k + 1 < n)
		buf[k++] = (char)(*s >= 'A' && *s <= 'Z' ? *s++ | 32 : *s++);	/* '_' | 32 is DEL */
	buf[k] = 0;
	if (rest)
		*rest = s;
}

static int add_col(struct shard_buf *out, const char *name, size_t nlen, const char *type, int nullable,
		   struct shard_error *err)
{
	size_t i;
	int rc = 0;
	if (!nlen)
		return shard_error_set(err, SHARD_EARG, "a column without a name");
	if (out->len)
		rc |= shard_buf_putc(out, ',');
	if (strcspn(name, ",:=`") < nlen || name[0] == ' ') {
		/* in backquotes, as shard_colspec_parse reads them */
		rc |= shard_buf_putc(out, '`');
		for (i = 0; i < nlen; i++)
			rc |= (name[i] == '`' && shard_buf_putc(out, '`')) || shard_buf_putc(out, name[i]);
		rc |= shard_buf_putc(out, '`');
	} else {
		rc |= shard_buf_append(out, name, nlen);
	}
	rc |= shard_buf_putc(out, ':') || shard_buf_append(out, type, strlen(type)) || (nullable && shard_buf_putc(out, '?'));
	return rc ? shard_error_set(err, SHARD_ENOMEM, "out of memory") : 0;
}

/* A Spark type as a shard-convert type into buf: the head's mapping, with a
 * decimal's precision and scale from the text after its head. */
static const char *spark_type_full(const char *head, const char *elem, const char *after, char *buf, size_t n)
{
	const char *t = spark_type(head, elem);
	int p = 10, sc = 0;
	if (!t || strcmp(t, "decimal"))
		return t;
	while (*after == ' ')
		after++;
	if (*after == '(' && sscanf(after, "(%d , %d", &p, &sc) < 1)
		p = 10;
	snprintf(buf, n, "decimal(%d,%d)", p, sc);
	return buf;
}

static int from_spark_json(const char *text, struct shard_buf *out, struct shard_error *err)
{
	json_error_t je;
	json_t *o = json_loads(text, 0, &je), *fields;
	size_t i;
	int rc = 0;
	if (!o)
		return shard_error_set(err, SHARD_EARG, "Spark schema JSON: %s (line %d)", je.text, je.line);
	fields = json_object_get(o, "fields");
	if (!json_is_array(fields)) {
		json_decref(o);
		return shard_error_set(err, SHARD_EARG, "Spark schema JSON: no \"fields\" list (expected df.schema.json())");
	}
	for (i = 0; i < json_array_size(fields) && !rc; i++) {
		json_t *f = json_array_get(fields, i), *t = json_object_get(f, "type");
		const char *name = json_string_value(json_object_get(f, "name")), *ours, *after = "";
		char head[64], elem[64] = "", full[64];
		if (!name)
			rc = shard_error_set(err, SHARD_EARG, "Spark schema JSON: field %zu has no name", i);
		else {
			if (json_is_string(t)) {
				type_head(json_string_value(t), head, sizeof head, &after);
			} else if (json_is_object(t)) {
				type_head(json_string_value(json_object_get(t, "type")) ? json_string_value(json_object_get(t, "type")) : "",
					  head, sizeof head, NULL);
				if (json_is_string(json_object_get(t, "elementType")))
					type_head(json_string_value(json_object_get(t, "elementType")), elem, sizeof elem, NULL);
			} else {
				head[0] = 0;
			}
			ours = spark_type_full(head, elem[0] ? elem : NULL, after, full, sizeof full);
			if (!ours)
				rc = shard_error_set(err, SHARD_EARG, "Spark schema: column '%s': type '%s' has no MDS encoding",
						     name, head);
			else	/* Spark writes "nullable" for every field; absent means nullable */
				rc = add_col(out, name, strlen(name), ours,
					     !json_is_false(json_object_get(f, "nullable")), err);
		}
	}
	json_decref(o);
	return rc;
}

/* "id BIGINT, tags ARRAY<FLOAT>, price DECIMAL(10,2) NOT NULL, `odd name` STRING COMMENT 'x'" */
static int from_spark_ddl(const char *s, struct shard_buf *out, struct shard_error *err)
{
	while (*s) {
		const char *name, *p, *rest;
		size_t nlen;
		char head[64], elem[64] = "";
		const char *ours;
		char full[64], qname[1024];
		int depth = 0, rc, notnull = 0;
		while (*s == ' ' || *s == ',' || *s == '\n' || *s == '\t')
			s++;
		if (!*s)
			break;
		if (*s == '`') {
			/* `name`, a backquote in it doubled */
			nlen = 0;
			for (s++; *s && !(*s == '`' && s[1] != '`'); s++) {
				if (*s == '`')
					s++;
				if (nlen + 1 < sizeof qname)
					qname[nlen++] = *s;
			}
			if (!*s)
				return shard_error_set(err, SHARD_EARG, "Spark DDL: a backquote that is not closed");
			s++;
			qname[nlen] = 0;
			name = qname;
		} else {
			name = s;
			while (*s && *s != ' ' && *s != ':' && *s != ',')
				s++;
			nlen = (size_t)(s - name);
		}
		while (*s == ' ' || *s == ':')
			s++;
		type_head(s, head, sizeof head, &rest);
		if (!head[0])
			return shard_error_set(err, SHARD_EARG, "Spark DDL: column '%.*s' has no type", (int)nlen, name);
		if (*rest == '<')
			type_head(rest + 1, elem, sizeof elem, NULL);
		ours = spark_type_full(head, elem[0] ? elem : NULL, rest, full, sizeof full);
		if (!ours)
			return shard_error_set(err, SHARD_EARG, "Spark DDL: column '%.*s': type '%s' has no MDS encoding",
					       (int)nlen, name, head);
		/* the rest of this column: parameters, NOT NULL, COMMENT '...' */
		for (p = rest; *p; p++) {
			if (depth == 0 && strncasecmp(p, "not", 3) == 0 && (p == rest || p[-1] == ' ' || p[-1] == '>' ||
									       p[-1] == ')')) {
				const char *q = p + 3;
				while (*q == ' ' || *q == '\t' || *q == '\n')
					q++;
				if (q > p + 3 && strncasecmp(q, "null", 4) == 0 &&
				    (!q[4] || q[4] == ' ' || q[4] == ',' || q[4] == '\n'))
					notnull = 1;
			}
			if (*p == '<' || *p == '(')
				depth++;
			else if (*p == '>' || *p == ')')
				depth--;
			else if (*p == '\'' || *p == '"') {
				char qc = *p;
				for (p++; *p && *p != qc; p++)
					if (*p == '\\' && p[1])
						p++;
				if (!*p)
					break;
			} else if (*p == ',' && depth == 0)
				break;
		}
		if ((rc = add_col(out, name, nlen, ours, !notnull, err)))
			return rc;
		s = p;
	}
	if (!out->len)
		return shard_error_set(err, SHARD_EARG, "Spark DDL: no columns");
	return 0;
}

int shard_schema_from_spark(const char *text, struct shard_buf *out, struct shard_error *err)
{
	const char *p = text;
	out->len = 0;
	while (*p == ' ' || *p == '\n' || *p == '\t')
		p++;
	if (strncasecmp(p, "struct<", 7) == 0) {
		/* df.schema.simpleString(): struct<a:bigint,b:string>, the DDL's
		 * columns in other clothes */
		size_t n = strlen(p);
		char *inner;
		int rc;
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\n' || p[n - 1] == '\t'))
			n--;
		if (n < 8 || p[n - 1] != '>')
			return shard_error_set(err, SHARD_EARG, "'struct<' without its closing '>': pass df.schema.json() or a DDL string");
		if (!(inner = strndup(p + 7, n - 8)))
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
		rc = from_spark_ddl(inner, out, err);
		free(inner);
		if (rc)
			return err->status;
		return shard_buf_putc(out, 0) ? shard_error_set(err, SHARD_ENOMEM, "out of memory") : 0;
	}
	if (*p == '{' ? from_spark_json(p, out, err) : from_spark_ddl(p, out, err))
		return err->status;
	return shard_buf_putc(out, 0) ? shard_error_set(err, SHARD_ENOMEM, "out of memory") : 0;
}

/* ---------------------------------------------------------------- column lists */

int shard_colname_split(const char *s, char sep, char **name, const char **rest, struct shard_error *err)
{
	const char *p = s;
	size_t k = 0;
	char *nm = malloc(strlen(s) + 1);
	if (!nm)
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	if (*p == '`') {
		for (p++;; p++) {
			if (!*p) {
				free(nm);
				return shard_error_set(err, SHARD_EARG, "'%s': a backquote that is not closed", s);
			}
			if (*p == '`') {
				if (p[1] != '`')
					break;
				p++;
			}
			nm[k++] = *p;
		}
		p++;
		if (*p && *p != sep) {
			free(nm);
			return shard_error_set(err, SHARD_EARG, "'%s': '%c' expected after the quoted name", s, sep);
		}
	} else {
		while (*p && *p != sep)
			nm[k++] = *p++;
	}
	nm[k] = 0;
	if (!k) {
		free(nm);
		return shard_error_set(err, SHARD_EARG, "'%s': an empty column name", s);
	}
	*name = nm;
	*rest = *p == sep ? p + 1 : p;
	return 0;
}

void shard_colspec_free(struct shard_colspec *c, size_t n)
{
	size_t i;
	for (i = 0; c && i < n; i++) {
		free(c[i].name);
		free(c[i].type);
	}
	free(c);
}

int shard_colspec_parse(const char *text, int types, struct shard_colspec **out, size_t *n, struct shard_error *err)
{
	struct shard_colspec *c = NULL;
	size_t nc = 0;
	const char *p = text;
	*out = NULL;
	*n = 0;
	while (*p) {
		char *name;
		const char *rest, *q;
		struct shard_colspec *g;
		int depth = 0;
		if (shard_colname_split(p, types ? ':' : ',', &name, &rest, err))
			goto fail;
		if (!(g = realloc(c, (nc + 1) * sizeof *c))) {
			free(name);
			shard_error_set(err, SHARD_ENOMEM, "out of memory");
			goto fail;
		}
		c = g;
		c[nc].name = name;
		c[nc++].type = NULL;
		if (!types) {
			p = rest;
			continue;
		}
		if (rest == p + strlen(p) || rest[-1] != ':' || !*rest) {
			shard_error_set(err, SHARD_EARG, "'%s' is not NAME:TYPE", name);
			goto fail;
		}
		/* the type runs to a comma outside parentheses that is not followed
		 * by a shape dimension (digits up to the next comma or the end) */
		for (q = rest; *q; q++) {
			if (*q == '(' || *q == '<')
				depth++;
			else if ((*q == ')' || *q == '>') && depth)
				depth--;
			else if (*q == ',' && !depth) {
				size_t dl = strspn(q + 1, "0123456789");
				if (!(dl && (q[1 + dl] == ',' || q[1 + dl] == 0 || q[1 + dl] == '?')))
					break;
			}
		}
		if (!(c[nc - 1].type = strndup(rest, (size_t)(q - rest)))) {
			shard_error_set(err, SHARD_ENOMEM, "out of memory");
			goto fail;
		}
		p = *q ? q + 1 : q;
	}
	*out = c;
	*n = nc;
	return 0;
fail:
	shard_colspec_free(c, nc);
	return err->status;
}
