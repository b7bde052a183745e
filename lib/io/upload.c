/* Writing a remote dataset: objects PUT whole or, above the multipart size,
 * in parts (S3's multipart upload, each part retried), DELETE, HEAD, and the
 * listing of a prefix (ListObjectsV2). Requests run on easy handles taken
 * from a small free list, so that uploads from several threads run at once
 * and connections are reused. */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "internal.h"
#include "remote.h"

#define FREE_HANDLES 8
#define MAX_PARTS 10000

struct remote_up {
	struct shard_remote *r;		/* not owned */
	pthread_mutex_t lock;		/* guards the free list */
	CURL *handles[FREE_HANDLES];
	int nhandles;
	struct curl_slist *post_headers;	/* r's and the XML type of a POST's body */
	uint64_t part_size;
	char *bucket;			/* the bucket's URL, ending in '/' (S3 only) */
	char *prefix;			/* the dataset's key prefix: "" or "a/b/" (S3 only) */
	int cancel;			/* read and set atomically */
};

/* One request and its answer. */
struct req {
	struct remote_up *u;
	CURL *c;
	const char *method;		/* GET, HEAD, PUT, POST, DELETE */
	const char *url;
	const uint8_t *body;
	size_t n, off;
	int cancellable;
	const char *range;		/* a GET of these bytes only */
	struct shard_buf resp;		/* the body (of an error, its start) */
	char etag[200];
	long code;
	CURLcode rc;
	char curl_err[CURL_ERROR_SIZE];
};

int remote_multipart_size(uint64_t *out, struct shard_error *err)
{
	const char *v = getenv("SHARDKIT_MULTIPART_SIZE");
	*out = REMOTE_MULTIPART_DEFAULT;
	if (!v || !*v)
		return 0;
	if (shard_parse_size(v, out) || *out < REMOTE_PART_MIN || *out > REMOTE_PART_MAX)
		return shard_error_set(err, SHARD_EARG,
				       "SHARDKIT_MULTIPART_SIZE=%s: expected a size from 5 MiB to 5 GiB (S3's part sizes)", v);
	return 0;
}

size_t remote_multipart_parts(uint64_t n, uint64_t part_size)
{
	if (n <= part_size)
		return 0;
	return (size_t)((n + part_size - 1) / part_size);
}

