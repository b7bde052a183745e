/* shard-shuffle: a deterministic, seeded order of a dataset's samples for one
 * epoch, one rank's share of it, written as shards (sample bytes copied, never
 * re-encoded). Full shuffles scale past memory through temporary bucket files. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
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

static struct {
	uint64_t seed, epoch, rank, world, batch, skip, buffer, memory;
	int pad, block, quiet, no_sync;
	const char *tmpbase;
} o = {0, 0, 0, 1, 0, 0, 0, 1ull << 30, 0, 0, 0, 0, NULL};

/* ---------------------------------------------------------------- temporary files */

/* Registered before they are created, while the signal guard is held, so
 * that the cleanup a signal runs (remove_tmp, after the sinks' kills) finds
 * every file and directory there is. */
#define MAX_TMP 4096
static char tmpdir[PATH_MAX];
static char tmpfiles[MAX_TMP][64];	/* names inside tmpdir */
static volatile sig_atomic_t ntmp;
static struct shard_sink *out_sink;

static char tmpsuffix[32];	/* ".tmp.PID": what an interrupted atomic write leaves */

static void remove_tmp(void)
{
	char path[PATH_MAX + 120];
	int i;
	if (!tmpdir[0])
		return;
	/* newest first, so files go before the directories that hold them */
	for (i = ntmp - 1; i >= 0; i--) {
		size_t n = strlen(tmpdir), k = strlen(tmpfiles[i]);
		memcpy(path, tmpdir, n);
		path[n] = '/';
		memcpy(path + n + 1, tmpfiles[i], k + 1);
		if (unlink(path) != 0)
			rmdir(path);
		memcpy(path + n + 1 + k, tmpsuffix, strlen(tmpsuffix) + 1);
		unlink(path);
	}
	rmdir(tmpdir);
}

static void on_signal(void *ctx)
{
	(void)ctx;
	remove_tmp();
}

static void cleanup(void)
{
	remove_tmp();
	tmpdir[0] = 0;
}

static void make_tmpdir(void)
{
	const char *base = o.tmpbase ? o.tmpbase : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	if (tmpdir[0])
		return;
	cli_signals_hold();
	snprintf(tmpdir, sizeof tmpdir, "%s/shard-shuffle.XXXXXX", base);
	snprintf(tmpsuffix, sizeof tmpsuffix, ".tmp.%ld", (long)getpid());
	if (!mkdtemp(tmpdir)) {
		int e = errno;
		tmpdir[0] = 0;
		cli_die(CLI_FAIL, "%s: cannot make a temporary directory: %s", base, strerror(e));
	}
	cli_signals_release();
}

/* A new temporary file path inside tmpdir, registered for removal; the
 * caller holds the signal guard until the file exists. */
static const char *tmp_path(const char *fmt, unsigned long long k, char *buf, size_t n)
{
	make_tmpdir();
	if (ntmp >= MAX_TMP)
		cli_die(CLI_FAIL, "too many temporary files: raise --memory");
	snprintf(tmpfiles[ntmp], sizeof tmpfiles[0], fmt, k);
	snprintf(buf, n, "%s/%s", tmpdir, tmpfiles[ntmp]);
	ntmp++;
	return buf;
}

static struct shard_writer *writer;

static void die(const struct shard_error *err)
{
	/* shards still being compressed are stopped first: none may reach the
	 * sink after it has removed the written ones */
	shard_writer_abort(writer);
	cli_sink_abort(out_sink);
	out_sink = NULL;
	cleanup();
	cli_die_err(err);
}

/* ---------------------------------------------------------------- the order */

/* This rank's share of the epoch's order perm[0..n), dealt by sample
 * (position p to rank p mod W) or by whole batches (batch j to rank j mod W),
 * the remainder dropped or padded, the first --skip left out. Positions are
 * worked out when wanted, never listed: with --batch and --pad the share may
 * be far longer than the data, and memory follows the data. */
struct plan {
	const uint64_t *perm;
	struct shard_dealer d;
	uint64_t norder;	/* the share's length */
};

static void deal(const uint64_t *perm, uint64_t n, struct plan *pl)
{
	pl->perm = perm;
	if (shard_dealer_init(&pl->d, n, o.rank, o.world, o.batch, o.pad, o.skip))
		cli_die(CLI_USAGE, "--batch %llu is too large for --world %llu", (unsigned long long)o.batch,
			(unsigned long long)o.world);
	pl->norder = pl->d.count;
}

