/* The options of remote reads every program may take: files in flight, the
 * read-ahead window, the cache and its size (struct shard_source_opts). */
#ifndef SHARD_CLI_FETCH_OPTS_H
#define SHARD_CLI_FETCH_OPTS_H

#include "shard.h"

enum { CLI_OPT_IN_FLIGHT = 512, CLI_OPT_READ_AHEAD, CLI_OPT_CACHE, CLI_OPT_CACHE_SIZE };

/* getopt_long entries for --in-flight, --read-ahead, --cache, --cache-size. */
#define CLI_FETCH_LONGOPTS \
	{"in-flight", required_argument, NULL, CLI_OPT_IN_FLIGHT}, \
	{"read-ahead", required_argument, NULL, CLI_OPT_READ_AHEAD}, \
	{"cache", required_argument, NULL, CLI_OPT_CACHE}, \
	{"cache-size", required_argument, NULL, CLI_OPT_CACHE_SIZE}

/* Take option c with its argument into o: 1 when it was one of them, 0 when
 * not; a bad value is a usage error. */
int cli_fetch_opt(int c, const char *arg, struct shard_source_opts *o, const char *usage);
/* A warning on stderr for what the source met and got past: cached files
 * that failed their check and were fetched again. */
void cli_fetch_report(const struct shard_source *src, const char *name);

#endif
