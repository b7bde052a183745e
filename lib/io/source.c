/* Sources yield whole shards one at a time from a dataset directory or URL
 * (through its index.json), a loose shard file, or a shard stream; memory holds one shard. */
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
};

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

int shard_source_open(struct shard_source **out, const char *path, int flags, struct shard_error *err)
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
		if ((rc = shard_remote_open(&s->remote, path, err)))
			goto fail;
		free(s->path);
		if (!(s->path = strdup(shard_remote_url(s->remote)))) {
			rc = shard_error_set(err, SHARD_ENOMEM, "out of memory");
			goto fail;
		}
		if ((rc = shard_index_load_remote(&s->ix, s->remote, err)) &&
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

/* A remote shard: the compressed file, or the raw one when the server has no
 * compressed one (a 404), as for a local dataset. */
static int fetch_remote(struct shard_source *s, const struct shard_entry *e, const char *rawp, const char *zipp,
			struct shard_item *it, struct shard_error *err)
{
	char missing[sizeof err->msg];
	int rc;

	if (e->has_zip) {
		snprintf(s->name, sizeof s->name, "%s", zipp);
		/* no more than the index says: a server's Content-Length sizes the buffer */
		rc = shard_remote_get(s->remote, e->zip.basename, &it->stored,
				      e->zip.bytes ? e->zip.bytes : SHARD_RAW_MAX + (1ull << 30), err);
		it->stored_is_zip = rc == 0;
		if (rc != SHARD_ENOENT)
			return rc;
		memcpy(missing, err->msg, sizeof missing);
	}
	snprintf(s->name, sizeof s->name, "%s", rawp);
	rc = shard_remote_get(s->remote, e->raw.basename, &it->stored,
			      e->raw.bytes && e->raw.bytes < SHARD_RAW_MAX ? e->raw.bytes : SHARD_RAW_MAX, err);
	if (rc != SHARD_ENOENT)
		return rc;
	if (e->has_zip)
		snprintf(s->name, sizeof s->name, "%s", zipp);
	else
		memcpy(missing, err->msg, sizeof missing);
	return shard_error_set(err, SHARD_EDATA, "%s (shard %zu is missing; index.json lists it)", missing, s->next - 1);
}

static int next_dir(struct shard_source *s, struct shard_item *it, struct shard_error *err)
{
	const struct shard_entry *e;
	char rawp[8400], zipp[8400];
	uint64_t size;
	int rc;

	if (s->next >= s->ix.nshards)
		return 0;
	e = &s->ix.shards[s->next++];
	if (shard_entry_copy(&it->entry, e))
		return -shard_error_set(err, SHARD_ENOMEM, "out of memory");
	it->name = s->name;
	snprintf(rawp, sizeof rawp, "%s/%s", s->path, e->raw.basename);
	if (e->has_zip)
		snprintf(zipp, sizeof zipp, "%s/%s", s->path, e->zip.basename);
	/* Prefer the compressed file: smaller to move; the raw one if that is all there is. */
	if (s->remote) {
		snprintf(s->name, sizeof s->name, "%s", e->has_zip ? zipp : rawp);
		/* the claims that size buffers, before a byte is fetched */
		if ((rc = shard_entry_check(e, e->has_zip, UINT64_MAX, s->limit, err)))
			return -shard_error_prefix(err, "%s", s->name);
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
		s->next++;	/* not even opened */
		return 1;
	}
	return shard_source_next(s, it, err);
}

int shard_item_load_raw(struct shard_item *it, int verify, struct shard_error *err)
{
	int rc;

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
