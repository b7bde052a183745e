/* Unit tests of libshard's io layer: the writer's split rule through a sink,
 * URLs as messages show them, the AWS credentials and config files as the
 * S3 set-up reads them (lib/io/s3conf.c, an internal of lib/io), and the
 * pieces of writing to S3 that need no server (a listing's XML, the
 * multipart plan). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shard.h"
#include "io/remote.h"

#include "tap.h"

/* Split rule: flush when size_limit < current + len + 4; current starts at 8 + len(config). */
static void test_split(void)
{
	static const char *names[] = {"x"}, *encs[] = {"bytes"};
	struct shard_schema s;
	struct shard_error err;
	struct shard_writer *w;
	struct shard_sink *sink;
	struct shard_buf cfg = {0};
	struct shard_entry tmpl = {0};
	char dir[] = "/tmp/shard-unit-XXXXXX", path[256];
	struct shard_index ix;
	uint8_t sample[100];
	uint64_t limit;
	int i;

	memset(sample, 'x', sizeof sample);
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	shard_schema_init(&s, 1, names, encs, 1, &err);
	/* config length for this schema with a 3-digit size limit */
	shard_schema_init(&tmpl.schema, 1, names, encs, 1, &err);
	tmpl.size_limit = 100;
	shard_entry_config_json(&tmpl, &cfg, &err);
	/* room for exactly 3 samples of 4+100 bytes each (+4 size prefix) */
	limit = 8 + cfg.len + 3 * (4 + 104);
	CHECK(limit >= 100 && limit < 1000, "limit %llu not 3 digits", (unsigned long long)limit);
	{
		struct shard_writer_opts o = {NULL, NULL, 0, limit, 0};
		snprintf(path, sizeof path, "%s/ds", dir);
		shard_sink_open_dir(&sink, path, &err);
		CHECK(shard_writer_new(&w, sink, &s, &o, &err) == 0, "writer: %s", err.msg);
	}
	for (i = 0; i < 7; i++) {
		struct shard_field f = {sample, sizeof sample};
		CHECK(shard_writer_add(w, &f, &err) == 0, "add: %s", err.msg);
	}
	shard_writer_finish(w, &err);
	shard_sink_close(sink, &err);
	shard_writer_free(w);
	/* the same samples in one batched call give the same shards, byte for byte */
	{
		struct shard_writer_opts o = {NULL, NULL, 0, limit, 0};
		struct shard_buf all = {0}, a = {0}, b = {0};
		uint32_t lens[7];
		char p2[256];
		for (i = 0; i < 7; i++) {
			struct shard_field f = {sample, sizeof sample};
			shard_sample_encode(&s, &f, &all, &err);
			lens[i] = 4 + sizeof sample;
		}
		snprintf(p2, sizeof p2, "%s/many", dir);
		shard_sink_open_dir(&sink, p2, &err);
		CHECK(shard_writer_new(&w, sink, &s, &o, &err) == 0, "writer: %s", err.msg);
		CHECK(shard_writer_add_many(w, all.p, lens, 3, &err) == 0, "add_many: %s", err.msg);
		CHECK(shard_writer_add_many(w, all.p + 3 * lens[0], lens, 4, &err) == 0, "add_many: %s", err.msg);
		shard_writer_finish(w, &err);
		shard_sink_close(sink, &err);
		shard_writer_free(w);
		snprintf(path, sizeof path, "%s/ds/index.json", dir);
		shard_read_file(path, &a, 1 << 20, &err);
		snprintf(p2, sizeof p2, "%s/many/index.json", dir);
		shard_read_file(p2, &b, 1 << 20, &err);
		CHECK(a.len && a.len == b.len && memcmp(a.p, b.p, a.len) == 0, "add_many made other shards than add");
		shard_buf_free(&all);
		shard_buf_free(&a);
		shard_buf_free(&b);
	}
	snprintf(path, sizeof path, "%s/ds/index.json", dir);
	CHECK(shard_index_load(&ix, path, &err) == 0, "index: %s", err.msg);
	CHECK(ix.nshards == 3 && ix.shards[0].samples == 3 && ix.shards[1].samples == 3 && ix.shards[2].samples == 1,
	      "split into %zu shards", ix.nshards);
	CHECK(ix.nshards == 3 && ix.shards[0].raw.bytes == limit, "first shard %llu bytes, limit %llu",
	      (unsigned long long)ix.shards[0].raw.bytes, (unsigned long long)limit);
	shard_index_free(&ix);
	shard_buf_free(&cfg);
	shard_entry_free(&tmpl);
	shard_schema_free(&s);
	{
		struct shard_writer_opts o = {NULL, NULL, 0, 5ull << 30, 0};
		CHECK(shard_writer_new(&w, NULL, &s, &o, &err) != 0, "size limit over 4 GiB accepted");
	}
	snprintf(path, sizeof path, "rm -rf '%s'", dir);
	CHECK(system(path) == 0, "cleanup");
}

