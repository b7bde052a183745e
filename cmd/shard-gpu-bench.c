/* shard-gpu-bench: stream MDS shards into batches on a device, and measure it.
 *
 * Three stages overlap. A reader thread reads, decompresses and verifies the
 * next shard; the main thread gathers samples into per-column batch buffers
 * in a slot's host region (pinned memory for CUDA) and checksums them; the
 * device copies each submitted slot and checksums it where it landed. With
 * N slots, N batches are in flight: while the device works on one, the main
 * thread fills the next. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "cli.h"
#include "gpu.h"
#include "shard.h"

enum { EXIT_MISMATCH = 3, EXIT_NODEV = 4 };

static const char usage[] =
	"Usage: shard-gpu-bench [-d DEVICE] [-c COLS] [-b N] [-n SLOTS] [-j N] [--drop-last] [--peak]\n"
	"                       [--json] [--no-verify] [-q] [DIR|-]...\n";

static void __attribute__((noreturn)) help(void)
{
	printf("%s\n"
	       "Stream MDS datasets, loose shards or a shard stream on stdin (-, the default)\n"
	       "into batches of fixed-size columns on a device, checksum every batch there,\n"
	       "and report the throughput.\n\n"
	       "  -d, --device DEV     cpu, cuda, cuda:N, or auto (default: cuda:0 when there\n"
	       "                       is one, else cpu)\n"
	       "  -c, --columns LIST   fixed-size columns to move (default: all of them)\n"
	       "  -b, --batch N        samples per batch (default 1024)\n"
	       "  -n, --slots N        batches in flight, one stream each (default 3)\n"
	       "  -j, --threads N      threads decompressing shards (default: one per CPU, up to 4)\n"
	       "      --drop-last      leave out a last, partial batch\n"
	       "      --peak           also measure the device's peak copy bandwidth\n"
	       "      --json           the report as one JSON object on stdout's last line\n"
	       "      --no-verify      do not check shard hashes (sizes are always checked)\n"
	       "      --corrupt N      flip a bit of batch N after its host checksum (a self-test\n"
	       "                       of the checksum check: the run must fail)\n"
	       "  -q, --quiet          no report unless --json\n"
	       "  -h, --help           show this help\n"
	       "  -V, --version        show the version\n\n"
	       "Exit status: 0 success, 1 bad data or failure, 2 usage error, 3 a device\n"
	       "checksum differed from the host's, 4 the device is not available.\n",
	       usage);
	exit(0);
}

enum { OPT_DROP_LAST = 256, OPT_PEAK, OPT_JSON, OPT_NO_VERIFY, OPT_CORRUPT };

static const struct option longopts[] = {
	{"device", required_argument, NULL, 'd'},
	{"columns", required_argument, NULL, 'c'},
	{"batch", required_argument, NULL, 'b'},
	{"slots", required_argument, NULL, 'n'},
	{"threads", required_argument, NULL, 'j'},
	{"drop-last", no_argument, NULL, OPT_DROP_LAST},
	{"peak", no_argument, NULL, OPT_PEAK},
	{"json", no_argument, NULL, OPT_JSON},
	{"no-verify", no_argument, NULL, OPT_NO_VERIFY},
	{"corrupt", required_argument, NULL, OPT_CORRUPT},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

/* ---------------------------------------------------------------- the shard readers */

/* A fetcher thread takes shards from the inputs in order (reading or mapping
 * them, checking the stored bytes' hashes); loader threads decompress them,
 * several shards at once; the batching takes them back in order. Each of
 * the ring's slots goes FREE -> FETCHED -> LOADING -> READY (or FAILED). */
#define LOADERS_MAX 8
#define RING_MAX (LOADERS_MAX + 1)

enum { SLOT_FREE, SLOT_FETCHED, SLOT_LOADING, SLOT_READY, SLOT_FAILED };

struct reader {
	char **inputs;
	int ninputs, flags, verify, nloaders, ring;
	struct shard_item items[RING_MAX];
	char names[RING_MAX][PATH_MAX + 64];
	struct shard_error errs[RING_MAX];
	int state[RING_MAX];
	size_t stride[RING_MAX];	/* of a READY shard: see stride_of */
	uint64_t head, tail;	/* shards given to the batching so far; fetched so far */
	int done, stop, status;
	struct shard_error err;	/* the error that ended fetching, or the one returned */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t fetcher, loaders[LOADERS_MAX];
};

