/* Unit tests for libshard: codecs, hashes, encodings and their text forms, the
 * MDS layout (the reference's worked example, byte for byte) and the writer's split rule. */
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

static void test_codecs(void)
{
	static const char *names[] = {"zstd", "zstd:19", "gz", "gz:1", "bz2", "bz2:1", "br", "br:0", "snappy"};
	struct shard_buf src = {0}, z = {0}, d = {0};
	struct shard_error err;
	struct shard_codec c;
	size_t i;

	for (i = 0; i < 100000; i++)
		shard_buf_printf(&src, "%zu,", i * 7919 % 1000);
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		CHECK(shard_codec_parse(names[i], &c, &err) == 0, "parse %s: %s", names[i], err.msg);
		CHECK(shard_compress(&c, src.p, src.len, &z, &err) == 0, "compress %s: %s", names[i], err.msg);
		CHECK(z.len < src.len, "%s did not compress", names[i]);
		CHECK(shard_decompress(&c, z.p, z.len, src.len, &d, &err) == 0, "decompress %s: %s", names[i], err.msg);
		CHECK(d.len == src.len && memcmp(d.p, src.p, d.len) == 0, "%s round trip differs", names[i]);
		/* a cap below the true size is refused: bombs and lying indexes */
		CHECK(shard_decompress(&c, z.p, z.len, src.len - 1, &d, &err) != 0, "%s cap not enforced", names[i]);
		/* truncated input is an error, not a short result */
		CHECK(shard_decompress(&c, z.p, z.len / 2, src.len, &d, &err) != 0, "%s truncation not caught", names[i]);
	}
	CHECK(shard_codec_parse("zstd:23", &c, &err) != 0, "zstd:23 accepted");
	CHECK(shard_codec_parse("snappy:1", &c, &err) != 0, "snappy:1 accepted");
	CHECK(shard_codec_parse("lz4", &c, &err) != 0, "lz4 accepted");
	/* zstd frames carry their content size (python-zstd needs it) */
	shard_codec_parse("zstd", &c, &err);
	shard_compress(&c, src.p, src.len, &z, &err);
	CHECK(z.len > 6 && (z.p[4] & 0xC0) != 0, "zstd frame lacks a content size field");
	shard_buf_free(&src);
	shard_buf_free(&z);
	shard_buf_free(&d);
}

static void test_hashes(void)
{
	static const struct { const char *algo, *hex; } v[] = {
		{"md5", "900150983cd24fb0d6963f7d28e17f72"},
		{"sha1", "a9993e364706816aba3e25717850c26c9cd0d89d"},
		{"sha256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"sha3_256", "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"},
		{"blake2s", "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982"},
		{"xxh32", "32d153ff"},
		{"xxh64", "44bc2cf5ad770999"},
		{"xxh3_64", "78af5f94892f3950"},
		{"xxh128", "06b05ab6733a618578af5f94892f3950"},
	};
	struct shard_error err;
	char hex[160];
	size_t i;

	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		CHECK(shard_hash_hex(v[i].algo, "abc", 3, hex, &err) == 0, "%s: %s", v[i].algo, err.msg);
		CHECK(strcmp(hex, v[i].hex) == 0, "%s(abc) = %s, want %s", v[i].algo, hex, v[i].hex);
	}
	for (i = 0; shard_hash_names[i]; i++)
		CHECK(shard_hash_hex(shard_hash_names[i], "", 0, hex, &err) == 0, "%s: %s", shard_hash_names[i], err.msg);
	CHECK(shard_hash_hex("crc32", "", 0, hex, &err) != 0, "crc32 accepted");
}

/* Past the hasher's 256-byte pieces and 2 KiB look-ahead, in one call or
 * many, and a file info's check: digests from Python's xxhash and hashlib
 * over the same bytes. */
