/* shard-convert: CSV/TSV as Apache Spark writes it (files, part-file
 * directories, stdin; compressed or not) into MDS shards, typed by a schema.
 * The options become the converter's (libshard, "engine: converter"); this
 * prints its messages, rejected rows, progress and summary. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "dataset.h"
#include "shard.h"

static const char usage[] =
	"Usage: shard-convert -o DEST [--schema NAME:TYPE,... | --schema-from SPEC] [--header]\n"
	"                     [-f csv|tsv|jsonl] [--pack NAME=COL,...:DTYPE] [--type COL=TYPE]\n"
	"                     [--select COLS] [--rename COL=NAME] [--case-sensitive]\n"
	"                     [--delimiter C] [--quote C] [--escape C] [--null STR]\n"
	"                     [--compression C] [--hashes LIST] [--size-limit SIZE]\n"
	"                     [--samples-per-shard N] [--on-error fail|skip] [--rejects FILE]\n"
	"                     [--fill COL=VALUE] [--no-nulls] [--timezone TZ] [--json] [--entries]\n"
	"                     [--overwrite] [--no-sync] [-q] [INPUT ...]\n";

static void __attribute__((noreturn)) help(void)
{
	printf("%s\n"
	       "Convert CSV/TSV or JSON Lines (Spark exports: files, directories of part files, stdin '-';\n"
	       "gzip, bzip2, xz, zstd and lz4-frame compression recognised from the content)\n"
	       "into MDS shards.\n\n"
	       "  -o, --output DEST          '-' for a shard stream on stdout, else a dataset directory\n"
	       "                             or s3://BUCKET/PREFIX\n"
	       "  -s, --schema LIST          columns as NAME:TYPE (MDS encodings, bool, date, timestamp;\n"
	       "                             TYPE? keeps nulls)\n"
	       "  -H, --header               every input file starts with a header line\n"
	       "  -f, --format FMT           csv (default), tsv, or jsonl (one JSON object per line)\n"
	       "      --delimiter C          field delimiter (default ',', tab for tsv)\n"
	       "      --quote C              quote character (default '\"'; '' for none)\n"
	       "      --escape C             escape character inside quotes (default '\\'; '' for none)\n"
	       "      --null STR             unquoted text that means null (default: empty)\n"
	       "  -c, --compression C        shard compression (default zstd; 'none')\n"
	       "      --hashes LIST          shard hashes (default xxh64; 'none')\n"
	       "      --size-limit SIZE      bytes per shard before compression (default 64MiB)\n"
	       "      --samples-per-shard N  at most N samples per shard\n"
	       "      --on-error POLICY      fail (default) or skip (needs --rejects)\n"
	       "      --rejects FILE         write each rejected row with its location and reason\n"
	       "      --fill COL=VALUE       use VALUE for nulls in COL (repeatable)\n"
	       "      --no-nulls             no column keeps nulls (NAME:TYPE? and Spark's nullable\n"
	       "                             fields do, in a NAME.valid column)\n"
	       "      --timezone TZ          the zone of timestamps written without an offset, in\n"
	       "                             fields and partition directories: an IANA name such as\n"
	       "                             America/New_York, or UTC, or +05:30 (default UTC)\n"
	       "      --json                 print the summary as JSON\n"
	       "      --schema-from SPEC     the schema from Spark: a DDL string or df.schema.json(),\n"
	       "                             or a file holding either\n"
	       "      --type COL=TYPE        another type for COL than the schema's (repeatable)\n"
	       "      --select COLS          write only these columns (the others are read, not written)\n"
	       "      --rename COL=NAME      write COL as NAME (repeatable)\n"
	       "      --case-sensitive       header names and JSON keys match the schema exactly\n"
	       "                             (default: ignoring ASCII case, as Spark does)\n"
	       "      --pack NAME=COLS:DTYPE write columns COLS (a,b,c) as one ndarray:DTYPE:N column\n"
	       "      --entries              for Spark's RDD.pipe(): write under a fresh DEST/part-*/\n"
	       "                             directory, print each shard's index entry on stdout\n"
	       "                             and leave index.json to 'shard-index merge -o DEST -'\n"
	       "      --overwrite            replace a dataset already in DEST (with --entries: its\n"
	       "                             index.json only, for the merge to write anew)\n"
	       "      --no-sync              do not flush the shards and index.json to disk (for\n"
	       "                             scratch data: faster, not safe from a power loss)\n"
	       "  -q, --quiet                no summary\n"
	       "  -h, --help                 show this help\n"
	       "  -V, --version              show the version\n\n"
	       "Exit status: 0 success, 1 bad input or failure, 2 usage error.\n",
	       usage);
	exit(0);
}

