/* Front-end helpers for the shard-* programs: messages on stderr, buffered
 * stdout that ends quietly on a closed pipe, and option-value parsing. */
#ifndef SHARD_CLI_H
#define SHARD_CLI_H

#include <stdint.h>
#include "shard.h"

/* Exit statuses shared by every program (see each man page). */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_UNSOUND = 3 };

extern const char *cli_prog;

void cli_init(const char *argv0);
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "prog: msg" and exit with status. */
void cli_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/* Print an error object; a broken pipe exits 0 quietly. */
void cli_die_err(const struct shard_error *err) __attribute__((noreturn));
void cli_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
void cli_version(void) __attribute__((noreturn));

/* "a,b,c" into a NULL-terminated list (caller frees list[0] and list). */
char **cli_split(const char *s, size_t *n);
int cli_parse_u64(const char *s, uint64_t *out);

/* Buffered stdout. */
void cli_out(const void *p, size_t n);
void cli_out_str(const char *s);
void cli_out_flush(void);

#endif