static void test_hash_pieces(void)
{
	static const struct { const char *algo, *hex; } v[] = {
		{"xxh64", "4518290113a812da"},
		{"xxh3_64", "ecb7c110d68c6d75"},
		{"xxh32", "377643ce"},
		{"xxh128", "2a1f2699cf225307ecb7c110d68c6d75"},
		{"sha1", "cf05e89dc8b0ff40fb8f9b7863e8c05e29670be7"},
	};
	enum { N = 100000 };
	static uint8_t buf[N];
	struct shard_error err;
	char hex[160];

	for (size_t i = 0; i < N; i++)
		buf[i] = (uint8_t)(i * 7 + (i >> 13));
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct shard_hasher *h;
		CHECK(shard_hash_hex(v[i].algo, buf, N, hex, &err) == 0 && strcmp(hex, v[i].hex) == 0,
		      "%s of 100000 bytes: %s, want %s", v[i].algo, hex, v[i].hex);
		CHECK(shard_hasher_new(&h, v[i].algo, &err) == 0, "%s: %s", v[i].algo, err.msg);
		for (size_t off = 0, step = 1; off < N; off += step, step = step * 3 + 1)
			shard_hasher_update(h, buf + off, step < N - off ? step : N - off);
		CHECK(shard_hasher_hex(h, hex, &err) == 0 && strcmp(hex, v[i].hex) == 0,
		      "%s of 100000 bytes in pieces: %s, want %s", v[i].algo, hex, v[i].hex);
		shard_hasher_free(h);
	}

	char *names[] = {"sha1", "xxh64"}, *values[] = {(char *)v[4].hex, (char *)v[0].hex};
	struct shard_fileinfo f = {.basename = "s.mds", .bytes = N, .nhashes = 2, .hash_names = names,
				   .hash_values = values};
	CHECK(shard_fileinfo_verify(&f, buf, N, 1, "s.mds", &err) == 0, "good bytes refused: %s", err.msg);
	buf[77777] ^= 1;
	CHECK(shard_fileinfo_verify(&f, buf, N, 1, "s.mds", &err) == SHARD_EDATA &&
	      strstr(err.msg, "s.mds: sha1 mismatch"), "a flipped bit: %s", err.msg);
	CHECK(shard_fileinfo_verify(&f, buf, N, 0, "s.mds", &err) == 0, "sizes only: %s", err.msg);
	buf[77777] ^= 1;
	CHECK(shard_fileinfo_verify(&f, buf, N - 1, 0, "s.mds", &err) == SHARD_EDATA &&
	      strstr(err.msg, "99999 bytes, index says 100000"), "a short file: %s", err.msg);
}

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

static int fmt(const char *enc, const void *p, size_t n, enum shard_text how, char *out, size_t cap)
{
	struct shard_encoding e;
	struct shard_error err;
	struct shard_buf b = {0};
	struct shard_field f = {p, n};
	int rc;
	if (shard_encoding_parse(enc, &e, &err))
		return -1;
	rc = shard_field_format(&e, &f, how, &b, &err);
	snprintf(out, cap, "%.*s", (int)b.len, b.p ? (char *)b.p : "");
	shard_buf_free(&b);
	return rc;
}

