/* What the files of lib/io that speak HTTP share (remote.c, s3conf.c and the
 * readers and writers of remote datasets): the dataset's place and signing
 * set-up, and the pieces every request needs. Not installed. */
#ifndef SHARD_IO_REMOTE_H
#define SHARD_IO_REMOTE_H

#include <curl/curl.h>

#include "shard.h"

struct shard_remote {
	char *url;		/* the dataset as messages name it, without a trailing slash */
	struct shard_buf base;	/* where requests go: the dataset's directory, ending in '/' */
	int s3, retries;
	long connect_s, low_speed_s;
	char *user, *secret;	/* for libcurl: a URL's user and password, or the S3 key */
	char sigv4[160];	/* CURLOPT_AWS_SIGV4's provider:region:service, or "" for no signature */
	struct curl_slist *headers;
	int follow;		/* plain http(s) follows redirects; a signed request never does */
	/* shard_remote_get's transfer, on a handle of its own */
	CURL *curl;
	struct shard_buf req;
	struct shard_buf *out;
	uint64_t max;
	int first, failed, over, nomem;
	char curl_err[CURL_ERROR_SIZE];
};

/* Give a fresh easy handle what every request of r needs: timeouts, the
 * protocols allowed, credentials or the SigV4 signature, headers, redirects.
 * The handle must not outlive r. */
void remote_easy_init(const struct shard_remote *r, CURL *c);
/* The URL of the dataset's file basename (percent-encoded as S3 signs it),
 * NUL-terminated in out (out->len counts the NUL). */
int remote_file_url(const struct shard_remote *r, const char *basename, struct shard_buf *out);
/* Append s to b with every byte but the unreserved ones and '/' percent-encoded. */
int remote_put_path(struct shard_buf *b, const char *s);
/* Whether a failed request is worth another try: a server restarting, a
 * stalled or cut transfer, 5xx, 429 and 408 answers. */
int remote_transient(CURLcode rc, long code);
/* Sleep before try attempt+1: 0.25 s, 0.5 s, 1 s, ... up to 16 s. */
void remote_backoff(int attempt);
/* S3's reason from an error body (<Code>NoSuchKey</Code>) as " (NoSuchKey)",
 * or "" when it has none. */
void remote_s3_code(const struct shard_buf *b, char *out, size_t n);
/* S3 set-up for s3://BUCKET/PREFIX (path is BUCKET/PREFIX): r->base and the
 * signing fields, from the environment (lib/io/s3conf.c). */
int remote_s3_setup(struct shard_remote *r, const char *path, struct shard_error *err);

/* ---------------------------------------------------------------- writes (lib/io/upload.c) */

/* Objects at most this big go in one PUT; bigger ones in parts this big
 * (SHARDKIT_MULTIPART_SIZE, from S3's smallest part to its largest). */
#define REMOTE_MULTIPART_DEFAULT (64ull << 20)
#define REMOTE_PART_MIN (5ull << 20)
#define REMOTE_PART_MAX (5ull << 30)
/* The multipart size from the environment (SHARD_EARG for no such size). */
int remote_multipart_size(uint64_t *out, struct shard_error *err);
/* The parts of an object of n bytes: 0 for a single PUT, else the count. */
size_t remote_multipart_parts(uint64_t n, uint64_t part_size);

/* Writing to a remote dataset r (not owned, which must outlive it): requests
 * on easy handles of a small free list, so that several threads upload at
 * once. Every request is retried on remote_transient failures (r->retries,
 * paced by remote_backoff); messages name the object as
 * "s3://BUCKET/PREFIX/NAME: METHOD: HTTP 403 (Code)". */
struct remote_up;
int remote_up_new(struct remote_up **u, struct shard_remote *r, struct shard_error *err);
void remote_up_free(struct remote_up *u);
/* PUT the n bytes at p as the dataset's file basename: over the multipart
 * size (S3 only) a multipart upload, aborted when a part fails for good. */
int remote_up_put(struct remote_up *u, const char *basename, const void *p, size_t n, struct shard_error *err);
/* DELETE the file basename (one already gone is no error). */
int remote_up_delete(struct remote_up *u, const char *basename, struct shard_error *err);
/* 1 when the file basename is there, 0 on 404, -status otherwise (a GET of
 * its first byte). */
int remote_up_exists(struct remote_up *u, const char *basename, struct shard_error *err);
/* Transfers under way or to come end at once ("interrupted"); deletes and
 * aborts of multipart uploads still run. Safe from any thread. */
void remote_up_cancel(struct remote_up *u);

/* Every object whose name below the dataset starts with sub ("" for all), in
 * name order (ListObjectsV2, page after page; S3 only). */
int remote_up_list(struct remote_up *u, const char *sub, struct shard_remote_file **v, size_t *n,
		   struct shard_error *err);
/* One page of a ListObjectsV2 answer: its objects whose keys start with
 * prefix (and are longer), the prefix cut off and XML references decoded,
 * appended to *v; *next the continuation token when the listing goes on, else
 * NULL. SHARD_EDATA for an answer that is no listing. */
int remote_list_parse(const char *xml, size_t len, const char *prefix, struct shard_remote_file **v, size_t *n,
		      char **next, struct shard_error *err);

#endif
