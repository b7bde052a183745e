/* shard-index: create, merge, verify and describe a dataset's index.json, and
 * prune what it does not reference. verify is the CI gate: it reads every
 * byte, checks what a job expects, and exits 3 when anything is off. */
#include "config.h"

#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "dataset.h"
#include "verify-report.h"
#include "index-info.h"
#include "shard.h"


static const char usage[] =
	"Usage: shard-index create [-q] [--force] [--no-sync] [--hashes ALGO,...] DIR\n"
	"       shard-index merge [--no-sync] [-o OUT] DIR\n"
	"       shard-index merge [--no-sync] -o DIR -\n"
	"       shard-index verify [--json] [-q] [--strict] [--expect-schema LIST]\n"
	"                          [--expect-samples N] [--max-problems N] DIR\n"
	"       shard-index info [--json] DIR\n"
	"       shard-index prune [-n] [-q] DIR\n";

static void __attribute__((noreturn)) help(void)
{
	printf("%s\n"
	       "  create   write DIR/index.json for the shard files in DIR (or s3://BUCKET/PREFIX)\n"
	       "  merge    join the index.json files below DIR (or entries on stdin) into one\n"
	       "  verify   check every byte of a dataset; exit 3 if it is not sound\n"
	       "  info     samples, shards, bytes and columns of a dataset\n"
	       "  prune    remove the files below DIR that its index.json does not reference\n"
	       "           (an s3:// DIR without index.json: its shard files)\n\n"
	       "  -o, --output DIR       where merge writes index.json (default: DIR)\n"
	       "      --hashes LIST      hashes for create (default: those each shard's config lists)\n"
	       "      --force            create: replace an existing index.json\n"
	       "      --no-sync          create, merge: do not flush the shards and index.json\n"
	       "                         to disk (for scratch data: faster, not power-safe)\n"
	       "      --json             machine-readable output (verify, info)\n"
	       "      --max-problems N   verify: stop after N problems (default 100)\n"
	       "      --strict           verify: files index.json does not reference are problems,\n"
	       "                         not warnings\n"
	       "      --expect-schema LIST\n"
	       "                         verify: the columns expected, in any order, as\n"
	       "                         NAME:TYPE[?],... (shard-convert's types; '?': nullable)\n"
	       "      --expect-samples N verify: the number of samples expected\n"
	       "  -n, --dry-run          prune: print what would be removed, remove nothing\n"
	       "  -q, --quiet            print nothing on success\n"
	       "  -h, --help             show this help\n"
	       "  -V, --version          show the version\n\n"
	       "Exit status: 0 success, 1 failure, 2 usage error, 3 verify found problems.\n",
	       usage);
	exit(0);
}

enum { OPT_JSON = 256, OPT_HASHES, OPT_FORCE, OPT_MAXP, OPT_STRICT, OPT_EXPECT_SCHEMA, OPT_EXPECT_SAMPLES, OPT_NO_SYNC };

static const struct option longopts[] = {
	{"output", required_argument, NULL, 'o'},
	{"hashes", required_argument, NULL, OPT_HASHES},
	{"force", no_argument, NULL, OPT_FORCE},
	{"no-sync", no_argument, NULL, OPT_NO_SYNC},
	{"json", no_argument, NULL, OPT_JSON},
	{"max-problems", required_argument, NULL, OPT_MAXP},
	{"strict", no_argument, NULL, OPT_STRICT},
	{"expect-schema", required_argument, NULL, OPT_EXPECT_SCHEMA},
	{"expect-samples", required_argument, NULL, OPT_EXPECT_SAMPLES},
	{"dry-run", no_argument, NULL, 'n'},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static struct {
	const char *out, *hashes;
	int json, quiet, force, dry_run, no_sync;
} opt;

/* DIR/index.json for ix (nparts: the indexes merged, 0 for none), the
 * summary line, and ix freed. */
static int write_index(const char *dir, struct shard_index *ix, size_t nparts)
{
	char name[PATH_MAX];

	cli_write_index(dir, ix, opt.no_sync);
	snprintf(name, sizeof name, "%s/index.json", dir);
	if (!opt.quiet)
		cli_dataset_summary(name, nparts, ix->nshards, shard_index_samples(ix));
	shard_index_free(ix);
	return 0;
}

/* ---------------------------------------------------------------- create, merge */

static int cmd_create(const char *dir)
{
	struct shard_index ix;
	struct shard_error err;
	char **algos = NULL;
	size_t nalgos = 0;

	if (opt.hashes)
		algos = cli_split(opt.hashes, &nalgos);
	if (shard_dataset_create(&ix, dir, (const char *const *)algos, nalgos, opt.force, &err))
		cli_die_err(&err);
	write_index(dir, &ix, 0);
	if (algos) {
		free(algos[0]);
		free(algos);
	}
	return 0;
}

/* Entries on stdin, one per line, for the shards already in out. */
static int cmd_merge_stdin(const char *out)
{
	struct shard_index ix = {0};
	struct shard_error err;
	struct stat st;
	char *line = NULL, where[64];
	size_t cap = 0, lineno = 0;
	ssize_t len;

	if (!shard_is_url(out) && (stat(out, &st) != 0 || !S_ISDIR(st.st_mode)))
		cli_die(CLI_FAIL, "%s: not a directory", out);
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		lineno++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
			line[--len] = 0;
		if (!len)
			continue;
		snprintf(where, sizeof where, "<stdin>:%zu", lineno);
		if (shard_index_add_line(&ix, out, line, (size_t)len, where, &err))
			cli_die(CLI_FAIL, "%s", err.msg);
	}
	free(line);
	return write_index(out, &ix, 0);
}

