/* The writer's round trip: a schema and samples made from the input, written
 * through shard_writer into a shard stream (a temporary file) or a dataset
 * directory (a temporary one, removed after), read back through a source and
 * split into fields again. Every sample must come back byte for byte, in
 * order, in shards that keep the size limit and the samples-per-shard cap. */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shard.h"
#include "fuzz.h"

#define FAIL(...) FUZZ_FAIL("writer: " __VA_ARGS__)

#define MAXCOLS 8
#define MAXSAMPLES 96

static const char *const plain_encs[] = {
	"bytes", "str", "int", "uint8", "int8", "uint16", "int16", "float16", "uint32", "int32", "float32",
	"uint64", "int64", "float64", "str_int", "str_float", "str_decimal", "pil", "jpeg", "png",
	"list[pil]", "list[jpeg]", "list[png]", "jpeg_array", "pkl", "json", "ndarray",
};
static const char *const dtypes[] = {"uint8", "int8", "uint16", "int16", "float16", "uint32",
				     "int32", "float32", "uint64", "int64", "float64"};

/* A column's encoding: a plain one, an ndarray of a dtype, or one with a shape. */
static void pick_encoding(struct fuzz_in *in, char *buf, size_t n)
{
	uint8_t b = fuzz_u8(in);
	size_t np = sizeof plain_encs / sizeof plain_encs[0];
	if (b % 64 < np) {
		snprintf(buf, n, "%s", plain_encs[b % 64]);
	} else if (b & 1) {
		snprintf(buf, n, "ndarray:%s", dtypes[fuzz_u8(in) % 11]);
	} else {
		int nd = 1 + fuzz_u8(in) % 3, k, at;
		at = snprintf(buf, n, "ndarray:%s:", dtypes[fuzz_u8(in) % 11]);
		for (k = 0; k < nd; k++)
			at += snprintf(buf + at, n - (size_t)at, "%s%d", k ? "," : "", 1 + fuzz_u8(in) % 4);
	}
}

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[4096];
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		if (unlink(p) != 0)
			rm_tree(p);
	}
	closedir(d);
	rmdir(dir);
}