static void test_encodings(void)
{
	struct shard_encoding e;
	struct shard_error err;
	char out[256];
	uint8_t nd[64];

	CHECK(shard_encoding_parse("ndarray:int16:3,3,3", &e, &err) == 0 && e.size == 54, "static ndarray size");
	CHECK(shard_encoding_parse("ndarray:int16", &e, &err) == 0 && e.size == 0 && e.dtype == 17, "ndarray dtype");
	CHECK(shard_encoding_parse("ndarray::3", &e, &err) != 0, "ndarray without dtype accepted");
	CHECK(shard_encoding_parse("ndarray:int16:0", &e, &err) != 0, "zero dim accepted");
	CHECK(shard_encoding_parse("float128", &e, &err) != 0, "unknown encoding accepted");

	CHECK(fmt("str", "a\"b\n\x01", 5, SHARD_TEXT_JSON, out, sizeof out) == 0 && strcmp(out, "\"a\\\"b\\n\\u0001\"") == 0,
	      "json str: %s", out);
	CHECK(fmt("str", "\xff", 1, SHARD_TEXT_JSON, out, sizeof out) != 0, "invalid UTF-8 accepted");
	CHECK(fmt("str", "\xed\xa0\x80", 3, SHARD_TEXT_JSON, out, sizeof out) != 0, "surrogate accepted");
	CHECK(fmt("str", "a,b", 3, SHARD_TEXT_CSV, out, sizeof out) == 0 && strcmp(out, "\"a,b\"") == 0, "csv: %s", out);
	CHECK(fmt("str", "a\tb", 3, SHARD_TEXT_TSV, out, sizeof out) == 0 && strcmp(out, "a\\tb") == 0, "tsv: %s", out);
	CHECK(fmt("bytes", "\x00\x01\x02", 3, SHARD_TEXT_JSON, out, sizeof out) == 0 && strcmp(out, "\"AAEC\"") == 0,
	      "bytes: %s", out);
	CHECK(fmt("int", "\xfe\xff\xff\xff\xff\xff\xff\xff", 8, SHARD_TEXT_JSON, out, sizeof out) == 0 &&
	      strcmp(out, "-2") == 0, "int: %s", out);
	CHECK(fmt("int32", "\x01\x00", 2, SHARD_TEXT_JSON, out, sizeof out) != 0, "short int32 accepted");
	CHECK(fmt("str_int", "+007", 4, SHARD_TEXT_JSON, out, sizeof out) == 0 && strcmp(out, "7") == 0, "str_int: %s", out);
	CHECK(fmt("str_float", "inf", 3, SHARD_TEXT_JSON, out, sizeof out) == 0 && strcmp(out, "Infinity") == 0,
	      "str_float: %s", out);
	/* ndarray: dynamic dtype and shape, int16 [[1,2],[3,-4]] */
	memcpy(nd, "\x11\x08\x02\x02\x01\x00\x02\x00\x03\x00\xfc\xff", 12);
	CHECK(fmt("ndarray", nd, 12, SHARD_TEXT_JSON, out, sizeof out) == 0 && strcmp(out, "[[1,2],[3,-4]]") == 0,
	      "ndarray: %s", out);
	CHECK(fmt("ndarray", nd, 11, SHARD_TEXT_JSON, out, sizeof out) != 0, "short ndarray accepted");
	CHECK(fmt("ndarray:int16:2,2", nd + 4, 8, SHARD_TEXT_JSON, out, sizeof out) == 0 &&
	      strcmp(out, "[[1,2],[3,-4]]") == 0, "static ndarray: %s", out);
	CHECK(fmt("json", "{\"a\": [1, 2.50]}", 16, SHARD_TEXT_JSON, out, sizeof out) == 0 &&
	      strcmp(out, "{\"a\":[1,2.50]}") == 0, "json: %s", out);
	CHECK(fmt("json", "[\"\\u65e5 \\ud83d\\ude00\\b\\/\\\"\"]", 29, SHARD_TEXT_JSON, out, sizeof out) == 0 &&
	      strcmp(out, "[\"\xe6\x97\xa5 \xf0\x9f\x98\x80\\u0008/\\\"\"]") == 0, "json escapes: %s", out);
}

