/* Unit tests of libshard's io layer: the writer's split rule through a sink,
 * URLs as messages show them, and the pieces of writing to S3 that need no
 * server (a listing's XML, the multipart plan). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shard.h"
#include "io/remote.h"

#include "tap.h"

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

/* A source's faults say where: the shard file and its index.json entry. */
static void test_source_place(void)
{
	static const char *names[] = {"x"}, *encs[] = {"bytes"};
	struct shard_writer_opts o = {.max_samples = 1};
	struct shard_schema s;
	struct shard_error err;
	struct shard_writer *w;
	struct shard_sink *sink;
	struct shard_source *src;
	struct shard_item it = {0};
	char dir[] = "/tmp/shard-unit-XXXXXX", path[300], gone[300];
	int i, rc;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(path, sizeof path, "%s/ds", dir);
	CHECK(shard_schema_init(&s, 1, names, encs, 1, &err) == 0 && shard_sink_open_dir(&sink, path, &err) == 0 &&
		      shard_writer_new(&w, sink, &s, &o, &err) == 0,
	      "writer: %s", err.msg);
	for (i = 0; i < 3; i++) {
		struct shard_field f = {(const uint8_t *)"abc", 3};
		CHECK(shard_writer_add(w, &f, &err) == 0, "add: %s", err.msg);
	}
	CHECK(shard_writer_finish(w, &err) == 0 && shard_sink_close(sink, &err) == 0, "finish: %s", err.msg);
	shard_writer_free(w);
	shard_schema_free(&s);
	snprintf(gone, sizeof gone, "%s/shard.00001.mds", path);
	CHECK(unlink(gone) == 0, "unlink %s", gone);

	CHECK(shard_source_open(&src, path, 0, &err) == 0, "open: %s", err.msg);
	CHECK(shard_source_next(src, &it, &err) == 1 && err.status == 0 && err.file[0] == 0 &&
		      err.shard == SHARD_UNKNOWN,
	      "shard 0: %s", err.msg);
	rc = shard_source_next(src, &it, &err);
	CHECK(rc == -SHARD_EDATA && strcmp(err.file, gone) == 0 && err.shard == 1 && err.sample == SHARD_UNKNOWN &&
		      err.line == 0 && strstr(err.msg, "shard 1 is missing (index.json lists it)"),
	      "shard 1: rc %d, %s shard %llu: %s", rc, err.file, (unsigned long long)err.shard, err.msg);
	shard_item_free(&it);
	shard_source_close(src);

	snprintf(gone, sizeof gone, "rm -rf '%s'", dir);
	CHECK(system(gone) == 0, "cleanup");
}

/* Pages of a ListObjectsV2 answer as moto's S3 server gave them, a key with
 * XML's escapes among them. */
