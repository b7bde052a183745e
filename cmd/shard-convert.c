/* shard-convert: CSV/TSV as Apache Spark writes it (files, part-file
 * directories, stdin; compressed or not) into MDS shards, typed by a schema. */
#include "config.h"

#include <archive.h>
#include <jansson.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "cli.h"
#include "shard.h"
#include "internal.h"

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

/* One input file, with the Hive-style partition values of its directories. */
struct input {
	char *path;
	char **pkeys, **pvals;
	size_t np;
};

struct column {
	char *name;		/* as the files and the schema name it */
	const char *out;	/* as it is written (--rename), else name */
	int dropped;		/* read from the files, not written (--select) */
	struct shard_coltype type;
	char *fill;		/* text used for nulls, or NULL */
	int part;		/* 1 when the value comes from a key=value directory */
	int schema_pos;		/* index in the MDS (sorted) schema; -1 when not written */
	int valid_pos;		/* its validity column's index in the schema, or -1 */
	int packed;		/* read from the files, written only inside a --pack column */
	size_t *pack, npack;	/* a --pack column: the columns it packs, in order */
	struct shard_coltype elem;	/* their element type */
};

static struct {
	struct input *in;
	size_t nin;
	struct column *cols;
	size_t ncols;
	int header, skip, json, quiet, jsonl, no_sync;
	FILE *rejects;
	uint64_t rows, written, rejected;
	size_t *filecols;	/* the columns the files hold, in file order (indices into cols) */
	char **owned;		/* partition key and value strings, shared by inputs and columns */
	size_t nowned;
	struct shard_colspec *spec;	/* the schema's columns: names point into it */
	size_t nspec;
	int case_sensitive;	/* --case-sensitive: header names and JSON keys exactly */
	struct cli_progress progress;	/* rows and bytes handed to the writer */
	size_t nschema;		/* columns written: the value columns and their validity columns */
	size_t nvalid;		/* validity columns among them */
	char **null_at;		/* per column: FILE:LINE:FIELD of its first null it cannot hold */
	int nullfail;		/* a null was found where none may be: the run fails at the end */
	int no_nulls;		/* --no-nulls */
	struct shard_tz *tz;	/* --timezone; NULL for UTC */
} g;

static char *own(char *s)
{
	char **o = realloc(g.owned, (g.nowned + 1) * sizeof *o);
	if (!s || !o)
		cli_die(CLI_FAIL, "out of memory");
	g.owned = o;
	g.owned[g.nowned++] = s;
	return s;
}

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

/* Spark escapes partition values in directory names as %XX (its
 * escapePathName); undo that so the column holds the value itself. */
static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static char *unescape_path(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;
	if (!out)
		return NULL;
	while (*s) {
		if (s[0] == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
			*o++ = (char)(hexval(s[1]) << 4 | hexval(s[2]));
			s += 3;
		} else {
			*o++ = *s++;
		}
	}
	*o = 0;
	return out;
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
			if (np) {
				memcpy(k2, pk, np * sizeof *pk);
				memcpy(v2, pv, np * sizeof *pv);
			}
			k2[np] = own(strndup(names[i], (size_t)(eq - names[i])));
			v2[np] = own(unescape_path(eq + 1));
			walk(path, k2, v2, np + 1);
			free(k2);	/* add_input kept copies of the pointers */
			free(v2);
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
	int fd;		/* a plain file read directly, or -1 */
};

static ssize_t read_archive(void *ctx, void *buf, size_t n, struct shard_error *err)
{
	struct reader *r = ctx;
	la_ssize_t k;
	if (r->fd >= 0) {
		ssize_t got;
		while ((got = read(r->fd, buf, n)) < 0 && errno == EINTR)
			;
		if (got < 0)
			return shard_error_set(err, SHARD_EIO, "%s: %s", r->name, strerror(errno)), -1;
		return got;
	}
	k = archive_read_data(r->a, buf, n);
	if (k < 0)
		return shard_error_set(err, SHARD_EDATA, "%s: %s", r->name, archive_error_string(r->a)), -1;
	return (ssize_t)k;
}

/* A failure once DEST is open: shards still on their way are dropped first,
 * so that every shard written is then removed and nothing looks finished. */
static void abort_output(struct shard_writer *w, struct shard_sink *sink)
{
	shard_writer_abort(w);
	cli_sink_abort(sink);
}

/* Hadoop's .snappy and .lz4 part files are block-framed, not the standard
 * frame formats: no decompressor for them exists outside Hadoop. Refused
 * like any bad input, so shards of earlier inputs are removed (sink NULL:
 * none open yet). */
static void refuse_hadoop(const char *path, struct shard_writer *w, struct shard_sink *sink)
{
	size_t n = strlen(path);
	unsigned char magic[4] = {0};
	const char *why = NULL;
	FILE *f;
	if (n > 7 && strcmp(path + n - 7, ".snappy") == 0)
		why = "Hadoop's block-framed snappy cannot be read outside Hadoop";
	if (n > 4 && strcmp(path + n - 4, ".lz4") == 0 && (f = fopen(path, "rb"))) {
		size_t got = fread(magic, 1, 4, f);
		fclose(f);
		if (got < 4 || memcmp(magic, "\x04\x22\x4d\x18", 4) != 0)
			why = "Hadoop's block-framed lz4 is not the lz4 frame format";
	}
	if (!why)
		return;
	if (sink)
		abort_output(w, sink);
	cli_die(CLI_FAIL, "%s: %s; write the export with option(\"compression\", \"gzip\") or \"bzip2\" (or none) instead",
		path, why);
}

/* ---------------------------------------------------------------- rows */

/* A column's type as the user named it: a logical type or its encoding. */
static const char *col_type_name(const struct column *c)
{
	return c->type.ltype ? shard_ltype_name(c->type.ltype) : c->type.enc_name;
}

/* The way out for a column that met a null it cannot hold. */
static void null_hint(struct shard_buf *b, const struct column *c)
{
	if (g.no_nulls)
		shard_buf_printf(b, "--fill %s=VALUE", c->name);
	else
		shard_buf_printf(b, "%s:%s? or --fill %s=VALUE", c->name, col_type_name(c), c->name);
}

/* JSON Lines: each object's members land in the file-column slots by name;
 * strings are decoded, other values keep their JSON text, a missing member or
 * null is null (Spark's toJSON leaves nulls out). */
struct jline {
	size_t ncsv;
	struct shard_csv_field *jf;
	size_t *stroff;		/* decoded string offsets in strs, or SIZE_MAX */
	size_t *keyat;		/* 1 + the byte of the key that gave the member, 0 for none yet */
	size_t at;		/* the 1-based byte an error is about, or 0 */
	struct shard_buf strs;
	struct shard_error *err;
};

/* The file column (an index into g.filecols, below n) a header name or JSON
 * key names: exactly, else, unless --case-sensitive, ignoring ASCII case as
 * Spark does by default. n when none does; *twice when several do. */
static size_t match_name(const uint8_t *p, size_t len, size_t n, int *twice)
{
	size_t k, found = n;
	*twice = 0;
	for (k = 0; k < n; k++) {
		const char *nm = g.cols[g.filecols[k]].name;
		if (strlen(nm) == len && memcmp(nm, p, len) == 0)
			return k;
	}
	if (g.case_sensitive)
		return n;
	for (k = 0; k < n; k++) {
		const char *nm = g.cols[g.filecols[k]].name;
		if (strlen(nm) == len && strncasecmp(nm, (const char *)p, len) == 0) {
			*twice = found != n;
			found = k;
		}
	}
	return *twice ? n : found;
}

static int jline_member(void *ctx, const char *key, size_t key_at, const uint8_t *val, size_t vlen)
{
	struct jline *j = ctx;
	int twice;
	size_t k = match_name((const uint8_t *)key, strlen(key), j->ncsv, &twice);
	if (twice)
		return shard_error_set(j->err, SHARD_EDATA, "key \"%s\" matches several columns but their case: "
					"name it exactly, or use --case-sensitive", key);
	if (k == j->ncsv)
		return shard_error_set(j->err, SHARD_EDATA, "key \"%s\" is not in the schema", key);
	/* two keys that differ in case only name one column: which would win is no answer */
	if (j->keyat[k]) {
		j->at = key_at + 1;
		return shard_error_set(j->err, SHARD_EDATA, "key \"%s\" names column '%s', as the key at byte %zu does "
					"(use --case-sensitive to tell them apart)", key, g.cols[g.filecols[k]].name,
					j->keyat[k]);
	}
	j->keyat[k] = key_at + 1;
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
	size_t k, at;
	for (k = 0; k < j->ncsv; k++) {
		j->jf[k].null = 1;
		j->jf[k].p = (const uint8_t *)"";
		j->jf[k].len = 0;
		j->stroff[k] = SIZE_MAX;
		j->keyat[k] = 0;
	}
	j->strs.len = 0;
	j->at = 0;
	if (line->nfields != 1)
		return shard_error_set(j->err, SHARD_EDATA, "not one JSON object per line");
	if (shard_json_object_scan(line->fields[0].p, line->fields[0].len, jline_member, j, &at, j->err)) {
		if (at)
			j->at = at;
		return j->err->status;
	}
	for (k = 0; k < j->ncsv; k++)
		if (j->stroff[k] != SIZE_MAX)
			j->jf[k].p = j->strs.p + j->stroff[k];
	*rec = *line;
	rec->nfields = j->ncsv;
	rec->fields = j->jf;
	return 0;
}