/* The worked example of the MDS reference: columns number:int, words:str. */
static void test_mds_example(void)
{
	static const char *names[] = {"words", "number"}, *encs[] = {"str", "int"};
	struct shard_schema s;
	struct shard_error err;
	struct shard_writer *w;
	struct shard_sink *sink;
	struct shard_writer_opts o = {NULL, NULL, 0, 1 << 26, 0};
	struct shard_field f[2];
	struct shard_buf b = {0};
	char dir[] = "/tmp/shard-unit-XXXXXX", path[256];
	int64_t one = 1, m2 = -2;
	struct shard_mds m;
	const uint8_t *p;
	size_t n;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	CHECK(shard_schema_init(&s, 2, names, encs, 1, &err) == 0, "schema: %s", err.msg);
	CHECK(strcmp(s.names[0], "number") == 0, "columns not sorted");
	snprintf(path, sizeof path, "%s/ds", dir);
	CHECK(shard_sink_open_dir(&sink, path, &err) == 0, "sink: %s", err.msg);
	CHECK(shard_writer_new(&w, sink, &s, &o, &err) == 0, "writer: %s", err.msg);
	f[0] = (struct shard_field){(const uint8_t *)&one, 8};
	f[1] = (struct shard_field){(const uint8_t *)"one", 3};
	CHECK(shard_writer_add(w, f, &err) == 0, "add: %s", err.msg);
	f[0] = (struct shard_field){(const uint8_t *)&m2, 8};
	f[1] = (struct shard_field){(const uint8_t *)"minus two", 9};
	CHECK(shard_writer_add(w, f, &err) == 0, "add: %s", err.msg);
	CHECK(shard_writer_finish(w, &err) == 0, "finish: %s", err.msg);
	CHECK(shard_sink_close(sink, &err) == 0, "close: %s", err.msg);
	shard_writer_free(w);
	snprintf(path, sizeof path, "%s/ds/shard.00000.mds", dir);
	CHECK(shard_read_file(path, &b, 1 << 20, &err) == 0, "read: %s", err.msg);
	CHECK(b.len == 242, "shard is %zu bytes, the reference says 242", b.len);
	CHECK(b.len >= 16 && memcmp(b.p, "\x02\x00\x00\x00\xce\x00\x00\x00\xdd\x00\x00\x00\xf2\x00\x00\x00", 16) == 0,
	      "header differs from the reference");
	CHECK(b.len >= 206 && memcmp(b.p + 16,
				     "{\"column_encodings\": [\"int\", \"str\"], \"column_names\": [\"number\", \"words\"], "
				     "\"column_sizes\": [8, null], \"compression\": null, \"format\": \"mds\", \"hashes\": [], "
				     "\"size_limit\": 67108864, \"version\": 2}", 190) == 0, "config differs from the reference");
	CHECK(shard_mds_parse(&m, b.p, b.len, &err) == 0 && m.nsamples == 2, "parse: %s", err.msg);
	shard_mds_sample(&m, 1, &p, &n);
	CHECK(n == 21 && memcmp(p, "\x09\x00\x00\x00\xfe\xff\xff\xff\xff\xff\xff\xffminus two", 21) == 0, "sample 1");
	/* corruptions are caught */
	b.p[8] = 0xff;
	CHECK(shard_mds_parse(&m, b.p, b.len, &err) != 0, "offset past the end accepted");
	b.p[8] = 0xdd;
	CHECK(shard_mds_parse(&m, b.p, b.len - 1, &err) != 0, "truncated shard accepted");
	shard_buf_free(&b);
	shard_schema_free(&s);
	snprintf(path, sizeof path, "rm -rf '%s'", dir);
	CHECK(system(path) == 0, "cleanup");
}