static int cmd_merge(const char *dir)
{
	const char *out = opt.out ? opt.out : dir;
	struct shard_index ix;
	struct shard_error err;
	size_t nparts;

	if (strcmp(dir, "-") == 0) {
		if (!opt.out)
			cli_usage_error(usage, "merge from stdin needs -o DIR");
		return cmd_merge_stdin(opt.out);
	}
	if (shard_dataset_merge(&ix, dir, out, &nparts, &err))
		cli_die_err(&err);
	return write_index(out, &ix, nparts);
}

/* ---------------------------------------------------------------- verify */

static struct cli_verify_report rep;

static int cmd_verify(struct shard_verifier *v, const char *dir)
{
	struct shard_verify_counts c;
	struct shard_error err;
	const char *name;
	int status;

	cli_report_init(&rep, opt.json, opt.quiet, dir);
	if (shard_verifier_run(v, dir, &err)) {
		rep.dataset = (name = shard_verifier_dataset(v)) ? name : dir;
		cli_report_fail(&rep, err.status == SHARD_EARG ? CLI_USAGE : CLI_FAIL, v, "%s", err.msg);
	}
	rep.dataset = shard_verifier_dataset(v);
	shard_verifier_counts(v, &c);
	if (c.index_ok && !c.listed && !opt.json && !opt.quiet)
		cli_warn("%s: not looked for files index.json does not reference: an http(s) dataset cannot be listed",
			 rep.dataset);
	status = c.problems ? CLI_UNSOUND : CLI_OK;
	cli_report_end(&rep, status, NULL, v);
	shard_verifier_free(v);
	return status;
}

/* ---------------------------------------------------------------- prune */

/* Each file or directory removed, or not removable. */
static void prune_say(void *dir, const char *rel, int is_dir, int errnum)
{
	char path[PATH_MAX + 8];
	snprintf(path, sizeof path, "%s%s%s", (const char *)dir, rel[0] ? "/" : "", rel);
	if (errnum) {
		cli_out_flush();
		cli_warn("%s: cannot remove: %s", path, strerror(errnum));
	} else if (!opt.quiet) {
		cli_out_str(opt.dry_run ? "would remove " : "removed ");
		cli_out_str(path);
		cli_out_str(is_dir ? "/\n" : "\n");
	}
}

static int cmd_prune(const char *dir)
{
	struct shard_prune_opts po = {opt.dry_run, prune_say, (void *)dir};
	struct shard_prune_counts c;
	struct shard_error err;
	char dirs[64] = "";

	if (shard_dataset_prune(dir, &po, &c, &err))
		cli_die(CLI_FAIL, "%s", err.msg);
	cli_out_flush();
	if (!opt.quiet) {
		if (c.dirs)
			snprintf(dirs, sizeof dirs, " and %llu director%s", (unsigned long long)c.dirs,
				 c.dirs == 1 ? "y" : "ies");
		if (c.files || c.dirs)
			fprintf(stderr, "%s: %s: %s %llu file%s (%llu bytes)%s\n", cli_prog, dir,
				opt.dry_run ? "would remove" : "removed", (unsigned long long)c.files,
				c.files == 1 ? "" : "s", (unsigned long long)c.bytes, dirs);
		else
			fprintf(stderr, "%s: %s: nothing to remove%s\n", cli_prog, dir,
				shard_is_url(dir) ? "" : ": index.json references every file");
	}
	return c.failed ? CLI_FAIL : CLI_OK;
}

/* The first usage error; reported once every option is read, so that
 * verify --json can report it as a document wherever --json stands. */
static char usage_msg[600];

static void __attribute__((format(printf, 1, 2))) bad_usage(const char *fmt, ...)
{
	va_list ap;
	if (usage_msg[0])
		return;
	va_start(ap, fmt);
	vsnprintf(usage_msg, sizeof usage_msg, fmt, ap);
	va_end(ap);
}

