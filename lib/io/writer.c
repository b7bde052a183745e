/* Building MDS shards from samples: the size_limit split rule exactly as
 * Mosaic's writer applies it, a samples-per-shard cap, and the 4 GiB guard.
 * Finished shards are hashed and compressed as tasks on the thread pool,
 * several at once where there are threads for them, while the caller goes on
 * filling the next one; the caller hands them to the sink in order. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "internal.h"

#define MAX_IN_FLIGHT 4

struct shard_writer {
	struct shard_sink *sink;
	struct shard_entry tmpl;	/* schema, compression, hashes, size_limit */
	struct shard_codec codec;
	struct shard_buf config;	/* embedded config JSON */
	uint32_t *lens;			/* per-sample lengths of the open shard */
	size_t nlens, caplens;
	uint64_t cur_size;		/* raw file size if flushed now */
	uint64_t size_limit, max_samples;
	/* the open shard: its samples back to back at raw.p + gap, where the room
	 * before them takes the header when the shard is flushed */
	struct shard_buf raw;
	size_t gap;
	struct shard_buf one;

	/* shards in flight: shard seq is prepared by the task of slot seq %
	 * nslots and goes to the sink when that slot is wanted again, or at
	 * finish, so the sink takes them in seq order */
	struct slot {
		struct shard_task task;
		struct shard_writer *w;
		struct shard_buf job;	/* its shard: the raw bytes from job.p + off */
		size_t off;
		struct shard_buf zip;	/* their compressed form */
		uint32_t nsamples;
		struct shard_entry e;	/* filled by prepare */
		int rc, busy;
		struct shard_error err;
	} slot[MAX_IN_FLIGHT];
	struct shard_pool *pool, *own_pool;
	int nslots;			/* 0 until the first flush */
	uint64_t seq, put;		/* shards handed to tasks; retired */
	int failed;
	struct shard_error werr;
};

static void retire_all(struct shard_writer *w);

/* Bytes of a raw shard before its samples: count, offsets, config. */
static size_t header_size(const struct shard_writer *w, size_t nsamples)
{
	return 4 + 4 * (nsamples + 1) + w->config.len;
}

/* Room before the samples for the header of a shard of nsamples: grown, when
 * short, by moving the samples up. */
static int make_room(struct shard_writer *w, size_t nsamples, struct shard_error *err)
{
	size_t need = header_size(w, nsamples), gap;
	if (need <= w->gap)
		return 0;
	gap = need + need / 2 > 2 * w->gap ? need + need / 2 : 2 * w->gap;
	if (shard_buf_reserve(&w->raw, gap - w->gap))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	memmove(w->raw.p + gap, w->raw.p + w->gap, w->raw.len - w->gap);
	w->raw.len += gap - w->gap;
	w->gap = gap;
	return 0;
}

/* Samples' bytes at the end of the open shard, its header's room made for nsamples. */
static int append_samples(struct shard_writer *w, const void *p, size_t n, size_t nsamples, struct shard_error *err)
{
	int rc;
	if ((rc = make_room(w, nsamples, err)))
		return rc;
	return shard_buf_append(&w->raw, p, n) ? shard_error_set(err, SHARD_ENOMEM, "out of memory") : 0;
}