enum { OPT_ENTRIES = 300, OPT_SCHEMA_FROM, OPT_PACK, OPT_NO_NULLS, OPT_TYPE, OPT_SELECT, OPT_RENAME, OPT_CASE,
       OPT_OVERWRITE,
       OPT_TIMEZONE, OPT_NO_SYNC };
enum { OPT_DELIM = 256, OPT_QUOTE, OPT_ESCAPE, OPT_NULL, OPT_HASHES, OPT_SIZE, OPT_SPS, OPT_ONERR, OPT_REJECTS,
       OPT_FILL, OPT_JSON };

static const struct option longopts[] = {
	{"output", required_argument, NULL, 'o'},
	{"schema", required_argument, NULL, 's'},
	{"header", no_argument, NULL, 'H'},
	{"format", required_argument, NULL, 'f'},
	{"delimiter", required_argument, NULL, OPT_DELIM},
	{"quote", required_argument, NULL, OPT_QUOTE},
	{"escape", required_argument, NULL, OPT_ESCAPE},
	{"null", required_argument, NULL, OPT_NULL},
	{"compression", required_argument, NULL, 'c'},
	{"hashes", required_argument, NULL, OPT_HASHES},
	{"size-limit", required_argument, NULL, OPT_SIZE},
	{"samples-per-shard", required_argument, NULL, OPT_SPS},
	{"on-error", required_argument, NULL, OPT_ONERR},
	{"rejects", required_argument, NULL, OPT_REJECTS},
	{"fill", required_argument, NULL, OPT_FILL},
	{"json", no_argument, NULL, OPT_JSON},
	{"entries", no_argument, NULL, OPT_ENTRIES},
	{"no-sync", no_argument, NULL, OPT_NO_SYNC},
	{"schema-from", required_argument, NULL, OPT_SCHEMA_FROM},
	{"pack", required_argument, NULL, OPT_PACK},
	{"no-nulls", no_argument, NULL, OPT_NO_NULLS},
	{"type", required_argument, NULL, OPT_TYPE},
	{"select", required_argument, NULL, OPT_SELECT},
	{"rename", required_argument, NULL, OPT_RENAME},
	{"case-sensitive", no_argument, NULL, OPT_CASE},
	{"overwrite", no_argument, NULL, OPT_OVERWRITE},
	{"timezone", required_argument, NULL, OPT_TIMEZONE},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

struct run {
	const char *dest, *schema_from, *format, *comp, *hashes, *delim, *quote, *escape, *rejects, *onerr;
	int quiet, json, entries, overwrite, no_sync;
	uint64_t size_limit;
	struct shard_convert_opts o;
	struct shard_buf spark_schema;
	char **hl;
	FILE *rejects_f;
	struct cli_progress progress;
};

/* One more value of a repeatable option. */
static void push(const char *const **list, size_t *n, const char *v)
{
	const char **l = realloc((void *)*list, (*n + 1) * sizeof *l);
	if (!l)
		cli_die(CLI_FAIL, "out of memory");
	l[(*n)++] = v;
	*list = l;
}

static char single_char(const char *opt, const char *v, int allow_empty)
{
	if (!v[0] && allow_empty)
		return 0;
	if (strcmp(v, "\\t") == 0 || strcmp(v, "tab") == 0)
		return '\t';
	if (strlen(v) != 1 || v[0] == '\n' || v[0] == '\r')
		cli_usage_error(usage, "%s takes a single character", opt);
	return v[0];
}

static void parse_args(struct run *r, int argc, char **argv)
{
	struct shard_convert_opts *o = &r->o;
	int c;
	while ((c = getopt_long(argc, argv, "o:s:Hf:c:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': r->dest = optarg; break;
		case 's': o->schema = optarg; break;
		case 'H': o->header = 1; break;
		case 'f': r->format = optarg; break;
		case 'c': r->comp = optarg; break;
		case 'q': r->quiet = 1; break;
		case OPT_DELIM: r->delim = optarg; break;
		case OPT_QUOTE: r->quote = optarg; break;
		case OPT_ESCAPE: r->escape = optarg; break;
		case OPT_NULL: o->csv.null_value = optarg; break;
		case OPT_HASHES: r->hashes = optarg; break;
		case OPT_SIZE:
			if (shard_parse_size(optarg, &r->size_limit))
				cli_usage_error(usage, "invalid --size-limit '%s'", optarg);
			break;
		case OPT_SPS:
			if (cli_parse_u64(optarg, &o->writer.max_samples) || !o->writer.max_samples)
				cli_usage_error(usage, "--samples-per-shard takes a positive number");
			break;
		case OPT_ONERR: r->onerr = optarg; break;
		case OPT_REJECTS: r->rejects = optarg; break;
		case OPT_FILL: push(&o->fills, &o->nfills, optarg); break;
		case OPT_TYPE: push(&o->types, &o->ntypes, optarg); break;
		case OPT_RENAME: push(&o->renames, &o->nrenames, optarg); break;
		case OPT_SELECT: o->select = optarg; break;
		case OPT_CASE: o->case_sensitive = 1; break;
		case OPT_OVERWRITE: r->overwrite = 1; break;
		case OPT_JSON: r->json = 1; break;
		case OPT_ENTRIES: r->entries = 1; break;
		case OPT_NO_SYNC: r->no_sync = 1; break;
		case OPT_NO_NULLS: o->no_nulls = 1; break;
		case OPT_SCHEMA_FROM: r->schema_from = optarg; break;
		case OPT_TIMEZONE: o->timezone = optarg; break;
		case OPT_PACK: push(&o->packs, &o->npacks, optarg); break;
		case 'h': help();
		case 'V': cli_version();
		default: cli_usage_error(usage, "invalid option");
		}
	}
}

/* --schema-from: a file holding Spark's schema, or the schema itself. */
static void spark_schema(struct run *r)
{
	struct shard_buf text = {0};
	struct shard_error err;
	struct stat st;
	if (stat(r->schema_from, &st) == 0 && S_ISREG(st.st_mode)) {
		if (shard_read_file(r->schema_from, &text, 16u << 20, &err))
			cli_die_err(&err);
	} else {
		shard_buf_append(&text, r->schema_from, strlen(r->schema_from));
	}
	shard_buf_putc(&text, 0);
	if (shard_schema_from_spark((const char *)text.p, &r->spark_schema, &err))
		cli_usage_error(usage, "--schema-from: %s", err.msg);
	shard_buf_free(&text);
	r->o.schema = (const char *)r->spark_schema.p;
	r->o.spark_schema = 1;
}

/* What the options say before any input is read. */
static void settle_args(struct run *r)
{
	struct shard_csv_opts *co = &r->o.csv;
	if (!r->dest)
		cli_usage_error(usage, "-o DEST is required ('-' for a shard stream on stdout)");
	if (r->o.schema && r->schema_from)
		cli_usage_error(usage, "--schema and --schema-from cannot be combined");
	if (r->schema_from)
		spark_schema(r);
	if (strcmp(r->format, "csv") && strcmp(r->format, "tsv") && strcmp(r->format, "jsonl"))
		cli_usage_error(usage, "unknown format '%s' (expected csv, tsv or jsonl)", r->format);
	r->o.jsonl = strcmp(r->format, "jsonl") == 0;
	if (r->o.jsonl && r->o.header)
		cli_usage_error(usage, "--header applies to csv and tsv, not jsonl");
	if (strcmp(r->onerr, "fail") && strcmp(r->onerr, "skip"))
		cli_usage_error(usage, "--on-error takes fail or skip");
	r->o.skip = strcmp(r->onerr, "skip") == 0;
	if (r->o.skip && !r->rejects)
		cli_usage_error(usage, "--on-error skip needs --rejects FILE: skipped rows are never dropped silently");
	co->delim = r->delim ? single_char("--delimiter", r->delim, 0) : strcmp(r->format, "tsv") == 0 ? '\t' : ',';
	co->quote = single_char("--quote", r->quote, 1);
	co->escape = single_char("--escape", r->escape, 1);
	r->o.tzdir = getenv("TZDIR");
}

/* The writer's options. */
static void writer_opts(struct run *r)
{
	struct shard_writer_opts *wo = &r->o.writer;
	if (strcmp(r->hashes, "none"))
		r->hl = cli_split(r->hashes, &wo->nhashes);
	wo->compression = strcmp(r->comp, "none") ? r->comp : NULL;
	wo->hashes = (const char *const *)r->hl;
	wo->size_limit = r->size_limit;
}

/* Settle the writer's options before DEST is created. */
static void check_writer(const struct shard_writer_opts *wo)
{
	struct shard_codec cd;
	struct shard_error err;
	size_t i;
	if (shard_codec_parse(wo->compression, &cd, &err))
		cli_usage_error(usage, "%s", err.msg);
	for (i = 0; i < wo->nhashes; i++)
		if (!shard_hash_known(wo->hashes[i]) || (i && strcmp(wo->hashes[i - 1], wo->hashes[i]) >= 0))
			cli_usage_error(usage, "--hashes: '%s' is unknown or out of order (sorted, unique MDS names)",
					wo->hashes[i]);
	if (wo->size_limit > 0xFFFFFFFFull)
		cli_usage_error(usage, "--size-limit must stay under 4 GiB (MDS offsets are 32-bit)");
}

/* Each rejected row after its location and reason. */
static void on_reject(void *ctx, const struct shard_convert_reject *x)
{
	FILE *f = ((struct run *)ctx)->rejects_f;
	if (x->column)
		fprintf(f, "# %s:%llu:%zu: %s\n", x->file, (unsigned long long)x->line, x->column, x->reason);
	else
		fprintf(f, "# %s:%llu: %s\n", x->file, (unsigned long long)x->line, x->reason);
	fwrite(x->raw, 1, x->raw_len, f);
	/* the row keeps its own line end, a bare CR too; only the last row of a
	 * file without one gets a LF, so the next reason starts a line */
	if (!x->raw_len || (x->raw[x->raw_len - 1] != '\n' && x->raw[x->raw_len - 1] != '\r'))
		fputc('\n', f);
}

static void on_warning(void *ctx, const char *msg)
{
	(void)ctx;
	cli_warn("%s", msg);
}

static void on_progress(void *ctx, uint64_t rows, uint64_t bytes)
{
	cli_progress_add(&((struct run *)ctx)->progress, 0, rows, bytes);
}

/* --entries: each finished shard's index entry on stdout, one JSON line, for
 * `shard-index merge -o DEST -` to join (how a Spark job collects them). */
static void print_entry(void *ctx, const struct shard_entry *e)
{
	struct shard_buf b = {0};
	struct shard_error err;
	(void)ctx;
	if (shard_entry_to_json(e, &b, &err) || shard_buf_putc(&b, '\n'))
		cli_die(CLI_FAIL, "out of memory");
	cli_out(b.p, b.len);
	cli_out_flush();
	shard_buf_free(&b);
}

/* The inputs, stdin when none is named. */
static void add_inputs(struct shard_converter *h, int argc, char **argv)
{
	struct shard_error err;
	int i = optind;
	if (i == argc && shard_converter_add_fd(h, 0, "<stdin>", &err))
		cli_die_err(&err);
	for (; i < argc; i++)
		if (strcmp(argv[i], "-") ? shard_converter_add_path(h, argv[i], &err)
					 : shard_converter_add_fd(h, 0, "<stdin>", &err))
			cli_die_err(&err);
}

static struct shard_sink *open_output(struct run *r, const char *extra)
{
	struct shard_sink *sink;
	struct shard_error err;
	if (r->entries) {
		if (strcmp(r->dest, "-") == 0)
			cli_usage_error(usage, "--entries writes shards under DEST: give a directory");
		if (shard_sink_open_part(&sink, r->dest, &err))
			cli_die_err(&err);
		shard_sink_on_shard(sink, print_entry, NULL);
		shard_sink_set_sync(sink, !r->no_sync);
		cli_guard_sink(sink);	/* a signal removes the shards written */
	} else if (cli_dest_open(&sink, r->dest, -1, r->no_sync, &err)) {
		cli_die_err(&err);
	}
	if (extra && r->entries) {
		cli_out_str("{\"shardkit\":");
		cli_out_str(extra);
		cli_out_str("}\n");
		cli_out_flush();
	}
	return sink;
}

static void summary(const struct run *r, const struct shard_converter *h, uint64_t shards)
{
	struct shard_convert_stats st;
	shard_converter_stats(h, &st);
	if (r->json) {
		FILE *o = strcmp(r->dest, "-") && !r->entries ? stdout : stderr;
		fprintf(o, "{\"rows_read\":%llu,\"rows_written\":%llu,\"rows_rejected\":%llu,\"shards\":%llu,"
			   "\"inputs\":%zu}\n",
			(unsigned long long)st.rows_read, (unsigned long long)st.rows_written,
			(unsigned long long)st.rows_rejected, (unsigned long long)shards, st.inputs);
	} else if (!r->quiet) {
		fprintf(stderr, "%s: %llu rows read, %llu written, %llu rejected; %llu shards\n", cli_prog,
			(unsigned long long)st.rows_read, (unsigned long long)st.rows_written,
			(unsigned long long)st.rows_rejected, (unsigned long long)shards);
	}
}

/* The schema, inferred or given, and every usage error settled. */
static void prepare(struct run *r, struct shard_converter *h)
{
	struct shard_error err;
	int rc = shard_converter_prepare(h, &err);
	if (shard_converter_inferred_from(h) && shard_converter_schema_text(h) && !r->quiet)
		cli_warn("no schema given; inferred from %s: --schema '%s'", shard_converter_inferred_from(h),
			 shard_converter_schema_text(h));
	if (rc == SHARD_EARG)
		cli_usage_error(usage, "%s", err.msg);
	if (rc)
		cli_die_err(&err);
}

/* Convert into DEST, the shards' count when it is whole. */
static uint64_t write_dest(struct run *r, struct shard_converter *h)
{
	struct cli_overwrite ow = {0};
	struct shard_sink *sink;
	struct shard_error err;
	uint64_t shards;
	if (r->rejects && !(r->rejects_f = fopen(r->rejects, "w")))
		cli_die(CLI_FAIL, "%s: %s", r->rejects, strerror(errno));
	if (r->overwrite && strcmp(r->dest, "-") == 0)
		cli_usage_error(usage, "--overwrite applies to a dataset directory, not a stream");
	/* deleting the objects of the dataset there is not done for it: a
	 * writer of the same prefix elsewhere would lose its shards */
	if (r->overwrite && shard_is_url(r->dest))
		cli_usage_error(usage, "--overwrite applies to a local directory; to replace an s3:// dataset, "
				       "delete its index.json, then write and run shard-index prune");
	if (r->overwrite)
		cli_overwrite_begin(&ow, r->dest, r->entries);
	sink = open_output(r, shard_converter_extra(h));
	/* no progress line beside a JSON summary on stderr: a script reads it;
	 * none beside a stream on stdout: the pipeline's last program shows its
	 * own on the same terminal */
	cli_progress_begin(&r->progress, "rows", 1, !r->quiet && strcmp(r->dest, "-") && !(r->json && r->entries));
	if (shard_converter_finish(h, sink, &err))
		cli_die_err(&err);	/* the exit removes the shards written */
	shards = shard_sink_shards(sink);
	if (cli_sink_close(sink, &err))
		cli_die_err(&err);
	if (r->overwrite)
		cli_overwrite_end(&ow);
	if (r->rejects_f && fclose(r->rejects_f) != 0)
		cli_die(CLI_FAIL, "%s: %s", r->rejects, strerror(errno));
	cli_progress_end(&r->progress);
	return shards;
}

int main(int argc, char **argv)
{
	struct run r = {.format = "csv", .comp = "zstd", .hashes = "xxh64", .quote = "\"", .escape = "\\",
			.onerr = "fail", .size_limit = 1ull << 26};
	struct shard_converter *h;
	struct shard_error err;

	cli_init(argv[0]);
	shard_csv_opts_default(&r.o.csv);
	parse_args(&r, argc, argv);
	settle_args(&r);
	writer_opts(&r);
	r.o.on_reject = on_reject;
	r.o.on_warning = on_warning;
	r.o.on_progress = on_progress;
	r.o.ctx = &r;
	if (shard_converter_new(&h, &r.o, &err))
		cli_die_err(&err);
	add_inputs(h, argc, argv);
	prepare(&r, h);
	check_writer(&r.o.writer);
	summary(&r, h, write_dest(&r, h));
	/* everything back, so leak checkers see a clean exit */
	shard_converter_free(h);
	if (r.hl) {
		free(r.hl[0]);
		free(r.hl);
	}
	free((void *)r.o.fills);
	free((void *)r.o.types);
	free((void *)r.o.renames);
	free((void *)r.o.packs);
	shard_buf_free(&r.spark_schema);
	return 0;
}
