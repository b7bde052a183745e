/* Unit tests of libshard's text layer: numbers read and written as text, the CSV
 * reader's faults, time zones (against the C library and java.time's rules),
 * column lists and decimals. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shard.h"
#include "internal.h"

#include "tap.h"

static void test_floats(void)
{
	static const struct { double v; const char *want; } d[] = {
		{0.1, "0.1"}, {100.0, "100.0"}, {1e-05, "1e-05"}, {1e16, "1e+16"}, {123456789012345678.0, "1.2345678901234568e+17"},
		{-0.0, "-0.0"}, {0.0001, "0.0001"}, {1.5, "1.5"}, {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
	};
	static const struct { float v; const char *want; } f[] = {
		{0.1f, "0.1"}, {3.4028235e38f, "3.4028235e+38"}, {1.0f / 3.0f, "0.33333334"}, {16777216.0f, "16777216.0"},
	};
	char buf[64];
	size_t i;

	for (i = 0; i < sizeof d / sizeof d[0]; i++) {
		shard_format_double(d[i].v, buf, sizeof buf);
		CHECK(strcmp(buf, d[i].want) == 0, "double %.17g -> %s, want %s", d[i].v, buf, d[i].want);
	}
	for (i = 0; i < sizeof f / sizeof f[0]; i++) {
		shard_format_float(f[i].v, buf, sizeof buf);
		CHECK(strcmp(buf, f[i].want) == 0, "float %.9g -> %s, want %s", (double)f[i].v, buf, f[i].want);
	}
	shard_format_double(NAN, buf, sizeof buf);
	CHECK(strcmp(buf, "NaN") == 0, "nan -> %s", buf);
	shard_format_double(-INFINITY, buf, sizeof buf);
	CHECK(strcmp(buf, "-Infinity") == 0, "-inf -> %s", buf);
	CHECK(shard_half_to_float(0x3C00) == 1.0f && shard_half_to_float(0xC000) == -2.0f, "half conversion");
}

/* Text to floats: the fast path must agree with strtof/strtod bit for bit. */
static void test_parse_floats(void)
{
	struct shard_coltype f32, f64;
	struct shard_error err;
	struct shard_buf b = {0};
	uint64_t x = 88172645463325252ull;
	int i, bad32 = 0, bad64 = 0;
	char s[64];

	shard_coltype_parse("float32", &f32, &err);
	shard_coltype_parse("float64", &f64, &err);
	for (i = 0; i < 300000; i++) {
		double v;
		float want32, got32;
		double want64, got64;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		v = ((double)(x >> 11) / (double)(1ull << 53) - 0.5) * pow(10.0, (double)((int)(x % 40) - 20));
		snprintf(s, sizeof s, "%.*g", 1 + (int)(x % 17), v);
		want32 = strtof(s, NULL);
		want64 = strtod(s, NULL);
		b.len = 0;
		if (shard_text_to_value(&f32, (const uint8_t *)s, strlen(s), &b, &err) == 0) {
			memcpy(&got32, b.p, 4);
			bad32 += memcmp(&got32, &want32, 4) != 0;
		}
		b.len = 0;
		if (shard_text_to_value(&f64, (const uint8_t *)s, strlen(s), &b, &err) == 0) {
			memcpy(&got64, b.p, 8);
			bad64 += memcmp(&got64, &want64, 8) != 0;
		}
	}
	CHECK(bad32 == 0, "%d float32 parses differ from strtof", bad32);
	CHECK(bad64 == 0, "%d float64 parses differ from strtod", bad64);
	b.len = 0;
	CHECK(shard_text_to_value(&f32, (const uint8_t *)"1e39", 4, &b, &err) != 0, "1e39 accepted as float32");
	CHECK(shard_text_to_value(&f32, (const uint8_t *)"0x1p3", 5, &b, &err) != 0, "hex float accepted");
	CHECK(shard_text_to_value(&f64, (const uint8_t *)"-Infinity", 9, &b, &err) == 0, "-Infinity refused");
	shard_buf_free(&b);
}

/* One delimited field read straight into its value's bytes, as shard-convert's
 * fast path does: the same length and bytes as shard_text_to_value on the
 * field's text, or a refusal where it refuses, whatever follows the field. */