int shard_writer_new(struct shard_writer **out, struct shard_sink *sink, const struct shard_schema *schema,
		     const struct shard_writer_opts *o, struct shard_error *err)
{
	struct shard_writer *w;
	const char **nm, **en;
	size_t i;
	int rc;

	*out = NULL;
	if (o->size_limit > SHARD_RAW_MAX)
		return shard_error_set(err, SHARD_EARG,
				       "size limit %llu is too large: MDS offsets are 32-bit, so a shard must stay under 4 GiB",
				       (unsigned long long)o->size_limit);
	for (i = 0; i < o->nhashes; i++) {
		if (!shard_hash_known(o->hashes[i]))
			return shard_error_set(err, SHARD_EARG, "unknown hash '%s'", o->hashes[i]);
		if (i && strcmp(o->hashes[i - 1], o->hashes[i]) >= 0)
			return shard_error_set(err, SHARD_EARG, "hashes must be sorted and unique, as MDS requires");
	}
	w = calloc(1, sizeof *w);
	if (!w)
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	w->sink = sink;
	w->pool = o->pool;
	w->size_limit = o->size_limit;
	w->max_samples = o->max_samples;
	if ((rc = shard_codec_parse(o->compression, &w->codec, err)))
		goto fail;
	nm = calloc(schema->ncols, sizeof *nm);
	en = calloc(schema->ncols, sizeof *en);
	if (!nm || !en) {
		free(nm);
		free(en);
		rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
		goto fail;
	}
	for (i = 0; i < schema->ncols; i++) {
		nm[i] = schema->names[i];
		en[i] = schema->enc_names[i];
	}
	rc = shard_schema_init(&w->tmpl.schema, schema->ncols, nm, en, 0, err);
	free(nm);
	free(en);
	if (rc)
		goto fail;
	if (w->codec.id && !(w->tmpl.compression = strdup(o->compression))) {
		rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
		goto fail;
	}
	w->tmpl.hashes = calloc(o->nhashes + 1, sizeof *w->tmpl.hashes);
	if (!w->tmpl.hashes) {
		rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
		goto fail;
	}
	for (i = 0; i < o->nhashes; i++) {
		if (!(w->tmpl.hashes[i] = strdup(o->hashes[i]))) {
			rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
			goto fail;
		}
		w->tmpl.nhashes++;
	}
	w->tmpl.size_limit = o->size_limit;
	if ((rc = shard_entry_config_json(&w->tmpl, &w->config, err)))
		goto fail;
	w->cur_size = 8 + w->config.len;
	w->gap = header_size(w, 1024);
	if (shard_buf_reserve(&w->raw, w->gap)) {
		rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
		goto fail;
	}
	w->raw.len = w->gap;
	*out = w;
	return 0;
fail:
	shard_writer_free(w);
	return rc;
}

void shard_writer_free(struct shard_writer *w)
{
	int i;
	if (!w)
		return;
	w->failed = 1;	/* shards still in flight are dropped */
	retire_all(w);
	shard_pool_free(w->own_pool);
	for (i = 0; i < MAX_IN_FLIGHT; i++) {
		shard_buf_free(&w->slot[i].job);
		shard_buf_free(&w->slot[i].zip);
	}
	shard_entry_free(&w->tmpl);
	shard_buf_free(&w->config);
	shard_buf_free(&w->raw);
	shard_buf_free(&w->one);
	free(w->lens);
	free(w);
}

/* Hash and compress one raw shard into zip; its entry in e, whose file infos
 * the caller frees with entry_files_free. */
static int prepare(struct shard_writer *w, const uint8_t *raw, size_t n, uint32_t nsamples, struct shard_buf *zip,
		   struct shard_entry *e, struct shard_error *err)
{
	char base[64];
	int rc;

	*e = w->tmpl;	/* borrow the template's fields; owned parts are set below */
	e->samples = nsamples;
	memset(&e->raw, 0, sizeof e->raw);
	memset(&e->zip, 0, sizeof e->zip);
	e->has_zip = 0;
	/* the sink renames shards; these basenames are placeholders */
	snprintf(base, sizeof base, "shard.mds");
	rc = shard_fileinfo_fill(&e->raw, (const char *const *)w->tmpl.hashes, w->tmpl.nhashes, base, raw, n, err);
	if (!rc && w->codec.id) {
		rc = shard_compress(&w->codec, raw, n, zip, err);
		snprintf(base, sizeof base, "shard.mds.%s", w->codec.ext);
		if (!rc)
			rc = shard_fileinfo_fill(&e->zip, (const char *const *)w->tmpl.hashes, w->tmpl.nhashes, base,
						 zip->p, zip->len, err);
		e->has_zip = 1;
	}
	return rc;
}

static int put(struct shard_writer *w, const struct shard_entry *e, const uint8_t *raw, size_t n,
	       const struct shard_buf *zip, struct shard_error *err)
{
	return shard_sink_put(w->sink, e, w->codec.id ? zip->p : raw, w->codec.id ? zip->len : n, w->codec.id != 0,
			      err);
}

/* Free only what prepare allocated. */
static void entry_files_free(struct shard_entry *e)
{
	struct shard_entry own = {0};
	own.raw = e->raw;
	own.zip = e->zip;
	shard_entry_free(&own);
}

/* A slot's task: hash and compress its shard. */
static void prepare_task(struct shard_task *t)
{
	struct slot *m = (struct slot *)((char *)t - offsetof(struct slot, task));
	m->rc = prepare(m->w, m->job.p + m->off, m->job.len - m->off, m->nsamples, &m->zip, &m->e, &m->err);
}

