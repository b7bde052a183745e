/* Fuzz targets for every decoder of untrusted bytes: MDS shards (with their
 * samples and fields), index.json, the shard stream (as it comes, and with its
 * checksums made right), CSV and time-zone files. Codecs, the writer, the
 * shuffle planner and remote fetches have files of their own. Built for libFuzzer
 * with --enable-fuzzing, and as a corpus replayer (fuzz-main.c) for make check. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shard.h"
#include "internal.h"
#include "fuzz.h"

/* A raw shard whose fields are read under a fixed mixed schema. */
int fuzz_mds(const uint8_t *data, size_t size)
{
	static const char *names[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
	static const char *encs[] = {"str", "int32", "ndarray", "ndarray:float32:2,2", "json", "jpeg_array",
				     "str_float", "list[png]"};
	struct shard_schema s;
	struct shard_error err;
	struct shard_mds m;
	struct shard_field f[8];
	struct shard_buf out = {0};
	uint32_t i;
	size_t k;

	if (shard_schema_init(&s, 8, names, encs, 1, &err))
		abort();
	if (shard_mds_parse(&m, data, size, &err) == 0) {
		for (i = 0; i < m.nsamples; i++) {
			const uint8_t *p;
			size_t n;
			shard_mds_sample(&m, i, &p, &n);
			if (shard_sample_split(&s, p, n, f, &err))
				continue;
			for (k = 0; k < s.ncols; k++) {
				out.len = 0;
				if (shard_field_check(&s.enc[k], &f[k], &err) == 0)
					shard_field_format(&s.enc[k], &f[k], SHARD_TEXT_JSON, &out, &err);
				shard_field_format(&s.enc[k], &f[k], SHARD_TEXT_CSV, &out, &err);
			}
		}
	}
	shard_buf_free(&out);
	shard_schema_free(&s);
	return 0;
}

int fuzz_index(const uint8_t *data, size_t size)
{
	struct shard_index ix;
	struct shard_error err;
	struct shard_buf out = {0};
	if (shard_index_parse(&ix, (const char *)data, size, "fuzz", &err) == 0) {
		shard_index_to_json(&ix, &out, &err);
		shard_index_free(&ix);
	}
	shard_buf_free(&out);
	return 0;
}

/* The number after "samples" in a shard frame's meta (its entry's count), or 0. */
static uint64_t meta_samples(const uint8_t *p, size_t n)
{
	const uint8_t *q = memmem(p, n, "\"samples\"", 9), *end = p + n;
	uint64_t v = 0;
	if (!q)
		return 0;
	for (q += 9; q < end && (*q == ' ' || *q == ':'); q++)
		;
	for (; q < end && *q >= '0' && *q <= '9'; q++)
		v = v * 10 + (uint64_t)(*q - '0');
	return v;
}

/* Append a frame (shard-stream(5): tag, meta_len, data_len, meta, data, then
 * XXH64 of all of it) with its checksum made right. */
static void put_frame(struct shard_buf *out, const uint8_t *tag, const uint8_t *meta, uint32_t mlen,
		      const uint8_t *data, uint64_t dlen)
{
	struct shard_error err;
	char hex[160];
	uint8_t h[8];
	size_t start = out->len;
	uint64_t sum;
	int k;

	shard_buf_append(out, tag, 4);
	for (k = 0; k < 4; k++)
		h[k] = (uint8_t)(mlen >> (8 * k));
	shard_buf_append(out, h, 4);
	for (k = 0; k < 8; k++)
		h[k] = (uint8_t)(dlen >> (8 * k));
	shard_buf_append(out, h, 8);
	shard_buf_append(out, meta, mlen);
	shard_buf_append(out, data, (size_t)dlen);
	if (shard_hash_hex("xxh64", out->p + start, out->len - start, hex, &err))
		abort();
	sum = strtoull(hex, NULL, 16);
	for (k = 0; k < 8; k++)
		h[k] = (uint8_t)(sum >> (8 * k));
	shard_buf_append(out, h, 8);
}

/* The input with every whole frame's checksum recomputed and, unless told
 * not to, each end frame's totals made to agree with the shard frames before
 * it, so that mutations reach what the frames carry. Bytes that are no whole
 * frame are kept as they are. */
static void stream_fix(const uint8_t *p, size_t n, int fix_totals, struct shard_buf *out)
{
	size_t pos = 0;
	uint64_t shards = 0, samples = 0, bytes = 0;
	int header = 1;

	while (pos < n) {
		const uint8_t *f = p + pos;
		size_t left = n - pos;
		uint32_t mlen;
		uint64_t dlen;
		if (header) {
			size_t k = left < 16 ? left : 16;
			shard_buf_append(out, f, k);
			pos += k;
			header = 0;
			shards = samples = bytes = 0;
			continue;
		}
		if (left < 24) {
			shard_buf_append(out, f, left);
			break;
		}
		mlen = rd32(f + 4);
		dlen = rd64(f + 8);
		if (mlen > left - 24 || dlen > left - 24 - mlen) {
			shard_buf_append(out, f, left);
			break;
		}
		if (memcmp(f, "END.", 4) == 0) {
			header = 1;
			if (fix_totals) {
				char meta[128];
				int ml = snprintf(meta, sizeof meta, "{\"bytes\": %llu, \"samples\": %llu, \"shards\": %llu}",
						  (unsigned long long)bytes, (unsigned long long)samples,
						  (unsigned long long)shards);
				put_frame(out, f, (const uint8_t *)meta, (uint32_t)ml, f + 16 + mlen, dlen);
				pos += 24 + mlen + (size_t)dlen;
				continue;
			}
		} else if (memcmp(f, "SHRD", 4) == 0) {
			shards++;
			bytes += dlen;
			samples += meta_samples(f + 16, mlen);
		}
		put_frame(out, f, f + 16, mlen, f + 16 + mlen, dlen);
		pos += 24 + mlen + (size_t)dlen;
	}
}

/* The stream reader reads a file descriptor: feed it through a pipe-less temp
 * file. verify: check the entries' hashes of the shards. */
static void read_stream(const uint8_t *data, size_t size, int verify)
{
	char path[] = "/tmp/fuzz-stream-XXXXXX";
	int fd = mkstemp(path), saved;
	struct shard_source *src;
	struct shard_item it = {0};
	struct shard_error err;

	if (fd < 0)
		return;
	unlink(path);
	if (write(fd, data, size) != (ssize_t)size || lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return;
	}
	saved = dup(0);
	dup2(fd, 0);
	close(fd);
	if (shard_source_open(&src, "-", verify ? SHARD_SRC_VERIFY_HASHES : 0, &err) == 0) {
		while (shard_source_next(src, &it, &err) > 0)
			shard_item_load_raw(&it, verify, &err);
		shard_source_close(src);
	}
	shard_item_free(&it);
	dup2(saved, 0);
	close(saved);
}

/* The stream as it comes, checksums and all. */
int fuzz_stream_raw(const uint8_t *data, size_t size)
{
	read_stream(data, size, 1);
	return 0;
}

/* The stream with its frames' checksums (and end frames' totals) recomputed
 * first, so the fuzzer gets past them to the frames' contents. The first
 * header's flags word, which readers ignore, steers the target: bit 0 leaves
 * the checksums as they are, bit 1 skips the entries' hashes, bit 2 keeps the
 * end frames' totals. */
int fuzz_stream(const uint8_t *data, size_t size)
{
	struct shard_buf fixed = {0};
	uint8_t flags = size > 12 ? data[12] : 0;

	if (flags & 1) {
		read_stream(data, size, !(flags & 2));
		return 0;
	}
	stream_fix(data, size, !(flags & 4), &fixed);
	read_stream(fixed.p ? fixed.p : data, fixed.len, !(flags & 2));
	shard_buf_free(&fixed);
	return 0;
}

struct mem {
	const uint8_t *p;
	size_t n, pos, chunk;
};

/* Hands out the input in small, varying pieces so records straddle reads. */
static ssize_t mem_read(void *ctx, void *buf, size_t n, struct shard_error *err)
{
	struct mem *m = ctx;
	size_t k = m->n - m->pos;
	(void)err;
	if (k > m->chunk)
		k = m->chunk;
	if (k > n)
		k = n;
	memcpy(buf, m->p + m->pos, k);
	m->pos += k;
	m->chunk = m->chunk * 7 % 61 + 1;
	return (ssize_t)k;
}

static int count_member(void *ctx, const char *key, size_t key_at, const uint8_t *val, size_t vlen)
{
	(void)key;
	(void)key_at;
	(void)val;
	*(size_t *)ctx += vlen;
	return 0;
}

/* The CSV reader, text-to-value conversion of every field under several types,
 * and each field read as a JSON Lines object. */
int fuzz_csv(const uint8_t *data, size_t size)
{
	static const char *types[] = {"int8", "uint64", "float16", "float32", "float64", "str", "json", "bool",
				      "date", "timestamp", "ndarray:int16:2", "ndarray:float64", "str_decimal",
				      "decimal(5,2)", "decimal(38,10)?"};
	struct shard_coltype t[sizeof types / sizeof types[0]];
	struct mem m = {data, size, 0, 13};
	struct shard_csv_opts o;
	struct shard_csv *c;
	struct shard_csv_record rec;
	struct shard_error err;
	struct shard_buf out = {0};
	size_t i, k;

	for (k = 0; k < sizeof types / sizeof types[0]; k++)
		if (shard_coltype_parse(types[k], &t[k], &err))
			abort();
	shard_csv_opts_default(&o);
	o.keep_raw = 1;
	o.max_record = 1 << 16;
	if (size && data[0] == '\t')
		o.delim = '\t';
	if (shard_csv_new(&c, &o, mem_read, &m, &err))
		return 0;
	while (shard_csv_next(c, &rec, &err) > 0) {
		for (i = 0; i < rec.nfields; i++) {
			size_t total = 0, at;
			shard_json_object_scan(rec.fields[i].p, rec.fields[i].len, count_member, &total, &at, &err);
			out.len = 0;
			shard_text_to_value(&t[i % (sizeof types / sizeof types[0])], rec.fields[i].p, rec.fields[i].len,
					    &out, &err);
		}
	}
	shard_csv_free(c);
	/* the same bytes as a Spark schema (DDL or JSON) */
	{
		char *z = malloc(size + 1);
		if (z) {
			memcpy(z, data, size);
			z[size] = 0;
			struct shard_colspec *cs;
			size_t ncs, j;
			out.len = 0;
			/* and what it gives back as a column list, as shard-convert reads it */
			if (shard_schema_from_spark(z, &out, &err) == 0 &&
			    shard_colspec_parse((const char *)out.p, 1, &cs, &ncs, &err) == 0) {
				for (j = 0; j < ncs; j++) {
					struct shard_coltype ct;
					shard_coltype_parse(cs[j].type, &ct, &err);
				}
				shard_colspec_free(cs, ncs);
			}
			/* the bytes themselves as a column list, with types and without */
			if (shard_colspec_parse(z, size & 1, &cs, &ncs, &err) == 0)
				shard_colspec_free(cs, ncs);
			out.len = 0;
			shard_decimal_scaled(&t[13], z, &out, &err);
			free(z);
		}
	}
	/* the in-place reader must split the same input the same way */
	if (shard_csv_new_mem(&c, &o, data, size, &err) == 0) {
		while (shard_csv_next(c, &rec, &err) > 0)
			for (i = 0; i < rec.nfields; i++)
				if (rec.fields[i].len && !rec.fields[i].p)
					abort();
		shard_csv_free(c);
	}
	shard_buf_free(&out);
	return 0;
}

/* Both lookups across some 70,000 years either side of 1970, and at the ends
 * of the range. */
static void tz_walk(const struct shard_tz *tz)
{
	int64_t t;
	for (t = -(1LL << 40); t < (1LL << 40); t += 977777777LL)
		shard_tz_to_utc(tz, t + shard_tz_offset(tz, t));
	shard_tz_offset(tz, INT64_MIN);
	shard_tz_offset(tz, INT64_MAX);
	shard_tz_to_utc(tz, INT64_MIN);
	shard_tz_to_utc(tz, INT64_MAX);
}

/* A TZif file (with its footer's POSIX TZ rule); and the same bytes as a rule
 * on their own, after a transition at the big bang and at the epoch. */
int fuzz_tz(const uint8_t *data, size_t size)
{
	static const int64_t at[] = {-(1LL << 59), 0};
	static const int32_t off[] = {-18000, 3600};
	struct shard_tz *tz;
	struct shard_error err;
	size_t k;

	if (shard_tz_new_tzif(&tz, "fuzz", data, size, &err) == 0) {
		tz_walk(tz);
		shard_tz_free(tz);
	}
	for (k = 1; k <= 2; k++) {
		if (shard_tz_build(&tz, "fuzz", at, off, k, 0, (const char *)data, size > 256 ? 256 : size, &err) == 0) {
			tz_walk(tz);
			shard_tz_free(tz);
		}
	}
	return 0;
}
