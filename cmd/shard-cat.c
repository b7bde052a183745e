/* shard-cat: read datasets, loose shards or a shard stream, and write a shard
 * stream, a dataset directory, or one line of text per sample. */
#include "config.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dataset.h"
#include "shard.h"

static const char usage[] =
	"Usage: shard-cat [-o DEST | -f FORMAT] [-c COLS] [-r RANGE] [--no-header] [--rfc4180] [--raw]\n"
	"                 [--no-verify] [--force] [--no-sync] [-q] [INPUT ...]\n";

static void __attribute__((noreturn)) help(void)
{
	printf("%s\n"
	       "Read MDS datasets (directories with index.json), loose shard files, or a\n"
	       "shard stream on stdin (-, the default), and write them out.\n\n"
	       "  -o, --output DEST    '-' for a shard stream on stdout, else a dataset directory\n"
	       "                       or s3://BUCKET/PREFIX\n"
	       "  -f, --format FMT     text output: jsonl (default), csv (Spark's dialect) or tsv\n"
	       "  -c, --columns LIST   only these columns, in this order (text output)\n"
	       "  -r, --range A:B      samples A (inclusive) to B (exclusive) across all inputs\n"
	       "      --no-header      no header line in csv/tsv output\n"
	       "      --rfc4180        csv with doubled quotes instead of Spark's backslash escapes\n"
	       "      --raw            the stored columns: logical types (bool, date, timestamp) as\n"
	       "                       numbers, nulls as stored with their validity columns\n"
	       "      --no-verify      do not check shard hashes (sizes are always checked)\n"
	       "      --force          write a binary stream even to a terminal\n"
	       "      --no-sync        -o DIR: do not flush the shards and index.json to disk (for\n"
	       "                       scratch data: faster, not safe from a power loss)\n"
	       "  -q, --quiet          no summary on stderr\n"
	       "  -h, --help           show this help\n"
	       "  -V, --version        show the version\n\n"
	       "Exit status: 0 success, 1 bad data or failure, 2 usage error.\n",
	       usage);
	exit(0);
}

enum { OPT_NO_HEADER = 256, OPT_NO_VERIFY, OPT_FORCE, OPT_RAW, OPT_RFC4180, OPT_NO_SYNC };

