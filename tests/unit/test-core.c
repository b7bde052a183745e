/* Unit tests of libshard's core: codecs, hashes (whole and in pieces), sizes, the thread pool, errors and the version. */
#include "config.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shard.h"

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

/* The version: the macros agree with each other, with the library and with
 * the package's version, which configure reads from shard.h. */
static void test_version(void)
{
	char want[32];

	snprintf(want, sizeof want, "%d.%d.%d", SHARD_VERSION_MAJOR, SHARD_VERSION_MINOR, SHARD_VERSION_PATCH);
	CHECK(strcmp(SHARD_VERSION_STRING, want) == 0, "SHARD_VERSION_STRING %s, the numbers say %s",
	      SHARD_VERSION_STRING, want);
	CHECK(strcmp(shard_version(), SHARD_VERSION_STRING) == 0, "shard_version() %s", shard_version());
	CHECK(strcmp(PACKAGE_VERSION, SHARD_VERSION_STRING) == 0, "configure's version %s, shard.h's %s",
	      PACKAGE_VERSION, SHARD_VERSION_STRING);
	CHECK(shard_version_number() == SHARD_VERSION_NUMBER &&
		      SHARD_VERSION_NUMBER == SHARD_VERSION_MAJOR * 10000 + SHARD_VERSION_MINOR * 100 + SHARD_VERSION_PATCH,
	      "shard_version_number() %d", shard_version_number());
}

static void test_status_names(void)
{
	static const struct {
		int status;
		const char *name;
	} v[] = {
		{SHARD_OK, "SHARD_OK"}, {SHARD_EDATA, "SHARD_EDATA"}, {SHARD_EIO, "SHARD_EIO"},
		{SHARD_ENOMEM, "SHARD_ENOMEM"}, {SHARD_EARG, "SHARD_EARG"}, {SHARD_ELIMIT, "SHARD_ELIMIT"},
		{SHARD_EPIPE, "SHARD_EPIPE"}, {SHARD_ENOENT, "SHARD_ENOENT"},
	};
	size_t i;

	for (i = 0; i < sizeof v / sizeof v[0]; i++)
		CHECK(shard_status_name(v[i].status) && strcmp(shard_status_name(v[i].status), v[i].name) == 0,
		      "status %d: %s, want %s", v[i].status, shard_status_name(v[i].status), v[i].name);
	CHECK(shard_status_name(-1) == NULL && shard_status_name(SHARD_ENOENT + 1) == NULL, "no such status");
}

/* An error's place: set clears it, prefix keeps it, the setters set only
 * their part, clear empties it all; a file read names itself. */
