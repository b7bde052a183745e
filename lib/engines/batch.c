/* The batcher: shards from datasets, loose files or the shard stream are
 * read, verified and decompressed ahead on the pool, and their samples'
 * fixed-size columns gathered into batches in memory the caller provides,
 * each column's bytes back to back (the layout in shard.h).
 *
 * Reading runs as a chain of tasks over a ring of shard slots: a slot's task
 * reads the next shard from the inputs (one task at a time, since the
 * inputs are read in order), submits the next slot's task when the ring has
 * room, then checks and decompresses its own shard, beside the next read
 * and several shards at once. The batching takes the slots back in order,
 * waiting for the oldest (or running it, when no worker has started it);
 * freeing a slot restarts the chain if it stopped for want of room. Each
 * stretch of samples a batch takes from a shard is gathered by a few tasks
 * over parts of it, the calling thread doing the first. */
#define _GNU_SOURCE
#include "config.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "shard.h"
#include "internal.h"

/* Shards read ahead at most, beside the one being batched. */
#define AHEAD_MAX 8
/* Gather tasks a stretch of one shard is split into at most, and the least
 * bytes worth a task of its own. */
#define GATHER_MAX 16
#define GATHER_MIN_BYTES (64 << 10)
/* Rows a gather task lines up at once. */
#define ROWS 1024

enum { SLOT_END = 0, SLOT_ITEM = 1, SLOT_FAILED = -1 };

struct slot {
	struct shard_task task;
	struct shard_batcher *b;
	struct shard_item item;
	char name[PATH_MAX + 64];
	struct shard_error err;
	int rc;			/* SLOT_* once its task ran */
	size_t stride;		/* of a loaded shard: see stride_of */
	/* the place of its faults: read from a stream, and which shard of its
	 * dataset's index (SHARD_UNKNOWN for a stream or a loose file) */
	int stream;
	uint64_t shard_no;
};

/* One batch column; quad: 1 for the first of four 4-byte columns side by
 * side in a sample, gathered together, -1 for one of the other three. */
struct column {
	int col;		/* index in the schema */
	size_t size, cap, slot_off;
	long off;		/* constant offset inside a sample, or -1 */
	int quad;
};

struct gather {
	struct shard_task task;
	struct shard_batcher *b;
	uint8_t *base;
	const struct slot *slot;
	const struct shard_item *it;
	size_t stride;
	uint32_t first, n;	/* the shard's samples [first, first + n) */
	size_t pos;		/* batch position of the first */
	const uint8_t *rows[ROWS];
	struct shard_field *fields;	/* schema ncols */
	uint64_t *sums;		/* per column */
	int rc;
	struct shard_error err;
};

struct shard_batcher {
	struct shard_batch_opts o;
	char **inputs;
	size_t ninputs;
	struct shard_pool *pool, *own_pool;
	int avx2;
	/* the reading chain: inputs and src are the running read task's alone */
	size_t input;
	struct shard_source *src;
	uint64_t src_shards;	/* shards read from src so far */
	struct slot *ring;
	unsigned nring;
	pthread_mutex_t mu;
	uint64_t head, tail;	/* slots given back so far; submitted so far */
	int parked, stop;
	/* the shard being batched: ring[head % nring] once taken */
	int have, ended, end_rc;
	struct shard_error end_err;
	uint32_t next_sample;
	/* layout, from the first shard */
	int laid_out;
	struct shard_schema schema;
	struct column *cols;
	struct shard_batch_column *pub;
	size_t ncols, sample_bytes, bytes;
	size_t need;		/* a sample must be at least this long (constant-offset columns) */
	size_t exact;		/* without variable columns, every sample is this long */
	int all_const;
	/* gathering */
	struct gather *g;	/* GATHER_MAX */
	uint64_t *sums;
	/* counts */
	uint64_t shards, dropped;
	double reader_wait;
};

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- checksums */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_AVX2 1
/* Eight words a step in AVX2, the even and odd words' products in two
 * accumulators, so no step waits on the one before. Returns the words done,
 * their sum in *s; weights must fit in 32 bits (the caller checks). */
