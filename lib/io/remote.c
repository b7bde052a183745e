/* Datasets over the network: a dataset's files fetched whole with libcurl from
 * http(s) servers and S3 (SigV4 signed), one connection kept per dataset. */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shard.h"
#include "internal.h"
#include "remote.h"


static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

/* curl_global_init is not safe to race: once per process, whichever thread
 * opens the first remote dataset. */
static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int shard_is_url(const char *path)
{
	return strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0 || strncmp(path, "s3://", 5) == 0;
}

/* Where the credentials of a URL lie: url[host..at) when at > host. */
struct url_view {
	size_t host;	/* just after "://" */
	size_t at;	/* the '@' ending the credentials, or 0 */
	int ambiguous;	/* a password may run on past the authority */
};

/* HOST, HOST:PORT, [V6] or [V6]:PORT: the part of an authority after its credentials. */
static int host_port(const char *p, size_t n)
{
	const char *end = p + n, *c;
	if (n && *p == '[') {
		c = memchr(p, ']', n);
		if (!c)
			return 0;
		c++;
		if (c < end && *c != ':')
			return 0;
	} else {
		c = memchr(p, ':', n);
	}
	if (c && c < end)
		for (c++; c < end; c++)
			if (*c < '0' || *c > '9')
				return 0;
	return 1;
}

