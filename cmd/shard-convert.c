/* shard-convert: CSV/TSV as Apache Spark writes it (files, part-file
 * directories, stdin; compressed or not) into MDS shards, typed by a schema. */
#include "config.h"

#include <archive.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "shard.h"

static const char usage[] =
	"Usage: shard-convert -o DEST --schema NAME:TYPE,... [--header] [-f csv|tsv|jsonl]\n"
	"                     [--delimiter C] [--quote C] [--escape C] [--null STR]\n"
	"                     [--compression C] [--hashes LIST] [--size-limit SIZE]\n"
	"                     [--samples-per-shard N] [--on-error fail|skip] [--rejects FILE]\n"
	"                     [--fill COL=VALUE] [--json] [--entries] [-q] [INPUT ...]\n";

static void __attribute__((noreturn)) help(void)
{
	printf("%s\n"
	       "Convert CSV/TSV or JSON Lines (Spark exports: files, directories of part files, stdin '-';\n"
	       "gzip, bzip2, xz, zstd and lz4-frame compression recognised from the content)\n"
	       "into MDS shards.\n\n"
	       "  -o, --output DEST          '-' for a shard stream on stdout, else a dataset directory\n"
	       "  -s, --schema LIST          columns as NAME:TYPE (MDS encodings, bool, date, timestamp)\n"
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
	       "      --json                 print the summary as JSON\n"
	       "      --entries              for Spark's RDD.pipe(): write under a fresh DEST/part-*/\n"
	       "                             directory, print each shard's index entry on stdout\n"
	       "                             and leave index.json to 'shard-index merge -o DEST -'\n"
	       "  -q, --quiet                no summary\n"
	       "  -h, --help                 show this help\n"
	       "  -V, --version              show the version\n\n"
	       "Exit status: 0 success, 1 bad input or failure, 2 usage error.\n",
	       usage);
	exit(0);
}

enum { OPT_ENTRIES = 300 };
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
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

/* One input file, with the Hive-style partition values of its directories. */
struct input {
	char *path;
	char **pkeys, **pvals;
	size_t np;
};

struct column {
	char *name;
	struct shard_coltype type;
	char *fill;		/* text used for nulls, or NULL */
	int part;		/* 1 when the value comes from a key=value directory */
	int schema_pos;		/* index in the MDS (sorted) schema */
};

static struct {
	struct input *in;
	size_t nin;
	struct column *cols;
	size_t ncols;
	int header, skip, json, quiet, jsonl;
	FILE *rejects;
	uint64_t rows, written, rejected;
	size_t *filecols;	/* the columns the files hold, in file order (indices into cols) */
} g;

static void add_input(const char *path, char **pk, char **pv, size_t np)
{
	struct input *in = realloc(g.in, (g.nin + 1) * sizeof *in);
	size_t i;
	if (!in)
		cli_die(CLI_FAIL, "out of memory");
	g.in = in;
	in = &g.in[g.nin++];
	in->path = strdup(path);
	in->np = np;
	in->pkeys = calloc(np + 1, sizeof *in->pkeys);
	in->pvals = calloc(np + 1, sizeof *in->pvals);
	if (!in->path || !in->pkeys || !in->pvals)
		cli_die(CLI_FAIL, "out of memory");
	for (i = 0; i < np; i++) {
		in->pkeys[i] = pk[i];
		in->pvals[i] = pv[i];
	}
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A Spark output directory: part files in name order; _* and .* (the _SUCCESS
 * marker, .crc files) skipped; key=value subdirectories become columns. */
static void walk(const char *dir, char **pk, char **pv, size_t np)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, i;

	if (!d)
		cli_die(CLI_FAIL, "%s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		if (de->d_name[0] == '_' || de->d_name[0] == '.')
			continue;
		names = realloc(names, (n + 1) * sizeof *names);
		if (!names || !(names[n++] = strdup(de->d_name)))
			cli_die(CLI_FAIL, "out of memory");
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmp_name);
	for (i = 0; i < n; i++) {
		char path[PATH_MAX];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		if (stat(path, &st) != 0)
			cli_die(CLI_FAIL, "%s: %s", path, strerror(errno));
		if (S_ISDIR(st.st_mode)) {
			char *eq = strchr(names[i], '=');
			char **k2, **v2;
			if (!eq || eq == names[i])
				cli_die(CLI_FAIL, "%s: a subdirectory that is not a key=value partition", path);
			k2 = calloc(np + 1, sizeof *k2);
			v2 = calloc(np + 1, sizeof *v2);
			if (!k2 || !v2)
				cli_die(CLI_FAIL, "out of memory");
			memcpy(k2, pk, np * sizeof *pk);
			memcpy(v2, pv, np * sizeof *pv);
			k2[np] = strndup(names[i], (size_t)(eq - names[i]));
			v2[np] = strdup(eq + 1);
			walk(path, k2, v2, np + 1);
		} else {
			add_input(path, pk, pv, np);
		}
		free(names[i]);
	}
	free(names);
}

