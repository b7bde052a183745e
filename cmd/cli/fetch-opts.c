/* --in-flight, --read-ahead, --cache and --cache-size. */
#include "config.h"

#include <stdint.h>

#include "cli.h"
#include "fetch-opts.h"

int cli_fetch_opt(int c, const char *arg, struct shard_source_opts *o, const char *usage)
{
	uint64_t v;

	switch (c) {
	case CLI_OPT_IN_FLIGHT:
		if (cli_parse_u64(arg, &v) || v < 1 || v > 256)
			cli_usage_error(usage, "invalid --in-flight '%s' (expected 1 to 256)", arg);
		o->in_flight = (unsigned)v;
		return 1;
	case CLI_OPT_READ_AHEAD:
		if (shard_parse_size(arg, &v) || !v)
			cli_usage_error(usage, "invalid --read-ahead '%s' (expected a size such as 64M or 1G)", arg);
		o->window = v;
		return 1;
	case CLI_OPT_CACHE:
		if (!*arg)
			cli_usage_error(usage, "--cache needs a directory");
		o->cache_dir = arg;
		return 1;
	case CLI_OPT_CACHE_SIZE:
		if (shard_parse_size(arg, &v) || !v)
			cli_usage_error(usage, "invalid --cache-size '%s' (expected a size such as 500M or 10G)", arg);
		o->cache_limit = v;
		return 1;
	default:
		return 0;
	}
}

void cli_fetch_report(const struct shard_source *src, const char *name)
{
	struct shard_source_stats st;

	shard_source_stats(src, &st);
	if (st.index_cached)
		cli_warn("%s; index.json read from the cache", st.index_cached);
	if (st.cache_dropped)
		cli_warn("%s: %u cached file%s failed %s check and %s fetched again", name,
			 st.cache_dropped, st.cache_dropped == 1 ? "" : "s", st.cache_dropped == 1 ? "its" : "their",
			 st.cache_dropped == 1 ? "was" : "were");
}