/* Wait for the oldest shard in flight and hand it to the sink, unless a
 * shard before it failed: after a failure nothing more is written. */
static void retire(struct shard_writer *w)
{
	struct slot *m = &w->slot[w->put % (uint64_t)w->nslots];
	int rc;

	shard_pool_wait(w->pool, &m->task);
	rc = m->rc;
	if (!rc && !w->failed)
		rc = put(w, &m->e, m->job.p + m->off, m->job.len - m->off, &m->zip, &m->err);
	/* a failure between prepare and put drops the shard: its infos too */
	entry_files_free(&m->e);
	if (rc && !w->failed) {
		w->failed = 1;
		w->werr = m->err;
	}
	m->busy = 0;
	w->put++;
}

static void retire_all(struct shard_writer *w)
{
	while (w->put != w->seq)
		retire(w);
}

/* The error of the shard that failed, for every call after it. */
static int failure(struct shard_writer *w, struct shard_error *err)
{
	*err = w->werr;
	return w->werr.status ? w->werr.status : SHARD_EIO;
}

/* The pool the shards are prepared on: the caller's, or one of the writer's
 * own with a thread per CPU up to MAX_IN_FLIGHT; none (each shard prepared in
 * place) when no thread starts. */
static void start_pool(struct shard_writer *w)
{
	unsigned want = shard_cpu_budget(), n;
	struct shard_error err;

	if (!w->pool) {
		if (want > MAX_IN_FLIGHT)
			want = MAX_IN_FLIGHT;
		if (!shard_pool_new(&w->own_pool, want, &err))
			w->pool = w->own_pool;
	}
	n = shard_pool_threads(w->pool);
	w->nslots = n < 1 ? 1 : n > MAX_IN_FLIGHT ? MAX_IN_FLIGHT : (int)n;
}