/* ---------------------------------------------------------------- parallel conversion
 *
 * The main thread reads a file and cuts it into chunks of whole records (a
 * quote-aware scan finds where records end); worker threads parse and convert
 * chunks into MDS sample bytes; the main thread hands the results to the writer
 * in input order, so the output is the same whatever the thread count. */

#define CHUNK (4u << 20)
#define INFLIGHT 6

struct filectx {
	const struct input *in;
	const char *name;
	size_t ncsv;
	size_t *inv;			/* column -> its field in the file, or ncsv */
	const struct shard_schema *schema;
	const struct shard_csv_opts *co;
};

struct chunk {
	const struct filectx *fc;
	struct shard_buf data;		/* whole records */
	uint64_t line0;
	struct shard_buf samples;	/* results: MDS sample bytes, back to back */
	uint32_t *lens;
	size_t nsamples, caplens;
	struct shard_buf rejects;	/* formatted rejected rows */
	uint64_t rows, rejected;
	uint64_t *null_line;		/* per column: line of the first null it cannot hold, or 0 */
	size_t *null_field;		/* and that null's field */
	int nulls;			/* any such null in this chunk */
	int failed;
	char msg[1400];
	int state;			/* 0 free, 1 queued, 2 taken, 3 done */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct chunk ring[INFLIGHT];
	size_t head, tail;		/* ring positions: next to hand out in order, next free */
	size_t next_work;		/* next queued chunk for a worker */
	int stop;
	pthread_t th[8];
	int nth;
} P = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static void chunk_reject(struct chunk *ch, const struct shard_csv_record *rec, size_t col, const char *why)
{
	ch->rejected++;
	if (col)
		shard_buf_printf(&ch->rejects, "# %s:%llu:%zu: %s\n", ch->fc->name, (unsigned long long)rec->line, col, why);
	else
		shard_buf_printf(&ch->rejects, "# %s:%llu: %s\n", ch->fc->name, (unsigned long long)rec->line, why);
	shard_buf_append(&ch->rejects, rec->raw, rec->raw_len);
	/* the row keeps its own line end, a bare CR too; only the last row of a
	 * file without one gets a LF, so the next reason starts a line */
	if (!rec->raw_len || (rec->raw[rec->raw_len - 1] != '\n' && rec->raw[rec->raw_len - 1] != '\r'))
		shard_buf_putc(&ch->rejects, '\n');
}

/* A bad row: remembered (fail) or written to the chunk's rejects (skip). */
static int chunk_bad(struct chunk *ch, const struct shard_csv_record *rec, size_t col, const char *why)
{
	if (!g.skip) {
		if (col)
			snprintf(ch->msg, sizeof ch->msg, "%s:%llu:%zu: %s", ch->fc->name, (unsigned long long)rec->line,
				 col, why);
		else
			snprintf(ch->msg, sizeof ch->msg, "%s:%llu: %s", ch->fc->name, (unsigned long long)rec->line, why);
		ch->failed = 1;
		return -1;
	}
	chunk_reject(ch, rec, col, why);
	return 0;
}

/* A CSV reader error as one message: FILE:LINE:COLUMN: when the input is to
 * blame, as for a bad row; a read error already names the file. */
static void csv_error_text(char *out, size_t n, const char *name, const struct shard_csv_record *rec,
			   const struct shard_error *err)
{
	if (rec->bad_field)
		snprintf(out, n, "%s:%llu:%zu: %s", name, (unsigned long long)rec->line, rec->bad_field, err->msg);
	else
		snprintf(out, n, "%s", err->msg);
}

struct scratch {
	struct shard_buf vals;
	size_t *offs;
	struct shard_field *f;
	struct jline jl;
	struct shard_error err;
	struct fastrow {
		size_t n;	/* fields per record; 0: no fast path for this file */
		int *dtype;	/* per field */
		size_t *off;	/* per field: where its value goes in the sample */
		size_t size;	/* bytes per sample */
		size_t nulllen;	/* strlen of the null text */
		size_t *valid_off, nvalid;	/* validity bytes, each 1 on this path */
	} fr;
};

/* One more sample of n bytes in the chunk's results. */
static void push_len(struct chunk *ch, size_t n)
{
	if (ch->nsamples == ch->caplens) {
		size_t nc = ch->caplens ? ch->caplens * 2 : 4096;
		uint32_t *nl = realloc(ch->lens, nc * sizeof *nl);
		if (!nl)
			cli_die(CLI_FAIL, "out of memory");
		ch->lens = nl;
		ch->caplens = nc;
	}
	ch->lens[ch->nsamples++] = (uint32_t)n;
}

/* One record (a JSON line with jsonl) converted into the chunk's samples: 0 to
 * go on, -1 when the chunk stops at a failure. */