static void fetch_end(struct reader *r, const struct shard_error *err)
{
	pthread_mutex_lock(&r->mu);
	if (err) {
		r->err = *err;
		r->status = err->status ? err->status : SHARD_EDATA;
	}
	r->done = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static void *fetcher_main(void *arg)
{
	struct reader *r = arg;
	struct shard_error err = {0};
	for (int i = 0; i < r->ninputs; i++) {
		struct shard_source *src;
		if (shard_source_open(&src, r->inputs[i], r->flags, &err)) {
			fetch_end(r, &err);
			return NULL;
		}
		for (;;) {
			pthread_mutex_lock(&r->mu);
			while (r->tail - r->head == (uint64_t)r->ring && !r->stop)
				pthread_cond_wait(&r->cv, &r->mu);
			int stop = r->stop, slot = (int)(r->tail % r->ring);
			pthread_mutex_unlock(&r->mu);
			if (stop)
				break;
			/* a FREE slot: only this thread touches it until it is FETCHED */
			struct shard_item *it = &r->items[slot];
			int rc = shard_source_next(src, it, &err);
			if (rc == 0)
				break;
			if (rc < 0) {
				shard_source_close(src);
				fetch_end(r, &err);
				return NULL;
			}
			snprintf(r->names[slot], sizeof r->names[slot], "%s", it->name);
			it->name = r->names[slot];
			pthread_mutex_lock(&r->mu);
			r->state[slot] = SLOT_FETCHED;
			r->tail++;
			pthread_cond_broadcast(&r->cv);
			pthread_mutex_unlock(&r->mu);
		}
		shard_source_close(src);
	}
	fetch_end(r, NULL);
	return NULL;
}

/* The size all of a shard's samples share, or 0 if they differ: then they lie
 * back to back, and their starts can be computed instead of read. */
static size_t stride_of(const struct shard_mds *m)
{
	const uint8_t *o = m->data + 4;
	uint32_t first, prev, cur, bad = 0;
	if (!m->nsamples)
		return 0;
	memcpy(&first, o, 4);
	memcpy(&prev, o + 4, 4);
	uint32_t size = prev - first;
	for (uint32_t i = 2; i <= m->nsamples; i++, prev = cur) {
		memcpy(&cur, o + 4 * (size_t)i, 4);
		bad |= (cur - prev) ^ size;
	}
	return bad ? 0 : size;
}

/* The fetcher checks sizes only, and the loaders the hashes of the stored
 * bytes: several shards at once, beside the batching instead of in line with
 * the fetching. Compressed bytes whose hashes matched are what was written,
 * so the raw bytes they inflate to are checked for size only, and for their
 * own hashes only when the compressed file lists none (shard-index verify
 * checks both). */
static int load_shard(struct reader *r, struct shard_item *it, size_t *stride, struct shard_error *err)
{
	const struct shard_fileinfo *f = it->stored_is_zip ? &it->entry.zip : &it->entry.raw;
	int rc;
	if (r->verify && (rc = shard_fileinfo_verify(f, it->stored.p, it->stored.len, 1, it->name, err)))
		return rc;
	if ((rc = shard_item_load_raw(it, r->verify && !(it->stored_is_zip && f->nhashes), err)))
		return rc;
	*stride = stride_of(&it->mds);
	return 0;
}

static void *loader_main(void *arg)
{
	struct reader *r = arg;
	pthread_mutex_lock(&r->mu);
	for (;;) {
		int slot = -1;
		for (uint64_t q = r->head; q < r->tail && slot < 0; q++)
			if (r->state[q % r->ring] == SLOT_FETCHED)
				slot = (int)(q % r->ring);
		if (slot < 0) {
			if (r->stop || r->done)
				break;
			pthread_cond_wait(&r->cv, &r->mu);
			continue;
		}
		r->state[slot] = SLOT_LOADING;
		pthread_mutex_unlock(&r->mu);
		size_t stride = 0;
		int rc = load_shard(r, &r->items[slot], &stride, &r->errs[slot]);
		pthread_mutex_lock(&r->mu);
		r->stride[slot] = stride;
		r->state[slot] = rc ? SLOT_FAILED : SLOT_READY;
		pthread_cond_broadcast(&r->cv);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

static int reader_start(struct reader *r)
{
	r->ring = r->nloaders + 1;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	if (pthread_create(&r->fetcher, NULL, fetcher_main, r))
		return -1;
	for (int i = 0; i < r->nloaders; i++)
		if (pthread_create(&r->loaders[i], NULL, loader_main, r))
			return -1;
	return 0;
}

/* The next shard, ready to read, or NULL at the end or on an error
 * (r->status, r->err). The previous one goes back to the ring. */
static struct shard_item *reader_next(struct reader *r, struct shard_item *prev, size_t *stride, double *waited)
{
	struct shard_item *it = NULL;
	double t0 = cli_now();
	pthread_mutex_lock(&r->mu);
	if (prev) {
		r->state[r->head % r->ring] = SLOT_FREE;
		r->head++;
		pthread_cond_broadcast(&r->cv);
	}
	for (;;) {
		int slot = (int)(r->head % r->ring);
		if (r->head < r->tail && r->state[slot] == SLOT_READY) {
			it = &r->items[slot];
			*stride = r->stride[slot];
			break;
		}
		if (r->head < r->tail && r->state[slot] == SLOT_FAILED) {
			r->err = r->errs[slot];
			r->status = r->err.status ? r->err.status : SHARD_EDATA;
			break;
		}
		if (r->head == r->tail && r->done)
			break;
		pthread_cond_wait(&r->cv, &r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	*waited += cli_now() - t0;
	return it;
}

static void reader_stop(struct reader *r)
{
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->fetcher, NULL);
	for (int i = 0; i < r->nloaders; i++)
		pthread_join(r->loaders[i], NULL);
	for (int i = 0; i < r->ring; i++)
		shard_item_free(&r->items[i]);
}

/* ---------------------------------------------------------------- batches */

struct column {
	const char *name;
	int col;		/* index in the schema */
	size_t size;		/* bytes per sample */
	long off;		/* constant offset inside a sample, or -1 */
	size_t cap;		/* bytes reserved in a slot */
	size_t slot_off;
	int quad;		/* 1: the first of four 4-byte columns side by side in a
				 * sample, gathered together; -1: one of the other three */
};

struct bench {
	/* options */
	int batch, nslots, drop_last, peak, json, quiet, verify;
	long long corrupt;
	char **want;
	size_t nwant;
	const char *device;
	/* layout, from the first shard's schema */
	struct shard_schema schema;
	int have_schema;
	struct column *cols;
	size_t ncols, sample_bytes, table_off, slot_bytes;
	size_t need;		/* a sample must be at least this long (constant-offset columns) */
	size_t exact;		/* without variable columns, every sample is this long */
	int all_const;
	/* device */
	const struct gpu_backend *be;
	struct gpu_dev *dev;
	int dev_index;
	uint64_t *host_sums;	/* nslots * ncols */
	uint64_t *total_sums;	/* per column, the device sums of all batches */
	uint64_t *fill_sums;	/* per column, the checksum of the batch being filled, when
				 * gather computes it on the way (sizes a multiple of 4) */
	uint64_t *slot_batch;	/* batch number in each slot */
	int *busy;
	/* the batch being filled */
	int slot;
	size_t fill;
	const uint8_t **rows;
	struct shard_field *fields;
	/* counts */
	uint64_t samples, batches, bytes, mismatches, dropped, shards;
	double input_wait, reader_wait, t_open;
	char first_bad[256];
	char msg[1024];
};

static int same_schema(const struct shard_schema *a, const struct shard_schema *b)
{
	if (a->ncols != b->ncols)
		return 0;
	for (size_t i = 0; i < a->ncols; i++)
		if (strcmp(a->names[i], b->names[i]) || strcmp(a->enc_names[i], b->enc_names[i]) ||
		    a->enc[i].size != b->enc[i].size)
			return 0;
	return 1;
}

static void add_column(struct bench *b, size_t col, const struct shard_schema *s)
{
	struct column *c = &b->cols[b->ncols++];
	long off = 4 * (long)s->nvar;
	c->name = s->names[col];
	c->col = (int)col;
	c->size = s->enc[col].size;
	for (size_t j = 0; j < col && off >= 0; j++)
		off = s->enc[j].size ? off + (long)s->enc[j].size : -1;
	c->off = off;
	if (off < 0)
		b->all_const = 0;
	else if ((size_t)off + c->size > b->need)
		b->need = (size_t)off + c->size;
	b->sample_bytes += c->size;
}

/* Pick the columns and lay out a slot: each column's batch buffer on a
 * GPU_ALIGN boundary, then the descriptor table. */
static void layout(struct bench *b, const struct shard_item *it)
{
	const struct shard_schema *s = &it->entry.schema;
	if (shard_schema_init(&b->schema, s->ncols, (const char *const *)s->names,
			      (const char *const *)s->enc_names, 0, &(struct shard_error){0}))
		cli_die(CLI_FAIL, "out of memory");
	for (size_t i = 0; i < s->ncols; i++)
		shard_schema_set_size(&b->schema, i, s->enc[i].size);
	b->have_schema = 1;
	s = &b->schema;
	b->cols = calloc(b->nwant ? b->nwant : s->ncols, sizeof *b->cols);
	b->all_const = 1;
	for (size_t i = 0; !s->nvar && i < s->ncols; i++)
		b->exact += s->enc[i].size;
	if (!b->cols)
		cli_die(CLI_FAIL, "out of memory");
	if (b->nwant) {
		for (size_t i = 0; i < b->nwant; i++) {
			int col = shard_schema_index(s, b->want[i]);
			if (col < 0)
				cli_die(CLI_FAIL, "%s: no column '%s' (the columns are listed by shard-index info)", it->name,
					b->want[i]);
			if (!s->enc[col].size)
				cli_die(CLI_FAIL, "%s: column '%s' is %s, which has no fixed size; only fixed-size columns "
					"(numbers, ndarray with dtype and shape) go into batches", it->name, b->want[i],
					s->enc_names[col]);
			for (size_t j = 0; j < b->ncols; j++)
				if (b->cols[j].col == col)
					cli_die(CLI_USAGE, "column '%s' is named twice", b->want[i]);
			add_column(b, (size_t)col, s);
		}
	} else {
		for (size_t i = 0; i < s->ncols; i++)
			if (s->enc[i].size)
				add_column(b, i, s);
		if (!b->ncols)
			cli_die(CLI_FAIL, "%s: no fixed-size columns to move (all are variable-size: str, bytes, ...)",
				it->name);
	}
	size_t off = 0;
	for (size_t i = 0; i < b->ncols; i++) {
		struct column *c = &b->cols[i];
		size_t cap = ((size_t)b->batch * c->size + 3) & ~(size_t)3;
		if (c->size && (size_t)b->batch > (SIZE_MAX / 4) / c->size)
			cli_die(CLI_USAGE, "--batch %d is too large for column '%s'", b->batch, c->name);
		c->slot_off = off;
		c->cap = cap;
		off += (cap + GPU_ALIGN - 1) & ~(size_t)(GPU_ALIGN - 1);
	}
	b->table_off = off;
	b->slot_bytes = off + b->ncols * sizeof(struct gpu_coldesc);
	for (size_t i = 0; b->all_const && i + 4 <= b->ncols;) {
		struct column *c = &b->cols[i];
		int side = 1;
		for (size_t t = 0; t < 4; t++)
			side &= c[t].size == 4 && c[t].off == c->off + 4 * (long)t;
		if (!side) {
			i++;
			continue;
		}
		c[0].quad = 1;
		c[1].quad = c[2].quad = c[3].quad = -1;
		i += 4;
	}
	b->rows = calloc(b->batch, sizeof *b->rows);
	b->fields = calloc(s->ncols, sizeof *b->fields);
	b->host_sums = calloc((size_t)b->nslots * b->ncols, sizeof *b->host_sums);
	b->slot_batch = calloc(b->nslots, sizeof *b->slot_batch);
	b->busy = calloc(b->nslots, sizeof *b->busy);
	b->total_sums = calloc(b->ncols, sizeof *b->total_sums);
	b->fill_sums = calloc(b->ncols, sizeof *b->fill_sums);
	if (!b->rows || !b->fields || !b->host_sums || !b->slot_batch || !b->busy || !b->total_sums || !b->fill_sums)
		cli_die(CLI_FAIL, "out of memory");
}

static void device_fail(struct bench *b, int rc)
{
	if (rc == GPU_NODEV)
		cli_die(EXIT_NODEV, "%s", b->msg);
	cli_die(CLI_FAIL, "%s", b->msg);
}

static void open_device(struct bench *b)
{
	struct gpu_config cfg = {.nslots = b->nslots, .slot_bytes = b->slot_bytes, .ncols = b->ncols};
	double t0 = cli_now();
	int rc = b->be->open(&b->dev, b->dev_index, &cfg, b->msg, sizeof b->msg);
	if (rc)
		device_fail(b, rc);
	/* lay the descriptor table into every slot once: it never changes */
	for (int s = 0; s < b->nslots; s++) {
		struct gpu_coldesc *d = (struct gpu_coldesc *)(b->be->host(b->dev, s) + b->table_off);
		for (size_t i = 0; i < b->ncols; i++)
			d[i] = (struct gpu_coldesc){.off = b->cols[i].slot_off, .len = b->cols[i].cap};
	}
	b->t_open = cli_now() - t0;
}

static void check_sums(struct bench *b, int slot, const uint64_t *dev)
{
	const uint64_t *host = b->host_sums + (size_t)slot * b->ncols;
	for (size_t i = 0; i < b->ncols; i++)
		b->total_sums[i] += dev[i];
	for (size_t i = 0; i < b->ncols; i++)
		if (host[i] != dev[i]) {
			if (!b->mismatches)
				snprintf(b->first_bad, sizeof b->first_bad,
					 "batch %llu, column '%s': host checksum %016llx, device %016llx",
					 (unsigned long long)b->slot_batch[slot], b->cols[i].name,
					 (unsigned long long)host[i], (unsigned long long)dev[i]);
			b->mismatches++;
			return;
		}
}

/* Wait for the slot's previous batch, if any, and check its sums. */
static void reclaim(struct bench *b, int slot)
{
	uint64_t sums[b->ncols ? b->ncols : 1];
	double t0;
	int rc;
	if (!b->busy[slot])
		return;
	t0 = cli_now();
	if ((rc = b->be->wait(b->dev, slot, sums, b->msg, sizeof b->msg)))
		device_fail(b, rc);
	b->input_wait += cli_now() - t0;
	b->busy[slot] = 0;
	check_sums(b, slot, sums);
}

/* The filled slot: pad, checksum, hand to the device, move to the next. */
static void submit(struct bench *b)
{
	uint8_t *base = b->be->host(b->dev, b->slot);
	uint64_t *sums = b->host_sums + (size_t)b->slot * b->ncols;
	int rc;
	for (size_t i = 0; i < b->ncols; i++) {
		struct column *c = &b->cols[i];
		size_t used = b->fill * c->size;
		/* a short last batch: zero what an earlier, full one left behind */
		memset(base + c->slot_off + used, 0, c->cap - used);
		sums[i] = c->size % 4 || !b->all_const ? gpu_checksum(base + c->slot_off, c->cap) : b->fill_sums[i];
		b->fill_sums[i] = 0;
	}
	if (b->corrupt >= 0 && (uint64_t)b->corrupt == b->batches)
		base[b->cols[0].slot_off] ^= 1;
	b->slot_batch[b->slot] = b->batches;
	if ((rc = b->be->submit(b->dev, b->slot, b->slot_bytes, b->msg, sizeof b->msg)))
		device_fail(b, rc);
	b->busy[b->slot] = 1;
	b->samples += b->fill;
	b->bytes += b->fill * b->sample_bytes;
	b->batches++;
	b->fill = 0;
	b->slot = (b->slot + 1) % b->nslots;
	reclaim(b, b->slot);
}

/* Copy n samples (their starts in rows) into the batch at position fill,
 * column by column through blocks of samples small enough to stay in L1. */
static void gather_block(struct bench *b, const uint8_t **rows, size_t n);

static void gather(struct bench *b, const uint8_t **rows, size_t n, size_t stride)
{
	size_t last = b->need ? b->need - 1 : 0;
	for (size_t k = 0; k < n; k += 64) {
		/* the next block's bytes are on their way while this one is copied:
		 * shard pages are scattered, and hardware prefetch stops at each */
		size_t next = k + 64, end = k + 128 < n ? k + 128 : n;
		if (stride && next < end) {
			/* back to back: each cache line once */
			for (const uint8_t *p = rows[next]; p < rows[end - 1] + stride; p += 64)
				__builtin_prefetch(p);
		} else {
			for (size_t r = next; r < end; r++) {
				__builtin_prefetch(rows[r]);
				__builtin_prefetch(rows[r] + last);
			}
		}
		gather_block(b, rows + k, n - k < 64 ? n - k : 64);
	}
}

#ifdef __SSE2__
/* Four 4-byte columns side by side in each sample (cols[i..i+3]): 4 x 4
 * blocks of words transposed in registers, each column's four words stored
 * at once and checksummed with two 32 x 32 -> 64-bit multiplies. Starts at
 * row from (what the AVX2 code left), returns the rows done (from plus a
 * multiple of 4); the caller does the rest one by one. */
static size_t gather_quad(struct bench *b, uint8_t *base, size_t i, const uint8_t **rows, size_t n, size_t from)
{
	const struct column *c = &b->cols[i];
	size_t off = (size_t)c->off, pos = b->fill + from, k;
	uint8_t *d[4];
	__m128i acc[4], we, wo;
	const __m128i step = _mm_set_epi64x(8, 8);
	for (int t = 0; t < 4; t++) {
		d[t] = base + c[t].slot_off + 4 * pos;
		acc[t] = _mm_setzero_si128();
	}
	/* word j weighs 2j + 1: lanes 0 and 2 (rows k, k + 2), and 1 and 3 */
	we = _mm_set_epi64x((long long)(2 * pos + 5), (long long)(2 * pos + 1));
	wo = _mm_set_epi64x((long long)(2 * pos + 7), (long long)(2 * pos + 3));
	rows += from;
	n -= from;
	for (k = 0; k + 4 <= n; k += 4) {
		__m128i r0 = _mm_loadu_si128((const __m128i *)(rows[k] + off));
		__m128i r1 = _mm_loadu_si128((const __m128i *)(rows[k + 1] + off));
		__m128i r2 = _mm_loadu_si128((const __m128i *)(rows[k + 2] + off));
		__m128i r3 = _mm_loadu_si128((const __m128i *)(rows[k + 3] + off));
		__m128i t0 = _mm_unpacklo_epi32(r0, r1), t1 = _mm_unpacklo_epi32(r2, r3);
		__m128i t2 = _mm_unpackhi_epi32(r0, r1), t3 = _mm_unpackhi_epi32(r2, r3);
		__m128i col[4] = {_mm_unpacklo_epi64(t0, t1), _mm_unpackhi_epi64(t0, t1), _mm_unpacklo_epi64(t2, t3),
				  _mm_unpackhi_epi64(t2, t3)};
		for (int t = 0; t < 4; t++) {
			_mm_storeu_si128((__m128i *)(d[t] + 4 * k), col[t]);
			acc[t] = _mm_add_epi64(acc[t], _mm_mul_epu32(col[t], we));
			acc[t] = _mm_add_epi64(acc[t], _mm_mul_epu32(_mm_srli_epi64(col[t], 32), wo));
		}
		we = _mm_add_epi64(we, step);
		wo = _mm_add_epi64(wo, step);
	}
	for (int t = 0; t < 4; t++) {
		uint64_t lanes[2];
		_mm_storeu_si128((__m128i *)lanes, acc[t]);
		b->fill_sums[i + t] += lanes[0] + lanes[1];
	}
	return from + k;
}
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_AVX2_QUAD 1
/* gather_quad eight rows a step in AVX2: rows k..k+3 in the low lanes and
 * k+4..k+7 in the high ones, so the same in-lane unpacks give each column's
 * eight words in order. Returns the rows done (a multiple of 8). */
__attribute__((target("avx2"))) static size_t gather_quad_avx2(struct bench *b, uint8_t *base, size_t i,
							       const uint8_t **rows, size_t n)
{
	const struct column *c = &b->cols[i];
	size_t off = (size_t)c->off, pos = b->fill, k;
	uint8_t *d[4];
	__m256i acc[4];
	__m256i we = _mm256_set_epi64x((long long)(2 * pos + 13), (long long)(2 * pos + 9), (long long)(2 * pos + 5),
				       (long long)(2 * pos + 1));
	__m256i wo = _mm256_add_epi64(we, _mm256_set1_epi64x(2));
	const __m256i step = _mm256_set1_epi64x(16);
	for (int t = 0; t < 4; t++) {
		d[t] = base + c[t].slot_off + 4 * pos;
		acc[t] = _mm256_setzero_si256();
	}
#define ROWS2(x, y)                                                                                   \
	_mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(rows[x] + off))), \
				_mm_loadu_si128((const __m128i *)(rows[y] + off)), 1)
	for (k = 0; k + 8 <= n; k += 8) {
		__m256i r0 = ROWS2(k, k + 4), r1 = ROWS2(k + 1, k + 5);
		__m256i r2 = ROWS2(k + 2, k + 6), r3 = ROWS2(k + 3, k + 7);
		__m256i t0 = _mm256_unpacklo_epi32(r0, r1), t1 = _mm256_unpacklo_epi32(r2, r3);
		__m256i t2 = _mm256_unpackhi_epi32(r0, r1), t3 = _mm256_unpackhi_epi32(r2, r3);
		__m256i col[4] = {_mm256_unpacklo_epi64(t0, t1), _mm256_unpackhi_epi64(t0, t1),
				  _mm256_unpacklo_epi64(t2, t3), _mm256_unpackhi_epi64(t2, t3)};
		for (int t = 0; t < 4; t++) {
			_mm256_storeu_si256((__m256i *)(d[t] + 4 * k), col[t]);
			acc[t] = _mm256_add_epi64(acc[t], _mm256_mul_epu32(col[t], we));
			acc[t] = _mm256_add_epi64(acc[t], _mm256_mul_epu32(_mm256_srli_epi64(col[t], 32), wo));
		}
		we = _mm256_add_epi64(we, step);
		wo = _mm256_add_epi64(wo, step);
	}
#undef ROWS2
	for (int t = 0; t < 4; t++) {
		uint64_t lanes[4];
		_mm256_storeu_si256((__m256i *)lanes, acc[t]);
		b->fill_sums[i + t] += lanes[0] + lanes[1] + lanes[2] + lanes[3];
	}
	return k;
}
#endif

static void gather_block(struct bench *b, const uint8_t **rows, size_t n)
{
	uint8_t *base = b->be->host(b->dev, b->slot);
	size_t done = 0;	/* rows of the current quad already gathered */
	for (size_t i = 0; i < b->ncols; i++) {
		const struct column *c = &b->cols[i];
		size_t from = 0;
#ifdef __SSE2__
		if (c->quad == 1) {
			done = 0;
#ifdef HAVE_AVX2_QUAD
			if (gpu_use_avx2)
				done = gather_quad_avx2(b, base, i, rows, n);
#endif
			done = gather_quad(b, base, i, rows, n, done);
		}
		if (c->quad)
			from = done;
#endif
		uint8_t *dst = base + c->slot_off + b->fill * c->size;
		size_t off = (size_t)c->off, k;
		if (from == n)
			continue;
		/* columns of whole 32-bit words are checksummed on the way:
		 * word j of the column buffer weighs 2j + 1 (see gpu.h) */
		uint64_t s = 0, j = (b->fill + from) * (c->size / 4);
		switch (c->size) {
		case 4:
			for (k = from; k < n; k++, j++) {
				uint32_t w;
				memcpy(&w, rows[k] + off, 4);
				memcpy(dst + 4 * k, &w, 4);
				s += (uint64_t)w * (2 * j + 1);
			}
			break;
		case 8:
			for (k = 0; k < n; k++, j += 2) {
				uint32_t w[2];
				memcpy(w, rows[k] + off, 8);
				memcpy(dst + 8 * k, w, 8);
				s += (uint64_t)w[0] * (2 * j + 1) + (uint64_t)w[1] * (2 * j + 3);
			}
			break;
		case 2:
			for (k = 0; k < n; k++)
				memcpy(dst + 2 * k, rows[k] + off, 2);
			break;
		case 1:
			for (k = 0; k < n; k++)
				dst[k] = rows[k][off];
			break;
		default:
			for (k = 0; k < n; k++)
				memcpy(dst + c->size * k, rows[k] + off, c->size);
			if (c->size % 4 == 0) {
				for (k = 0; k < n * c->size / 4; k++, j++) {
					uint32_t w;
					memcpy(&w, dst + 4 * k, 4);
					s += (uint64_t)w * (2 * j + 1);
				}
			}
		}
		b->fill_sums[i] += s;
	}
	b->fill += n;
}

/* A sample whose columns have no constant offsets: split it. */
static void gather_split(struct bench *b, const struct shard_item *it, uint32_t idx, const uint8_t *p, size_t n)
{
	uint8_t *base = b->be->host(b->dev, b->slot);
	struct shard_error err;
	if (shard_sample_split(&b->schema, p, n, b->fields, &err))
		cli_die(CLI_FAIL, "%s: sample %u: %s", it->name, idx, err.msg);
	for (size_t i = 0; i < b->ncols; i++) {
		const struct column *c = &b->cols[i];
		memcpy(base + c->slot_off + b->fill * c->size, b->fields[c->col].p, c->size);
	}
	b->fill++;
}

static void take_shard(struct bench *b, const struct shard_item *it, size_t stride)
{
	const struct shard_mds *m = &it->mds;
	/* without variable-size columns every sample must be b->exact bytes */
	int even = b->exact && b->all_const && stride == b->exact;
	const uint8_t *first = NULL;
	uint32_t i = 0;
	if (even && m->nsamples) {
		size_t len;
		shard_mds_sample(m, 0, &first, &len);
	}
	while (i < m->nsamples) {
		size_t room = (size_t)b->batch - b->fill, n = 0;
		if (even) {
			for (; n < room && i < m->nsamples; i++, n++)
				b->rows[n] = first + (size_t)i * b->exact;
		}
		for (; n < room && i < m->nsamples; i++, n++) {
			const uint8_t *p;
			size_t len;
			shard_mds_sample(m, i, &p, &len);
			if (!b->all_const) {
				gather_split(b, it, i, p, len);
				continue;
			}
			if (len < b->need || (b->exact && len != b->exact))
				cli_die(CLI_FAIL, "%s: sample %u is %zu bytes long; its columns take %zu", it->name, i,
					len, b->exact ? b->exact : b->need);
			b->rows[n] = p;
		}
		if (n && b->all_const)
			gather(b, b->rows, n, even ? b->exact : 0);
		if (b->fill == (size_t)b->batch)
			submit(b);
	}
}

static int parse_device(struct bench *b, const char *s)
{
	char *end;
	b->dev_index = 0;
	if (!strcmp(s, "cpu") || !strcmp(s, "cpu:0")) {
		b->be = &gpu_cpu_backend;
		return 0;
	}
	if (!strcmp(s, "auto")) {
		b->be = NULL;
		return 0;
	}
	if (strncmp(s, "cuda", 4) || (s[4] && s[4] != ':'))
		return -1;
	if (s[4] == ':') {
		errno = 0;
		long v = strtol(s + 5, &end, 10);
		if (errno || *end || end == s + 5 || v < 0 || v > 1024)
			return -1;
		b->dev_index = (int)v;
	}
#ifdef HAVE_CUDA
	b->be = &gpu_cuda_backend;
	return 0;
#else
	cli_die(EXIT_NODEV, "%s: this shard-gpu-bench was built without CUDA (configure found no CUDA Toolkit); "
		"use --device cpu", s);
#endif
}

/* Whether the backend's device index opens: 0, or the backend's status with
 * b->msg set. Asked before any input is read, so a missing GPU is said at
 * once, not after the first shard (or never, on a terminal). */
static int probe(struct bench *b, const struct gpu_backend *be, int index)
{
	struct gpu_config cfg = {.nslots = 1, .slot_bytes = 4096, .ncols = 0};
	struct gpu_dev *d;
	int rc = be->open(&d, index, &cfg, b->msg, sizeof b->msg);
	if (rc == 0)
		be->close(d);
	return rc;
}

/* auto: CUDA when a device answers, else the CPU. */
static void pick_auto(struct bench *b)
{
#ifdef HAVE_CUDA
	if (probe(b, &gpu_cuda_backend, 0) == 0) {
		b->be = &gpu_cuda_backend;
		return;
	}
	if (!b->quiet && !b->json)
		cli_warn("%s; using --device cpu", b->msg);
#endif
	b->be = &gpu_cpu_backend;
}

/* Append s as a JSON string (ASCII, escaped). */
static void json_str(struct shard_buf *o, const char *s)
{
	json_t *j = json_string(s);
	char *t = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;
	shard_buf_printf(o, "%s", t ? t : "null");
	free(t);
	json_decref(j);
}

static void json_num(struct shard_buf *o, const char *key, double v)
{
	shard_buf_printf(o, ", \"%s\": %.6g", key, v);
}

static void report(struct bench *b, double secs, const struct gpu_stats *st, const struct gpu_peak *pk, long rss)
{
	double device_wait = secs > st->busy ? secs - st->busy : 0;
	double sps = secs > 0 ? b->samples / secs : 0, bps = secs > 0 ? b->bytes / secs : 0;
	double copied = (double)b->batches * b->slot_bytes;
	double h2d = st->copy_seconds > 0 ? copied / st->copy_seconds : 0;
	if (b->json) {
		struct shard_buf o = {0};
		shard_buf_printf(&o, "{\"device\": ");
		json_str(&o, st->name);
		shard_buf_printf(&o, ", \"backend\": \"%s\", \"columns\": [", b->be->name);
		for (size_t i = 0; i < b->ncols; i++) {
			shard_buf_printf(&o, "%s", i ? ", " : "");
			json_str(&o, b->cols[i].name);
		}
		shard_buf_printf(&o, "], \"batch\": %d, \"slots\": %d, \"shards\": %llu, \"samples\": %llu, "
			     "\"batches\": %llu, \"bytes\": %llu, \"dropped\": %llu, \"sample_bytes\": %zu",
			     b->batch, b->nslots, (unsigned long long)b->shards, (unsigned long long)b->samples,
			     (unsigned long long)b->batches, (unsigned long long)b->bytes,
			     (unsigned long long)b->dropped, b->sample_bytes);
		json_num(&o, "seconds", secs);
		json_num(&o, "samples_per_s", sps);
		json_num(&o, "bytes_per_s", bps);
		json_num(&o, "device_wait_s", device_wait);
		json_num(&o, "input_wait_s", b->input_wait);
		json_num(&o, "reader_wait_s", b->reader_wait);
		json_num(&o, "device_busy_s", st->busy);
		json_num(&o, "setup_s", b->t_open);
		shard_buf_printf(&o, ", \"checksum_mismatches\": %llu, \"checksums\": {", (unsigned long long)b->mismatches);
		for (size_t i = 0; i < b->ncols; i++) {
			shard_buf_printf(&o, "%s", i ? ", " : "");
			json_str(&o, b->cols[i].name);
			shard_buf_printf(&o, ": \"%016llx\"", (unsigned long long)b->total_sums[i]);
		}
		shard_buf_printf(&o, "}");
		json_num(&o, "h2d_bytes_per_s", h2d);
		json_num(&o, "copy_s", st->copy_seconds);
		shard_buf_printf(&o, ", \"device_batches_by_host\": %llu", st->by_host);
		shard_buf_printf(&o, ", \"peak_rss_kib\": %ld", rss);
		if (pk) {
			shard_buf_printf(&o, ", \"peak\": {\"big_block\": %zu, \"batch_block\": %zu", pk->big_block,
				     pk->batch_block);
			json_num(&o, "pinned_bytes_per_s", pk->pinned_big);
			json_num(&o, "pageable_bytes_per_s", pk->pageable_big);
			json_num(&o, "pinned_batch_bytes_per_s", pk->pinned_batch);
			json_num(&o, "h2d_fraction_of_peak", pk->pinned_batch > 0 ? h2d / pk->pinned_batch : 0);
			shard_buf_printf(&o, "}");
		}
		shard_buf_printf(&o, "}\n");
		cli_out(o.p, o.len);
		shard_buf_free(&o);
		return;
	}
	if (b->quiet)
		return;
	printf("device        %s\n", st->name);
	printf("columns       %zu (%zu bytes a sample):", b->ncols, b->sample_bytes);
	for (size_t i = 0; i < b->ncols; i++)
		printf(" %s", b->cols[i].name);
	printf("\n");
	printf("samples       %llu in %llu batches of %d, %d in flight, from %llu shards", (unsigned long long)b->samples,
	       (unsigned long long)b->batches, b->batch, b->nslots, (unsigned long long)b->shards);
	if (b->dropped)
		printf(" (%llu dropped: --drop-last)", (unsigned long long)b->dropped);
	printf("\nbytes         %llu\n", (unsigned long long)b->bytes);
	printf("time          %.3f s (device setup %.3f s more)\n", secs, b->t_open);
	printf("throughput    %.0f samples/s, %.1f MB/s\n", sps, bps / 1e6);
	printf("waits         device waited %.3f s for input, input waited %.3f s for the device,\n"
	       "              batching waited %.3f s for the shard reader\n", device_wait, b->input_wait, b->reader_wait);
	printf("copies        %.3f s, %.2f GB/s host to device", st->copy_seconds, h2d / 1e9);
	if (st->by_host)
		printf(" (%llu batches copied by the batching thread%s)", st->by_host,
		       st->by_host < b->batches ? ", the copy thread not having started them" : "");
	printf("\n");
	if (pk) {
		printf("peak          pinned %.2f GB/s (%zu MiB blocks), pageable %.2f GB/s, pinned %.2f GB/s in "
		       "%zu-byte blocks: this run reached %.0f%% of it\n",
		       pk->pinned_big / 1e9, pk->big_block >> 20, pk->pageable_big / 1e9, pk->pinned_batch / 1e9,
		       pk->batch_block, pk->pinned_batch > 0 ? 100 * h2d / pk->pinned_batch : 0);
	}
	printf("checksums     %llu batches checked on the device, %llu mismatched\n", (unsigned long long)b->batches,
	       (unsigned long long)b->mismatches);
	printf("peak RSS      %ld KiB\n", rss);
}

int main(int argc, char **argv)
{
	struct bench b = {.batch = 1024, .nslots = 3, .verify = 1, .corrupt = -1, .device = "auto"};
	struct reader r = {0};
	uint64_t v;
	int c, threads = 0;

	cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "d:c:b:n:j:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			b.device = optarg;
			break;
		case 'c':
			free(b.want ? b.want[0] : NULL);
			free(b.want);
			b.want = cli_split(optarg, &b.nwant);
			if (!b.nwant)
				cli_usage_error(usage, "--columns needs at least one column name");
			break;
		case 'b':
			if (cli_parse_u64(optarg, &v) || v < 1 || v > (1u << 24))
				cli_usage_error(usage, "--batch: '%s' is not a count from 1 to 16777216", optarg);
			b.batch = (int)v;
			break;
		case 'n':
			if (cli_parse_u64(optarg, &v) || v < 1 || v > 16)
				cli_usage_error(usage, "--slots: '%s' is not a count from 1 to 16", optarg);
			b.nslots = (int)v;
			break;
		case 'j':
			if (cli_parse_u64(optarg, &v) || v < 1 || v > LOADERS_MAX)
				cli_usage_error(usage, "--threads: '%s' is not a count from 1 to %d", optarg, LOADERS_MAX);
			threads = (int)v;
			break;
		case OPT_DROP_LAST:
			b.drop_last = 1;
			break;
		case OPT_PEAK:
			b.peak = 1;
			break;
		case OPT_JSON:
			b.json = 1;
			break;
		case OPT_NO_VERIFY:
			b.verify = 0;
			break;
		case OPT_CORRUPT:
			if (cli_parse_u64(optarg, &v) || v > (uint64_t)LLONG_MAX)
				cli_usage_error(usage, "--corrupt: '%s' is not a batch number", optarg);
			b.corrupt = (long long)v;
			break;
		case 'q':
			b.quiet = 1;
			break;
		case 'h':
			help();
		case 'V':
			cli_version();
		default:
			cli_usage_error(usage, NULL);
		}
	}