__attribute__((target("avx2"))) static size_t checksum_avx2(const uint8_t *b, size_t words, uint64_t *s)
{
	__m256i ae = _mm256_setzero_si256(), ao = _mm256_setzero_si256();
	__m256i we = _mm256_set_epi64x(13, 9, 5, 1), wo = _mm256_set_epi64x(15, 11, 7, 3);
	const __m256i step = _mm256_set1_epi64x(16);
	size_t i = 0;
	for (; i + 8 <= words; i += 8) {
		__m256i v = _mm256_loadu_si256((const __m256i *)(b + 4 * i));
		ae = _mm256_add_epi64(ae, _mm256_mul_epu32(v, we));
		ao = _mm256_add_epi64(ao, _mm256_mul_epu32(_mm256_srli_epi64(v, 32), wo));
		we = _mm256_add_epi64(we, step);
		wo = _mm256_add_epi64(wo, step);
	}
	uint64_t lanes[4];
	_mm256_storeu_si256((__m256i *)lanes, _mm256_add_epi64(ae, ao));
	*s = lanes[0] + lanes[1] + lanes[2] + lanes[3];
	return i;
}
#endif

/* The AVX2 code paths where the CPU has AVX2 and SHARDKIT_NO_AVX2 is unset
 * (the tests run both ways). */
static int use_avx2(void)
{
#ifdef HAVE_AVX2
	return __builtin_cpu_supports("avx2") && !getenv("SHARDKIT_NO_AVX2");
#else
	return 0;
#endif
}

uint64_t shard_batch_checksum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t s0 = 0, s1 = 0, j = 0;
	size_t words = n / 4, i = 0;
	/* the vector paths multiply 32 x 32 -> 64 bits: weights below 2^32 */
	int narrow = words < ((size_t)1 << 31) - 8;
#ifdef HAVE_AVX2
	if (narrow && use_avx2()) {
		i = j = checksum_avx2(b, words, &s0);
		narrow = 0;
	}
#endif
#ifdef __SSE2__
	/* four words a step: lanes 0 and 2, and 1 and 3, in two accumulators */
	if (narrow) {
		__m128i ae = _mm_setzero_si128(), ao = _mm_setzero_si128();
		__m128i we = _mm_set_epi64x(5, 1), wo = _mm_set_epi64x(7, 3);
		const __m128i step = _mm_set_epi64x(8, 8);
		uint64_t lanes[2];
		for (; i + 4 <= words; i += 4, j += 4) {
			__m128i v = _mm_loadu_si128((const __m128i *)(b + 4 * i));
			ae = _mm_add_epi64(ae, _mm_mul_epu32(v, we));
			ao = _mm_add_epi64(ao, _mm_mul_epu32(_mm_srli_epi64(v, 32), wo));
			we = _mm_add_epi64(we, step);
			wo = _mm_add_epi64(wo, step);
		}
		_mm_storeu_si128((__m128i *)lanes, _mm_add_epi64(ae, ao));
		s0 = lanes[0] + lanes[1];
	}
#endif
	/* two words a step, two sums: short dependency chains */
	for (; i + 1 < words; i += 2, j += 2) {
		uint32_t w0, w1;
		memcpy(&w0, b + 4 * i, 4);
		memcpy(&w1, b + 4 * i + 4, 4);
		s0 += (uint64_t)w0 * (2 * j + 1);
		s1 += (uint64_t)w1 * (2 * j + 3);
	}
	for (; i < words; i++, j++) {
		uint32_t w;
		memcpy(&w, b + 4 * i, 4);
		s0 += (uint64_t)w * (2 * j + 1);
	}
	return s0 + s1;
}

/* ---------------------------------------------------------------- reading */

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

