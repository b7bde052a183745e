/* Sources yield whole shards one at a time from a dataset directory or URL
 * (through its index.json), a loose shard file, or a shard stream; memory
 * holds one shard, and for a URL the shards fetched ahead (the fetcher's
 * read-ahead window, lib/io/fetch.c). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shard.h"
#include "internal.h"
#include "remote.h"

enum { SRC_DIR, SRC_LOOSE, SRC_STREAM };

struct shard_source {
	int kind, flags;
	char *path;		/* dataset directory or URL, loose file or stream name */
	struct shard_remote *remote;	/* a dataset under a URL */
	struct shard_index ix;
	size_t next;
	int fd, done;
	uint64_t limit;		/* the largest raw shard taken (SHARDKIT_MAX_SHARD) */
	uint64_t frameno, samples, shards, bytes;
	char name[8600];
	struct shard_buf meta;
	char *extra;		/* the "shardkit" object of the index or the current frame */
	struct shard_error index_err;	/* with SHARD_SRC_INDEX_ERROR_OK: why the index did not load */
	/* a remote dataset: its shards fetched ahead, in order, by fetch; the
	 * parts of shards that -r wants by part (one file at a time) */
	struct shard_source_opts o;
	char *cache_dir;
	struct fetch_cache *cache;
	struct fetcher *fetch, *part;
	unsigned char *plan;	/* per shard: PLAN_WHOLE, PLAN_PART, PLAN_NONE or PLAN_SKIP */
	unsigned char *passed;	/* per shard: shard_source_pass_over said it will be skipped */
	uint64_t *firsts;	/* per shard: its first sample's number in the source */
	size_t planned;		/* shards before this are planned and, when whole, queued */
	int ranged;
	uint64_t lo, hi;
	char index_note[1024];	/* why index.json came from the cache */
};

/* whole: queued for the fetcher; part: its samples in the range by range
 * requests; none: outside the range; skip: to be passed over, not queued */
enum { PLAN_WHOLE, PLAN_PART, PLAN_NONE, PLAN_SKIP };

int shard_fileinfo_verify(const struct shard_fileinfo *f, const void *p, size_t n, int hashes, const char *what,
			  struct shard_error *err)
{
	size_t i;
	char hex[160];
	int rc;

	if (f->bytes != n)
		return shard_error_set(err, SHARD_EDATA, "%s: %zu bytes, index says %llu", what, n,
				       (unsigned long long)f->bytes);
	for (i = 0; hashes && i < f->nhashes; i++) {
		if (!shard_hash_known(f->hash_names[i]))
			return shard_error_set(err, SHARD_EDATA, "%s: unknown hash \"%s\"", what, f->hash_names[i]);
		if ((rc = shard_hash_hex(f->hash_names[i], p, n, hex, err)))
			return rc;
		if (strcmp(hex, f->hash_values[i]) != 0)
			return shard_error_set(err, SHARD_EDATA, "%s: %s mismatch (index %s, data %s)", what,
					       f->hash_names[i], f->hash_values[i], hex);
	}
	return 0;
}

/* The most raw bytes one compressed byte can stand for, where the format
 * bounds it: a zstd block of at most 128 KiB takes at least 4 bytes (an RLE
 * block), deflate at most 258 bytes per 2 bits, a snappy copy at most 64
 * bytes per 3; bzip2 and brotli have no useful bound (0). */
static uint64_t codec_ratio(int id)
{
	switch (id) {
	case SHARD_CODEC_ZSTD: return 32768;
	case SHARD_CODEC_GZ: return 1040;
	case SHARD_CODEC_SNAPPY: return 32;
	default: return 0;
	}
}

int shard_entry_check(const struct shard_entry *e, int stored_is_zip, uint64_t stored_size, uint64_t limit,
		      struct shard_error *err)
{
	if (e->raw.bytes > limit)
		return shard_error_set(err, SHARD_ELIMIT,
				       "shard of %llu bytes (raw_data) is over the limit of %llu bytes (SHARDKIT_MAX_SHARD)",
				       (unsigned long long)e->raw.bytes, (unsigned long long)limit);
	if (e->raw.bytes < 8 || e->samples > (e->raw.bytes - 8) / 4)
		return shard_error_set(err, SHARD_EDATA,
				       "index says %llu samples, more than a raw shard of %llu bytes can hold",
				       (unsigned long long)e->samples, (unsigned long long)e->raw.bytes);
	if (!stored_is_zip) {
		if (stored_size != UINT64_MAX && stored_size != e->raw.bytes)
			return shard_error_set(err, SHARD_EDATA, "%llu bytes, index says %llu",
					       (unsigned long long)stored_size, (unsigned long long)e->raw.bytes);
		return 0;
	}
	if (!e->has_zip)
		return shard_error_set(err, SHARD_EDATA, "compressed shard without zip_data");
	if (e->zip.bytes > shard_max_stored(limit))
		return shard_error_set(err, SHARD_ELIMIT,
				       "compressed shard of %llu bytes is over the limit of %llu bytes (SHARDKIT_MAX_SHARD)",
				       (unsigned long long)e->zip.bytes, (unsigned long long)shard_max_stored(limit));
	if (stored_size != UINT64_MAX && stored_size != e->zip.bytes)
		return shard_error_set(err, SHARD_EDATA, "%llu bytes, index says %llu",
				       (unsigned long long)stored_size, (unsigned long long)e->zip.bytes);
	{
		struct shard_codec c;
		uint64_t ratio;
		if (shard_codec_parse(e->compression, &c, err)) {
			err->status = SHARD_EDATA;
			return SHARD_EDATA;
		}
		ratio = codec_ratio(c.id);
		if (ratio && e->zip.bytes < UINT64_MAX / ratio && e->raw.bytes > e->zip.bytes * ratio + 64)
			return shard_error_set(err, SHARD_EDATA,
					       "index says %llu raw bytes, more than %llu compressed bytes of %s can hold",
					       (unsigned long long)e->raw.bytes, (unsigned long long)e->zip.bytes, c.ext);
	}
	return 0;
}