#ifdef HAVE_AVX2_QUAD
	gpu_use_avx2 = __builtin_cpu_supports("avx2") && !getenv("SHARDKIT_NO_AVX2");
#endif
	if (parse_device(&b, b.device))
		cli_usage_error(usage, "--device: '%s' is not cpu, cuda, cuda:N or auto", b.device);
	if (!b.be)
		pick_auto(&b);
	else if ((c = probe(&b, b.be, b.dev_index)))
		device_fail(&b, c);

	static char *stdin_input[] = {"-"};
	r.inputs = optind < argc ? argv + optind : stdin_input;
	r.ninputs = optind < argc ? argc - optind : 1;
	r.verify = b.verify;
	r.flags = SHARD_SRC_MAP;	/* hashes: see load_shard */
	if (!threads) {
		int n = gpu_cpus();
		threads = n > 4 ? 4 : n;
	}
	r.nloaders = threads;

	double t0 = cli_now();
	if (reader_start(&r))
		cli_die(CLI_FAIL, "cannot start the reader threads");
	struct shard_item *it = NULL;
	size_t stride = 0;
	while ((it = reader_next(&r, it, &stride, &b.reader_wait))) {
		if (!b.have_schema) {
			layout(&b, it);
			open_device(&b);
		} else if (!same_schema(&b.schema, &it->entry.schema)) {
			cli_die(CLI_FAIL, "%s: its columns differ from the first shard's; one run moves one schema",
				it->name);
		}
		b.shards++;
		take_shard(&b, it, stride);
	}
	if (r.status)
		cli_die_err(&r.err);
	if (!b.have_schema)
		cli_die(CLI_FAIL, "the input holds no shards");
	if (b.fill && b.drop_last) {
		b.dropped = b.fill;
		b.fill = 0;
	}
	if (b.fill)
		submit(&b);
	for (int s = 0; s < b.nslots; s++)
		reclaim(&b, s);
	double secs = cli_now() - t0 - b.t_open;
	reader_stop(&r);

	struct gpu_stats st = {0};
	struct gpu_peak pk = {0};
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	b.be->stats(b.dev, &st);
	if (b.peak && (c = b.be->peak(b.dev, b.slot_bytes, &pk, b.msg, sizeof b.msg)))
		device_fail(&b, c);
	report(&b, secs, &st, b.peak ? &pk : NULL, ru.ru_maxrss);
	cli_out_flush();
	b.be->close(b.dev);
	if (b.mismatches)
		cli_warn("%llu of %llu batches arrived with a different checksum; the first: %s",
			 (unsigned long long)b.mismatches, (unsigned long long)b.batches, b.first_bad);
	shard_schema_free(&b.schema);
	free(b.cols);
	free(b.rows);
	free(b.fields);
	free(b.host_sums);
	free(b.slot_batch);
	free(b.busy);
	free(b.total_sums);
	free(b.fill_sums);
	if (b.want)
		free(b.want[0]);
	free(b.want);
	return b.mismatches ? EXIT_MISMATCH : CLI_OK;
}
