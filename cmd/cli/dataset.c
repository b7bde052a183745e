/* Front-end helpers for datasets the programs write (see dataset.h). */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dataset.h"

int cli_dest_open(struct shard_sink **sink, const char *dest, int force, int no_sync, struct shard_error *err)
{
	int rc;

	if (strcmp(dest, "-") == 0) {
		if (isatty(1) && force <= 0)
			return shard_error_set(err, SHARD_EARG, "refusing to write a binary shard stream to a terminal%s",
					       force ? "" : " (use --force)");
		rc = shard_sink_open_fd(sink, 1, err);
	} else {
		rc = shard_sink_open_dir(sink, dest, err);
	}
	if (rc)
		return rc;
	shard_sink_set_sync(*sink, !no_sync);
	cli_guard_sink(*sink);	/* a signal removes what was written */
	return 0;
}

int cli_http_url(const char *dest)
{
	return shard_is_url(dest) && strncmp(dest, "s3://", 5) != 0;
}

void cli_dataset_summary(const char *name, size_t nindexes, uint64_t shards, uint64_t samples)
{
	char parts[64] = "";
	if (nindexes)
		snprintf(parts, sizeof parts, "%zu indexes, ", nindexes);
	fprintf(stderr, "%s: %s: %s%llu shards, %llu samples\n", cli_prog, name, parts, (unsigned long long)shards,
		(unsigned long long)samples);
}

/* A file the index names twice. */
static void repeat_refused(void *dir, const char *name, size_t first, size_t again)
{
	cli_warn("%s/%s: named by shard %zu and again by shard %zu", (const char *)dir, name, first, again);
}

void cli_write_index(const char *dir, const struct shard_index *ix, int no_sync)
{
	struct shard_buf b = {0};
	struct shard_error err;
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/index.json", dir);
	switch (shard_index_repeats(ix, repeat_refused, (void *)dir)) {
	case 0: break;
	case -1: cli_die(CLI_FAIL, "out of memory");
	default: cli_die(CLI_FAIL, "%s: not written: a dataset lists each shard file once", path);
	}
	if (shard_is_url(dir)) {
		struct shard_remote *r;
		/* every shard listed with its size first, then index.json */
		if (shard_remote_open(&r, dir, &err) || shard_index_put_remote(r, ix, 1, &err))
			cli_die_err(&err);
		shard_remote_close(r);
		return;
	}
	/* the shards it names reach the disk before it does */
	if ((!no_sync && shard_index_sync(dir, ix, &err)) || shard_index_to_json(ix, &b, &err) ||
	    shard_write_file_atomic(path, b.p, b.len, !no_sync, &err))
		cli_die_err(&err);
	shard_buf_free(&b);
}
