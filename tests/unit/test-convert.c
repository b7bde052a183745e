/* The converter through shard.h alone: CSV and JSON Lines in, shards in a
 * temporary directory, read back with the library; rejects and failures
 * with their place; two converters at once on two threads. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shard.h"
#include "tap.h"

/* What a dataset holds: its rows, the int column's sum, the str column's
 * values joined by '|'. */
struct readback {
	uint64_t rows;
	int64_t sum;
	struct shard_buf strs;
	char extra[256];
};

static int read_back(const char *dir, const char *icol, const char *scol, struct readback *rb)
{
	struct shard_source *src;
	struct shard_item it = {0};
	struct shard_error err;
	int rc;
	memset(rb, 0, sizeof *rb);
	if (shard_source_open(&src, dir, SHARD_SRC_VERIFY_HASHES, &err))
		return -1;
	if (shard_source_extra(src))
		snprintf(rb->extra, sizeof rb->extra, "%s", shard_source_extra(src));
	while ((rc = shard_source_next(src, &it, &err)) > 0) {
		const struct shard_schema *s = &it.entry.schema;
		int ic = shard_schema_index(s, icol), sc = scol ? shard_schema_index(s, scol) : -1;
		struct shard_field f[8];
		uint32_t i;
		if (shard_item_load_raw(&it, 1, &err) || ic < 0 || s->ncols > 8) {
			rc = -1;
			goto out;
		}
		for (i = 0; i < it.mds.nsamples; i++) {
			const uint8_t *p;
			size_t n;
			int32_t v;
			shard_mds_sample(&it.mds, i, &p, &n);
			if (shard_sample_split(s, p, n, f, &err)) {
				rc = -1;
				goto out;
			}
			memcpy(&v, f[ic].p, 4);
			rb->sum += v;
			rb->rows++;
			if (sc >= 0) {
				if (rb->strs.len)
					shard_buf_putc(&rb->strs, '|');
				shard_buf_append(&rb->strs, f[sc].p, f[sc].len);
			}
		}
	}
out:
	shard_item_free(&it);
	shard_buf_putc(&rb->strs, 0);
	shard_source_close(src);
	return rc;
}

static const char *tmpdir(char *buf, size_t n)
{
	snprintf(buf, n, "/tmp/shard-convert-unit-XXXXXX");
	return mkdtemp(buf);
}