int shard_fileinfo_fill(struct shard_fileinfo *f, const char *const *algos, size_t nalgos, const char *basename,
		  const void *p, size_t n, struct shard_error *err)
{
	size_t i;
	char hex[160];
	int rc;

	memset(f, 0, sizeof *f);
	f->basename = strdup(basename);
	f->bytes = n;
	f->hash_names = calloc(nalgos + 1, sizeof *f->hash_names);
	f->hash_values = calloc(nalgos + 1, sizeof *f->hash_values);
	if (!f->basename || !f->hash_names || !f->hash_values)
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	for (i = 0; i < nalgos; i++) {
		if ((rc = shard_hash_hex(algos[i], p, n, hex, err)))
			return rc;
		f->hash_names[i] = strdup(algos[i]);
		f->hash_values[i] = strdup(hex);
		f->nhashes++;
		if (!f->hash_names[i] || !f->hash_values[i])
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	return 0;
}

const char *shard_source_extra(const struct shard_source *src)
{
	return src->kind == SRC_STREAM ? src->extra : src->ix.extra;
}

const struct shard_index *shard_source_index(const struct shard_source *src)
{
	return src->kind == SRC_STREAM ? NULL : &src->ix;
}

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A loose shard's entry comes from its embedded config and its bytes. */
static int loose_entry(struct shard_source *s, struct shard_item *it, struct shard_error *err)
{
	const char *base = strrchr(s->path, '/'), *dot;
	struct shard_codec c = {0};
	const uint8_t *cp;
	size_t cn;
	int rc;
	json_t *o = NULL;
	char rawname[4096];

	base = base ? base + 1 : s->path;
	dot = strstr(base, ".mds");
	if (!dot)
		return shard_error_set(err, SHARD_EARG, "%s: not a dataset directory or an MDS shard file (*.mds[.EXT])",
				       s->path);
	snprintf(rawname, sizeof rawname, "%.*s.mds", (int)(dot - base), base);
	if (dot[4] == '.') {
		if ((rc = shard_codec_parse(dot + 5, &c, err)))
			return shard_error_prefix(err, "%s", s->path);
		it->stored_is_zip = 1;
		if ((rc = shard_decompress(&c, it->stored.p, it->stored.len, s->limit, &it->raw, err)))
			return shard_error_prefix(err, "%s", s->path);
	} else if (dot[4] != 0) {
		return shard_error_set(err, SHARD_EARG, "%s: not an MDS shard file name (*.mds[.EXT])", s->path);
	}
	it->raw_loaded = 1;
	if ((rc = shard_mds_parse(&it->mds, c.id ? it->raw.p : it->stored.p, c.id ? it->raw.len : it->stored.len,
				  err)))
		return shard_error_prefix(err, "%s", s->path);
	shard_mds_config(&it->mds, &cp, &cn);
	/* The config has the entry's keys minus raw_data/samples/zip_data. */
	o = json_loadb((const char *)cp, cn, 0, NULL);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		return shard_error_set(err, SHARD_EDATA, "%s: the shard's embedded config is not a JSON object", s->path);
	}
	json_object_set_new(o, "samples", json_integer(it->mds.nsamples));
	{
		json_t *ri = json_object();
		json_object_set_new(ri, "basename", json_string(rawname));
		json_object_set_new(ri, "bytes", json_integer((json_int_t)it->mds.size));
		json_object_set_new(ri, "hashes", json_object());
		json_object_set_new(o, "raw_data", ri);
	}
	json_object_set_new(o, "zip_data", json_null());
	if (c.id && !json_is_string(json_object_get(o, "compression")))
		json_object_set_new(o, "compression", json_string(c.ext));
	{
		char *txt = json_dumps(o, 0);
		json_decref(o);
		if (!txt)
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
		rc = shard_entry_from_json(&it->entry, txt, strlen(txt), err);
		free(txt);
	}
	if (rc)
		return shard_error_prefix(err, "%s: embedded config", s->path);
	/* file infos computed from the bytes, with the hashes the config lists */
	{
		struct shard_fileinfo fi;
		if ((rc = shard_fileinfo_fill(&fi, (const char *const *)it->entry.hashes, it->entry.nhashes, rawname,
					it->mds.data, it->mds.size, err)))
			return rc;
		shard_entry_set_raw(&it->entry, &fi);
	}
	if (it->stored_is_zip) {
		if ((rc = shard_fileinfo_fill(&it->entry.zip, (const char *const *)it->entry.hashes, it->entry.nhashes,
					base, it->stored.p, it->stored.len, err)))
			return rc;
		it->entry.has_zip = 1;
	}
	return 0;
}