static int flush(struct shard_writer *w, struct shard_error *err)
{
	size_t hdr = header_size(w, w->nlens), off, i;
	uint64_t at = hdr;
	struct shard_buf t;
	struct slot *m;
	uint8_t *p;
	int rc;

	if (w->nlens == 0)
		return 0;
	/* the header goes right before the samples: make_room kept it room */
	off = w->gap - hdr;
	p = w->raw.p + off;
	wr32(p, (uint32_t)w->nlens);
	for (i = 0; i <= w->nlens; i++) {
		wr32(p + 4 + 4 * i, (uint32_t)at);
		if (i < w->nlens)
			at += w->lens[i];
	}
	memcpy(p + 4 + 4 * (w->nlens + 1), w->config.p, w->config.len);

	if (!w->nslots)
		start_pool(w);
	/* the shards already prepared go to the sink now; then the slot this
	 * one takes is freed by retiring its shard, the oldest in flight */
	while (w->put != w->seq && shard_task_done(w->pool, &w->slot[w->put % (uint64_t)w->nslots].task))
		retire(w);
	m = &w->slot[w->seq % (uint64_t)w->nslots];
	if (m->busy)
		retire(w);
	if (w->failed)
		return failure(w, err);
	t = m->job;
	m->job = w->raw;
	m->off = off;
	w->raw = t;
	m->nsamples = (uint32_t)w->nlens;
	m->w = w;
	m->busy = 1;
	m->task.fn = prepare_task;
	w->seq++;
	shard_pool_submit(w->pool, &m->task);
	rc = 0;
	/* the next shard likely holds about as many samples as this one */
	w->gap = hdr + hdr / 8;
	w->raw.len = 0;
	if (shard_buf_reserve(&w->raw, w->gap)) {
		w->gap = 0;
		if (!rc)
			rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	w->raw.len = w->gap;
	w->nlens = 0;
	w->cur_size = 8 + w->config.len;
	return rc;
}

int shard_writer_add_raw(struct shard_writer *w, const void *p, size_t n, struct shard_error *err)
{
	uint64_t add = (uint64_t)n + 4;
	int rc;

	if (w->nlens && ((w->size_limit && w->size_limit < w->cur_size + add) ||
			 (w->max_samples && w->nlens >= w->max_samples) ||
			 w->cur_size + add > SHARD_RAW_MAX)) {
		if ((rc = flush(w, err)))
			return rc;
	}
	if (w->cur_size + add > SHARD_RAW_MAX)
		return shard_error_set(err, SHARD_ELIMIT,
				       "a sample of %zu bytes cannot fit in an MDS shard: offsets are 32-bit (4 GiB)", n);
	if (w->nlens == w->caplens) {
		size_t nc = w->caplens ? w->caplens * 2 : 4096;
		uint32_t *nl = realloc(w->lens, nc * sizeof *nl);
		if (!nl)
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
		w->lens = nl;
		w->caplens = nc;
	}
	if ((rc = append_samples(w, p, n, w->nlens + 1, err)))
		return rc;
	w->lens[w->nlens++] = (uint32_t)n;
	w->cur_size += add;
	return 0;
}

static int reserve_lens(struct shard_writer *w, size_t more, struct shard_error *err)
{
	size_t nc = w->caplens ? w->caplens : 4096;
	uint32_t *nl;
	if (w->nlens + more <= w->caplens)
		return 0;
	while (nc < w->nlens + more)
		nc *= 2;
	nl = realloc(w->lens, nc * sizeof *nl);
	if (!nl)
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	w->lens = nl;
	w->caplens = nc;
	return 0;
}

int shard_writer_add_many(struct shard_writer *w, const void *p, const uint32_t *lens, size_t n,
			  struct shard_error *err)
{
	const uint8_t *q = p, *run = p;
	size_t i;
	int rc;

	if ((rc = reserve_lens(w, n, err)))
		return rc;
	for (i = 0; i < n; i++) {
		uint64_t add = (uint64_t)lens[i] + 4;
		if (w->nlens && ((w->size_limit && w->size_limit < w->cur_size + add) ||
				 (w->max_samples && w->nlens >= w->max_samples) || w->cur_size + add > SHARD_RAW_MAX)) {
			/* the samples so far complete this shard: copy them in one go */
			if ((rc = append_samples(w, run, (size_t)(q - run), w->nlens, err)))
				return rc;
			run = q;
			if ((rc = flush(w, err)) || (rc = reserve_lens(w, n - i, err)))
				return rc;
		}
		if (w->cur_size + add > SHARD_RAW_MAX)
			return shard_error_set(err, SHARD_ELIMIT,
					       "a sample of %u bytes cannot fit in an MDS shard: offsets are 32-bit (4 GiB)",
					       lens[i]);
		w->lens[w->nlens++] = lens[i];
		w->cur_size += add;
		q += lens[i];
	}
	return append_samples(w, run, (size_t)(q - run), w->nlens, err);
}

int shard_sample_encode(const struct shard_schema *s, const struct shard_field *f, struct shard_buf *out,
			struct shard_error *err)
{
	size_t i, v = 0, total = 4 * s->nvar;
	uint8_t *p;

	for (i = 0; i < s->ncols; i++) {
		if (s->enc[i].size && f[i].len != s->enc[i].size)
			return shard_error_set(err, SHARD_EDATA, "column '%s': %zu bytes, its encoding %s takes %zu",
					       s->names[i], f[i].len, s->enc_names[i], s->enc[i].size);
		if (f[i].len > UINT32_MAX)
			return shard_error_set(err, SHARD_ELIMIT, "column '%s': value over 4 GiB", s->names[i]);
		total += f[i].len;
	}
	if (shard_buf_reserve(out, total))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	p = out->p + out->len;
	for (i = 0; i < s->ncols; i++)
		if (!s->enc[i].size)
			wr32(p + 4 * v++, (uint32_t)f[i].len);
	p += 4 * s->nvar;
	for (i = 0; i < s->ncols; i++) {
		if (f[i].len)
			memcpy(p, f[i].p, f[i].len);
		p += f[i].len;
	}
	out->len += total;
	return 0;
}

int shard_writer_add(struct shard_writer *w, const struct shard_field *f, struct shard_error *err)
{
	int rc;
	w->one.len = 0;
	if ((rc = shard_sample_encode(&w->tmpl.schema, f, &w->one, err)))
		return rc;
	return shard_writer_add_raw(w, w->one.p, w->one.len, err);
}

int shard_writer_finish(struct shard_writer *w, struct shard_error *err)
{
	int rc = flush(w, err);
	retire_all(w);
	if (!rc && w->failed)
		rc = failure(w, err);
	if (w->own_pool) {
		shard_pool_free(w->own_pool);
		w->own_pool = NULL;
		w->pool = NULL;
	}
	return rc;
}

void shard_writer_abort(struct shard_writer *w)
{
	if (!w)
		return;
	/* shards are handed to the sink only by retire, on the caller's thread:
	 * once failed is set none is, and on return none is being prepared */
	w->failed = 1;
	retire_all(w);
}
