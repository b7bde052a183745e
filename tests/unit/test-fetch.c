/* Unit tests of the fetcher (lib/io/fetch.c) against a loopback HTTP server
 * in this process: files come back in queue order whatever order they
 * finish in, the read-ahead window bounds what is held, connections are
 * reused, a 503 is retried for its file alone, 404 and the alternative file,
 * dropped files. The server answers GET /ds/NAME where NAME is
 * s<SIZE>_d<DELAY_MS>[_f<FAILS>]: SIZE bytes of a pattern of NAME, after
 * DELAY_MS, the first FAILS requests of NAME answered 503; a name starting
 * with "missing" is a 404. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "shard.h"
#include "io/remote.h"

#include "tap.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int connections, requests;
static char failed_names[64][64];
static int failed_counts[64], nfailed;

static uint8_t pattern(const char *name, size_t i)
{
	return (uint8_t)(i * 7 + strlen(name) * 31 + (unsigned char)name[strlen(name) - 1]);
}

/* How many times NAME was answered 503 before this request. */
static int fails_so_far(const char *name)
{
	int i, n;
	pthread_mutex_lock(&mu);
	for (i = 0; i < nfailed && strcmp(failed_names[i], name); i++)
		;
	if (i == nfailed && nfailed < 64)
		snprintf(failed_names[nfailed++], sizeof failed_names[0], "%s", name);
	n = failed_counts[i]++;
	pthread_mutex_unlock(&mu);
	return n;
}

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char req[4096];
	size_t have = 0;

	for (;;) {
		char *end, name[256] = "", head[256];
		unsigned long size = 0, delay = 0, fails = 0;
		ssize_t n;
		while (!(end = memmem(req, have, "\r\n\r\n", 4))) {
			if (have == sizeof req || (n = read(fd, req + have, sizeof req - have)) <= 0)
				goto out;
			have += (size_t)n;
		}
		sscanf(req, "GET /ds/%255[^ ]", name);
		pthread_mutex_lock(&mu);
		requests++;
		pthread_mutex_unlock(&mu);
		memmove(req, end + 4, have - (size_t)(end + 4 - req));
		have -= (size_t)(end + 4 - req);
		if (strncmp(name, "missing", 7) == 0) {
			snprintf(head, sizeof head, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
			if (write(fd, head, strlen(head)) < 0)
				goto out;
			continue;
		}
		sscanf(name, "s%lu_d%lu_f%lu", &size, &delay, &fails);
		if (delay) {
			struct timespec ts = {(time_t)(delay / 1000), (long)(delay % 1000) * 1000000L};
			nanosleep(&ts, NULL);
		}
		if (fails && fails_so_far(name) < (int)fails) {
			snprintf(head, sizeof head, "HTTP/1.1 503 Slow Down\r\nContent-Length: 0\r\n\r\n");
			if (write(fd, head, strlen(head)) < 0)
				goto out;
			continue;
		}
		{
			uint8_t *body = malloc(size + 1);
			size_t i;
			for (i = 0; i < size; i++)
				body[i] = pattern(name, i);
			snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %lu\r\n\r\n", size);
			n = write(fd, head, strlen(head));
			for (i = 0; n >= 0 && i < size; i += (size_t)n)
				n = write(fd, body + i, size - i);
			free(body);
			if (n < 0)
				goto out;
		}
	}
out:
	close(fd);
	return NULL;
}

static void *listener(void *arg)
{
	int ls = (int)(intptr_t)arg;
	for (;;) {
		int fd = accept(ls, NULL, NULL);
		pthread_t t;
		if (fd < 0)
			return NULL;
		pthread_mutex_lock(&mu);
		connections++;
		pthread_mutex_unlock(&mu);
		pthread_create(&t, NULL, serve, (void *)(intptr_t)fd);
		pthread_detach(t);
	}
}

static int port;

static void start_server(void)
{
	struct sockaddr_in a = {0};
	socklen_t len = sizeof a;
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	pthread_t t;

	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 64) || getsockname(ls, (struct sockaddr *)&a, &len)) {
		perror("server");
		exit(99);
	}
	port = ntohs(a.sin_port);
	pthread_create(&t, NULL, listener, (void *)(intptr_t)ls);
	pthread_detach(t);
}

static void counts(int *c, int *r)
{
	pthread_mutex_lock(&mu);
	*c = connections;
	*r = requests;
	pthread_mutex_unlock(&mu);
}

static struct shard_remote *open_ds(void)
{
	char url[64];
	struct shard_remote *r;
	struct shard_error err;
	snprintf(url, sizeof url, "http://127.0.0.1:%d/ds", port);
	if (shard_remote_open(&r, url, &err)) {
		printf("# %s\n", err.msg);
		exit(99);
	}
	return r;
}

static int body_ok(const char *name, const struct shard_buf *b, size_t size)
{
	size_t i;
	if (b->len != size)
		return 0;
	for (i = 0; i < size; i++)
		if (b->p[i] != pattern(name, i))
			return 0;
	return 1;
}

static void queue(struct fetcher *f, const char *name, uint64_t size, const char *alt)
{
	struct fetch_spec sp = {0};
	struct shard_error err;
	sp.name = name;
	sp.size = sp.max = size;
	sp.alt = alt;
	sp.alt_size = sp.alt_max = alt ? 1000 : 0;
	CHECK(fetch_queue(f, &sp, &err) == 0, "queue %s", name);
}