/* An index that did not load, kept for shard_source_index_error: the
 * dataset opens with no shards. */
static void keep_index_error(struct shard_source *s, const struct shard_error *err)
{
	s->index_err = *err;
	shard_index_free(&s->ix);
	memset(&s->ix, 0, sizeof s->ix);
}

/* A size from the environment (K/M/G suffixes), or def. */
static int env_size(const char *name, uint64_t def, uint64_t min, uint64_t *out, struct shard_error *err)
{
	const char *v = getenv(name);
	*out = def;
	if (!v || !*v)
		return 0;
	if (shard_parse_size(v, out) || *out < min)
		return shard_error_set(err, SHARD_EARG, "%s=%s: expected a size of at least %llu bytes (such as 64M or 2G)",
				       name, v, (unsigned long long)min);
	return 0;
}

/* The options of a remote read: the caller's, else the environment's, else the defaults. */
static int remote_opts(struct shard_source *s, const struct shard_source_opts *o, struct shard_error *err)
{
	uint64_t v;
	const char *dir;
	int rc;

	if (o)
		s->o = *o;
	if (!s->o.in_flight) {
		if ((rc = env_size("SHARDKIT_IN_FLIGHT", SHARD_SOURCE_IN_FLIGHT_DEFAULT, 1, &v, err)))
			return rc;
		if (v > 256)
			return shard_error_set(err, SHARD_EARG, "SHARDKIT_IN_FLIGHT=%s: expected 1 to 256",
					       getenv("SHARDKIT_IN_FLIGHT"));
		s->o.in_flight = (unsigned)v;
	}
	if (!s->o.window && (rc = env_size("SHARDKIT_READ_AHEAD", SHARD_SOURCE_WINDOW_DEFAULT, 1, &s->o.window, err)))
		return rc;
	if (!s->o.cache_limit &&
	    (rc = env_size("SHARDKIT_CACHE_SIZE", SHARD_SOURCE_CACHE_DEFAULT, 1, &s->o.cache_limit, err)))
		return rc;
	dir = s->o.cache_dir ? s->o.cache_dir : getenv("SHARDKIT_CACHE");
	s->o.cache_dir = NULL;
	if (dir && *dir && !(s->cache_dir = strdup(dir)))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	return 0;
}

/* A remote dataset's index.json; with a cache, kept there, and read from
 * there when the server cannot be reached (no answer at all). */
static int index_load(struct shard_source *s, struct shard_error *err)
{
	struct shard_buf b = {0};
	char name[8400];
	long code = 0;
	int rc;

	if (!s->cache)
		return shard_index_load_remote(&s->ix, s->remote, err);
	snprintf(name, sizeof name, "%s/index.json", s->path);
	rc = shard_remote_get(s->remote, "index.json", &b, 4ull << 30, err);
	curl_easy_getinfo(s->remote->curl, CURLINFO_RESPONSE_CODE, &code);
	if (!rc) {
		cache_keep(s->cache, s->path, "index.json", b.p, b.len);
	} else if (rc == SHARD_EIO && !code && !cache_read(s->cache, s->path, "index.json", 4ull << 30, &b)) {
		snprintf(s->index_note, sizeof s->index_note, "%s", err->msg);
		shard_error_clear(err);
		rc = 0;
	}
	if (!rc)
		rc = shard_index_parse(&s->ix, (const char *)b.p, b.len, name, err);
	shard_buf_free(&b);
	return rc;
}

int shard_source_open(struct shard_source **out, const char *path, int flags, struct shard_error *err)
{
	return shard_source_open_opts(out, path, flags, NULL, err);
}

int shard_source_open_opts(struct shard_source **out, const char *path, int flags, const struct shard_source_opts *o,
			   struct shard_error *err)
{
	struct shard_source *s = calloc(1, sizeof *s);
	int rc;