static void test_number_field(void)
{
	static const char *const types[] = {"uint8", "int8", "uint16", "int16", "float16", "uint32",
					    "int32", "float32", "uint64", "int64", "float64"};
	static const char *const odd[] = {"", "-", "+", ".", "1.", ".5", "-.5", "+7", "1e", "1e+", "1e-3", "1E5",
					  "NaN", "Infinity", "-Infinity", "inf", "nan", " 1", "1 ", "0x10", "1e39",
					  "-0", "00000000000000000001", "12345678901234567890", "1.2345678901234567890",
					  "255", "256", "-129", "65536", "4294967296", "9223372036854775808",
					  "-9223372036854775808", "18446744073709551616", "0.00000000001", "1e400",
					  "12345678", "123456789", "0.123456789012", "1,5", "\"1\"", "1\"", "x"};
	static const char tails[] = {',', '\n', '\r', ';', 'x', 0};
	struct shard_coltype t[sizeof types / sizeof types[0]];
	struct shard_buf want = {0};
	struct shard_error err;
	uint64_t x = 0x9E3779B97F4A7C15ull;
	char text[700];
	uint8_t buf[800], got[8];
	size_t k, i, bad = 0, n, tries = 0;

	for (k = 0; k < sizeof types / sizeof types[0]; k++)
		shard_coltype_parse(types[k], &t[k], &err);
	for (i = 0; i < 400000; i++) {
		size_t tail, flen, j;
		ptrdiff_t r;
		int ok;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		k = x % (sizeof types / sizeof types[0]);
		tail = (x >> 40) % sizeof tails;
		if (i < 50 * sizeof odd / sizeof odd[0])
			snprintf(text, sizeof text, "%s", odd[i % (sizeof odd / sizeof odd[0])]);
		else if (i % 1000 == 0) {
			/* past the longest text read: "1e000...", or all digits */
			memset(text, i % 2000 ? '1' : '0', 600);
			text[0] = '1';
			text[1] = i % 2000 ? '1' : 'e';
			text[600] = 0;
		}
		else if (x % 3 == 0)
			snprintf(text, sizeof text, "%lld", (long long)(x >> (x % 64)) * ((x >> 7) % 2 ? -1 : 1));
		else
			snprintf(text, sizeof text, "%.*g", 1 + (int)(x >> 20) % 17,
				 ((double)(x >> 11) / (double)(1ull << 53) - 0.5) *
					 pow(10.0, (double)((int)((x >> 30) % 50) - 25)));
		n = strlen(text);
		memcpy(buf, text, n);
		/* then a delimiter, a line end, other bytes or the input's end */
		for (j = 0; tails[tail] && j < 8; j++)
			buf[n++] = (uint8_t)(j ? "9.5e1,\n"[j - 1] : tails[tail]);
		for (flen = 0; flen < n && buf[flen] != ',' && buf[flen] != '\n' && buf[flen] != '\r'; flen++)
			;
		want.len = 0;
		ok = shard_text_to_value(&t[k], buf, flen, &want, &err) == 0;
		r = shard_number_field(t[k].dtype, ',', buf, buf + n, got);
		tries++;
		if (ok != (r >= 0) || (ok && ((size_t)r != flen || memcmp(got, want.p, want.len) != 0))) {
			if (bad++ < 5)
				fprintf(stderr, "number field '%.*s' as %s: %td, want %s of %zu\n", (int)(n > 60 ? 60 : n),
					(const char *)buf, types[k], r, ok ? "a field" : "a refusal", flen);
		}
	}
	CHECK(bad == 0, "%zu of %zu number fields differ from shard_text_to_value", bad, tries);
	shard_buf_free(&want);
}

/* The CSV reader's faults of the input say where: the record's line and the
 * field at fault, in memory and streaming alike. */
static ssize_t read_mem(void *ctx, void *buf, size_t n, struct shard_error *err)
{
	const char **p = ctx;
	size_t k = strlen(*p) < n ? strlen(*p) : n;
	(void)err;
	memcpy(buf, *p, k);
	*p += k;
	return (ssize_t)k;
}

static void test_csv_faults(void)
{
	static const struct {
		const char *text;
		size_t max_record;
		unsigned long long line;
		size_t field;
		const char *msg;
	} cases[] = {
		{"a,b\n1,\"x\n\ny", 0, 2, 2, "unterminated quoted field (the quote opened on line 2)"},
		{"a,b\n1,2,\"x", 0, 2, 3, "unterminated quoted field (the quote opened on line 2)"},
		{"ab,cd\nefgh,ijklmnop\n", 8, 2, 2, "record longer than 8 bytes"},
		{"ab,cd\n\"efghij\"\"klm\"\n", 8, 2, 1, "record longer than 8 bytes"},
	};
	size_t i;
	int mem;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (mem = 0; mem < 2; mem++) {
			struct shard_csv_opts o;
			struct shard_csv *c;
			struct shard_csv_record rec;
			struct shard_error err = {0};
			const char *p = cases[i].text;
			int rc;
			shard_csv_opts_default(&o);
			if (cases[i].max_record)
				o.max_record = cases[i].max_record;
			if (mem)
				shard_csv_new_mem(&c, &o, p, strlen(p), &err);
			else
				shard_csv_new(&c, &o, read_mem, &p, &err);
			while ((rc = shard_csv_next(c, &rec, &err)) > 0)
				;
			CHECK(rc < 0 && rec.line == cases[i].line && rec.bad_field == cases[i].field &&
				      strcmp(err.msg, cases[i].msg) == 0,
			      "csv case %zu (%s): rc %d at %llu:%zu: %s", i, mem ? "memory" : "stream", rc,
			      (unsigned long long)rec.line, rec.bad_field, err.msg);
			/* the error's place says the same */
			CHECK(err.line == cases[i].line && err.column == cases[i].field && err.file[0] == 0 &&
				      err.shard == SHARD_UNKNOWN && err.sample == SHARD_UNKNOWN,
			      "csv case %zu (%s): error at %llu:%llu", i, mem ? "memory" : "stream",
			      (unsigned long long)err.line, (unsigned long long)err.column);
			shard_csv_free(c);
		}
	}
}

