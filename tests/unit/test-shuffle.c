/* The shuffler through shard.h alone: a small dataset written by the
 * library's writer, shuffled in every mode; each sample arrives as often as
 * the deal says, in the order shard_epoch_order and the dealer give, and the
 * temporary files are gone after shard_shuffler_free (or a kill). Two
 * shufflers run at once on two threads, and two writers on one shared pool. */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shard.h"
#include "tap.h"

#define NSHARDS 7
#define PER_SHARD 150
#define NSAMPLES (NSHARDS * PER_SHARD)

static char top[64], ds[128], dsz[128], tmp[128], stream[128];

/* Entries in a directory, "." and ".." aside; -1 when it cannot be read. */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

/* NSAMPLES samples (id: uint64 i, s: a string i long) in shards of PER_SHARD
 * into dir, or as a shard stream into the file stream_path. */
static int write_ds(const char *dir, const char *stream_path, const char *compression, struct shard_pool *pool)
{
	static const char *const names[] = {"id", "s"}, *const encs[] = {"uint64", "str"};
	struct shard_writer_opts wo = {0};
	struct shard_schema schema;
	struct shard_sink *sink;
	struct shard_writer *w;
	struct shard_error err;
	char text[NSAMPLES + 1];
	uint64_t i;
	int fd = -1;

	memset(text, 'x', sizeof text);
	wo.compression = compression;
	wo.max_samples = PER_SHARD;
	wo.pool = pool;
	if (shard_schema_init(&schema, 2, names, encs, 1, &err))
		return -1;
	if (stream_path) {
		if ((fd = open(stream_path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0 || shard_sink_open_fd(&sink, fd, &err))
			return -1;
	} else if (shard_sink_open_dir(&sink, dir, &err)) {
		return -1;
	}
	shard_sink_set_sync(sink, 0);
	if (shard_writer_new(&w, sink, &schema, &wo, &err))
		return -1;
	for (i = 0; i < NSAMPLES; i++) {
		uint8_t id[8];
		struct shard_field f[2];
		int b;
		for (b = 0; b < 8; b++)
			id[b] = (uint8_t)(i >> (8 * b));
		f[0].p = id;
		f[0].len = 8;
		f[1].p = (const uint8_t *)text;
		f[1].len = (size_t)(i % 97);
		if (shard_writer_add(w, f, &err))
			return -1;
	}
	if (shard_writer_finish(w, &err) || shard_sink_close(sink, &err))
		return -1;
	shard_writer_free(w);
	shard_schema_free(&schema);
	if (fd >= 0)
		close(fd);
	return 0;
}

/* Whether two files hold the same bytes. */
static int same_file(const char *a, const char *b)
{
	struct shard_buf x = {0}, y = {0};
	struct shard_error err;
	int same = !shard_read_file(a, &x, 1ull << 30, &err) && !shard_read_file(b, &y, 1ull << 30, &err) &&
		   x.len == y.len && memcmp(x.p, y.p, x.len) == 0;
	shard_buf_free(&x);
	shard_buf_free(&y);
	return same;
}

struct writing {
	char dir[160];
	struct shard_pool *pool;
	int rc;
};

static void *writing_main(void *arg)
{
	struct writing *wr = arg;
	wr->rc = write_ds(wr->dir, NULL, "zstd", wr->pool);
	return NULL;
}

/* Two writers sharing one pool, each on its thread, write the same bytes as
 * a writer with a pool of its own. */
static void test_writer_pool(void)
{
	struct writing wr[2];
	struct shard_pool *pool;
	struct shard_error err;
	pthread_t th[2];
	int i, k;
	if (shard_pool_new(&pool, 2, &err)) {
		CHECK(0, "pool: %s", err.msg);
		return;
	}
	for (i = 0; i < 2; i++) {
		snprintf(wr[i].dir, sizeof wr[i].dir, "%s/pooled%d", top, i);
		wr[i].pool = pool;
		CHECK(pthread_create(&th[i], NULL, writing_main, &wr[i]) == 0, "cannot start a thread");
	}
	for (i = 0; i < 2; i++) {
		char a[256], b[256];
		pthread_join(th[i], NULL);
		CHECK(wr[i].rc == 0, "writer %d on a shared pool failed", i);
		snprintf(a, sizeof a, "%s/index.json", wr[i].dir);
		snprintf(b, sizeof b, "%s/index.json", dsz);
		CHECK(same_file(a, b), "writer %d: another index.json", i);
		for (k = 0; k < NSHARDS; k++) {
			snprintf(a, sizeof a, "%s/shard.%05d.mds.zstd", wr[i].dir, k);
			snprintf(b, sizeof b, "%s/shard.%05d.mds.zstd", dsz, k);
			CHECK(same_file(a, b), "writer %d: shard %d differs", i, k);
		}
	}
	shard_pool_free(pool);
}

/* The id of a sample, checked against its string's length; UINT64_MAX when
 * the bytes do not split as the entry's schema says. */
static uint64_t sample_id(const struct shard_shuffle_sample *sm)
{
	struct shard_field f[2];
	struct shard_error err;
	uint64_t id = 0;
	int b;
	if (sm->entry->schema.ncols != 2 || shard_sample_split(&sm->entry->schema, sm->p, sm->len, f, &err) ||
	    f[0].len != 8)
		return UINT64_MAX;
	for (b = 0; b < 8; b++)
		id |= (uint64_t)f[0].p[b] << (8 * b);
	return f[1].len == id % 97 ? id : UINT64_MAX;
}

/* Run a shuffle to its end: the ids in order into ids (n of them), or -1
 * with the error's message. */
static int run(const char *path, const struct shard_shuffle_opts *o, uint64_t **ids, uint64_t *n, char *msg)
{
	struct shard_shuffler *s;
	struct shard_shuffle_sample sm;
	struct shard_error err;
	uint64_t cap = 1024;
	int r;

	*n = 0;
	*ids = malloc(cap * sizeof **ids);
	if (shard_shuffler_new(&s, o, &err) || shard_shuffler_open(s, path, &err)) {
		strcpy(msg, err.msg);
		shard_shuffler_free(s);
		return -1;
	}
	while ((r = shard_shuffler_next(s, &sm, &err)) > 0) {
		if (*n == cap)
			*ids = realloc(*ids, (cap *= 2) * sizeof **ids);
		(*ids)[(*n)++] = sample_id(&sm);
	}
	if (r < 0)
		strcpy(msg, err.msg);
	shard_shuffler_free(s);
	return r;
}

/* What a full or block shuffle of the dataset must give. */
static uint64_t *expected(const struct shard_shuffle_opts *o, uint64_t *n)
{
	uint64_t first[NSHARDS + 1], perm[NSAMPLES], k, *out;
	struct shard_dealer d;
	size_t i;
	for (i = 0; i <= NSHARDS; i++)
		first[i] = i * PER_SHARD;
	if (shard_epoch_order(o->seed, o->epoch, o->mode == SHARD_SHUFFLE_BLOCK, first, NSHARDS, perm) ||
	    shard_dealer_init(&d, NSAMPLES, o->rank, o->world ? o->world : 1, o->batch, o->pad, o->skip))
		return NULL;
	out = malloc((d.count + 1) * sizeof *out);
	for (k = 0; k < d.count; k++)
		out[k] = perm[shard_dealer_at(&d, k)];
	*n = d.count;
	return out;
}

static int check_order(const char *path, const struct shard_shuffle_opts *o, const char *what)
{
	uint64_t *got, *want, ng, nw;
	char msg[1100] = "";
	int r = run(path, o, &got, &ng, msg), same;
	want = expected(o, &nw);
	CHECK(r == 0, "%s: %s", what, msg);
	same = want && ng == nw && (!nw || memcmp(got, want, nw * sizeof *got) == 0);
	CHECK(same, "%s: %llu samples, %llu expected, or another order", what, (unsigned long long)ng,
	      (unsigned long long)nw);
	CHECK(entries(tmp) == 0, "%s: temporary files left in %s", what, tmp);
	free(got);
	free(want);
	return same;
}

static void test_full_and_block(void)
{
	static const struct {
		int mode;
		uint64_t rank, world, batch, skip, memory;
		int pad;
		const char *what;
	} cases[] = {
		{SHARD_SHUFFLE_FULL, 0, 1, 0, 0, 0, 0, "full"},
		{SHARD_SHUFFLE_BLOCK, 0, 1, 0, 0, 0, 0, "block"},
		{SHARD_SHUFFLE_FULL, 2, 3, 0, 0, 0, 0, "rank 2 of 3"},
		{SHARD_SHUFFLE_FULL, 1, 4, 16, 0, 0, 1, "batches padded"},
		{SHARD_SHUFFLE_FULL, 1, 4, 16, 0, 0, 0, "batches, the rest dropped"},
		{SHARD_SHUFFLE_BLOCK, 0, 2, 0, 77, 0, 0, "block, skip"},
		{SHARD_SHUFFLE_FULL, 0, 1, 0, 0, 2048, 0, "buckets"},
		{SHARD_SHUFFLE_BLOCK, 1, 3, 0, 5, 1024, 0, "block buckets, rank, skip"},
		{SHARD_SHUFFLE_FULL, 0, 2, 100, 0, 4096, 1, "buckets, padded batches"},
		{SHARD_SHUFFLE_FULL, 0, 1, 0, NSAMPLES, 0, 0, "skip past the end"},
	};
	size_t i;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct shard_shuffle_opts o = {0};
		o.seed = 42 + i;
		o.epoch = i % 3;
		o.mode = cases[i].mode;
		o.rank = cases[i].rank;
		o.world = cases[i].world;
		o.batch = cases[i].batch;
		o.pad = cases[i].pad;
		o.skip = cases[i].skip;
		o.memory = cases[i].memory;
		o.tmpdir = tmp;
		check_order(ds, &o, cases[i].what);
		check_order(dsz, &o, cases[i].what);
	}
}

/* A buffer shuffle: every rank's share together is every sample once, the
 * same on a second run, and not the input's order. */
static void test_buffer(void)
{
	uint64_t world;
	for (world = 1; world <= 3; world++) {
		uint8_t seen[NSAMPLES] = {0};
		uint64_t rank, total = 0, moved = 0;
		for (rank = 0; rank < world; rank++) {
			struct shard_shuffle_opts o = {0};
			uint64_t *a, *b, na, nb, i;
			char msg[1100] = "";
			o.mode = SHARD_SHUFFLE_BUFFER;
			o.buffer = 100;
			o.seed = 5;
			o.rank = rank;
			o.world = world;
			CHECK(run(ds, &o, &a, &na, msg) == 0, "buffer: %s", msg);
			CHECK(run(dsz, &o, &b, &nb, msg) == 0, "buffer: %s", msg);
			CHECK(na == nb && memcmp(a, b, na * sizeof *a) == 0, "buffer: another order on a second run");
			for (i = 0; i < na; i++) {
				CHECK(a[i] < NSAMPLES && !seen[a[i]], "buffer: sample %llu out of range or twice",
				      (unsigned long long)a[i]);
				if (a[i] < NSAMPLES)
					seen[a[i]] = 1;
				moved += a[i] != i * world + rank;
			}
			total += na;
			free(a);
			free(b);
		}
		CHECK(total == NSAMPLES, "buffer, world %llu: %llu samples", (unsigned long long)world,
		      (unsigned long long)total);
		CHECK(moved > NSAMPLES / 2, "buffer, world %llu: the order hardly moved", (unsigned long long)world);
	}
}

/* A stream on stdin: spooled for a full shuffle (in memory and through
 * buckets), read as it comes for a buffer shuffle; the spool is removed. */
static void test_stream(void)
{
	struct shard_shuffle_opts o = {0};
	int saved = dup(0), fd;
	uint64_t *a, *b, na, nb;
	char msg[1100] = "";

	o.seed = 9;
	o.tmpdir = tmp;
	if ((fd = open(stream, O_RDONLY)) < 0 || dup2(fd, 0) < 0) {
		CHECK(0, "cannot read %s", stream);
		return;
	}
	check_order("-", &o, "stream, full");
	lseek(0, 0, SEEK_SET);
	o.memory = 2048;
	o.rank = 1;
	o.world = 2;
	check_order("-", &o, "stream, buckets");
	lseek(0, 0, SEEK_SET);
	memset(&o, 0, sizeof o);
	o.mode = SHARD_SHUFFLE_BUFFER;
	o.buffer = 64;
	CHECK(run("-", &o, &a, &na, msg) == 0, "stream, buffer: %s", msg);
	CHECK(run(ds, &o, &b, &nb, msg) == 0, "stream, buffer: %s", msg);
	CHECK(na == NSAMPLES && na == nb && memcmp(a, b, na * sizeof *a) == 0,
	      "stream, buffer: not the dataset's buffer order");
	free(a);
	free(b);
	dup2(saved, 0);
	close(saved);
	close(fd);
}

static void test_errors(void)
{
	struct shard_shuffle_opts o = {0};
	struct shard_shuffler *s;
	struct shard_error err;
	uint64_t *ids, n;
	char msg[1100] = "", path[160];

	o.rank = 2;
	o.world = 2;
	CHECK(shard_shuffler_new(&s, &o, &err) == SHARD_EARG && !s, "a rank not below world is taken");
	memset(&o, 0, sizeof o);
	o.mode = SHARD_SHUFFLE_BUFFER;
	o.buffer = 10;
	o.batch = 4;
	CHECK(shard_shuffler_new(&s, &o, &err) == SHARD_EARG, "a batch with a buffer shuffle is taken");
	memset(&o, 0, sizeof o);
	o.batch = UINT64_MAX / 2;
	o.world = 3;
	CHECK(run(ds, &o, &ids, &n, msg) == -1 && strstr(msg, "is too large for --world 3"), "batch overflow: %s",
	      msg);
	free(ids);
	memset(&o, 0, sizeof o);
	snprintf(path, sizeof path, "%s/nothing", top);
	CHECK(run(path, &o, &ids, &n, msg) == -1 && strstr(msg, "nothing/index.json"), "no dataset: %s", msg);
	free(ids);
}

/* A kill while the shuffler is mid-way (buckets made, one window read back)
 * removes its temporary files; the process then ends, as after a signal. */
static void test_kill(void)
{
	pid_t pid = fork();
	int st = 0;
	if (pid == 0) {
		struct shard_shuffle_opts o = {0};
		struct shard_shuffler *s;
		struct shard_shuffle_sample sm;
		struct shard_error err;
		o.memory = 1024;
		o.tmpdir = tmp;
		if (shard_shuffler_new(&s, &o, &err) || shard_shuffler_open(s, ds, &err) ||
		    shard_shuffler_next(s, &sm, &err) != 1 || entries(tmp) != 1)
			_exit(2);
		shard_shuffler_kill(s);
		_exit(entries(tmp) == 0 ? 0 : 3);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "kill: status %d", st);
	CHECK(entries(tmp) == 0, "kill: temporary files left");
}

struct job {
	struct shard_shuffle_opts o;
	int ok;
};

static void *job_main(void *arg)
{
	struct job *j = arg;
	uint64_t *got, *want, ng, nw;
	char msg[1100];
	int r = run(ds, &j->o, &got, &ng, msg);
	want = expected(&j->o, &nw);
	j->ok = r == 0 && want && ng == nw && memcmp(got, want, nw * sizeof *got) == 0;
	free(got);
	free(want);
	return NULL;
}

static void test_two_threads(void)
{
	struct job j[2];
	pthread_t th[2];
	int i;
	memset(j, 0, sizeof j);
	for (i = 0; i < 2; i++) {
		j[i].o.seed = 100 + i;
		j[i].o.mode = i ? SHARD_SHUFFLE_BLOCK : SHARD_SHUFFLE_FULL;
		j[i].o.memory = 1024 * (i + 1);	/* through buckets, each its own */
		j[i].o.tmpdir = tmp;
		j[i].o.rank = i;
		j[i].o.world = 2;
		CHECK(pthread_create(&th[i], NULL, job_main, &j[i]) == 0, "cannot start a thread");
	}
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		CHECK(j[i].ok, "shuffler %d on its thread: wrong samples or order", i);
	}
	CHECK(entries(tmp) == 0, "two threads: temporary files left");
}

int main(void)
{
	static const struct tap_case cases[] = {
		TAP(test_writer_pool), TAP(test_full_and_block), TAP(test_buffer), TAP(test_stream), TAP(test_errors), TAP(test_kill),
		TAP(test_two_threads), {0},
	};
	char cmd[128];
	int rc;

	snprintf(top, sizeof top, "%s/test-shuffle.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(top))
		return 99;
	snprintf(ds, sizeof ds, "%s/ds", top);
	snprintf(dsz, sizeof dsz, "%s/dsz", top);
	snprintf(tmp, sizeof tmp, "%s/tmp", top);
	snprintf(stream, sizeof stream, "%s/stream", top);
	if (mkdir(tmp, 0700) || write_ds(ds, NULL, NULL, NULL) || write_ds(dsz, NULL, "zstd", NULL) ||
	    write_ds(NULL, stream, "gz", NULL))
		return 99;
	rc = tap_run(cases);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