/* The first files slowest: they finish last, and still come back first. */
static void test_order(void)
{
	struct shard_remote *r = open_ds();
	struct fetcher *f;
	struct shard_error err;
	struct shard_buf b = {0};
	struct fetch_stats st;
	char names[12][64];
	int i, alt, c0, r0, c1, r1;

	counts(&c0, &r0);
	CHECK(fetch_open(&f, r, 4, 64 << 20, NULL, &err) == 0, "open");
	for (i = 0; i < 12; i++) {
		snprintf(names[i], sizeof names[i], "s%d_d%d", 10000 + 1000 * i, 12 * (12 - i));
		queue(f, names[i], 10000 + 1000 * i, NULL);
	}
	for (i = 0; i < 12; i++) {
		CHECK(fetch_take(f, &b, &alt, &err) == 0, "take %d: %s", i, err.msg);
		CHECK(body_ok(names[i], &b, 10000 + 1000 * i), "file %d: %zu bytes, not its own", i, b.len);
	}
	CHECK(fetch_pending(f) == 0, "nothing left");
	fetch_stats(f, &st);
	counts(&c1, &r1);
	CHECK(st.requests == 12 && r1 - r0 == 12, "12 requests, not %llu (%d)", (unsigned long long)st.requests, r1 - r0);
	/* connections kept for the next files: no more than in flight */
	CHECK(c1 - c0 <= 4, "%d connections for 4 in flight", c1 - c0);
	fetch_close(f);
	shard_remote_close(r);
	shard_buf_free(&b);
}

/* Never more held than the window, but for one file larger than it. */
static void test_window(void)
{
	struct shard_remote *r = open_ds();
	struct fetcher *f;
	struct shard_error err;
	struct shard_buf b = {0};
	struct fetch_stats st;
	int i, alt;

	CHECK(fetch_open(&f, r, 8, 250000, NULL, &err) == 0, "open");
	for (i = 0; i < 10; i++)
		queue(f, "s100000_d0", 100000, NULL);
	for (i = 0; i < 10; i++) {
		struct timespec ts = {0, 20000000};
		nanosleep(&ts, NULL);	/* a slow reader: the fetcher runs ahead to its window */
		CHECK(fetch_take(f, &b, &alt, &err) == 0 && body_ok("s100000_d0", &b, 100000), "file %d", i);
	}
	fetch_stats(f, &st);
	CHECK(st.peak_buffered <= 250000 && st.peak_buffered >= 200000, "held at most %llu bytes, window 250000",
	      (unsigned long long)st.peak_buffered);
	fetch_close(f);

	CHECK(fetch_open(&f, r, 8, 1000, NULL, &err) == 0, "open");
	queue(f, "s1000000_d0", 1000000, NULL);
	queue(f, "s100_d0", 100, NULL);
	CHECK(fetch_take(f, &b, &alt, &err) == 0 && body_ok("s1000000_d0", &b, 1000000), "a file larger than the window");
	CHECK(fetch_take(f, &b, &alt, &err) == 0 && body_ok("s100_d0", &b, 100), "the next one");
	fetch_close(f);
	shard_remote_close(r);
	shard_buf_free(&b);
}

/* A 503 is tried again for its file; the others are not held up; too many
 * 503s fail with the file's URL, status and tries. */
static void test_retry(void)
{
	struct shard_remote *r = open_ds();
	struct fetcher *f;
	struct shard_error err;
	struct shard_buf b = {0};
	char want[128];
	int alt, rc;

	CHECK(fetch_open(&f, r, 4, 1 << 20, NULL, &err) == 0, "open");
	queue(f, "s5000_d0_f2", 5000, NULL);
	queue(f, "s6000_d0", 6000, NULL);
	queue(f, "s7000_d0_f9", 7000, NULL);
	CHECK(fetch_take(f, &b, &alt, &err) == 0 && body_ok("s5000_d0_f2", &b, 5000), "after two 503s: %s", err.msg);
	CHECK(fetch_take(f, &b, &alt, &err) == 0 && body_ok("s6000_d0", &b, 6000), "the next file");
	rc = fetch_take(f, &b, &alt, &err);
	snprintf(want, sizeof want, "http://127.0.0.1:%d/ds/s7000_d0_f9: HTTP 503 (after 4 tries)", port);
	CHECK(rc == SHARD_EIO && strcmp(err.msg, want) == 0, "%d: %s", rc, err.msg);
	fetch_close(f);
	shard_remote_close(r);
	shard_buf_free(&b);
}

/* 404: SHARD_ENOENT, or the alternative file; a dropped file is never taken. */
static void test_missing_and_drop(void)
{
	struct shard_remote *r = open_ds();
	struct fetcher *f;
	struct shard_error err;
	struct shard_buf b = {0};
	int alt, rc;

	CHECK(fetch_open(&f, r, 2, 1 << 20, NULL, &err) == 0, "open");
	queue(f, "missing1", 10, NULL);
	queue(f, "missing2", 10, "s1000_d0");
	queue(f, "s2000_d200", 2000, NULL);
	queue(f, "s3000_d0", 3000, NULL);
	rc = fetch_take(f, &b, &alt, &err);
	CHECK(rc == SHARD_ENOENT && strstr(err.msg, "/ds/missing1: HTTP 404"), "%d: %s", rc, err.msg);
	CHECK(fetch_take(f, &b, &alt, &err) == 0 && alt == 1 && body_ok("s1000_d0", &b, 1000), "the alternative");
	CHECK(fetch_drop(f) == 1, "dropped");
	CHECK(fetch_take(f, &b, &alt, &err) == 0 && body_ok("s3000_d0", &b, 3000), "after the dropped one");
	CHECK(fetch_drop(f) == 0, "nothing to drop");
	fetch_close(f);
	shard_remote_close(r);
	shard_buf_free(&b);
}

int main(void)
{
	static const struct tap_case cases[] = {
		TAP(test_order), TAP(test_window), TAP(test_retry), TAP(test_missing_and_drop), {0},
	};
	setenv("SHARDKIT_RETRIES", "3", 1);
	start_server();
	return tap_run(cases);
}