/* What a message shows of a URL: its user and password never. */
static void test_url_redact(void)
{
	static const struct { const char *url, *shown; } v[] = {
		{"https://host/ds", "https://host/ds"},
		{"https://u:p@host/ds", "https://***@host/ds"},
		{"https://u:pa%40ss@host:8443/ds", "https://***@host:8443/ds"},
		{"https://token@host", "https://***@host"},
		{"https://u:p@ss@host/ds", "https://***@host/ds"},	/* the authority's last '@' */
		{"https://u:p@ss/w@host/ds", "https://***@host/ds"},	/* ambiguous: up to the last '@' */
		{"https://u:p/w@host/ds", "https://***@host/ds"},	/* "u:p" is no HOST:PORT */
		{"https://u:p?w@host/ds", "https://***@host/ds"},
		{"https://u:p#w@host/ds", "https://***@host/ds"},
		{"https://host:8080/users/a@b/ds", "https://host:8080/users/a@b/ds"},	/* a path's '@' */
		{"https://[::1]:8080/a@b", "https://[::1]:8080/a@b"},
		{"https://u:p@[::1]:8080/ds", "https://***@[::1]:8080/ds"},
		{"s3://key:secret@bucket/ds", "s3://***@bucket/ds"},
		{"s3://bucket/a@b", "s3://bucket/a@b"},
		{"ds/a@b", "ds/a@b"},
		{"://u:p@host", "://u:p@host"},
	};
	char buf[256];
	size_t i;
	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		const char *got = shard_url_redact(v[i].url, buf, sizeof buf);
		CHECK(strcmp(got, v[i].shown) == 0, "%s shown as %s, want %s", v[i].url, got, v[i].shown);
		CHECK((got == v[i].url) == (strcmp(v[i].url, v[i].shown) == 0), "%s: copied for nothing", v[i].url);
	}
	CHECK(strcmp(shard_url_redact("https://u:p@host/ds", buf, 9), "https://") == 0, "cut short: %s", buf);
}

/* A source's faults say where: the shard file and its index.json entry. */
static void test_source_place(void)
{
	static const char *names[] = {"x"}, *encs[] = {"bytes"};
	struct shard_writer_opts o = {.max_samples = 1};
	struct shard_schema s;
	struct shard_error err;
	struct shard_writer *w;
	struct shard_sink *sink;
	struct shard_source *src;
	struct shard_item it = {0};
	char dir[] = "/tmp/shard-unit-XXXXXX", path[300], gone[300];
	int i, rc;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(path, sizeof path, "%s/ds", dir);
	CHECK(shard_schema_init(&s, 1, names, encs, 1, &err) == 0 && shard_sink_open_dir(&sink, path, &err) == 0 &&
		      shard_writer_new(&w, sink, &s, &o, &err) == 0,
	      "writer: %s", err.msg);
	for (i = 0; i < 3; i++) {
		struct shard_field f = {(const uint8_t *)"abc", 3};
		CHECK(shard_writer_add(w, &f, &err) == 0, "add: %s", err.msg);
	}
	CHECK(shard_writer_finish(w, &err) == 0 && shard_sink_close(sink, &err) == 0, "finish: %s", err.msg);
	shard_writer_free(w);
	shard_schema_free(&s);
	snprintf(gone, sizeof gone, "%s/shard.00001.mds", path);
	CHECK(unlink(gone) == 0, "unlink %s", gone);

	CHECK(shard_source_open(&src, path, 0, &err) == 0, "open: %s", err.msg);
	CHECK(shard_source_next(src, &it, &err) == 1 && err.status == 0 && err.file[0] == 0 &&
		      err.shard == SHARD_UNKNOWN,
	      "shard 0: %s", err.msg);
	rc = shard_source_next(src, &it, &err);
	CHECK(rc == -SHARD_EDATA && strcmp(err.file, gone) == 0 && err.shard == 1 && err.sample == SHARD_UNKNOWN &&
		      err.line == 0 && strstr(err.msg, "shard 1 is missing (index.json lists it)"),
	      "shard 1: rc %d, %s shard %llu: %s", rc, err.file, (unsigned long long)err.shard, err.msg);
	shard_item_free(&it);
	shard_source_close(src);

	snprintf(gone, sizeof gone, "rm -rf '%s'", dir);
	CHECK(system(gone) == 0, "cleanup");
}

