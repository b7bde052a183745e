/* shard-shuffle: a deterministic, seeded order of a dataset's samples for one
 * epoch, one rank's share of it, written as shards (sample bytes copied, never
 * re-encoded). The shuffle is libshard's shuffler; this is its front end. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dataset.h"
#include "shard.h"

static const char usage[] =
	"Usage: shard-shuffle -o DEST [--seed S] [--epoch E] [--rank R --world W]\n"
	"                     [--batch B [--pad]] [--skip N] [--block | --buffer N]\n"
	"                     [--memory SIZE] [--tmpdir DIR] [--compression C] [--hashes LIST]\n"
	"                     [--size-limit SIZE] [--no-sync] [-q] DIR|-\n";

static void __attribute__((noreturn)) help(void)
{
	printf("%s\n"
	       "Write the samples of a dataset (DIR) or a shard stream (-) in a seeded random\n"
	       "order: by default a uniform permutation of all samples.\n\n"
	       "  -o, --output DEST      '-' for a shard stream on stdout, else a dataset directory\n"
	       "                         or s3://BUCKET/PREFIX\n"
	       "      --seed S           the seed (default 0)\n"
	       "      --epoch E          the epoch: each gives an independent order (default 0)\n"
	       "      --rank R           this rank's share only (default 0) ...\n"
	       "      --world W          ... of W ranks (default 1)\n"
	       "      --batch B          share whole batches of B samples between ranks\n"
	       "      --pad              with --batch: repeat samples to fill the last batches\n"
	       "                         instead of dropping them\n"
	       "      --skip N           resume: leave out this rank's first N samples\n"
	       "      --block            shuffle shard order, then samples within each shard\n"
	       "      --buffer N         windowed shuffle through a buffer of N samples (streams)\n"
	       "      --memory SIZE      memory for samples before spilling to disk (default 1GiB)\n"
	       "      --tmpdir DIR       where spill files go (default $TMPDIR or /tmp)\n"
	       "  -c, --compression C    output compression (default: the input's)\n"
	       "      --hashes LIST      output hashes (default: the input's)\n"
	       "      --size-limit SIZE  output shard size (default: the input's)\n"
	       "      --no-sync          do not flush the shards and index.json to disk (for\n"
	       "                         scratch data: faster, not safe from a power loss)\n"
	       "  -q, --quiet            no summary\n"
	       "  -h, --help             show this help\n"
	       "  -V, --version          show the version\n\n"
	       "Exit status: 0 success, 1 bad data or failure, 2 usage error.\n",
	       usage);
	exit(0);
}

enum { OPT_SEED = 256, OPT_EPOCH, OPT_RANK, OPT_WORLD, OPT_BATCH, OPT_PAD, OPT_SKIP, OPT_BLOCK, OPT_BUFFER,
       OPT_MEMORY, OPT_TMPDIR, OPT_HASHES, OPT_SIZE, OPT_NO_SYNC };

static const struct option longopts[] = {
	{"output", required_argument, NULL, 'o'},
	{"seed", required_argument, NULL, OPT_SEED},
	{"epoch", required_argument, NULL, OPT_EPOCH},
	{"rank", required_argument, NULL, OPT_RANK},
	{"world", required_argument, NULL, OPT_WORLD},
	{"batch", required_argument, NULL, OPT_BATCH},
	{"pad", no_argument, NULL, OPT_PAD},
	{"skip", required_argument, NULL, OPT_SKIP},
	{"block", no_argument, NULL, OPT_BLOCK},
	{"buffer", required_argument, NULL, OPT_BUFFER},
	{"memory", required_argument, NULL, OPT_MEMORY},
	{"tmpdir", required_argument, NULL, OPT_TMPDIR},
	{"compression", required_argument, NULL, 'c'},
	{"hashes", required_argument, NULL, OPT_HASHES},
	{"size-limit", required_argument, NULL, OPT_SIZE},
	{"no-sync", no_argument, NULL, OPT_NO_SYNC},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static struct shard_shuffler *shuf;
static struct shard_writer *writer;
static struct shard_sink *out_sink;
static struct cli_progress progress;	/* samples written, shard bytes read */

/* The temporary files go after the sinks' (registered first, so run last). */
static void on_signal(void *ctx)
{
	(void)ctx;
	if (shuf)
		shard_shuffler_kill(shuf);
}

static void die(const struct shard_error *err)
{
	/* shards still being compressed are stopped first: none may reach the
	 * sink after the exit has removed the written ones */
	shard_writer_abort(writer);
	cli_die_err(err);
}

static void on_read(void *ctx, uint64_t bytes)
{
	(void)ctx;
	cli_progress_add(&progress, 0, 0, bytes);
}

static void open_writer(const char *dest, const struct shard_entry *e, const char *comp, const char *hashes,
			uint64_t size_limit, int no_sync)
{
	struct shard_writer_opts wo = {0};
	struct shard_error err;
	char **hl = NULL;
	size_t nh = 0;

	if (hashes && strcmp(hashes, "none"))
		hl = cli_split(hashes, &nh);
	wo.compression = comp ? (strcmp(comp, "none") ? comp : NULL) : e->compression;
	wo.hashes = hl ? (const char *const *)hl : (const char *const *)e->hashes;
	wo.nhashes = hl ? nh : hashes ? 0 : e->nhashes;
	wo.size_limit = size_limit ? size_limit : e->size_limit;
	if (cli_dest_open(&out_sink, dest, -1, no_sync, &err))
		die(&err);
	if (shard_writer_new(&writer, out_sink, &e->schema, &wo, &err))
		die(&err);
	if (hl) {
		free(hl[0]);
		free(hl);
	}
}

