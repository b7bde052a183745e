/* shard-index verify's report (see verify-report.h). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "verify-report.h"

void cli_report_init(struct cli_verify_report *r, int json, int quiet, const char *dataset)
{
	r->json = json;
	r->quiet = quiet;
	r->dataset = dataset;
	r->problems = json_array();
	r->warnings = json_array();
}

/* A JSON string of text that need not be UTF-8 (a file name): bytes that are
 * not become '?'. */
static json_t *jstr(const char *s)
{
	json_t *j = json_string(s);
	char *copy, *p;
	if (j)
		return j;
	if (!(copy = strdup(s)))
		cli_die(CLI_FAIL, "out of memory");
	for (p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

void cli_report_problem(void *ctx, const struct shard_problem *p)
{
	struct cli_verify_report *r = ctx;
	json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o}", "shard", p->shard >= 0 ? json_integer(p->shard) : json_null(),
			      "file", jstr(p->file), "sample", p->sample >= 0 ? json_integer(p->sample) : json_null(),
			      "column", p->column ? jstr(p->column) : json_null(), "message", jstr(p->message));

	if (p->severity == SHARD_PROBLEM_WARNING) {
		json_array_append_new(r->warnings, o);
		if (!r->json && !r->quiet)
			fprintf(stderr, "%s: warning: %s\n", p->file, p->message);
		return;
	}
	json_array_append_new(r->problems, o);
	if (!r->json || r->quiet) {
		fprintf(stderr, "%s", p->file);
		if (p->sample >= 0)
			fprintf(stderr, ": sample %lld", p->sample);
		if (p->column)
			fprintf(stderr, ": column '%s'", p->column);
		fprintf(stderr, ": %s\n", p->message);
	}
}

/* The paths below the dataset index.json does not reference, a directory's
 * ending in '/'; NULL when not looked for. */
static json_t *unreferenced(const struct shard_verifier *v, const struct shard_verify_counts *c)
{
	const struct shard_orphan *o;
	json_t *a;
	size_t n, i;

	if (!c->listed)
		return json_null();
	o = shard_verifier_orphans(v, &n);
	a = json_array();
	for (i = 0; i < n; i++) {
		char rel[4200];
		if (o[i].errnum)
			continue;
		snprintf(rel, sizeof rel, "%s%s", o[i].rel, o[i].is_dir ? "/" : "");
		json_array_append_new(a, jstr(rel));
	}
	return a;
}

void cli_report_end(struct cli_verify_report *r, int status, const char *error, const struct shard_verifier *v)
{
	struct shard_verify_counts c = {0};
	char shown[4096];
	json_t *o;
	char *s;

	if (v)
		shard_verifier_counts(v, &c);
	if (!r->json) {
		char warnings[64] = "";
		if (r->quiet || error)
			return;
		if (c.warnings)
			snprintf(warnings, sizeof warnings, ", %llu warning%s", (unsigned long long)c.warnings,
				 c.warnings == 1 ? "" : "s");
		fprintf(status == CLI_OK ? stdout : stderr, "%s: %s: %s: %llu shards, %llu samples, %llu problem%s%s\n",
			cli_prog, r->dataset, status == CLI_OK ? "ok" : "NOT SOUND", (unsigned long long)c.shards,
			(unsigned long long)c.samples, (unsigned long long)c.problems, c.problems == 1 ? "" : "s", warnings);
		return;
	}
	o = json_pack("{s:o, s:b, s:i, s:o, s:I, s:I, s:I, s:I, s:o, s:I, s:o, s:o}", "dataset",
		      /* a URL's user and password stay unsaid */
		      r->dataset ? jstr(shard_url_redact(r->dataset, shown, sizeof shown)) : json_null(), "ok",
		      status == CLI_OK, "status", status, "error", error ? jstr(error) : json_null(), "shards",
		      (json_int_t)c.shards, "samples", (json_int_t)c.samples, "samples_ok", (json_int_t)c.samples_ok,
		      "problem_count", (json_int_t)c.problems, "problems", r->problems, "warning_count",
		      (json_int_t)c.warnings, "warnings", r->warnings, "unreferenced",
		      v ? unreferenced(v, &c) : json_null());
	if (!o || !(s = json_dumps(o, JSON_COMPACT)))
		cli_die(CLI_FAIL, "out of memory");
	r->problems = r->warnings = NULL;
	cli_out_str(s);
	cli_out_str("\n");
	cli_out_flush();
	free(s);
	json_decref(o);
}

void cli_report_fail(struct cli_verify_report *r, int status, const struct shard_verifier *v, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cli_warn("%s", msg);
	if (r->json)
		cli_report_end(r, status, msg, v);
	exit(status);
}