static const char *ini_value(const struct remote_ini *ini, const char *section, const char *parent, const char *key)
{
	const struct remote_ini_entry *e = remote_ini_get(ini, section, parent, key);
	return e ? e->value : NULL;
}

/* The INI files of the AWS command line: comments, white space, CRLF,
 * sections named with runs of spaces, names in any case, and "s3 =" with its
 * indented settings. */
static void test_ini_parse(void)
{
	static const char text[] =
		"# a comment\n"
		"; another\n"
		"\n"
		"[default]\n"
		"region = eu-west-1   # Ireland\n"
		"AWS_Access_Key_ID=AKIA1\r\n"
		"aws_secret_access_key =  abc#def/+=  \n"
		"\t\n"
		"[profile   dev]  ; the dev account\n"
		"s3 =\n"
		"    addressing_style = path\n"
		"\tendpoint_url = http://localhost:9000\n"
		"    # a comment in the sub-section\n"
		"region = us-west-2\n"
		"empty =\n"
		"[services local]\n"
		"s3 =\n"
		"  endpoint_url = http://127.0.0.1:1\n"
		"[default]\n"
		"region = eu-central-1";
	struct remote_ini ini;
	struct shard_error err;
	const char *v;

	CHECK(remote_ini_parse(&ini, "cfg", text, sizeof text - 1, &err) == 0, "parse: %s", err.msg);
	CHECK((v = ini_value(&ini, "default", NULL, "region")) && strcmp(v, "eu-central-1") == 0,
	      "the later [default] wins: %s", v ? v : "(none)");
	CHECK((v = ini_value(&ini, "default", NULL, "aws_access_key_id")) && strcmp(v, "AKIA1") == 0, "key: %s",
	      v ? v : "(none)");
	CHECK((v = ini_value(&ini, "default", NULL, "aws_secret_access_key")) && strcmp(v, "abc#def/+=") == 0,
	      "a '#' inside a value stays: %s", v ? v : "(none)");
	CHECK(remote_ini_get(&ini, "profile dev", NULL, NULL) != NULL, "[profile   dev] is 'profile dev'");
	CHECK((v = ini_value(&ini, "profile dev", "s3", "addressing_style")) && strcmp(v, "path") == 0,
	      "s3 addressing_style: %s", v ? v : "(none)");
	CHECK((v = ini_value(&ini, "profile dev", "s3", "endpoint_url")) && strcmp(v, "http://localhost:9000") == 0,
	      "s3 endpoint_url: %s", v ? v : "(none)");
	CHECK(ini_value(&ini, "profile dev", NULL, "addressing_style") == NULL,
	      "a sub-section's setting is not the section's");
	CHECK((v = ini_value(&ini, "profile dev", NULL, "region")) && strcmp(v, "us-west-2") == 0,
	      "an unindented line ends the sub-section: %s", v ? v : "(none)");
	CHECK((v = ini_value(&ini, "profile dev", NULL, "empty")) && *v == 0, "an empty value");
	CHECK((v = ini_value(&ini, "services local", "s3", "endpoint_url")) && strcmp(v, "http://127.0.0.1:1") == 0,
	      "services: %s", v ? v : "(none)");
	CHECK(remote_ini_get(&ini, "profile   dev", NULL, NULL) == NULL && remote_ini_get(&ini, "dev", NULL, NULL) == NULL,
	      "no other names");
	{
		const struct remote_ini_entry *e = remote_ini_get(&ini, "profile dev", "s3", "endpoint_url");
		CHECK(e && e->line == 12, "line %d", e ? e->line : -1);
	}
	remote_ini_free(&ini);
	CHECK(remote_ini_parse(&ini, "empty", "", 0, &err) == 0 && ini.n == 0, "an empty file");
	remote_ini_free(&ini);
}

