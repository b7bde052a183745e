/* Errors: the status, the message and the place a failed call leaves in a
 * caller-owned struct shard_error; the status names; the library's version. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "shard.h"

static void place_clear(struct shard_error *err)
{
	err->file[0] = 0;
	err->line = err->column = 0;
	err->shard = err->sample = SHARD_UNKNOWN;
}

int shard_error_set(struct shard_error *err, int status, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
		err->status = status;
		place_clear(err);
	}
	return status;
}

int shard_error_prefix(struct shard_error *err, const char *fmt, ...)
{
	char pre[512], old[sizeof err->msg];
	va_list ap;

	if (!err)
		return 0;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof pre, fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof old);
	snprintf(err->msg, sizeof err->msg, "%s: %s", pre, old);
	return err->status;
}

void shard_error_clear(struct shard_error *err)
{
	if (err) {
		err->status = SHARD_OK;
		err->msg[0] = 0;
		place_clear(err);
	}
}

int shard_error_file(struct shard_error *err, const char *file)
{
	if (!err)
		return 0;
	snprintf(err->file, sizeof err->file, "%s", file ? file : "");
	return err->status;
}

int shard_error_line(struct shard_error *err, uint64_t line, uint64_t column)
{
	if (!err)
		return 0;
	err->line = line;
	err->column = column;
	return err->status;
}

int shard_error_item(struct shard_error *err, uint64_t shard, uint64_t sample)
{
	if (!err)
		return 0;
	err->shard = shard;
	err->sample = sample;
	return err->status;
}

const char *shard_status_name(int status)
{
	static const char *const names[] = {
		[SHARD_OK] = "SHARD_OK", [SHARD_EDATA] = "SHARD_EDATA", [SHARD_EIO] = "SHARD_EIO",
		[SHARD_ENOMEM] = "SHARD_ENOMEM", [SHARD_EARG] = "SHARD_EARG", [SHARD_ELIMIT] = "SHARD_ELIMIT",
		[SHARD_EPIPE] = "SHARD_EPIPE", [SHARD_ENOENT] = "SHARD_ENOENT",
	};

	return status >= 0 && status < (int)(sizeof names / sizeof names[0]) ? names[status] : NULL;
}

const char *shard_version(void)
{
	return SHARD_VERSION_STRING;
}

int shard_version_number(void)
{
	return SHARD_VERSION_NUMBER;
}