static void test_list_parse(void)
{
	static const char page1[] =
		"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><IsTruncated>true</IsTruncated>"
		"<Contents><Key>cap/a&amp;b &lt;c&gt;\xc3\xa9.mds</Key><LastModified>2026-12-02T17:50:22.000Z</LastModified>"
		"<ETag>\"827ccb0eea8a706c4c34a16891f84e7b\"</ETag><ChecksumAlgorithm>CRC32</ChecksumAlgorithm><Size>5</Size>"
		"<StorageClass>STANDARD</StorageClass></Contents><Name>bucket</Name><Prefix>cap/</Prefix><MaxKeys>1</MaxKeys>"
		"<KeyCount>1</KeyCount><NextContinuationToken>aa399ae7059e091f3eff6d503bed5508</NextContinuationToken>"
		"</ListBucketResult>";
	static const char page2[] =
		"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><IsTruncated>false</IsTruncated>"
		"<Contents><Key>cap/z&#x2F;&#47;1.mds</Key><LastModified>2026-12-02T17:50:22.000Z</LastModified>"
		"<ETag>\"c4ca4238a0b923820dcc509a6f75849b\"</ETag><ChecksumAlgorithm>CRC32</ChecksumAlgorithm>"
		"<Size>12884901888</Size><StorageClass>STANDARD</StorageClass></Contents><Name>bucket</Name>"
		"<Prefix>cap/</Prefix><MaxKeys>1000</MaxKeys><KeyCount>1</KeyCount></ListBucketResult>";
	static const char bad_size[] = "<ListBucketResult><Contents><Key>cap/x</Key><Size>12a</Size></Contents></ListBucketResult>";
	struct shard_remote_file *v = NULL;
	struct shard_error err;
	size_t n = 0;
	char *next = NULL;

	CHECK(remote_list_parse(page1, sizeof page1 - 1, "cap/", &v, &n, &next, &err) == 0, "page 1: %s", err.msg);
	CHECK(n == 1 && strcmp(v[0].name, "a&b <c>\xc3\xa9.mds") == 0 && v[0].size == 5, "page 1's key: %s",
	      n ? v[0].name : "none");
	CHECK(next && strcmp(next, "aa399ae7059e091f3eff6d503bed5508") == 0, "the token: %s", next ? next : "none");
	free(next);
	CHECK(remote_list_parse(page2, sizeof page2 - 1, "cap/", &v, &n, &next, &err) == 0, "page 2: %s", err.msg);
	CHECK(n == 2 && strcmp(v[1].name, "z//1.mds") == 0 && v[1].size == 12884901888ull, "page 2's key: %s",
	      n == 2 ? v[1].name : "none");
	CHECK(next == NULL, "the last page has no token");
	shard_remote_files_free(v, n);
	v = NULL;
	n = 0;
	/* a key outside the prefix is no answer, nor is the prefix itself */
	CHECK(remote_list_parse(page2, sizeof page2 - 1, "other/", &v, &n, &next, &err) == 0 && n == 0,
	      "outside the prefix: %zu", n);
	CHECK(remote_list_parse(bad_size, sizeof bad_size - 1, "cap/", &v, &n, &next, &err) == SHARD_EDATA &&
	      strstr(err.msg, "cap/x: a size that is no number"), "a bad size: %s", err.msg);
	CHECK(remote_list_parse("<Error><Code>AccessDenied</Code></Error>", 39, "", &v, &n, &next, &err) == SHARD_EDATA,
	      "an error body is no listing");
	shard_remote_files_free(v, n);
}

/* Objects up to the multipart size go in one PUT; a bigger one in parts of
 * that size, the last one shorter. */
static void test_multipart_plan(void)
{
	const uint64_t mib = 1 << 20;
	struct shard_error err;
	uint64_t size;

	CHECK(remote_multipart_parts(0, 5 * mib) == 0, "empty");
	CHECK(remote_multipart_parts(5 * mib, 5 * mib) == 0, "exactly the size");
	CHECK(remote_multipart_parts(5 * mib + 1, 5 * mib) == 2, "one byte over");
	CHECK(remote_multipart_parts(12 * mib, 5 * mib) == 3, "12 MiB");
	CHECK(remote_multipart_parts(1ull << 32, 64 * mib) == 64, "4 GiB");
	unsetenv("SHARDKIT_MULTIPART_SIZE");
	CHECK(remote_multipart_size(&size, &err) == 0 && size == 64 * mib, "the default: %llu", (unsigned long long)size);
	setenv("SHARDKIT_MULTIPART_SIZE", "5MiB", 1);
	CHECK(remote_multipart_size(&size, &err) == 0 && size == 5 * mib, "5MiB: %llu", (unsigned long long)size);
	setenv("SHARDKIT_MULTIPART_SIZE", "1MiB", 1);
	CHECK(remote_multipart_size(&size, &err) == SHARD_EARG && strstr(err.msg, "SHARDKIT_MULTIPART_SIZE=1MiB"),
	      "under S3's 5 MiB: %s", err.msg);
	setenv("SHARDKIT_MULTIPART_SIZE", "lots", 1);
	CHECK(remote_multipart_size(&size, &err) == SHARD_EARG, "no size");
	unsetenv("SHARDKIT_MULTIPART_SIZE");
}

int main(void)
{
	static const struct tap_case cases[] = {
		TAP(test_split),
		TAP(test_source_place),
		TAP(test_url_redact),
		TAP(test_list_parse),
		TAP(test_multipart_plan),
		{0},
	};
	return tap_run(cases);
}