int remote_up_new(struct remote_up **out, struct shard_remote *r, struct shard_error *err)
{
	struct remote_up *u;
	int rc;

	*out = NULL;
	if (!(u = calloc(1, sizeof *u)))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	u->r = r;
	if ((rc = remote_multipart_size(&u->part_size, err))) {
		free(u);
		return rc;
	}
	if (pthread_mutex_init(&u->lock, NULL)) {
		free(u);
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	{
		struct curl_slist *h;
		for (h = r->headers; h; h = h->next)
			if (!(u->post_headers = curl_slist_append(u->post_headers, h->data)))
				goto nomem;
		/* else form-encoded, which a server may take apart as a form */
		if (!(u->post_headers = curl_slist_append(u->post_headers, "Content-Type: application/xml")))
			goto nomem;
	}
	if (r->s3) {
		/* r->url is s3://BUCKET[/PREFIX]; r->base is the bucket's URL, then
		 * PREFIX percent-encoded and a '/' */
		const char *path = r->url + 5, *slash = strchr(path, '/');
		struct shard_buf enc = {0};
		size_t tail;
		if (slash && (remote_put_path(&enc, slash + 1) || shard_buf_putc(&enc, '/')))
			goto nomem;
		tail = enc.len;
		shard_buf_free(&enc);
		if (tail >= r->base.len)
			goto nomem;
		if (!(u->bucket = strndup((const char *)r->base.p, r->base.len - tail)) ||
		    asprintf(&u->prefix, "%s%s", slash ? slash + 1 : "", slash ? "/" : "") < 0) {
			u->prefix = NULL;
			goto nomem;
		}
	}
	*out = u;
	return 0;
nomem:
	remote_up_free(u);
	return shard_error_set(err, SHARD_ENOMEM, "out of memory");
}

void remote_up_free(struct remote_up *u)
{
	int i;
	if (!u)
		return;
	for (i = 0; i < u->nhandles; i++)
		curl_easy_cleanup(u->handles[i]);
	curl_slist_free_all(u->post_headers);
	pthread_mutex_destroy(&u->lock);
	free(u->bucket);
	free(u->prefix);
	free(u);
}

void remote_up_cancel(struct remote_up *u)
{
	__atomic_store_n(&u->cancel, 1, __ATOMIC_SEQ_CST);
}

static int cancelled(struct remote_up *u)
{
	return __atomic_load_n(&u->cancel, __ATOMIC_SEQ_CST);
}

static CURL *take(struct remote_up *u)
{
	CURL *c = NULL;
	pthread_mutex_lock(&u->lock);
	if (u->nhandles)
		c = u->handles[--u->nhandles];
	pthread_mutex_unlock(&u->lock);
	return c ? c : curl_easy_init();
}

static void give(struct remote_up *u, CURL *c)
{
	pthread_mutex_lock(&u->lock);
	if (u->nhandles < FREE_HANDLES) {
		u->handles[u->nhandles++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&u->lock);
	if (c)
		curl_easy_cleanup(c);
}

static size_t on_read(char *p, size_t size, size_t n, void *ctx)
{
	struct req *q = ctx;
	size_t len = size * n;
	if (len > q->n - q->off)
		len = q->n - q->off;
	memcpy(p, q->body + q->off, len);
	q->off += len;
	return len;
}

static int on_seek(void *ctx, curl_off_t to, int origin)
{
	struct req *q = ctx;
	if (origin != SEEK_SET || to < 0 || (uint64_t)to > q->n)
		return CURL_SEEKFUNC_CANTSEEK;
	q->off = (size_t)to;
	return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *p, size_t size, size_t n, void *ctx)
{
	struct req *q = ctx;
	size_t len = size * n;
	/* a listing is long; an error's start says why */
	if (q->resp.len + len > (64u << 20))
		return 0;
	return shard_buf_append(&q->resp, p, len) ? 0 : len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct req *q = ctx;
	size_t len = size * n, k;
	if (len > 5 && strncasecmp(p, "ETag:", 5) == 0) {
		const char *v = p + 5;
		size_t m = len - 5;
		while (m && (*v == ' ' || *v == '\t'))
			v++, m--;
		while (m && (v[m - 1] == '\r' || v[m - 1] == '\n' || v[m - 1] == ' '))
			m--;
		k = m < sizeof q->etag - 1 ? m : sizeof q->etag - 1;
		memcpy(q->etag, v, k);
		q->etag[k] = 0;
	}
	return len;
}

static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct req *q = ctx;
	(void)dt, (void)dn, (void)ut, (void)un;
	return q->cancellable && cancelled(q->u);
}

/* One try of q. */
static void perform_once(struct req *q)
{
	CURL *c = q->c;
	curl_easy_reset(c);
	remote_easy_init(q->u->r, c);
	/* libcurl 7.88 signs an "Expect:" given to drop that header, which the
	 * server does not see: a PUT's 100 Continue is waited for, briefly */
	curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 200L);
	curl_easy_setopt(c, CURLOPT_URL, q->url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, q->curl_err);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, q);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, q);
	if (strcmp(q->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, q);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, q);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->n);
	} else if (strcmp(q->method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, q->u->post_headers);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body ? (const char *)q->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->n);
	} else if (q->range) {
		curl_easy_setopt(c, CURLOPT_RANGE, q->range);
	} else if (strcmp(q->method, "DELETE") == 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	q->off = 0;
	q->resp.len = 0;
	q->etag[0] = q->curl_err[0] = 0;
	q->code = 0;
	q->rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &q->code);
}

/* q with its retries: 0 on a 2xx answer; else err names what (name: the
 * object as messages show it) and how it failed. A 404 is SHARD_ENOENT. */
static int perform(struct req *q, const char *name, struct shard_error *err)
{
	struct remote_up *u = q->u;
	char tries[32] = "", why[80] = "";
	int attempt;

	if (!(q->c = take(u)))
		return shard_error_set(err, SHARD_ENOMEM, "%s: out of memory", name);
	for (attempt = 0;; attempt++) {
		perform_once(q);
		if (q->rc == CURLE_OK && q->code >= 200 && q->code < 300)
			break;
		if (q->cancellable && cancelled(u))
			break;
		if (!remote_transient(q->rc, q->code) || attempt >= u->r->retries)
			break;
		remote_backoff(attempt);
	}
	give(u, q->c);
	q->c = NULL;
	if (q->rc == CURLE_OK && q->code >= 200 && q->code < 300)
		return 0;
	if (attempt)
		snprintf(tries, sizeof tries, " (after %d tries)", attempt + 1);
	if (q->cancellable && cancelled(u))
		return shard_error_set(err, SHARD_EIO, "%s: %s: interrupted", name, q->method);
	if (q->rc != CURLE_OK)
		return shard_error_set(err, SHARD_EIO, "%s: %s: %s%s", name, q->method,
				       q->curl_err[0] ? q->curl_err : curl_easy_strerror(q->rc), tries);
	if (u->r->s3)
		remote_s3_code(&q->resp, why, sizeof why);
	return shard_error_set(err, q->code == 404 ? SHARD_ENOENT : SHARD_EIO, "%s: %s: HTTP %ld%s%s", name, q->method,
			       q->code, why, tries);
}