/* Split rule: flush when size_limit < current + len + 4; current starts at 8 + len(config). */
static void test_split(void)
{
	static const char *names[] = {"x"}, *encs[] = {"bytes"};
	struct shard_schema s;
	struct shard_error err;
	struct shard_writer *w;
	struct shard_sink *sink;
	struct shard_buf cfg = {0};
	struct shard_entry tmpl = {0};
	char dir[] = "/tmp/shard-unit-XXXXXX", path[256];
	struct shard_index ix;
	uint8_t sample[100];
	uint64_t limit;
	int i;

	memset(sample, 'x', sizeof sample);
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	shard_schema_init(&s, 1, names, encs, 1, &err);
	/* config length for this schema with a 3-digit size limit */
	shard_schema_init(&tmpl.schema, 1, names, encs, 1, &err);
	tmpl.size_limit = 100;
	shard_entry_config_json(&tmpl, &cfg, &err);
	/* room for exactly 3 samples of 4+100 bytes each (+4 size prefix) */
	limit = 8 + cfg.len + 3 * (4 + 104);
	CHECK(limit >= 100 && limit < 1000, "limit %llu not 3 digits", (unsigned long long)limit);
	{
		struct shard_writer_opts o = {NULL, NULL, 0, limit, 0};
		snprintf(path, sizeof path, "%s/ds", dir);
		shard_sink_open_dir(&sink, path, &err);
		CHECK(shard_writer_new(&w, sink, &s, &o, &err) == 0, "writer: %s", err.msg);
	}
	for (i = 0; i < 7; i++) {
		struct shard_field f = {sample, sizeof sample};
		CHECK(shard_writer_add(w, &f, &err) == 0, "add: %s", err.msg);
	}
	shard_writer_finish(w, &err);
	shard_sink_close(sink, &err);
	shard_writer_free(w);
	/* the same samples in one batched call give the same shards, byte for byte */
	{
		struct shard_writer_opts o = {NULL, NULL, 0, limit, 0};
		struct shard_buf all = {0}, a = {0}, b = {0};
		uint32_t lens[7];
		char p2[256];
		for (i = 0; i < 7; i++) {
			struct shard_field f = {sample, sizeof sample};
			shard_sample_encode(&s, &f, &all, &err);
			lens[i] = 4 + sizeof sample;
		}
		snprintf(p2, sizeof p2, "%s/many", dir);
		shard_sink_open_dir(&sink, p2, &err);
		CHECK(shard_writer_new(&w, sink, &s, &o, &err) == 0, "writer: %s", err.msg);
		CHECK(shard_writer_add_many(w, all.p, lens, 3, &err) == 0, "add_many: %s", err.msg);
		CHECK(shard_writer_add_many(w, all.p + 3 * lens[0], lens, 4, &err) == 0, "add_many: %s", err.msg);
		shard_writer_finish(w, &err);
		shard_sink_close(sink, &err);
		shard_writer_free(w);
		snprintf(path, sizeof path, "%s/ds/index.json", dir);
		shard_read_file(path, &a, 1 << 20, &err);
		snprintf(p2, sizeof p2, "%s/many/index.json", dir);
		shard_read_file(p2, &b, 1 << 20, &err);
		CHECK(a.len && a.len == b.len && memcmp(a.p, b.p, a.len) == 0, "add_many made other shards than add");
		shard_buf_free(&all);
		shard_buf_free(&a);
		shard_buf_free(&b);
	}
	snprintf(path, sizeof path, "%s/ds/index.json", dir);
	CHECK(shard_index_load(&ix, path, &err) == 0, "index: %s", err.msg);
	CHECK(ix.nshards == 3 && ix.shards[0].samples == 3 && ix.shards[1].samples == 3 && ix.shards[2].samples == 1,
	      "split into %zu shards", ix.nshards);
	CHECK(ix.nshards == 3 && ix.shards[0].raw.bytes == limit, "first shard %llu bytes, limit %llu",
	      (unsigned long long)ix.shards[0].raw.bytes, (unsigned long long)limit);
	shard_index_free(&ix);
	shard_buf_free(&cfg);
	shard_entry_free(&tmpl);
	shard_schema_free(&s);
	{
		struct shard_writer_opts o = {NULL, NULL, 0, 5ull << 30, 0};
		CHECK(shard_writer_new(&w, NULL, &s, &o, &err) != 0, "size limit over 4 GiB accepted");
	}
	snprintf(path, sizeof path, "rm -rf '%s'", dir);
	CHECK(system(path) == 0, "cleanup");
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

/* The shuffle's guarantees, statistically: over many seeds every element is
 * equally likely at every position (chi-square, 9 degrees of freedom, critical
 * value 27.88 at p = 0.001), and the end of an epoch is as mixed as its start
 * (Mosaic Streaming's issue #796: where tail positions draw from is uniform). */
static void test_shuffle(void)
{
	enum { N = 10, SEEDS = 50000, BIG = 1000 };
	static uint64_t count[N][N], tail[N], head[N];
	struct shard_rng r, r2;
	uint64_t a[BIG], s, i;
	double chi_worst = 0, chi_tail = 0, chi_head = 0, e;
	int p, v;

	for (s = 0; s < SEEDS; s++) {
		for (i = 0; i < N; i++)
			a[i] = i;
		shard_rng_seed(&r, s, 0);
		shard_permute(&r, a, N);
		for (p = 0; p < N; p++)
			count[p][a[p]]++;
	}
	e = (double)SEEDS / N;
	for (p = 0; p < N; p++) {
		double chi = 0;
		for (v = 0; v < N; v++)
			chi += (count[p][v] - e) * (count[p][v] - e) / e;
		if (chi > chi_worst)
			chi_worst = chi;
	}
	CHECK(chi_worst < 27.88, "position %s not uniform: chi-square %.1f >= 27.88", "distribution", chi_worst);
	/* tail and head of a 1000-sample epoch: which tenth of the input they come from */
	for (s = 0; s < 2000; s++) {
		for (i = 0; i < BIG; i++)
			a[i] = i;
		shard_rng_seed(&r, s, 1);
		shard_permute(&r, a, BIG);
		for (i = 0; i < 10; i++) {
			head[a[i] * N / BIG]++;
			tail[a[BIG - 1 - i] * N / BIG]++;
		}
	}
	e = 2000.0 * 10 / N;
	for (v = 0; v < N; v++) {
		chi_tail += (tail[v] - e) * (tail[v] - e) / e;
		chi_head += (head[v] - e) * (head[v] - e) / e;
	}
	CHECK(chi_tail < 27.88, "end of epoch not uniform: chi-square %.1f", chi_tail);
	CHECK(chi_head < 27.88, "start of epoch not uniform: chi-square %.1f", chi_head);
	/* determinism and independence of epochs */
	shard_rng_seed(&r, 42, 3);
	shard_rng_seed(&r2, 42, 3);
	CHECK(shard_rng_next(&r) == shard_rng_next(&r2), "same seed and epoch, different streams");
	shard_rng_seed(&r2, 42, 4);
	CHECK(shard_rng_next(&r) != shard_rng_next(&r2), "epochs 3 and 4 share a stream");
	/* pinned values: a change here changes every saved order and resumption point */
	shard_rng_seed(&r, 0, 0);
	CHECK(shard_rng_next(&r) == 0xfb5405f7bd79c540ull, "the generator changed (seed 0, epoch 0)");
	shard_rng_seed(&r, 7, 3);
	CHECK(shard_rng_next(&r) == 0xba124e8710dff1c2ull, "the generator changed (seed 7, epoch 3)");
	for (i = 0; i < 1000; i++)
		CHECK(shard_rng_below(&r, 7) < 7, "below out of range");
}

/* Dealing to ranks: for every world size from 1 to 64, the shares are disjoint,
 * cover the epoch and differ by at most one; with batches, whole batches, equal
 * counts, and a dropped or padded remainder. */
static void test_deal(void)
{
	enum { N = 1000 };
	static uint64_t perm[N], seen[N];
	uint64_t w, r, i, cnt, lo, hi, *share;
	for (i = 0; i < N; i++)
		perm[i] = (i * 7919) % N;	/* any permutation */
	for (w = 1; w <= 64; w++) {
		memset(seen, 0, sizeof seen);
		lo = UINT64_MAX;
		hi = 0;
		for (r = 0; r < w; r++) {
			share = shard_deal(perm, N, r, w, 0, 0, 0, &cnt);
			for (i = 0; i < cnt; i++)
				seen[share[i]]++;
			lo = cnt < lo ? cnt : lo;
			hi = cnt > hi ? cnt : hi;
			free(share);
		}
		for (i = 0; i < N; i++)
			if (seen[i] != 1)
				break;
		CHECK(i == N, "world %llu: sample %llu dealt %llu times", (unsigned long long)w, (unsigned long long)i,
		      (unsigned long long)(i < N ? seen[i] : 0));
		CHECK(hi - lo <= 1, "world %llu: shares from %llu to %llu", (unsigned long long)w, (unsigned long long)lo,
		      (unsigned long long)hi);
		/* batches of 16: equal whole-batch shares, dropped remainder, no repeats */
		memset(seen, 0, sizeof seen);
		for (r = 0; r < w; r++) {
			share = shard_deal(perm, N, r, w, 16, 0, 0, &cnt);
			CHECK(cnt == N / (16 * w) * 16, "world %llu: batch share %llu", (unsigned long long)w,
			      (unsigned long long)cnt);
			for (i = 0; i < cnt; i++)
				seen[share[i]]++;
			free(share);
		}
		for (i = 0; i < N; i++)
			CHECK(seen[i] <= 1, "world %llu: a sample dealt twice with batches", (unsigned long long)w);
		/* padded: every sample at least once, equal shares */
		memset(seen, 0, sizeof seen);
		for (r = 0; r < w; r++) {
			share = shard_deal(perm, N, r, w, 16, 1, 0, &cnt);
			CHECK(cnt == (N + 16 * w - 1) / (16 * w) * 16, "world %llu: padded share %llu", (unsigned long long)w,
			      (unsigned long long)cnt);
			for (i = 0; i < cnt; i++)
				seen[share[i]]++;
			free(share);
		}
		for (i = 0; i < N; i++)
			CHECK(seen[i] >= 1, "world %llu: padding lost a sample", (unsigned long long)w);
	}
	/* skip drops a prefix of the share */
	{
		uint64_t c1, c2, *a = shard_deal(perm, N, 2, 5, 0, 0, 0, &c1), *b = shard_deal(perm, N, 2, 5, 0, 0, 37, &c2);
		CHECK(c2 == c1 - 37 && memcmp(a + 37, b, c2 * sizeof *a) == 0, "skip is not a suffix");
		free(a);
		free(b);
	}
}

static void test_sizes(void)
{
	uint64_t v;
	CHECK(shard_parse_size("64MiB", &v) == 0 && v == 64ull << 20, "64MiB");
	CHECK(shard_parse_size("100kb", &v) == 0 && v == 102400, "100kb");
	CHECK(shard_parse_size("12", &v) == 0 && v == 12, "12");
	CHECK(shard_parse_size("-1", &v) != 0, "-1 accepted");
	CHECK(shard_parse_size("1Q", &v) != 0, "1Q accepted");
	CHECK(shard_parse_size("99999999999G", &v) != 0, "overflow accepted");
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
			shard_csv_free(c);
		}
	}
}

