/* Building MDS shards from samples: the size_limit split rule exactly as
 * Mosaic's writer applies it, a samples-per-shard cap, and the 4 GiB guard.
 * Finished shards are hashed and compressed on background threads, several at
 * once where there are cores for them, and handed to the sink in order while
 * the caller goes on filling the next one. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shard.h"
#include "internal.h"

#define MAX_EMITTERS 4

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
	struct shard_buf zip, one;

	/* the background stage: up to nemit shards in flight, shard seq going to
	 * emitter seq % nemit; the sink takes them in seq order */
	struct emitter {
		struct shard_writer *w;
		pthread_t th;
		struct shard_buf job;	/* its shard in flight: the raw bytes from job.p + off */
		size_t off;
		struct shard_buf zip;	/* their compressed form */
		uint32_t nsamples;
		uint64_t seq;
		int pending;
	} em[MAX_EMITTERS];
	int nemit, started, stop;
	uint64_t seq, put;		/* shards handed to emitters; to the sink */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int failed;
	struct shard_error werr;
};

static void stop_worker(struct shard_writer *w);

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
	stop_worker(w);
	for (i = 0; i < MAX_EMITTERS; i++) {
		shard_buf_free(&w->em[i].job);
		shard_buf_free(&w->em[i].zip);
	}
	shard_entry_free(&w->tmpl);
	shard_buf_free(&w->config);
	shard_buf_free(&w->raw);
	shard_buf_free(&w->zip);
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

static void *emitter_main(void *arg)
{
	struct emitter *m = arg;
	struct shard_writer *w = m->w;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct shard_entry e;
		struct shard_error err = {0};
		int rc, skip, prepared;
		while (!m->pending && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!m->pending)
			break;
		skip = w->failed;	/* after a failure nothing more is written */
		prepared = !skip;
		pthread_mutex_unlock(&w->mu);
		rc = prepared ? prepare(w, m->job.p + m->off, m->job.len - m->off, m->nsamples, &m->zip, &e, &err) : 0;
		pthread_mutex_lock(&w->mu);
		while (w->put != m->seq)
			pthread_cond_wait(&w->cv, &w->mu);
		skip = skip || w->failed;
		pthread_mutex_unlock(&w->mu);
		if (!skip && !rc)
			rc = put(w, &e, m->job.p + m->off, m->job.len - m->off, &m->zip, &err);
		/* a failure between prepare and put drops the shard: its infos too */
		if (prepared)
			entry_files_free(&e);
		pthread_mutex_lock(&w->mu);
		if (rc && !skip) {
			w->failed = 1;
			w->werr = err;
		}
		w->put++;
		m->pending = 0;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Wait until no shard is in flight; report the background stage's failure. */
static int drain(struct shard_writer *w, struct shard_error *err)
{
	if (!w->nemit)
		return 0;
	pthread_mutex_lock(&w->mu);
	while (w->put != w->seq)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	if (w->failed) {
		if (err)
			*err = w->werr;
		return w->werr.status ? w->werr.status : SHARD_EIO;
	}
	return 0;
}

/* The emitter threads, one per core up to MAX_EMITTERS; none when no thread
 * starts (flush then emits in place). */
static void start_emitters(struct shard_writer *w)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int want = ncpu < 1 ? 1 : ncpu > MAX_EMITTERS ? MAX_EMITTERS : (int)ncpu;
	w->started = 1;
	if (pthread_mutex_init(&w->mu, NULL))
		return;
	if (pthread_cond_init(&w->cv, NULL)) {
		pthread_mutex_destroy(&w->mu);
		return;
	}
	for (w->nemit = 0; w->nemit < want; w->nemit++) {
		w->em[w->nemit].w = w;
		if (pthread_create(&w->em[w->nemit].th, NULL, emitter_main, &w->em[w->nemit]))
			break;
	}
	if (!w->nemit) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
	}
}

static int flush(struct shard_writer *w, struct shard_error *err)
{
	size_t hdr = header_size(w, w->nlens), off, i;
	uint64_t at = hdr;
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

	if (!w->started)
		start_emitters(w);
	if (!w->nemit) {
		/* no thread: do it here */
		struct shard_entry e;
		rc = prepare(w, p, w->raw.len - off, (uint32_t)w->nlens, &w->zip, &e, err);
		if (!rc)
			rc = put(w, &e, p, w->raw.len - off, &w->zip, err);
		entry_files_free(&e);
	} else {
		struct emitter *m = &w->em[w->seq % (uint64_t)w->nemit];
		struct shard_buf t;
		pthread_mutex_lock(&w->mu);
		while (m->pending)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->failed) {
			pthread_mutex_unlock(&w->mu);
			return drain(w, err);
		}
		t = m->job;
		m->job = w->raw;
		m->off = off;
		w->raw = t;
		m->nsamples = (uint32_t)w->nlens;
		m->seq = w->seq++;
		m->pending = 1;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		rc = 0;
	}
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

static void stop_worker(struct shard_writer *w)
{
	int i;
	if (!w->nemit)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (i = 0; i < w->nemit; i++)
		pthread_join(w->em[i].th, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	w->nemit = 0;
}

int shard_writer_finish(struct shard_writer *w, struct shard_error *err)
{
	int rc = flush(w, err);
	if (!rc)
		rc = drain(w, err);
	stop_worker(w);
	return rc;
}

void shard_writer_abort(struct shard_writer *w)
{
	if (!w || !w->nemit)
		return;
	/* an emitter checks failed under the lock just before it hands its shard
	 * to the sink: from here on none does, and drain waits out one already
	 * handing its shard over */
	pthread_mutex_lock(&w->mu);
	w->failed = 1;
	pthread_mutex_unlock(&w->mu);
	drain(w, NULL);
	stop_worker(w);
}