/* A JSON object's strict faults carry their byte as the error's column. */
static int scan_none(void *ctx, const char *key, size_t key_at, const uint8_t *val, size_t vlen)
{
	(void)ctx, (void)key, (void)key_at, (void)val, (void)vlen;
	return 0;
}

static void test_json_place(void)
{
	static const char twice[] = "{\"a\": 1, \"a\": 2}";
	struct shard_error err;
	size_t at;

	CHECK(shard_json_object_scan((const uint8_t *)twice, strlen(twice), scan_none, NULL, &at, &err) == SHARD_EDATA &&
		      at == 10 && err.column == 10 && err.line == 0 && strcmp(err.msg, "key \"a\" is in this object already") == 0,
	      "a repeated key: at %zu, column %llu: %s", at, (unsigned long long)err.column, err.msg);
	CHECK(shard_json_object_scan((const uint8_t *)"[1]", 3, scan_none, NULL, &at, &err) == SHARD_EDATA && at == 0 &&
		      err.column == 0 && strcmp(err.msg, "not a JSON object (byte 1)") == 0,
	      "not an object: column %llu: %s", (unsigned long long)err.column, err.msg);
}

static uint32_t rd32be(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* UTC seconds of a civil date and time (timegm is proleptic Gregorian). */
static int64_t utc_of(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = {0};
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	return (int64_t)timegm(&tm);
}

/* glibc's offset at t under the TZ this process set last. */
static int32_t libc_off(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	return (int32_t)tm.tm_gmtoff;
}

/* The process's TZ, to put back after tests that set it. */
static char *tz_env_save(void)
{
	const char *saved = getenv("TZ");
	return saved ? strdup(saved) : NULL;
}

static void tz_env_restore(char *keep)
{
	if (keep)
		setenv("TZ", keep, 1);
	else
		unsetenv("TZ");
	free(keep);
	tzset();
}

/* What ZonedDateTime.of gives for local time L next to one transition at T
 * from offset ob to oa: the earlier of the valid instants, or in a gap L - ob. */
static int64_t java_utc(int64_t L, int64_t T, int32_t ob, int32_t oa)
{
	int before = L - ob < T, after = L - oa >= T;
	if (before && after)
		return L - (ob > oa ? ob : oa);
	return after ? L - oa : L - ob;
}

/* Our zone against glibc's reading of the same TZif file (TZ set in this
 * process only) from 1800 to 2100: every day, each transition to the second,
 * and local times around each transition resolved by Java's rule. */
static void tz_against_libc(struct shard_tz *tz, const char *what, int64_t from, int64_t to)
{
	int64_t t;
	int32_t prev = libc_off(from);
	size_t bad = 0, transitions = 0, tries = 0;
	uint64_t x = 88172645463325252ull;

	for (t = from; t <= to && bad < 10; t += 86400) {
		int32_t o = libc_off(t);
		int64_t u, j = t + (int64_t)((x = x * 6364136223846793005ull + 1442695040888963407ull) >> 47);
		if (o != prev) {
			/* a transition in (t - 1 day, t]: its instant, then around it */
			int64_t lo = t - 86400, hi = t, d;
			transitions++;
			while (hi - lo > 1) {
				int64_t mid = lo + (hi - lo) / 2;
				if (libc_off(mid) == prev)
					lo = mid;
				else
					hi = mid;
			}
			for (d = -3601; d <= 3601; d += d == -2 || d == 1 ? 1 : d < 0 ? 1799 : 1800) {
				tries++;
				if (shard_tz_offset(tz, hi + d) != libc_off(hi + d) && bad++ < 10)
					CHECK(0, "%s: offset at %lld is %d, glibc %d", what, (long long)(hi + d),
					      shard_tz_offset(tz, hi + d), libc_off(hi + d));
			}
			if (libc_off(hi - 2 * 86400) == prev && libc_off(hi + 2 * 86400) == libc_off(hi)) {
				int32_t oa = libc_off(hi);
				int64_t ls[] = {hi + prev - 1, hi + prev, hi + prev + 1, hi + oa - 1, hi + oa, hi + oa + 1,
						hi + (prev + oa) / 2};
				size_t k;
				for (k = 0; k < sizeof ls / sizeof ls[0]; k++) {
					tries++;
					if (shard_tz_to_utc(tz, ls[k]) != java_utc(ls[k], hi, prev, oa) && bad++ < 10)
						CHECK(0, "%s: local %lld next to the transition at %lld (%d to %d) is %lld, "
						      "Java's rule %lld", what, (long long)ls[k], (long long)hi, prev, oa,
						      (long long)shard_tz_to_utc(tz, ls[k]),
						      (long long)java_utc(ls[k], hi, prev, oa));
				}
			}
		}
		prev = o;
		/* a day's instant and one at random in the next 1.5 days */
		tries += 2;
		if ((shard_tz_offset(tz, t) != o || shard_tz_offset(tz, j) != libc_off(j)) && bad++ < 10)
			CHECK(0, "%s: offset at %lld is %d, glibc %d (or at %lld)", what, (long long)t,
			      shard_tz_offset(tz, t), o, (long long)j);
		/* a local time that exists maps back to an instant showing it */
		u = shard_tz_to_utc(tz, j + libc_off(j));
		if ((u > j || u + libc_off(u) != j + libc_off(j)) && bad++ < 10)
			CHECK(0, "%s: local %lld (of %lld) maps to %lld", what, (long long)(j + libc_off(j)), (long long)j,
			      (long long)u);
	}
	CHECK(bad == 0, "%s: %zu of %zu instants differ from glibc", what, bad, tries);
	CHECK(transitions > 0 || strchr(what, '<') || strcmp(what, "Asia/Kolkata"), "%s: no transition seen", what);
}

static void test_tz_zones(void)
{
	static const char *zones[] = {"America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata",
				      "America/Sao_Paulo", "Pacific/Apia", "Europe/Dublin"};
	int64_t from = utc_of(1800, 1, 1, 0, 0, 0), to = utc_of(2100, 1, 1, 0, 0, 0);
	char *keep = tz_env_save();
	size_t i;

	for (i = 0; i < sizeof zones / sizeof zones[0]; i++) {
		struct shard_tz *tz;
		struct shard_error err;
		char spec[64];
		if (shard_tz_new(&tz, zones[i], NULL, &err)) {
			CHECK(0, "%s: %s", zones[i], err.msg);
			continue;
		}
		snprintf(spec, sizeof spec, ":%s", zones[i]);
		setenv("TZ", spec, 1);
		tzset();
		tz_against_libc(tz, zones[i], from, to);
		shard_tz_free(tz);
	}
	tz_env_restore(keep);
}

/* POSIX TZ rules alone (a zone whose only transition is at the big bang, so
 * the rule holds throughout) against glibc given the same rule as TZ, from
 * 1970 (glibc computes a rule's changes before 1970 as if in 1970). */
static void test_tz_rules(void)
{
	static const char *rules[] = {
		"EST5EDT,M3.2.0,M11.1.0", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", "IST-1GMT0,M10.5.0,M3.5.0/1",
		"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", "CET-1CEST,J60/2,J300/3", "AAA3BBB,10/0,300/23",
		"<+0330>-3:30", "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45", "XXX-2YYY,M3.5.4/26,M10.5.5/1",
		"EST5EDT,M3.2.0/-30,M11.1.0/50", "NZST-12NZDT,M9.5.0,M4.1.0/3", "<-04>4<-03>,M9.1.6/24,M4.1.6/24",
	};
	/* rules whose DST runs over New Year, where glibc looks at one year's
	 * changes only: the offsets RFC 8536 means, at UTC instants */
	static const struct { const char *rule; int y, mo, d, h, mi; int32_t off; } edges[] = {
		/* DST all year: from January 1 00:00 to December 31 24:00 + 1 hour */
		{"EST5EDT,0/0,J365/25", 2023, 12, 31, 23, 59, -14400}, {"EST5EDT,0/0,J365/25", 2024, 1, 1, 4, 30, -14400},
		{"EST5EDT,0/0,J365/25", 2024, 1, 1, 5, 30, -14400}, {"EST5EDT,0/0,J365/25", 2024, 7, 1, 0, 0, -14400},
		/* day 364 (from 0) ends it: December 31, or December 30 in a leap year */
		{"AAA3BBB,0/0,364/23", 2024, 1, 1, 0, 30, -7200}, {"AAA3BBB,0/0,364/23", 2024, 1, 1, 2, 0, -10800},
		{"AAA3BBB,0/0,364/23", 2024, 1, 1, 3, 0, -7200}, {"AAA3BBB,0/0,364/23", 2024, 12, 31, 0, 30, -7200},
		{"AAA3BBB,0/0,364/23", 2024, 12, 31, 1, 0, -10800}, {"AAA3BBB,0/0,364/23", 2025, 1, 1, 2, 59, -10800},
		{"<-0230>2:30<-0130>1:30,J1/0,J365/23:59:59", 2024, 1, 1, 1, 29, -5400},
		{"<-0230>2:30<-0130>1:30,J1/0,J365/23:59:59", 2024, 1, 1, 1, 30, -9000},
		{"<-0230>2:30<-0130>1:30,J1/0,J365/23:59:59", 2024, 1, 1, 2, 30, -5400},
	};
	int64_t from = utc_of(1970, 1, 1, 0, 0, 0), to = utc_of(2100, 1, 1, 0, 0, 0), big = -(1LL << 59);
	char *keep = tz_env_save();
	size_t i;

	for (i = 0; i < sizeof rules / sizeof rules[0]; i++) {
		struct shard_tz *tz;
		struct shard_error err;
		int32_t off0;
		/* the standard offset: POSIX counts it west */
		setenv("TZ", rules[i], 1);
		tzset();
		off0 = (int32_t)-timezone;
		if (shard_tz_build(&tz, rules[i], &big, &off0, 1, off0, rules[i], strlen(rules[i]), &err)) {
			CHECK(0, "%s: %s", rules[i], err.msg);
			continue;
		}
		tz_against_libc(tz, rules[i], from, to);
		/* far out, the rule repeats every 400 years */
		CHECK(shard_tz_offset(tz, utc_of(2024, 7, 1, 12, 0, 0) + 146097LL * 86400 * 1000) ==
			      shard_tz_offset(tz, utc_of(2024, 7, 1, 12, 0, 0)),
		      "%s: no 400-year cycle", rules[i]);
		shard_tz_free(tz);
	}
	for (i = 0; i < sizeof edges / sizeof edges[0]; i++) {
		struct shard_tz *tz;
		struct shard_error err;
		int32_t std = i < 4 ? -18000 : i < 10 ? -10800 : -9000;
		int64_t t = utc_of(edges[i].y, edges[i].mo, edges[i].d, edges[i].h, edges[i].mi, 0);
		if (shard_tz_build(&tz, edges[i].rule, &big, &std, 1, std, edges[i].rule, strlen(edges[i].rule), &err)) {
			CHECK(0, "%s: %s", edges[i].rule, err.msg);
			continue;
		}
		CHECK(shard_tz_offset(tz, t) == edges[i].off, "%s: offset at %04d-%02d-%02dT%02d:%02dZ is %d, not %d",
		      edges[i].rule, edges[i].y, edges[i].mo, edges[i].d, edges[i].h, edges[i].mi, shard_tz_offset(tz, t),
		      edges[i].off);
		shard_tz_free(tz);
	}
	tz_env_restore(keep);
}

/* Gaps and overlaps resolved as ZonedDateTime.of does, on known cases. */
static void test_tz_java_rule(void)
{
	static const struct {
		const char *zone;
		int y, mo, d, h, mi, s;		/* local */
		int64_t want;			/* UTC, as utc_of below */
		int wy, wmo, wd, wh, wmi, ws;
	} cases[] = {
		/* a gap: 02:30 does not exist and becomes 03:30 EDT */
		{"America/New_York", 2024, 3, 10, 2, 30, 0, 0, 2024, 3, 10, 7, 30, 0},
		{"America/New_York", 2024, 3, 10, 2, 0, 0, 0, 2024, 3, 10, 7, 0, 0},
		{"America/New_York", 2024, 3, 10, 3, 0, 0, 0, 2024, 3, 10, 7, 0, 0},
		/* an overlap: 01:30 happens twice; the earlier, EDT */
		{"America/New_York", 2024, 11, 3, 1, 30, 0, 0, 2024, 11, 3, 5, 30, 0},
		{"America/New_York", 2024, 11, 3, 2, 0, 0, 0, 2024, 11, 3, 7, 0, 0},
		/* local mean time before 1883 */
		{"America/New_York", 1850, 6, 1, 12, 0, 0, 0, 1850, 6, 1, 16, 56, 2},
		/* after the file's transitions, the footer's rule; and far out */
		{"America/New_York", 2099, 3, 8, 2, 30, 0, 0, 2099, 3, 8, 7, 30, 0},
		{"America/New_York", 2731, 11, 1, 1, 30, 0, 0, 2731, 11, 1, 5, 30, 0},
		/* half-hour DST: a 30-minute gap and overlap */
		{"Australia/Lord_Howe", 2024, 10, 6, 2, 15, 0, 0, 2024, 10, 5, 15, 45, 0},
		{"Australia/Lord_Howe", 2024, 4, 7, 1, 45, 0, 0, 2024, 4, 6, 14, 45, 0},
		/* a whole day skipped: 2011-12-30 is shifted on by the gap's 24 hours */
		{"Pacific/Apia", 2011, 12, 30, 12, 0, 0, 0, 2011, 12, 30, 22, 0, 0},
		/* negative DST: IST in summer is standard time, GMT in winter DST */
		{"Europe/Dublin", 2024, 3, 31, 1, 30, 0, 0, 2024, 3, 31, 1, 30, 0},
		{"Europe/Dublin", 2024, 10, 27, 1, 30, 0, 0, 2024, 10, 27, 0, 30, 0},
		/* a gap at midnight */
		{"America/Sao_Paulo", 2018, 11, 4, 0, 30, 0, 0, 2018, 11, 4, 3, 30, 0},
		{"Asia/Kolkata", 2024, 1, 1, 0, 0, 0, 0, 2023, 12, 31, 18, 30, 0},
		{"+05:30", 2024, 1, 1, 0, 0, 0, 0, 2023, 12, 31, 18, 30, 0},
		{"UTC-03", 2024, 1, 1, 0, 0, 0, 0, 2024, 1, 1, 3, 0, 0},
		{"GMT+5", 2024, 1, 1, 0, 0, 0, 0, 2023, 12, 31, 19, 0, 0},
		{"Etc/GMT+5", 2024, 1, 1, 0, 0, 0, 0, 2024, 1, 1, 5, 0, 0},
		{"Z", 2024, 1, 1, 0, 0, 0, 0, 2024, 1, 1, 0, 0, 0},
	};
	static const char *refused[] = {"Mars/Olympus", "../etc/passwd", "/etc/localtime", "America/../UTC",
					"", "+18:01", "+5:3", "UTC+", "America", "zone1970.tab"};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct shard_tz *tz;
		struct shard_error err;
		int64_t local, want, got;
		if (shard_tz_new(&tz, cases[i].zone, NULL, &err)) {
			CHECK(0, "%s: %s", cases[i].zone, err.msg);
			continue;
		}
		local = utc_of(cases[i].y, cases[i].mo, cases[i].d, cases[i].h, cases[i].mi, cases[i].s);
		want = utc_of(cases[i].wy, cases[i].wmo, cases[i].wd, cases[i].wh, cases[i].wmi, cases[i].ws);
		got = shard_tz_to_utc(tz, local);
		CHECK(got == want, "%s: local %04d-%02d-%02dT%02d:%02d is %lld s from the expected instant",
		      cases[i].zone, cases[i].y, cases[i].mo, cases[i].d, cases[i].h, cases[i].mi,
		      (long long)(got - want));
		shard_tz_free(tz);
	}
	for (i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		struct shard_tz *tz;
		struct shard_error err;
		CHECK(shard_tz_new(&tz, refused[i], NULL, &err) == SHARD_EARG && !tz && strstr(err.msg, refused[i]),
		      "zone '%s' not refused as unknown: %s", refused[i], err.msg);
	}
}