/* The next shard of the inputs into s: SLOT_ITEM, SLOT_END or SLOT_FAILED. */
static int fetch(struct shard_batcher *b, struct slot *s)
{
	for (;;) {
		int rc;
		if (!b->src) {
			if (b->input == b->ninputs)
				return SLOT_END;
			/* sizes here, hashes in load: see there */
			if (shard_source_open(&b->src, b->inputs[b->input++], SHARD_SRC_MAP, &s->err))
				return SLOT_FAILED;
			b->src_shards = 0;
		}
		rc = shard_source_next(b->src, &s->item, &s->err);
		if (rc > 0)
			break;
		shard_source_close(b->src);
		b->src = NULL;
		if (rc < 0)
			return SLOT_FAILED;
	}
	snprintf(s->name, sizeof s->name, "%s", s->item.name);
	s->item.name = s->name;
	const struct shard_index *ix = shard_source_index(b->src);
	s->stream = !ix;
	s->shard_no = ix && ix->nshards ? b->src_shards : SHARD_UNKNOWN;
	b->src_shards++;
	return SLOT_ITEM;
}

/* Say where a fault of the slot's shard lies (sample: SHARD_UNKNOWN for the
 * whole shard), unless a call below said so already. Returns the status. */
static int place(const struct slot *s, struct shard_error *err, uint64_t sample)
{
	if (err->file[0])
		return err->status;
	shard_error_file(err, s->stream ? "<stdin>" : s->name);
	return shard_error_item(err, s->shard_no, sample);
}

/* Reading checks sizes only, and loading the hashes of the stored bytes:
 * several shards at once, beside the reading instead of in line with it.
 * Compressed bytes whose hashes matched are what was written, so the raw
 * bytes they inflate to are checked for size only, and for their own hashes
 * only when the compressed file lists none (shard-index verify checks both). */
static int load(struct shard_batcher *b, struct slot *s)
{
	struct shard_item *it = &s->item;
	const struct shard_fileinfo *f = it->stored_is_zip ? &it->entry.zip : &it->entry.raw;
	int verify = !b->o.no_verify;
	if ((verify && shard_fileinfo_verify(f, it->stored.p, it->stored.len, 1, it->name, &s->err)) ||
	    shard_item_load_raw(it, verify && !(it->stored_is_zip && f->nhashes), &s->err)) {
		place(s, &s->err, SHARD_UNKNOWN);
		return SLOT_FAILED;
	}
	s->stride = stride_of(&it->mds);
	return SLOT_ITEM;
}

/* The next slot's task, when the ring has room; else the chain parks until
 * the batching gives a slot back. Called with b->mu held. */
static void chain_next(struct shard_batcher *b)
{
	if (b->stop)
		return;
	if (b->tail - b->head < b->nring) {
		shard_pool_submit(b->pool, &b->ring[b->tail++ % b->nring].task);
		b->parked = 0;
	} else {
		b->parked = 1;
	}
}

static void read_task(struct shard_task *t)
{
	struct slot *s = (struct slot *)t;
	struct shard_batcher *b = s->b;
	pthread_mutex_lock(&b->mu);
	int stop = b->stop;
	pthread_mutex_unlock(&b->mu);
	s->rc = stop ? SLOT_END : fetch(b, s);
	if (s->rc != SLOT_ITEM) {
		if (s->rc == SLOT_FAILED && !s->err.status)
			s->err.status = SHARD_EDATA;
		return;
	}
	pthread_mutex_lock(&b->mu);
	chain_next(b);
	pthread_mutex_unlock(&b->mu);
	s->rc = load(b, s);
	if (s->rc == SLOT_FAILED && !s->err.status)
		s->err.status = SHARD_EDATA;
}

/* Give the shard being batched back to the ring (its buffers stay, for the
 * shard read into the slot next). */
static void give_back(struct shard_batcher *b)
{
	b->have = 0;
	pthread_mutex_lock(&b->mu);
	b->head++;
	if (b->parked)
		chain_next(b);
	pthread_mutex_unlock(&b->mu);
}

/* The next shard, in b->ring[b->head % nring], or its end (SLOT_END) or
 * failure (SLOT_FAILED, the error in b->end_err), which stay. */