int fuzz_writer(const uint8_t *data, size_t size)
{
	static const char *const codecs[] = {NULL, "zstd", "gz:1", "bz2:1", "br:1", "snappy"};
	static const char *const hashes[] = {"md5", "sha1", "xxh3_64", "xxh64"};
	struct fuzz_in in = {data, size, 0};
	char encbuf[MAXCOLS][64], namebuf[MAXCOLS][8], tmpdir[] = "/tmp/fuzz-writer-XXXXXX", dir[64];
	const char *encs[MAXCOLS], *names[MAXCOLS], *hl[4];
	struct shard_schema sch;
	struct shard_writer_opts o = {0};
	struct shard_error err;
	struct shard_sink *sink = NULL;
	struct shard_writer *w = NULL;
	struct shard_source *src = NULL;
	struct shard_item it = {0};
	struct shard_field f[MAXCOLS], g[MAXCOLS];
	struct shard_buf all = {0}, out = {0};
	uint32_t lens[MAXSAMPLES];
	size_t ncols, k, nsamples = 0, at, i, got = 0, nh = 0;
	uint8_t how = fuzz_u8(&in), opt = fuzz_u8(&in);
	int to_dir = how & 1, add_mode = (how >> 1) % 3, saved = -1, fd = -1, r;
	uint8_t zeros[4096] = {0};

	/* the schema: names in an input-given order, encodings from the input */
	ncols = 1 + fuzz_u8(&in) % MAXCOLS;
	for (k = 0; k < ncols; k++) {
		snprintf(namebuf[k], sizeof namebuf[k], "%c%zu", 'a' + fuzz_u8(&in) % 26, k);
		names[k] = namebuf[k];
		pick_encoding(&in, encbuf[k], sizeof encbuf[k]);
		encs[k] = encbuf[k];
	}
	if (shard_schema_init(&sch, ncols, names, encs, 1, &err))
		FAIL("schema: %s", err.msg);
	o.compression = codecs[opt % 6];
	for (k = 0; k < 4; k++)
		if (opt >> 3 & 1u << k)
			hl[nh++] = hashes[k];
	o.hashes = hl;
	o.nhashes = nh;
	o.size_limit = how >> 3 & 1 ? (uint64_t)fuzz_u8(&in) * 8 : 0;
	o.max_samples = how >> 4 & 1 ? fuzz_u8(&in) % 8 : 0;

	/* the samples: fixed-size fields as their size takes, others as long as a byte says */
	while (fuzz_left(&in) && nsamples < MAXSAMPLES) {
		size_t start = all.len;
		for (k = 0; k < ncols; k++) {
			size_t len = sch.enc[k].size ? sch.enc[k].size : fuzz_u8(&in) % 48, have = fuzz_left(&in);
			f[k].p = len <= have ? data + in.i : len <= sizeof zeros ? zeros : NULL;
			if (!f[k].p)
				FAIL("column of %zu bytes", len);
			f[k].len = len;
			in.i += len <= have ? len : 0;
		}
		if (shard_sample_encode(&sch, f, &all, &err))
			FAIL("encode: %s", err.msg);
		lens[nsamples++] = (uint32_t)(all.len - start);
	}

	/* write */
	if (to_dir) {
		if (!mkdtemp(tmpdir))
			goto out;
		snprintf(dir, sizeof dir, "%s/ds", tmpdir);
		if (shard_sink_open_dir(&sink, dir, &err))
			FAIL("sink: %s", err.msg);
	} else {
		char path[] = "/tmp/fuzz-writer-XXXXXX";
		if ((fd = mkstemp(path)) < 0)
			goto out;
		unlink(path);
		if (shard_sink_open_fd(&sink, fd, &err))
			FAIL("sink: %s", err.msg);
	}
	if (shard_writer_new(&w, sink, &sch, &o, &err))
		FAIL("writer: %s", err.msg);
	if (add_mode == 2) {
		if (shard_writer_add_many(w, all.p, lens, nsamples, &err))
			FAIL("add_many: %s", err.msg);
	} else {
		for (i = 0, at = 0; i < nsamples; at += lens[i++]) {
			if (add_mode == 1) {
				r = shard_writer_add_raw(w, all.p + at, lens[i], &err);
			} else {
				if (shard_sample_split(&sch, all.p + at, lens[i], f, &err))
					FAIL("split of a sample just encoded: %s", err.msg);
				r = shard_writer_add(w, f, &err);
			}
			if (r)
				FAIL("add: %s", err.msg);
		}
	}
	if (shard_writer_finish(w, &err))
		FAIL("finish: %s", err.msg);
	if (shard_sink_samples(sink) != nsamples)
		FAIL("the sink took %llu samples of %zu", (unsigned long long)shard_sink_samples(sink), nsamples);
	if (shard_sink_close(sink, &err))
		FAIL("close: %s", err.msg);
	sink = NULL;

	/* read back */
	if (to_dir) {
		if (shard_source_open(&src, dir, SHARD_SRC_VERIFY_HASHES | (how & 0x20 ? SHARD_SRC_MAP : 0), &err))
			FAIL("source: %s", err.msg);
	} else {
		if (lseek(fd, 0, SEEK_SET) != 0)
			abort();
		saved = dup(0);
		dup2(fd, 0);
		if (shard_source_open(&src, "-", SHARD_SRC_VERIFY_HASHES, &err))
			FAIL("source: %s", err.msg);
	}
	at = 0;
	while ((r = shard_source_next(src, &it, &err)) > 0) {
		const struct shard_schema *rs = &it.entry.schema;
		uint32_t j;
		if (shard_item_load_raw(&it, 1, &err))
			FAIL("%s: %s", it.name, err.msg);
		if (it.mds.nsamples == 0 || (o.max_samples && it.mds.nsamples > o.max_samples))
			FAIL("%s: %u samples in a shard (cap %llu)", it.name, it.mds.nsamples,
			     (unsigned long long)o.max_samples);
		if (o.size_limit && it.mds.nsamples > 1 && it.entry.raw.bytes > o.size_limit)
			FAIL("%s: %llu bytes of %u samples over the size limit %llu", it.name,
			     (unsigned long long)it.entry.raw.bytes, it.mds.nsamples, (unsigned long long)o.size_limit);
		if (!!it.entry.compression != !!o.compression || it.stored_is_zip != !!o.compression)
			FAIL("%s: compression %s, written with %s", it.name, it.entry.compression ? it.entry.compression : "none",
			     o.compression ? o.compression : "none");
		if (rs->ncols != sch.ncols)
			FAIL("%s: %zu columns, written with %zu", it.name, rs->ncols, sch.ncols);
		for (k = 0; k < ncols; k++)
			if (strcmp(rs->names[k], sch.names[k]) || strcmp(rs->enc_names[k], sch.enc_names[k]))
				FAIL("%s: column %zu is %s:%s, written as %s:%s", it.name, k, rs->names[k], rs->enc_names[k],
				     sch.names[k], sch.enc_names[k]);
		for (j = 0; j < it.mds.nsamples; j++, got++) {
			const uint8_t *p;
			size_t n;
			if (got >= nsamples)
				FAIL("more samples read than the %zu written", nsamples);
			shard_mds_sample(&it.mds, j, &p, &n);
			if (n != lens[got] || memcmp(p, all.p + at, n))
				FAIL("sample %zu: %zu bytes read differ from the %u written", got, n, lens[got]);
			if (shard_sample_split(rs, p, n, g, &err) || shard_sample_split(&sch, all.p + at, n, f, &err))
				FAIL("sample %zu does not split: %s", got, err.msg);
			for (k = 0; k < ncols; k++) {
				if (g[k].len != f[k].len || memcmp(g[k].p, f[k].p, f[k].len))
					FAIL("sample %zu column %zu differs", got, k);
				out.len = 0;
				if (shard_field_check(&rs->enc[k], &g[k], &err) == 0)
					shard_field_format(&rs->enc[k], &g[k], SHARD_TEXT_JSON, &out, &err);
			}
			at += n;
		}
	}
	if (r < 0)
		FAIL("reading back: %s", err.msg);
	if (got != nsamples)
		FAIL("%zu samples read of %zu written", got, nsamples);
	shard_source_close(src);
	src = NULL;

out:
	if (src)
		shard_source_close(src);
	shard_item_free(&it);
	if (w)
		shard_writer_free(w);
	if (sink)
		shard_sink_abort(sink);
	if (saved >= 0) {
		dup2(saved, 0);
		close(saved);
	}
	if (fd >= 0)
		close(fd);
	if (to_dir)
		rm_tree(tmpdir);
	shard_schema_free(&sch);
	shard_buf_free(&all);
	shard_buf_free(&out);
	return 0;
}