/* TZif files as untrusted bytes: every truncation, and each kind of damage,
 * refused with the zone's name; timestamps take offsets with seconds. */
static void test_tz_tzif(void)
{
	struct shard_buf b = {0}, out = {0};
	struct shard_error err;
	struct shard_tz *tz;
	struct shard_coltype ts, ntz;
	size_t i, accepted = 0;
	int rc;
	static const struct { const char *text; int64_t us; } stamps[] = {
		{"1850-06-01T12:00:00-04:56:02", -3773718238000000LL}, {"1850-06-01T12:00:00-045602", -3773718238000000LL},
		{"2024-01-02T03:04:05+01", 1704161045000000LL}, {"2024-01-02T03:04:05+0100", 1704161045000000LL},
		{"2024-01-02T03:04:05.5+18:00", 1704099845500000LL}, {"2024-01-02T03:04:05-18:00", 1704229445000000LL},
		{"2024-03-10 02:30:00", 1710055800000000LL}, {"2024-03-10", 1710046800000000LL},
	};
	static const char *bad_stamps[] = {"2024-01-02T03:04:05+18:00:01", "2024-01-02T03:04:05+19",
					   "2024-01-02T03:04:05+01:0030", "2024-01-02T03:04:05+0100:00",
					   "2024-01-02T03:04:05+01:", "2024-01-02T03:04:05+1", "2024-01-02T03:04:05+01:60",
					   "2024-01-02T03:04:05Z+01"};

	CHECK(shard_read_file("/usr/share/zoneinfo/America/New_York", &b, 1 << 20, &err) == 0, "%s", err.msg);
	for (i = 0; i < b.len; i++) {
		rc = shard_tz_new_tzif(&tz, "Trunc/Zone", b.p, i, &err);
		accepted += rc == 0;
		CHECK(rc == SHARD_EDATA && !tz && strstr(err.msg, "'Trunc/Zone'"), "a TZif file cut at %zu: %d %s", i, rc,
		      err.msg);
		shard_tz_free(tz);
	}
	CHECK(accepted == 0, "%zu truncations accepted", accepted);
	{
		/* the 64-bit block's header, and its first transition's type index */
		const uint8_t *h2 = memmem(b.p + 4, b.len - 4, "TZif", 4);
		size_t at2 = h2 ? (size_t)(h2 - b.p) : 0, first = at2 + 44 + 8 * (size_t)(h2 ? rd32be(h2 + 32) : 0);
		const struct { size_t at; uint8_t byte; const char *msg; } damage[] = {
			{0, 'X', "not a TZif file"}, {4, '1', "unknown TZif version"}, {at2 + 4, '1', "unknown TZif version"},
			{at2 + 31, 1, "leap seconds"}, {at2 + 39, 0, "inconsistent TZif counts"},
			{at2 + 43, 0, "inconsistent TZif counts"}, {at2 + 35, 0xff, "truncated"},
			{first, 0xff, "does not exist"}, {at2 + 44, 0x7f, "out of range"}, {at2 + 44 + 8 + 4, 0, "out of order"},
		};
		CHECK(h2 != NULL, "no 64-bit block");
		for (i = 0; h2 && i < sizeof damage / sizeof damage[0]; i++) {
			struct shard_buf c = {0};
			shard_buf_append(&c, b.p, b.len);
			c.p[damage[i].at] = damage[i].byte;
			rc = shard_tz_new_tzif(&tz, "Bad/Zone", c.p, c.len, &err);
			CHECK(rc == SHARD_EDATA && strstr(err.msg, "'Bad/Zone'") && strstr(err.msg, damage[i].msg),
			      "damage %zu (%s): %d %s", i, damage[i].msg, rc, err.msg);
			shard_tz_free(rc ? NULL : tz);
			shard_buf_free(&c);
		}
	}
	{
		/* junk after the footer, and a footer rule that does not parse */
		struct shard_buf c = {0};
		shard_buf_append(&c, b.p, b.len);
		shard_buf_append(&c, "x", 1);
		CHECK(shard_tz_new_tzif(&tz, "Bad/Zone", c.p, c.len, &err) == SHARD_EDATA && strstr(err.msg, "after"),
		      "junk after the footer: %s", err.msg);
		c.len = b.len - 1;
		while (c.len && c.p[c.len - 1] != '\n')
			c.len--;
		shard_buf_append(&c, "EST5EDT,M13.2.0,M11.1.0\n", 24);
		CHECK(shard_tz_new_tzif(&tz, "Bad/Zone", c.p, c.len, &err) == SHARD_EDATA && strstr(err.msg, "M13"),
		      "a bad footer rule: %s", err.msg);
		shard_buf_free(&c);
	}
	CHECK(shard_tz_new_tzif(&tz, "America/New_York", b.p, b.len, &err) == 0, "%s", err.msg);
	shard_coltype_parse("timestamp", &ts, &err);
	shard_coltype_parse("timestamp_ntz", &ntz, &err);
	ts.tz = ntz.tz = tz;
	CHECK(ts.ltype == SHARD_LT_TIMESTAMP && !ts.ntz && ntz.ltype == SHARD_LT_TIMESTAMP && ntz.ntz,
	      "timestamp_ntz not a timestamp of its own kind");
	for (i = 0; i < sizeof stamps / sizeof stamps[0]; i++) {
		out.len = 0;
		rc = shard_text_to_value(&ts, (const uint8_t *)stamps[i].text, strlen(stamps[i].text), &out, &err);
		CHECK(rc == 0 && out.len == 8 && (int64_t)rd64(out.p) == stamps[i].us, "%s: %s %lld", stamps[i].text,
		      rc ? err.msg : "", rc ? 0LL : (long long)rd64(out.p));
	}
	for (i = 0; i < sizeof bad_stamps / sizeof bad_stamps[0]; i++) {
		out.len = 0;
		CHECK(shard_text_to_value(&ts, (const uint8_t *)bad_stamps[i], strlen(bad_stamps[i]), &out, &err) != 0,
		      "%s accepted", bad_stamps[i]);
	}
	/* TIMESTAMP_NTZ: the wall clock as if in UTC whatever the zone; no offset */
	out.len = 0;
	rc = shard_text_to_value(&ntz, (const uint8_t *)"2024-03-10T02:30:00", 19, &out, &err);
	CHECK(rc == 0 && (int64_t)rd64(out.p) == 1710037800000000LL, "ntz: %s", err.msg);
	CHECK(shard_text_to_value(&ntz, (const uint8_t *)"2024-03-10T02:30:00Z", 20, &out, &err) != 0 &&
		      strstr(err.msg, "without an offset"),
	      "ntz took an offset: %s", err.msg);
	shard_tz_free(tz);
	shard_buf_free(&b);
	shard_buf_free(&out);
}

