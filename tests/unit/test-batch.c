/* The batcher through shard.h alone: datasets written by the library's
 * writer into a scratch directory, batched into the test's own buffers, and
 * every sample's bytes looked for where the documented layout puts them:
 * column after column at its off, sample after sample, zeros after the
 * samples of a short batch; each column's checksum that of its cap bytes. */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "tap.h"

/* Four 4-byte columns side by side (gathered four at a time), a float64, a
 * uint8 and a string; with split, a string column sorted first, so no
 * column lies at a constant offset and every sample is split. */
static const char *names[] = {"a", "b", "c", "d", "e", "k", "s"};
static const char *encs[] = {"int32", "uint32", "float32", "int32", "float64", "uint8", "str"};
#define NCOLS 7

static char scratch[] = "/tmp/shard-batch-XXXXXX";

/* Byte j of sample i's value in the column named name. */
static uint8_t byte_of(uint64_t i, const char *name, size_t j)
{
	return (uint8_t)(i * 31 + (uint8_t)name[0] * 7 + j * 13 + (i >> 8));
}

/* A dataset of n samples, per_shard to a shard (0: one shard); with split,
 * column "s" is named "S" and sorts first. */
static void write_ds(const char *dir, uint64_t n, uint64_t per_shard, int split)
{
	const char *nm[NCOLS];
	struct shard_schema s;
	struct shard_error err;
	struct shard_writer *w;
	struct shard_sink *sink;
	struct shard_writer_opts o = {.compression = "zstd", .size_limit = 1 << 26, .max_samples = per_shard};
	struct shard_field f[NCOLS];
	uint8_t val[NCOLS][8];
	char str[32];

	memcpy(nm, names, sizeof nm);
	if (split)
		nm[6] = "S";
	CHECK(shard_schema_init(&s, NCOLS, nm, encs, 1, &err) == 0, "schema: %s", err.msg);
	CHECK(shard_sink_open_dir(&sink, dir, &err) == 0, "sink: %s", err.msg);
	CHECK(shard_writer_new(&w, sink, &s, &o, &err) == 0, "writer: %s", err.msg);
	for (uint64_t i = 0; i < n; i++) {
		for (size_t c = 0; c < NCOLS; c++) {
			if (!s.enc[c].size) {
				int len = snprintf(str, sizeof str, "row %llu", (unsigned long long)i);
				f[c] = (struct shard_field){(const uint8_t *)str, (size_t)len};
				continue;
			}
			for (size_t j = 0; j < s.enc[c].size; j++)
				val[c][j] = byte_of(i, s.names[c], j);
			f[c] = (struct shard_field){val[c], s.enc[c].size};
		}
		if (shard_writer_add(w, f, &err)) {
			CHECK(0, "add: %s", err.msg);
			break;
		}
	}
	CHECK(shard_writer_finish(w, &err) == 0, "finish: %s", err.msg);
	CHECK(shard_sink_close(sink, &err) == 0, "close: %s", err.msg);
	shard_writer_free(w);
	shard_schema_free(&s);
}

struct run {
	const char *input;
	struct shard_batch_opts o;
	uint64_t want_samples;	/* in the dataset */
	/* results */
	int rc;
	char msg[1024], file[1024];
	uint64_t shard, sample;
	uint64_t samples, batches, bad;
	size_t ncols;
};