/* ---------------------------------------------------------------- input bytes */

struct reader {
	struct archive *a;
	const char *name;
};

static ssize_t read_archive(void *ctx, void *buf, size_t n, struct shard_error *err)
{
	struct reader *r = ctx;
	la_ssize_t k = archive_read_data(r->a, buf, n);
	if (k < 0)
		return shard_error_set(err, SHARD_EDATA, "%s: %s", r->name, archive_error_string(r->a)), -1;
	return (ssize_t)k;
}

/* Hadoop's .snappy and .lz4 part files are block-framed, not the standard
 * frame formats: no decompressor for them exists outside Hadoop. */
static void refuse_hadoop(const char *path)
{
	size_t n = strlen(path);
	unsigned char magic[4] = {0};
	FILE *f;
	if (n > 7 && strcmp(path + n - 7, ".snappy") == 0)
		cli_die(CLI_FAIL,
			"%s: Hadoop's block-framed snappy cannot be read outside Hadoop; write the export with "
			"option(\"compression\", \"gzip\") or \"bzip2\" (or none) instead", path);
	if (n > 4 && strcmp(path + n - 4, ".lz4") == 0 && (f = fopen(path, "rb"))) {
		size_t got = fread(magic, 1, 4, f);
		fclose(f);
		if (got < 4 || memcmp(magic, "\x04\x22\x4d\x18", 4) != 0)
			cli_die(CLI_FAIL,
				"%s: Hadoop's block-framed lz4 is not the lz4 frame format; write the export with "
				"option(\"compression\", \"gzip\") or \"bzip2\" (or none) instead", path);
	}
}

/* ---------------------------------------------------------------- rows */

static void reject(const char *file, const struct shard_csv_record *rec, size_t col, const char *why)
{
	g.rejected++;
	if (!g.rejects)
		return;
	if (col)
		fprintf(g.rejects, "# %s:%llu:%zu: %s\n", file, (unsigned long long)rec->line, col, why);
	else
		fprintf(g.rejects, "# %s:%llu: %s\n", file, (unsigned long long)rec->line, why);
	fwrite(rec->raw, 1, rec->raw_len, g.rejects);
	if (!rec->raw_len || rec->raw[rec->raw_len - 1] != '\n')
		fputc('\n', g.rejects);
}

/* JSON Lines: each object's members land in the file-column slots by name;
 * strings are decoded, other values keep their JSON text, a missing member or
 * null is null (Spark's toJSON leaves nulls out). */
struct jline {
	size_t ncsv;
	struct shard_csv_field *jf;
	size_t *stroff;		/* decoded string offsets in strs, or SIZE_MAX */
	struct shard_buf strs;
	struct shard_error *err;
};

static int jline_member(void *ctx, const char *key, const uint8_t *val, size_t vlen)
{
	struct jline *j = ctx;
	size_t k;
	for (k = 0; k < j->ncsv && strcmp(g.cols[g.filecols[k]].name, key); k++)
		;
	if (k == j->ncsv)
		return shard_error_set(j->err, SHARD_EDATA, "key \"%s\" is not in the schema", key);
	j->jf[k].null = vlen == 4 && memcmp(val, "null", 4) == 0 && g.cols[g.filecols[k]].type.enc.kind != SHARD_ENC_JSON;
	j->jf[k].quoted = 0;
	j->stroff[k] = SIZE_MAX;
	j->jf[k].p = val;
	j->jf[k].len = vlen;
	if (val[0] == '"' && g.cols[g.filecols[k]].type.enc.kind != SHARD_ENC_JSON) {
		j->stroff[k] = j->strs.len;
		if (shard_json_string_value(val, vlen, &j->strs))
			return shard_error_set(j->err, SHARD_ENOMEM, "out of memory");
		j->jf[k].len = j->strs.len - j->stroff[k];
	}
	return 0;
}