/* A line the parser cannot read is named FILE:LINE, a usage error. */
static void test_ini_errors(void)
{
	static const struct { const char *text, *msg; } v[] = {
		{"[default]\nregion = x\n[profile dev\n", "f.ini:3: a section header without its closing ']'"},
		{"\n# c\nregion = x\n", "f.ini:3: a setting before the first [SECTION]"},
		{"[a]\nregion = x\n  addressing_style = path\n", "f.ini:3: an indented line, but no sub-section is open"},
		{"[a]\n  s3 =\n", "f.ini:2: an indented line, but no sub-section is open"},
		{"[a]\nregion\n", "f.ini:2: expected [SECTION], NAME = VALUE or a comment (# or ;)"},
		{"[a]\n = x\n", "f.ini:2: a setting with no name before its '='"},
		{"[a]\r\n[]\r\n", "f.ini:2: a section with no name ([])"},
		{"[a]\n  [b]\n", "f.ini:2: expected [SECTION]"},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct remote_ini ini;
		struct shard_error err;
		int rc = remote_ini_parse(&ini, "f.ini", v[i].text, strlen(v[i].text), &err);
		CHECK(rc == SHARD_EARG && strncmp(err.msg, v[i].msg, strlen(v[i].msg)) == 0 && strcmp(err.file, "f.ini") == 0 &&
			      err.line == (uint64_t)(v[i].msg[6] - '0'),
		      "case %zu: rc %d, %s (line %llu)", i, rc, err.msg, (unsigned long long)err.line);
		CHECK(ini.n == 0 && ini.e == NULL, "case %zu: freed", i);
	}
}

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0, "write %s", path);
}

/* What s3://BUCKET/PREFIX resolves to: the base URL, the signature's scope
 * and the key, from the environment and the files, with no request made. */
