/* shard-index verify's report: each finding as a line on stderr, or the
 * --json document on stdout. */
#ifndef SHARD_CLI_VERIFY_REPORT_H
#define SHARD_CLI_VERIFY_REPORT_H

#include <jansson.h>
#include "shard.h"

struct cli_verify_report {
	int json, quiet;
	const char *dataset;	/* as findings name it, or NULL */
	json_t *problems, *warnings;
};

void cli_report_init(struct cli_verify_report *r, int json, int quiet, const char *dataset);
/* The verifier's problem callback (ctx: the report). -q keeps the problems
 * on stderr, even beside --json. */
void cli_report_problem(void *ctx, const struct shard_problem *p);
/* The outcome: the --json document (status: the exit status; error: the
 * message that stopped the run before it could judge the dataset; v: the
 * verifier, NULL before one ran), or the summary line. */
void cli_report_end(struct cli_verify_report *r, int status, const char *error, const struct shard_verifier *v);
/* A failure that stops verify before it could judge the dataset: the
 * message, and with --json the document too; exits with status. */
void cli_report_fail(struct cli_verify_report *r, int status, const struct shard_verifier *v, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 4, 5)));

#endif