/* ---------------------------------------------------------------- time zones */

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
		rc = shard_tz_from_tzif(&tz, "Trunc/Zone", b.p, i, &err);
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
			rc = shard_tz_from_tzif(&tz, "Bad/Zone", c.p, c.len, &err);
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
		CHECK(shard_tz_from_tzif(&tz, "Bad/Zone", c.p, c.len, &err) == SHARD_EDATA && strstr(err.msg, "after"),
		      "junk after the footer: %s", err.msg);
		c.len = b.len - 1;
		while (c.len && c.p[c.len - 1] != '\n')
			c.len--;
		shard_buf_append(&c, "EST5EDT,M13.2.0,M11.1.0\n", 24);
		CHECK(shard_tz_from_tzif(&tz, "Bad/Zone", c.p, c.len, &err) == SHARD_EDATA && strstr(err.msg, "M13"),
		      "a bad footer rule: %s", err.msg);
		shard_buf_free(&c);
	}
	CHECK(shard_tz_from_tzif(&tz, "America/New_York", b.p, b.len, &err) == 0, "%s", err.msg);
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

/* What a message shows of a URL: its user and password never. */
static void test_url_redact(void)
{
	static const struct { const char *url, *shown; } v[] = {
		{"https://host/ds", "https://host/ds"},
		{"https://u:p@host/ds", "https://***@host/ds"},
		{"https://u:pa%40ss@host:8443/ds", "https://***@host:8443/ds"},
		{"https://token@host", "https://***@host"},
		{"https://u:p@ss@host/ds", "https://***@host/ds"},	/* the authority's last '@' */
		{"https://u:p@ss/w@host/ds", "https://***@host/ds"},	/* ambiguous: up to the last '@' */
		{"https://u:p/w@host/ds", "https://***@host/ds"},	/* "u:p" is no HOST:PORT */
		{"https://u:p?w@host/ds", "https://***@host/ds"},
		{"https://u:p#w@host/ds", "https://***@host/ds"},
		{"https://host:8080/users/a@b/ds", "https://host:8080/users/a@b/ds"},	/* a path's '@' */
		{"https://[::1]:8080/a@b", "https://[::1]:8080/a@b"},
		{"https://u:p@[::1]:8080/ds", "https://***@[::1]:8080/ds"},
		{"s3://key:secret@bucket/ds", "s3://***@bucket/ds"},
		{"s3://bucket/a@b", "s3://bucket/a@b"},
		{"ds/a@b", "ds/a@b"},
		{"://u:p@host", "://u:p@host"},
	};
	char buf[256];
	size_t i;
	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		const char *got = shard_url_redact(v[i].url, buf, sizeof buf);
		CHECK(strcmp(got, v[i].shown) == 0, "%s shown as %s, want %s", v[i].url, got, v[i].shown);
		CHECK((got == v[i].url) == (strcmp(v[i].url, v[i].shown) == 0), "%s: copied for nothing", v[i].url);
	}
	CHECK(strcmp(shard_url_redact("https://u:p@host/ds", buf, 9), "https://") == 0, "cut short: %s", buf);
}

