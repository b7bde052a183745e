/* The verifier through shard.h: a dataset written by the library's writer is
 * sound; a corrupted shard byte, a missing file and a file index.json does
 * not reference each arrive at the callback with their fields; two
 * verifiers run at once on two threads. Also the dataset operations: an
 * index created from the shard files, merged from parts and from entry
 * lines, and prune. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shard.h"
#include "tap.h"

static char root[256];

/* A dataset of n samples (id:int64, name:str) in shards of 4 samples,
 * compressed with zstd when zip, under root/name. */
static void write_dataset(char *dir, size_t size, const char *name, int n, int zip)
{
	static const char *const names[] = {"id", "name"}, *const encs[] = {"int64", "str"};
	static const char *const hashes[] = {"sha1", "xxh64"};
	struct shard_writer_opts o = {0};
	struct shard_schema s;
	struct shard_error err;
	struct shard_sink *sink;
	struct shard_writer *w;
	int i, rc;

	snprintf(dir, size, "%s/%s", root, name);
	o.compression = zip ? "zstd" : NULL;
	o.hashes = hashes;
	o.nhashes = 2;
	o.max_samples = 4;
	rc = shard_schema_init(&s, 2, names, encs, 1, &err) || shard_sink_open_dir(&sink, dir, &err) ||
	     shard_writer_new(&w, sink, &s, &o, &err);
	CHECK(!rc, "writer: %s", err.msg);
	if (rc)
		exit(1);
	for (i = 0; i < n; i++) {
		int64_t id = i;
		char text[32];
		struct shard_field f[2];
		snprintf(text, sizeof text, "sample %d", i);
		f[0].p = (const uint8_t *)&id;
		f[0].len = sizeof id;
		f[1].p = (const uint8_t *)text;
		f[1].len = strlen(text);
		CHECK(!shard_writer_add(w, f, &err), "add: %s", err.msg);
	}
	CHECK(!shard_writer_finish(w, &err) && !shard_sink_close(sink, &err), "finish: %s", err.msg);
	shard_writer_free(w);
	shard_schema_free(&s);
}

/* Change the byte at back bytes from the end of a file: set it to value, or
 * with value -1 flip a bit of it. */
static void patch(const char *path, size_t back, int value)
{
	struct shard_buf b = {0};
	struct shard_error err;
	CHECK(!shard_read_file(path, &b, 1 << 20, &err) && b.len >= back, "read %s", path);
	if (b.len >= back)
		b.p[b.len - back] = value < 0 ? b.p[b.len - back] ^ 0x20 : (uint8_t)value;
	CHECK(!shard_write_file_atomic(path, b.p, b.len, 0, &err), "write: %s", err.msg);
	shard_buf_free(&b);
}

/* What the callback got. */
#define MAXP 16
struct found {
	size_t n;
	struct {
		int severity;
		long shard;
		long long sample;
		char file[600], column[64], message[300], unreferenced[200];
	} p[MAXP];
};

static void collect(void *ctx, const struct shard_problem *p)
{
	struct found *f = ctx;
	if (f->n == MAXP)
		return;
	f->p[f->n].severity = p->severity;
	f->p[f->n].shard = p->shard;
	f->p[f->n].sample = p->sample;
	snprintf(f->p[f->n].file, sizeof f->p[0].file, "%s", p->file);
	snprintf(f->p[f->n].column, sizeof f->p[0].column, "%s", p->column ? p->column : "");
	snprintf(f->p[f->n].message, sizeof f->p[0].message, "%s", p->message);
	snprintf(f->p[f->n].unreferenced, sizeof f->p[0].unreferenced, "%s", p->unreferenced ? p->unreferenced : "");
	f->n++;
}

/* Verify dir; the counts and findings, and the run's status. */
static int verify(const char *dir, int strict, const char *expect, struct found *f, struct shard_verify_counts *c)
{
	struct shard_verify_opts o = {0};
	struct shard_verifier *v;
	struct shard_error err;
	int rc;

	memset(f, 0, sizeof *f);
	o.strict = strict;
	o.expect_schema = expect;
	o.problem = collect;
	o.ctx = f;
	if ((rc = shard_verifier_new(&v, &o, &err)))
		return rc;
	rc = shard_verifier_run(v, dir, &err);
	shard_verifier_counts(v, c);
	shard_verifier_free(v);
	return rc;
}