static int take(struct shard_batcher *b)
{
	if (b->ended)
		return b->end_rc;
	if (b->have)
		give_back(b);
	struct slot *s = &b->ring[b->head % b->nring];
	double t0 = now();
	shard_pool_wait(b->pool, &s->task);
	b->reader_wait += now() - t0;
	if (s->rc != SLOT_ITEM) {
		b->ended = 1;
		b->end_rc = s->rc;
		b->end_err = s->err;
		return s->rc;
	}
	b->have = 1;
	b->next_sample = 0;
	return SLOT_ITEM;
}

/* ---------------------------------------------------------------- layout */

/* The same columns, and the same sizes index.json gives them: a batch's
 * layout holds for every shard. */
static int same_schema(const struct shard_schema *a, const struct shard_schema *b)
{
	if (!shard_schema_same(a, b))
		return 0;
	for (size_t i = 0; i < a->ncols; i++)
		if (a->enc[i].size != b->enc[i].size)
			return 0;
	return 1;
}

static void add_column(struct shard_batcher *b, size_t col)
{
	const struct shard_schema *s = &b->schema;
	struct column *c = &b->cols[b->ncols++];
	long off = 4 * (long)s->nvar;
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

static int pick_columns(struct shard_batcher *b, const char *shard, struct shard_error *err)
{
	const struct shard_schema *s = &b->schema;
	if (b->o.ncolumns) {
		for (size_t i = 0; i < b->o.ncolumns; i++) {
			const char *want = b->o.columns[i];
			int col = shard_schema_index(s, want);
			if (col < 0)
				return shard_error_set(err, SHARD_EDATA,
						       "%s: no column '%s' (the columns are listed by shard-index info)",
						       shard, want);
			if (!s->enc[col].size)
				return shard_error_set(err, SHARD_EDATA,
						       "%s: column '%s' is %s, which has no fixed size; only fixed-size "
						       "columns (numbers, ndarray with dtype and shape) go into batches",
						       shard, want, s->enc_names[col]);
			for (size_t j = 0; j < b->ncols; j++)
				if (b->cols[j].col == col)
					return shard_error_set(err, SHARD_EARG, "column '%s' is named twice", want);
			add_column(b, (size_t)col);
		}
		return 0;
	}
	for (size_t i = 0; i < s->ncols; i++)
		if (s->enc[i].size)
			add_column(b, i);
	if (!b->ncols)
		return shard_error_set(err, SHARD_EDATA,
				       "%s: no fixed-size columns to move (all are variable-size: str, bytes, ...)", shard);
	return 0;
}

/* Pick the columns from the first shard's schema and lay out a batch: each
 * column's buffer on an o.align boundary. */
static int lay_out(struct shard_batcher *b, const struct shard_item *it, struct shard_error *err)
{
	const struct shard_schema *s = &it->entry.schema;
	int rc;
	if ((rc = shard_schema_init(&b->schema, s->ncols, (const char *const *)s->names,
				    (const char *const *)s->enc_names, 0, err)))
		return rc;
	for (size_t i = 0; i < s->ncols; i++)
		shard_schema_set_size(&b->schema, i, s->enc[i].size);
	s = &b->schema;
	b->all_const = 1;
	for (size_t i = 0; !s->nvar && i < s->ncols; i++)
		b->exact += s->enc[i].size;
	if (!(b->cols = calloc(b->o.ncolumns ? b->o.ncolumns : s->ncols, sizeof *b->cols)))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	if ((rc = pick_columns(b, it->name, err)))
		return rc == SHARD_EDATA ? place(&b->ring[b->head % b->nring], err, SHARD_UNKNOWN) : rc;
	size_t off = 0;
	for (size_t i = 0; i < b->ncols; i++) {
		struct column *c = &b->cols[i];
		if ((SIZE_MAX / 4) / c->size < b->o.batch)
			return shard_error_set(err, SHARD_EARG, "a batch of %zu samples is too large for column '%s'",
					       b->o.batch, s->names[c->col]);
		c->cap = (b->o.batch * c->size + 3) & ~(size_t)3;
		c->slot_off = off;
		off += (c->cap + b->o.align - 1) & ~(b->o.align - 1);
	}
	b->bytes = off;
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
	b->pub = calloc(b->ncols, sizeof *b->pub);
	b->sums = calloc(b->ncols, sizeof *b->sums);
	b->g = calloc(GATHER_MAX, sizeof *b->g);
	if (!b->pub || !b->sums || !b->g)
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	for (size_t i = 0; i < b->ncols; i++) {
		const struct column *c = &b->cols[i];
		b->pub[i] = (struct shard_batch_column){.name = s->names[c->col], .encoding = s->enc_names[c->col],
							.size = c->size, .off = c->slot_off, .cap = c->cap};
	}
	for (int k = 0; k < GATHER_MAX; k++) {
		b->g[k].b = b;
		b->g[k].fields = calloc(s->ncols, sizeof *b->g[k].fields);
		b->g[k].sums = calloc(b->ncols, sizeof *b->g[k].sums);
		if (!b->g[k].fields || !b->g[k].sums)
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	b->laid_out = 1;
	return 0;
}

/* Take the first shard and lay out the batches from its columns, once. */
static int start(struct shard_batcher *b, struct shard_error *err)
{
	int rc;
	if (b->laid_out)
		return 0;
	if (b->ended && b->end_rc == SLOT_FAILED) {
		*err = b->end_err;
		return err->status;
	}
	rc = take(b);
	if (rc == SLOT_FAILED) {
		*err = b->end_err;
		return err->status;
	}
	if (rc == SLOT_END)
		return shard_error_set(err, SHARD_EDATA, "the input holds no shards");
	b->shards++;
	if ((rc = lay_out(b, &b->ring[b->head % b->nring].item, err))) {
		/* a layout that failed stays failed */
		b->ended = 1;
		b->end_rc = SLOT_FAILED;
		b->end_err = *err;
	}
	return rc;
}

/* ---------------------------------------------------------------- gathering */

/* Where a gather task writes: the batch buffer, the batch position of its
 * next sample, its columns' checksums. */
struct into {
	const struct shard_batcher *b;
	uint8_t *base;
	size_t fill;
	uint64_t *sums;
};

#ifdef __SSE2__
/* Four 4-byte columns side by side in each sample (cols[i..i+3]): 4 x 4
 * blocks of words transposed in registers, each column's four words stored
 * at once and checksummed with two 32 x 32 -> 64-bit multiplies. Starts at
 * row from (what the AVX2 code left), returns the rows done (from plus a
 * multiple of 4); the caller does the rest one by one. */
static size_t gather_quad(struct into *g, size_t i, const uint8_t **rows, size_t n, size_t from)
{
	const struct column *c = &g->b->cols[i];
	size_t off = (size_t)c->off, pos = g->fill + from, k;
	uint8_t *d[4];
	__m128i acc[4], we, wo;
	const __m128i step = _mm_set_epi64x(8, 8);
	for (int t = 0; t < 4; t++) {
		d[t] = g->base + c[t].slot_off + 4 * pos;
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
		g->sums[i + t] += lanes[0] + lanes[1];
	}
	return from + k;
}
#endif

#ifdef HAVE_AVX2
/* gather_quad eight rows a step in AVX2: rows k..k+3 in the low lanes and
 * k+4..k+7 in the high ones, so the same in-lane unpacks give each column's
 * eight words in order. Returns the rows done (a multiple of 8). */
__attribute__((target("avx2"))) static size_t gather_quad_avx2(struct into *g, size_t i, const uint8_t **rows,
							       size_t n)
{
	const struct column *c = &g->b->cols[i];
	size_t off = (size_t)c->off, pos = g->fill, k;
	uint8_t *d[4];
	__m256i acc[4];
	__m256i we = _mm256_set_epi64x((long long)(2 * pos + 13), (long long)(2 * pos + 9), (long long)(2 * pos + 5),
				       (long long)(2 * pos + 1));
	__m256i wo = _mm256_add_epi64(we, _mm256_set1_epi64x(2));
	const __m256i step = _mm256_set1_epi64x(16);
	for (int t = 0; t < 4; t++) {
		d[t] = g->base + c[t].slot_off + 4 * pos;
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
		g->sums[i + t] += lanes[0] + lanes[1] + lanes[2] + lanes[3];
	}
	return k;
}
#endif

/* Copy n samples (their starts in rows) into the batch at position fill,
 * column by column; columns of whole 32-bit words are checksummed on the
 * way: word j of the column buffer weighs 2j + 1. */
static void gather_block(struct into *g, const uint8_t **rows, size_t n)
{
	const struct shard_batcher *b = g->b;
	size_t done = 0;	/* rows of the current quad already gathered */
	for (size_t i = 0; i < b->ncols; i++) {
		const struct column *c = &b->cols[i];
		size_t from = 0;
#ifdef __SSE2__
		if (c->quad == 1) {
			done = 0;
#ifdef HAVE_AVX2
			if (b->avx2)
				done = gather_quad_avx2(g, i, rows, n);
#endif
			done = gather_quad(g, i, rows, n, done);
		}
		if (c->quad)
			from = done;
#endif
		uint8_t *dst = g->base + c->slot_off + g->fill * c->size;
		size_t off = (size_t)c->off, k;
		if (from == n)
			continue;
		uint64_t s = 0, j = (g->fill + from) * (c->size / 4);
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
		g->sums[i] += s;
	}
	g->fill += n;
}

/* Through blocks of samples small enough to stay in L1. */
static void gather_rows(struct into *g, const uint8_t **rows, size_t n, size_t stride)
{
	size_t last = g->b->need ? g->b->need - 1 : 0;
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
		gather_block(g, rows + k, n - k < 64 ? n - k : 64);
	}
}

/* A sample whose columns have no constant offsets: split it. */
static int gather_split(struct gather *t, struct into *g, uint32_t idx, const uint8_t *p, size_t n)
{
	const struct shard_batcher *b = t->b;
	struct shard_error why;
	if (shard_sample_split(&b->schema, p, n, t->fields, &why)) {
		shard_error_set(&t->err, SHARD_EDATA, "%s: sample %u: %s", t->it->name, idx, why.msg);
		return place(t->slot, &t->err, idx);
	}
	for (size_t i = 0; i < b->ncols; i++) {
		const struct column *c = &b->cols[i];
		memcpy(g->base + c->slot_off + g->fill * c->size, t->fields[c->col].p, c->size);
	}
	g->fill++;
	return 0;
}

static void gather_task(struct shard_task *task)
{
	struct gather *t = (struct gather *)task;
	const struct shard_batcher *b = t->b;
	const struct shard_mds *m = &t->it->mds;
	struct into g = {.b = b, .base = t->base, .fill = t->pos, .sums = t->sums};
	/* without variable-size columns every sample must be b->exact bytes */
	int even = b->exact && b->all_const && t->stride == b->exact;
	const uint8_t *first = NULL;
	uint32_t i = t->first, end = t->first + t->n;
	memset(t->sums, 0, b->ncols * sizeof *t->sums);
	t->rc = 0;
	if (even) {
		size_t len;
		shard_mds_sample(m, 0, &first, &len);
	}
	while (i < end) {
		size_t n = 0;
		if (even) {
			for (; n < ROWS && i < end; i++, n++)
				t->rows[n] = first + (size_t)i * b->exact;
		}
		for (; n < ROWS && i < end; i++, n++) {
			const uint8_t *p;
			size_t len;
			shard_mds_sample(m, i, &p, &len);
			if (!b->all_const) {
				if ((t->rc = gather_split(t, &g, i, p, len)))
					return;
				continue;
			}
			if (len < b->need || (b->exact && len != b->exact)) {
				shard_error_set(&t->err, SHARD_EDATA, "%s: sample %u is %zu bytes long; its columns take %zu",
						t->it->name, i, len, b->exact ? b->exact : b->need);
				t->rc = place(t->slot, &t->err, i);
				return;
			}
			t->rows[n] = p;
		}
		if (n && b->all_const)
			gather_rows(&g, t->rows, n, even ? b->exact : 0);
	}
}

/* Gather n samples of the shard being batched into the batch at pos: split
 * into tasks, the first run here, the others on the pool. */
static int gather_stretch(struct shard_batcher *b, uint8_t *base, size_t pos, uint32_t n, struct shard_error *err)
{
	const struct slot *s = &b->ring[b->head % b->nring];
	size_t ntasks = (size_t)n * b->sample_bytes / GATHER_MIN_BYTES, per;
	size_t most = shard_pool_threads(b->pool) + 1;
	if (ntasks > most)
		ntasks = most;
	if (ntasks > GATHER_MAX)
		ntasks = GATHER_MAX;
	if (ntasks < 1)
		ntasks = 1;
	per = ((n + ntasks - 1) / ntasks + 7) & ~(size_t)7;
	ntasks = 0;
	for (uint32_t done = 0; done < n; ntasks++) {
		struct gather *t = &b->g[ntasks];
		t->task.fn = gather_task;
		t->base = base;
		t->slot = s;
		t->it = &s->item;
		t->stride = s->stride;
		t->first = b->next_sample + done;
		t->n = n - done < per ? n - done : (uint32_t)per;
		t->pos = pos + done;
		done += t->n;
		if (ntasks)
			shard_pool_submit(b->pool, &t->task);
	}
	gather_task(&b->g[0].task);
	int rc = 0;
	for (size_t k = 0; k < ntasks; k++) {
		struct gather *t = &b->g[k];
		if (k)
			shard_pool_wait(b->pool, &t->task);
		if (t->rc && !rc) {
			*err = t->err;
			rc = t->rc;
		}
		for (size_t i = 0; i < b->ncols; i++)
			b->sums[i] += t->sums[i];
	}
	return rc;
}

/* ---------------------------------------------------------------- the handle */

int shard_batcher_new(struct shard_batcher **out, const char *const *inputs, size_t ninputs,
		      const struct shard_batch_opts *opts, struct shard_error *err)
{
	struct shard_batcher *b;
	int rc;
	*out = NULL;
	if (!ninputs)
		return shard_error_set(err, SHARD_EARG, "no inputs to batch");
	if (opts->align & (opts->align - 1))
		return shard_error_set(err, SHARD_EARG, "a column alignment of %zu is no power of two", opts->align);
	if (!(b = calloc(1, sizeof *b)))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	b->o = *opts;
	if (!b->o.batch)
		b->o.batch = 1024;
	if (!b->o.align)
		b->o.align = 256;
	b->avx2 = use_avx2();
	pthread_mutex_init(&b->mu, NULL);
	/* the caller's column names and inputs, copied */
	b->o.columns = NULL;
	b->o.ncolumns = 0;
	b->inputs = calloc(ninputs, sizeof *b->inputs);
	char **names = calloc(opts->ncolumns + 1, sizeof *names);
	b->o.columns = (const char *const *)names;
	if (!b->inputs || !names)
		goto nomem;
	for (b->ninputs = 0; b->ninputs < ninputs; b->ninputs++)
		if (!(b->inputs[b->ninputs] = strdup(inputs[b->ninputs])))
			goto nomem;
	for (; b->o.ncolumns < opts->ncolumns; b->o.ncolumns++)
		if (!(names[b->o.ncolumns] = strdup(opts->columns[b->o.ncolumns])))
			goto nomem;
	b->pool = opts->pool;
	if (!b->pool) {
		if ((rc = shard_pool_new(&b->own_pool, opts->threads, err))) {
			shard_batcher_free(b);
			return rc;
		}
		b->pool = b->own_pool;
	}
	b->nring = shard_pool_threads(b->pool);
	b->nring = (b->nring > AHEAD_MAX ? AHEAD_MAX : b->nring) + 1;
	if (!(b->ring = calloc(b->nring, sizeof *b->ring)))
		goto nomem;
	for (unsigned i = 0; i < b->nring; i++) {
		b->ring[i].b = b;
		b->ring[i].task.fn = read_task;
	}
	pthread_mutex_lock(&b->mu);
	chain_next(b);
	pthread_mutex_unlock(&b->mu);
	*out = b;
	return 0;
nomem:
	shard_batcher_free(b);
	return shard_error_set(err, SHARD_ENOMEM, "out of memory");
}

int shard_batcher_layout(struct shard_batcher *b, struct shard_batch_layout *l, struct shard_error *err)
{
	int rc = start(b, err);
	if (rc)
		return rc;
	*l = (struct shard_batch_layout){.ncols = b->ncols, .cols = b->pub, .sample_bytes = b->sample_bytes,
					 .bytes = b->bytes};
	return 0;
}

int shard_batcher_next(struct shard_batcher *b, void *buf, size_t cap, struct shard_batch *out,
		       struct shard_error *err)
{
	uint8_t *base = buf;
	size_t fill = 0;
	int rc;
	memset(out, 0, sizeof *out);
	if ((rc = start(b, err)))
		return rc;
	if (cap < b->bytes)
		return shard_error_set(err, SHARD_EARG, "a batch takes %zu bytes; the buffer holds %zu", b->bytes, cap);
	memset(b->sums, 0, b->ncols * sizeof *b->sums);
	while (fill < b->o.batch) {
		const struct shard_item *it;
		if (!b->have || b->next_sample == b->ring[b->head % b->nring].item.mds.nsamples) {
			rc = take(b);
			if (rc == SLOT_FAILED) {
				*err = b->end_err;
				return err->status;
			}
			if (rc == SLOT_END)
				break;
			b->shards++;
			it = &b->ring[b->head % b->nring].item;
			if (!same_schema(&b->schema, &it->entry.schema)) {
				shard_error_set(err, SHARD_EDATA,
						"%s: its columns differ from the first shard's; one run moves one schema",
						it->name);
				return place(&b->ring[b->head % b->nring], err, SHARD_UNKNOWN);
			}
		}
		it = &b->ring[b->head % b->nring].item;
		size_t n = it->mds.nsamples - b->next_sample;
		if (n > b->o.batch - fill)
			n = b->o.batch - fill;
		if (n && (rc = gather_stretch(b, base, fill, (uint32_t)n, err)))
			return rc;
		b->next_sample += (uint32_t)n;
		fill += n;
	}
	if (fill < b->o.batch && b->o.drop_last) {
		b->dropped += fill;
		fill = 0;
	}
	out->shards = b->shards;
	out->dropped = b->dropped;
	out->reader_wait = b->reader_wait;
	if (!fill)
		return 0;
	for (size_t i = 0; i < b->ncols; i++) {
		const struct column *c = &b->cols[i];
		size_t used = fill * c->size;
		/* a short last batch: zero what an earlier, full one left behind */
		memset(base + c->slot_off + used, 0, c->cap - used);
		if (c->size % 4 || !b->all_const)
			b->sums[i] = shard_batch_checksum(base + c->slot_off, c->cap);
	}
	out->samples = fill;
	out->bytes = fill * b->sample_bytes;
	out->sums = b->sums;
	return 0;
}

void shard_batcher_free(struct shard_batcher *b)
{
	if (!b)
		return;
	if (b->ring) {
		pthread_mutex_lock(&b->mu);
		b->stop = 1;
		uint64_t head = b->head, tail = b->tail;
		pthread_mutex_unlock(&b->mu);
		for (uint64_t k = head; k < tail; k++)
			shard_pool_wait(b->pool, &b->ring[k % b->nring].task);
		for (unsigned i = 0; i < b->nring; i++)
			shard_item_free(&b->ring[i].item);
		free(b->ring);
	}
	shard_source_close(b->src);
	shard_pool_free(b->own_pool);
	for (size_t k = 0; b->g && k < GATHER_MAX; k++) {
		free(b->g[k].fields);
		free(b->g[k].sums);
	}
	free(b->g);
	free(b->sums);
	free(b->pub);
	free(b->cols);
	shard_schema_free(&b->schema);
	for (size_t i = 0; i < b->ninputs; i++)
		free(b->inputs[i]);
	free(b->inputs);
	for (size_t i = 0; b->o.columns && i < b->o.ncolumns; i++)
		free((char *)b->o.columns[i]);
	free((char **)b->o.columns);
	pthread_mutex_destroy(&b->mu);
	free(b);
}