static int jline_parse(struct jline *j, const struct shard_csv_record *line, struct shard_csv_record *rec)
{
	size_t k;
	for (k = 0; k < j->ncsv; k++) {
		j->jf[k].null = 1;
		j->jf[k].p = (const uint8_t *)"";
		j->jf[k].len = 0;
		j->stroff[k] = SIZE_MAX;
	}
	j->strs.len = 0;
	if (line->nfields != 1)
		return shard_error_set(j->err, SHARD_EDATA, "not one JSON object per line");
	if (shard_json_object_scan(line->fields[0].p, line->fields[0].len, jline_member, j, j->err))
		return j->err->status;
	for (k = 0; k < j->ncsv; k++)
		if (j->stroff[k] != SIZE_MAX)
			j->jf[k].p = j->strs.p + j->stroff[k];
	*rec = *line;
	rec->nfields = j->ncsv;
	rec->fields = j->jf;
	return 0;
}

static int convert_file(const struct input *in, const struct shard_csv_opts *co, struct shard_writer *w,
			struct shard_sink *sink, size_t ncsv)
{
	struct reader r;
	struct shard_csv *csv;
	struct shard_csv_record rec, line;
	struct shard_error err = {0};
	struct shard_buf vals = {0};
	struct jline jl = {0};
	size_t *map = calloc(ncsv + 1, sizeof *map), *offs = calloc(g.ncols + 1, sizeof *offs);
	size_t *inv = calloc(g.ncols + 1, sizeof *inv);	/* column -> its field in the file, or ncsv */
	struct shard_field *f = calloc(g.ncols, sizeof *f);
	const char *name = strcmp(in->path, "-") ? in->path : "<stdin>";
	int rc, header_pending = g.header;
	size_t i, k;