static void test_s3_resolve(void)
{
	static const char *vars[] = {"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION",
				     "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
				     "AWS_DEFAULT_PROFILE", "SHARDKIT_S3_ADDRESSING", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"};
	static const struct {
		const char *url, *profile, *addressing, *endpoint, *base, *sigv4, *user, *error;
	} v[] = {
		/* the default profile: [default] of both files */
		{"s3://bucket/a/b", NULL, NULL, NULL, "https://bucket.s3.eu-west-1.amazonaws.com/a/b/", "aws:amz:eu-west-1:s3",
		 "AKIADEF", NULL},
		{"s3://my.bucket/a", NULL, NULL, NULL, "https://s3.eu-west-1.amazonaws.com/my.bucket/a/", NULL, NULL, NULL},
		{"s3://Bucket_1", NULL, NULL, NULL, "https://s3.eu-west-1.amazonaws.com/Bucket_1/", NULL, NULL, NULL},
		{"s3://bucket/a", NULL, "path", NULL, "https://s3.eu-west-1.amazonaws.com/bucket/a/", NULL, NULL, NULL},
		{"s3://bucket/a", NULL, NULL, "http://localhost:9000/", "http://localhost:9000/bucket/a/", NULL, NULL, NULL},
		{"s3://bucket/a", NULL, "virtual", "http://localhost:9000/", "http://bucket.localhost:9000/a/", NULL, NULL,
		 NULL},
		{"s3://bucket", NULL, "virtual", "https://minio.example/s3", "https://bucket.minio.example/s3/", NULL, NULL,
		 NULL},
		{"s3://bucket/a", NULL, "virtual", "http://127.0.0.1:9000", NULL, NULL, NULL,
		 "s3://bucket/a: virtual-hosted addressing puts the bucket in the host name, and the endpoint "
		 "http://127.0.0.1:9000 has an IP address"},
		{"s3://Bucket_1/a", NULL, "virtual", NULL, NULL, NULL, NULL,
		 "s3://Bucket_1/a: the bucket Bucket_1 is no host name"},
		{"s3://bucket/a", NULL, "sideways", NULL, NULL, NULL, NULL,
		 "SHARDKIT_S3_ADDRESSING=sideways: expected path, virtual or auto"},
		{"s3://bucket/a", NULL, NULL, "ftp://host", NULL, NULL, NULL,
		 "s3://bucket/a: the S3 endpoint ftp://host is not an http:// or https:// URL"},
		/* a named profile: its keys from the credentials file, the rest from [profile dev] */
		{"s3://bucket/a", "dev", NULL, NULL, "http://localhost:7000/bucket/a/", "aws:amz:ap-south-1:s3", "AKIADEV",
		 NULL},
		/* its s3 sub-section asks for virtual-hosted requests */
		{"s3://bucket/a", "virt", NULL, NULL, "http://bucket.localhost:7001/a/", NULL, NULL, NULL},
		{"s3://bucket/a", "virt", "path", NULL, "http://localhost:7001/bucket/a/", NULL, NULL, NULL},
		{"s3://bucket/a", "badstyle", NULL, NULL, NULL, NULL, NULL,
		 "config:8: addressing_style = diagonal: expected path, virtual or auto"},
		{"s3://bucket/a", "halfkey", NULL, NULL, NULL, NULL, NULL,
		 "credentials:8: the profile halfkey has aws_access_key_id but no aws_secret_access_key"},
		{"s3://bucket/a", "sso", NULL, NULL, NULL, NULL, NULL,
		 "config:17: the profile sso gets its credentials by sso_session, which is not done here"},
		/* a role comes before the profile's keys; the credentials file's keys before a process */
		{"s3://bucket/a", "roled", NULL, NULL, NULL, NULL, NULL,
		 "config:19: the profile roled gets its credentials by role_arn, which is not done here"},
		{"s3://bucket/a", "proc", NULL, NULL, "https://bucket.s3.us-east-1.amazonaws.com/a/", "aws:amz:us-east-1:s3",
		 "AKIAPROC", NULL},
		{"s3://bucket/a", "nobody", NULL, NULL, NULL, NULL, NULL,
		 "s3://bucket/a: the profile nobody (AWS_PROFILE) is in neither "},
	};
	char dir[] = "/tmp/shard-unit-XXXXXX", cred[256], conf[256];

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(cred, sizeof cred, "%s/credentials", dir);
	snprintf(conf, sizeof conf, "%s/config", dir);
	put_file(cred, "[default]\naws_access_key_id = AKIADEF\naws_secret_access_key = s1\n"
		       "[dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = s2\n"
		       "[halfkey]\naws_access_key_id = AKIAHALF\n"
		       "[roled]\naws_access_key_id = AKIAROLE\naws_secret_access_key = s3\n"
		       "[proc]\naws_access_key_id = AKIAPROC\naws_secret_access_key = s4\n");
	put_file(conf, "[default]\nregion = eu-west-1\n"
		       "[profile dev]\nregion = ap-south-1\nendpoint_url = http://localhost:7000\n"
		       "[profile badstyle]\ns3 =\n  addressing_style = diagonal\n"
		       "[profile virt]\nservices = mine\ns3 =\n  addressing_style = virtual\n"
		       "[services mine]\ns3 =\n  endpoint_url = http://localhost:7001\n"
		       "[profile sso]\nsso_session = corp\n"
		       "[profile roled]\nrole_arn = arn:aws:iam::123456789012:role/r\n"
		       "[profile proc]\ncredential_process = /bin/false\n");
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
	setenv("AWS_CONFIG_FILE", conf, 1);
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct shard_remote *r = NULL;
		struct shard_error err = {0};
		int rc;

		if (v[i].profile)
			setenv("AWS_PROFILE", v[i].profile, 1);
		else
			unsetenv("AWS_PROFILE");
		if (v[i].addressing)
			setenv("SHARDKIT_S3_ADDRESSING", v[i].addressing, 1);
		else
			unsetenv("SHARDKIT_S3_ADDRESSING");
		if (v[i].endpoint)
			setenv("AWS_ENDPOINT_URL", v[i].endpoint, 1);
		else
			unsetenv("AWS_ENDPOINT_URL");
		rc = shard_remote_open(&r, v[i].url, &err);
		if (v[i].error) {
			CHECK(rc == SHARD_EARG && strstr(err.msg, v[i].error), "case %zu: rc %d: %s", i, rc, err.msg);
			continue;
		}
		CHECK(rc == 0, "case %zu: %s", i, err.msg);
		if (rc)
			continue;
		CHECK(r->base.len == strlen(v[i].base) && memcmp(r->base.p, v[i].base, r->base.len) == 0,
		      "case %zu: base %.*s", i, (int)r->base.len, (const char *)r->base.p);
		CHECK(!v[i].sigv4 || strcmp(r->sigv4, v[i].sigv4) == 0, "case %zu: sigv4 %s", i, r->sigv4);
		CHECK(!v[i].user || (r->user && strcmp(r->user, v[i].user) == 0), "case %zu: user %s", i,
		      r->user ? r->user : "(none)");
		shard_remote_close(r);
	}
	/* the environment's key and region come first; its token goes with its key */
	{
		struct shard_remote *r = NULL;
		struct shard_error err = {0};
		const struct curl_slist *h;
		int token = 0;

		setenv("AWS_PROFILE", "dev", 1);
		unsetenv("SHARDKIT_S3_ADDRESSING");
		unsetenv("AWS_ENDPOINT_URL");
		setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
		setenv("AWS_SECRET_ACCESS_KEY", "senv", 1);
		setenv("AWS_SESSION_TOKEN", "tok", 1);
		setenv("AWS_REGION", "sa-east-1", 1);
		CHECK(shard_remote_open(&r, "s3://bucket/x", &err) == 0, "env: %s", err.msg);
		if (r) {
			CHECK(strcmp(r->user, "AKIAENV") == 0 && strcmp(r->secret, "senv") == 0, "env key %s", r->user);
			CHECK(strcmp(r->sigv4, "aws:amz:sa-east-1:s3") == 0, "env region %s", r->sigv4);
			for (h = r->headers; h; h = h->next)
				token += strcmp(h->data, "x-amz-security-token: tok") == 0;
			CHECK(token == 1, "token header");
			shard_remote_close(r);
		}
		unsetenv("AWS_ACCESS_KEY_ID");
		unsetenv("AWS_SECRET_ACCESS_KEY");
		CHECK(shard_remote_open(&r, "s3://bucket/x", &err) == 0, "profile: %s", err.msg);
		if (r) {
			token = 0;
			for (h = r->headers; h; h = h->next)
				token += strncmp(h->data, "x-amz-security-token", 20) == 0;
			CHECK(strcmp(r->user, "AKIADEV") == 0 && token == 0, "the profile's key without the env's token");
			shard_remote_close(r);
		}
		unsetenv("AWS_SESSION_TOKEN");
		unsetenv("AWS_REGION");
		unsetenv("AWS_PROFILE");
	}
	/* HOME unset and no files named: no profile, unsigned requests */
	{
		struct shard_remote *r = NULL;
		struct shard_error err = {0};
		char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;

		unsetenv("AWS_SHARED_CREDENTIALS_FILE");
		unsetenv("AWS_CONFIG_FILE");
		unsetenv("HOME");
		CHECK(shard_remote_open(&r, "s3://bucket/x", &err) == 0 && r && !r->user && !r->sigv4[0], "no HOME: %s",
		      err.msg);
		shard_remote_close(r);
		setenv("AWS_PROFILE", "dev", 1);
		CHECK(shard_remote_open(&r, "s3://bucket/x", &err) == SHARD_EARG && strstr(err.msg, "HOME is unset"),
		      "no HOME, a named profile: %s", err.msg);
		unsetenv("AWS_PROFILE");
		if (home) {
			setenv("HOME", home, 1);
			free(home);
		}
	}
	snprintf(cred, sizeof cred, "rm -rf '%s'", dir);
	CHECK(system(cred) == 0, "cleanup");
}