/* Column lists: backquoted names, shapes and decimal parameters kept in
 * their type; Spark schemas back as such lists, nullability included. */
static void test_colspec(void)
{
	static const struct {
		const char *text;
		int types;
		const char *want;	/* name|type;name|type;... */
	} cases[] = {
		{"a:int32,b:str?", 1, "a|int32;b|str?"},
		{"x:ndarray:float32:2,3,y:int8", 1, "x|ndarray:float32:2,3;y|int8"},
		{"x:ndarray:float32:2,3?", 1, "x|ndarray:float32:2,3?"},
		{"p:decimal(10,2)?,q:bool", 1, "p|decimal(10,2)?;q|bool"},
		{"`a:b`:int32,`c,d`:str,`e``f`:date", 1, "a:b|int32;c,d|str;e`f|date"},
		{"a,`b,c`,d", 0, "a|;b,c|;d|"},
	};
	static const char *const bad[] = {"a", "a:", "`a:int32", "`a`b:int32", ":int32"};
	static const struct {
		const char *spark, *want;
	} spark[] = {
		{"id BIGINT NOT NULL, s STRING, p DECIMAL(10,2)", "id:int64,s:str?,p:decimal(10,2)?"},
		{"struct<id:bigint,t:timestamp>", "id:int64?,t:timestamp?"},
		{"`a:b` INT, `c``d` INT not  null", "`a:b`:int32?,`c``d`:int32"},
		{"{\"type\":\"struct\",\"fields\":[{\"name\":\"x,y\",\"type\":\"decimal(5,1)\",\"nullable\":false},"
		 "{\"name\":\"z\",\"type\":\"double\",\"nullable\":true}]}", "`x,y`:decimal(5,1),z:float64?"},
	};
	size_t i, j;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct shard_colspec *c;
		struct shard_error err = {0};
		struct shard_buf got = {0};
		size_t n;
		int rc = shard_colspec_parse(cases[i].text, cases[i].types, &c, &n, &err);
		for (j = 0; rc == 0 && j < n; j++)
			shard_buf_printf(&got, "%s%s|%s", j ? ";" : "", c[j].name, c[j].type ? c[j].type : "");
		shard_buf_putc(&got, 0);
		CHECK(rc == 0 && strcmp((char *)got.p, cases[i].want) == 0, "colspec '%s': %s", cases[i].text,
		      rc ? err.msg : (char *)got.p);
		shard_buf_free(&got);
		if (rc == 0)
			shard_colspec_free(c, n);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct shard_colspec *c;
		struct shard_error err = {0};
		size_t n;
		CHECK(shard_colspec_parse(bad[i], 1, &c, &n, &err) != 0, "colspec '%s' accepted", bad[i]);
	}
	for (i = 0; i < sizeof spark / sizeof spark[0]; i++) {
		struct shard_buf out = {0};
		struct shard_error err = {0};
		int rc = shard_schema_from_spark(spark[i].spark, &out, &err);
		CHECK(rc == 0 && strcmp((char *)out.p, spark[i].want) == 0, "spark '%s': %s", spark[i].spark,
		      rc ? err.msg : (char *)out.p);
		shard_buf_free(&out);
	}
}

