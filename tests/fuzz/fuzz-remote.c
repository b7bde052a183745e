/* Remote datasets' response handling: the input is the raw HTTP response a
 * tiny server in this process (a thread, on 127.0.0.1 only) sends to every
 * request, and the library fetches a file from it as a dataset's http:// or
 * s3:// URL. Every request, redirects included, goes through that server as
 * the proxy, so nothing leaves the machine. A fetch must keep its size cap,
 * and credentials must never go to another host. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shard.h"
#include "fuzz.h"

#define FAIL(...) FUZZ_FAIL("remote: " __VA_ARGS__)

#define PASSWORD "pw-fuzz-7Qk"

static int lfd = -1, port;

struct server {
	const uint8_t *p;
	size_t n;
	int stop[2];
	int leak;
	char leaked[256];
};

static int setup(void)
{
	struct sockaddr_in a;
	socklen_t al = sizeof a;
	char url[64];

	if (lfd >= 0)
		return 0;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -1;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 64) ||
	    getsockname(lfd, (struct sockaddr *)&a, &al)) {
		close(lfd);
		lfd = -1;
		return -1;
	}
	port = ntohs(a.sin_port);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
	/* fast failures, no retries, every request to this server */
	setenv("SHARDKIT_RETRIES", "0", 1);
	setenv("SHARDKIT_CONNECT_TIMEOUT", "1", 1);
	setenv("SHARDKIT_LOW_SPEED_TIME", "1", 1);
	setenv("http_proxy", url, 1);
	setenv("https_proxy", url, 1);
	setenv("HTTPS_PROXY", url, 1);
	setenv("all_proxy", url, 1);
	setenv("ALL_PROXY", url, 1);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	setenv("AWS_ENDPOINT_URL_S3", url, 1);
	setenv("AWS_REGION", "us-east-1", 1);
	setenv("AWS_ACCESS_KEY_ID", "AKFUZZ", 1);
	setenv("AWS_SECRET_ACCESS_KEY", PASSWORD, 1);
	unsetenv("AWS_SESSION_TOKEN");
	return 0;
}

/* The host a request is for: the request line's absolute URL (through a
 * proxy), CONNECT's authority, or the Host header; without its port. */
static void request_host(const char *req, char *host, size_t n)
{
	const char *sp = strchr(req, ' '), *h, *e;
	host[0] = 0;
	if (!sp)
		return;
	h = sp + 1;
	if (!strncmp(h, "http://", 7))
		h += 7;
	else if (!strncmp(h, "https://", 8))
		h += 8;
	else if (strncmp(req, "CONNECT ", 8) != 0) {
		h = strcasestr(req, "\r\nHost:");
		if (!h)
			return;
		h += 7;
		while (*h == ' ')
			h++;
	}
	if (*h == '[') {
		e = strchr(h, ']');
		e = e ? e + 1 : h + strcspn(h, " /\r");
	} else {
		e = h + strcspn(h, ":/ \r?");
	}
	snprintf(host, n, "%.*s", (int)(e - h), h);
}

static void serve_one(struct server *s, int c)
{
	char req[8192], host[256];
	size_t got = 0;
	size_t off = 0;

	/* the request, up to its blank line */
	while (got + 1 < sizeof req) {
		struct pollfd pf = {c, POLLIN, 0};
		ssize_t r;
		if (poll(&pf, 1, 2000) <= 0)
			break;
		r = recv(c, req + got, sizeof req - 1 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
		req[got] = 0;
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[got] = 0;
	if (!got)
		return;
	request_host(req, host, sizeof host);
	if (strcasestr(req, "\r\nAuthorization:") && strcmp(host, "127.0.0.1") != 0 && !s->leak) {
		s->leak = 1;
		snprintf(s->leaked, sizeof s->leaked, "%.*s", (int)strcspn(req, "\r"), req);
	}
	while (off < s->n) {
		ssize_t w = send(c, s->p + off, s->n - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	shutdown(c, SHUT_WR);
}

static void *serve(void *arg)
{
	struct server *s = arg;
	int conns;
	for (conns = 0; conns < 32; conns++) {
		struct pollfd pf[2] = {{lfd, POLLIN, 0}, {s->stop[0], POLLIN, 0}};
		int c;
		if (poll(pf, 2, -1) < 0 || pf[1].revents)
			break;
		c = accept(lfd, NULL, NULL);
		if (c < 0)
			continue;
		serve_one(s, c);
		close(c);
	}
	return NULL;
}

/* Byte 0: bit 0 s3:// rather than http://, bit 1 a user and password in the
 * http:// URL, bit 2 the index through shard_index_load_remote, bits 3-5 the
 * size cap. The rest is the response. */
int fuzz_remote(const uint8_t *data, size_t size)
{
	static const uint64_t caps[] = {0, 1, 16, 100, 1000, 65536, 1u << 20, 0xFFFFFFFFull};
	struct fuzz_in in = {data, size, 0};
	struct server s;
	struct shard_remote *r;
	struct shard_error err;
	struct shard_buf b = {0};
	pthread_t th;
	uint8_t sel = fuzz_u8(&in);
	uint64_t cap = caps[sel >> 3 & 7];
	char url[128];
	int rc;

	if (setup())
		return 0;
	memset(&s, 0, sizeof s);
	s.p = data + in.i;
	s.n = fuzz_left(&in);
	if (pipe(s.stop))
		return 0;
	if (pthread_create(&th, NULL, serve, &s)) {
		close(s.stop[0]);
		close(s.stop[1]);
		return 0;
	}
	if (sel & 1)
		snprintf(url, sizeof url, "s3://bucket/ds");
	else if (sel & 2)
		snprintf(url, sizeof url, "http://fuzz:" PASSWORD "@127.0.0.1:%d/ds/", port);
	else
		snprintf(url, sizeof url, "http://127.0.0.1:%d/ds", port);
	if (shard_remote_open(&r, url, &err))
		FAIL("%s: %s", url, err.msg);
	if (strstr(shard_remote_url(r), PASSWORD))
		FAIL("the password shows in %s", shard_remote_url(r));
	if (sel & 4) {
		struct shard_index ix;
		if (shard_index_load_remote(&ix, r, &err) == 0)
			shard_index_free(&ix);
		else if (!err.status || !err.msg[0])
			FAIL("index.json failed without a message");
	} else {
		rc = shard_remote_get(r, "shard.00000.mds", &b, cap, &err);
		if (rc == 0 && b.len > cap)
			FAIL("%zu bytes fetched under a cap of %llu", b.len, (unsigned long long)cap);
		if (rc && (!err.status || !err.msg[0]))
			FAIL("a failed fetch without a message");
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "remote: %s: rc %d, %zu bytes: %s\n", url, rc, b.len, rc ? err.msg : "");
	}
	shard_remote_close(r);
	if (write(s.stop[1], "x", 1) != 1)
		abort();
	pthread_join(th, NULL);
	close(s.stop[0]);
	close(s.stop[1]);
	shard_buf_free(&b);
	if (s.leak)
		FAIL("credentials sent to another host: %s", s.leaked);
	return 0;
}