/* Pages of a ListObjectsV2 answer as moto's S3 server gave them, a key with
 * XML's escapes among them. */
static void test_list_parse(void)
{
	static const char page1[] =
		"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><IsTruncated>true</IsTruncated>"
		"<Contents><Key>cap/a&amp;b &lt;c&gt;\xc3\xa9.mds</Key><LastModified>2026-12-02T17:50:22.000Z</LastModified>"
		"<ETag>\"827ccb0eea8a706c4c34a16891f84e7b\"</ETag><ChecksumAlgorithm>CRC32</ChecksumAlgorithm><Size>5</Size>"
		"<StorageClass>STANDARD</StorageClass></Contents><Name>bucket</Name><Prefix>cap/</Prefix><MaxKeys>1</MaxKeys>"
		"<KeyCount>1</KeyCount><NextContinuationToken>aa399ae7059e091f3eff6d503bed5508</NextContinuationToken>"
		"</ListBucketResult>";
	static const char page2[] =
		"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><IsTruncated>false</IsTruncated>"
		"<Contents><Key>cap/z&#x2F;&#47;1.mds</Key><LastModified>2026-12-02T17:50:22.000Z</LastModified>"
		"<ETag>\"c4ca4238a0b923820dcc509a6f75849b\"</ETag><ChecksumAlgorithm>CRC32</ChecksumAlgorithm>"
		"<Size>12884901888</Size><StorageClass>STANDARD</StorageClass></Contents><Name>bucket</Name>"
		"<Prefix>cap/</Prefix><MaxKeys>1000</MaxKeys><KeyCount>1</KeyCount></ListBucketResult>";
	static const char bad_size[] = "<ListBucketResult><Contents><Key>cap/x</Key><Size>12a</Size></Contents></ListBucketResult>";
	struct shard_remote_file *v = NULL;
	struct shard_error err;
	size_t n = 0;
	char *next = NULL;

	CHECK(remote_list_parse(page1, sizeof page1 - 1, "cap/", &v, &n, &next, &err) == 0, "page 1: %s", err.msg);
	CHECK(n == 1 && strcmp(v[0].name, "a&b <c>\xc3\xa9.mds") == 0 && v[0].size == 5, "page 1's key: %s",
	      n ? v[0].name : "none");
	CHECK(next && strcmp(next, "aa399ae7059e091f3eff6d503bed5508") == 0, "the token: %s", next ? next : "none");
	free(next);
	CHECK(remote_list_parse(page2, sizeof page2 - 1, "cap/", &v, &n, &next, &err) == 0, "page 2: %s", err.msg);
	CHECK(n == 2 && strcmp(v[1].name, "z//1.mds") == 0 && v[1].size == 12884901888ull, "page 2's key: %s",
	      n == 2 ? v[1].name : "none");
	CHECK(next == NULL, "the last page has no token");
	shard_remote_files_free(v, n);
	v = NULL;
	n = 0;
	/* a key outside the prefix is no answer, nor is the prefix itself */
	CHECK(remote_list_parse(page2, sizeof page2 - 1, "other/", &v, &n, &next, &err) == 0 && n == 0,
	      "outside the prefix: %zu", n);
	CHECK(remote_list_parse(bad_size, sizeof bad_size - 1, "cap/", &v, &n, &next, &err) == SHARD_EDATA &&
	      strstr(err.msg, "cap/x: a size that is no number"), "a bad size: %s", err.msg);
	CHECK(remote_list_parse("<Error><Code>AccessDenied</Code></Error>", 39, "", &v, &n, &next, &err) == SHARD_EDATA,
	      "an error body is no listing");
	shard_remote_files_free(v, n);
}

