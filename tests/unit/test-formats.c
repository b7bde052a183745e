/* Unit tests of libshard's formats: encodings and their text forms, the MDS layout
 * (the reference's worked example, byte for byte). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shard.h"

#include "tap.h"

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

/* index.json's faults say where: the file, the JSON text's line and column,
 * the entry at fault. */
static void test_index_place(void)
{
#define ENTRY "{\"column_encodings\": [\"int\"], \"column_names\": [\"n\"], \"column_sizes\": [8], " \
	      "\"compression\": null, \"format\": \"mds\", \"hashes\": [], \"raw_data\": {\"basename\": " \
	      "\"shard.00000.mds\", \"bytes\": 20, \"hashes\": {}}, \"samples\": 1, \"size_limit\": null, " \
	      "\"version\": 2, \"zip_data\": null}"
	static const char good[] = "{\"shards\": [" ENTRY ", " ENTRY "], \"version\": 2}";
	static const char second[] = "{\"shards\": [" ENTRY ", {}], \"version\": 2}";
	static const char broken[] = "{\"shards\": [],\n  \"version\" 2}";
	struct shard_index ix;
	struct shard_entry e;
	struct shard_error err;

	CHECK(shard_index_parse(&ix, good, strlen(good), "ds/index.json", &err) == 0 && ix.nshards == 2, "good: %s",
	      err.msg);
	shard_index_free(&ix);
	CHECK(shard_index_parse(&ix, second, strlen(second), "ds/index.json", &err) == SHARD_EDATA &&
		      strcmp(err.file, "ds/index.json") == 0 && err.shard == 1 && err.sample == SHARD_UNKNOWN &&
		      err.line == 0 && strncmp(err.msg, "ds/index.json: shard 1: ", 24) == 0,
	      "the second entry: %s shard %llu: %s", err.file, (unsigned long long)err.shard, err.msg);
	CHECK(shard_index_parse(&ix, broken, strlen(broken), "ds/index.json", &err) == SHARD_EDATA &&
		      strcmp(err.file, "ds/index.json") == 0 && err.line == 2 && err.column > 0 &&
		      err.shard == SHARD_UNKNOWN && strncmp(err.msg, "ds/index.json:2:", 16) == 0,
	      "broken JSON: %s %llu:%llu: %s", err.file, (unsigned long long)err.line, (unsigned long long)err.column,
	      err.msg);
	CHECK(shard_entry_from_json(&e, "{\n\n  x", 6, &err) == SHARD_EDATA && err.line == 3 && err.column > 0 &&
		      strncmp(err.msg, "index entry: invalid JSON at line 3 column ", 43) == 0,
	      "an entry's JSON: %llu:%llu: %s", (unsigned long long)err.line, (unsigned long long)err.column, err.msg);
	CHECK(shard_entry_from_json(&e, ENTRY, strlen(ENTRY), &err) == 0 && e.samples == 1, "an entry: %s", err.msg);
	shard_entry_free(&e);
#undef ENTRY
}

int main(void)
{
	static const struct tap_case cases[] = {
		TAP(test_encodings),
		TAP(test_mds_example),
		TAP(test_index_place),
		{0},
	};
	return tap_run(cases);
}
