/* Where an s3:// dataset lives and how its requests are signed: the endpoint,
 * region, credentials and addressing style, resolved as the AWS command line
 * and SDKs resolve them: the environment first, then the profile's sections
 * of the shared credentials and config files (parsed here, by hand). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shard.h"
#include "internal.h"
#include "remote.h"

/* ---------------------------------------------------------------- INI files */

static char *trimmed(const char *p, size_t n)
{
	char *s;
	while (n && isspace((unsigned char)*p))
		p++, n--;
	while (n && isspace((unsigned char)p[n - 1]))
		n--;
	if (!(s = malloc(n + 1)))
		return NULL;
	memcpy(s, p, n);
	s[n] = 0;
	return s;
}

static int ini_add(struct remote_ini *ini, const char *section, const char *parent, char *key, char *value, int line)
{
	struct remote_ini_entry *e;
	if (ini->n == ini->cap) {
		size_t cap = ini->cap ? ini->cap * 2 : 16;
		void *p = realloc(ini->e, cap * sizeof *ini->e);
		if (!p) {
			free(key);
			free(value);
			return -1;
		}
		ini->e = p;
		ini->cap = cap;
	}
	e = &ini->e[ini->n];
	e->section = strdup(section);
	e->parent = parent ? strdup(parent) : NULL;
	e->key = key;
	e->value = value;
	e->line = line;
	ini->n++;
	if (!e->section || (parent && !e->parent))
		return -1;
	return 0;
}

static int ini_error(struct remote_ini *ini, int line, struct shard_error *err, const char *what)
{
	shard_error_set(err, SHARD_EARG, "%s:%d: %s", ini->file, line, what);
	shard_error_file(err, ini->file);
	return shard_error_line(err, (uint64_t)line, 0);
}

/* A section's name with its inner runs of white space made one space:
 * "[profile   dev]" is "profile dev". */
static void squeeze(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++)
		if (!isspace((unsigned char)*p) || (o > s && o[-1] != ' '))
			*o++ = isspace((unsigned char)*p) ? ' ' : *p;
	*o = 0;
}

/* The white space before an inline comment ("value  # note") and after it. */
static size_t cut_comment(const char *s, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if ((s[i] == '#' || s[i] == ';') && isspace((unsigned char)s[i - 1]))
			return i;
	return n;
}