/* Objects up to the multipart size go in one PUT; a bigger one in parts of
 * that size, the last one shorter. */
static void test_multipart_plan(void)
{
	const uint64_t mib = 1 << 20;
	struct shard_error err;
	uint64_t size;

	CHECK(remote_multipart_parts(0, 5 * mib) == 0, "empty");
	CHECK(remote_multipart_parts(5 * mib, 5 * mib) == 0, "exactly the size");
	CHECK(remote_multipart_parts(5 * mib + 1, 5 * mib) == 2, "one byte over");
	CHECK(remote_multipart_parts(12 * mib, 5 * mib) == 3, "12 MiB");
	CHECK(remote_multipart_parts(1ull << 32, 64 * mib) == 64, "4 GiB");
	unsetenv("SHARDKIT_MULTIPART_SIZE");
	CHECK(remote_multipart_size(&size, &err) == 0 && size == 64 * mib, "the default: %llu", (unsigned long long)size);
	setenv("SHARDKIT_MULTIPART_SIZE", "5MiB", 1);
	CHECK(remote_multipart_size(&size, &err) == 0 && size == 5 * mib, "5MiB: %llu", (unsigned long long)size);
	setenv("SHARDKIT_MULTIPART_SIZE", "1MiB", 1);
	CHECK(remote_multipart_size(&size, &err) == SHARD_EARG && strstr(err.msg, "SHARDKIT_MULTIPART_SIZE=1MiB"),
	      "under S3's 5 MiB: %s", err.msg);
	setenv("SHARDKIT_MULTIPART_SIZE", "lots", 1);
	CHECK(remote_multipart_size(&size, &err) == SHARD_EARG, "no size");
	unsetenv("SHARDKIT_MULTIPART_SIZE");
}

int main(void)
{
	static const struct tap_case cases[] = {
		TAP(test_split),
		TAP(test_source_place),
		TAP(test_url_redact),
		TAP(test_ini_parse),
		TAP(test_ini_errors),
		TAP(test_s3_resolve),
		TAP(test_list_parse),
		TAP(test_multipart_plan),
		{0},
	};
	return tap_run(cases);
}