/* ---------------------------------------------------------------- the thread pool */

struct pool_job {
	struct shard_task t;
	unsigned i;
	uint64_t out;
};

static void pool_job_run(struct shard_task *t)
{
	struct pool_job *j = (struct pool_job *)t;
	uint64_t s = j->i;
	for (int k = 0; k < 2000; k++)
		s = s * 6364136223846793005ull + 1442695040888963407ull;
	j->out = s;
}

static uint64_t pool_job_want(unsigned i)
{
	uint64_t s = i;
	for (int k = 0; k < 2000; k++)
		s = s * 6364136223846793005ull + 1442695040888963407ull;
	return s;
}

static void test_pool(void)
{
	static struct pool_job j[500];
	struct shard_error err = {0};
	unsigned budget = shard_cpu_budget();
	CHECK(budget >= 1, "CPU budget %u", budget);
	/* NULL pool: runs at once; then pools of 1..3 threads (and the budget),
	 * waited for in reverse, so that waits run queued tasks themselves */
	for (unsigned th = 0; th <= 4; th++) {
		struct shard_pool *p = NULL;
		if (th) {
			CHECK(shard_pool_new(&p, th == 4 ? 0 : th, &err) == 0, "pool of %u: %s", th, err.msg);
			CHECK(shard_pool_threads(p) == (th == 4 ? budget : th), "pool of %u has %u", th,
			      shard_pool_threads(p));
		}
		for (unsigned round = 0; round < 4; round++) {
			for (unsigned i = 0; i < 500; i++) {
				j[i] = (struct pool_job){.t.fn = pool_job_run, .i = i + round};
				shard_pool_submit(p, &j[i].t);
			}
			for (unsigned i = 500; i-- > 0;)
				shard_pool_wait(p, &j[i].t);
			for (unsigned i = 0; i < 500; i++)
				CHECK(j[i].out == pool_job_want(i + round) && shard_task_done(p, &j[i].t),
				      "pool of %u, round %u: task %u", th, round, i);
		}
		/* freeing runs what is still queued */
		for (unsigned i = 0; i < 100; i++) {
			j[i] = (struct pool_job){.t.fn = pool_job_run, .i = i};
			shard_pool_submit(p, &j[i].t);
		}
		shard_pool_free(p);
		for (unsigned i = 0; i < 100; i++)
			CHECK(j[i].out == pool_job_want(i), "pool of %u: task %u not run before free", th, i);
	}
	CHECK(shard_pool_new(&(struct shard_pool *){0}, SHARD_POOL_MAX + 1, &err) == SHARD_EARG, "too many threads");
}

int main(void)
{
	static const struct tap_case cases[] = {
		TAP(test_colspec),
		TAP(test_decimal),
		TAP(test_codecs),
		TAP(test_hashes),
		TAP(test_hash_pieces),
		TAP(test_floats),
		TAP(test_encodings),
		TAP(test_mds_example),
		TAP(test_split),
		TAP(test_sizes),
		TAP(test_parse_floats),
		TAP(test_number_field),
		TAP(test_shuffle),
		TAP(test_deal),
		TAP(test_csv_faults),
		TAP(test_url_redact),
		TAP(test_tz_zones),
		TAP(test_tz_rules),
		TAP(test_tz_java_rule),
		TAP(test_tz_tzif),
		TAP(test_pool),
		{0},
	};
	return tap_run(cases);
}