/* The global sample index at position k of the share. */
static uint64_t order_at(const struct plan *pl, uint64_t k)
{
	return pl->perm[shard_dealer_at(&pl->d, k)];
}

/* ---------------------------------------------------------------- output */

static struct cli_progress progress;	/* samples written, shard bytes read */

static void open_writer(const char *dest, const struct shard_entry *e, const char *comp, const char *hashes,
			uint64_t size_limit)
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
	if (strcmp(dest, "-") == 0) {
		if (isatty(1))
			cli_die(CLI_USAGE, "refusing to write a binary shard stream to a terminal");
		if (shard_sink_open_fd(&out_sink, 1, &err))
			die(&err);
	} else if (shard_sink_open_dir(&out_sink, dest, &err)) {
		die(&err);
	}
	shard_sink_set_sync(out_sink, !o.no_sync);
	cli_guard_sink(out_sink);
	if (shard_writer_new(&writer, out_sink, &e->schema, &wo, &err))
		die(&err);
	if (hl) {
		free(hl[0]);
		free(hl);
	}
}

/* Samples must share one schema to be mixed into the same shards. */
static void same_schema(const struct shard_entry *a, const struct shard_entry *b, const char *name)
{
	size_t i;
	if (a->schema.ncols != b->schema.ncols)
		goto bad;
	for (i = 0; i < a->schema.ncols; i++)
		if (strcmp(a->schema.names[i], b->schema.names[i]) || strcmp(a->schema.enc_names[i], b->schema.enc_names[i]))
			goto bad;
	return;
bad:
	cli_die(CLI_FAIL, "%s: its columns differ from the first shard's; shards of one dataset must agree", name);
}

static void emit(const uint8_t *p, size_t n)
{
	struct shard_error err;
	if (shard_writer_add_raw(writer, p, n, &err))
		die(&err);
	cli_progress_add(&progress, 0, 1, 0);
}

/* ---------------------------------------------------------------- full and block shuffles */