/* An option given to a subcommand it does not apply to. */
static void only_for(const char *sub, const char *what, int given, const char *for_sub)
{
	if (given && strcmp(sub, for_sub))
		bad_usage("%s applies to %s only", what, for_sub);
}

/* The options after the subcommand sub, checked; the verifier made for
 * verify (and for any --expect-schema, to check it) in *v. Returns DIR. */
static const char *parse_options(const char *sub, int argc, char **argv, struct shard_verifier **v)
{
	struct shard_verify_opts vo = {0};
	struct shard_error err;
	int c;

	optind = 2;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:qnhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': opt.out = optarg; break;
		case 'q': opt.quiet = 1; break;
		case 'n': opt.dry_run = 1; break;
		case OPT_JSON: opt.json = 1; break;
		case OPT_HASHES: opt.hashes = optarg; break;
		case OPT_FORCE: opt.force = 1; break;
		case OPT_NO_SYNC: opt.no_sync = 1; break;
		case OPT_STRICT: vo.strict = 1; break;
		case OPT_MAXP:
			if (cli_parse_u64(optarg, &vo.max_problems) || vo.max_problems == 0)
				bad_usage("--max-problems takes a positive number");
			break;
		case OPT_EXPECT_SCHEMA: vo.expect_schema = optarg; break;
		case OPT_EXPECT_SAMPLES:
			if (cli_parse_u64(optarg, &vo.expect_samples))
				bad_usage("--expect-samples takes a number of samples, not '%s'", optarg);
			vo.expect_samples_set = 1;
			break;
		case 'h': help();
		case 'V': cli_version();
		case ':':
			bad_usage("option '%s' needs a value", argv[optind - 1]);
			break;
		default:
			if (optopt > 0 && optopt < 128)
				bad_usage("invalid option -- '%c'", optopt);
			else if (optopt)
				bad_usage("option '%s' takes no value", argv[optind - 1]);
			else
				bad_usage("unrecognized option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		bad_usage(optind >= argc ? "missing DIR" : "too many arguments");
	if (!vo.max_problems)
		vo.max_problems = 100;
	vo.problem = cli_report_problem;
	vo.ctx = &rep;
	if ((vo.expect_schema || strcmp(sub, "verify") == 0) && shard_verifier_new(v, &vo, &err))
		bad_usage("--expect-schema: %s", err.msg);
	only_for(sub, "--strict", vo.strict, "verify");
	only_for(sub, "--expect-schema", vo.expect_schema != NULL, "verify");
	only_for(sub, "--expect-samples", vo.expect_samples_set, "verify");
	only_for(sub, "--dry-run", opt.dry_run, "prune");
	if (opt.no_sync && strcmp(sub, "create") && strcmp(sub, "merge"))
		bad_usage("--no-sync applies to create and merge only");
	if ((strcmp(sub, "create") == 0 || strcmp(sub, "merge") == 0 || strcmp(sub, "prune") == 0) &&
	    optind == argc - 1 && (cli_http_url(argv[optind]) || (opt.out && cli_http_url(opt.out))))
		bad_usage("%s takes a local directory or an s3:// dataset, not an http(s) URL", sub);
	if (usage_msg[0]) {
		if (strcmp(sub, "verify") || !opt.json)
			cli_usage_error(usage, "%s", usage_msg);
		cli_report_init(&rep, opt.json, opt.quiet, optind == argc - 1 ? argv[optind] : NULL);
		cli_report_fail(&rep, CLI_USAGE, NULL, "%s", usage_msg);
	}
	return argv[optind];
}

int main(int argc, char **argv)
{
	static const char *const subs[] = {"create", "merge", "verify", "info", "prune", NULL};
	struct shard_verifier *v = NULL;
	const char *sub, *dir;
	int i;

	cli_init(argv[0]);
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
		help();
	if (argc >= 2 && (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0))
		cli_version();
	if (argc < 2)
		cli_usage_error(usage, "missing subcommand");
	sub = argv[1];
	for (i = 0; subs[i] && strcmp(subs[i], sub); i++)
		;
	if (!subs[i])
		cli_usage_error(usage, "unknown subcommand '%s'", sub);
	dir = parse_options(sub, argc, argv, &v);
	if (strcmp(sub, "create") == 0)
		return cmd_create(dir);
	if (strcmp(sub, "merge") == 0)
		return cmd_merge(dir);
	if (strcmp(sub, "prune") == 0)
		return cmd_prune(dir);
	if (strcmp(sub, "info") == 0)
		return cli_index_info(dir, opt.json);
	return cmd_verify(v, dir);
}