static void *run_batcher(void *arg)
{
	struct run *r = arg;
	struct shard_batcher *b;
	struct shard_batch_layout l;
	struct shard_batch got;
	struct shard_error err = {0};
	size_t batch = r->o.batch ? r->o.batch : 1024, align = r->o.align ? r->o.align : 256;
	uint8_t *buf = NULL;

	if ((r->rc = shard_batcher_new(&b, &r->input, 1, &r->o, &err))) {
		snprintf(r->msg, sizeof r->msg, "%s", err.msg);
		return NULL;
	}
	if ((r->rc = shard_batcher_layout(b, &l, &err)))
		goto out;
	r->ncols = l.ncols;
	for (size_t c = 0; c < l.ncols; c++) {
		const struct shard_batch_column *col = &l.cols[c];
		r->bad += col->off % align || col->cap != ((batch * col->size + 3) & ~(size_t)3) ||
			  col->off + col->cap > l.bytes || (c && col->off < l.cols[c - 1].off + l.cols[c - 1].cap);
	}
	/* one byte more than asked, which must stay as it was */
	buf = malloc(l.bytes + 1);
	for (;;) {
		memset(buf, 0xa5, l.bytes + 1);
		if ((r->rc = shard_batcher_next(b, buf, l.bytes, &got, &err)) || !got.samples)
			break;
		r->bad += got.bytes != got.samples * l.sample_bytes || got.samples > batch;
		for (size_t c = 0; c < l.ncols; c++) {
			const struct shard_batch_column *col = &l.cols[c];
			const uint8_t *p = buf + col->off;
			for (size_t k = 0; k < got.samples; k++)
				for (size_t j = 0; j < col->size; j++)
					r->bad += p[k * col->size + j] != byte_of(r->samples + k, col->name, j);
			for (size_t j = got.samples * col->size; j < col->cap; j++)
				r->bad += p[j] != 0;
			r->bad += got.sums[c] != shard_batch_checksum(p, col->cap);
		}
		r->bad += buf[l.bytes] != 0xa5;
		r->samples += got.samples;
		r->batches++;
	}
out:
	if (r->rc) {
		snprintf(r->msg, sizeof r->msg, "%s", err.msg);
		snprintf(r->file, sizeof r->file, "%s", err.file);
		r->shard = err.shard;
		r->sample = err.sample;
	}
	free(buf);
	shard_batcher_free(b);
	return NULL;
}

static void check_run(struct run *r, const char *what)
{
	CHECK(r->rc == 0, "%s: %s", what, r->msg);
	CHECK(r->bad == 0, "%s: %llu bytes or sums where the layout does not put them", what,
	      (unsigned long long)r->bad);
	CHECK(r->samples == r->want_samples, "%s: %llu samples, not %llu", what, (unsigned long long)r->samples,
	      (unsigned long long)r->want_samples);
}

static char *path_of(const char *name)
{
	static char path[8][300];
	static int next;
	char *p = path[next++ % 8];
	snprintf(p, 300, "%s/%s", scratch, name);
	return p;
}

static void test_layout_and_bytes(void)
{
	static const char *cols[] = {"k", "e", "a"};
	struct run r = {.input = path_of("small"), .want_samples = 1000, .o = {.batch = 100, .align = 64}};
	run_batcher(&r);
	check_run(&r, "all columns");
	CHECK(r.ncols == 6, "%zu columns, the six of a fixed size", r.ncols);
	CHECK(r.batches == 10, "%llu batches", (unsigned long long)r.batches);
	/* short last batches, columns chosen and reordered, no pool given */
	for (size_t batch = 1; batch < 400; batch = batch * 3 + 1) {
		struct run q = {.input = path_of("small"), .want_samples = 1000,
				.o = {.batch = batch, .columns = cols, .ncolumns = 3, .threads = 2}};
		run_batcher(&q);
		check_run(&q, "three columns");
		CHECK(q.ncols == 3, "%zu columns", q.ncols);
	}
	struct run d = {.input = path_of("small"), .want_samples = 900, .o = {.batch = 300, .drop_last = 1}};
	run_batcher(&d);
	check_run(&d, "drop_last");
}

/* A string column first: every sample split; and one shard in large
 * batches, gathered by several tasks at once. */
static void test_split_and_large(void)
{
	struct shard_pool *pool;
	struct shard_error err;
	CHECK(shard_pool_new(&pool, 3, &err) == 0, "pool: %s", err.msg);
	struct run r = {.input = path_of("split"), .want_samples = 1000, .o = {.batch = 64, .pool = pool}};
	run_batcher(&r);
	check_run(&r, "split");
	struct run big = {.input = path_of("large"), .want_samples = 60000, .o = {.batch = 25000, .pool = pool}};
	run_batcher(&big);
	check_run(&big, "large");
	shard_pool_free(pool);
}