	*out = NULL;
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	s->flags = flags;
	s->fd = -1;
	if ((rc = shard_max_shard(&s->limit, err)))
		goto fail;
	if (strcmp(path, "-") == 0) {
		int eof;
		s->kind = SRC_STREAM;
		s->fd = 0;
		snprintf(s->name, sizeof s->name, "<stdin>");
		if ((rc = stream_read_header(0, s->name, &eof, err)) ||
		    (eof && (rc = shard_error_set(err, SHARD_EDATA, "<stdin>: empty input, not a shard stream")))) {
			shard_error_file(err, s->name);
			goto fail;
		}
	} else if (shard_is_url(path)) {
		s->kind = SRC_DIR;
		if ((rc = remote_opts(s, o, err)) || (rc = shard_remote_open(&s->remote, path, err)))
			goto fail;
		if (s->cache_dir && (rc = cache_open(&s->cache, s->cache_dir, s->o.cache_limit, err)))
			goto fail;
		free(s->path);
		if (!(s->path = strdup(shard_remote_url(s->remote)))) {
			rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
			goto fail;
		}
		if ((rc = index_load(s, err)) &&
		    !((flags & SHARD_SRC_INDEX_ERROR_OK) && (rc == SHARD_EDATA || rc == SHARD_ENOENT)))
			goto fail;
		if (rc)
			keep_index_error(s, err);
	} else if (is_dir(path)) {
		char ip[4200];
		s->kind = SRC_DIR;
		snprintf(ip, sizeof ip, "%s/index.json", path);
		if ((rc = shard_index_load(&s->ix, ip, err)) && !(flags & SHARD_SRC_INDEX_ERROR_OK))
			goto fail;
		if (rc)
			keep_index_error(s, err);
	} else {
		size_t n = strlen(path);
		if (n >= 10 && strcmp(path + n - 10, "index.json") == 0) {
			char *slash;
			s->kind = SRC_DIR;
			if ((rc = shard_index_load(&s->ix, path, err)))
				goto fail;
			slash = strrchr(s->path, '/');
			if (slash)
				*slash = 0;
			else
				strcpy(s->path, ".");
		} else {
			struct stat st;
			if (stat(path, &st) != 0) {
				rc = shard_error_set(err, SHARD_EIO, "%s: %s", path, strerror(errno));
				goto fail;
			}
			s->kind = SRC_LOOSE;
		}
	}
	*out = s;
	return 0;
fail:
	shard_source_close(s);
	return rc;
}

void shard_source_close(struct shard_source *s)
{
	if (!s)
		return;
	shard_index_free(&s->ix);
	/* transfers end before the connection set-up they use */
	fetch_close(s->fetch);
	fetch_close(s->part);
	cache_close(s->cache);
	free(s->cache_dir);
	free(s->plan);
	free(s->passed);
	free(s->firsts);
	shard_remote_close(s->remote);
	shard_buf_free(&s->meta);
	free(s->extra);
	free(s->path);
	free(s);
}

static void unmap_stored(struct shard_item *it)
{
	if (it->stored_map) {
		munmap(it->stored.p, it->stored_map);
		memset(&it->stored, 0, sizeof it->stored);
		it->stored_map = 0;
	}
}

void shard_item_free(struct shard_item *it)
{
	shard_entry_free(&it->entry);
	unmap_stored(it);
	shard_buf_free(&it->stored);
	shard_buf_free(&it->raw);
	memset(it, 0, sizeof *it);
}

static void item_reset(struct shard_item *it)
{
	shard_entry_free(&it->entry);
	unmap_stored(it);
	it->stored.len = 0;
	it->raw.len = 0;
	it->raw_loaded = 0;
	it->stored_is_zip = 0;
	memset(&it->mds, 0, sizeof it->mds);
	it->part = 0;
	it->part_first = it->part_count = 0;
}

/* Whether something is at p (a shard file or, to be refused when read, not a
 * regular file), and its size. */
static int exists(const char *p, uint64_t *size)
{
	struct stat st;
	if (stat(p, &st) != 0)
		return 0;
	*size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : UINT64_MAX;
	return 1;
}

/* A shard file's bytes into it->stored: mapped with SHARD_SRC_MAP (empty
 * files, which cannot be mapped, and failed maps are read instead). */
static int load_file(struct shard_source *s, const char *path, struct shard_item *it, uint64_t max,
		     struct shard_error *err)
{
	if (s->flags & SHARD_SRC_MAP) {
		struct stat st;
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);	/* a FIFO is refused, not waited on */
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
		    (uint64_t)st.st_size <= max) {
			void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
			if (p != MAP_FAILED) {
				close(fd);
				shard_buf_free(&it->stored);
				it->stored.p = p;
				it->stored.len = it->stored_map = (size_t)st.st_size;
				return 0;
			}
		}
		if (fd >= 0)
			close(fd);
	}
	return shard_read_shard(path, &it->stored, max, err);
}

/* The samples of shard i in the range, [*a, *b) of the shard. */
static void part_of(const struct shard_source *s, size_t i, uint64_t *a, uint64_t *b)
{
	uint64_t n = s->ix.shards[i].samples, first = s->firsts[i];
	*a = s->lo > first ? s->lo - first : 0;
	*b = s->hi - first < n ? s->hi - first : n;
}

/* The fetch of a shard's stored file: the compressed one, else the raw one;
 * the raw one too in case the compressed one is missing. No more than the
 * index says: a server's Content-Length sizes the buffer. */