/* Which shard holds global sample g (first[] is the prefix sum of counts). */
static size_t shard_of(const uint64_t *first, size_t nshards, uint64_t g)
{
	size_t lo = 0, hi = nshards;
	while (lo + 1 < hi) {
		size_t mid = (lo + hi) / 2;
		if (first[mid] <= g)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* The next shard of src: loaded and decompressed when wanted, otherwise
 * passed over without being read. Returns as shard_source_next does. */
static int next_shard(struct shard_source *src, struct shard_item *it, int wanted, struct shard_error *err)
{
	int r = wanted ? shard_source_next(src, it, err) : shard_source_skip(src, it, err);
	if (r > 0 && wanted && shard_item_load_raw(it, 1, err))
		die(err);
	if (r > 0 && wanted)
		cli_progress_add(&progress, 0, 0, it->stored.len);
	return r;
}

/* After a pass over the shards: r is the last next_shard result, s how many
 * were passed; a source that ran out early is a damaged dataset. */
static void end_pass(struct shard_source *src, struct shard_item *it, int r, size_t s, const struct shard_index *ix,
		     const char *path, struct shard_error *err)
{
	if (r < 0)
		die(err);
	if (r == 0 && s < ix->nshards)
		cli_die(CLI_FAIL, "%s: fewer shards than its index lists", path);
	shard_item_free(it);
	shard_source_close(src);
}

/* Cut this rank's order into windows whose samples' estimated bytes fit --memory. */
static uint64_t *plan_windows(const struct shard_index *ix, const uint64_t *first, const struct plan *pl,
			      size_t *nwin)
{
	uint64_t *bounds = malloc(2 * sizeof *bounds), w0 = 0;
	size_t n = 0;
	if (!bounds)
		cli_die(CLI_FAIL, "out of memory");
	bounds[n++] = 0;
	while (w0 < pl->norder) {
		uint64_t w1 = w0, bytes = 0;
		while (w1 < pl->norder && (w1 == w0 || bytes < o.memory)) {
			size_t sh = shard_of(first, ix->nshards, order_at(pl, w1));
			bytes += ix->shards[sh].samples ? ix->shards[sh].raw.bytes / ix->shards[sh].samples + 8 : 8;
			w1++;
		}
		bounds = realloc(bounds, (n + 2) * sizeof *bounds);
		if (!bounds)
			cli_die(CLI_FAIL, "out of memory");
		bounds[n++] = w1;
		w0 = w1;
	}
	*nwin = n - 1;
	return bounds;
}

/* External shuffle: one pass over the input scatters every needed sample into
 * the bucket file of its window (a temporary file under --tmpdir), once per
 * position it takes (--pad may repeat one); then each bucket, which fits
 * --memory, is read back and emitted in order. Memory: the inverse of the
 * epoch's order and a mark per sample, whatever the share's length. */
static void run_buckets(const char *path, const struct shard_index *ix, const struct plan *pl, const uint64_t *first,
			const uint64_t *bounds, size_t nwin)
{
	uint64_t n = pl->d.n, *inv = malloc((n + 1) * sizeof *inv);
	uint8_t *needed = calloc(n + 1, 1);
	FILE **files = calloc(nwin, sizeof *files);
	char (*names)[PATH_MAX + 80] = calloc(nwin, sizeof *names);
	struct shard_source *src;
	struct shard_item it = {0};
	struct shard_error err;
	uint64_t i, g;
	size_t w, s;
	int r = 1;

	if (!inv || !needed || !files || !names)
		cli_die(CLI_FAIL, "out of memory");
	for (i = 0; i < n; i++)
		inv[pl->perm[i]] = i;
	for (i = 0; i < pl->norder; i++)
		needed[order_at(pl, i)] = 1;
	for (w = 0; w < nwin; w++) {
		int fd;
		cli_signals_hold();
		tmp_path("bucket.%05llu", w, names[w], sizeof names[w]);
		if ((fd = shard_create_new(names[w], 1, &err)) < 0)
			die(&err);
		cli_signals_release();
		if (!(files[w] = fdopen(fd, "w+b")))
			cli_die(CLI_FAIL, "%s: %s", names[w], strerror(errno));
	}
	if (shard_source_open(&src, path, SHARD_SRC_VERIFY_HASHES, &err))
		die(&err);
	for (s = 0; s < ix->nshards; s++) {
		/* a shard said to hold no samples is in nobody's share: read and checked all the same */
		int wanted = first[s] == first[s + 1];
		for (g = first[s]; g < first[s + 1] && !wanted; g++)
			wanted = needed[g];
		if ((r = next_shard(src, &it, wanted, &err)) <= 0)
			break;
		for (g = first[s]; wanted && g < first[s + 1]; g++) {
			const uint8_t *p;
			size_t len;
			uint64_t pos;
			if (!needed[g])
				continue;
			shard_mds_sample(&it.mds, (uint32_t)(g - first[s]), &p, &len);
			/* every position of the epoch's order holding g: perm wraps around */
			for (i = inv[g]; i < pl->d.total; i += n) {
				size_t lo = 0, hi = nwin;
				uint64_t rec[2];
				if (!shard_dealer_find(&pl->d, i, &pos))
					continue;
				while (lo + 1 < hi) {	/* the window holding this position */
					size_t mid = (lo + hi) / 2;
					if (bounds[mid] <= pos)
						lo = mid;
					else
						hi = mid;
				}
				rec[0] = pos;
				rec[1] = len;
				if (fwrite(rec, sizeof rec, 1, files[lo]) != 1 || (len && fwrite(p, len, 1, files[lo]) != 1))
					cli_die(CLI_FAIL, "%s: %s", names[lo], strerror(errno));
			}
		}
	}
	end_pass(src, &it, r, s, ix, path, &err);
	free(inv);
	free(needed);
	for (w = 0; w < nwin; w++) {
		uint64_t w0 = bounds[w], w1 = bounds[w + 1], rec[2];
		uint64_t *off = malloc((w1 - w0 + 1) * sizeof *off), *len = malloc((w1 - w0 + 1) * sizeof *len);
		struct shard_buf arena = {0};
		if (!off || !len)
			cli_die(CLI_FAIL, "out of memory");
		if (fflush(files[w]) != 0 || fseek(files[w], 0, SEEK_SET) != 0)
			cli_die(CLI_FAIL, "%s: %s", names[w], strerror(errno));
		while (fread(rec, sizeof rec, 1, files[w]) == 1) {
			if (rec[0] < w0 || rec[0] >= w1 || shard_buf_reserve(&arena, (size_t)rec[1]))
				cli_die(CLI_FAIL, "%s: corrupt temporary file", names[w]);
			if (rec[1] && fread(arena.p + arena.len, (size_t)rec[1], 1, files[w]) != 1)
				cli_die(CLI_FAIL, "%s: short read", names[w]);
			off[rec[0] - w0] = arena.len;
			len[rec[0] - w0] = rec[1];
			arena.len += (size_t)rec[1];
		}
		for (i = w0; i < w1; i++)
			emit(arena.p + off[i - w0], len[i - w0]);
		shard_buf_free(&arena);
		free(off);
		free(len);
		fclose(files[w]);
		unlink(names[w]);
	}
	free(files);
	free(names);
}

/* The rank's samples, in order: held in memory when they fit --memory (the
 * shards holding none are not read), else through temporary buckets. */
static void run_order(const char *path, const struct shard_index *ix, const struct plan *pl)
{
	uint64_t *first = calloc(ix->nshards + 1, sizeof *first), *where, *bounds, *off, *len, i, nslots = 0;
	struct shard_buf arena = {0};
	struct shard_source *src;
	struct shard_item it = {0};
	struct shard_error err;
	size_t s, nwin;
	int r = 1;

	if (!first)
		cli_die(CLI_FAIL, "out of memory");
	for (s = 0; s < ix->nshards; s++)
		first[s + 1] = first[s] + ix->shards[s].samples;
	bounds = plan_windows(ix, first, pl, &nwin);
	if (nwin > 1) {
		run_buckets(path, ix, pl, first, bounds, nwin);
		free(bounds);
		free(first);
		return;
	}
	free(bounds);
	/* where[g]: 1 + the slot of sample g's bytes (0: not needed); a repeat
	 * (--pad) is emitted from the same slot, so there are no more slots
	 * than samples */
	where = calloc(first[ix->nshards] + 1, sizeof *where);
	if (!where)
		cli_die(CLI_FAIL, "out of memory");
	for (i = 0; i < pl->norder; i++) {
		uint64_t g = order_at(pl, i);
		if (!where[g])
			where[g] = ++nslots;
	}
	off = malloc((nslots + 1) * sizeof *off);
	len = malloc((nslots + 1) * sizeof *len);
	if (!off || !len)
		cli_die(CLI_FAIL, "out of memory");
	if (shard_source_open(&src, path, SHARD_SRC_VERIFY_HASHES, &err))
		die(&err);
	for (s = 0; s < ix->nshards; s++) {
		uint64_t j;
		int wanted = first[s] == first[s + 1];	/* no samples: nobody's share, checked all the same */
		for (j = first[s]; j < first[s + 1] && !wanted; j++)
			wanted = where[j] != 0;
		if ((r = next_shard(src, &it, wanted, &err)) <= 0)
			break;
		for (j = first[s]; wanted && j < first[s + 1]; j++) {
			const uint8_t *p;
			size_t n;
			if (!where[j])
				continue;
			shard_mds_sample(&it.mds, (uint32_t)(j - first[s]), &p, &n);
			off[where[j] - 1] = arena.len;
			len[where[j] - 1] = n;
			if (shard_buf_append(&arena, p, n))
				cli_die(CLI_FAIL, "out of memory");
		}
	}
	end_pass(src, &it, r, s, ix, path, &err);
	for (i = 0; i < pl->norder; i++) {
		uint64_t k = where[order_at(pl, i)] - 1;
		emit(arena.p + off[k], len[k]);
	}
	shard_buf_free(&arena);
	free(off);
	free(len);
	free(where);
	free(first);
}

/* A stream cannot be read twice: it is spooled to a temporary dataset first. */
static char *spool(void)
{
	static char dir[PATH_MAX + 80];
	struct shard_source *src;
	struct shard_sink *sk = NULL;
	struct shard_item it = {0};
	struct shard_error err;
	int r;

	cli_signals_hold();
	tmp_path("spool", 0, dir, sizeof dir);
	if (shard_source_open(&src, "-", SHARD_SRC_VERIFY_HASHES, &err) || shard_sink_open_dir(&sk, dir, &err))
		die(&err);
	cli_signals_release();
	shard_sink_set_sync(sk, 0);	/* a spool, removed at exit: nothing to keep across a power loss */
	cli_guard_sink(sk);
	while ((r = shard_source_next(src, &it, &err)) > 0) {
		struct shard_codec cd = {0};
		/* register the name the sink will give this shard before it writes it,
		 * so an interrupted run removes it */
		if (it.stored_is_zip && shard_codec_parse(it.entry.compression, &cd, &err))
			die(&err);
		if (ntmp >= MAX_TMP)
			cli_die(CLI_FAIL, "too many shards to spool");
		cli_signals_hold();
		snprintf(tmpfiles[ntmp], sizeof tmpfiles[0], "spool/shard.%05llu.mds%s%s",
			 (unsigned long long)shard_sink_shards(sk), it.stored_is_zip ? "." : "", it.stored_is_zip ? cd.ext : "");
		ntmp++;
		cli_signals_release();
		shard_sink_set_extra(sk, shard_source_extra(src));	/* logical types travel */
		if (shard_sink_put(sk, &it.entry, it.stored.p, it.stored.len, it.stored_is_zip, &err))
			die(&err);
		cli_progress_add(&progress, 0, 0, it.stored.len);
	}
	if (r < 0)
		die(&err);
	shard_item_free(&it);
	shard_source_close(src);
	cli_signals_hold();
	if (ntmp < MAX_TMP)
		snprintf(tmpfiles[ntmp++], sizeof tmpfiles[0], "spool/index.json");
	cli_signals_release();
	if (cli_sink_close(sk, &err))
		die(&err);
	return dir;
}

/* Before anything is sized from index.json's counts (a full shuffle takes
 * about 32 bytes per sample): each shard file is looked at, not read, and its
 * entry's claims checked against its real size and SHARDKIT_MAX_SHARD. A raw
 * shard's size bounds its count; a compressed one's only loosely, so when the
 * counts would take more than --memory the compressed shards are read once
 * first and their counts checked against their bytes. A missing shard (one
 * --skip passes over need not be there) backs no count: the counts of missing
 * shards may not take more than --memory. */
static void check_claims(const char *path, const struct shard_index *ix)
{
	struct shard_error err;
	uint64_t limit, zipped = 0, missing = 0;
	size_t s;

	if (shard_max_shard(&limit, &err))
		die(&err);
	for (s = 0; s < ix->nshards; s++) {
		const struct shard_entry *e = &ix->shards[s];
		char rawp[PATH_MAX + 8400], zipp[PATH_MAX + 8400];
		const char *name = rawp;
		struct stat st;
		int zip = 0;
		snprintf(rawp, sizeof rawp, "%s/%s", path, e->raw.basename);
		if (e->has_zip) {
			snprintf(zipp, sizeof zipp, "%s/%s", path, e->zip.basename);
			if ((zip = stat(zipp, &st) == 0))
				name = zipp;
		}
		/* what is not there, or is no regular file, the read refuses later */
		if ((!zip && stat(rawp, &st) != 0) || !S_ISREG(st.st_mode)) {
			if (shard_entry_check(e, e->has_zip, UINT64_MAX, limit, &err)) {
				shard_error_prefix(&err, "%s", e->has_zip ? zipp : rawp);
				die(&err);
			}
			missing += e->samples;
			continue;
		}
		if (shard_entry_check(e, zip, (uint64_t)st.st_size, limit, &err)) {
			shard_error_prefix(&err, "%s", name);
			die(&err);
		}
		if (zip)
			zipped += e->samples;
	}
	if (missing > o.memory / 32)
		cli_die(CLI_FAIL, "%s: index.json lists %llu samples in shards that are missing: "
			"more than --memory allows to take on trust", path, (unsigned long long)missing);
	if (zipped + missing > o.memory / 32) {
		struct shard_source *src;
		struct shard_item it = {0};
		int r = 1;
		if (shard_source_open(&src, path, 0, &err))
			die(&err);
		for (s = 0; s < ix->nshards; s++) {
			const struct shard_entry *e = &ix->shards[s];
			char zipp[PATH_MAX + 8400];
			struct stat st;
			snprintf(zipp, sizeof zipp, "%s/%s", path, e->has_zip ? e->zip.basename : "");
			r = e->has_zip && stat(zipp, &st) == 0 ? shard_source_next(src, &it, &err)
							       : shard_source_skip(src, &it, &err);
			if (r <= 0)
				break;
			/* the header's count against the index's, the offsets against the bytes */
			if (it.stored_is_zip && shard_item_load_raw(&it, 0, &err))
				die(&err);
		}
		end_pass(src, &it, r, s, ix, path, &err);
	}
}

static void run_permuted(const char *path, const char *dest, const char *comp, const char *hashes, uint64_t sl)
{
	struct shard_index ix;
	struct shard_error err;
	struct plan pl = {0};
	char ipath[PATH_MAX + 16];
	uint64_t n = 0, *perm;
	size_t s;

	snprintf(ipath, sizeof ipath, "%s/index.json", path);
	if (shard_index_load(&ix, ipath, &err))
		die(&err);
	if (!ix.nshards)
		cli_die(CLI_FAIL, "%s: the dataset has no shards", path);
	for (s = 0; s < ix.nshards; s++) {
		same_schema(&ix.shards[0], &ix.shards[s], path);
		n += ix.shards[s].samples;
	}
	check_claims(path, &ix);
	perm = malloc((n + 1) * sizeof *perm);
	if (!perm)
		cli_die(CLI_FAIL, "out of memory");
	{
		/* the epoch's order: over the whole dataset, or shard by shard */
		uint64_t *first = calloc(ix.nshards + 1, sizeof *first);
		if (!first)
			cli_die(CLI_FAIL, "out of memory");
		for (s = 0; s < ix.nshards; s++)
			first[s + 1] = first[s] + ix.shards[s].samples;
		if (shard_epoch_order(o.seed, o.epoch, o.block, first, ix.nshards, perm))
			cli_die(CLI_FAIL, "out of memory");
		free(first);
	}
	deal(perm, n, &pl);
	open_writer(dest, &ix.shards[0], comp, hashes, sl);
	if (ix.extra)
		shard_sink_set_extra(out_sink, ix.extra);
	run_order(path, &ix, &pl);
	free(perm);
	shard_index_free(&ix);
}

/* ---------------------------------------------------------------- buffer shuffle */

/* A window of N samples: each incoming sample replaces a random one, which goes
 * out. Memory holds N samples; the order is local (a sample moves about N
 * places), which is what a stream read once allows. */
static void run_buffer(const char *path, const char *dest, const char *comp, const char *hashes, uint64_t sl)
{
	struct shard_source *src;
	struct shard_item it = {0};
	struct shard_error err;
	struct shard_rng rng;
	/* the slots grow as samples arrive: --buffer sets how many at most */
	struct shard_buf *slots = NULL;
	struct shard_entry first = {0};
	uint64_t fill = 0, cap = 0, pos = 0, kept = 0, i;
	int r, have_first = 0;

	if (o.batch)
		cli_usage_error(usage, "--batch needs the epoch's length: use it without --buffer");
	shard_rng_seed(&rng, o.seed, o.epoch);
	if (shard_source_open(&src, path, SHARD_SRC_VERIFY_HASHES, &err))
		die(&err);
#define OUT(p, n)                                                            \
	do {                                                                 \
		if (pos++ % o.world == o.rank && kept++ >= o.skip)           \
			emit((p), (n));                                      \
	} while (0)
	while ((r = shard_source_next(src, &it, &err)) > 0) {
		uint32_t k;
		if (shard_item_load_raw(&it, 1, &err))
			die(&err);
		cli_progress_add(&progress, 0, 0, it.stored.len);
		if (!have_first) {
			if (shard_entry_copy(&first, &it.entry))
				cli_die(CLI_FAIL, "out of memory");
			open_writer(dest, &first, comp, hashes, sl);
			if (shard_source_extra(src))
				shard_sink_set_extra(out_sink, shard_source_extra(src));
			have_first = 1;
		}
		same_schema(&first, &it.entry, it.name);
		for (k = 0; k < it.mds.nsamples; k++) {
			const uint8_t *p;
			size_t n;
			shard_mds_sample(&it.mds, k, &p, &n);
			if (fill < o.buffer) {
				if (fill == cap) {
					cap = cap ? cap * 2 : 1024;
					if (cap > o.buffer)
						cap = o.buffer;
					if (!(slots = realloc(slots, cap * sizeof *slots)))
						cli_die(CLI_FAIL, "out of memory");
					memset(slots + fill, 0, (cap - fill) * sizeof *slots);
				}
				if (shard_buf_append(&slots[fill++], p, n))
					cli_die(CLI_FAIL, "out of memory");
				continue;
			}
			i = shard_rng_below(&rng, o.buffer);
			OUT(slots[i].p, slots[i].len);
			slots[i].len = 0;
			if (shard_buf_append(&slots[i], p, n))
				cli_die(CLI_FAIL, "out of memory");
		}
	}
	if (r < 0)
		die(&err);
	if (!have_first)
		cli_die(CLI_FAIL, "%s: no shards", path);
	/* drain the buffer in random order */
	{
		uint64_t *idx = malloc((fill + 1) * sizeof *idx);
		if (!idx)
			cli_die(CLI_FAIL, "out of memory");
		for (i = 0; i < fill; i++)
			idx[i] = i;
		shard_permute(&rng, idx, fill);
		for (i = 0; i < fill; i++)
			OUT(slots[idx[i]].p, slots[idx[i]].len);
		free(idx);
	}
#undef OUT
	for (i = 0; i < fill; i++)
		shard_buf_free(&slots[i]);
	free(slots);
	shard_entry_free(&first);
	shard_item_free(&it);
	shard_source_close(src);
}

static uint64_t num(const char *opt, const char *v)
{
	uint64_t x;
	if (cli_parse_u64(v, &x))
		cli_usage_error(usage, "%s takes a non-negative number, not '%s'", opt, v);
	return x;
}

int main(int argc, char **argv)
{
	const char *dest = NULL, *comp = NULL, *hashes = NULL, *input;
	uint64_t size_limit = 0;
	struct shard_error err;
	int c, world_set = 0;

	cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "o:c:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': dest = optarg; break;
		case 'c': comp = optarg; break;
		case 'q': o.quiet = 1; break;
		case OPT_NO_SYNC: o.no_sync = 1; break;
		case OPT_SEED: o.seed = num("--seed", optarg); break;
		case OPT_EPOCH: o.epoch = num("--epoch", optarg); break;
		case OPT_RANK: o.rank = num("--rank", optarg); break;
		case OPT_WORLD: o.world = num("--world", optarg); world_set = 1; break;
		case OPT_BATCH: o.batch = num("--batch", optarg); break;
		case OPT_PAD: o.pad = 1; break;
		case OPT_SKIP: o.skip = num("--skip", optarg); break;
		case OPT_BLOCK: o.block = 1; break;
		case OPT_BUFFER: o.buffer = num("--buffer", optarg); break;
		case OPT_MEMORY:
			if (shard_parse_size(optarg, &o.memory) || !o.memory)
				cli_usage_error(usage, "invalid --memory '%s'", optarg);
			break;
		case OPT_TMPDIR: o.tmpbase = optarg; break;
		case OPT_HASHES: hashes = optarg; break;
		case OPT_SIZE:
			if (shard_parse_size(optarg, &size_limit))
				cli_usage_error(usage, "invalid --size-limit '%s'", optarg);
			break;
		case 'h': help();
		case 'V': cli_version();
		default: cli_usage_error(usage, "invalid option");
		}
	}
	(void)world_set;
	if (!dest)
		cli_usage_error(usage, "-o DEST is required ('-' for a shard stream on stdout)");
	if (optind != argc - 1)
		cli_usage_error(usage, optind == argc ? "missing input (a dataset directory, or - for a stream)"
						       : "one input at a time");
	if (o.world == 0 || o.rank >= o.world)
		cli_usage_error(usage, "--rank must be below --world (and --world at least 1)");
	if (o.batch == 0 && o.pad)
		cli_usage_error(usage, "--pad needs --batch");
	if (o.block && o.buffer)
		cli_usage_error(usage, "--block and --buffer are different shuffles: choose one");
	input = argv[optind];
	atexit(cleanup);
	cli_on_signal(on_signal, NULL);	/* the temporary files go after the sinks' */

	/* samples are counted one by one: the clock is looked at every 4096 */
	/* (a stream on stdout goes on down a pipeline, whose last program shows
	 * its own progress on the same terminal) */
	cli_progress_begin(&progress, "samples", 4096, !o.quiet && strcmp(dest, "-"));
	if (o.buffer)
		run_buffer(input, dest, comp, hashes, size_limit);
	else
		run_permuted(strcmp(input, "-") ? input : spool(), dest, comp, hashes, size_limit);

	if (shard_writer_finish(writer, &err))
		die(&err);
	cli_progress_end(&progress);
	if (!o.quiet)
		fprintf(stderr, "%s: %llu samples (rank %llu of %llu, seed %llu, epoch %llu)\n", cli_prog,
			(unsigned long long)shard_sink_samples(out_sink), (unsigned long long)o.rank,
			(unsigned long long)o.world, (unsigned long long)o.seed, (unsigned long long)o.epoch);
	if (cli_sink_close(out_sink, &err)) {
		out_sink = NULL;
		die(&err);
	}
	out_sink = NULL;
	shard_writer_free(writer);
	cleanup();
	return 0;
}