static void test_sound(void)
{
	char dir[300];
	struct found f;
	struct shard_verify_counts c;

	write_dataset(dir, sizeof dir, "sound", 10, 1);
	CHECK(verify(dir, 1, "id:int64,name:str", &f, &c) == 0, "run");
	CHECK(f.n == 0, "%zu findings, first: %s", f.n, f.n ? f.p[0].message : "");
	CHECK(c.shards == 3 && c.samples == 10 && c.samples_ok == 10 && c.shards_read == 3,
	      "counts: %llu shards, %llu samples, %llu ok", (unsigned long long)c.shards, (unsigned long long)c.samples,
	      (unsigned long long)c.samples_ok);
	CHECK(c.bytes > 0 && c.problems == 0 && c.warnings == 0 && c.index_ok && c.listed, "bytes, problems, flags");
}

static void test_corrupt_byte(void)
{
	char dir[300], path[400];
	struct found f;
	struct shard_verify_counts c;

	write_dataset(dir, sizeof dir, "flipped", 10, 0);
	snprintf(path, sizeof path, "%s/shard.00001.mds", dir);
	patch(path, 2, -1);	/* a byte of the last sample's text */
	CHECK(verify(dir, 0, NULL, &f, &c) == 0, "run");
	CHECK(c.problems >= 1 && f.n >= 1, "%llu problems", (unsigned long long)c.problems);
	CHECK(f.p[0].severity == SHARD_PROBLEM_ERROR && f.p[0].shard == 1 && f.p[0].sample == -1,
	      "severity %d, shard %ld, sample %lld", f.p[0].severity, f.p[0].shard, f.p[0].sample);
	CHECK(strcmp(f.p[0].file, path) == 0, "file %s", f.p[0].file);
	CHECK(strstr(f.p[0].message, "mismatch") != NULL, "message %s", f.p[0].message);
	CHECK(c.samples_ok == 6, "%llu samples ok: shard 1's count for none", (unsigned long long)c.samples_ok);
	{
		/* the hashes checked: one of the two listed, or none (sizes only;
		 * the changed text is still valid UTF-8) */
		static const char *const xxh64[] = {"xxh64"};
		struct shard_verify_opts o = {0};
		struct shard_verifier *v;
		struct shard_error err;
		o.hashes = xxh64;
		o.nhashes = 1;
		o.problem = collect;
		o.ctx = &f;
		memset(&f, 0, sizeof f);
		CHECK(!shard_verifier_new(&v, &o, &err) && !shard_verifier_run(v, dir, &err), "run: %s", err.msg);
		CHECK(f.n == 1 && strstr(f.p[0].message, "raw file: xxh64 mismatch"), "xxh64 only: %s",
		      f.n ? f.p[0].message : "nothing");
		shard_verifier_free(v);
		o.nhashes = 0;
		memset(&f, 0, sizeof f);
		CHECK(!shard_verifier_new(&v, &o, &err) && !shard_verifier_run(v, dir, &err), "run: %s", err.msg);
		shard_verifier_counts(v, &c);
		CHECK(f.n == 0 && c.samples_ok == 10, "no hashes: %zu findings", f.n);
		shard_verifier_free(v);
	}
}

static void test_bad_utf8(void)
{
	char dir[300], path[400];
	struct found f;
	struct shard_verify_counts c;
	struct shard_buf b = {0};
	struct shard_error err;
	struct shard_index ix;

	/* the bytes changed and the index made anew over them: only the sample is wrong */
	write_dataset(dir, sizeof dir, "utf8", 4, 0);
	snprintf(path, sizeof path, "%s/shard.00000.mds", dir);
	patch(path, 1, 0xff);
	CHECK(!shard_dataset_create(&ix, dir, NULL, 0, 1, &err), "create: %s", err.msg);
	CHECK(!shard_index_to_json(&ix, &b, &err), "json");
	snprintf(path, sizeof path, "%s/index.json", dir);
	CHECK(!shard_write_file_atomic(path, b.p, b.len, 0, &err), "write index: %s", err.msg);
	shard_buf_free(&b);
	shard_index_free(&ix);
	CHECK(verify(dir, 0, NULL, &f, &c) == 0, "run");
	CHECK(f.n == 1 && f.p[0].shard == 0 && f.p[0].sample == 3 && strcmp(f.p[0].column, "name") == 0,
	      "%zu findings, shard %ld, sample %lld, column '%s': %s", f.n, f.p[0].shard, f.p[0].sample, f.p[0].column,
	      f.p[0].message);
	CHECK(c.samples_ok == 3, "%llu samples ok", (unsigned long long)c.samples_ok);
}