static void whole_spec(const struct shard_entry *e, struct fetch_spec *sp)
{
	uint64_t raw_max = e->raw.bytes && e->raw.bytes < SHARD_RAW_MAX ? e->raw.bytes : SHARD_RAW_MAX;
	memset(sp, 0, sizeof *sp);
	if (e->has_zip) {
		sp->name = e->zip.basename;
		sp->size = e->zip.bytes;
		sp->max = e->zip.bytes ? e->zip.bytes : SHARD_RAW_MAX + (1ull << 30);
		sp->fi = &e->zip;
		sp->alt = e->raw.basename;
		sp->alt_fi = &e->raw;
		sp->alt_size = e->raw.bytes;
		sp->alt_max = raw_max;
	} else {
		sp->name = e->raw.basename;
		sp->fi = &e->raw;
		sp->size = e->raw.bytes;
		sp->max = raw_max;
	}
}

/* What each shard from s->next on needs, and the whole ones queued for the
 * fetcher in order: done once, at the first read. */
static int plan_remote(struct shard_source *s, struct shard_error *err)
{
	uint64_t first = 0;
	size_t i;
	int rc;

	if (s->planned || (!s->remote && !s->ranged))
		return 0;
	if (!(s->plan = calloc(s->ix.nshards + 1, 1)) || !(s->firsts = calloc(s->ix.nshards + 1, sizeof *s->firsts)))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	if (s->remote && (rc = fetch_open(&s->fetch, s->remote, s->o.in_flight, s->o.window, s->cache, err)))
		return rc;
	s->planned = 1;
	for (i = 0; i < s->ix.nshards; i++) {
		const struct shard_entry *e = &s->ix.shards[i];
		uint64_t n = e->samples;
		struct fetch_spec sp;
		s->firsts[i] = first;
		if (s->ranged && n && (first + n <= s->lo || first >= s->hi))
			s->plan[i] = PLAN_NONE;
		else if (s->ranged && s->remote && n && !e->has_zip && (first < s->lo || first + n > s->hi))
			s->plan[i] = PLAN_PART;
		if (s->plan[i] == PLAN_WHOLE && s->passed && s->passed[i])
			s->plan[i] = PLAN_SKIP;
		first += n;
		/* passed over already (skipped before the first read) */
		if (!s->remote || i < s->next || s->plan[i] != PLAN_WHOLE)
			continue;
		whole_spec(e, &sp);
		if ((rc = fetch_queue(s->fetch, &sp, err)))
			return rc;
	}
	return 0;
}

/* A remote shard: the compressed file, or the raw one when the server has no
 * compressed one (404, or S3's 403 for a missing key), as for a local dataset. */
static int fetch_remote(struct shard_source *s, const struct shard_entry *e, const char *rawp, const char *zipp,
			struct shard_item *it, struct shard_error *err)
{
	int rc, alt;

	if (s->plan[s->next - 1] == PLAN_SKIP) {
		/* said to be passed over, read after all: fetched now, alone */
		struct fetch_spec sp;
		whole_spec(e, &sp);
		if (!s->part && (rc = fetch_open(&s->part, s->remote, 1, 1, s->cache, err)))
			return rc;
		if ((rc = fetch_queue(s->part, &sp, err)))
			return rc;
		rc = fetch_take(s->part, &it->stored, &alt, err);
	} else {
		rc = fetch_take(s->fetch, &it->stored, &alt, err);
	}
	it->stored_is_zip = e->has_zip && !alt && !rc;
	if (alt || !e->has_zip)
		snprintf(s->name, sizeof s->name, "%s", rawp);
	if (rc != SHARD_ENOENT)
		return rc;
	snprintf(s->name, sizeof s->name, "%s", e->has_zip ? zipp : rawp);
	{
		char missing[sizeof err->msg];
		memcpy(missing, err->msg, sizeof missing);
		return shard_error_set(err, SHARD_EDATA, "%s (shard %zu is missing; index.json lists it)", missing,
				       s->next - 1);
	}
}

static uint32_t rd32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Samples [a, b) of a raw remote shard in two range requests: its offset
 * table, then those samples' bytes; it->stored becomes an MDS shard of them. */
static int fetch_part(struct shard_source *s, const struct shard_entry *e, uint64_t a, uint64_t b,
		      struct shard_item *it, struct shard_error *err)
{
	struct fetch_spec sp = {0};
	struct shard_buf hdr = {0}, body = {0};
	uint64_t n = e->samples, hlen = 4 + 4 * (n + 1), i, lo, hi, prev = hlen;
	int rc, alt;

