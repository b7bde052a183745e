/* Time zones for timestamp text that carries no offset: the system's zoneinfo
 * files (TZif, RFC 8536) read as untrusted bytes, with the POSIX TZ rule of
 * their footer for instants past the last transition, and fixed offsets. Two
 * mappings come out: UTC -> offset, and local wall clock -> UTC with gaps and
 * overlaps resolved as java.time's ZonedDateTime.of does (Spark's rule).
 *
 * A zone is one table of transitions: the file's own, then the footer rule's
 * for a little over 400 years past them. The Gregorian calendar repeats every
 * 400 years (146097 days, a whole number of weeks), so does the rule, and
 * instants beyond the table fold back into it: every lookup is one binary
 * search, and a handle never changes once made (threads share it freely). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shard.h"
#include "internal.h"

#define CYCLE_SECS (146097LL * 86400)	/* 400 Gregorian years */
#define TIME_LIMIT (1LL << 60)		/* transitions further out are refused */
#define ARG_LIMIT (1LL << 62)		/* arguments are clamped to this */
#define UTOFF_MIN (-89999)		/* RFC 8536's range for an offset */
#define UTOFF_MAX 93599
#define TZIF_MAX (1u << 20)
#define RULE_YEARS 408			/* rule years tabulated: Y0-2 .. Y0+405 */

struct shard_tz {
	char *name;
	size_t n;
	int64_t *at;		/* UTC instants from which off[i] holds, ascending */
	int64_t *lim;		/* the local times from which off[i] holds: at[i] + the larger of
				 * the offsets before and after, so that a gap or an overlap keeps
				 * the offset before (Java's rule); ascending */
	int32_t *off;		/* seconds east of UTC */
	int32_t off0;		/* before at[0] */
	int64_t fold;		/* instants and local times from here on repeat those CYCLE_SECS
				 * earlier (INT64_MAX when nothing repeats) */
};

/* ---------------------------------------------------------------- calendar */