/* decimal(P,S): what fits, and fills written with S fraction digits. */
static void test_decimal(void)
{
	static const struct {
		const char *type, *text, *scaled;	/* scaled NULL: refused */
	} cases[] = {
		{"decimal(10,2)", "0", "0.00"},		{"decimal(10,2)", "-1.5", "-1.50"},
		{"decimal(10,2)", "1E-2", "0.01"},	{"decimal(10,2)", "12345678.99", "12345678.99"},
		{"decimal(10,2)", "123456789.9", NULL}, {"decimal(10,2)", "0.001", NULL},
		{"decimal(10,2)", "0.0100", "0.01"},	{"decimal(5,0)", "1.2E+3", "1200"},
		{"decimal(3,3)", ".5", "0.500"},	{"decimal(10,2)", "1e", NULL},
		{"decimal(10,2)", "abc", NULL},		{"decimal(10,2)", "-0", "0.00"},
	};
	size_t i;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct shard_coltype t;
		struct shard_buf out = {0};
		struct shard_error err = {0};
		int rc;
		CHECK(shard_coltype_parse(cases[i].type, &t, &err) == 0, "%s: %s", cases[i].type, err.msg);
		rc = shard_decimal_scaled(&t, cases[i].text, &out, &err);
		shard_buf_putc(&out, 0);
		if (cases[i].scaled)
			CHECK(rc == 0 && strcmp((char *)out.p, cases[i].scaled) == 0, "%s %s: %s", cases[i].type,
			      cases[i].text, rc ? err.msg : (char *)out.p);
		else
			CHECK(rc != 0, "%s %s accepted as %s", cases[i].type, cases[i].text, (char *)out.p);
		shard_buf_free(&out);
	}
	{
		struct shard_coltype t;
		struct shard_error err;
		CHECK(shard_coltype_parse("decimal(39,2)", &t, &err) != 0, "decimal(39,2) accepted");
		CHECK(shard_coltype_parse("decimal(2,3)", &t, &err) != 0, "decimal(2,3) accepted");
		CHECK(shard_coltype_parse("decimal(10,2", &t, &err) != 0, "decimal(10,2 accepted");
	}
}

int main(void)
{
	static const struct tap_case cases[] = {
		TAP(test_colspec),
		TAP(test_decimal),
		TAP(test_floats),
		TAP(test_parse_floats),
		TAP(test_number_field),
		TAP(test_csv_faults),
		TAP(test_json_place),
		TAP(test_tz_zones),
		TAP(test_tz_rules),
		TAP(test_tz_java_rule),
		TAP(test_tz_tzif),
		{0},
	};
	return tap_run(cases);
}