static void test_missing_and_orphan(void)
{
	char dir[300], path[400];
	struct found f;
	struct shard_verify_counts c;
	size_t i;
	int missing = 0, orphan = 0;
	FILE *fp;

	write_dataset(dir, sizeof dir, "holes", 10, 1);
	snprintf(path, sizeof path, "%s/shard.00002.mds.zstd", dir);
	CHECK(unlink(path) == 0, "unlink");
	snprintf(path, sizeof path, "%s/stray.bin", dir);
	fp = fopen(path, "w");
	CHECK(fp && fputs("left over", fp) >= 0 && fclose(fp) == 0, "stray file");
	/* a warning without strict */
	CHECK(verify(dir, 0, NULL, &f, &c) == 0, "run");
	for (i = 0; i < f.n; i++) {
		if (f.p[i].severity == SHARD_PROBLEM_ERROR && f.p[i].shard == 2 && strstr(f.p[i].file, "shard.00002.mds.zstd") &&
		    strcmp(f.p[i].message, "shard file is missing") == 0)
			missing++;
		if (f.p[i].severity == SHARD_PROBLEM_WARNING && strcmp(f.p[i].unreferenced, "stray.bin") == 0 &&
		    strcmp(f.p[i].file, path) == 0 && f.p[i].shard == -1)
			orphan++;
	}
	CHECK(missing == 1 && orphan == 1, "missing %d, orphan %d of %zu findings", missing, orphan, f.n);
	CHECK(c.problems == 1 && c.warnings == 1, "%llu problems, %llu warnings", (unsigned long long)c.problems,
	      (unsigned long long)c.warnings);
	/* a problem with it */
	CHECK(verify(dir, 1, NULL, &f, &c) == 0, "run");
	CHECK(c.problems == 2 && c.warnings == 0 && f.n == 2 && f.p[1].severity == SHARD_PROBLEM_ERROR &&
	      strcmp(f.p[1].unreferenced, "stray.bin") == 0, "strict: %llu problems", (unsigned long long)c.problems);
	{
		struct shard_prune_opts po = {0};
		struct shard_prune_counts pc;
		struct shard_error err;
		struct stat st;
		CHECK(!shard_dataset_prune(dir, &po, &pc, &err), "prune: %s", err.msg);
		CHECK(pc.files == 1 && pc.bytes == 9 && pc.failed == 0 && stat(path, &st) != 0, "pruned %llu files",
		      (unsigned long long)pc.files);
	}
}

static void test_expectations_and_errors(void)
{
	char dir[300];
	struct found f;
	struct shard_verify_counts c;
	struct shard_verify_opts o = {0};
	struct shard_verifier *v;
	struct shard_error err;

	write_dataset(dir, sizeof dir, "expect", 5, 0);
	CHECK(verify(dir, 0, "id:int32,extra:str", &f, &c) == 0, "run");
	CHECK(f.n == 3 && strcmp(f.p[0].column, "id") == 0 && strstr(f.p[0].message, "type int32 expected, int64 found") &&
	      strcmp(f.p[1].column, "extra") == 0 && strcmp(f.p[2].column, "name") == 0,
	      "%zu findings: %s", f.n, f.p[0].message);
	o.expect_schema = "id:nosuchtype";
	CHECK(shard_verifier_new(&v, &o, &err) == SHARD_EARG, "a schema that does not parse");
	o.expect_schema = NULL;
	CHECK(!shard_verifier_new(&v, &o, &err), "new");
	CHECK(shard_verifier_run(v, "/nonexistent/dataset", &err) == SHARD_EIO && strstr(err.msg, "/nonexistent/dataset"),
	      "a missing directory stops the run: %s", err.msg);
	CHECK(shard_verifier_dataset(v) == NULL, "no dataset opened");
	shard_verifier_free(v);
}