static const struct option longopts[] = {
	{"output", required_argument, NULL, 'o'},
	{"format", required_argument, NULL, 'f'},
	{"columns", required_argument, NULL, 'c'},
	{"range", required_argument, NULL, 'r'},
	{"no-header", no_argument, NULL, OPT_NO_HEADER},
	{"no-verify", no_argument, NULL, OPT_NO_VERIFY},
	{"force", no_argument, NULL, OPT_FORCE},
	{"no-sync", no_argument, NULL, OPT_NO_SYNC},
	{"raw", no_argument, NULL, OPT_RAW},
	{"rfc4180", no_argument, NULL, OPT_RFC4180},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static int extra_agrees(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

struct text_state {
	enum shard_text how;
	char **cols;		/* requested column names or NULL */
	size_t ncols;
	int header, header_done;
	uint64_t lo, hi;	/* sample range [lo, hi) */
	uint64_t pos;		/* global sample position */
	const struct shard_schema *first;	/* schema the header was written for */
	int *map;
	size_t nmap, capmap;
	struct shard_field *fields;
	size_t capfields;
	int raw;		/* --raw: the stored table: logical types as numbers, validity columns */
	int *ltype;		/* logical type of each mapped column */
	int *valid;		/* each mapped column's validity column in the shard, or -1 */
	struct shard_buf keys;	/* JSON keys '"name":' of the mapped columns, back to back */
	size_t *keyoff;		/* nmap + 1 offsets into keys */
	struct shard_buf line;
};

static void parse_range(const char *s, uint64_t *lo, uint64_t *hi)
{
	const char *colon = strchr(s, ':');
	char a[32] = "", b[32] = "";
	if (!colon || (size_t)(colon - s) >= sizeof a || strlen(colon + 1) >= sizeof b)
		cli_usage_error(usage, "invalid range '%s' (expected A:B, A: or :B)", s);
	memcpy(a, s, (size_t)(colon - s));
	strcpy(b, colon + 1);
	*lo = 0;
	*hi = UINT64_MAX;
	if ((*a && cli_parse_u64(a, lo)) || (*b && cli_parse_u64(b, hi)) || *hi < *lo)
		cli_usage_error(usage, "invalid range '%s' (expected A:B with A <= B)", s);
}

/* Whether column k of s is the validity column of another (shard-mds(5), NULLS). */
static int is_validity(json_t *va, const struct shard_schema *s, size_t k)
{
	const char *col;
	json_t *v;
	json_object_foreach(va, col, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s->names[k]) == 0 && shard_schema_index(s, col) >= 0)
			return 1;
	return 0;
}

/* Map output columns onto this shard's schema; columns must match across
 * inputs. Without --raw the table is the logical one: values of logical
 * types in their text form, null where a validity column says so, and the
 * validity columns themselves shown only when asked for by name. */
static void plan_columns(struct text_state *t, const struct shard_schema *s, const char *name, const char *extra)
{
	json_t *x = extra ? json_loads(extra, 0, NULL) : NULL;
	json_t *lts = json_object_get(x, "logical_types"), *va = t->raw ? NULL : json_object_get(x, "validity");
	size_t i, n = t->cols ? t->ncols : s->ncols;
	int *all = NULL;

	if (!t->cols) {
		/* every column but the validity columns */
		if (!(all = calloc(s->ncols + 1, sizeof *all)))
			cli_die(CLI_FAIL, "out of memory");
		for (i = 0, n = 0; i < s->ncols; i++)
			if (!is_validity(va, s, i))
				all[n++] = (int)i;
	}

	if (n > t->capmap) {
		t->map = realloc(t->map, n * sizeof *t->map);
		t->capmap = n;
		if (!t->map)
			cli_die(CLI_FAIL, "out of memory");
	}
	if (s->ncols > t->capfields) {
		t->fields = realloc(t->fields, s->ncols * sizeof *t->fields);
		t->capfields = s->ncols;
		if (!t->fields)
			cli_die(CLI_FAIL, "out of memory");
	}
	t->nmap = n;
	t->keys.len = 0;
	free(t->keyoff);
	t->keyoff = malloc((n + 1) * sizeof *t->keyoff);
	free(t->ltype);
	t->ltype = calloc(n + 1, sizeof *t->ltype);
	free(t->valid);
	t->valid = calloc(n + 1, sizeof *t->valid);
	if (!t->keyoff || !t->ltype || !t->valid)
		cli_die(CLI_FAIL, "out of memory");
	for (i = 0; i < n; i++) {
		int k = t->cols ? shard_schema_index(s, t->cols[i]) : all[i], vk;
		const char *lt, *vn;
		struct shard_encoding str;
		struct shard_error err;
		struct shard_field nf;
		if (k < 0)
			cli_die(CLI_FAIL, "%s: no column '%s'", name, t->cols[i]);
		t->map[i] = k;
		lt = t->raw ? NULL : json_string_value(json_object_get(lts, s->names[k]));
		t->ltype[i] = lt ? shard_ltype_from_name(lt) : 0;
		vn = json_string_value(json_object_get(va, s->names[k]));
		vk = vn ? shard_schema_index(s, vn) : -1;
		if (vk >= 0 && (s->enc[vk].kind != SHARD_ENC_UINT8))
			cli_die(CLI_FAIL, "%s: validity column '%s' of '%s' is not uint8", name, vn, s->names[k]);
		t->valid[i] = vk;
		nf.p = (const uint8_t *)s->names[k];
		nf.len = strlen(s->names[k]);
		t->keyoff[i] = t->keys.len;
		shard_encoding_parse("str", &str, &err);
		if (shard_field_format(&str, &nf, SHARD_TEXT_JSON, &t->keys, &err) || shard_buf_putc(&t->keys, ':'))
			cli_die(CLI_FAIL, "%s: column name: %s", name, err.msg);
	}
	t->keyoff[n] = t->keys.len;
	if (t->header && !t->header_done && t->how != SHARD_TEXT_JSON) {
		struct shard_buf h = {0};
		struct shard_error err;
		struct shard_encoding str;
		shard_encoding_parse("str", &str, &err);
		for (i = 0; i < n; i++) {
			struct shard_field f = {(const uint8_t *)s->names[t->map[i]], strlen(s->names[t->map[i]])};
			if (i)
				shard_buf_putc(&h, t->how == SHARD_TEXT_TSV ? '\t' : ',');
			if (shard_field_format(&str, &f, t->how, &h, &err))
				cli_die(CLI_FAIL, "%s: column name: %s", name, err.msg);
		}
		shard_buf_putc(&h, '\n');
		cli_out(h.p, h.len);
		shard_buf_free(&h);
		t->header_done = 1;
	}
	t->first = s;
	free(all);
	json_decref(x);
}

static void text_item(struct text_state *t, struct shard_item *it, int verify, const char *extra)
{
	struct shard_error err = {0};
	const struct shard_schema *s = &it->entry.schema;
	uint64_t n = it->entry.samples, start = 0, end = n, i;
	size_t k;

	/* out of the range, passed over; a shard said to hold no samples is in
	 * every range, and read: nothing else would ever check it */
	if (n && (t->pos + n <= t->lo || t->pos >= t->hi)) {
		t->pos += n;
		return;
	}
	if (t->lo > t->pos)
		start = t->lo - t->pos;
	if (t->hi - t->pos < end)
		end = t->hi - t->pos;
	if (shard_item_load_raw(it, verify, &err))
		cli_die_err(&err);
	plan_columns(t, s, it->name, extra);
	for (i = start; i < end; i++) {
		const uint8_t *p;
		size_t len;
		t->line.len = 0;
		shard_mds_sample(&it->mds, (uint32_t)i, &p, &len);
		if (shard_sample_split(s, p, len, t->fields, &err))
			cli_die(CLI_FAIL, "%s: sample %llu: %s", it->name, (unsigned long long)i, err.msg);
		if (t->how == SHARD_TEXT_JSON)
			shard_buf_putc(&t->line, '{');
		for (k = 0; k < t->nmap; k++) {
			int c = t->map[k];
			if (k)
				shard_buf_putc(&t->line, t->how == SHARD_TEXT_TSV ? '\t' : ',');
			if (t->how == SHARD_TEXT_JSON &&
			    shard_buf_append(&t->line, t->keys.p + t->keyoff[k], t->keyoff[k + 1] - t->keyoff[k]))
				cli_die(CLI_FAIL, "out of memory");
			if (t->valid[k] >= 0 && !t->fields[t->valid[k]].p[0]) {
				/* null: JSON's null, an empty field in CSV and TSV */
				if (t->how == SHARD_TEXT_JSON && shard_buf_append(&t->line, "null", 4))
					cli_die(CLI_FAIL, "out of memory");
				continue;
			}
			if (t->ltype[k] ? shard_ltype_format(t->ltype[k], &t->fields[c], t->how, &t->line, &err)
					: shard_field_format(&s->enc[c], &t->fields[c], t->how, &t->line, &err))
				cli_die(CLI_FAIL, "%s: sample %llu: column '%s': %s", it->name, (unsigned long long)i,
					s->names[c], err.msg);
		}
		if (t->how == SHARD_TEXT_JSON)
			shard_buf_putc(&t->line, '}');
		if (shard_buf_putc(&t->line, '\n'))
			cli_die(CLI_FAIL, "out of memory");
		cli_out(t->line.p, t->line.len);
	}
	t->pos += n;
}

struct cat {
	const char *dest, *format, *cols, *range;
	int verify, force, quiet, header, rfc4180, no_sync;
	char **inputs;
	int ninputs;
	struct shard_sink *sink;	/* -o: shards copied here; else text on stdout */
	struct text_state t;
	uint64_t shards, samples;
	char *sink_extra;
	struct cli_progress progress;
};

static void parse_options(struct cat *o, int argc, char **argv)
{
	static char *def[] = {"-", NULL};
	int c, i, dashes = 0;

	o->verify = o->header = 1;
	while ((c = getopt_long(argc, argv, "o:f:c:r:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': o->dest = optarg; break;
		case 'f': o->format = optarg; break;
		case 'c': o->cols = optarg; break;
		case 'r': o->range = optarg; break;
		case 'q': o->quiet = 1; break;
		case OPT_NO_HEADER: o->header = 0; break;
		case OPT_NO_VERIFY: o->verify = 0; break;
		case OPT_FORCE: o->force = 1; break;
		case OPT_NO_SYNC: o->no_sync = 1; break;
		case OPT_RAW: o->t.raw = 1; break;
		case OPT_RFC4180: o->rfc4180 = 1; break;
		case 'h': help();
		case 'V': cli_version();
		default: cli_usage_error(usage, "invalid option");
		}
	}
	o->inputs = optind < argc ? argv + optind : def;
	o->ninputs = optind < argc ? argc - optind : 1;
	if (o->dest && o->format)
		cli_usage_error(usage, "-o and -f cannot be combined: -o writes shards, -f writes text");
	if (o->dest && (o->cols || o->range))
		cli_usage_error(usage, "--columns and --range apply to text output; shards are copied whole");
	for (i = 0; i < o->ninputs; i++)
		dashes += strcmp(o->inputs[i], "-") == 0;
	if (dashes > 1)
		cli_usage_error(usage, "stdin ('-') can be read only once");
}

/* -f, -c, -r and their companions as the text writer's state. */
static void text_setup(struct cat *o)
{
	struct text_state *t = &o->t;
	if (!o->format || strcmp(o->format, "jsonl") == 0 || strcmp(o->format, "json") == 0)
		t->how = SHARD_TEXT_JSON;
	else if (strcmp(o->format, "csv") == 0)
		t->how = o->rfc4180 ? SHARD_TEXT_CSV_RFC4180 : SHARD_TEXT_CSV;
	else if (strcmp(o->format, "tsv") == 0)
		t->how = SHARD_TEXT_TSV;
	else
		cli_usage_error(usage, "unknown format '%s' (expected jsonl, csv or tsv)", o->format);
	if (o->rfc4180 && t->how != SHARD_TEXT_CSV_RFC4180)
		cli_usage_error(usage, "--rfc4180 applies to -f csv");
	t->header = o->header;
	t->hi = UINT64_MAX;
	if (o->range)
		parse_range(o->range, &t->lo, &t->hi);
	if (o->cols)
		t->cols = cli_split(o->cols, &t->ncols);
}

static void text_free(struct text_state *t)
{
	if (t->cols) {
		free(t->cols[0]);
		free(t->cols);
	}
	free(t->map);
	free(t->fields);
	free(t->keyoff);
	free(t->ltype);
	free(t->valid);
	shard_buf_free(&t->keys);
	shard_buf_free(&t->line);
}

/* One shard into the -o sink. What is passed on is checked: by its hashes
 * when the index lists any (done by the source), else by decompressing it
 * and validating the MDS header and offsets. A failure exits, and the exit
 * removes what the sink holds. */
static void copy_item(struct cat *o, struct shard_source *src, struct shard_item *it)
{
	struct shard_error err;
	if (o->verify && !it->entry.nhashes && shard_item_load_raw(it, 1, &err))
		cli_die_err(&err);
	/* logical types and other extra metadata travel when all inputs agree */
	if (o->shards == 1) {
		const char *x = shard_source_extra(src);
		o->sink_extra = x ? strdup(x) : NULL;
	} else if (o->sink_extra && !extra_agrees(o->sink_extra, shard_source_extra(src))) {
		free(o->sink_extra);
		o->sink_extra = NULL;
	}
	shard_sink_set_extra(o->sink, o->sink_extra);
	if (shard_sink_put(o->sink, &it->entry, it->stored.p, it->stored.len, it->stored_is_zip, &err))
		cli_die_err(&err);
	cli_progress_add(&o->progress, 1, it->entry.samples, it->stored.len);
}

/* One input, shard by shard; 1 once --range is done. */
static int cat_input(struct cat *o, const char *input, struct shard_item *it)
{
	struct shard_source *src;
	struct shard_error err;
	int r;
	if (shard_source_open(&src, input, o->verify ? SHARD_SRC_VERIFY_HASHES : 0, &err))
		cli_die_err(&err);
	while ((r = shard_source_next(src, it, &err)) > 0) {
		o->shards++;
		o->samples += it->entry.samples;
		if (o->sink) {
			copy_item(o, src, it);
		} else {
			text_item(&o->t, it, o->verify, shard_source_extra(src));
			if (o->t.pos >= o->t.hi)
				break;
		}
	}
	if (r < 0)
		cli_die_err(&err);
	shard_source_close(src);
	return !o->sink && o->t.pos >= o->t.hi;
}

int main(int argc, char **argv)
{
	struct cat o = {0};
	struct shard_error err = {0};
	struct shard_item it = {0};
	int i;

	cli_init(argv[0]);
	parse_options(&o, argc, argv);
	if (o.dest) {
		if (cli_dest_open(&o.sink, o.dest, o.force, o.no_sync, &err))	/* a signal removes what was copied */
			cli_die_err(&err);
	} else {
		text_setup(&o);
	}
	/* text output is what a person reads: progress only beside shards, and
	 * not when they go down a pipe: the pipeline's last program shows it */
	cli_progress_begin(&o.progress, "samples", 1, o.sink && !o.quiet && strcmp(o.dest, "-"));
	for (i = 0; i < o.ninputs; i++)
		if (cat_input(&o, o.inputs[i], &it))
			break;
	shard_item_free(&it);
	if (o.sink && cli_sink_close(o.sink, &err))
		cli_die_err(&err);
	cli_progress_end(&o.progress);
	if (o.sink && !o.quiet)
		cli_dataset_summary(strcmp(o.dest, "-") ? o.dest : "<stdout>", 0, o.shards, o.samples);
	cli_out_flush();
	free(o.sink_extra);
	text_free(&o.t);
	return 0;
}