	jl.ncsv = ncsv;
	jl.err = &err;
	jl.jf = calloc(ncsv + 1, sizeof *jl.jf);
	jl.stroff = calloc(ncsv + 1, sizeof *jl.stroff);
	if (!map || !offs || !f || !jl.jf || !jl.stroff || !inv)
		cli_die(CLI_FAIL, "out of memory");
	for (i = 0; i < ncsv; i++)
		map[i] = g.filecols[i];	/* file column i -> a column, in schema order unless a header says otherwise */
	for (k = 0; k < g.ncols; k++)
		inv[k] = ncsv;
	for (i = 0; i < ncsv; i++)
		inv[map[i]] = i;
	if (strcmp(in->path, "-"))
		refuse_hadoop(in->path);
	r.name = name;
	r.a = archive_read_new();
	archive_read_support_filter_all(r.a);
	archive_read_support_format_raw(r.a);
	archive_read_support_format_empty(r.a);
	if ((strcmp(in->path, "-") ? archive_read_open_filename(r.a, in->path, 1 << 20)
				   : archive_read_open_fd(r.a, 0, 1 << 20)) != ARCHIVE_OK) {
		shard_sink_abort(sink);
		cli_die(CLI_FAIL, "%s: %s", name, archive_error_string(r.a));
	}
	{
		struct archive_entry *ae;
		int h = archive_read_next_header(r.a, &ae);
		if (h == ARCHIVE_EOF) {	/* an empty file: no rows */
			archive_read_free(r.a);
			free(map);
			free(inv);
			free(offs);
			free(f);
			if (g.header)
				cli_warn("%s: empty file (no header line)", name);
			return 0;
		}
		if (h != ARCHIVE_OK) {
			shard_sink_abort(sink);
			cli_die(CLI_FAIL, "%s: %s", name, archive_error_string(r.a));
		}
	}
	if (shard_csv_new(&csv, co, read_archive, &r, &err)) {
		shard_sink_abort(sink);
		cli_die_err(&err);
	}
	while ((rc = shard_csv_next(csv, g.jsonl ? &line : &rec, &err)) > 0) {
		int bad = 0;
		if (g.jsonl && jline_parse(&jl, &line, &rec)) {
			g.rows++;
			rec = line;
			if (!g.skip) {
				shard_sink_abort(sink);
				cli_die(CLI_FAIL, "%s:%llu: %s", name, (unsigned long long)line.line, err.msg);
			}
			reject(name, &line, 0, err.msg);
			continue;
		}
		if (header_pending) {
			header_pending = 0;
			if (rec.nfields != ncsv) {
				shard_sink_abort(sink);
				cli_die(CLI_FAIL, "%s:%llu: header has %zu columns, the schema %zu", name,
					(unsigned long long)rec.line, rec.nfields, ncsv);
			}
			for (i = 0; i < ncsv; i++) {
				for (k = 0; k < g.ncols; k++)
					if (!g.cols[k].part && strlen(g.cols[k].name) == rec.fields[i].len &&
					    memcmp(g.cols[k].name, rec.fields[i].p, rec.fields[i].len) == 0)
						break;
				if (k == g.ncols) {
					shard_sink_abort(sink);
					cli_die(CLI_FAIL, "%s:%llu:%zu: header column '%.*s' is not in the schema", name,
						(unsigned long long)rec.line, i + 1, (int)rec.fields[i].len,
						(const char *)rec.fields[i].p);
				}
				map[i] = k;
			}
			for (k = 0; k < g.ncols; k++)
				inv[k] = ncsv;
			for (i = 0; i < ncsv; i++)
				inv[map[i]] = i;
			continue;
		}
		g.rows++;
		if (rec.nfields != ncsv) {
			char why[128];
			snprintf(why, sizeof why, "row has %zu fields, expected %zu", rec.nfields, ncsv);
			if (!g.skip) {
				shard_sink_abort(sink);
				cli_die(CLI_FAIL, "%s:%llu: %s", name, (unsigned long long)rec.line, why);
			}
			reject(name, &rec, 0, why);
			continue;
		}
		vals.len = 0;
		/* values in schema (sorted) order */
		for (k = 0; k < g.ncols && !bad; k++) {
			const struct column *c = &g.cols[k];
			size_t fi = 0, start = vals.len;
			const uint8_t *p;
			size_t n;
			int null;
			if (c->part) {
				size_t j;
				for (j = 0; j < in->np && strcmp(in->pkeys[j], c->name); j++)
					;
				p = (const uint8_t *)(j < in->np ? in->pvals[j] : "");
				n = strlen((const char *)p);
				null = j == in->np || strcmp((const char *)p, "__HIVE_DEFAULT_PARTITION__") == 0;
			} else {
				fi = inv[k];
				if (fi == ncsv) {
					shard_sink_abort(sink);
					cli_die(CLI_FAIL, "%s: the header does not name column '%s'", name, c->name);
				}
				p = rec.fields[fi].p;
				n = rec.fields[fi].len;
				null = rec.fields[fi].null;
			}
			if (null && c->fill) {
				p = (const uint8_t *)c->fill;
				n = strlen(c->fill);
				null = 0;
			}
			if (null && c->type.enc.kind == SHARD_ENC_JSON) {
				p = (const uint8_t *)"null";
				n = 4;
				null = 0;
			}
			if (null) {
				shard_error_set(&err, SHARD_EDATA, "column '%s': null, and %s cannot hold a null (use --fill %s=VALUE)",
						c->name, c->type.enc_name, c->name);
			} else if (shard_text_to_value(&c->type, p, n, &vals, &err) == 0) {
				offs[c->schema_pos] = start;
				f[c->schema_pos].len = vals.len - start;
				continue;
			} else {
				shard_error_prefix(&err, "column '%s'", c->name);
			}
			bad = 1;
			if (!g.skip) {
				shard_sink_abort(sink);
				if (c->part)
					cli_die(CLI_FAIL, "%s: partition %s", name, err.msg);
				cli_die(CLI_FAIL, "%s:%llu:%zu: %s", name, (unsigned long long)rec.line, fi + 1, err.msg);
			}
			reject(name, &rec, c->part ? 0 : fi + 1, err.msg);
		}
		if (bad)
			continue;
		for (k = 0; k < g.ncols; k++)
			f[k].p = vals.p + offs[k];
		if (shard_writer_add(w, f, &err)) {
			shard_sink_abort(sink);
			cli_die(CLI_FAIL, "%s:%llu: %s", name, (unsigned long long)rec.line, err.msg);
		}
		g.written++;
	}
	if (rc < 0) {
		shard_sink_abort(sink);
		cli_die(CLI_FAIL, "%s:%s", name, err.msg + (strncmp(err.msg, "line ", 5) == 0 ? 4 : 0));
	}
	if (header_pending)
		cli_warn("%s: empty file (no header line)", name);
	shard_csv_free(csv);
	archive_read_free(r.a);
	shard_buf_free(&vals);
	shard_buf_free(&jl.strs);
	free(jl.jf);
	free(jl.stroff);
	free(map);
	free(inv);
	free(offs);
	free(f);
	return 0;
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

int main(int argc, char **argv)
{
	const char *dest = NULL, *schema = NULL, *format = "csv", *comp = "zstd", *hashes = "xxh64",
		   *delim = NULL, *quote = "\"", *escape = "\\", *nullv = "", *rejects = NULL, *onerr = "fail";
	char **fills = NULL;
	size_t nfills = 0, i, k, ncsv;
	uint64_t size_limit = 1ull << 26, sps = 0;
	struct shard_csv_opts co;
	struct shard_sink *sink;
	struct shard_writer *w;
	struct shard_writer_opts wo = {0};
	struct shard_schema s;
	struct shard_error err = {0};
	char **hl = NULL, **names, **encs;
	size_t nh = 0;
	int c, entries = 0;

	cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "o:s:Hf:c:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': dest = optarg; break;
		case 's': schema = optarg; break;
		case 'H': g.header = 1; break;
		case 'f': format = optarg; break;
		case 'c': comp = optarg; break;
		case 'q': g.quiet = 1; break;
		case OPT_DELIM: delim = optarg; break;
		case OPT_QUOTE: quote = optarg; break;
		case OPT_ESCAPE: escape = optarg; break;
		case OPT_NULL: nullv = optarg; break;
		case OPT_HASHES: hashes = optarg; break;
		case OPT_SIZE:
			if (shard_parse_size(optarg, &size_limit))
				cli_usage_error(usage, "invalid --size-limit '%s'", optarg);
			break;
		case OPT_SPS:
			if (cli_parse_u64(optarg, &sps) || !sps)
				cli_usage_error(usage, "--samples-per-shard takes a positive number");
			break;
		case OPT_ONERR: onerr = optarg; break;
		case OPT_REJECTS: rejects = optarg; break;
		case OPT_FILL:
			fills = realloc(fills, (nfills + 1) * sizeof *fills);
			if (!fills)
				cli_die(CLI_FAIL, "out of memory");
			fills[nfills++] = optarg;
			break;
		case OPT_JSON: g.json = 1; break;
		case OPT_ENTRIES: entries = 1; break;
		case 'h': help();
		case 'V': cli_version();
		default: cli_usage_error(usage, "invalid option");
		}
	}
	if (!dest)
		cli_usage_error(usage, "-o DEST is required ('-' for a shard stream on stdout)");
	if (!schema)
		cli_usage_error(usage, "--schema is required");
	if (strcmp(format, "csv") && strcmp(format, "tsv") && strcmp(format, "jsonl"))
		cli_usage_error(usage, "unknown format '%s' (expected csv, tsv or jsonl)", format);
	g.jsonl = strcmp(format, "jsonl") == 0;
	if (g.jsonl && g.header)
		cli_usage_error(usage, "--header applies to csv and tsv, not jsonl");
	if (strcmp(onerr, "fail") == 0)
		g.skip = 0;
	else if (strcmp(onerr, "skip") == 0)
		g.skip = 1;
	else
		cli_usage_error(usage, "--on-error takes fail or skip");
	if (g.skip && !rejects)
		cli_usage_error(usage, "--on-error skip needs --rejects FILE: skipped rows are never dropped silently");
	shard_csv_opts_default(&co);
	co.delim = delim ? single_char("--delimiter", delim, 0) : strcmp(format, "tsv") == 0 ? '\t' : ',';
	co.quote = single_char("--quote", quote, 1);
	co.escape = single_char("--escape", escape, 1);
	if (g.jsonl) {
		/* one record per line: JSON text holds no raw newlines, and no NUL */
		co.delim = 0;
		co.quote = 0;
		co.escape = 0;
	}
	co.null_value = nullv;
	co.keep_raw = rejects != NULL;

	/* the schema: columns in file order; "ndarray:float32:2,3" keeps its shape's commas */
	{
		size_t np;
		char **parts = cli_split(schema, &np);
		g.cols = calloc(np, sizeof *g.cols);
		if (!g.cols)
			cli_die(CLI_FAIL, "out of memory");
		for (i = 0; i < np; i++) {
			char *colon = strchr(parts[i], ':');
			if (!colon && g.ncols && parts[i][0] && strspn(parts[i], "0123456789") == strlen(parts[i])) {
				/* a shape dimension: glue it back onto the previous type */
				parts[i][-1] = ',';
				continue;
			}
			if (!colon || colon == parts[i] || !colon[1])
				cli_usage_error(usage, "--schema: '%s' is not NAME:TYPE", parts[i]);
			*colon = 0;
			g.cols[g.ncols].name = parts[i];
			g.cols[g.ncols++].fill = colon + 1;	/* the type text until parsed below */
		}
		for (i = 0; i < g.ncols; i++) {
			if (shard_coltype_parse(g.cols[i].fill, &g.cols[i].type, &err))
				cli_usage_error(usage, "--schema: column '%s': %s", g.cols[i].name, err.msg);
			g.cols[i].fill = NULL;
		}
	}
	for (i = 0; i < g.ncols; i++)
		for (k = i + 1; k < g.ncols; k++)
			if (strcmp(g.cols[i].name, g.cols[k].name) == 0)
				cli_usage_error(usage, "--schema: column '%s' twice", g.cols[i].name);
	for (i = 0; i < nfills; i++) {
		char *eq = strchr(fills[i], '=');
		if (!eq)
			cli_usage_error(usage, "--fill takes COL=VALUE");
		*eq = 0;
		for (k = 0; k < g.ncols && strcmp(g.cols[k].name, fills[i]); k++)
			;
		if (k == g.ncols)
			cli_usage_error(usage, "--fill: no column '%s' in the schema", fills[i]);
		g.cols[k].fill = eq + 1;
		{
			struct shard_buf tmp = {0};
			if (shard_text_to_value(&g.cols[k].type, (const uint8_t *)eq + 1, strlen(eq + 1), &tmp, &err))
				cli_usage_error(usage, "--fill %s: %s", fills[i], err.msg);
			shard_buf_free(&tmp);
		}
	}

	/* inputs, and the partition columns their directories add */
	if (optind == argc)
		add_input("-", NULL, NULL, 0);
	for (; optind < argc; optind++) {
		struct stat st;
		if (strcmp(argv[optind], "-") == 0) {
			add_input("-", NULL, NULL, 0);
			continue;
		}
		if (stat(argv[optind], &st) != 0)
			cli_die(CLI_FAIL, "%s: %s", argv[optind], strerror(errno));
		if (S_ISDIR(st.st_mode))
			walk(argv[optind], NULL, NULL, 0);
		else
			add_input(argv[optind], NULL, NULL, 0);
	}
	/* Spark drops partition columns from the rows and puts them in key=value
	 * directory names: a schema column of that name takes its type from the
	 * schema, any other key becomes a str column. */
	for (i = 0; i < g.nin; i++) {
		for (k = 0; k < g.in[i].np; k++) {
			size_t j;
			for (j = 0; j < g.ncols && strcmp(g.cols[j].name, g.in[i].pkeys[k]); j++)
				;
			if (j == g.ncols) {
				struct column *nc = realloc(g.cols, (g.ncols + 1) * sizeof *nc);
				if (!nc)
					cli_die(CLI_FAIL, "out of memory");
				g.cols = nc;
				memset(&g.cols[g.ncols], 0, sizeof *g.cols);
				g.cols[g.ncols].name = g.in[i].pkeys[k];
				shard_coltype_parse("str", &g.cols[g.ncols].type, &err);
				g.ncols++;
			}
			g.cols[j].part = 1;
		}
	}
	g.filecols = calloc(g.ncols + 1, sizeof *g.filecols);
	if (!g.filecols)
		cli_die(CLI_FAIL, "out of memory");
	for (i = 0, ncsv = 0; i < g.ncols; i++)
		if (!g.cols[i].part)
			g.filecols[ncsv++] = i;
	if (!ncsv)
		cli_usage_error(usage, "--schema names no column that the files hold");
	names = calloc(g.ncols, sizeof *names);
	encs = calloc(g.ncols, sizeof *encs);
	for (i = 0; i < g.ncols; i++) {
		names[i] = g.cols[i].name;
		encs[i] = g.cols[i].type.enc_name;
	}
	if (shard_schema_init(&s, g.ncols, (const char *const *)names, (const char *const *)encs, 1, &err))
		cli_usage_error(usage, "--schema: %s", err.msg);
	for (i = 0; i < g.ncols; i++)
		g.cols[i].schema_pos = shard_schema_index(&s, g.cols[i].name);

	if (strcmp(hashes, "none"))
		hl = cli_split(hashes, &nh);
	wo.compression = strcmp(comp, "none") ? comp : NULL;
	wo.hashes = (const char *const *)hl;
	wo.nhashes = nh;
	wo.size_limit = size_limit;
	wo.max_samples = sps;
	if (rejects && !(g.rejects = fopen(rejects, "w")))
		cli_die(CLI_FAIL, "%s: %s", rejects, strerror(errno));
	if (entries) {
		if (strcmp(dest, "-") == 0)
			cli_usage_error(usage, "--entries writes shards under DEST: give a directory");
		if (shard_sink_open_part(&sink, dest, &err))
			cli_die_err(&err);
		shard_sink_on_shard(sink, print_entry, NULL);
	} else if (strcmp(dest, "-") == 0) {
		if (isatty(1))
			cli_die(CLI_USAGE, "refusing to write a binary shard stream to a terminal");
		if (shard_sink_open_fd(&sink, 1, &err))
			cli_die_err(&err);
	} else if (shard_sink_open_dir(&sink, dest, &err)) {
		cli_die_err(&err);
	}
	if (shard_writer_new(&w, sink, &s, &wo, &err)) {
		shard_sink_abort(sink);
		cli_die_err(&err);
	}
	/* logical types go in index.json where Python's reader ignores them */
	{
		struct shard_buf x = {0};
		int any = 0;
		shard_buf_printf(&x, "{\"logical_types\":{");
		for (i = 0; i < g.ncols; i++)
			if (g.cols[i].type.ltype) {
				shard_buf_printf(&x, "%s\"%s\":\"%s\"", any ? "," : "", g.cols[i].name,
						 shard_ltype_name(g.cols[i].type.ltype));
				any = 1;
			}
		shard_buf_printf(&x, "}}");
		shard_buf_putc(&x, 0);
		if (any)
			shard_sink_set_extra(sink, (const char *)x.p);
		if (any && entries) {
			cli_out_str("{\"shardkit\":");
			cli_out_str((const char *)x.p);
			cli_out_str("}\n");
			cli_out_flush();
		}
		shard_buf_free(&x);
	}
	for (i = 0; i < g.nin; i++)
		convert_file(&g.in[i], &co, w, sink, ncsv);
	if (shard_writer_finish(w, &err)) {
		shard_sink_abort(sink);
		cli_die_err(&err);
	}
	{
		uint64_t shards = shard_sink_shards(sink);
		if (shard_sink_close(sink, &err))
			cli_die_err(&err);
		if (g.rejects && fclose(g.rejects) != 0)
			cli_die(CLI_FAIL, "%s: %s", rejects, strerror(errno));
		if (g.json) {
			FILE *o = strcmp(dest, "-") && !entries ? stdout : stderr;
			fprintf(o, "{\"rows_read\":%llu,\"rows_written\":%llu,\"rows_rejected\":%llu,\"shards\":%llu,"
				   "\"inputs\":%zu}\n",
				(unsigned long long)g.rows, (unsigned long long)g.written,
				(unsigned long long)g.rejected, (unsigned long long)shards, g.nin);
		} else if (!g.quiet) {
			fprintf(stderr, "%s: %llu rows read, %llu written, %llu rejected; %llu shards\n", cli_prog,
				(unsigned long long)g.rows, (unsigned long long)g.written, (unsigned long long)g.rejected,
				(unsigned long long)shards);
		}
	}
	shard_writer_free(w);
	return 0;
}