static void test_merge(void)
{
	char a[300], b[300], top[300], line[8192];
	struct shard_index ix, lines = {0};
	struct shard_buf j = {0};
	struct shard_error err;
	struct found f;
	struct shard_verify_counts c;
	size_t n;

	snprintf(top, sizeof top, "%s/merged", root);
	write_dataset(a, sizeof a, "merged/a", 8, 1);
	write_dataset(b, sizeof b, "merged/b", 5, 0);
	CHECK(!shard_dataset_merge(&ix, top, top, &n, &err), "merge: %s", err.msg);
	CHECK(n == 2 && ix.nshards == 4 && shard_index_samples(&ix) == 13, "%zu parts, %zu shards", n, ix.nshards);
	CHECK(ix.nshards == 4 && strcmp(ix.shards[0].zip.basename, "a/shard.00000.mds.zstd") == 0 &&
	      strcmp(ix.shards[3].raw.basename, "b/shard.00001.mds") == 0, "rebased basenames");
	/* the same entries, a line each */
	for (n = 0; n < ix.nshards; n++) {
		j.len = 0;
		CHECK(!shard_entry_to_json(&ix.shards[n], &j, &err) && j.len < sizeof line, "entry json");
		memcpy(line, j.p, j.len);
		CHECK(!shard_index_add_line(&lines, top, line, j.len, "line", &err), "add: %s", err.msg);
	}
	CHECK(shard_index_add_line(&lines, top, "{\"x\": 1}", 8, "<stdin>:9", &err) && !strncmp(err.msg, "<stdin>:9: ", 11),
	      "a bad line names where: %s", err.msg);
	CHECK(lines.nshards == 4, "%zu entries", lines.nshards);
	snprintf(line, sizeof line, "%s/index.json", top);
	j.len = 0;
	CHECK(!shard_index_to_json(&lines, &j, &err) && !shard_write_file_atomic(line, j.p, j.len, 0, &err), "write");
	CHECK(verify(top, 1, NULL, &f, &c) == 0 && f.n == 0 && c.samples_ok == 13, "merged dataset: %zu findings: %s",
	      f.n, f.n ? f.p[0].message : "");
	shard_buf_free(&j);
	shard_index_free(&ix);
	shard_index_free(&lines);
}

/* Two verifiers at once, one per thread, each on its own dataset. */
struct job {
	const char *dir;
	int strict;
	struct found f;
	struct shard_verify_counts c;
	int rc;
};

static void *run_job(void *arg)
{
	struct job *j = arg;
	int k;
	for (k = 0; k < 5 && !j->rc; k++)
		j->rc = verify(j->dir, j->strict, NULL, &j->f, &j->c);
	return NULL;
}

static void test_two_threads(void)
{
	char a[300], b[300], path[400];
	struct job ja = {0}, jb = {0};
	pthread_t ta, tb;
	FILE *fp;

	write_dataset(a, sizeof a, "thread-a", 40, 1);
	write_dataset(b, sizeof b, "thread-b", 23, 0);
	snprintf(path, sizeof path, "%s/orphan.txt", b);
	fp = fopen(path, "w");
	CHECK(fp && fclose(fp) == 0, "orphan");
	ja.dir = a;
	jb.dir = b;
	jb.strict = 1;
	if (pthread_create(&ta, NULL, run_job, &ja) || pthread_create(&tb, NULL, run_job, &jb)) {
		CHECK(0, "threads");
		exit(1);
	}
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CHECK(ja.rc == 0 && ja.c.shards == 10 && ja.c.samples_ok == 40 && ja.c.problems == 0 && ja.f.n == 0,
	      "a: %llu shards, %llu ok, %llu problems", (unsigned long long)ja.c.shards,
	      (unsigned long long)ja.c.samples_ok, (unsigned long long)ja.c.problems);
	CHECK(jb.rc == 0 && jb.c.shards == 6 && jb.c.samples_ok == 23 && jb.c.problems == 1 && jb.f.n == 1 &&
	      strcmp(jb.f.p[0].unreferenced, "orphan.txt") == 0,
	      "b: %llu shards, %llu ok, %llu problems", (unsigned long long)jb.c.shards,
	      (unsigned long long)jb.c.samples_ok, (unsigned long long)jb.c.problems);
}

static void cleanup(void)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
}

int main(void)
{
	static const struct tap_case cases[] = {
		TAP(test_sound),
		TAP(test_corrupt_byte),
		TAP(test_bad_utf8),
		TAP(test_missing_and_orphan),
		TAP(test_expectations_and_errors),
		TAP(test_merge),
		TAP(test_two_threads),
		{0},
	};
	const char *tmp = getenv("TMPDIR");
	int rc;

	snprintf(root, sizeof root, "%s/test-verify.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	rc = tap_run(cases);
	cleanup();
	return rc;
}