static void test_error_place(void)
{
	struct shard_error err;
	char dir[] = "/tmp/shard-unit-XXXXXX", path[300], big[2000];

	memset(&err, 0x5a, sizeof err);
	CHECK(shard_error_set(&err, SHARD_EDATA, "bad %d", 1) == SHARD_EDATA && strcmp(err.msg, "bad 1") == 0 &&
		      err.file[0] == 0 && err.line == 0 && err.column == 0 && err.shard == SHARD_UNKNOWN &&
		      err.sample == SHARD_UNKNOWN,
	      "set leaves a place: %s %llu:%llu", err.file, (unsigned long long)err.line, (unsigned long long)err.column);
	CHECK(shard_error_file(&err, "a.csv") == SHARD_EDATA && shard_error_line(&err, 3, 7) == SHARD_EDATA &&
		      shard_error_item(&err, 2, 9) == SHARD_EDATA,
	      "the setters return the status");
	CHECK(shard_error_prefix(&err, "in") == SHARD_EDATA && strcmp(err.msg, "in: bad 1") == 0 &&
		      strcmp(err.file, "a.csv") == 0 && err.line == 3 && err.column == 7 && err.shard == 2 && err.sample == 9,
	      "prefix loses the place: %s %s %llu:%llu", err.msg, err.file, (unsigned long long)err.line,
	      (unsigned long long)err.column);
	shard_error_file(&err, NULL);
	CHECK(err.file[0] == 0 && err.line == 3, "file NULL: %s", err.file);
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	shard_error_file(&err, big);
	CHECK(strlen(err.file) == sizeof err.file - 1, "a long file name cut to %zu", strlen(err.file));
	shard_error_clear(&err);
	CHECK(err.status == SHARD_OK && err.msg[0] == 0 && err.file[0] == 0 && err.line == 0 && err.column == 0 &&
		      err.shard == SHARD_UNKNOWN && err.sample == SHARD_UNKNOWN,
	      "clear");
	CHECK(shard_error_file(NULL, "x") == 0 && shard_error_line(NULL, 1, 1) == 0 && shard_error_item(NULL, 1, 1) == 0,
	      "a NULL error");
	shard_error_clear(NULL);

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(path, sizeof path, "%s/missing.mds", dir);
	CHECK(shard_read_shard(path, &(struct shard_buf){0}, 100, &err) == SHARD_EIO && strcmp(err.file, path) == 0 &&
		      strstr(err.msg, "missing.mds: No such file"),
	      "a missing shard: %s (%s)", err.file, err.msg);
	CHECK(shard_read_shard(dir, &(struct shard_buf){0}, 100, &err) == SHARD_EDATA && strcmp(err.file, dir) == 0,
	      "a directory: %s (%s)", err.file, err.msg);
	CHECK(shard_read_file(path, &(struct shard_buf){0}, 100, &err) != 0 && strcmp(err.file, path) == 0,
	      "read_file: %s (%s)", err.file, err.msg);
	CHECK(shard_write_file_atomic(path, "x", 1, 0, &err) == 0, "write: %s", err.msg);
	CHECK(shard_read_shard(path, &(struct shard_buf){0}, 0, &err) == SHARD_ELIMIT && strcmp(err.file, path) == 0,
	      "over the limit: %s (%s)", err.file, err.msg);
	unlink(path);
	rmdir(dir);
}

/* The CPU budget follows the affinity mask: a process allowed one CPU (as
 * taskset -c 0, or a Spark executor given one core) gets a pool of one
 * thread, not one per CPU of the machine. In a child, so the mask does not
 * outlive the case. */
static void test_cpu_budget_affinity(void)
{
	cpu_set_t set;
	int cpu = -1, st = 0;
	pid_t pid;

	if (sched_getaffinity(0, sizeof set, &set) != 0) {
		CHECK(0, "sched_getaffinity failed");
		return;
	}
	for (int i = 0; i < CPU_SETSIZE && cpu < 0; i++)
		if (CPU_ISSET(i, &set))
			cpu = i;
	CHECK(shard_cpu_budget() <= (unsigned)CPU_COUNT(&set), "budget %u over the %d CPUs allowed",
	      shard_cpu_budget(), CPU_COUNT(&set));
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct shard_pool *p = NULL;
		struct shard_error err = {0};
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof set, &set) != 0)
			_exit(2);
		if (shard_cpu_budget() != 1)
			_exit(3);
		if (shard_pool_new(&p, 0, &err) || shard_pool_threads(p) != 1)
			_exit(4);
		shard_pool_free(p);
		_exit(0);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st), "child did not finish");
	CHECK(WEXITSTATUS(st) == 0, "one CPU allowed: child exit %d (3: budget not 1, 4: pool not of 1 thread)",
	      WEXITSTATUS(st));
}

int main(void)
{
	static const struct tap_case cases[] = {
		TAP(test_version),
		TAP(test_status_names),
		TAP(test_error_place),
		TAP(test_codecs),
		TAP(test_hashes),
		TAP(test_hash_pieces),
		TAP(test_sizes),
		TAP(test_pool),
		TAP(test_cpu_budget_affinity),
		{0},
	};
	return tap_run(cases);
}
