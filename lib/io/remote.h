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
 * signing fields, from the environment and the profile's sections of the
 * shared credentials and config files (lib/io/s3conf.c, man/shard-cat.1). */
int remote_s3_setup(struct shard_remote *r, const char *path, struct shard_error *err);

/* An INI file as the AWS credentials and config files write it: [SECTION]
 * headers (inner white space made one space), NAME = VALUE settings (names in
 * lower case, both sides trimmed), comments on lines of their own or after
 * white space (# or ;), and "NAME =" alone opening a sub-section of indented
 * NAME = VALUE lines. */
struct remote_ini_entry {
	char *section;
	char *parent;	/* the sub-section's name, or NULL */
	char *key;	/* NULL for the section's header */
	char *value;
	int line;
};
struct remote_ini {
	char *file;
	struct remote_ini_entry *e;
	size_t n, cap;
};
/* Parse text, named file in messages; a malformed line is SHARD_EARG with
 * "FILE:LINE: what" and err's file and line set. ini is freed on failure. */
int remote_ini_parse(struct remote_ini *ini, const char *file, const char *text, size_t len, struct shard_error *err);
/* The last entry of section with that parent (NULL: none) and key (NULL:
 * the section's header), or NULL. */
const struct remote_ini_entry *remote_ini_get(const struct remote_ini *ini, const char *section, const char *parent,
					      const char *key);
void remote_ini_free(struct remote_ini *ini);

#endif