static int convert_record(struct chunk *ch, struct scratch *sc, const struct shard_csv_record *in)
{
	const struct filectx *fc = ch->fc;
	struct shard_csv_record rec;
	struct shard_error *err = &sc->err;
	size_t k;
	int bad = 0, nullrow = 0;

	ch->rows++;
	if (g.jsonl && jline_parse(&sc->jl, in, &rec))
		return chunk_bad(ch, in, sc->jl.at, err->msg);
	if (!g.jsonl)
		rec = *in;
	if (rec.nfields != fc->ncsv) {
		/* the column: the first field missing, or the first one too many */
		char why[128];
		snprintf(why, sizeof why, "row has %zu fields, expected %zu", rec.nfields, fc->ncsv);
		return chunk_bad(ch, &rec, (rec.nfields < fc->ncsv ? rec.nfields : fc->ncsv) + 1, why);
	}
	sc->vals.len = 0;
	for (k = 0; k < g.ncols && !bad; k++) {
		const struct column *c = &g.cols[k];
		size_t fi = 0, start = sc->vals.len;
		const uint8_t *p;
		size_t n;
		int null;
		if (c->packed || c->dropped)
			continue;
		if (c->npack) {
			/* the packed columns' values, in order, as one fixed-shape ndarray */
			size_t j;
			for (j = 0; j < c->npack && !bad; j++) {
				const struct column *src = &g.cols[c->pack[j]];
				fi = fc->inv[c->pack[j]];
				p = rec.fields[fi].p;
				n = rec.fields[fi].len;
				if (rec.fields[fi].null && src->fill) {
					p = (const uint8_t *)src->fill;
					n = strlen(src->fill);
				} else if (rec.fields[fi].null) {
					shard_error_set(err, SHARD_EDATA, "column '%s' (packed into '%s'): null (use --fill %s=VALUE)",
							src->name, c->name, src->name);
					bad = 1;
				}
				if (!bad && shard_text_to_value(&c->elem, p, n, &sc->vals, err)) {
					shard_error_prefix(err, "column '%s' (packed into '%s')", src->name, c->name);
					bad = 1;
				}
			}
			if (!bad) {
				sc->offs[c->schema_pos] = start;
				sc->f[c->schema_pos].len = sc->vals.len - start;
				continue;
			}
			if (chunk_bad(ch, &rec, fi + 1, err->msg) == 0)
				continue;
			return -1;
		}
		if (c->part) {
			size_t j;
			for (j = 0; j < fc->in->np && strcmp(fc->in->pkeys[j], c->name); j++)
				;
			p = (const uint8_t *)(j < fc->in->np ? fc->in->pvals[j] : "");
			n = strlen((const char *)p);
			null = j == fc->in->np || strcmp((const char *)p, "__HIVE_DEFAULT_PARTITION__") == 0;
		} else {
			fi = fc->inv[k];
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
		if (null && c->valid_pos < 0 && !g.skip) {
			/* every column that meets a null it cannot hold is named at
			 * the end of the run, not only the first: note where, go on */
			if (!ch->null_line[k]) {
				ch->null_line[k] = rec.line;
				ch->null_field[k] = c->part ? 0 : fi + 1;
			}
			ch->nulls = 1;
			nullrow = 1;
			continue;
		}
		if (null && c->valid_pos >= 0 ? shard_null_value(&c->type, &sc->vals, err) == 0
		    : !null && shard_text_to_value(&c->type, p, n, &sc->vals, err) == 0) {
			sc->offs[c->schema_pos] = start;
			sc->f[c->schema_pos].len = sc->vals.len - start;
			if (c->valid_pos >= 0) {
				sc->offs[c->valid_pos] = sc->vals.len;
				sc->f[c->valid_pos].len = 1;
				if (shard_buf_putc(&sc->vals, !null))
					cli_die(CLI_FAIL, "out of memory");
			}
			continue;
		} else if (null) {
			struct shard_buf hint = {0};
			null_hint(&hint, c);
			shard_buf_putc(&hint, 0);
			shard_error_set(err, SHARD_EDATA, "column '%s': null, and %s cannot hold a null (use %s)", c->name,
					col_type_name(c), (const char *)hint.p);
			shard_buf_free(&hint);
		} else {
			shard_error_prefix(err, "column '%s'", c->name);
		}
		bad = 1;
		if (c->part && !g.skip) {
			char msg[1200];
			snprintf(msg, sizeof msg, "partition %s", err->msg);
			snprintf(ch->msg, sizeof ch->msg, "%s: %s", fc->name, msg);
			ch->failed = 1;
		} else if (chunk_bad(ch, &rec, c->part ? 0 : fi + 1, err->msg) == 0) {
			continue;
		}
	}
	if (ch->failed)
		return -1;
	if (bad || nullrow)
		return 0;
	for (k = 0; k < fc->schema->ncols; k++)
		sc->f[k].p = sc->vals.p + sc->offs[k];
	{
		size_t before = ch->samples.len;
		if (shard_sample_encode(fc->schema, sc->f, &ch->samples, err))
			return chunk_bad(ch, &rec, 0, err->msg);
		push_len(ch, ch->samples.len - before);
	}
	return 0;
}

/* Records whose every field is a plain number for a fixed-size column are
 * read straight into their sample (struct fastrow): each value at its offset. */
static void fast_layout(const struct filectx *fc, const struct shard_csv_opts *co, struct fastrow *fr)
{
	const struct shard_schema *s = fc->schema;
	size_t k, j, covered = 0, ndropped = 0;
	uint8_t d = (uint8_t)co->delim;

	fr->n = 0;
	fr->nvalid = 0;
	if (g.jsonl || s->nvar || !d || strchr("0123456789+-.eE", d))
		return;
	for (k = 0; k < fc->ncsv; k++)
		fr->dtype[k] = -1;
	for (k = 0; k < g.ncols; k++) {
		const struct column *c = &g.cols[k];
		size_t fi = fc->inv[k], off = 0;
		if (c->dropped && !c->part && fi < fc->ncsv) {
			fr->dtype[fi] = 0;	/* a field passed over */
			covered++;
			ndropped++;
			continue;
		}
		if (c->packed || c->npack || c->part || c->type.ltype || c->type.dtype < 0 || fi >= fc->ncsv ||
		    fr->dtype[fi] >= 0 || s->enc[c->schema_pos].size != (size_t)c->type.dtype >> 3)
			return;
		for (j = 0; j < (size_t)c->schema_pos; j++)
			off += s->enc[j].size;
		fr->dtype[fi] = c->type.dtype;
		fr->off[fi] = off;
		covered++;
		if (c->valid_pos >= 0) {
			for (j = 0, off = 0; j < (size_t)c->valid_pos; j++)
				off += s->enc[j].size;
			fr->valid_off[fr->nvalid++] = off;
		}
	}
	if (covered != fc->ncsv || s->ncols + ndropped != g.ncols + fr->nvalid)
		return;
	fr->size = 0;
	for (j = 0; j < s->ncols; j++)
		fr->size += s->enc[j].size;
	fr->nulllen = strlen(co->null_value);
	fr->n = fc->ncsv;
}

/* One record of plain numbers at p into row: the bytes it took, its line end
 * included, or 0 when it needs the general path (quotes, nulls, a field that
 * is not a number, a wrong field count: the general path says what). */
static size_t fast_record(const struct fastrow *fr, const struct shard_csv_opts *co, const uint8_t *p,
			  const uint8_t *end, uint8_t *row)
{
	const uint8_t *start = p, d = (uint8_t)co->delim, q = (uint8_t)co->quote;
	size_t i;
	for (i = 0;; i++) {
		ptrdiff_t r;
		if (q && p < end && *p == q)
			return 0;
		if (!fr->dtype[i]) {
			/* a column not written: its text up to the delimiter, unquoted */
			const uint8_t *x = p;
			while (x < end && *x != d && *x != '\n' && *x != '\r' && *x != q)
				x++;
			if (x < end && *x == q && q)
				return 0;
			r = x - p;
		} else
			r = shard_number_field(fr->dtype[i], d, p, end, row + fr->off[i]);
		if (r < 0 || ((size_t)r == fr->nulllen && memcmp(p, co->null_value, fr->nulllen) == 0))
			return 0;
		p += r;
		if (i + 1 == fr->n)
			break;
		if (p == end || *p != d)
			return 0;
		p++;
	}
	if (p < end) {
		if (*p == d)
			return 0;
		if (*p == '\r' && p + 1 < end && p[1] == '\n')
			p++;
		p++;
	}
	for (i = 0; i < fr->nvalid; i++)
		row[fr->valid_off[i]] = 1;
	return (size_t)(p - start);
}

static void convert_chunk(struct chunk *ch, struct scratch *sc)
{
	const struct filectx *fc = ch->fc;
	struct shard_csv_opts co = *fc->co;
	struct shard_csv *csv;
	struct shard_csv_record rec;
	struct shard_error *err = &sc->err;
	struct fastrow *fr = &sc->fr;
	size_t pos = 0;
	uint64_t lineno = ch->line0;
	int rc;

	co.first_line = ch->line0;
	co.no_bom = 1;
	co.keep_raw = g.skip;
	sc->jl.ncsv = fc->ncsv;
	sc->jl.err = err;
	if (shard_csv_new_mem(&csv, &co, ch->data.p, ch->data.len, err)) {
		snprintf(ch->msg, sizeof ch->msg, "%s", err->msg);
		ch->failed = 1;
		return;
	}
	fast_layout(fc, &co, fr);
	for (;;) {
		if (fr->n) {
			size_t used;
			if (pos == ch->data.len) {
				rc = 0;
				break;
			}
			if (shard_buf_reserve(&ch->samples, fr->size))
				cli_die(CLI_FAIL, "out of memory");
			used = fast_record(fr, &co, ch->data.p + pos, ch->data.p + ch->data.len,
					   ch->samples.p + ch->samples.len);
			if (used) {
				ch->samples.len += fr->size;
				push_len(ch, fr->size);
				ch->rows++;
				pos += used;
				lineno++;
				continue;
			}
			shard_csv_mem_seek(csv, pos, lineno);
		}
		if ((rc = shard_csv_next(csv, &rec, err)) <= 0 || convert_record(ch, sc, &rec))
			break;
		if (fr->n)
			pos = shard_csv_mem_tell(csv, &lineno);
	}
	if (rc < 0 && !ch->failed) {
		csv_error_text(ch->msg, sizeof ch->msg, fc->name, &rec, err);
		ch->failed = 1;
	}
	shard_csv_free(csv);
}

static void *worker_main(void *arg)
{
	struct scratch sc = {0};
	(void)arg;
	sc.offs = calloc(g.nschema + 1, sizeof *sc.offs);
	sc.f = calloc(g.nschema + 1, sizeof *sc.f);
	sc.jl.jf = calloc(g.ncols + 1, sizeof *sc.jl.jf);
	sc.jl.stroff = calloc(g.ncols + 1, sizeof *sc.jl.stroff);
	sc.jl.keyat = calloc(g.ncols + 1, sizeof *sc.jl.keyat);
	sc.fr.dtype = calloc(g.ncols + 1, sizeof *sc.fr.dtype);
	sc.fr.off = calloc(g.ncols + 1, sizeof *sc.fr.off);
	sc.fr.valid_off = calloc(g.nvalid + 1, sizeof *sc.fr.valid_off);
	if (!sc.offs || !sc.f || !sc.jl.jf || !sc.jl.stroff || !sc.jl.keyat || !sc.fr.dtype || !sc.fr.off || !sc.fr.valid_off)
		cli_die(CLI_FAIL, "out of memory");
	pthread_mutex_lock(&P.mu);
	for (;;) {
		struct chunk *ch;
		while (!P.stop && (P.next_work == P.tail || P.ring[P.next_work % INFLIGHT].state != 1))
			pthread_cond_wait(&P.cv, &P.mu);
		if (P.stop)
			break;
		ch = &P.ring[P.next_work++ % INFLIGHT];
		ch->state = 2;
		pthread_mutex_unlock(&P.mu);
		convert_chunk(ch, &sc);
		pthread_mutex_lock(&P.mu);
		ch->state = 3;
		pthread_cond_broadcast(&P.cv);
	}
	pthread_mutex_unlock(&P.mu);
	shard_buf_free(&sc.vals);
	shard_buf_free(&sc.jl.strs);
	free(sc.offs);
	free(sc.f);
	free(sc.jl.jf);
	free(sc.jl.stroff);
	free(sc.jl.keyat);
	free(sc.fr.dtype);
	free(sc.fr.off);
	free(sc.fr.valid_off);
	return NULL;
}

static void workers_start(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	int i;
	for (i = 0; i < INFLIGHT; i++) {
		P.ring[i].null_line = calloc(g.ncols + 1, sizeof *P.ring[i].null_line);
		P.ring[i].null_field = calloc(g.ncols + 1, sizeof *P.ring[i].null_field);
		if (!P.ring[i].null_line || !P.ring[i].null_field)
			cli_die(CLI_FAIL, "out of memory");
	}
	P.nth = n < 1 ? 1 : n > 8 ? 8 : (int)n;
	for (i = 0; i < P.nth; i++)
		if (pthread_create(&P.th[i], NULL, worker_main, NULL))
			cli_die(CLI_FAIL, "cannot start a thread");
}

static void workers_stop(void)
{
	int i;
	pthread_mutex_lock(&P.mu);
	P.stop = 1;
	pthread_cond_broadcast(&P.cv);
	pthread_mutex_unlock(&P.mu);
	for (i = 0; i < P.nth; i++)
		pthread_join(P.th[i], NULL);
	for (i = 0; i < INFLIGHT; i++) {
		free(P.ring[i].null_line);
		free(P.ring[i].null_field);
	}
}

/* The columns of a chunk that met a null they cannot hold, each remembered
 * at its first place in the input. */
static void note_nulls(struct chunk *ch)
{
	size_t k;
	for (k = 0; k < g.ncols; k++) {
		char at[PATH_MAX + 64];
		if (!ch->null_line[k])
			continue;
		if (!g.null_at[k]) {
			if (ch->null_field[k])
				snprintf(at, sizeof at, "%s:%llu:%zu", ch->fc->name, (unsigned long long)ch->null_line[k],
					 ch->null_field[k]);
			else
				snprintf(at, sizeof at, "%s:%llu", ch->fc->name, (unsigned long long)ch->null_line[k]);
			if (!(g.null_at[k] = strdup(at)))
				cli_die(CLI_FAIL, "out of memory");
		}
		ch->null_line[k] = 0;
	}
	ch->nulls = 0;
	g.nullfail = 1;
}

/* Name every column that met a null it cannot hold, each with its first one. */
static void report_nulls(void)
{
	struct shard_buf hints = {0};
	size_t k, n = 0;
	if (!g.nullfail)
		return;
	for (k = 0; k < g.ncols; k++) {
		if (!g.null_at[k])
			continue;
		hints.len = 0;
		null_hint(&hints, &g.cols[k]);
		shard_buf_putc(&hints, 0);
		cli_warn("%s: column '%s': null, and %s cannot hold a null (use %s)", g.null_at[k], g.cols[k].name,
			 col_type_name(&g.cols[k]), (const char *)hints.p);
		n++;
	}
	if (n > 1)
		cli_warn("%zu columns held nulls where none may be; nothing was written", n);
	shard_buf_free(&hints);
}

/* Hand the oldest chunk's results to the writer (waiting for it), in order. */
static void retire_one(struct shard_writer *w, struct shard_sink *sink)
{
	struct chunk *ch = &P.ring[P.head % INFLIGHT];
	struct shard_error err;

	pthread_mutex_lock(&P.mu);
	while (ch->state != 3)
		pthread_cond_wait(&P.cv, &P.mu);
	pthread_mutex_unlock(&P.mu);
	g.rows += ch->rows;
	g.rejected += ch->rejected;
	if (ch->rejects.len && g.rejects)
		fwrite(ch->rejects.p, 1, ch->rejects.len, g.rejects);
	if (ch->nulls)
		note_nulls(ch);
	if (ch->failed) {
		abort_output(w, sink);
		report_nulls();
		cli_die(CLI_FAIL, "%s", ch->msg);
	}
	/* after a null that fails the run, the rest is read only to find the
	 * other columns that hold one: nothing more is written */
	if (!g.nullfail && ch->nsamples && shard_writer_add_many(w, ch->samples.p, ch->lens, ch->nsamples, &err)) {
		abort_output(w, sink);
		cli_die_err(&err);
	}
	g.written += ch->nsamples;
	cli_progress_add(&g.progress, 0, ch->rows, ch->data.len);
	ch->samples.len = ch->rejects.len = ch->data.len = 0;
	ch->nsamples = 0;
	ch->rows = ch->rejected = 0;
	pthread_mutex_lock(&P.mu);
	ch->state = 0;
	P.head++;
	pthread_mutex_unlock(&P.mu);
}

/* Hand buf[0..cut) to a worker without copying it: the chunk takes buf's
 * memory, and buf gets the chunk's old buffer holding the bytes past cut. */
static void submit(const struct filectx *fc, struct shard_buf *buf, size_t cut, uint64_t line0, struct shard_writer *w,
		   struct shard_sink *sink)
{
	struct chunk *ch;
	struct shard_buf t;
	if (P.tail - P.head == INFLIGHT)
		retire_one(w, sink);
	ch = &P.ring[P.tail % INFLIGHT];
	ch->fc = fc;
	ch->line0 = line0;
	ch->failed = 0;
	t = ch->data;
	ch->data = *buf;
	*buf = t;
	buf->len = 0;
	if (shard_buf_append(buf, ch->data.p + cut, ch->data.len - cut))
		cli_die(CLI_FAIL, "out of memory");
	ch->data.len = cut;
	pthread_mutex_lock(&P.mu);
	ch->state = 1;
	P.tail++;
	pthread_cond_broadcast(&P.cv);
	pthread_mutex_unlock(&P.mu);
}

/* Scans for record ends outside quotes, as lib/csv.c reads them. */
struct scan {
	int in_quotes, field_start;
	uint64_t lines;		/* line terminators seen */
	size_t delims;		/* delimiters outside quotes since the last record end */
};

/* The line feeds in p[0..n) into *nl, in one pass: 0, or -1 (*nl unset) when
 * a quote q (0: none) or a CR is among the bytes. */
static int count_plain_lines(const uint8_t *p, size_t n, uint8_t q, uint64_t *nl)
{
	uint64_t count = 0;
	size_t i = 0;
	if (!q)
		q = '\r';
#ifdef __SSE2__
	{
		const __m128i lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r'), qq = _mm_set1_epi8((char)q);
		while (n - i >= 16) {
			/* up to 255 blocks of 16 bytes: each byte counter holds at most 255 */
			__m128i acc = _mm_setzero_si128(), odd = _mm_setzero_si128(), sum;
			size_t k;
			for (k = 0; k < 255 && n - i >= 16; k++, i += 16) {
				__m128i v = _mm_loadu_si128((const __m128i *)(p + i));
				acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(v, lf));
				odd = _mm_or_si128(odd, _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, qq)));
			}
			if (_mm_movemask_epi8(odd))
				return -1;
			sum = _mm_sad_epu8(acc, _mm_setzero_si128());
			count += (uint64_t)_mm_cvtsi128_si64(sum) + (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(sum, sum));
		}
	}
