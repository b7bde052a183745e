/* Front-end helpers for the shard-* programs: one place for message format,
 * exit statuses and the quiet exit on a broken pipe. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const char *cli_prog = "shard";
static struct shard_buf out;

void cli_init(const char *argv0)
{
	const char *s = strrchr(argv0, '/');
	cli_prog = s ? s + 1 : argv0;
	/* a closed pipe becomes EPIPE on write, handled as a quiet exit */
	signal(SIGPIPE, SIG_IGN);
}

static void vmsg(const char *fmt, va_list ap)
{
	char buf[2048];
	vsnprintf(buf, sizeof buf, fmt, ap);
	fprintf(stderr, "%s: %s\n", cli_prog, buf);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

void cli_die(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	exit(status);
}

void cli_die_err(const struct shard_error *err)
{
	if (err->status == SHARD_EPIPE)
		_exit(0);
	if (err->status == SHARD_EARG)
		cli_die(CLI_USAGE, "%s", err->msg);
	cli_die(CLI_FAIL, "%s", err->msg);
}

void cli_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s", usage);
	fprintf(stderr, "Try '%s --help' for more information.\n", cli_prog);
	exit(CLI_USAGE);
}

void cli_version(void)
{
	printf("%s (shardkit) %s\n", cli_prog, PACKAGE_VERSION);
	exit(0);
}

char **cli_split(const char *s, size_t *n)
{
	size_t k = 1, i;
	char *copy = strdup(s), **list;
	const char *p;
	if (!copy)
		cli_die(CLI_FAIL, "out of memory");
	for (p = s; *p; p++)
		k += *p == ',';
	list = calloc(k + 1, sizeof *list);
	if (!list)
		cli_die(CLI_FAIL, "out of memory");
	list[0] = copy;
	for (i = 1, p = copy; *copy; copy++)
		if (*copy == ',') {
			*copy = 0;
			list[i++] = copy + 1;
		}
	(void)p;
	*n = k;
	return list;
}

int cli_parse_u64(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*v = x;
	return 0;
}

void cli_out_flush(void)
{
	struct shard_error err;
	if (out.len && shard_write_all(1, out.p, out.len, &err))
		cli_die_err(&err);
	out.len = 0;
}

void cli_out(const void *p, size_t n)
{
	if (shard_buf_append(&out, p, n))
		cli_die(CLI_FAIL, "out of memory");
	if (out.len >= (1u << 20))
		cli_out_flush();
}

void cli_out_str(const char *s)
{
	cli_out(s, strlen(s));
}