static int64_t floordiv(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

static int is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to January 1 of year y (proleptic Gregorian). */
static int64_t jan1(int64_t y)
{
	int64_t p = y - 1;
	return 365 * (y - 1970) + floordiv(p, 4) - floordiv(p, 100) + floordiv(p, 400) - 477;
}

static int64_t year_of_day(int64_t day)
{
	int64_t y = 1970 + floordiv(day * 400, 146097);
	while (jan1(y) > day)
		y--;
	while (jan1(y + 1) <= day)
		y++;
	return y;
}

/* ---------------------------------------------------------------- POSIX TZ rules */

/* A rule's date: Jn (1-365, February 29 never counted), n (0-365, counted),
 * or Mm.w.d (day d of week w of month m, week 5 the last), and the local
 * time of day of the change, which RFC 8536 lets run from -167 to 167 hours. */
struct rule_date {
	char kind;
	int n, m, w, d;
	int32_t secs;
};

struct rule {
	int32_t std, dst;	/* seconds east of UTC */
	int has_dst;
	struct rule_date start, end;
};

struct cur {
	const char *s;
	size_t n, i;
};

static int peek(const struct cur *c)
{
	return c->i < c->n ? (unsigned char)c->s[c->i] : -1;
}

static int is_alpha(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* A zone abbreviation: three or more letters, or <...> of letters, digits, + and -. */
static int rule_name(struct cur *c)
{
	size_t k = 0;
	if (peek(c) == '<') {
		for (c->i++; is_alpha(peek(c)) || is_digit(peek(c)) || peek(c) == '+' || peek(c) == '-'; c->i++)
			k++;
		if (peek(c) != '>')
			return -1;
		c->i++;
	} else {
		for (; is_alpha(peek(c)); c->i++)
			k++;
	}
	return k >= 3 ? 0 : -1;
}

/* An unsigned number of 1 to maxd digits, at most max. */
static int rule_num(struct cur *c, int maxd, int max, int *v)
{
	int k = 0;
	*v = 0;
	for (; is_digit(peek(c)) && k < maxd; c->i++, k++)
		*v = *v * 10 + (peek(c) - '0');
	return k && *v <= max ? 0 : -1;
}

/* [+|-]hh[:mm[:ss]], hours at most maxh. */
static int rule_hms(struct cur *c, int maxh, int32_t *secs)
{
	int sign = 1, h, m = 0, s = 0;
	if (peek(c) == '+' || peek(c) == '-') {
		sign = peek(c) == '-' ? -1 : 1;
		c->i++;
	}
	if (rule_num(c, maxh > 99 ? 3 : 2, maxh, &h))
		return -1;
	if (peek(c) == ':') {
		c->i++;
		if (rule_num(c, 2, 59, &m))
			return -1;
		if (peek(c) == ':') {
			c->i++;
			if (rule_num(c, 2, 59, &s))
				return -1;
		}
	}
	*secs = sign * (h * 3600 + m * 60 + s);
	return 0;
}

static int rule_date(struct cur *c, struct rule_date *r)
{
	r->secs = 7200;
	if (peek(c) == 'J') {
		c->i++;
		r->kind = 'J';
		if (rule_num(c, 3, 365, &r->n) || r->n < 1)
			return -1;
	} else if (peek(c) == 'M') {
		c->i++;
		r->kind = 'M';
		if (rule_num(c, 2, 12, &r->m) || r->m < 1 || peek(c) != '.')
			return -1;
		c->i++;
		if (rule_num(c, 1, 5, &r->w) || r->w < 1 || peek(c) != '.')
			return -1;
		c->i++;
		if (rule_num(c, 1, 6, &r->d))
			return -1;
	} else {
		r->kind = 'n';
		if (rule_num(c, 3, 365, &r->n))
			return -1;
	}
	if (peek(c) == '/') {
		c->i++;
		return rule_hms(c, 167, &r->secs);
	}
	return 0;
}

/* std offset [dst [offset] [,start[/time],end[/time]]]; POSIX offsets count
 * west of Greenwich. A DST zone without dates gets the US rule, as glibc's
 * default has it. */
static int rule_parse(const char *s, size_t n, struct rule *r)
{
	struct cur c = {s, n, 0};
	int32_t v;
	memset(r, 0, sizeof *r);
	if (rule_name(&c) || rule_hms(&c, 24, &v))
		return -1;
	r->std = -v;
	if (c.i == n)
		return 0;
	if (rule_name(&c))
		return -1;
	r->has_dst = 1;
	r->dst = r->std + 3600;
	if (c.i < n && peek(&c) != ',') {
		if (rule_hms(&c, 24, &v))
			return -1;
		r->dst = -v;
	}
	if (c.i == n) {
		struct cur us = {"M3.2.0,M11.1.0", 14, 0};
		rule_date(&us, &r->start);
		us.i++;
		rule_date(&us, &r->end);
		return 0;
	}
	if (peek(&c) != ',')
		return -1;
	c.i++;
	if (rule_date(&c, &r->start) || peek(&c) != ',')
		return -1;
	c.i++;
	if (rule_date(&c, &r->end))
		return -1;
	return c.i == n ? 0 : -1;
}

/* Days from 1970-01-01 to the date r names in year y. */
static int64_t rule_day(const struct rule_date *r, int64_t y)
{
	static const int before[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
	static const int len[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int64_t first;
	int wd, day, mlen;
	if (r->kind == 'J')
		return jan1(y) + r->n - 1 + (is_leap(y) && r->n >= 60);
	if (r->kind == 'n')
		return jan1(y) + r->n;
	first = jan1(y) + before[r->m - 1] + (is_leap(y) && r->m > 2);
	mlen = len[r->m - 1] + (r->m == 2 && is_leap(y));
	wd = (int)((first % 7 + 11) % 7);	/* 1970-01-01 was a Thursday */
	day = (r->d - wd + 7) % 7 + 7 * (r->w - 1);
	while (day >= mlen)
		day -= 7;
	return first + day;
}

/* ---------------------------------------------------------------- building a zone */

struct change {
	int64_t at;
	int32_t off;
	int seq;
};

static int cmp_change(const void *a, const void *b)
{
	const struct change *x = a, *y = b;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return x->seq - y->seq;
}

static int bad_zone(struct shard_error *err, const char *name, const char *why)
{
	return shard_error_set(err, SHARD_EDATA, "time zone '%s': %s", name, why);
}

int shard_tz_build(struct shard_tz **out, const char *name, const int64_t *at, const int32_t *off, size_t n,
		   int32_t off0, const char *rule, size_t rlen, struct shard_error *err)
{
	struct shard_tz *tz;
	struct change *gen = NULL;
	struct rule r;
	size_t i, ngen = 0, cap;
	int have_rule = 0;

	*out = NULL;
	if (off0 < UTOFF_MIN || off0 > UTOFF_MAX)
		return bad_zone(err, name, "an offset beyond 26 hours");
	for (i = 0; i < n; i++) {
		if (at[i] < -TIME_LIMIT || at[i] > TIME_LIMIT)
			return bad_zone(err, name, "a transition time out of range");
		if (i && at[i] <= at[i - 1])
			return bad_zone(err, name, "transition times out of order");
		if (off[i] < UTOFF_MIN || off[i] > UTOFF_MAX)
			return bad_zone(err, name, "an offset beyond 26 hours");
	}
	if (rlen) {
		if (rule_parse(rule, rlen, &r))
			return shard_error_set(err, SHARD_EDATA, "time zone '%s': bad POSIX TZ rule '%.*s'", name,
					       (int)(rlen > 60 ? 60 : rlen), rule);
		/* glibc's reading too: with no transition, the first type holds throughout */
		have_rule = n > 0;
	}
	if (have_rule) {
		/* the rule's changes from a little before the last transition on */
		int64_t y0 = year_of_day(floordiv(at[n - 1], 86400)), y;
		size_t k;
		int32_t state;
		gen = malloc((2 * RULE_YEARS + 1) * sizeof *gen);
		if (!gen)
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
		if (r.has_dst) {
			for (y = y0 - 2; y < y0 - 2 + RULE_YEARS; y++) {
				gen[ngen].at = rule_day(&r.start, y) * 86400 + r.start.secs - r.std;
				gen[ngen].off = r.dst;
				gen[ngen].seq = (int)ngen;
				ngen++;
				gen[ngen].at = rule_day(&r.end, y) * 86400 + r.end.secs - r.dst;
				gen[ngen].off = r.std;
				gen[ngen].seq = (int)ngen;
				ngen++;
			}
			qsort(gen, ngen, sizeof *gen, cmp_change);
		}
		/* what the rule says just after the last transition, then its changes */
		state = r.std;
		for (k = 0; k < ngen && gen[k].at <= at[n - 1]; k++)
			state = gen[k].off;
		memmove(gen + 1, gen + k, (ngen - k) * sizeof *gen);
		ngen -= k;
		gen[0].at = at[n - 1] + 1;
		gen[0].off = state;
		ngen++;
	}
	cap = n + ngen;
	tz = calloc(1, sizeof *tz);
	if (!tz || !(tz->name = strdup(name)) || !(tz->at = malloc((cap + 1) * sizeof *tz->at)) ||
	    !(tz->lim = malloc((cap + 1) * sizeof *tz->lim)) || !(tz->off = malloc((cap + 1) * sizeof *tz->off))) {
		free(gen);
		shard_tz_free(tz);
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	tz->off0 = off0;
	tz->fold = INT64_MAX;
	/* the changes in order, a later one at the same instant replacing the
	 * earlier; none that keeps the offset as it was */
	for (i = 0; i < cap; i++) {
		int64_t t = i < n ? at[i] : gen[i - n].at;
		int32_t o = i < n ? off[i] : gen[i - n].off;
		if (tz->n && tz->at[tz->n - 1] == t)
			tz->n--;
		if (o != (tz->n ? tz->off[tz->n - 1] : off0)) {
			tz->at[tz->n] = t;
			tz->off[tz->n++] = o;
		}
	}
	for (i = 0; i < tz->n; i++) {
		int32_t before = i ? tz->off[i - 1] : off0;
		tz->lim[i] = tz->at[i] + (before > tz->off[i] ? before : tz->off[i]);
		if (i && tz->lim[i] < tz->lim[i - 1])
			tz->lim[i] = tz->lim[i - 1];
	}
	if (have_rule && r.has_dst) {
		/* the table holds every change up to here, and a whole cycle of the
		 * rule alone just before */
		tz->fold = jan1(year_of_day(floordiv(at[n - 1], 86400)) + 404) * 86400;
	}
	free(gen);
	*out = tz;
	return 0;
}

void shard_tz_free(struct shard_tz *tz)
{
	if (!tz)
		return;
	free(tz->name);
	free(tz->at);
	free(tz->lim);
	free(tz->off);
	free(tz);
}

const char *shard_tz_name(const struct shard_tz *tz)
{
	return tz ? tz->name : "UTC";
}

/* How many of a[0..n) are <= x. */
static size_t count_upto(const int64_t *a, size_t n, int64_t x)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a[mid] <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int64_t clamp(int64_t t)
{
	return t < -ARG_LIMIT ? -ARG_LIMIT : t > ARG_LIMIT ? ARG_LIMIT : t;
}

int32_t shard_tz_offset(const struct shard_tz *tz, int64_t utc)
{
	size_t k;
	if (!tz)
		return 0;
	utc = clamp(utc);
	if (utc >= tz->fold)
		utc -= ((utc - tz->fold) / CYCLE_SECS + 1) * CYCLE_SECS;
	k = count_upto(tz->at, tz->n, utc);
	return k ? tz->off[k - 1] : tz->off0;
}

int64_t shard_tz_to_utc(const struct shard_tz *tz, int64_t local)
{
	int64_t shift = 0;
	size_t k;
	if (!tz)
		return local;
	local = clamp(local);
	if (local >= tz->fold) {
		shift = ((local - tz->fold) / CYCLE_SECS + 1) * CYCLE_SECS;
		local -= shift;
	}
	k = count_upto(tz->lim, tz->n, local);
	return local - (k ? tz->off[k - 1] : tz->off0) + shift;
}

/* ---------------------------------------------------------------- offsets */

int shard_tz_parse_offset(const uint8_t *p, size_t n, int32_t *secs)
{
	int v[3] = {0, 0, 0}, k = 0, colon = n > 3 && p[3] == ':', total;
	size_t i = 1;
	if (n < 3 || (p[0] != '+' && p[0] != '-'))
		return -1;
	for (;;) {
		if (i + 2 > n || !is_digit(p[i]) || !is_digit(p[i + 1]))
			return -1;
		v[k++] = (p[i] - '0') * 10 + (p[i + 1] - '0');
		i += 2;
		if (i == n)
			break;
		if (k == 3 || (colon && p[i++] != ':'))
			return -1;
	}
	total = v[0] * 3600 + v[1] * 60 + v[2];
	if (v[1] > 59 || v[2] > 59 || total > 18 * 3600)
		return -1;
	*secs = p[0] == '-' ? -total : total;
	return 0;
}

/* Z, UTC, GMT, UT, an offset, or UTC/GMT/UT and an offset (as Java's ZoneId.of). */
static int fixed_zone(const char *name, int32_t *off)
{
	static const char *const prefixes[] = {"UTC", "GMT", "UT"};
	size_t i, n = strlen(name);
	*off = 0;
	if (!n)
		return -1;
	if (strcmp(name, "Z") == 0)
		return 0;
	for (i = 0; i < 3; i++) {
		size_t k = strlen(prefixes[i]);
		if (strncmp(name, prefixes[i], k) == 0 && (name[k] == 0 || name[k] == '+' || name[k] == '-')) {
			name += k;
			n -= k;
			break;
		}
	}
	if (!n)
		return 0;
	if (n >= 2 && is_digit(name[1]) && (n == 2 || !is_digit(name[2]))) {
		/* +h[:mm[:ss]], a one-digit hour, as Java takes it */
		char buf[16];
		if (n > 10)
			return -1;
		snprintf(buf, sizeof buf, "%c0%s", name[0], name + 1);
		return shard_tz_parse_offset((const uint8_t *)buf, n + 1, off);
	}
	return shard_tz_parse_offset((const uint8_t *)name, n, off);
}

/* ---------------------------------------------------------------- TZif */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct tzif_head {
	int version;
	uint32_t isut, isstd, leap, time, type, chars;
};

static int tzif_head(const uint8_t *p, size_t n, size_t at, struct tzif_head *h)
{
	if (at > n || n - at < 44 || memcmp(p + at, "TZif", 4))
		return -1;
	h->version = p[at + 4];
	h->isut = be32(p + at + 20);
	h->isstd = be32(p + at + 24);
	h->leap = be32(p + at + 28);
	h->time = be32(p + at + 32);
	h->type = be32(p + at + 36);
	h->chars = be32(p + at + 40);
	return 0;
}

/* Bytes of a data block with tsize-byte times. */
static uint64_t tzif_block(const struct tzif_head *h, unsigned tsize)
{
	return (uint64_t)h->time * (tsize + 1) + (uint64_t)h->type * 6 + h->chars + (uint64_t)h->leap * (tsize + 4) +
	       h->isstd + h->isut;
}

int shard_tz_new_tzif(struct shard_tz **tz, const char *name, const void *data, size_t n, struct shard_error *err)
{
	const uint8_t *p = data, *times, *idx, *types;
	struct tzif_head h;
	size_t pos = 0, i, rlen = 0;
	unsigned tsize = 4;
	const char *rule = NULL;
	int64_t *at = NULL;
	int32_t *off = NULL;
	int rc;

	*tz = NULL;
	if (tzif_head(p, n, 0, &h))
		return bad_zone(err, name, n >= 4 && memcmp(p, "TZif", 4) == 0 ? "a truncated TZif header" : "not a TZif file");
	if (h.version != 0 && h.version < '2')
		return bad_zone(err, name, "an unknown TZif version");
	if (h.version) {
		/* version 2 and later: skip the 32-bit block for the 64-bit one */
		uint64_t skip = tzif_block(&h, 4);
		if (skip > n - 44 || tzif_head(p, n, 44 + (size_t)skip, &h))
			return bad_zone(err, name, "a truncated TZif file");
		if (h.version < '2')
			return bad_zone(err, name, "an unknown TZif version");
		pos = 44 + (size_t)skip;
		tsize = 8;
	}
	pos += 44;
	if (tzif_block(&h, tsize) > n - pos)
		return bad_zone(err, name, "a truncated TZif file");
	if (!h.type || !h.chars || (h.isut && h.isut != h.type) || (h.isstd && h.isstd != h.type))
		return bad_zone(err, name, "inconsistent TZif counts");
	if (h.leap)
		return bad_zone(err, name, "leap seconds (a right/ zone) are not supported");
	times = p + pos;
	idx = times + (size_t)h.time * tsize;
	types = idx + h.time;
	for (i = 0; i < h.type; i++)
		if (types[i * 6 + 4] > 1 || types[i * 6 + 5] >= h.chars)
			return bad_zone(err, name, "a bad local time type");
	pos += (size_t)tzif_block(&h, tsize);
	if (h.version) {
		/* the footer: a POSIX TZ rule between newlines, then nothing */
		const uint8_t *nl;
		if (pos >= n || p[pos] != '\n' || !(nl = memchr(p + pos + 1, '\n', n - pos - 1)))
			return bad_zone(err, name, "no TZif footer");
		rule = (const char *)p + pos + 1;
		rlen = (size_t)(nl - (p + pos + 1));
		if (nl + 1 != p + n)
			return bad_zone(err, name, "bytes after the TZif footer");
		if (memchr(rule, 0, rlen))
			return bad_zone(err, name, "a NUL in the POSIX TZ rule");
	}
	at = malloc((h.time + 1) * sizeof *at);
	off = malloc((h.time + 1) * sizeof *off);
	if (!at || !off) {
		free(at);
		free(off);
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	for (i = 0; i < h.time; i++) {
		const uint8_t *t = times + i * tsize;
		at[i] = tsize == 8 ? (int64_t)((uint64_t)be32(t) << 32 | be32(t + 4)) : (int64_t)(int32_t)be32(t);
		if (idx[i] >= h.type) {
			free(at);
			free(off);
			return bad_zone(err, name, "a transition to a local time type that does not exist");
		}
		off[i] = (int32_t)be32(types + idx[i] * 6);
	}
	rc = shard_tz_build(tz, name, at, off, h.time, (int32_t)be32(types), rule, rlen, err);
	free(at);
	free(off);
	return rc;
}

/* An IANA name: letters, digits, '_', '+', '-', '.' in components joined by
 * '/', none of them '.' or '..', nothing absolute. */
static int region_name(const char *s)
{
	size_t comp = 0, n = strlen(s);
	if (!n || n > 255)
		return 0;
	for (;; s++) {
		if (*s == '/' || !*s) {
			if (!comp)
				return 0;
			if ((comp == 1 && s[-1] == '.') || (comp == 2 && s[-1] == '.' && s[-2] == '.'))
				return 0;
			if (!*s)
				return 1;
			comp = 0;
		} else if (is_alpha(*s) || is_digit(*s) || strchr("_+-.", *s)) {
			comp++;
		} else {
			return 0;
		}
	}
}

int shard_tz_new(struct shard_tz **tz, const char *name, const char *dir, struct shard_error *err)
{
	struct shard_buf b = {0};
	struct stat st;
	char path[4096];
	int32_t off;
	int rc;

	*tz = NULL;
	if (fixed_zone(name, &off) == 0)
		return shard_tz_build(tz, name, NULL, NULL, 0, off, NULL, 0, err);
	if (!dir || !*dir)
		dir = "/usr/share/zoneinfo";
	if (!region_name(name) || strlen(dir) + strlen(name) + 2 > sizeof path)
		return shard_error_set(err, SHARD_EARG, "unknown time zone '%s' (give an IANA name such as "
				       "America/New_York, UTC, or an offset such as +05:30)", name);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return shard_error_set(err, SHARD_EARG, "unknown time zone '%s' (not in %s)", name, dir);
	if (shard_read_file(path, &b, TZIF_MAX, err))
		return err->status;
	if (b.len < 4 || memcmp(b.p, "TZif", 4)) {
		shard_buf_free(&b);
		return shard_error_set(err, SHARD_EARG, "unknown time zone '%s' (%s is not a TZif file)", name, path);
	}
	rc = shard_tz_new_tzif(tz, name, b.p, b.len, err);
	if (rc)
		shard_error_prefix(err, "%s", path);
	shard_buf_free(&b);
	return rc;
}