#endif
	for (; i < n; i++) {
		if (p[i] == '\r' || p[i] == q)
			return -1;
		count += p[i] == '\n';
	}
	*nl = count;
	return 0;
}

/* Scan p[0..n) (n-1 when more input follows: the last byte may need a peek);
 * returns how far it got and sets *cut just past the last record end. */
static size_t scan(struct scan *st, const struct shard_csv_opts *co, const uint8_t *p, size_t n, int final,
		   size_t *cut, uint64_t *cut_lines, int stop_first)
{
	const uint8_t d = (uint8_t)co->delim, q = (uint8_t)co->quote, e = (uint8_t)co->escape;
	size_t i, lim = final ? n : (n ? n - 1 : 0);
	uint64_t nl;

	/* fast path: no quote and no CR in sight, so records end at the last LF */
	if (!st->in_quotes && !stop_first && lim && count_plain_lines(p, lim, q, &nl) == 0) {
		const uint8_t *lf = memrchr(p, '\n', lim), *x = lf ? lf + 1 : p;
		if (lf) {
			*cut = (size_t)(lf - p) + 1;
			*cut_lines = st->lines + nl;
			st->delims = 0;
		}
		/* only the unfinished record's: a message about it names its field */
		while (d && (x = memchr(x, d, (size_t)(p + lim - x)))) {
			st->delims++;
			x++;
		}
		st->lines += nl;
		st->field_start = p[lim - 1] == '\n' || p[lim - 1] == d;
		return lim;
	}
	for (i = 0; i < lim; i++) {
		uint8_t c = p[i];
		if (st->in_quotes) {
			if (c == e && e != q && i + 1 < n && (p[i + 1] == q || p[i + 1] == e)) {
				i++;
			} else if (c == q) {
				if (i + 1 < n && p[i + 1] == q)
					i++;
				else
					st->in_quotes = 0;
			} else if (c == '\n' || (c == '\r' && !(i + 1 < n && p[i + 1] == '\n'))) {
				st->lines++;
			}
			continue;
		}
		if (c == '\n' || c == '\r') {
			if (c == '\r' && i + 1 < n && p[i + 1] == '\n')
				i++;
			st->lines++;
			st->field_start = 1;
			st->delims = 0;
			*cut = i + 1;
			*cut_lines = st->lines;
			if (stop_first)
				return i + 1;
			continue;
		}
		if (c == d) {
			st->field_start = 1;
			st->delims++;
			continue;
		}
		if (c == q && q && st->field_start)
			st->in_quotes = 1;
		st->field_start = 0;
	}
	return i;
}