	if (!s->part && (rc = fetch_open(&s->part, s->remote, 1, 1, s->cache, err)))
		return rc;
	sp.name = e->raw.basename;
	sp.off = 0;
	sp.len = sp.size = sp.max = hlen;
	if ((rc = fetch_queue(s->part, &sp, err)) || (rc = fetch_take(s->part, &hdr, &alt, err)))
		goto out;
	if (rd32le(hdr.p) != n) {
		rc = shard_error_set(err, SHARD_EDATA, "%s: header says %u samples, index says %llu", s->name,
				     rd32le(hdr.p), (unsigned long long)n);
		goto out;
	}
	/* the offsets checked as shard_mds_parse would, against the index's size */
	for (i = 0; i <= n; i++) {
		uint64_t o = rd32le(hdr.p + 4 + 4 * i);
		if (o < prev || o > e->raw.bytes || (i == n && o != e->raw.bytes)) {
			rc = shard_error_set(err, SHARD_EDATA, "%s: offset %llu of sample %llu is out of order or past "
					     "the end (%llu bytes)", s->name, (unsigned long long)o,
					     (unsigned long long)i, (unsigned long long)e->raw.bytes);
			goto out;
		}
		prev = o;
	}
	lo = rd32le(hdr.p + 4 + 4 * a);
	hi = rd32le(hdr.p + 4 + 4 * b);
	if (hi > lo) {
		sp.off = lo;
		sp.len = sp.size = sp.max = hi - lo;
		if ((rc = fetch_queue(s->part, &sp, err)) || (rc = fetch_take(s->part, &body, &alt, err)))
			goto out;
	}
	/* a shard of samples a..b-1: count, rebased offsets, no config, the bytes */
	it->stored.len = 0;
	if ((rc = shard_buf_reserve(&it->stored, (size_t)(4 + 4 * (b - a + 1) + body.len)))) {
		rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
		goto out;
	}
	wr32le(it->stored.p, (uint32_t)(b - a));
	for (i = a; i <= b; i++)
		wr32le(it->stored.p + 4 + 4 * (i - a),
		       (uint32_t)(rd32le(hdr.p + 4 + 4 * i) - lo + 4 + 4 * (b - a + 1)));
	memcpy(it->stored.p + 4 + 4 * (b - a + 1), body.p, body.len);
	it->stored.len = (size_t)(4 + 4 * (b - a + 1) + body.len);
	it->part = 1;
	it->part_first = a;
	it->part_count = b - a;
out:
	shard_buf_free(&hdr);
	shard_buf_free(&body);
	return rc;
}

static int next_dir(struct shard_source *s, struct shard_item *it, struct shard_error *err)
{
	const struct shard_entry *e;
	char rawp[8400], zipp[8400];
	uint64_t size;
	int rc;

	if (s->next >= s->ix.nshards)
		return 0;
	if ((rc = plan_remote(s, err)))
		return -rc;
	e = &s->ix.shards[s->next++];
	if (shard_entry_copy(&it->entry, e))
		return -shard_error_set(err, SHARD_ENOMEM, "out of memory");
	it->name = s->name;
	snprintf(rawp, sizeof rawp, "%s/%s", s->path, e->raw.basename);
	if (e->has_zip)
		snprintf(zipp, sizeof zipp, "%s/%s", s->path, e->zip.basename);
	/* Prefer the compressed file: smaller to move; the raw one if that is all there is. */
	if (s->ranged && s->plan && s->plan[s->next - 1] == PLAN_NONE) {
		/* outside the range: the entry alone */
		snprintf(s->name, sizeof s->name, "%s", e->has_zip ? zipp : rawp);
		it->part = 1;
		return 1;
	} else if (s->remote) {
		snprintf(s->name, sizeof s->name, "%s", e->has_zip ? zipp : rawp);
		/* the claims that size buffers, before a byte is fetched */
		if ((rc = shard_entry_check(e, e->has_zip, UINT64_MAX, s->limit, err)))
			return -shard_error_prefix(err, "%s", s->name);
		if (s->plan[s->next - 1] == PLAN_PART) {
			uint64_t a, b;
			part_of(s, s->next - 1, &a, &b);
			if ((rc = fetch_part(s, e, a, b, it, err)))
				return -rc;
			return 1;
		}
		rc = fetch_remote(s, e, rawp, zipp, it, err);
	} else if (e->has_zip && exists(zipp, &size)) {
		snprintf(s->name, sizeof s->name, "%s", zipp);
		it->stored_is_zip = 1;
		/* sizes compared before a byte is read: a file larger than its entry
		 * (or no regular file at all) is refused, not read whole */
		if (size != UINT64_MAX && (rc = shard_entry_check(e, 1, size, s->limit, err)))
			return -shard_error_prefix(err, "%s", s->name);
		rc = load_file(s, zipp, it, e->zip.bytes, err);
	} else if (exists(rawp, &size)) {
		snprintf(s->name, sizeof s->name, "%s", rawp);
		if (size != UINT64_MAX && (rc = shard_entry_check(e, 0, size, s->limit, err)))
			return -shard_error_prefix(err, "%s", s->name);
		rc = load_file(s, rawp, it, e->raw.bytes, err);
	} else {
		snprintf(s->name, sizeof s->name, "%s", e->has_zip ? zipp : rawp);
		return -shard_error_set(err, SHARD_EDATA, "%s: shard %zu is missing (index.json lists it)",
					s->name, s->next - 1);
	}
	it->name = s->name;
	if (rc)
		return -rc;
	/* sizes always, hashes when asked */
	if ((rc = shard_fileinfo_verify(it->stored_is_zip ? &e->zip : &e->raw, it->stored.p, it->stored.len,
					s->flags & SHARD_SRC_VERIFY_HASHES, s->name, err)))
		return -rc;
	return 1;
}