static void test_errors(void)
{
	static const char *nope[] = {"zz"}, *twice[] = {"a", "a"}, *str[] = {"s"};
	struct run r = {.input = path_of("small"), .o = {.columns = nope, .ncolumns = 1}};
	run_batcher(&r);
	CHECK(r.rc == SHARD_EDATA && strstr(r.msg, "no column 'zz'"), "%d %s", r.rc, r.msg);
	CHECK(strstr(r.file, "small/shard.00000.mds") && r.shard == 0 && r.sample == SHARD_UNKNOWN,
	      "the place: %s, shard %llu, sample %llu", r.file, (unsigned long long)r.shard,
	      (unsigned long long)r.sample);
	r = (struct run){.input = path_of("small"), .o = {.columns = twice, .ncolumns = 2}};
	run_batcher(&r);
	CHECK(r.rc == SHARD_EARG && strstr(r.msg, "column 'a' is named twice"), "%d %s", r.rc, r.msg);
	r = (struct run){.input = path_of("small"), .o = {.columns = str, .ncolumns = 1}};
	run_batcher(&r);
	CHECK(r.rc == SHARD_EDATA && strstr(r.msg, "column 's' is str, which has no fixed size"), "%d %s", r.rc,
	      r.msg);
	r = (struct run){.input = path_of("nowhere")};
	run_batcher(&r);
	CHECK(r.rc != 0 && strstr(r.msg, "nowhere"), "%d %s", r.rc, r.msg);
	r = (struct run){.input = path_of("small"), .o = {.align = 48}};
	run_batcher(&r);
	CHECK(r.rc == SHARD_EARG, "an alignment of 48: %d %s", r.rc, r.msg);
}

/* Freed with shards still being read ahead: after one batch, and before
 * any (the reading starts with the batcher). */
static void test_free_early(void)
{
	struct shard_batch_opts o = {.batch = 10, .threads = 3};
	struct shard_batch_layout l;
	struct shard_batch got;
	struct shard_batcher *b;
	struct shard_error err;
	const char *in = path_of("small");
	static uint8_t buf[4096];
	for (int round = 0; round < 4; round++) {
		CHECK(shard_batcher_new(&b, &in, 1, &o, &err) == 0, "new: %s", err.msg);
		if (round & 1) {
			CHECK(shard_batcher_layout(b, &l, &err) == 0 && l.bytes <= sizeof buf, "layout: %s", err.msg);
			CHECK(shard_batcher_next(b, buf, sizeof buf, &got, &err) == 0 && got.samples == 10, "next: %s",
			      err.msg);
			CHECK(shard_batcher_next(b, buf, l.bytes - 1, &got, &err) == SHARD_EARG, "a buffer too small");
		}
		shard_batcher_free(b);
	}
}

/* Two batchers at once on two threads, on one pool, each with all its
 * bytes in place; then one with a pool of its own beside one on the shared. */
static void test_two_at_once(void)
{
	struct shard_pool *pool;
	struct shard_error err;
	pthread_t th[2];
	CHECK(shard_pool_new(&pool, 2, &err) == 0, "pool: %s", err.msg);
	for (int round = 0; round < 2; round++) {
		struct run r[2] = {
			{.input = path_of("small"), .want_samples = 1000, .o = {.batch = 77, .pool = pool}},
			{.input = path_of("large"), .want_samples = 60000,
			 .o = {.batch = 4096, .pool = round ? NULL : pool, .threads = 2}},
		};
		for (int i = 0; i < 2; i++)
			CHECK(pthread_create(&th[i], NULL, run_batcher, &r[i]) == 0, "thread");
		for (int i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		check_run(&r[0], "first of two");
		check_run(&r[1], "second of two");
	}
	shard_pool_free(pool);
}

int main(void)
{
	static const struct tap_case cases[] = {
		TAP(test_layout_and_bytes),
		TAP(test_split_and_large),
		TAP(test_errors),
		TAP(test_free_early),
		TAP(test_two_at_once),
		{0},
	};
	char cmd[300];
	int rc;
	if (!mkdtemp(scratch)) {
		perror("mkdtemp");
		return 1;
	}
	write_ds(path_of("small"), 1000, 128, 0);
	write_ds(path_of("split"), 1000, 300, 1);
	write_ds(path_of("large"), 60000, 0, 0);
	rc = tap_run(cases);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
	if (system(cmd))
		rc = 1;
	return rc;
}