static int regular_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int convert_file(const struct input *in, const struct shard_csv_opts *co, struct shard_writer *w,
			struct shard_sink *sink, size_t ncsv, const struct shard_schema *schema)
{
	struct reader r;
	struct filectx *fc = calloc(1, sizeof *fc);
	size_t i, k;
	const char *name = strcmp(in->path, "-") ? in->path : "<stdin>";
	struct shard_buf buf = {0};
	struct scan st = {0, 1, 0};
	uint64_t line_of_buf = 1;	/* line number of buf's first byte */
	size_t scanned = 0;
	int header_pending = g.header, eof = 0;
	struct shard_error err = {0};

	if (!fc || !(fc->inv = calloc(g.ncols + 1, sizeof *fc->inv)))
		cli_die(CLI_FAIL, "out of memory");
	fc->in = in;
	fc->name = name;
	fc->ncsv = ncsv;
	fc->schema = schema;
	fc->co = co;
	/* a column -> its field in the file: schema order unless a header says otherwise */
	for (k = 0; k < g.ncols; k++)
		fc->inv[k] = ncsv;
	for (i = 0; i < ncsv; i++)
		fc->inv[g.filecols[i]] = i;
	if (strcmp(in->path, "-"))
		refuse_hadoop(in->path, w, sink);
	r.name = name;
	r.fd = -1;
	r.a = archive_read_new();
	archive_read_support_filter_all(r.a);
	archive_read_support_format_raw(r.a);
	archive_read_support_format_empty(r.a);
	if ((strcmp(in->path, "-") ? archive_read_open_filename(r.a, in->path, 1 << 20)
				   : archive_read_open_fd(r.a, 0, 1 << 20)) != ARCHIVE_OK) {
		abort_output(w, sink);
		cli_die(CLI_FAIL, "%s: %s", name, archive_error_string(r.a));
	}
	{
		struct archive_entry *ae;
		int h = archive_read_next_header(r.a, &ae);
		if (h == ARCHIVE_EOF)
			eof = 1;	/* an empty file: no rows */
		else if (h != ARCHIVE_OK) {
			abort_output(w, sink);
			cli_die(CLI_FAIL, "%s: %s", name, archive_error_string(r.a));
		} else if (strcmp(in->path, "-") && archive_filter_count(r.a) == 1 &&
			   archive_filter_code(r.a, 0) == ARCHIVE_FILTER_NONE && regular_file(in->path)) {
			/* not compressed: read the file itself, a copy fewer than through
			 * libarchive (not a pipe: what libarchive has read of it is gone) */
			r.fd = open(in->path, O_RDONLY | O_CLOEXEC);
			if (r.fd < 0) {
				abort_output(w, sink);
				cli_die(CLI_FAIL, "%s: %s", name, strerror(errno));
			}
		}
	}
	while (!eof || buf.len) {
		size_t cut = 0;
		uint64_t cut_lines = 0;
		/* read until a chunk's worth of whole records is in hand */
		while (!eof && buf.len - scanned < CHUNK) {
			ssize_t got;
			if (shard_buf_reserve(&buf, 1u << 20))
				cli_die(CLI_FAIL, "out of memory");
			got = read_archive(&r, buf.p + buf.len, 1u << 20, &err);
			if (got < 0) {
				abort_output(w, sink);
				cli_die_err(&err);
			}
			if (got == 0)
				eof = 1;
			buf.len += (size_t)got;
			if (line_of_buf == 1 && buf.len >= 3 && scanned == 0 && memcmp(buf.p, "\xEF\xBB\xBF", 3) == 0) {
				memmove(buf.p, buf.p + 3, buf.len - 3);	/* a BOM opens the file only */
				buf.len -= 3;
			}
		}
		{
			size_t upto = scan(&st, co, buf.p + scanned, buf.len - scanned, eof, &cut, &cut_lines, 0);
			if (cut)
				cut += scanned;
			scanned += upto;
		}
		if (eof) {
			cut = buf.len;	/* the rest, even without a final newline */
			cut_lines = st.lines;
		} else if (!cut) {
			if (buf.len > co->max_record + CHUNK) {
				abort_output(w, sink);
				cli_die(CLI_FAIL, "%s:%llu:%zu: record longer than %zu bytes", name,
					(unsigned long long)line_of_buf, st.delims + 1, co->max_record);
			}
			continue;	/* one record longer than a chunk: read more */
		}
		if (header_pending && cut) {
			/* the header is the first record: read it here, map columns by name */
			struct shard_csv *hc;
			struct shard_csv_record rec;
			struct shard_csv_opts ho = *co;
			size_t consumed;
			int rc;
			ho.no_bom = 1;
			if (shard_csv_new_mem(&hc, &ho, buf.p, buf.len, &err)) {
				abort_output(w, sink);
				cli_die_err(&err);
			}
			rc = shard_csv_next(hc, &rec, &err);
			if (rc < 0) {
				char msg[sizeof err.msg + PATH_MAX];
				csv_error_text(msg, sizeof msg, name, &rec, &err);
				abort_output(w, sink);
				cli_die(CLI_FAIL, "%s", msg);
			}
			if (rc == 0) {
				shard_csv_free(hc);
				break;
			}
			header_pending = 0;
			if (rec.nfields != ncsv) {
				abort_output(w, sink);
				cli_die(CLI_FAIL, "%s:%llu: header has %zu columns, the schema %zu", name,
					(unsigned long long)rec.line, rec.nfields, ncsv);
			}
			/* each column the files hold named once: one left unnamed would be
			 * read from past the row's fields */
			for (k = 0; k < g.ncols; k++)
				fc->inv[k] = ncsv;
			for (i = 0; i < ncsv; i++) {
				const char *why = NULL;
				int twice;
				size_t fk = match_name(rec.fields[i].p, rec.fields[i].len, ncsv, &twice);
				k = fk < ncsv ? g.filecols[fk] : g.ncols;
				if (twice)
					why = "matches several schema columns but their case (name it exactly, or use --case-sensitive)";
				else if (k == g.ncols)
					why = "is not in the schema";
				else if (fc->inv[k] != ncsv)
					why = "is named twice";
				if (why) {
					abort_output(w, sink);
					cli_die(CLI_FAIL, "%s:%llu:%zu: header column '%.*s' %s", name,
						(unsigned long long)rec.line, i + 1, (int)rec.fields[i].len,
						(const char *)rec.fields[i].p, why);
				}
				fc->inv[k] = i;
			}
			/* the header ends where the first record does */
			{
				struct scan hs = {0, 1, 0};
				size_t hcut = 0;
				uint64_t hl = 0;
				scan(&hs, co, buf.p, buf.len, 1, &hcut, &hl, 1);
				consumed = hcut ? hcut : buf.len;
				line_of_buf += hl;
			}
			shard_csv_free(hc);
			memmove(buf.p, buf.p + consumed, buf.len - consumed);
			buf.len -= consumed;
			st = (struct scan){0, 1, 0};
			scanned = 0;
			continue;
		}
		if (cut) {
			submit(fc, &buf, cut, line_of_buf, w, sink);	/* buf keeps the rest */
		}
		line_of_buf += cut_lines;
		scanned -= scanned >= cut ? cut : scanned;
		st.lines -= cut_lines;	/* lines past the cut belong to the next chunk */
		if (eof && !buf.len)
			break;
	}
	/* finish this file's chunks before its context goes away */
	while (P.head != P.tail)
		retire_one(w, sink);
	if (header_pending)
		cli_warn("%s: empty file (no header line)", name);
	if (r.fd >= 0)
		close(r.fd);
	archive_read_free(r.a);
	shard_buf_free(&buf);
	free(fc->inv);
	free(fc);
	return 0;
}

/* ---------------------------------------------------------------- inference */

#define INFER_ROWS 1000

