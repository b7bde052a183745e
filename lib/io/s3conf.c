/* Where an s3:// dataset lives and how its requests are signed: the endpoint,
 * region and credentials, read from the environment. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "internal.h"
#include "remote.h"

static const char *env_first(const char *a, const char *b)
{
	const char *v = getenv(a);
	if (v && *v)
		return v;
	v = b ? getenv(b) : NULL;
	return v && *v ? v : NULL;
}

/* The base URL of s3://BUCKET/PREFIX and the signing setup. Reads the
 * environment: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (path-style requests to
 * that endpoint), AWS_REGION or AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; no credentials, no signature. */
int remote_s3_setup(struct shard_remote *r, const char *path, struct shard_error *err)
{
	const char *endpoint = env_first("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL");
	const char *region = env_first("AWS_REGION", "AWS_DEFAULT_REGION");
	const char *key = env_first("AWS_ACCESS_KEY_ID", NULL), *secret = env_first("AWS_SECRET_ACCESS_KEY", NULL);
	const char *token = env_first("AWS_SESSION_TOKEN", NULL);
	const char *slash = strchr(path, '/');
	size_t blen = slash ? (size_t)(slash - path) : strlen(path);
	const char *prefix = slash ? slash + 1 : "";
	int rc = 0;

	if (!region)
		region = "us-east-1";
	if (endpoint) {
		size_t n = strlen(endpoint);
		while (n && endpoint[n - 1] == '/')
			n--;
		rc = shard_buf_printf(&r->base, "%.*s/%.*s/", (int)n, endpoint, (int)blen, path);
	} else if (memchr(path, '.', blen)) {
		/* a dotted bucket does not match the wildcard certificate as a host name */
		rc = shard_buf_printf(&r->base, "https://s3.%s.amazonaws.com/%.*s/", region, (int)blen, path);
	} else {
		rc = shard_buf_printf(&r->base, "https://%.*s.s3.%s.amazonaws.com/", (int)blen, path, region);
	}
	if (rc || remote_put_path(&r->base, prefix) || (*prefix && shard_buf_putc(&r->base, '/')))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	if (!key && !secret)
		return 0;
	if (!key || !secret)
		return shard_error_set(err, SHARD_EARG, "%s: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together",
				       r->url);
	{
		struct shard_buf hdr = {0};
		if (!(r->user = strdup(key)) || !(r->secret = strdup(secret)))
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
		snprintf(r->sigv4, sizeof r->sigv4, "aws:amz:%s:s3", region);
		/* libcurl signs this header's value as the payload hash; S3 requires it */
		r->headers = curl_slist_append(r->headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
		if (token && r->headers) {
			struct curl_slist *h = NULL;
			if (!shard_buf_printf(&hdr, "x-amz-security-token: %s", token))
				h = curl_slist_append(r->headers, (const char *)hdr.p);
			shard_buf_free(&hdr);
			if (!h)
				return shard_error_set(err, SHARD_ENOMEM, "out of memory");
		}
		if (!r->headers)
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	return 0;
}