static void rmtree(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static void opts_init(struct shard_convert_opts *o, const char *schema)
{
	memset(o, 0, sizeof *o);
	shard_csv_opts_default(&o->csv);
	o->schema = schema;
	o->threads = 2;
}

/* Convert the inputs queued in h into DIR/ds; the status of finish. */
static int run_into(struct shard_converter *h, const char *dir, struct shard_error *err)
{
	struct shard_sink *sink;
	char path[512];
	int rc;
	snprintf(path, sizeof path, "%s/ds", dir);
	if (shard_sink_open_dir(&sink, path, err))
		return err->status;
	shard_sink_set_sync(sink, 0);
	rc = shard_converter_finish(h, sink, err);
	if (rc) {
		shard_sink_abort(sink);
		return rc;
	}
	return shard_sink_close(sink, err);
}

static void test_csv_values(void)
{
	static const char csv[] = "b,a\nx,1\n\"y,z\",2\n\\N,40\n";
	struct shard_convert_opts o;
	struct shard_converter *h;
	struct shard_convert_stats st;
	struct shard_error err = {0};
	struct readback rb;
	char dir[64], ds[128];

	CHECK(tmpdir(dir, sizeof dir) != NULL, "mkdtemp");
	opts_init(&o, "a:int32,b:str?");
	o.header = 1;
	o.csv.null_value = "\\N";
	CHECK(shard_converter_new(&h, &o, &err) == 0, "new: %s", err.msg);
	CHECK(shard_converter_add_bytes(h, csv, sizeof csv - 1, "mem.csv", &err) == 0, "add: %s", err.msg);
	CHECK(shard_converter_prepare(h, &err) == 0, "prepare: %s", err.msg);
	CHECK(shard_converter_schema(h)->ncols == 3, "a, b and b.valid: %zu", shard_converter_schema(h)->ncols);
	CHECK(strcmp(shard_converter_extra(h), "{\"validity\":{\"b\":\"b.valid\"}}") == 0, "extra %s", shard_converter_extra(h));
	CHECK(run_into(h, dir, &err) == 0, "finish: %s", err.msg);
	shard_converter_stats(h, &st);
	CHECK(st.rows_read == 3 && st.rows_written == 3 && st.rows_rejected == 0 && st.inputs == 1,
	      "stats %llu %llu", (unsigned long long)st.rows_read, (unsigned long long)st.rows_written);
	CHECK(shard_converter_nulls(h, "b") == 1 && shard_converter_nulls(h, "a") == 0, "nulls per column");
	shard_converter_free(h);
	snprintf(ds, sizeof ds, "%s/ds", dir);
	CHECK(read_back(ds, "a", "b", &rb) == 0, "read back");
	CHECK(rb.rows == 3 && rb.sum == 43, "rows %llu sum %lld", (unsigned long long)rb.rows, (long long)rb.sum);
	CHECK(strcmp((const char *)rb.strs.p, "x|y,z|") == 0, "strings '%s'", (const char *)rb.strs.p);
	CHECK(strstr(rb.extra, "b.valid") != NULL, "index.json's extra: %s", rb.extra);
	shard_buf_free(&rb.strs);
	rmtree(dir);
}

struct rejects {
	size_t n;
	char text[1024];
};

static void collect(void *ctx, const struct shard_convert_reject *r)
{
	struct rejects *rj = ctx;
	size_t len = strlen(rj->text);
	snprintf(rj->text + len, sizeof rj->text - len, "%s:%llu:%zu %s [%.*s]\n", r->file, (unsigned long long)r->line,
		 r->column, r->reason, (int)r->raw_len, (const char *)r->raw);
	rj->n++;
}

static void test_rejects(void)
{
	static const char csv[] = "1,x\nz,y\n3\n4,w";
	struct shard_convert_opts o;
	struct shard_converter *h;
	struct shard_convert_stats st;
	struct shard_error err = {0};
	struct rejects rj = {0};
	struct readback rb;
	char dir[64], ds[128];

	CHECK(tmpdir(dir, sizeof dir) != NULL, "mkdtemp");
	opts_init(&o, "a:int32,b:str");
	o.skip = 1;
	o.on_reject = collect;
	o.ctx = &rj;
	CHECK(shard_converter_new(&h, &o, &err) == 0, "new");
	CHECK(shard_converter_add_bytes(h, csv, sizeof csv - 1, "r.csv", &err) == 0, "add");
	CHECK(run_into(h, dir, &err) == 0, "finish: %s", err.msg);
	shard_converter_stats(h, &st);
	CHECK(st.rows_read == 4 && st.rows_written == 2 && st.rows_rejected == 2, "stats");
	CHECK(rj.n == 2, "%zu rejects", rj.n);
	CHECK(strcmp(rj.text, "r.csv:2:1 column 'a': 'z' is not an int32 [z,y\n]\n"
			      "r.csv:3:2 row has 1 fields, expected 2 [3\n]\n") == 0, "rejects:\n%s", rj.text);
	shard_converter_free(h);
	snprintf(ds, sizeof ds, "%s/ds", dir);
	CHECK(read_back(ds, "a", "b", &rb) == 0 && rb.rows == 2 && rb.sum == 5, "read back");
	shard_buf_free(&rb.strs);
	rmtree(dir);
}

/* Without skip, a bad row fails the run with its place, and nothing is left. */
static void test_failure(void)
{
	static const char csv[] = "1,x\n2,y\nz,q\n";
	struct shard_convert_opts o;
	struct shard_converter *h;
	struct shard_error err = {0};
	char dir[64], ix[128];

	CHECK(tmpdir(dir, sizeof dir) != NULL, "mkdtemp");
	opts_init(&o, "a:int32,b:str");
	CHECK(shard_converter_new(&h, &o, &err) == 0, "new");
	CHECK(shard_converter_add_bytes(h, csv, sizeof csv - 1, "f.csv", &err) == 0, "add");
	CHECK(run_into(h, dir, &err) == SHARD_EDATA, "a failure");
	CHECK(strcmp(err.msg, "f.csv:3:1: column 'a': 'z' is not an int32") == 0, "message: %s", err.msg);
	shard_converter_free(h);
	snprintf(ix, sizeof ix, "%s/ds/index.json", dir);
	CHECK(access(ix, F_OK) != 0, "no index.json");
	/* a usage error in the options */
	opts_init(&o, "a:int32");
	o.fills = (const char *const[]){"zz=1"};
	o.nfills = 1;
	CHECK(shard_converter_new(&h, &o, &err) == 0, "new");
	CHECK(shard_converter_prepare(h, &err) == SHARD_EARG, "prepare refuses");
	CHECK(strcmp(err.msg, "--fill: no column 'zz' in the schema") == 0, "message: %s", err.msg);
	shard_converter_free(h);
	rmtree(dir);
}

static void test_infer_jsonl(void)
{
	static const char js[] = "{\"n\":1,\"s\":\"a\"}\n{\"n\":2,\"s\":\"b\",\"d\":\"x\"}\n";
	struct shard_convert_opts o;
	struct shard_converter *h;
	struct shard_error err = {0};
	struct readback rb;
	char dir[64], ds[128];

	CHECK(tmpdir(dir, sizeof dir) != NULL, "mkdtemp");
	opts_init(&o, NULL);
	o.jsonl = 1;
	CHECK(shard_converter_new(&h, &o, &err) == 0, "new");
	CHECK(shard_converter_add_bytes(h, js, sizeof js - 1, "j.jsonl", &err) == 0, "add");
	CHECK(shard_converter_prepare(h, &err) == 0, "prepare: %s", err.msg);
	CHECK(strcmp(shard_converter_schema_text(h), "n:int64,s:str,d:str?") == 0, "inferred %s",
	      shard_converter_schema_text(h));
	CHECK(strcmp(shard_converter_inferred_from(h), "j.jsonl") == 0, "inferred from");
	CHECK(run_into(h, dir, &err) == 0, "finish: %s", err.msg);
	shard_converter_free(h);
	snprintf(ds, sizeof ds, "%s/ds", dir);
	/* int64 little-endian: the low half read as int32 */
	CHECK(read_back(ds, "n", "s", &rb) == 0 && rb.rows == 2 && rb.sum == 3, "read back");
	CHECK(strcmp((const char *)rb.strs.p, "a|b") == 0, "strings %s", (const char *)rb.strs.p);
	shard_buf_free(&rb.strs);
	rmtree(dir);
}

/* A reader callback: the bytes of a string, a few at a time. */
struct strin {
	const char *p;
	size_t left;
};

static ssize_t read_str(void *ctx, void *buf, size_t n, struct shard_error *err)
{
	struct strin *in = ctx;
	(void)err;
	if (n > 3)
		n = 3;
	if (n > in->left)
		n = in->left;
	memcpy(buf, in->p, n);
	in->p += n;
	in->left -= n;
	return (ssize_t)n;
}

/* A Spark directory whose key=value subdirectories become a column, then a
 * reader's rows, which have no partition: null there. */
static void test_partitions_and_reader(void)
{
	struct shard_convert_opts o;
	struct shard_converter *h;
	struct shard_error err = {0};
	struct strin in = {"7\n8\n", 4};
	struct readback rb;
	char dir[64], path[256], ds[128];
	FILE *f;

	CHECK(tmpdir(dir, sizeof dir) != NULL, "mkdtemp");
	snprintf(path, sizeof path, "%s/exp", dir);
	CHECK(mkdir(path, 0700) == 0, "mkdir %s", path);
	snprintf(path, sizeof path, "%s/exp/k=a%%2Cb", dir);
	CHECK(mkdir(path, 0700) == 0, "mkdir %s", path);
	snprintf(path, sizeof path, "%s/exp/k=a%%2Cb/part-00000.csv", dir);
	CHECK((f = fopen(path, "w")) != NULL, "fopen");
	fputs("1\n2\n", f);
	fclose(f);
	snprintf(path, sizeof path, "%s/exp/_SUCCESS", dir);
	CHECK((f = fopen(path, "w")) != NULL, "fopen");
	fclose(f);
	opts_init(&o, "n:int32");
	CHECK(shard_converter_new(&h, &o, &err) == 0, "new");
	snprintf(path, sizeof path, "%s/exp", dir);
	CHECK(shard_converter_add_path(h, path, &err) == 0, "add_path: %s", err.msg);
	CHECK(shard_converter_add_read(h, read_str, &in, "reader", &err) == 0, "add_read");
	CHECK(run_into(h, dir, &err) == 0, "finish: %s", err.msg);
	CHECK(shard_converter_nulls(h, "k") == 2, "the reader's rows have no partition: %llu",
	      (unsigned long long)shard_converter_nulls(h, "k"));
	shard_converter_free(h);
	snprintf(ds, sizeof ds, "%s/ds", dir);
	CHECK(read_back(ds, "n", "k", &rb) == 0 && rb.rows == 4 && rb.sum == 18, "read back");
	CHECK(strcmp((const char *)rb.strs.p, "a,b|a,b||") == 0, "partition values '%s'", (const char *)rb.strs.p);
	CHECK(strstr(rb.extra, "k.valid") != NULL, "k keeps its nulls: %s", rb.extra);
	shard_buf_free(&rb.strs);
	rmtree(dir);
}

/* ---------------------------------------------------------------- two at once */

struct job {
	struct shard_pool *pool;
	int base;		/* values base, base + 1, ... */
	size_t rows;
	char dir[64];
	struct shard_buf csv;
	int rc;
	struct shard_error err;
	struct shard_convert_stats st;
	uint64_t chunks;
};

static void count_chunk(void *ctx, uint64_t rows, uint64_t bytes)
{
	(void)rows;
	(void)bytes;
	((struct job *)ctx)->chunks++;
}

static void *job_main(void *arg)
{
	struct job *j = arg;
	struct shard_convert_opts o;
	struct shard_converter *h;
	opts_init(&o, "v:int32,s:str");
	o.pool = j->pool;
	o.on_progress = count_chunk;
	o.ctx = j;
	o.writer.size_limit = 1u << 20;
	if ((j->rc = shard_converter_new(&h, &o, &j->err)))
		return NULL;
	if (!(j->rc = shard_converter_add_bytes(h, j->csv.p, j->csv.len, "big.csv", &j->err)))
		j->rc = run_into(h, j->dir, &j->err);
	shard_converter_stats(h, &j->st);
	shard_converter_free(h);
	return NULL;
}

static void test_two_at_once(void)
{
	struct shard_pool *pool;
	struct shard_error err;
	struct job jobs[3] = {{.base = 0, .rows = 600000}, {.base = 1000000, .rows = 400000},
			      {.base = 7, .rows = 50000}};
	pthread_t th[3];
	size_t i, r;

	/* the first two share a pool; the third has its own */
	CHECK(shard_pool_new(&pool, 2, &err) == 0, "pool");
	for (i = 0; i < 3; i++) {
		CHECK(tmpdir(jobs[i].dir, sizeof jobs[i].dir) != NULL, "mkdtemp");
		jobs[i].pool = i < 2 ? pool : NULL;
		for (r = 0; r < jobs[i].rows; r++)
			shard_buf_printf(&jobs[i].csv, "%zu,row %zu of job %zu\n", jobs[i].base + r, r, i);
	}
	for (i = 0; i < 3; i++)
		CHECK(pthread_create(&th[i], NULL, job_main, &jobs[i]) == 0, "thread");
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	shard_pool_free(pool);
	for (i = 0; i < 3; i++) {
		struct readback rb;
		char ds[128];
		int64_t want = 0;
		CHECK(jobs[i].rc == 0, "job %zu: %s", i, jobs[i].err.msg);
		CHECK(jobs[i].st.rows_written == jobs[i].rows, "job %zu wrote %llu", i,
		      (unsigned long long)jobs[i].st.rows_written);
		CHECK(i == 2 || jobs[i].chunks > 1, "job %zu in %llu chunks", i, (unsigned long long)jobs[i].chunks);
		snprintf(ds, sizeof ds, "%s/ds", jobs[i].dir);
		for (r = 0; r < jobs[i].rows; r++)
			want += jobs[i].base + (int64_t)r;
		CHECK(read_back(ds, "v", NULL, &rb) == 0, "read back %zu", i);
		CHECK(rb.rows == jobs[i].rows && rb.sum == want, "job %zu: %llu rows, sum %lld (want %lld)", i,
		      (unsigned long long)rb.rows, (long long)rb.sum, (long long)want);
		shard_buf_free(&rb.strs);
		shard_buf_free(&jobs[i].csv);
		rmtree(jobs[i].dir);
	}
}

int main(void)
{
	static const struct tap_case cases[] = {
		TAP(test_csv_values), TAP(test_rejects), TAP(test_failure), TAP(test_infer_jsonl), TAP(test_partitions_and_reader),
		TAP(test_two_at_once), {0},
	};
	return tap_run(cases);
}