static int next_stream(struct shard_source *s, struct shard_item *it, struct shard_error *err)
{
	char tag[5];
	json_t *o, *ent, *st;
	char *txt;
	int rc, eof;

	if (s->done)
		return 0;
	for (;;) {
		snprintf(s->name, sizeof s->name, "<stdin>: frame %llu", (unsigned long long)s->frameno);
		it->name = s->name;
		if ((rc = stream_read_frame(s->fd, "<stdin>", s->frameno, shard_max_stored(s->limit), tag, &s->meta,
					    &it->stored, err)))
			return -rc;
		s->frameno++;
		if (strcmp(tag, "END.") == 0) {
			json_t *e = json_loadb((const char *)s->meta.p, s->meta.len, 0, NULL);
			json_int_t ns = json_integer_value(json_object_get(e, "shards"));
			json_int_t nsm = json_integer_value(json_object_get(e, "samples"));
			json_int_t nb = json_integer_value(json_object_get(e, "bytes"));
			int ok = json_is_integer(json_object_get(e, "bytes")) && json_is_integer(json_object_get(e, "shards")) &&
				 json_is_integer(json_object_get(e, "samples"));
			json_decref(e);
			if (!ok || (uint64_t)ns != s->shards || (uint64_t)nsm != s->samples || (uint64_t)nb != s->bytes)
				return -shard_error_set(err, SHARD_EDATA,
							"<stdin>: end frame says %lld shards, %lld samples and %lld bytes; the stream held %llu, %llu and %llu",
							(long long)ns, (long long)nsm, (long long)nb, (unsigned long long)s->shards,
							(unsigned long long)s->samples, (unsigned long long)s->bytes);
			/* Concatenated streams continue with another header. */
			if ((rc = stream_read_header(s->fd, "<stdin>", &eof, err)))
				return -rc;
			if (eof) {
				s->done = 1;
				return 0;
			}
			s->shards = s->samples = s->bytes = 0;
			continue;
		}
		break;
	}
	o = json_loadb((const char *)s->meta.p, s->meta.len, 0, NULL);
	ent = json_object_get(o, "entry");
	st = json_object_get(o, "stored");
	if (!o || !json_is_object(ent) || !json_is_string(st) ||
	    (strcmp(json_string_value(st), "zip") && strcmp(json_string_value(st), "raw"))) {
		json_decref(o);
		return -shard_error_set(err, SHARD_EDATA, "%s: frame metadata is malformed", s->name);
	}
	it->stored_is_zip = strcmp(json_string_value(st), "zip") == 0;
	{
		json_t *x = json_object_get(o, "shardkit");
		free(s->extra);
		s->extra = json_is_object(x) ? json_dumps(x, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	}
	txt = json_dumps(ent, 0);
	json_decref(o);
	if (!txt)
		return -shard_error_set(err, SHARD_ENOMEM, "out of memory");
	rc = shard_entry_from_json(&it->entry, txt, strlen(txt), err);
	free(txt);
	if (rc)
		return -shard_error_prefix(err, "%s", s->name);
	if ((rc = shard_entry_check(&it->entry, it->stored_is_zip, it->stored.len, s->limit, err)))
		return -shard_error_prefix(err, "%s", s->name);
	if ((rc = shard_fileinfo_verify(it->stored_is_zip ? &it->entry.zip : &it->entry.raw, it->stored.p,
					it->stored.len, s->flags & SHARD_SRC_VERIFY_HASHES, s->name, err)))
		return -rc;
	s->shards++;
	s->samples += it->entry.samples;
	s->bytes += it->stored.len;
	return 1;
}

int shard_source_next(struct shard_source *s, struct shard_item *it, struct shard_error *err)
{
	int rc;

	item_reset(it);
	shard_error_clear(err);
	switch (s->kind) {
	case SRC_DIR:
		/* the place: the shard's file and its index.json entry */
		if ((rc = next_dir(s, it, err)) < 0) {
			shard_error_file(err, s->name);
			shard_error_item(err, s->next - 1, SHARD_UNKNOWN);
		}
		return rc;
	case SRC_STREAM: {
		uint64_t frame = s->frameno;
		if ((rc = next_stream(s, it, err)) < 0) {
			shard_error_file(err, "<stdin>");
			shard_error_item(err, frame, SHARD_UNKNOWN);
		}
		return rc;
	}
	default:
		if (s->done)
			return 0;
		s->done = 1;
		snprintf(s->name, sizeof s->name, "%s", s->path);
		it->name = s->name;
		{
			const char *base = strrchr(s->path, '/');
			base = base ? base + 1 : s->path;
			/* a loose .mds file is the raw shard itself */
			if ((rc = load_file(s, s->path, it, strstr(base, ".mds.") ? shard_max_stored(s->limit) : s->limit,
					    err)))
				return -shard_error_file(err, s->path);
		}
		if ((rc = loose_entry(s, it, err)))
			return -shard_error_file(err, s->path);
		return 1;
	}
}

int shard_source_skip(struct shard_source *s, struct shard_item *it, struct shard_error *err)
{
	if (s->kind == SRC_DIR) {
		if (s->next >= s->ix.nshards)
			return 0;
		/* not even opened; a remote one queued is dropped, its transfer stopped */
		if (s->fetch && s->plan[s->next] == PLAN_WHOLE)
			fetch_drop(s->fetch);
		s->next++;
		return 1;
	}
	return shard_source_next(s, it, err);
}

int shard_item_load_raw(struct shard_item *it, int verify, struct shard_error *err)
{
	int rc;

	if (it->part) {
		/* a part: the samples it holds, no hashes to check them by */
		if (!it->mds.data && it->part_count) {
			if ((rc = shard_mds_parse(&it->mds, it->stored.p, it->stored.len, err)))
				return shard_error_prefix(err, "%s", it->name);
			if (it->mds.nsamples != it->part_count)
				return shard_error_set(err, SHARD_EDATA, "%s: part holds %u samples, not %llu", it->name,
						       it->mds.nsamples, (unsigned long long)it->part_count);
		}
		it->raw_loaded = 1;
		return 0;
	}
	if (!it->raw_loaded) {
		if (it->stored_is_zip) {
			struct shard_codec c;
			uint64_t limit, max = it->entry.raw.bytes;
			/* never past what the entry says nor past the user's limit: a
			 * bomb is refused at its first byte too many */
			if ((rc = shard_max_shard(&limit, err)))
				return rc;
			if ((rc = shard_codec_parse(it->entry.compression, &c, err)))
				return shard_error_prefix(err, "%s", it->name);
			if (max > limit)
				max = limit;
			if ((rc = shard_decompress(&c, it->stored.p, it->stored.len, max, &it->raw, err)))
				return shard_error_prefix(err, "%s", it->name);
			if (it->raw.len != it->entry.raw.bytes)
				return shard_error_set(err, SHARD_EDATA, "%s: decompressed to %zu bytes, index says %llu",
						       it->name, it->raw.len, (unsigned long long)it->entry.raw.bytes);
			if (verify && (rc = shard_fileinfo_verify(&it->entry.raw, it->raw.p, it->raw.len, 1, it->name, err)))
				return rc;
		}
		it->raw_loaded = 1;
	}
	if (!it->mds.data) {
		const struct shard_buf *b = it->stored_is_zip ? &it->raw : &it->stored;
		if ((rc = shard_mds_parse(&it->mds, b->p, b->len, err)))
			return shard_error_prefix(err, "%s", it->name);
		if (it->mds.nsamples != it->entry.samples)
			return shard_error_set(err, SHARD_EDATA, "%s: shard holds %u samples, index says %llu", it->name,
					       it->mds.nsamples, (unsigned long long)it->entry.samples);
	}
	return 0;
}

int shard_source_pass_over(struct shard_source *s, size_t shard)
{
	if (s->kind != SRC_DIR || s->planned || shard >= s->ix.nshards)
		return 0;
	if (!s->passed && !(s->passed = calloc(s->ix.nshards, 1)))
		return SHARD_ENOMEM;
	s->passed[shard] = 1;
	return 0;
}

void shard_source_set_range(struct shard_source *s, uint64_t lo, uint64_t hi)
{
	if (s->kind != SRC_DIR || s->planned)
		return;
	s->ranged = 1;
	s->lo = lo;
	s->hi = hi;
}

void shard_source_stats(const struct shard_source *s, struct shard_source_stats *st)
{
	struct fetch_stats a = {0}, b = {0};
	memset(st, 0, sizeof *st);
	if (s->fetch)
		fetch_stats(s->fetch, &a);
	if (s->part)
		fetch_stats(s->part, &b);
	st->requests = a.requests + b.requests;
	st->bytes = a.bytes + b.bytes;
	st->cache_hits = a.cache_hits;
	st->cache_dropped = a.cache_dropped;
	st->peak_ahead = a.peak_buffered;
	st->index_cached = s->index_note[0] ? s->index_note : NULL;
}

const struct shard_error *shard_source_index_error(const struct shard_source *s)
{
	return s->index_err.status ? &s->index_err : NULL;
}

const char *shard_source_path(const struct shard_source *s)
{
	return s->path;
}

int shard_source_is_remote(const struct shard_source *s)
{
	return s->remote != NULL;
}

int shard_source_read(struct shard_source *s, const char *basename, struct shard_buf *b, uint64_t max,
		      struct shard_error *err)
{
	char path[8400];
	struct stat st;

	if (s->remote)
		return shard_remote_get(s->remote, basename, b, max, err);
	snprintf(path, sizeof path, "%s/%s", s->path, basename);
	if (stat(path, &st) != 0)
		return shard_error_set(err, SHARD_ENOENT, "%s: %s", path, strerror(errno));
	/* a FIFO or a device is refused, a file over max never read */
	return shard_read_shard(path, b, max, err);
}