/* The types inference can give, narrowest first; str when none fits. */
enum { T_INT, T_FLOAT, T_BOOL, T_DATE, T_TS, T_STR };
static const char *const tnames[] = {"int64", "float64", "bool", "date", "timestamp", "str"};
#define T_ALL ((1u << T_STR) - 1)

/* One scratch value for fits(): inference parses each sample under up to
 * five types, and should not allocate for each. */
static struct shard_buf fit_scratch;

static int fits(int t, const uint8_t *p, size_t n)
{
	static struct shard_coltype ct[T_STR];
	static int ready;
	struct shard_error err;
	int i;
	if (!ready) {
		for (i = 0; i < T_STR; i++)
			shard_coltype_parse(tnames[i], &ct[i], &err);
		ready = 1;
	}
	fit_scratch.len = 0;
	return shard_text_to_value(&ct[t], p, n, &fit_scratch, &err) == 0;
}

struct infer_col {
	char *name;
	unsigned cand;	/* bit T: every non-null value so far parses as type T */
	int json;	/* JSON Lines: an object or an array that is not all numbers */
	int array;	/* JSON Lines: arrays of numbers */
	size_t seen;	/* values that were not null */
	int nulls;	/* CSV: a null among them */
};

static struct infer_col *icols;
static size_t nicols;

static struct infer_col *icol(const char *name, size_t n)
{
	size_t i;
	for (i = 0; i < nicols; i++)
		if (strlen(icols[i].name) == n && memcmp(icols[i].name, name, n) == 0)
			return &icols[i];
	icols = realloc(icols, (nicols + 1) * sizeof *icols);
	if (!icols || !(icols[nicols].name = strndup(name, n)))
		cli_die(CLI_FAIL, "out of memory");
	icols[nicols].cand = T_ALL;
	icols[nicols].json = icols[nicols].array = icols[nicols].nulls = 0;
	icols[nicols].seen = 0;
	return &icols[nicols++];
}

/* Rule out every type the value does not parse as: the column's type must
 * take each sampled value, not only the latest (5 then 2024-01-01 is str,
 * not date). */
static void observe(struct infer_col *c, const uint8_t *p, size_t n)
{
	int t;
	for (t = 0; t < T_STR; t++)
		if (c->cand & (1u << t) && !fits(t, p, n))
			c->cand &= ~(1u << t);
}

/* The narrowest type left; a lone 0 or 1 is a number first, as int64 comes
 * before bool. No value parses as both int64 and date, so every type left
 * means a column null throughout: str. */
static int infer_type(const struct infer_col *c)
{
	int t;
	for (t = 0; t < T_STR && !(c->cand & (1u << t)); t++)
		;
	return c->cand == T_ALL ? T_STR : t;
}

static int infer_member(void *ctx, const char *key, size_t key_at, const uint8_t *val, size_t vlen)
{
	struct infer_col *c = icol(key, strlen(key));
	(void)ctx;
	(void)key_at;
	if (vlen == 4 && memcmp(val, "null", 4) == 0)
		return 0;
	c->seen++;
	if (val[0] == '{') {
		c->json = 1;
	} else if (val[0] == '[') {
		size_t i;
		int numeric = 1;
		for (i = 1; i + 1 < vlen && numeric; i++)
			numeric = strchr("0123456789+-.eE, \tNaInfity", val[i]) != NULL;
		if (numeric)
			c->array = 1;
		else
			c->json = 1;
	} else if (val[0] == '"') {
		c->cand = 0;	/* JSON strings stay strings, as Spark infers them */
	} else {
		observe(c, val, vlen);
	}
	return 0;
}