static int url_view(const char *s, struct url_view *v)
{
	const char *sep = strstr(s, "://"), *p, *last = NULL;
	size_t i, end;

	memset(v, 0, sizeof *v);
	if (!sep || sep == s)
		return -1;
	for (p = s; p < sep; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (p > s && ((*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'))))
			return -1;
	v->host = (size_t)(sep - s) + 3;
	end = v->host + strcspn(s + v->host, "/?#");
	for (i = v->host; i < end; i++)
		if (s[i] == '@')
			v->at = i;
	for (p = s + end; *p; p++)
		if (*p == '@')
			last = p;
	if (last && (v->at || !host_port(s + v->host, end - v->host))) {
		v->ambiguous = 1;
		v->at = (size_t)(last - s);
	}
	return 0;
}

const char *shard_url_redact(const char *s, char *buf, size_t n)
{
	struct url_view v;
	if (url_view(s, &v) || !v.at || !n)
		return s;
	snprintf(buf, n, "%.*s***%s", (int)v.host, s, s + v.at);
	return buf;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The n bytes at p percent-decoded, as a new C string (a '%' not followed by
 * two hex digits stays as it is). */
static char *pct_decode(const char *p, size_t n)
{
	char *out = malloc(n + 1), *o = out;
	size_t i;
	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		if (p[i] == '%' && i + 2 < n && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
			*o++ = (char)(hexval(p[i + 1]) << 4 | hexval(p[i + 2]));
			i += 2;
		} else {
			*o++ = p[i];
		}
	}
	*o = 0;
	return out;
}

/* Append s to b with every byte but the unreserved ones and '/' percent-encoded,
 * as S3's canonical request wants a key. */
int remote_put_path(struct shard_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int rc;
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~/", *p))
			rc = shard_buf_putc(b, *p);
		else
			rc = shard_buf_printf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
		if (rc)
			return rc;
	}
	return 0;
}

/* A whole number from min to 86400 from the environment, or def when unset. */
static int env_number(const char *name, long def, long min, long *out, struct shard_error *err)
{
	const char *v = getenv(name);
	char *end;

	*out = def;
	if (!v || !*v)
		return 0;
	errno = 0;
	*out = strtol(v, &end, 10);
	if (errno || end == v || *end || *out < min || *out > 86400)
		return shard_error_set(err, SHARD_EARG, "%s=%s: expected a whole number from %ld to 86400", name, v, min);
	return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct shard_remote *r = ctx;
	size_t len = size * n;

	if (r->first) {
		curl_off_t cl = -1;
		long code = 0;
		r->first = 0;
		curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &code);
		r->failed = code != 200;
		/* one allocation for the whole file when the server says its size */
		curl_easy_getinfo(r->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		if (!r->failed && cl > 0 && (uint64_t)cl <= r->max && shard_buf_reserve(r->out, (size_t)cl)) {
			r->nomem = 1;
			return 0;
		}
	}
	/* of an error's body, the start is enough to say why */
	if (r->failed && r->out->len + len > 65536)
		return len;
	if (!r->failed && len > r->max - r->out->len) {
		r->over = 1;
		return 0;
	}
	if (shard_buf_append(r->out, p, len)) {
		r->nomem = 1;
		return 0;
	}
	return len;
}

/* Check a URL's form; its user and password, if any, go to libcurl decoded,
 * apart from the URL the requests use. libcurl ends the authority at its first
 * '/' as RFC 3986 does: a password with an unescaped '/' would make its tail
 * the host name (looked up and named in messages), so such a URL is refused. */
static int url_checked(const char *url, const char *shown, struct url_view *v, struct shard_error *err)
{
	const char *p;
	if (!shard_is_url(url))
		return shard_error_set(err, SHARD_EARG, "%s: not an http://, https:// or s3:// URL", shown);
	for (p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return shard_error_set(err, SHARD_EARG, "%s: a URL cannot hold spaces or control characters; "
					       "percent-encode them", shown);
	url_view(url, v);
	if (v->ambiguous)
		return shard_error_set(err, SHARD_EARG, "%s: the user or password in the URL holds an '@', '/', '?' or '#' "
				       "that is not percent-encoded (%%40, %%2F, %%3F, %%23), so where its host begins "
				       "is ambiguous", shown);
	if (v->at && url[0] == 's')
		return shard_error_set(err, SHARD_EARG, "%s: an s3:// URL takes no user or password; set "
				       "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", shown);
	return 0;
}

static int take_credentials(struct shard_remote *r, const char *url, const struct url_view *v)
{
	const char *colon = memchr(url + v->host, ':', v->at - v->host);
	if (!(r->user = pct_decode(url + v->host, (size_t)((colon ? colon : url + v->at) - (url + v->host)))) ||
	    (colon && !(r->secret = pct_decode(colon + 1, (size_t)(url + v->at - colon - 1)))))
		return SHARD_ENOMEM;
	return 0;
}

void remote_easy_init(const struct shard_remote *r, CURL *c)
{
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "shardkit/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, r->connect_s);
	/* a stalled transfer ends: below 1 KiB/s for that long */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, r->low_speed_s);
	if (r->sigv4[0])
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, r->sigv4);
	if (r->user)
		curl_easy_setopt(c, CURLOPT_USERNAME, r->user);
	if (r->secret)
		curl_easy_setopt(c, CURLOPT_PASSWORD, r->secret);
	if (r->headers)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->headers);
	if (r->follow) {
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
		curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	}
}

int remote_file_url(const struct shard_remote *r, const char *basename, struct shard_buf *out)
{
	out->len = 0;
	if (shard_buf_append(out, r->base.p, r->base.len) || remote_put_path(out, basename) || shard_buf_putc(out, 0))
		return SHARD_ENOMEM;
	return 0;
}

void remote_backoff(int attempt)
{
	long ms = 250L << (attempt < 6 ? attempt : 6);
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int shard_remote_open(struct shard_remote **out, const char *url, struct shard_error *err)
{
	struct shard_remote *r;
	struct url_view v;
	char shown[1024], *raw;
	const char *name = shard_url_redact(url, shown, sizeof shown);
	size_t n = strlen(url);
	long connect_s, low_speed_s, retries;
	int rc;

	*out = NULL;
	if ((rc = url_checked(url, name, &v, err)))
		return rc;
	/* libcurl reads a timeout of 0 as its own default or none at all */
	if ((rc = env_number("SHARDKIT_CONNECT_TIMEOUT", 10, 1, &connect_s, err)) ||
	    (rc = env_number("SHARDKIT_LOW_SPEED_TIME", 30, 1, &low_speed_s, err)) ||
	    (rc = env_number("SHARDKIT_RETRIES", 3, 0, &retries, err)))
		return rc;
	pthread_once(&global_once, global_init);
	if (global_rc)
		return shard_error_set(err, SHARD_EIO, "%s: libcurl: %s", name, curl_easy_strerror(global_rc));
	/* .../ds/, .../ds and .../ds/index.json all name the dataset .../ds */
	if (n >= 11 && strcmp(url + n - 11, "/index.json") == 0)
		n -= 11;
	while (n && url[n - 1] == '/')
		n--;
	if (n <= (v.at ? v.at + 1 : v.host))
		return shard_error_set(err, SHARD_EARG, "%s: no %s in the URL", name, url[0] == 's' ? "bucket" : "host");
	if (!(r = calloc(1, sizeof *r)))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	r->retries = (int)retries;
	r->connect_s = connect_s;
	r->low_speed_s = low_speed_s;
	if (!(raw = strndup(url, n)) || !(r->url = strdup(shard_url_redact(raw, shown, sizeof shown))) ||
	    !(r->curl = curl_easy_init())) {
		rc = shard_error_set(err, SHARD_ENOMEM, "%s: out of memory", name);
		goto fail;
	}
	if (strncmp(raw, "s3://", 5) == 0) {
		r->s3 = 1;
		if ((rc = remote_s3_setup(r, raw + 5, err)))
			goto fail;
	} else {
		/* the requests' URL without the credentials, which libcurl is given apart */
		if ((v.at && take_credentials(r, raw, &v)) ||
		    shard_buf_printf(&r->base, "%.*s%s/", (int)v.host, raw, raw + (v.at ? v.at + 1 : v.host))) {
			rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
			goto fail;
		}
		/* a signed S3 request must not follow a redirect elsewhere; plain http may */
		r->follow = 1;
	}
	remote_easy_init(r, r->curl);
	curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, r->curl_err);
	curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, r);
	free(raw);
	*out = r;
	return 0;
fail:
	free(raw);
	shard_remote_close(r);
	return rc;
}