/* Append s to b with every byte but the unreserved ones percent-encoded, as a
 * signed query string's values must be: a key's encoding with '/' too. */
static int put_query(struct shard_buf *b, const char *s)
{
	const char *slash;
	char part[1024];
	for (; (slash = strchr(s, '/')); s = slash + 1) {
		size_t n = (size_t)(slash - s);
		if (n >= sizeof part)
			return -1;
		memcpy(part, s, n);
		part[n] = 0;
		if (remote_put_path(b, part) || shard_buf_append(b, "%2F", 3))
			return -1;
	}
	return remote_put_path(b, s);
}

/* The object's URL, then query (already encoded, keys in sorted order as the
 * signature wants them) after a '?' when not NULL. */
static int object_url(const struct remote_up *u, const char *basename, const char *query, struct shard_buf *out)
{
	if (remote_file_url(u->r, basename, out))
		return -1;
	out->len--;	/* the NUL */
	if (query && (shard_buf_putc(out, '?') || shard_buf_append(out, query, strlen(query))))
		return -1;
	return shard_buf_putc(out, 0);
}

/* The text between <tag> and </tag> from p on (n bytes), or NULL. */
static const char *xml_field(const char *p, size_t n, const char *tag, size_t *len)
{
	char open[64], close[64];
	const char *a, *b;
	size_t lo = (size_t)snprintf(open, sizeof open, "<%s>", tag), lc = (size_t)snprintf(close, sizeof close, "</%s>", tag);
	if (!(a = memmem(p, n, open, lo)))
		return NULL;
	a += lo;
	if (!(b = memmem(a, n - (size_t)(a - p), close, lc)))
		return NULL;
	*len = (size_t)(b - a);
	return a;
}

/* XML text with its five named entities and numeric references decoded
 * (UTF-8), as a new string. */