static uint64_t num(const char *opt, const char *v)
{
	uint64_t x;
	if (cli_parse_u64(v, &x))
		cli_usage_error(usage, "%s takes a non-negative number, not '%s'", opt, v);
	return x;
}

/* The options into o (the shuffle's) and the rest (the output's). */
static const char *parse(int argc, char **argv, struct shard_shuffle_opts *o, const char **dest, const char **comp,
			 const char **hashes, uint64_t *size_limit, int *quiet, int *no_sync)
{
	int c, block = 0;

	o->world = 1;
	o->memory = 1ull << 30;
	while ((c = getopt_long(argc, argv, "o:c:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': *dest = optarg; break;
		case 'c': *comp = optarg; break;
		case 'q': *quiet = 1; break;
		case OPT_NO_SYNC: *no_sync = 1; break;
		case OPT_SEED: o->seed = num("--seed", optarg); break;
		case OPT_EPOCH: o->epoch = num("--epoch", optarg); break;
		case OPT_RANK: o->rank = num("--rank", optarg); break;
		case OPT_WORLD: o->world = num("--world", optarg); break;
		case OPT_BATCH: o->batch = num("--batch", optarg); break;
		case OPT_PAD: o->pad = 1; break;
		case OPT_SKIP: o->skip = num("--skip", optarg); break;
		case OPT_BLOCK: block = 1; break;
		case OPT_BUFFER: o->buffer = num("--buffer", optarg); break;
		case OPT_MEMORY:
			if (shard_parse_size(optarg, &o->memory) || !o->memory)
				cli_usage_error(usage, "invalid --memory '%s'", optarg);
			break;
		case OPT_TMPDIR: o->tmpdir = optarg; break;
		case OPT_HASHES: *hashes = optarg; break;
		case OPT_SIZE:
			if (shard_parse_size(optarg, size_limit))
				cli_usage_error(usage, "invalid --size-limit '%s'", optarg);
			break;
		case 'h': help();
		case 'V': cli_version();
		default: cli_usage_error(usage, "invalid option");
		}
	}
	if (!*dest)
		cli_usage_error(usage, "-o DEST is required ('-' for a shard stream on stdout)");
	if (optind != argc - 1)
		cli_usage_error(usage, optind == argc ? "missing input (a dataset directory, or - for a stream)"
						       : "one input at a time");
	if (o->world == 0 || o->rank >= o->world)
		cli_usage_error(usage, "--rank must be below --world (and --world at least 1)");
	if (o->batch == 0 && o->pad)
		cli_usage_error(usage, "--pad needs --batch");
	if (block && o->buffer)
		cli_usage_error(usage, "--block and --buffer are different shuffles: choose one");
	if (o->buffer && o->batch)
		cli_usage_error(usage, "--batch needs the epoch's length: use it without --buffer");
	o->mode = o->buffer ? SHARD_SHUFFLE_BUFFER : block ? SHARD_SHUFFLE_BLOCK : SHARD_SHUFFLE_FULL;
	return argv[optind];
}

int main(int argc, char **argv)
{
	const char *dest = NULL, *comp = NULL, *hashes = NULL, *input;
	struct shard_shuffle_opts o = {0};
	struct shard_shuffle_sample sm;
	struct shard_error err;
	uint64_t size_limit = 0;
	int quiet = 0, no_sync = 0, r;

	cli_init(argv[0]);
	input = parse(argc, argv, &o, &dest, &comp, &hashes, &size_limit, &quiet, &no_sync);
	o.on_read = on_read;
	if (shard_shuffler_new(&shuf, &o, &err))
		die(&err);
	cli_on_signal(on_signal, NULL);

	/* samples are counted one by one: the clock is looked at every 4096 */
	/* (a stream on stdout goes on down a pipeline, whose last program shows
	 * its own progress on the same terminal) */
	cli_progress_begin(&progress, "samples", 4096, !quiet && strcmp(dest, "-"));
	if (shard_shuffler_open(shuf, input, &err))
		die(&err);
	open_writer(dest, shard_shuffler_entry(shuf), comp, hashes, size_limit, no_sync);
	if (shard_shuffler_extra(shuf))
		shard_sink_set_extra(out_sink, shard_shuffler_extra(shuf));
	while ((r = shard_shuffler_next(shuf, &sm, &err)) > 0) {
		if (shard_writer_add_raw(writer, sm.p, sm.len, &err))
			die(&err);
		cli_progress_add(&progress, 0, 1, 0);
	}
	if (r < 0 || shard_writer_finish(writer, &err))
		die(&err);
	cli_progress_end(&progress);
	if (!quiet)
		fprintf(stderr, "%s: %llu samples (rank %llu of %llu, seed %llu, epoch %llu)\n", cli_prog,
			(unsigned long long)shard_sink_samples(out_sink), (unsigned long long)o.rank,
			(unsigned long long)o.world, (unsigned long long)o.seed, (unsigned long long)o.epoch);
	if (cli_sink_close(out_sink, &err)) {
		out_sink = NULL;
		die(&err);
	}
	out_sink = NULL;
	shard_writer_free(writer);
	/* under the guard: a signal from here on finds the files gone */
	cli_signals_hold();
	shard_shuffler_free(shuf);
	shuf = NULL;
	cli_signals_release();
	return 0;
}
