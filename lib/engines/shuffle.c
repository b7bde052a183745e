/* Deterministic randomness for shuffles: xoshiro256** (Blackman and Vigna),
 * seeded through SplitMix64 from (seed, epoch), unbiased bounded integers
 * (Lemire's method with rejection) and Fisher-Yates. The same seed and epoch
 * give the same stream on every machine and build; see shard-shuffle(1). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shard.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void shard_rng_seed(struct shard_rng *r, uint64_t seed, uint64_t epoch)
{
	/* each epoch's stream starts from its own SplitMix64 state, so epochs are
	 * independent streams rather than offsets into one */
	uint64_t x = seed, y;
	int i;
	y = splitmix64(&x) ^ (epoch * 0xD1B54A32D192ED03ull);
	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&y);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t shard_rng_next(struct shard_rng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

uint64_t shard_rng_below(struct shard_rng *r, uint64_t n)
{
	unsigned __int128 m;
	uint64_t lo;
	if (n <= 1)
		return 0;
	m = (unsigned __int128)shard_rng_next(r) * n;
	lo = (uint64_t)m;
	if (lo < n) {
		uint64_t t = -n % n;	/* 2^64 mod n */
		while (lo < t) {
			m = (unsigned __int128)shard_rng_next(r) * n;
			lo = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

void shard_permute(struct shard_rng *r, uint64_t *a, size_t n)
{
	size_t i;
	for (i = n; i > 1; i--) {
		size_t j = (size_t)shard_rng_below(r, i);
		uint64_t t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

int shard_epoch_order(uint64_t seed, uint64_t epoch, int block, const uint64_t *first, size_t nshards,
		      uint64_t *perm)
{
	struct shard_rng rng;
	uint64_t n = first[nshards], i, k = 0, *so;
	size_t s;

	shard_rng_seed(&rng, seed, epoch);
	if (!block) {
		for (i = 0; i < n; i++)
			perm[i] = i;
		shard_permute(&rng, perm, n);
		return 0;
	}
	if (!(so = malloc((nshards + 1) * sizeof *so)))
		return SHARD_ENOMEM;
	for (s = 0; s < nshards; s++)
		so[s] = s;
	shard_permute(&rng, so, nshards);
	for (s = 0; s < nshards; s++) {
		uint64_t a = first[so[s]], b = first[so[s] + 1];
		for (i = a; i < b; i++)
			perm[k + i - a] = i;
		shard_permute(&rng, perm + k, b - a);
		k += b - a;
	}
	free(so);
	return 0;
}

int shard_dealer_init(struct shard_dealer *d, uint64_t n, uint64_t rank, uint64_t world, uint64_t batch, int pad,
		      uint64_t skip)
{
	uint64_t all;

	memset(d, 0, sizeof *d);
	if (!world || rank >= world || (batch && batch > UINT64_MAX / 2 / world))
		return SHARD_EARG;
	d->n = n;
	d->rank = rank;
	d->world = world;
	d->batch = batch;
	d->skip = skip;
	d->total = n;
	if (batch) {
		uint64_t round = batch * world;
		d->total = n / round * round;
		if (pad && n % round) {
			if (d->total > UINT64_MAX - round)
				return SHARD_EARG;
			d->total += round;
		}
	}
	all = batch ? d->total / world : n > rank ? (n - rank - 1) / world + 1 : 0;
	d->count = all > skip ? all - skip : 0;
	return 0;
}

uint64_t shard_dealer_at(const struct shard_dealer *d, uint64_t k)
{
	uint64_t q = k + d->skip, i;

	if (d->batch)
		i = ((q / d->batch) * d->world + d->rank) * d->batch + q % d->batch;
	else
		i = q * d->world + d->rank;
	return i % d->n;
}

int shard_dealer_find(const struct shard_dealer *d, uint64_t i, uint64_t *k)
{
	uint64_t q;

	if (i >= d->total)
		return 0;
	if (d->batch) {
		uint64_t j = i / d->batch;
		if (j % d->world != d->rank)
			return 0;
		q = j / d->world * d->batch + i % d->batch;
	} else {
		if (i % d->world != d->rank)
			return 0;
		q = i / d->world;
	}
	if (q < d->skip)
		return 0;
	*k = q - d->skip;
	return 1;
}

uint64_t *shard_deal(const uint64_t *perm, uint64_t n, uint64_t rank, uint64_t world, uint64_t batch, int pad,
		     uint64_t skip, uint64_t *count)
{
	struct shard_dealer d;
	uint64_t k, *out;

	if (shard_dealer_init(&d, n, rank, world, batch, pad, skip))
		return NULL;
	out = malloc((d.count + 1) * sizeof *out);
	if (!out)
		return NULL;
	for (k = 0; k < d.count; k++)
		out[k] = perm[shard_dealer_at(&d, k)];
	*count = d.count;
	return out;
}

/* ================================================================ the shuffler
 * An epoch's order of a dataset's samples, one rank's share of it, read back
 * as sample bytes: held in memory when they fit the memory given, else
 * scattered to temporary bucket files and read back a window at a time; a
 * stream is spooled to a temporary dataset first, or shuffled through a
 * window of samples as it goes by. */

#define MAX_TMP 4096

struct shard_shuffler {
	struct shard_shuffle_opts o;
	char *tmpbase, *path;
	/* the temporary files, registered before they are made: mu guards the
	 * list, the directory's name and the spool's sink; shard_shuffler_kill
	 * takes it for good */
	pthread_mutex_t mu;
	char tmpdir[PATH_MAX];
	char (*tmpfiles)[64];		/* names inside tmpdir */
	int ntmp;
	char tmpsuffix[32];		/* ".tmp.PID": what an interrupted atomic write leaves */
	struct shard_sink *spool;
	char spooldir[PATH_MAX + 80];

	struct shard_entry entry;	/* the first shard's: every sample's schema */
	char *extra;
	int opened, started;

	/* full and block: the epoch's order and this rank's deal of it */
	struct shard_index ix;
	uint64_t *first, *perm;
	struct shard_dealer d;
	uint64_t i;			/* the next position of the share */
	/* held in memory: where[g] is 1 + the slot of sample g (0: not needed) */
	uint64_t *where, *off, *len;
	struct shard_buf arena;
	/* through buckets: window w holds positions bounds[w] to bounds[w + 1] */
	uint64_t *bounds;
	size_t nwin, win;
	FILE **files;
	char (*names)[PATH_MAX + 80];

	/* buffer: the stream, its current shard and the window of samples */
	struct shard_source *src;
	struct shard_item it;
	uint32_t k;
	struct shard_rng rng;
	struct shard_buf *slots, out;
	uint64_t fill, cap, pos, kept, *idx, di;
	int draining;
};

static void read_bytes(struct shard_shuffler *s, uint64_t n)
{
	if (s->o.on_read)
		s->o.on_read(s->o.ctx, n);
}

static int oom(struct shard_error *err)
{
	return shard_error_set(err, SHARD_ENOMEM, "out of memory");
}

/* ---------------------------------------------------------------- temporary files */

/* Remove every temporary file registered, newest first so that files go
 * before the directories that hold them; the caller holds mu. */
static void remove_tmp(struct shard_shuffler *s)
{
	char path[PATH_MAX + 120];
	int i;
	if (!s->tmpdir[0])
		return;
	for (i = s->ntmp - 1; i >= 0; i--) {
		size_t n = strlen(s->tmpdir), k = strlen(s->tmpfiles[i]);
		memcpy(path, s->tmpdir, n);
		path[n] = '/';
		memcpy(path + n + 1, s->tmpfiles[i], k + 1);
		if (unlink(path) != 0)
			rmdir(path);
		memcpy(path + n + 1 + k, s->tmpsuffix, strlen(s->tmpsuffix) + 1);
		unlink(path);
	}
	rmdir(s->tmpdir);
	s->tmpdir[0] = 0;
	s->ntmp = 0;
}

void shard_shuffler_kill(struct shard_shuffler *s)
{
	pthread_mutex_lock(&s->mu);	/* never given back */
	if (s->spool)
		shard_sink_kill(s->spool);
	remove_tmp(s);
}

/* The temporary directory, made at the first file; the caller holds mu. */
static int make_tmpdir(struct shard_shuffler *s, struct shard_error *err)
{
	const char *base = s->tmpbase ? s->tmpbase : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	if (s->tmpdir[0])
		return 0;
	snprintf(s->tmpdir, sizeof s->tmpdir, "%s/shard-shuffle.XXXXXX", base);
	snprintf(s->tmpsuffix, sizeof s->tmpsuffix, ".tmp.%ld", (long)getpid());
	if (!mkdtemp(s->tmpdir)) {
		int e = errno;
		s->tmpdir[0] = 0;
		return shard_error_set(err, SHARD_EIO, "%s: cannot make a temporary directory: %s", base, strerror(e));
	}
	return 0;
}

/* Register a name (fmt with k) inside the temporary directory, its path in
 * buf when given; the caller holds mu until the file exists. too_many is the
 * message when the list is full. */
static int tmp_register(struct shard_shuffler *s, const char *fmt, unsigned long long k, char *buf, size_t n,
			const char *too_many, struct shard_error *err)
{
	int rc;
	if ((rc = make_tmpdir(s, err)))
		return rc;
	if (s->ntmp >= MAX_TMP)
		return shard_error_set(err, SHARD_ELIMIT, "%s", too_many);
	snprintf(s->tmpfiles[s->ntmp], sizeof s->tmpfiles[0], fmt, k);
	if (buf)
		snprintf(buf, n, "%s/%s", s->tmpdir, s->tmpfiles[s->ntmp]);
	s->ntmp++;
	return 0;
}

/* ---------------------------------------------------------------- the handle */

int shard_shuffler_new(struct shard_shuffler **out, const struct shard_shuffle_opts *o, struct shard_error *err)
{
	struct shard_shuffler *s;
	uint64_t world = o->world ? o->world : 1;

	*out = NULL;
	if (o->rank >= world)
		return shard_error_set(err, SHARD_EARG, "rank %llu is not below world %llu", (unsigned long long)o->rank,
				       (unsigned long long)world);
	if (o->pad && !o->batch)
		return shard_error_set(err, SHARD_EARG, "padding needs a batch size");
	if (o->mode == SHARD_SHUFFLE_BUFFER && o->batch)
		return shard_error_set(err, SHARD_EARG, "a batch size needs the epoch's length: not with a buffer shuffle");
	if (o->mode == SHARD_SHUFFLE_BUFFER && !o->buffer)
		return shard_error_set(err, SHARD_EARG, "a buffer shuffle needs a buffer of at least one sample");
	if (o->mode < SHARD_SHUFFLE_FULL || o->mode > SHARD_SHUFFLE_BUFFER)
		return shard_error_set(err, SHARD_EARG, "unknown shuffle mode %d", o->mode);
	if (!(s = calloc(1, sizeof *s)))
		return oom(err);
	s->o = *o;
	s->o.world = world;
	if (!s->o.memory)
		s->o.memory = 1ull << 30;
	s->o.tmpdir = NULL;
	if ((o->tmpdir && !(s->tmpbase = strdup(o->tmpdir))) || !(s->tmpfiles = calloc(MAX_TMP, sizeof *s->tmpfiles))) {
		free(s->tmpbase);
		free(s);
		return oom(err);
	}
	pthread_mutex_init(&s->mu, NULL);
	*out = s;
	return 0;
}

const struct shard_entry *shard_shuffler_entry(const struct shard_shuffler *s)
{
	return s->opened ? &s->entry : NULL;
}

const char *shard_shuffler_extra(const struct shard_shuffler *s)
{
	return s->extra;
}

static void close_buckets(struct shard_shuffler *s)
{
	size_t w;
	for (w = 0; s->files && w < s->nwin; w++)
		if (s->files[w])
			fclose(s->files[w]);
	free(s->files);
	free(s->names);
	s->files = NULL;
	s->names = NULL;
}

void shard_shuffler_free(struct shard_shuffler *s)
{
	uint64_t i;
	if (!s)
		return;
	close_buckets(s);
	pthread_mutex_lock(&s->mu);
	if (s->spool)
		shard_sink_abort(s->spool);
	s->spool = NULL;
	remove_tmp(s);
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_destroy(&s->mu);
	if (s->src)
		shard_source_close(s->src);
	shard_item_free(&s->it);
	for (i = 0; i < s->fill; i++)
		shard_buf_free(&s->slots[i]);
	free(s->slots);
	shard_buf_free(&s->out);
	free(s->idx);
	shard_index_free(&s->ix);
	free(s->first);
	free(s->perm);
	free(s->where);
	free(s->off);
	free(s->len);
	free(s->bounds);
	shard_buf_free(&s->arena);
	shard_entry_free(&s->entry);
	free(s->extra);
	free(s->tmpfiles);
	free(s->tmpbase);
	free(s->path);
	free(s);
}

/* Samples must share one schema to be mixed into the same shards. */
static int same_schema(const struct shard_entry *a, const struct shard_entry *b, const char *name,
		       struct shard_error *err)
{
	if (shard_schema_same(&a->schema, &b->schema))
		return 0;
	return shard_error_set(err, SHARD_EDATA,
			       "%s: its columns differ from the first shard's; shards of one dataset must agree", name);
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

/* The global sample index at position k of the share. */
static uint64_t order_at(const struct shard_shuffler *s, uint64_t k)
{
	return s->perm[shard_dealer_at(&s->d, k)];
}

/* The next shard of src: loaded and decompressed when wanted, otherwise
 * passed over without being read. Returns as shard_source_next does. */
static int next_shard(struct shard_shuffler *s, struct shard_source *src, struct shard_item *it, int wanted,
		      struct shard_error *err)
{
	int r = wanted ? shard_source_next(src, it, err) : shard_source_skip(src, it, err);
	if (r > 0 && wanted) {
		if (shard_item_load_raw(it, 1, err))
			return -err->status;
		read_bytes(s, it->stored.len);
	}
	return r;
}

/* Open the dataset for a pass over its shards, needed[g] (or where[g]) saying
 * which samples are; the shards with none of them (and samples at all) are
 * declared passed over, so that a remote dataset's read-ahead does not fetch
 * them. */
static int open_pass(struct shard_shuffler *s, const uint8_t *needed, const uint64_t *where, struct shard_source **src,
		     struct shard_error *err)
{
	const uint64_t *first = s->first;
	uint64_t g;
	size_t sh;
	int rc;

	if ((rc = shard_source_open(src, s->path, SHARD_SRC_VERIFY_HASHES, err)))
		return rc;
	for (sh = 0; sh < s->ix.nshards; sh++) {
		int wanted = first[sh] == first[sh + 1];
		for (g = first[sh]; g < first[sh + 1] && !wanted; g++)
			wanted = needed ? needed[g] : where[g] != 0;
		if (!wanted && shard_source_pass_over(*src, sh)) {
			shard_source_close(*src);
			return oom(err);
		}
	}
	return 0;
}

/* After a pass over the shards: r is the last next_shard result, n how many
 * were passed; a source that ran out early is a damaged dataset. */
static int end_pass(const struct shard_shuffler *s, struct shard_source *src, struct shard_item *it, int r,
		    size_t n, struct shard_error *err)
{
	int rc = r < 0 ? -r : 0;
	if (!rc && n < s->ix.nshards)
		rc = shard_error_set(err, SHARD_EDATA, "%s: fewer shards than its index lists", s->path);
	shard_item_free(it);
	shard_source_close(src);
	return rc;
}

/* Cut this rank's order into windows whose samples' estimated bytes fit the memory. */
static int plan_windows(struct shard_shuffler *s, struct shard_error *err)
{
	const struct shard_index *ix = &s->ix;
	uint64_t w0 = 0, *nb;
	size_t n = 0;
	if (!(s->bounds = malloc(2 * sizeof *s->bounds)))
		return oom(err);
	s->bounds[n++] = 0;
	while (w0 < s->d.count) {
		uint64_t w1 = w0, bytes = 0;
		while (w1 < s->d.count && (w1 == w0 || bytes < s->o.memory)) {
			size_t sh = shard_of(s->first, ix->nshards, order_at(s, w1));
			bytes += ix->shards[sh].samples ? ix->shards[sh].raw.bytes / ix->shards[sh].samples + 8 : 8;
			w1++;
		}
		if (!(nb = realloc(s->bounds, (n + 2) * sizeof *nb)))
			return oom(err);
		s->bounds = nb;
		s->bounds[n++] = w1;
		w0 = w1;
	}
	s->nwin = n - 1;
	return 0;
}

/* Append one bucket record: a position of the share and its sample's bytes. */
static int bucket_put(struct shard_shuffler *s, size_t w, uint64_t pos, const uint8_t *p, size_t len,
		      struct shard_error *err)
{
	uint64_t rec[2] = {pos, len};
	if (fwrite(rec, sizeof rec, 1, s->files[w]) != 1 || (len && fwrite(p, len, 1, s->files[w]) != 1))
		return shard_error_set(err, SHARD_EIO, "%s: %s", s->names[w], strerror(errno));
	return 0;
}

/* External shuffle: one pass over the input scatters every needed sample into
 * the bucket file of its window (a temporary file), once per position it
 * takes (padding may repeat one); then each bucket, which fits the memory, is
 * read back in turn (load_bucket). Memory: the inverse of the epoch's order
 * and a mark per sample, whatever the share's length. */
static int scatter(struct shard_shuffler *s, struct shard_error *err)
{
	const struct shard_index *ix = &s->ix;
	const uint64_t *first = s->first;
	uint64_t n = s->d.n, *inv = malloc((n + 1) * sizeof *inv), i, g;
	uint8_t *needed = calloc(n + 1, 1);
	struct shard_source *src;
	struct shard_item it = {0};
	size_t w, sh;
	int r = 1, rc = 0;

	s->files = calloc(s->nwin, sizeof *s->files);
	s->names = calloc(s->nwin, sizeof *s->names);
	if (!inv || !needed || !s->files || !s->names) {
		rc = oom(err);
		goto out;
	}
	for (i = 0; i < n; i++)
		inv[s->perm[i]] = i;
	for (i = 0; i < s->d.count; i++)
		needed[order_at(s, i)] = 1;
	for (w = 0; w < s->nwin; w++) {
		int fd = -1;
		pthread_mutex_lock(&s->mu);
		rc = tmp_register(s, "bucket.%05llu", w, s->names[w], sizeof s->names[w],
				  "too many temporary files: raise --memory", err);
		if (!rc)
			fd = shard_create_new(s->names[w], 1, err);
		pthread_mutex_unlock(&s->mu);
		if (rc || fd < 0) {
			rc = rc ? rc : err->status;
			goto out;
		}
		if (!(s->files[w] = fdopen(fd, "w+b"))) {
			rc = shard_error_set(err, SHARD_EIO, "%s: %s", s->names[w], strerror(errno));
			close(fd);
			goto out;
		}
	}
	if ((rc = open_pass(s, needed, NULL, &src, err)))
		goto out;
	for (sh = 0; sh < ix->nshards && !rc; sh++) {
		/* a shard said to hold no samples is in nobody's share: read and checked all the same */
		int wanted = first[sh] == first[sh + 1];
		for (g = first[sh]; g < first[sh + 1] && !wanted; g++)
			wanted = needed[g];
		if ((r = next_shard(s, src, &it, wanted, err)) <= 0)
			break;
		for (g = first[sh]; wanted && g < first[sh + 1] && !rc; g++) {
			const uint8_t *p;
			size_t len;
			uint64_t pos;
			if (!needed[g])
				continue;
			shard_mds_sample(&it.mds, (uint32_t)(g - first[sh]), &p, &len);
			/* every position of the epoch's order holding g: perm wraps around */
			for (i = inv[g]; i < s->d.total && !rc; i += n) {
				size_t lo = 0, hi = s->nwin;
				if (!shard_dealer_find(&s->d, i, &pos))
					continue;
				while (lo + 1 < hi) {	/* the window holding this position */
					size_t mid = (lo + hi) / 2;
					if (s->bounds[mid] <= pos)
						lo = mid;
					else
						hi = mid;
				}
				rc = bucket_put(s, lo, pos, p, len, err);
			}
		}
	}
	if (rc) {
		shard_item_free(&it);
		shard_source_close(src);
	} else {
		rc = end_pass(s, src, &it, r, sh, err);
	}
out:
	free(inv);
	free(needed);
	return rc;
}

/* Read window w's bucket back into the arena, each position's bytes at
 * off[pos - bounds[w]], then remove the file. */
static int load_bucket(struct shard_shuffler *s, size_t w, struct shard_error *err)
{
	uint64_t w0 = s->bounds[w], w1 = s->bounds[w + 1], rec[2];
	FILE *f = s->files[w];

	free(s->off);
	free(s->len);
	s->off = malloc((w1 - w0 + 1) * sizeof *s->off);
	s->len = malloc((w1 - w0 + 1) * sizeof *s->len);
	s->arena.len = 0;
	if (!s->off || !s->len)
		return oom(err);
	if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0)
		return shard_error_set(err, SHARD_EIO, "%s: %s", s->names[w], strerror(errno));
	while (fread(rec, sizeof rec, 1, f) == 1) {
		if (rec[0] < w0 || rec[0] >= w1 || shard_buf_reserve(&s->arena, (size_t)rec[1]))
			return shard_error_set(err, SHARD_EIO, "%s: corrupt temporary file", s->names[w]);
		if (rec[1] && fread(s->arena.p + s->arena.len, (size_t)rec[1], 1, f) != 1)
			return shard_error_set(err, SHARD_EIO, "%s: short read", s->names[w]);
		s->off[rec[0] - w0] = s->arena.len;
		s->len[rec[0] - w0] = rec[1];
		s->arena.len += (size_t)rec[1];
	}
	fclose(f);
	s->files[w] = NULL;
	unlink(s->names[w]);
	return 0;
}

/* The share's samples held in memory: one pass reads the shards that hold
 * any (the others are not read); a repeat (padding) comes from the same
 * slot, so there are no more slots than samples. */
static int gather(struct shard_shuffler *s, struct shard_error *err)
{
	const struct shard_index *ix = &s->ix;
	const uint64_t *first = s->first;
	uint64_t i, nslots = 0;
	struct shard_source *src;
	struct shard_item it = {0};
	size_t sh;
	int r = 1, rc;

	s->where = calloc(first[ix->nshards] + 1, sizeof *s->where);
	if (!s->where)
		return oom(err);
	for (i = 0; i < s->d.count; i++) {
		uint64_t g = order_at(s, i);
		if (!s->where[g])
			s->where[g] = ++nslots;
	}
	s->off = malloc((nslots + 1) * sizeof *s->off);
	s->len = malloc((nslots + 1) * sizeof *s->len);
	if (!s->off || !s->len)
		return oom(err);
	if ((rc = open_pass(s, NULL, s->where, &src, err)))
		return rc;
	for (sh = 0; sh < ix->nshards && !rc; sh++) {
		uint64_t j;
		int wanted = first[sh] == first[sh + 1];	/* no samples: nobody's share, checked all the same */
		for (j = first[sh]; j < first[sh + 1] && !wanted; j++)
			wanted = s->where[j] != 0;
		if ((r = next_shard(s, src, &it, wanted, err)) <= 0)
			break;
		for (j = first[sh]; wanted && j < first[sh + 1]; j++) {
			const uint8_t *p;
			size_t n;
			if (!s->where[j])
				continue;
			shard_mds_sample(&it.mds, (uint32_t)(j - first[sh]), &p, &n);
			s->off[s->where[j] - 1] = s->arena.len;
			s->len[s->where[j] - 1] = n;
			if (shard_buf_append(&s->arena, p, n)) {
				rc = oom(err);
				break;
			}
		}
	}
	if (rc) {
		shard_item_free(&it);
		shard_source_close(src);
		return rc;
	}
	return end_pass(s, src, &it, r, sh, err);
}

/* A stream cannot be read twice: it is spooled to a temporary dataset, each
 * shard's name registered before the sink writes it, so that a kill removes
 * it. */
static int spool(struct shard_shuffler *s, struct shard_error *err)
{
	struct shard_source *src = NULL;
	struct shard_item it = {0};
	int r, rc;

	pthread_mutex_lock(&s->mu);
	rc = make_tmpdir(s, err);
	pthread_mutex_unlock(&s->mu);
	if (rc || (rc = shard_source_open(&src, "-", SHARD_SRC_VERIFY_HASHES, err)))
		return rc;
	pthread_mutex_lock(&s->mu);
	rc = tmp_register(s, "spool", 0, s->spooldir, sizeof s->spooldir, "too many temporary files: raise --memory",
			  err);
	if (!rc)
		rc = shard_sink_open_dir(&s->spool, s->spooldir, err);
	pthread_mutex_unlock(&s->mu);
	if (rc)
		goto out;
	shard_sink_set_sync(s->spool, 0);	/* scratch, removed at the end: nothing to keep across a power loss */
	while ((r = shard_source_next(src, &it, err)) > 0) {
		struct shard_codec cd = {0};
		if (it.stored_is_zip && (rc = shard_codec_parse(it.entry.compression, &cd, err)))
			goto out;
		pthread_mutex_lock(&s->mu);
		rc = tmp_register(s, "spool/shard.%05llu.mds", shard_sink_shards(s->spool), NULL, 0,
				  "too many shards to spool", err);
		if (!rc && it.stored_is_zip)
			snprintf(s->tmpfiles[s->ntmp - 1] + strlen(s->tmpfiles[s->ntmp - 1]),
				 sizeof s->tmpfiles[0] - strlen(s->tmpfiles[s->ntmp - 1]), ".%s", cd.ext);
		pthread_mutex_unlock(&s->mu);
		if (rc)
			goto out;
		shard_sink_set_extra(s->spool, shard_source_extra(src));	/* logical types travel */
		if ((rc = shard_sink_put(s->spool, &it.entry, it.stored.p, it.stored.len, it.stored_is_zip, err)))
			goto out;
		read_bytes(s, it.stored.len);
	}
	if (r < 0) {
		rc = -r;
		goto out;
	}
	pthread_mutex_lock(&s->mu);
	if (s->ntmp < MAX_TMP)
		snprintf(s->tmpfiles[s->ntmp++], sizeof s->tmpfiles[0], "spool/index.json");
	rc = shard_sink_close(s->spool, err);
	s->spool = NULL;
	pthread_mutex_unlock(&s->mu);
	if (!rc && !(s->path = strdup(s->spooldir)))
		rc = oom(err);
out:
	shard_item_free(&it);
	shard_source_close(src);
	return rc;
}

/* Before anything is sized from index.json's counts (a full shuffle takes
 * about 32 bytes per sample): each shard file is looked at, not read, and its
 * entry's claims checked against its real size and SHARDKIT_MAX_SHARD. A raw
 * shard's size bounds its count; a compressed one's only loosely, so when the
 * counts would take more than the memory the compressed shards are read once
 * first and their counts checked against their bytes. A missing shard (one a
 * skip passes over need not be there) backs no count: the counts of missing
 * shards may not take more than the memory. */
static int check_claims(struct shard_shuffler *s, struct shard_error *err)
{
	const struct shard_index *ix = &s->ix;
	const char *path = s->path;
	uint64_t limit, zipped = 0, missing = 0;
	size_t i;
	int rc;

	if ((rc = shard_max_shard(&limit, err)))
		return rc;
	for (i = 0; i < ix->nshards; i++) {
		const struct shard_entry *e = &ix->shards[i];
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
			if ((rc = shard_entry_check(e, e->has_zip, UINT64_MAX, limit, err))) {
				shard_error_prefix(err, "%s", e->has_zip ? zipp : rawp);
				return rc;
			}
			missing += e->samples;
			continue;
		}
		if ((rc = shard_entry_check(e, zip, (uint64_t)st.st_size, limit, err))) {
			shard_error_prefix(err, "%s", name);
			return rc;
		}
		if (zip)
			zipped += e->samples;
	}
	if (missing > s->o.memory / 32)
		return shard_error_set(err, SHARD_EDATA,
				       "%s: index.json lists %llu samples in shards that are missing: "
				       "more than --memory allows to take on trust",
				       path, (unsigned long long)missing);
	if (zipped + missing > s->o.memory / 32) {
		struct shard_source *src;
		struct shard_item it = {0};
		int r = 1;
		if ((rc = shard_source_open(&src, path, 0, err)))
			return rc;
		for (i = 0; i < ix->nshards; i++) {
			const struct shard_entry *e = &ix->shards[i];
			char zipp[PATH_MAX + 8400];
			struct stat st;
			snprintf(zipp, sizeof zipp, "%s/%s", path, e->has_zip ? e->zip.basename : "");
			r = e->has_zip && stat(zipp, &st) == 0 ? shard_source_next(src, &it, err)
							       : shard_source_skip(src, &it, err);
			if (r <= 0)
				break;
			/* the header's count against the index's, the offsets against the bytes */
			if (it.stored_is_zip && shard_item_load_raw(&it, 0, err)) {
				r = -err->status;
				break;
			}
		}
		return end_pass(s, src, &it, r, i, err);
	}
	return 0;
}

/* The dataset's index, checked; the epoch's order (over the whole dataset,
 * or shard by shard) and this rank's deal of it. */
static int open_permuted(struct shard_shuffler *s, struct shard_error *err)
{
	struct shard_index *ix = &s->ix;
	char ipath[PATH_MAX + 16];
	size_t i;
	int rc;

	snprintf(ipath, sizeof ipath, "%s/index.json", s->path);
	if ((rc = shard_index_load(ix, ipath, err)))
		return rc;
	if (!ix->nshards)
		return shard_error_set(err, SHARD_EDATA, "%s: the dataset has no shards", s->path);
	if (!(s->first = calloc(ix->nshards + 1, sizeof *s->first)))
		return oom(err);
	for (i = 0; i < ix->nshards; i++) {
		if ((rc = same_schema(&ix->shards[0], &ix->shards[i], s->path, err)))
			return rc;
		s->first[i + 1] = s->first[i] + ix->shards[i].samples;
	}
	if ((rc = check_claims(s, err)))
		return rc;
	if (!(s->perm = malloc((s->first[ix->nshards] + 1) * sizeof *s->perm)) ||
	    shard_epoch_order(s->o.seed, s->o.epoch, s->o.mode == SHARD_SHUFFLE_BLOCK, s->first, ix->nshards, s->perm))
		return oom(err);
	if (shard_dealer_init(&s->d, s->first[ix->nshards], s->o.rank, s->o.world, s->o.batch, s->o.pad, s->o.skip))
		return shard_error_set(err, SHARD_EARG, "--batch %llu is too large for --world %llu",
				       (unsigned long long)s->o.batch, (unsigned long long)s->o.world);
	if (shard_entry_copy(&s->entry, &ix->shards[0]) || (ix->extra && !(s->extra = strdup(ix->extra))))
		return oom(err);
	return 0;
}

/* The next sample of the share: the first call reads the input (into memory
 * or into buckets), later ones read a bucket back when its window begins. */
static int next_permuted(struct shard_shuffler *s, struct shard_shuffle_sample *out, struct shard_error *err)
{
	uint64_t k;
	int rc;

	if (!s->started) {
		s->started = 1;
		if ((rc = plan_windows(s, err)))
			return -rc;
		if ((rc = s->nwin > 1 ? scatter(s, err) : gather(s, err)))
			return -rc;
		s->win = 0;
	}
	if (s->i >= s->d.count)
		return 0;
	if (s->nwin > 1) {
		if (s->i == s->bounds[s->win + (s->i > 0)]) {
			s->win += s->i > 0;
			if ((rc = load_bucket(s, s->win, err)))
				return -rc;
		}
		k = s->i - s->bounds[s->win];
	} else {
		k = s->where[order_at(s, s->i)] - 1;
	}
	s->i++;
	out->p = s->arena.p + s->off[k];
	out->len = (size_t)s->len[k];
	out->entry = &s->entry;
	return 1;
}

/* ---------------------------------------------------------------- buffer shuffle */

/* The stream's next shard, loaded; 0 at its end. */
static int buffer_shard(struct shard_shuffler *s, struct shard_error *err)
{
	int r = shard_source_next(s->src, &s->it, err);
	if (r <= 0)
		return r;
	if (shard_item_load_raw(&s->it, 1, err))
		return -err->status;
	read_bytes(s, s->it.stored.len);
	s->k = 0;
	return 1;
}

static int open_buffer(struct shard_shuffler *s, struct shard_error *err)
{
	const char *extra;
	int r;

	shard_rng_seed(&s->rng, s->o.seed, s->o.epoch);
	if ((r = shard_source_open(&s->src, s->path, SHARD_SRC_VERIFY_HASHES, err)))
		return r;
	if ((r = buffer_shard(s, err)) < 0)
		return -r;
	if (r == 0)
		return shard_error_set(err, SHARD_EDATA, "%s: no shards", s->path);
	extra = shard_source_extra(s->src);
	if (shard_entry_copy(&s->entry, &s->it.entry) || (extra && !(s->extra = strdup(extra))))
		return oom(err);
	return 0;
}

/* A window of samples: each incoming sample replaces a random one, which goes
 * out; at the stream's end the window drains in random order. Memory holds
 * the window; the order is local (a sample moves about a window's length),
 * which is what a stream read once allows. Every rank draws the same
 * numbers, and keeps its positions of them. */
static int next_buffer(struct shard_shuffler *s, struct shard_shuffle_sample *out, struct shard_error *err)
{
	for (;;) {
		const uint8_t *p;
		size_t n;
		struct shard_buf *b;
		if (s->draining) {
			if (s->di >= s->fill)
				return 0;
			b = &s->slots[s->idx[s->di++]];
		} else if (s->k >= s->it.mds.nsamples) {
			int r = buffer_shard(s, err), rc;
			if (r < 0)
				return r;
			if (r > 0 && (rc = same_schema(&s->entry, &s->it.entry, s->it.name, err)))
				return -rc;
			if (r == 0) {
				uint64_t i;
				if (!(s->idx = malloc((s->fill + 1) * sizeof *s->idx)))
					return -oom(err);
				for (i = 0; i < s->fill; i++)
					s->idx[i] = i;
				shard_permute(&s->rng, s->idx, s->fill);
				s->draining = 1;
			}
			continue;
		} else {
			struct shard_buf t;
			uint64_t i;
			shard_mds_sample(&s->it.mds, s->k++, &p, &n);
			if (s->fill < s->o.buffer) {
				if (s->fill == s->cap) {
					struct shard_buf *ns;
					uint64_t cap = s->cap ? s->cap * 2 : 1024;
					if (cap > s->o.buffer)
						cap = s->o.buffer;
					if (!(ns = realloc(s->slots, cap * sizeof *ns)))
						return -oom(err);
					memset(ns + s->fill, 0, (cap - s->fill) * sizeof *ns);
					s->slots = ns;
					s->cap = cap;
				}
				if (shard_buf_append(&s->slots[s->fill], p, n))
					return -oom(err);
				s->fill++;
				continue;
			}
			/* the sample going out moves to out, the incoming one takes its slot */
			i = shard_rng_below(&s->rng, s->o.buffer);
			t = s->out;
			s->out = s->slots[i];
			s->slots[i] = t;
			s->slots[i].len = 0;
			if (shard_buf_append(&s->slots[i], p, n))
				return -oom(err);
			b = &s->out;
		}
		if (s->pos++ % s->o.world == s->o.rank && s->kept++ >= s->o.skip) {
			out->p = b->p;
			out->len = b->len;
			out->entry = &s->entry;
			return 1;
		}
	}
}

/* ---------------------------------------------------------------- the calls */

int shard_shuffler_open(struct shard_shuffler *s, const char *path, struct shard_error *err)
{
	int rc;
	if (s->opened || s->path)
		return shard_error_set(err, SHARD_EARG, "the shuffler has its input already");
	if (s->o.mode == SHARD_SHUFFLE_BUFFER || strcmp(path, "-")) {
		if (!(s->path = strdup(path)))
			return oom(err);
	} else if ((rc = spool(s, err))) {
		return rc;
	}
	rc = s->o.mode == SHARD_SHUFFLE_BUFFER ? open_buffer(s, err) : open_permuted(s, err);
	s->opened = !rc;
	return rc;
}

int shard_shuffler_next(struct shard_shuffler *s, struct shard_shuffle_sample *out, struct shard_error *err)
{
	if (!s->opened)
		return -shard_error_set(err, SHARD_EARG, "the shuffler has no input: open it first");
	return s->o.mode == SHARD_SHUFFLE_BUFFER ? next_buffer(s, out, err) : next_permuted(s, out, err);
}