/* Read the first INFER_ROWS records of path and write a --schema list to out. */
static void infer_schema(const char *path, const struct shard_csv_opts *co, struct shard_buf *out)
{
	struct reader r;
	struct shard_csv *csv;
	struct shard_csv_record rec;
	struct shard_error err = {0};
	struct archive_entry *ae;
	size_t rows = 0, i;
	int rc, header = g.header;

	refuse_hadoop(path, NULL, NULL);
	r.name = path;
	r.fd = -1;
	r.a = archive_read_new();
	archive_read_support_filter_all(r.a);
	archive_read_support_format_raw(r.a);
	archive_read_support_format_empty(r.a);
	if (archive_read_open_filename(r.a, path, 1 << 20) != ARCHIVE_OK ||
	    archive_read_next_header(r.a, &ae) != ARCHIVE_OK)
		cli_die(CLI_FAIL, "%s: cannot infer a schema: %s", path,
			archive_error_string(r.a) ? archive_error_string(r.a) : "empty file");
	if (shard_csv_new(&csv, co, read_archive, &r, &err))
		cli_die_err(&err);
	while (rows < INFER_ROWS && (rc = shard_csv_next(csv, &rec, &err)) > 0) {
		if (g.jsonl) {
			size_t at;
			if (shard_json_object_scan(rec.fields[0].p, rec.fields[0].len, infer_member, NULL, &at, &err)) {
				if (at)
					cli_die(CLI_FAIL, "%s:%llu:%zu: %s", path, (unsigned long long)rec.line, at, err.msg);
				cli_die(CLI_FAIL, "%s:%llu: %s", path, (unsigned long long)rec.line, err.msg);
			}
			rows++;
			continue;
		}
		if (header) {
			for (i = 0; i < rec.nfields; i++)
				icol((const char *)rec.fields[i].p, rec.fields[i].len);
			header = 0;
			continue;
		}
		for (i = nicols; i < rec.nfields; i++) {
			char nm[32];
			snprintf(nm, sizeof nm, "_c%zu", i);	/* Spark's names for unnamed columns */
			icol(nm, strlen(nm));
		}
		for (i = 0; i < rec.nfields && i < nicols; i++) {
			if (!rec.fields[i].null)
				observe(&icols[i], rec.fields[i].p, rec.fields[i].len);
			else
				icols[i].nulls = 1;
		}
		rows++;
	}
	if (rc < 0 && rows < INFER_ROWS) {
		char msg[sizeof err.msg + PATH_MAX];
		csv_error_text(msg, sizeof msg, path, &rec, &err);
		cli_die(CLI_FAIL, "%s", msg);
	}
	if (!nicols)
		cli_die(CLI_FAIL, "%s: no rows to infer a schema from; give --schema", path);
	out->len = 0;
	for (i = 0; i < nicols; i++) {
		const struct infer_col *c = &icols[i];
		const char *t = c->json ? "json" : c->array ? "ndarray:float64" : tnames[infer_type(c)];
		if (strpbrk(c->name, ",:="))
			cli_die(CLI_FAIL, "%s: column name '%s' cannot be used; give --schema", path, c->name);
		/* a column that held a null in the sample keeps its nulls */
		shard_buf_printf(out, "%s%s:%s%s", i ? "," : "", c->name, t,
				 !c->json && (g.jsonl ? c->seen < rows : c->nulls) ? "?" : "");
		free(icols[i].name);
	}
	shard_buf_putc(out, 0);
	shard_buf_free(&fit_scratch);
	free(icols);
	icols = NULL;
	nicols = 0;
	shard_csv_free(csv);
	archive_read_free(r.a);
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

/* One more value of a repeatable option. */
static void push(char ***list, size_t *n, char *v)
{
	char **l = realloc(*list, (*n + 1) * sizeof *l);
	if (!l)
		cli_die(CLI_FAIL, "out of memory");
	l[(*n)++] = v;
	*list = l;
}

/* The schema column an option's "COL<sep>..." names (COL may be in
 * backquotes); *rest the text after sep. */
static size_t opt_column(const char *opt, const char *arg, char sep, const char **rest)
{
	struct shard_error err;
	char *name;
	size_t k;
	if (shard_colname_split(arg, sep ? sep : '\0', &name, rest, &err))
		cli_usage_error(usage, "%s: %s", opt, err.msg);
	if (sep && (*rest == arg + strlen(arg) || (*rest)[-1] != sep))
		cli_usage_error(usage, "%s takes COL%cVALUE, not '%s'", opt, sep, arg);
	for (k = 0; k < g.ncols && strcmp(g.cols[k].name, name); k++)
		;
	if (k == g.ncols)
		cli_usage_error(usage, "%s: no column '%s' in the schema", opt, name);
	free(name);
	return k;
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
	char **fills = NULL, **types = NULL, **renames = NULL;
	const char *select = NULL, *rest;
	size_t nfills = 0, ntypes = 0, nrenames = 0, i, k, ncsv;
	uint64_t size_limit = 1ull << 26, sps = 0;
	struct shard_csv_opts co;
	struct shard_sink *sink;
	struct shard_writer *w;
	struct shard_writer_opts wo = {0};
	struct shard_schema s;
	struct shard_error err = {0};
	char **hl = NULL, **names, **encs;
	size_t nh = 0, npacks = 0;
	int c, entries = 0, overwrite = 0;
	struct cli_overwrite ow = {0};
	const char *schema_from = NULL, *zone = NULL;
	char **packs = NULL;
	struct shard_buf spark_schema = {0};

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
		case OPT_FILL: push(&fills, &nfills, optarg); break;
		case OPT_TYPE: push(&types, &ntypes, optarg); break;
		case OPT_RENAME: push(&renames, &nrenames, optarg); break;
		case OPT_SELECT: select = optarg; break;
		case OPT_CASE: g.case_sensitive = 1; break;
		case OPT_OVERWRITE: overwrite = 1; break;
		case OPT_JSON: g.json = 1; break;
		case OPT_ENTRIES: entries = 1; break;
		case OPT_NO_SYNC: g.no_sync = 1; break;
		case OPT_NO_NULLS: g.no_nulls = 1; break;
		case OPT_SCHEMA_FROM: schema_from = optarg; break;
		case OPT_TIMEZONE: zone = optarg; break;
		case OPT_PACK: push(&packs, &npacks, optarg); break;
		case 'h': help();
		case 'V': cli_version();
		default: cli_usage_error(usage, "invalid option");
		}
	}
	if (!dest)
		cli_usage_error(usage, "-o DEST is required ('-' for a shard stream on stdout)");
	if (schema && schema_from)
		cli_usage_error(usage, "--schema and --schema-from cannot be combined");
	if (schema_from) {
		/* a file holding the schema, or the schema itself */
		struct shard_buf text = {0};
		struct stat st;
		if (stat(schema_from, &st) == 0 && S_ISREG(st.st_mode)) {
			if (shard_read_file(schema_from, &text, 16u << 20, &err))
				cli_die_err(&err);
		} else {
			shard_buf_append(&text, schema_from, strlen(schema_from));
		}
		shard_buf_putc(&text, 0);
		if (shard_schema_from_spark((const char *)text.p, &spark_schema, &err))
			cli_usage_error(usage, "--schema-from: %s", err.msg);
		shard_buf_free(&text);
		schema = (const char *)spark_schema.p;
	}
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

	/* the inputs; the partition columns their directories add come later */
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
	if (!schema) {
		if (strcmp(g.in[0].path, "-") == 0)
			cli_usage_error(usage, "no --schema: inferring one needs a file to read twice, not stdin");
		infer_schema(g.in[0].path, &co, &spark_schema);
		schema = (const char *)spark_schema.p;
		if (!g.quiet)
			cli_warn("no schema given; inferred from %s: --schema '%s'", g.in[0].path, schema);
	}

	/* the schema: columns in file order */
	if (shard_colspec_parse(schema, 1, &g.spec, &g.nspec, &err))
		cli_usage_error(usage, "--schema: %s", err.msg);
	if (!(g.cols = calloc(g.nspec + 1, sizeof *g.cols)))
		cli_die(CLI_FAIL, "out of memory");
	for (i = 0; i < g.nspec; i++, g.ncols++) {
		g.cols[i].name = g.spec[i].name;
		if (shard_coltype_parse(g.spec[i].type, &g.cols[i].type, &err))
			cli_usage_error(usage, "--schema: column '%s': %s", g.cols[i].name, err.msg);
	}
	for (i = 0; i < g.ncols; i++)
		for (k = i + 1; k < g.ncols; k++)
			if (strcmp(g.cols[i].name, g.cols[k].name) == 0)
				cli_usage_error(usage, "--schema: column '%s' twice", g.cols[i].name);
	/* --type COL=TYPE: another type than the schema's (a decimal as float64,
	 * a long as int32, range-checked); nullable if either says so */
	for (i = 0; i < ntypes; i++) {
		struct shard_coltype t;
		int was = 0;
		k = opt_column("--type", types[i], '=', &rest);
		if (shard_coltype_parse(rest, &t, &err))
			cli_usage_error(usage, "--type %s: %s", types[i], err.msg);
		was = g.cols[k].type.nullable;
		g.cols[k].type = t;
		g.cols[k].type.nullable |= was;
	}
	/* timestamp text without an offset, in the files and in key=value
	 * directories alike, is wall-clock time in --timezone */
	if (zone && shard_tz_new(&g.tz, zone, getenv("TZDIR"), &err)) {
		if (err.status == SHARD_EARG)
			cli_usage_error(usage, "--timezone: %s", err.msg);
		cli_die_err(&err);
	}
	for (i = 0; i < g.ncols; i++)
		g.cols[i].type.tz = g.tz;
	for (i = 0; i < nfills; i++) {
		struct shard_buf v = {0}, tmp = {0};
		k = opt_column("--fill", fills[i], '=', &rest);
		/* a decimal's fill is scaled like its values: 0 in decimal(10,2) is 0.00 */
		if (shard_decimal_scaled(&g.cols[k].type, rest, &v, &err) || shard_buf_putc(&v, 0))
			cli_usage_error(usage, "--fill %s: %s", fills[i], err.msg);
		g.cols[k].fill = own((char *)v.p);
		g.cols[k].type.nullable = 0;	/* a value instead of the null */
		if (shard_text_to_value(&g.cols[k].type, (const uint8_t *)g.cols[k].fill, strlen(g.cols[k].fill), &tmp, &err))
			cli_usage_error(usage, "--fill %s: %s", fills[i], err.msg);
		shard_buf_free(&tmp);
	}
	/* --select: the columns written; the others are read and left out */
	if (select) {
		struct shard_colspec *sel;
		size_t nsel;
		if (shard_colspec_parse(select, 0, &sel, &nsel, &err))
			cli_usage_error(usage, "--select: %s", err.msg);
		for (k = 0; k < g.ncols; k++)
			g.cols[k].dropped = 1;
		for (i = 0; i < nsel; i++) {
			const char *r;
			k = opt_column("--select", sel[i].name, 0, &r);
			g.cols[k].dropped = 0;
		}
		shard_colspec_free(sel, nsel);
	}
	for (k = 0; k < g.ncols; k++)
		g.cols[k].out = g.cols[k].name;
	/* --rename OLD=NEW: the name written */
	for (i = 0; i < nrenames; i++) {
		k = opt_column("--rename", renames[i], '=', &rest);
		if (!*rest)
			cli_usage_error(usage, "--rename %s: no new name", renames[i]);
		g.cols[k].out = rest;
	}
	if (g.no_nulls) {
		/* nulls are errors: with Spark's schema, the fields it says may hold
		 * one and that have no --fill are named now, before any data */
		struct shard_buf list = {0};
		size_t n = 0;
		for (i = 0; i < g.ncols; i++) {
			if (schema_from && shard_has_validity(&g.cols[i].type))
				shard_buf_printf(&list, "%s%s", n++ ? ", " : "", g.cols[i].name);
			g.cols[i].type.nullable = 0;
		}
		shard_buf_putc(&list, 0);
		if (n)
			cli_usage_error(usage, "--no-nulls: the Spark schema says %s may hold nulls; give each a --fill "
					       "COL=VALUE, or drop --no-nulls to keep the nulls", (const char *)list.p);
		shard_buf_free(&list);
	}

	/* --pack NAME=a,b,c:DTYPE: the columns a, b, c are read from the files and
	 * written as one ndarray:DTYPE:3 column NAME, in that order */
	for (i = 0; i < npacks; i++) {
		char *spec = strdup(packs[i]), *eq = strchr(spec, '='), *colon = strrchr(spec, ':'), *p;
		struct column *pc;
		size_t np = 0, j;
		char enc[64];
		if (!eq || eq == spec || !colon || colon < eq)
			cli_usage_error(usage, "--pack takes NAME=COL,COL,...:DTYPE");
		*eq = 0;
		*colon = 0;
		if (shard_dtype_from_name(colon + 1) < 0)
			cli_usage_error(usage, "--pack %s: unknown dtype '%s'", spec, colon + 1);
		for (k = 0; k < g.ncols; k++)
			if (strcmp(g.cols[k].name, spec) == 0)
				cli_usage_error(usage, "--pack %s: a column of that name exists already", spec);
		pc = realloc(g.cols, (g.ncols + 1) * sizeof *pc);
		if (!pc)
			cli_die(CLI_FAIL, "out of memory");
		g.cols = pc;
		pc = &g.cols[g.ncols];
		memset(pc, 0, sizeof *pc);
		pc->name = own(strdup(spec));
		pc->pack = calloc(g.ncols + 1, sizeof *pc->pack);
		if (!pc->pack)
			cli_die(CLI_FAIL, "out of memory");
		for (p = strtok(eq + 1, ","); p; p = strtok(NULL, ",")) {
			for (k = 0; k < g.ncols && strcmp(g.cols[k].name, p); k++)
				;
			if (k == g.ncols)
				cli_usage_error(usage, "--pack %s: no column '%s' in the schema", spec, p);
			if (g.cols[k].packed)
				cli_usage_error(usage, "--pack %s: column '%s' is packed twice", spec, p);
			for (j = 0; j < np; j++)
				if (pc->pack[j] == k)
					cli_usage_error(usage, "--pack %s: column '%s' listed twice", spec, p);
			pc->pack[np++] = k;
		}
		if (!np)
			cli_usage_error(usage, "--pack %s: no columns", spec);
		pc->npack = np;
		snprintf(enc, sizeof enc, "%s", colon + 1);
		if (shard_coltype_parse(enc, &pc->elem, &err))
			cli_usage_error(usage, "--pack %s: %s", spec, err.msg);
		snprintf(enc, sizeof enc, "ndarray:%s:%zu", colon + 1, np);
		if (shard_coltype_parse(enc, &pc->type, &err))
			cli_usage_error(usage, "--pack %s: %s", spec, err.msg);
		for (j = 0; j < np; j++)
			g.cols[pc->pack[j]].packed = 1;
		g.ncols++;
		free(spec);
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
				shard_coltype_parse(g.no_nulls ? "str" : "str?", &g.cols[g.ncols].type, &err);
				g.ncols++;
			}
			g.cols[j].part = 1;
		}
	}
	g.filecols = calloc(g.ncols + 1, sizeof *g.filecols);
	if (!g.filecols)
		cli_die(CLI_FAIL, "out of memory");
	for (i = 0, ncsv = 0; i < g.ncols; i++)
		if (!g.cols[i].part && !g.cols[i].npack)
			g.filecols[ncsv++] = i;
	if (!ncsv)
		cli_usage_error(usage, "--schema names no column that the files hold");
	names = calloc(2 * g.ncols, sizeof *names);
	encs = calloc(2 * g.ncols, sizeof *encs);
	if (!names || !encs)
		cli_die(CLI_FAIL, "out of memory");
	for (i = 0, k = 0; i < g.ncols; i++) {
		size_t j;
		if (!g.cols[i].out)
			g.cols[i].out = g.cols[i].name;	/* --pack and partition columns */
		if (g.cols[i].packed || g.cols[i].dropped)
			continue;	/* only inside its --pack column, or not at all */
		for (j = 0; j < k && strcmp(names[j], g.cols[i].out); j++)
			;
		if (j < k)
			cli_usage_error(usage, "two columns would be written as '%s'", g.cols[i].out);
		names[k] = (char *)g.cols[i].out;
		encs[k++] = g.cols[i].type.enc_name;
	}
	for (i = 0; i < g.ncols; i++) {
		/* a nullable column's validity column beside it (shard-mds(5), NULLS) */
		char vn[1024];
		size_t j;
		if (g.cols[i].packed || g.cols[i].dropped || !shard_has_validity(&g.cols[i].type))
			continue;
		if (shard_validity_name(g.cols[i].out, vn, sizeof vn))
			cli_usage_error(usage, "column name '%s' is too long", g.cols[i].out);
		for (j = 0; j < k && strcmp(names[j], vn); j++)
			;
		if (j < k)
			cli_usage_error(usage, "column '%s' is nullable, and its validity column '%s' is taken by another column",
					g.cols[i].out, vn);
		names[k] = own(strdup(vn));
		encs[k++] = "uint8";
		g.nvalid++;
	}
	if (shard_schema_init(&s, k, (const char *const *)names, (const char *const *)encs, 1, &err))
		cli_usage_error(usage, "--schema: %s", err.msg);
	g.nschema = k;
	for (i = 0; i < g.ncols; i++) {
		char vn[1024];
		int w = !g.cols[i].packed && !g.cols[i].dropped;
		g.cols[i].schema_pos = w ? shard_schema_index(&s, g.cols[i].out) : -1;
		g.cols[i].valid_pos = -1;
		if (w && shard_has_validity(&g.cols[i].type) && !shard_validity_name(g.cols[i].out, vn, sizeof vn))
			g.cols[i].valid_pos = shard_schema_index(&s, vn);
	}
	if (!(g.null_at = calloc(g.ncols + 1, sizeof *g.null_at)))
		cli_die(CLI_FAIL, "out of memory");

	if (strcmp(hashes, "none"))
		hl = cli_split(hashes, &nh);
	wo.compression = strcmp(comp, "none") ? comp : NULL;
	wo.hashes = (const char *const *)hl;
	wo.nhashes = nh;
	wo.size_limit = size_limit;
	wo.max_samples = sps;
	/* settle everything a usage error could be about before creating DEST */
	{
		struct shard_codec cd;
		if (shard_codec_parse(wo.compression, &cd, &err))
			cli_usage_error(usage, "%s", err.msg);
		for (i = 0; i < nh; i++)
			if (!shard_hash_known(hl[i]) || (i && strcmp(hl[i - 1], hl[i]) >= 0))
				cli_usage_error(usage, "--hashes: '%s' is unknown or out of order (sorted, unique MDS names)", hl[i]);
		if (wo.size_limit > 0xFFFFFFFFull)
			cli_usage_error(usage, "--size-limit must stay under 4 GiB (MDS offsets are 32-bit)");
	}
	if (rejects && !(g.rejects = fopen(rejects, "w")))
		cli_die(CLI_FAIL, "%s: %s", rejects, strerror(errno));
	if (overwrite && strcmp(dest, "-") == 0)
		cli_usage_error(usage, "--overwrite applies to a dataset directory, not a stream");
	if (overwrite && !shard_is_url(dest))
		cli_overwrite_begin(&ow, dest, entries);
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
	shard_sink_set_sync(sink, !g.no_sync);
	cli_guard_sink(sink);	/* a signal removes the shards written */
	if (shard_writer_new(&w, sink, &s, &wo, &err)) {
		cli_sink_abort(sink);
		cli_die_err(&err);
	}
	/* logical types and validity columns go in index.json, where Python's
	 * reader ignores them */
	{
		json_t *x = json_object(), *lt = json_object(), *va = json_object();
		char *text;
		for (i = 0; i < g.ncols; i++) {
			if (g.cols[i].schema_pos < 0)
				continue;
			if (g.cols[i].type.ltype)
				json_object_set_new(lt, g.cols[i].out, json_string(shard_ltype_name(g.cols[i].type.ltype)));
			if (g.cols[i].valid_pos >= 0)
				json_object_set_new(va, g.cols[i].out, json_string(s.names[g.cols[i].valid_pos]));
		}
		if (json_object_size(lt))
			json_object_set(x, "logical_types", lt);
		if (json_object_size(va))
			json_object_set(x, "validity", va);
		text = json_object_size(x) ? json_dumps(x, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
		if (text)
			shard_sink_set_extra(sink, text);
		if (text && entries) {
			cli_out_str("{\"shardkit\":");
			cli_out_str(text);
			cli_out_str("}\n");
			cli_out_flush();
		}
		free(text);
		json_decref(lt);
		json_decref(va);
		json_decref(x);
	}
	/* no progress line beside a JSON summary on stderr: a script reads it */
	/* none beside a stream on stdout: the pipeline's last program shows its
	 * own on the same terminal */
	cli_progress_begin(&g.progress, "rows", 1, !g.quiet && strcmp(dest, "-") && !(g.json && entries));
	workers_start();
	for (i = 0; i < g.nin; i++)
		convert_file(&g.in[i], &co, w, sink, ncsv, &s);
	workers_stop();
	if (g.nullfail) {
		abort_output(w, sink);
		report_nulls();
		exit(CLI_FAIL);
	}
	if (shard_writer_finish(w, &err)) {
		abort_output(w, sink);
		cli_die_err(&err);
	}
	{
		uint64_t shards = shard_sink_shards(sink);
		if (cli_sink_close(sink, &err))
			cli_die_err(&err);
		if (overwrite)
			cli_overwrite_end(&ow);
		if (g.rejects && fclose(g.rejects) != 0)
			cli_die(CLI_FAIL, "%s: %s", rejects, strerror(errno));
		cli_progress_end(&g.progress);
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
	/* everything back, so leak checkers see a clean exit */
	shard_schema_free(&s);
	free(names);
	free(encs);
	if (hl) {
		free(hl[0]);
		free(hl);
	}
	for (i = 0; i < g.nin; i++) {
		free(g.in[i].path);
		free(g.in[i].pkeys);
		free(g.in[i].pvals);
	}
	free(g.in);
	for (i = 0; i < g.nowned; i++)
		free(g.owned[i]);
	free(g.owned);
	shard_colspec_free(g.spec, g.nspec);
	for (i = 0; i < g.ncols; i++)
		free(g.cols[i].pack);
	free(g.cols);
	free(g.filecols);
	free(g.null_at);
	free(fills);
	free(types);
	free(renames);
	free(packs);
	shard_buf_free(&spark_schema);
	shard_tz_free(g.tz);
	return 0;
}