int remote_ini_parse(struct remote_ini *ini, const char *file, const char *text, size_t len, struct shard_error *err)
{
	const char *p = text, *end = text + len;
	char *section = NULL, *parent = NULL;
	int line = 0, rc = 0;

	memset(ini, 0, sizeof *ini);
	if (!(ini->file = strdup(file)))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	for (; p < end && !rc; line++) {
		const char *start = p, *nl = memchr(p, '\n', (size_t)(end - p)), *q = p, *eq;
		size_t n;
		char *key, *value;

		p = nl ? nl + 1 : end;
		n = (size_t)((nl ? nl : end) - start);
		while (q < start + n && (*q == ' ' || *q == '\t'))
			q++;
		n -= (size_t)(q - start);
		if (!n || *q == '#' || *q == ';' || (n == 1 && *q == '\r'))
			continue;
		n = cut_comment(q, n);
		while (n && isspace((unsigned char)q[n - 1]))
			n--;
		if (*q == '[' && q == start) {
			if (q[n - 1] != ']') {
				rc = ini_error(ini, line + 1, err, "a section header without its closing ']'");
				break;
			}
			free(section);
			free(parent);
			parent = NULL;
			if (!(section = trimmed(q + 1, n - 2))) {
				rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
				break;
			}
			squeeze(section);
			if (!*section) {
				rc = ini_error(ini, line + 1, err, "a section with no name ([])");
				break;
			}
			if (ini_add(ini, section, NULL, NULL, NULL, line + 1))
				rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
			continue;
		}
		if (!(eq = memchr(q, '=', n)) || eq == q) {
			rc = ini_error(ini, line + 1, err,
				       eq ? "a setting with no name before its '='"
					  : "expected [SECTION], NAME = VALUE or a comment (# or ;)");
			break;
		}
		if (!section) {
			rc = ini_error(ini, line + 1, err, "a setting before the first [SECTION]");
			break;
		}
		if (q != start && !parent) {
			rc = ini_error(ini, line + 1, err,
				       "an indented line, but no sub-section is open (NAME = alone on its line, then "
				       "indented NAME = VALUE lines)");
			break;
		}
		key = trimmed(q, (size_t)(eq - q));
		value = trimmed(eq + 1, n - (size_t)(eq + 1 - q));
		if (!key || !value) {
			free(key);
			free(value);
			rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
			break;
		}
		for (char *c = key; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (q == start) {
			free(parent);
			parent = NULL;
			/* "s3 =" alone opens a sub-section of indented lines */
			if (!*value && !(parent = strdup(key))) {
				free(key);
				free(value);
				rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
				break;
			}
			if (ini_add(ini, section, NULL, key, value, line + 1))
				rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
		} else if (ini_add(ini, section, parent, key, value, line + 1)) {
			rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
		}
	}
	free(section);
	free(parent);
	if (rc)
		remote_ini_free(ini);
	return rc;
}

static int same(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

const struct remote_ini_entry *remote_ini_get(const struct remote_ini *ini, const char *section, const char *parent,
					      const char *key)
{
	for (size_t i = ini->n; i-- > 0;) {
		const struct remote_ini_entry *e = &ini->e[i];
		if (strcmp(e->section, section) == 0 && same(e->parent, parent) && same(e->key, key))
			return e;
	}
	return NULL;
}

void remote_ini_free(struct remote_ini *ini)
{
	for (size_t i = 0; i < ini->n; i++) {
		free(ini->e[i].section);
		free(ini->e[i].parent);
		free(ini->e[i].key);
		free(ini->e[i].value);
	}
	free(ini->e);
	free(ini->file);
	memset(ini, 0, sizeof *ini);
}

/* ---------------------------------------------------------------- resolution */

static const char *env_first(const char *a, const char *b)
{
	const char *v = getenv(a);
	if (v && *v)
		return v;
	v = b ? getenv(b) : NULL;
	return v && *v ? v : NULL;
}

/* The shared credentials and config files and the profile's sections in them. */
struct profile {
	const char *name;
	int named;			/* AWS_PROFILE or AWS_DEFAULT_PROFILE says which */
	char *path[2];			/* credentials, config; NULL: none (HOME unset) */
	int present[2];
	struct remote_ini ini[2];
	char *section[2];		/* the profile's section in each: "NAME", "profile NAME" */
	struct shard_buf services;	/* "services NAME" of the profile's services = NAME */
};

enum { CRED, CONF };

/* A file's path from the variable, "~/" as HOME, or HOME/.aws/NAME. */
static char *aws_file(const char *var, const char *name)
{
	const char *v = env_first(var, NULL), *home = env_first("HOME", NULL);
	struct shard_buf b = {0};
	int rc;

	if (v && strncmp(v, "~/", 2) == 0 && home)
		rc = shard_buf_printf(&b, "%s%s", home, v + 1);
	else if (v)
		rc = shard_buf_printf(&b, "%s", v);
	else if (home)
		rc = shard_buf_printf(&b, "%s/.aws/%s", home, name);
	else
		return NULL;
	if (rc) {
		shard_buf_free(&b);
		return NULL;
	}
	return (char *)b.p;
}

static int profile_load(struct profile *pf, int which, struct shard_error *err)
{
	struct shard_buf text = {0};
	struct stat st;
	int rc;

	if (!pf->path[which] || stat(pf->path[which], &st) != 0)
		return 0;	/* no such file: nothing from it, as for the SDKs */
	if ((rc = shard_read_file(pf->path[which], &text, 1 << 20, err)))
		return rc;
	rc = remote_ini_parse(&pf->ini[which], pf->path[which], (const char *)text.p, text.len, err);
	shard_buf_free(&text);
	pf->present[which] = !rc;
	return rc;
}

/* The profile's value of key (in sub-section parent, or NULL), the config
 * file's before the credentials file's; where names the file and line. */
static const char *setting(const struct profile *pf, const char *parent, const char *key, char *where, size_t n)
{
	for (int i = CONF; i >= CRED; i--) {
		const struct remote_ini_entry *e;
		if (!pf->present[i] || !pf->section[i] || !(e = remote_ini_get(&pf->ini[i], pf->section[i], parent, key)))
			continue;
		if (where)
			snprintf(where, n, "%s:%d", pf->path[i], e->line);
		return e->value;
	}
	return NULL;
}

static void profile_free(struct profile *pf)
{
	for (int i = 0; i < 2; i++) {
		free(pf->path[i]);
		free(pf->section[i]);
		remote_ini_free(&pf->ini[i]);
	}
	shard_buf_free(&pf->services);
}

static int profile_open(struct profile *pf, const char *url, struct shard_error *err)
{
	const char *var = getenv("AWS_PROFILE") && *getenv("AWS_PROFILE") ? "AWS_PROFILE" : "AWS_DEFAULT_PROFILE";
	struct shard_buf conf = {0};
	int rc;

	memset(pf, 0, sizeof *pf);
	pf->name = env_first("AWS_PROFILE", "AWS_DEFAULT_PROFILE");
	pf->named = pf->name != NULL;
	if (!pf->name)
		pf->name = "default";
	if (!(pf->path[CRED] = aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials")) && env_first("HOME", NULL))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	if (!(pf->path[CONF] = aws_file("AWS_CONFIG_FILE", "config")) && env_first("HOME", NULL))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	if ((rc = profile_load(pf, CRED, err)) || (rc = profile_load(pf, CONF, err)))
		return rc;
	/* the credentials file's sections are profile names; the config file's
	 * are "profile NAME", and "default" for the default profile */
	if (!(pf->section[CRED] = strdup(pf->name)) || shard_buf_printf(&conf, "profile %s", pf->name) ||
	    shard_buf_putc(&conf, 0))
		goto nomem;
	if (pf->present[CONF] && strcmp(pf->name, "default") == 0 &&
	    !remote_ini_get(&pf->ini[CONF], (const char *)conf.p, NULL, NULL)) {
		conf.len = 0;
		if (shard_buf_printf(&conf, "default") || shard_buf_putc(&conf, 0))
			goto nomem;
	}
	pf->section[CONF] = (char *)conf.p;
	conf.p = NULL;
	for (int i = 0; i < 2; i++)
		if (!pf->present[i] || !remote_ini_get(&pf->ini[i], pf->section[i], NULL, NULL)) {
			free(pf->section[i]);
			pf->section[i] = NULL;
		}
	if (pf->named && !pf->section[CRED] && !pf->section[CONF]) {
		if (!pf->path[CRED] && !pf->path[CONF])
			return shard_error_set(err, SHARD_EARG, "%s: the profile %s (%s) cannot be read: HOME is unset and "
					       "neither AWS_SHARED_CREDENTIALS_FILE nor AWS_CONFIG_FILE is set",
					       url, pf->name, var);
		return shard_error_set(err, SHARD_EARG, "%s: the profile %s (%s) is in neither %s (as [%s]) nor %s "
				       "(as [profile %s])%s", url, pf->name, var,
				       pf->path[CRED] ? pf->path[CRED] : "the credentials file", pf->name,
				       pf->path[CONF] ? pf->path[CONF] : "the config file", pf->name,
				       pf->present[CRED] || pf->present[CONF] ? "" : ", which do not exist");
	}
	{
		/* services = NAME: its [services NAME] section holds per-service settings */
		const char *svc = setting(pf, NULL, "services", NULL, 0);
		if (svc && (shard_buf_printf(&pf->services, "services %s", svc) || shard_buf_putc(&pf->services, 0)))
			goto nomem;
	}
	return 0;
nomem:
	shard_buf_free(&conf);
	return shard_error_set(err, SHARD_ENOMEM, "out of memory");
}

/* A profile whose credentials come another way than keys in the files: a
 * usage error rather than unsigned requests and a 403 that does not say why. */
static int elsewhere(const struct profile *pf, const char *const *names, struct shard_error *err)
{
	char where[1100];
	for (; *names; names++)
		if (setting(pf, NULL, *names, where, sizeof where))
			return shard_error_set(err, SHARD_EARG, "%s: the profile %s gets its credentials by %s, which is not "
					       "done here: put them in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and "
					       "AWS_SESSION_TOKEN (as 'aws configure export-credentials --format env' "
					       "prints them)", where, pf->name, *names);
	return 0;
}

/* Credentials of the profile, in the order of the AWS SDKs' chain: a role,
 * web identity or SSO (refused), the credentials file's keys, a credential
 * process (refused), the config file's keys; a key and its secret from the
 * same file. */
static int profile_keys(struct profile *pf, const char **key, const char **secret, const char **token,
			struct shard_error *err)
{
	static const char *const first[] = {"role_arn", "web_identity_token_file", "sso_session", "sso_start_url", NULL};
	static const char *const process[] = {"credential_process", NULL};
	int rc;

	if ((rc = elsewhere(pf, first, err)))
		return rc;
	for (int i = CRED; i <= CONF; i++) {
		const struct remote_ini_entry *k, *s, *t;
		if (i == CONF && (rc = elsewhere(pf, process, err)))
			return rc;
		if (!pf->present[i] || !pf->section[i])
			continue;
		k = remote_ini_get(&pf->ini[i], pf->section[i], NULL, "aws_access_key_id");
		s = remote_ini_get(&pf->ini[i], pf->section[i], NULL, "aws_secret_access_key");
		t = remote_ini_get(&pf->ini[i], pf->section[i], NULL, "aws_session_token");
		if (!k && !s)
			continue;
		if (!k || !s || !*k->value || !*s->value) {
			const struct remote_ini_entry *e = k ? k : s;
			shard_error_set(err, SHARD_EARG, "%s:%d: the profile %s has %s but no %s", pf->path[i], e->line,
					pf->name, e == k ? "aws_access_key_id" : "aws_secret_access_key",
					e == k ? "aws_secret_access_key" : "aws_access_key_id");
			shard_error_file(err, pf->path[i]);
			return shard_error_line(err, (uint64_t)e->line, 0);
		}
		*key = k->value;
		*secret = s->value;
		*token = t && *t->value ? t->value : NULL;
		return 0;
	}
	return 0;
}

/* A bucket name that is one DNS label and so a host name's first part:
 * 3 to 63 lower-case letters, digits and '-', a letter or digit at each end. */
static int dns_label(const char *b, size_t n)
{
	if (n < 3 || n > 63 || b[0] == '-' || b[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '-'))
			return 0;
	return 1;
}

enum { ADDR_AUTO, ADDR_PATH, ADDR_VIRTUAL };

static int addressing(const char *v, int *out)
{
	if (strcmp(v, "auto") == 0)
		*out = ADDR_AUTO;
	else if (strcmp(v, "path") == 0)
		*out = ADDR_PATH;
	else if (strcmp(v, "virtual") == 0)
		*out = ADDR_VIRTUAL;
	else
		return -1;
	return 0;
}

/* The base URL for a custom endpoint: ENDPOINT/BUCKET/ path-style, or
 * SCHEME://BUCKET.HOST[:PORT][/PATH]/ virtual-hosted. */
static int endpoint_base(struct shard_remote *r, const char *endpoint, const char *bucket, size_t blen, int virt,
			 struct shard_error *err)
{
	const char *host = strstr(endpoint, "://"), *hend;
	size_t n = strlen(endpoint);

	while (n && endpoint[n - 1] == '/')
		n--;
	if (!host || (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0) ||
	    (size_t)(host + 3 - endpoint) >= n)
		return shard_error_set(err, SHARD_EARG, "%s: the S3 endpoint %s is not an http:// or https:// URL", r->url,
				       endpoint);
	host += 3;
	if (!virt)
		return shard_buf_printf(&r->base, "%.*s/%.*s/", (int)n, endpoint, (int)blen, bucket)
			       ? shard_error_set(err, SHARD_ENOMEM, "out of memory") : 0;
	hend = host + strcspn(host, ":/");
	if (*host == '[' || strspn(host, "0123456789.") == (size_t)(hend - host))
		return shard_error_set(err, SHARD_EARG, "%s: virtual-hosted addressing puts the bucket in the host name, "
				       "and the endpoint %s has an IP address for its host: use a name (such as "
				       "localhost) or path-style addressing", r->url, endpoint);
	if (shard_buf_printf(&r->base, "%.*s%.*s.%.*s/", (int)(host - endpoint), endpoint, (int)blen, bucket,
			     (int)(n - (size_t)(host - endpoint)), host))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	return 0;
}

static int resolve(struct shard_remote *r, struct profile *pf, const char *path, struct shard_error *err)
{
	char where[1100] = "", awhere[1100] = "";
	const char *ignore = env_first("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", NULL);
	const char *endpoint = env_first("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL");
	const char *region = env_first("AWS_REGION", "AWS_DEFAULT_REGION");
	const char *key = env_first("AWS_ACCESS_KEY_ID", NULL), *secret = env_first("AWS_SECRET_ACCESS_KEY", NULL);
	const char *token = env_first("AWS_SESSION_TOKEN", NULL);
	const char *style = env_first("SHARDKIT_S3_ADDRESSING", NULL);
	const char *slash = strchr(path, '/');
	size_t blen = slash ? (size_t)(slash - path) : strlen(path);
	const char *prefix = slash ? slash + 1 : "";
	int rc = 0, addr = ADDR_AUTO, virt;

	if (!endpoint && !(ignore && strcasecmp(ignore, "true") == 0)) {
		const struct remote_ini_entry *e = NULL;
		for (int i = CONF; i >= CRED && !e && pf->services.len; i--)
			if (pf->present[i])
				e = remote_ini_get(&pf->ini[i], (const char *)pf->services.p, "s3", "endpoint_url");
		endpoint = e ? e->value : setting(pf, NULL, "endpoint_url", NULL, 0);
		if (endpoint && !*endpoint)
			endpoint = NULL;
	}
	if (!region && (region = setting(pf, NULL, "region", where, sizeof where)) && !*region)
		region = NULL;
	if (!region) {
		region = "us-east-1";
		where[0] = 0;
	}
	if (strlen(region) > 64 || strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(region))
		return shard_error_set(err, SHARD_EARG, "%s: region %s%s%s: expected lower-case letters, digits and '-'",
				       r->url, region, where[0] ? " at " : "", where);
	if (style) {
		if (addressing(style, &addr))
			return shard_error_set(err, SHARD_EARG, "SHARDKIT_S3_ADDRESSING=%s: expected path, virtual or auto",
					       style);
	} else if ((style = setting(pf, "s3", "addressing_style", awhere, sizeof awhere)) && addressing(style, &addr)) {
		return shard_error_set(err, SHARD_EARG, "%s: addressing_style = %s: expected path, virtual or auto", awhere,
				       style);
	}
	if (addr == ADDR_VIRTUAL && !dns_label(path, blen) &&
	    (blen < 3 || strspn(path, "abcdefghijklmnopqrstuvwxyz0123456789-.") < blen))
		return shard_error_set(err, SHARD_EARG, "%s: the bucket %.*s is no host name, so it cannot be reached "
				       "virtual-hosted: use path-style addressing", r->url, (int)blen, path);
	/* auto: virtual-hosted at AWS for a bucket that is one DNS label (a dotted
	 * one fails the wildcard certificate), path-style at a custom endpoint */
	virt = addr == ADDR_VIRTUAL || (addr == ADDR_AUTO && !endpoint && dns_label(path, blen));
	if (endpoint)
		rc = endpoint_base(r, endpoint, path, blen, virt, err);
	else if (virt)
		rc = shard_buf_printf(&r->base, "https://%.*s.s3.%s.amazonaws.com/", (int)blen, path, region)
			     ? shard_error_set(err, SHARD_ENOMEM, "out of memory") : 0;
	else
		rc = shard_buf_printf(&r->base, "https://s3.%s.amazonaws.com/%.*s/", region, (int)blen, path)
			     ? shard_error_set(err, SHARD_ENOMEM, "out of memory") : 0;
	if (rc)
		return rc;
	if (remote_put_path(&r->base, prefix) || (*prefix && shard_buf_putc(&r->base, '/')))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");

	if (key || secret) {
		if (!key || !secret)
			return shard_error_set(err, SHARD_EARG,
					       "%s: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together", r->url);
	} else {
		token = NULL;	/* the environment's token goes with the environment's key */
		if ((rc = profile_keys(pf, &key, &secret, &token, err)))
			return rc;
		if (!key)
			return 0;	/* no credentials: unsigned requests */
	}
	if (!(r->user = strdup(key)) || !(r->secret = strdup(secret)))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	snprintf(r->sigv4, sizeof r->sigv4, "aws:amz:%s:s3", region);
	/* libcurl signs this header's value as the payload hash; S3 requires it */
	if (!(r->headers = curl_slist_append(r->headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD")))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	if (token) {
		struct shard_buf hdr = {0};
		struct curl_slist *h = NULL;
		if (!shard_buf_printf(&hdr, "x-amz-security-token: %s", token) && !shard_buf_putc(&hdr, 0))
			h = curl_slist_append(r->headers, (const char *)hdr.p);
		shard_buf_free(&hdr);
		if (!h)
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	return 0;
}

/* The base URL of s3://BUCKET/PREFIX and the signing set-up (remote.h). */
int remote_s3_setup(struct shard_remote *r, const char *path, struct shard_error *err)
{
	struct profile pf;
	int rc = profile_open(&pf, r->url, err);

	if (!rc)
		rc = resolve(r, &pf, path, err);
	profile_free(&pf);
	return rc;
}