const char *shard_remote_url(const struct shard_remote *r)
{
	return r->url;
}

void shard_remote_close(struct shard_remote *r)
{
	if (!r)
		return;
	if (r->curl)
		curl_easy_cleanup(r->curl);
	curl_slist_free_all(r->headers);
	shard_buf_free(&r->base);
	shard_buf_free(&r->req);
	free(r->user);
	free(r->secret);
	free(r->url);
	free(r);
}

/* S3 says why in its error body: <Code>NoSuchKey</Code>. */
void remote_s3_code(const struct shard_buf *b, char *out, size_t n)
{
	const char *p = b->len ? memmem(b->p, b->len, "<Code>", 6) : NULL, *q;

	out[0] = 0;
	if (!p)
		return;
	p += 6;
	q = memmem(p, b->len - (size_t)(p - (const char *)b->p), "</Code>", 7);
	if (q && q - p < 64)
		snprintf(out, n, " (%.*s)", (int)(q - p), p);
}

/* Worth another try: a server restarting (refused, reset, nothing sent), a
 * stalled or timed-out transfer, a server asking for patience. */
int remote_transient(CURLcode rc, long code)
{
	if (rc == CURLE_OK)
		return code >= 500 || code == 429 || code == 408;
	return rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_PARTIAL_FILE || rc == CURLE_GOT_NOTHING ||
	       rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_HTTP2 ||
	       rc == CURLE_HTTP2_STREAM || rc == CURLE_SSL_CONNECT_ERROR;
}

int shard_remote_get(struct shard_remote *r, const char *basename, struct shard_buf *b, uint64_t max,
		     struct shard_error *err)
{
	char tries[32] = "";
	CURLcode rc;
	long code = 0;
	curl_off_t cl = -1;
	int attempt;

	if (remote_file_url(r, basename, &r->req))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	curl_easy_setopt(r->curl, CURLOPT_URL, (const char *)r->req.p);
	r->out = b;
	r->max = max;
	for (attempt = 0;; attempt++) {
		b->len = 0;
		r->first = 1;
		r->over = r->nomem = 0;
		r->curl_err[0] = 0;
		rc = curl_easy_perform(r->curl);
		code = 0;
		curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &code);
		cl = -1;
		curl_easy_getinfo(r->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		if (rc == CURLE_OK && code == 200 && (cl < 0 || (uint64_t)cl == b->len))
			return 0;
		if (!remote_transient(rc, code) || attempt >= r->retries)
			break;
		/* a restarting server gets time to come back */
		remote_backoff(attempt);
	}
	if (attempt)
		snprintf(tries, sizeof tries, " (after %d tries)", attempt + 1);
	if (r->nomem)
		return shard_error_set(err, SHARD_ENOMEM, "%s/%s: out of memory", r->url, basename);
	if (r->over)
		return shard_error_set(err, SHARD_ELIMIT, "%s/%s: file over the limit of %llu bytes", r->url, basename,
				       (unsigned long long)max);
	if ((rc == CURLE_PARTIAL_FILE || rc == CURLE_OK) && code == 200 && cl >= 0)
		return shard_error_set(err, SHARD_EIO, "%s/%s: body cut short: %zu of %lld bytes%s", r->url, basename,
				       b->len, (long long)cl, tries);
	if (rc != CURLE_OK)
		return shard_error_set(err, SHARD_EIO, "%s/%s: %s%s", r->url, basename,
				       r->curl_err[0] ? r->curl_err : curl_easy_strerror(rc), tries);
	{
		char why[80] = "";
		if (r->s3)
			remote_s3_code(b, why, sizeof why);
		b->len = 0;
		return shard_error_set(err, code == 404 ? SHARD_ENOENT : SHARD_EIO, "%s/%s: HTTP %ld%s%s", r->url,
				       basename, code, why, tries);
	}
}