static char *xml_text(const char *p, size_t n)
{
	static const struct { const char *name; char c; } ents[] = {
		{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
	char *out = malloc(n * 4 + 1), *o = out;
	size_t i, k;
	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		if (p[i] != '&') {
			*o++ = p[i];
			continue;
		}
		for (k = 0; k < sizeof ents / sizeof ents[0]; k++) {
			size_t l = strlen(ents[k].name);
			if (i + 1 + l <= n && memcmp(p + i + 1, ents[k].name, l) == 0) {
				*o++ = ents[k].c;
				i += l;
				break;
			}
		}
		if (k < sizeof ents / sizeof ents[0])
			continue;
		if (i + 2 < n && p[i + 1] == '#') {
			const char *s = p + i + 2, *semi = memchr(s, ';', n - (i + 2));
			char *end;
			unsigned long cp = 0;
			if (semi) {
				errno = 0;
				cp = *s == 'x' || *s == 'X' ? strtoul(s + 1, &end, 16) : strtoul(s, &end, 10);
				if (end == semi && cp && cp <= 0x10FFFF && !errno) {
					if (cp < 0x80) {
						*o++ = (char)cp;
					} else if (cp < 0x800) {
						*o++ = (char)(0xC0 | cp >> 6);
						*o++ = (char)(0x80 | (cp & 0x3F));
					} else if (cp < 0x10000) {
						*o++ = (char)(0xE0 | cp >> 12);
						*o++ = (char)(0x80 | (cp >> 6 & 0x3F));
						*o++ = (char)(0x80 | (cp & 0x3F));
					} else {
						*o++ = (char)(0xF0 | cp >> 18);
						*o++ = (char)(0x80 | (cp >> 12 & 0x3F));
						*o++ = (char)(0x80 | (cp >> 6 & 0x3F));
						*o++ = (char)(0x80 | (cp & 0x3F));
					}
					i = (size_t)(semi - p);
					continue;
				}
			}
		}
		*o++ = '&';
	}
	*o = 0;
	return out;
}

void shard_remote_files_free(struct shard_remote_file *v, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

int remote_list_parse(const char *xml, size_t len, const char *prefix, struct shard_remote_file **v, size_t *n,
		      char **next, struct shard_error *err)
{
	const char *p = xml, *end = xml + len, *f;
	size_t flen, plen = strlen(prefix);
	int rc;

	*next = NULL;
	if (!memmem(xml, len, "<ListBucketResult", 17))
		return shard_error_set(err, SHARD_EDATA, "not a ListObjectsV2 answer");
	while ((f = xml_field(p, (size_t)(end - p), "Contents", &flen))) {
		const char *k, *s;
		size_t klen, slen;
		char *key, *stop;
		struct shard_remote_file *w;
		unsigned long long size;

		p = f + flen;
		if (!(k = xml_field(f, flen, "Key", &klen)) || !(s = xml_field(f, flen, "Size", &slen)))
			return shard_error_set(err, SHARD_EDATA, "a listed object without its Key or Size");
		if (!(key = xml_text(k, klen)))
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
		errno = 0;
		size = strtoull(s, &stop, 10);
		if (stop != s + slen || errno || !slen) {
			rc = shard_error_set(err, SHARD_EDATA, "%s: a size that is no number", key);
			free(key);
			return rc;
		}
		/* keys outside the prefix are no answer to this listing */
		if (strncmp(key, prefix, plen) != 0 || !key[plen]) {
			free(key);
			continue;
		}
		if (!(w = realloc(*v, (*n + 1) * sizeof *w))) {
			free(key);
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
		}
		*v = w;
		memmove(key, key + plen, strlen(key + plen) + 1);
		w[*n].name = key;
		w[(*n)++].size = size;
	}
	if ((f = xml_field(xml, len, "IsTruncated", &flen)) && flen == 4 && memcmp(f, "true", 4) == 0) {
		if (!(f = xml_field(xml, len, "NextContinuationToken", &flen)) || !flen)
			return shard_error_set(err, SHARD_EDATA, "a truncated listing without its continuation token");
		if (!(*next = xml_text(f, flen)))
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	return 0;
}

static int cmp_object(const void *a, const void *b)
{
	return strcmp(((const struct shard_remote_file *)a)->name, ((const struct shard_remote_file *)b)->name);
}

int remote_up_list(struct remote_up *u, const char *sub, struct shard_remote_file **v, size_t *n,
		   struct shard_error *err)
{
	struct shard_buf url = {0}, query = {0};
	char *token = NULL, *want = NULL, name[1200];
	int rc = 0;

	*v = NULL;
	*n = 0;
	snprintf(name, sizeof name, "%s/%s", u->r->url, sub);
	if (!u->r->s3)
		return shard_error_set(err, SHARD_EARG, "%s: only s3:// datasets can be listed", u->r->url);
	if (asprintf(&want, "%s%s", u->prefix, sub) < 0)
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	do {
		struct req q = {.u = u, .method = "GET", .cancellable = 1};
		char *next = NULL;
		url.len = query.len = 0;
		/* the parameters in the order the signature sorts them */
		if ((token && (shard_buf_printf(&query, "continuation-token=") || put_query(&query, token) ||
			       shard_buf_putc(&query, '&'))) ||
		    shard_buf_printf(&query, "list-type=2&prefix=") || put_query(&query, want) ||
		    shard_buf_printf(&url, "%s?%.*s", u->bucket, (int)query.len, (const char *)query.p)) {
			rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
			break;
		}
		q.url = (const char *)url.p;
		if (!(rc = perform(&q, name, err)) && (rc = remote_list_parse((const char *)q.resp.p, q.resp.len, u->prefix,
									      v, n, &next, err)))
			shard_error_prefix(err, "%s: listing", name);
		shard_buf_free(&q.resp);
		free(token);
		token = next;
	} while (!rc && token);
	free(token);
	free(want);
	shard_buf_free(&url);
	shard_buf_free(&query);
	if (rc) {
		shard_remote_files_free(*v, *n);
		*v = NULL;
		*n = 0;
	} else if (*n) {
		qsort(*v, *n, sizeof **v, cmp_object);
	}
	return rc;
}

/* A request on the object basename; with query (encoded) after its URL. */
static int object_req(struct remote_up *u, const char *method, const char *basename, const char *query,
		      const void *body, size_t n, int cancellable, struct shard_buf *resp, char *etag, size_t etag_n,
		      struct shard_error *err)
{
	struct shard_buf url = {0};
	struct req q = {.u = u, .method = method, .body = body, .n = n, .cancellable = cancellable};
	char name[1200];
	int rc;

	snprintf(name, sizeof name, "%s/%s", u->r->url, basename);
	if (object_url(u, basename, query, &url)) {
		shard_buf_free(&url);
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	q.url = (const char *)url.p;
	rc = perform(&q, name, err);
	if (!rc && etag)
		snprintf(etag, etag_n, "%s", q.etag);
	if (resp) {
		shard_buf_free(resp);
		*resp = q.resp;
	} else {
		shard_buf_free(&q.resp);
	}
	shard_buf_free(&url);
	return rc;
}

int remote_up_delete(struct remote_up *u, const char *basename, struct shard_error *err)
{
	int rc = object_req(u, "DELETE", basename, NULL, NULL, 0, 0, NULL, NULL, 0, err);
	return rc == SHARD_ENOENT ? 0 : rc;
}

int remote_up_exists(struct remote_up *u, const char *basename, struct shard_error *err)
{
	/* a GET of its first byte: unlike HEAD's, its 403 says why in S3's code */
	struct req q = {.u = u, .method = "GET", .cancellable = 1, .range = "0-0"};
	struct shard_buf url = {0};
	char name[1200];
	int rc;

	snprintf(name, sizeof name, "%s/%s", u->r->url, basename);
	if (object_url(u, basename, NULL, &url)) {
		shard_buf_free(&url);
		return -shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	q.url = (const char *)url.p;
	rc = perform(&q, name, err);
	shard_buf_free(&q.resp);
	shard_buf_free(&url);
	if (rc == SHARD_ENOENT)
		return 0;
	return rc ? -rc : 1;
}

/* S3's multipart upload of the n bytes at p. */
static int put_multipart(struct remote_up *u, const char *basename, const uint8_t *p, size_t n,
			 struct shard_error *err)
{
	struct shard_buf resp = {0}, query = {0}, done = {0};
	char *id = NULL, etag[200], name[1200];
	size_t nparts = remote_multipart_parts(n, u->part_size), i, len;
	const char *f;
	int rc;

	snprintf(name, sizeof name, "%s/%s", u->r->url, basename);
	if (nparts > MAX_PARTS)
		return shard_error_set(err, SHARD_ELIMIT, "%s: %zu bytes make %zu parts of SHARDKIT_MULTIPART_SIZE, "
				       "over S3's 10000", name, n, nparts);
	if ((rc = object_req(u, "POST", basename, "uploads=", NULL, 0, 1, &resp, NULL, 0, err)))
		goto out;
	if (!(f = xml_field((const char *)resp.p, resp.len, "UploadId", &len)) || !len) {
		rc = shard_error_set(err, SHARD_EIO, "%s: POST: no UploadId in the answer to CreateMultipartUpload", name);
		goto out;
	}
	if (!(id = xml_text(f, len)) || shard_buf_printf(&done, "<CompleteMultipartUpload>")) {
		rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < nparts && !rc; i++) {
		size_t at = (size_t)(i * u->part_size), m = n - at < u->part_size ? n - at : (size_t)u->part_size;
		query.len = 0;
		if (shard_buf_printf(&query, "partNumber=%zu&uploadId=", i + 1) || put_query(&query, id) ||
		    shard_buf_putc(&query, 0)) {
			rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
			break;
		}
		if ((rc = object_req(u, "PUT", basename, (const char *)query.p, p + at, m, 1, NULL, etag, sizeof etag,
				     err)))
			break;
		if (!etag[0])
			rc = shard_error_set(err, SHARD_EIO, "%s: PUT: part %zu: no ETag in the answer", name, i + 1);
		else if (shard_buf_printf(&done, "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>", i + 1, etag))
			rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	query.len = 0;
	if (shard_buf_printf(&query, "uploadId=") || put_query(&query, id) || shard_buf_putc(&query, 0)) {
		rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
		goto out;
	}
	if (!rc && shard_buf_printf(&done, "</CompleteMultipartUpload>"))
		rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
	if (!rc && !(rc = object_req(u, "POST", basename, (const char *)query.p, done.p, done.len, 1, &resp, NULL, 0,
				     err))) {
		/* S3 may answer 200 and tell of a failure in the body */
		if (resp.len && memmem(resp.p, resp.len, "<Error>", 7)) {
			char why[80];
			remote_s3_code(&resp, why, sizeof why);
			rc = shard_error_set(err, SHARD_EIO, "%s: POST: CompleteMultipartUpload failed%s", name, why);
		}
	}
	if (rc) {
		/* the parts uploaded go with the upload; a failure here leaves them
		 * to the bucket's lifecycle rules */
		struct shard_error ignored;
		object_req(u, "DELETE", basename, (const char *)query.p, NULL, 0, 0, NULL, NULL, 0, &ignored);
	}
out:
	free(id);
	shard_buf_free(&resp);
	shard_buf_free(&query);
	shard_buf_free(&done);
	return rc;
}

int remote_up_put(struct remote_up *u, const char *basename, const void *p, size_t n, struct shard_error *err)
{
	if (u->r->s3 && remote_multipart_parts(n, u->part_size))
		return put_multipart(u, basename, p, n, err);
	return object_req(u, "PUT", basename, NULL, p, n, 1, NULL, NULL, 0, err);
}

/* ---------------------------------------------------------------- the public calls */

/* A writer for one call on r. */
static int up_for(struct shard_remote *r, struct remote_up **u, struct shard_error *err)
{
	if (!r->s3)
		return shard_error_set(err, SHARD_EARG, "%s: only s3:// datasets can be written", r->url);
	return remote_up_new(u, r, err);
}

int shard_remote_list(struct shard_remote *r, const char *sub, struct shard_remote_file **v, size_t *n,
		      struct shard_error *err)
{
	struct remote_up *u;
	int rc;
	*v = NULL;
	*n = 0;
	if ((rc = up_for(r, &u, err)))
		return rc;
	rc = remote_up_list(u, sub, v, n, err);
	remote_up_free(u);
	return rc;
}

int shard_remote_put(struct shard_remote *r, const char *basename, const void *p, size_t n, struct shard_error *err)
{
	struct remote_up *u;
	int rc;
	if ((rc = up_for(r, &u, err)))
		return rc;
	rc = remote_up_put(u, basename, p, n, err);
	remote_up_free(u);
	return rc;
}

int shard_remote_delete(struct shard_remote *r, const char *basename, struct shard_error *err)
{
	struct remote_up *u;
	int rc;
	if ((rc = up_for(r, &u, err)))
		return rc;
	rc = remote_up_delete(u, basename, err);
	remote_up_free(u);
	return rc;
}

/* The listed file name (v sorted), or NULL. */
static const struct shard_remote_file *listed(const struct shard_remote_file *v, size_t n, const char *name)
{
	struct shard_remote_file key = {(char *)name, 0};
	return n ? bsearch(&key, v, n, sizeof *v, cmp_object) : NULL;
}

int shard_index_put_remote(struct shard_remote *r, const struct shard_index *ix, int replace,
			   struct shard_error *err)
{
	struct shard_remote_file *v = NULL;
	struct shard_buf b = {0};
	struct remote_up *u;
	size_t n = 0, i, k;
	int rc;

	if ((rc = up_for(r, &u, err)))
		return rc;
	if ((rc = remote_up_list(u, "", &v, &n, err)))
		goto out;
	if (!replace && listed(v, n, "index.json")) {
		rc = shard_error_set(err, SHARD_EARG, "%s/index.json: already exists", r->url);
		goto out;
	}
	/* a reader never finds an index over a missing shard */
	for (i = 0; i < ix->nshards && !rc; i++)
		for (k = 0; k < 2 && !rc; k++) {
			const struct shard_entry *e = &ix->shards[i];
			const struct shard_fileinfo *f = k ? &e->zip : &e->raw;
			const struct shard_remote_file *o;
			/* a compressed dataset keeps no raw files */
			if ((k && !e->has_zip) || (!k && e->has_zip))
				continue;
			if (!(o = listed(v, n, f->basename)))
				rc = shard_error_set(err, SHARD_EDATA, "%s/%s: the shard that entry %zu names is missing",
						     r->url, f->basename, i);
			else if (o->size != f->bytes)
				rc = shard_error_set(err, SHARD_EDATA, "%s/%s: %llu bytes, the entry says %llu", r->url,
						     f->basename, (unsigned long long)o->size, (unsigned long long)f->bytes);
		}
	if (!rc && !(rc = shard_index_to_json(ix, &b, err)))
		rc = remote_up_put(u, "index.json", b.p, b.len, err);
out:
	shard_buf_free(&b);
	shard_remote_files_free(v, n);
	remote_up_free(u);
	return rc;
}
