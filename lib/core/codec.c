/* Whole-buffer compression in the codecs MDS names (zstd, gz, bz2, br, snappy),
 * through the real libraries, with a hard cap on decompressed size. */
#include "config.h"

#include <bzlib.h>
#include <brotli/decode.h>
#include <brotli/encode.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "shard.h"

static const struct {
	const char *name;
	int id, lo, hi, def;
} codecs[] = {
	{"zstd", SHARD_CODEC_ZSTD, 1, 22, 3},
	{"gz", SHARD_CODEC_GZ, 0, 9, 9},
	{"bz2", SHARD_CODEC_BZ2, 1, 9, 9},
	{"br", SHARD_CODEC_BR, 0, 11, 11},
	{"snappy", SHARD_CODEC_SNAPPY, 0, 0, 0},
};

int shard_codec_parse(const char *name, struct shard_codec *c, struct shard_error *err)
{
	const char *colon;
	size_t n, i;

	memset(c, 0, sizeof *c);
	if (!name || !*name)
		return 0;
	colon = strchr(name, ':');
	n = colon ? (size_t)(colon - name) : strlen(name);
	for (i = 0; i < sizeof codecs / sizeof codecs[0]; i++) {
		if (strlen(codecs[i].name) != n || memcmp(codecs[i].name, name, n) != 0)
			continue;
		c->id = codecs[i].id;
		c->level = codecs[i].def;
		snprintf(c->ext, sizeof c->ext, "%s", codecs[i].name);
		if (colon) {
			char *end;
			long lv = strtol(colon + 1, &end, 10);
			if (c->id == SHARD_CODEC_SNAPPY || !colon[1] || *end || lv < codecs[i].lo ||
			    lv > codecs[i].hi)
				return shard_error_set(err, SHARD_EARG,
						       "invalid compression '%s' (%s takes levels %d..%d)",
						       name, codecs[i].name, codecs[i].lo, codecs[i].hi);
			c->level = (int)lv;
		}
		return 0;
	}
	return shard_error_set(err, SHARD_EARG,
			       "unknown compression '%s' (expected zstd, gz, bz2, br or snappy, with :LEVEL)",
			       name);
}

int shard_compress(const struct shard_codec *c, const void *src, size_t n,
		   struct shard_buf *out, struct shard_error *err)
{
	out->len = 0;
	switch (c->id) {
	case SHARD_CODEC_ZSTD: {
		/* One frame with the content size in its header: python-zstd needs it. */
		size_t bound = ZSTD_compressBound(n), r;
		if (shard_buf_reserve(out, bound))
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
		r = ZSTD_compress(out->p, bound, src, n, c->level);
		if (ZSTD_isError(r))
			return shard_error_set(err, SHARD_EIO, "zstd: %s", ZSTD_getErrorName(r));
		out->len = r;
		return 0;
	}
	case SHARD_CODEC_GZ: {
		z_stream z;
		int r;
		memset(&z, 0, sizeof z);
		if (deflateInit2(&z, c->level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			return shard_error_set(err, SHARD_ENOMEM, "gzip: cannot initialise");
		if (shard_buf_reserve(out, deflateBound(&z, (uLong)n) + 32)) {
			deflateEnd(&z);
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
		}
		z.next_in = (Bytef *)src;
		z.avail_in = (uInt)n;
		z.next_out = out->p;
		z.avail_out = (uInt)out->cap;
		r = deflate(&z, Z_FINISH);
		out->len = z.total_out;
		deflateEnd(&z);
		if (r != Z_STREAM_END)
			return shard_error_set(err, SHARD_EIO, "gzip: compression failed (%d)", r);
		return 0;
	}
	case SHARD_CODEC_BZ2: {
		unsigned int dlen;
		int r;
		size_t bound = n + n / 100 + 600;
		if (n > UINT32_MAX / 2 || shard_buf_reserve(out, bound))
			return shard_error_set(err, SHARD_ENOMEM, "bz2: input too large");
		dlen = (unsigned int)bound;
		r = BZ2_bzBuffToBuffCompress((char *)out->p, &dlen, (char *)src, (unsigned int)n,
					     c->level, 0, 0);
		if (r != BZ_OK)
			return shard_error_set(err, SHARD_EIO, "bz2: compression failed (%d)", r);
		out->len = dlen;
		return 0;
	}
	case SHARD_CODEC_BR: {
		size_t bound = BrotliEncoderMaxCompressedSize(n);
		size_t olen;
		if (!bound)
			bound = n + 1024;
		if (shard_buf_reserve(out, bound))
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
		olen = bound;
		if (!BrotliEncoderCompress(c->level, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, n,
					   src, &olen, out->p))
			return shard_error_set(err, SHARD_EIO, "brotli: compression failed");
		out->len = olen;
		return 0;
	}
	case SHARD_CODEC_SNAPPY: {
		size_t olen = snappy_max_compressed_length(n);
		if (shard_buf_reserve(out, olen))
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
		if (snappy_compress(src, n, (char *)out->p, &olen) != SNAPPY_OK)
			return shard_error_set(err, SHARD_EIO, "snappy: compression failed");
		out->len = olen;
		return 0;
	}
	default:
		return shard_buf_append(out, src, n) ? shard_error_set(err, SHARD_ENOMEM, "out of memory") : 0;
	}
}

static int grow(struct shard_buf *out, uint64_t max_out, struct shard_error *err, const char *what)
{
	if (out->len > max_out)
		return shard_error_set(err, SHARD_EDATA, "%s: decompressed data exceeds %llu bytes",
				       what, (unsigned long long)max_out);
	if (out->cap - out->len < 65536 && shard_buf_reserve(out, out->cap ? out->cap : 1 << 20))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	return 0;
}

static size_t room(const struct shard_buf *out, uint64_t max_out)
{
	size_t r = out->cap - out->len;
	if ((uint64_t)r > max_out - out->len + 1)
		r = (size_t)(max_out - out->len + 1);
	return r;
}

int shard_decompress(const struct shard_codec *c, const void *src, size_t n,
		     uint64_t max_out, struct shard_buf *out, struct shard_error *err)
{
	int rc;

	out->len = 0;
	switch (c->id) {
	case SHARD_CODEC_ZSTD: {
		ZSTD_DCtx *d;
		ZSTD_inBuffer in = {src, n, 0};
		unsigned long long fcs = ZSTD_getFrameContentSize(src, n);
		size_t r = 1;
		if (fcs == ZSTD_CONTENTSIZE_ERROR)
			return shard_error_set(err, SHARD_EDATA, "zstd: not a zstd frame");
		if (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs > max_out)
			return shard_error_set(err, SHARD_EDATA,
					       "zstd: frame claims %llu bytes, over the limit of %llu", fcs,
					       (unsigned long long)max_out);
		if (fcs != ZSTD_CONTENTSIZE_UNKNOWN && shard_buf_reserve(out, (size_t)fcs + 1))
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
		d = ZSTD_createDCtx();
		if (!d)
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
		while (in.pos < in.size) {
			ZSTD_outBuffer o;
			if ((rc = grow(out, max_out, err, "zstd"))) {
				ZSTD_freeDCtx(d);
				return rc;
			}
			o.dst = out->p + out->len;
			o.size = room(out, max_out);
			o.pos = 0;
			r = ZSTD_decompressStream(d, &o, &in);
			out->len += o.pos;
			if (ZSTD_isError(r)) {
				ZSTD_freeDCtx(d);
				return shard_error_set(err, SHARD_EDATA, "zstd: %s", ZSTD_getErrorName(r));
			}
			if (o.pos == 0 && in.pos < in.size && r != 0 && o.size > 0 && o.pos < o.size)
				break;
		}
		ZSTD_freeDCtx(d);
		if (r != 0)
			return shard_error_set(err, SHARD_EDATA, "zstd: truncated frame");
		break;
	}
	case SHARD_CODEC_GZ: {
		z_stream z;
		int r = Z_OK;
		memset(&z, 0, sizeof z);
		if (inflateInit2(&z, 15 + 32) != Z_OK)
			return shard_error_set(err, SHARD_ENOMEM, "gzip: cannot initialise");
		z.next_in = (Bytef *)src;
		z.avail_in = (uInt)n;
		for (;;) {
			size_t rm;
			if ((rc = grow(out, max_out, err, "gzip"))) {
				inflateEnd(&z);
				return rc;
			}
			rm = room(out, max_out);
			z.next_out = out->p + out->len;
			z.avail_out = rm > UINT32_MAX ? UINT32_MAX : (uInt)rm;
			r = inflate(&z, Z_NO_FLUSH);
			out->len = (size_t)(z.next_out - out->p);
			if (r == Z_STREAM_END) {
				/* gzip allows concatenated members */
				if (z.avail_in == 0)
					break;
				if (inflateReset(&z) != Z_OK)
					break;
				continue;
			}
			if (r != Z_OK && r != Z_BUF_ERROR)
				break;
			if (r == Z_BUF_ERROR && z.avail_in == 0)
				break;
		}
		inflateEnd(&z);
		if (r != Z_STREAM_END)
			return shard_error_set(err, SHARD_EDATA, "gzip: %s",
					       r == Z_BUF_ERROR ? "truncated data" : "corrupt data");
		break;
	}
	case SHARD_CODEC_BZ2: {
		bz_stream z;
		int r = BZ_OK;
		memset(&z, 0, sizeof z);
		if (BZ2_bzDecompressInit(&z, 0, 0) != BZ_OK)
			return shard_error_set(err, SHARD_ENOMEM, "bz2: cannot initialise");
		z.next_in = (char *)src;
		z.avail_in = (unsigned int)n;
		for (;;) {
			size_t rm;
			if ((rc = grow(out, max_out, err, "bz2"))) {
				BZ2_bzDecompressEnd(&z);
				return rc;
			}
			rm = room(out, max_out);
			z.next_out = (char *)out->p + out->len;
			z.avail_out = rm > UINT32_MAX ? UINT32_MAX : (unsigned int)rm;
			r = BZ2_bzDecompress(&z);
			out->len = (size_t)((uint8_t *)z.next_out - out->p);
			if (r == BZ_STREAM_END || r != BZ_OK)
				break;
			if (z.avail_in == 0 && z.avail_out != 0)
				break;
		}
		BZ2_bzDecompressEnd(&z);
		if (r != BZ_STREAM_END)
			return shard_error_set(err, SHARD_EDATA, "bz2: %s",
					       r == BZ_OK ? "truncated data" : "corrupt data");
		break;
	}
	case SHARD_CODEC_BR: {
		BrotliDecoderState *d = BrotliDecoderCreateInstance(NULL, NULL, NULL);
		const uint8_t *next_in = src;
		size_t avail_in = n;
		BrotliDecoderResult r = BROTLI_DECODER_RESULT_ERROR;
		if (!d)
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
		for (;;) {
			uint8_t *next_out;
			size_t avail_out;
			if ((rc = grow(out, max_out, err, "brotli"))) {
				BrotliDecoderDestroyInstance(d);
				return rc;
			}
			next_out = out->p + out->len;
			avail_out = room(out, max_out);
			r = BrotliDecoderDecompressStream(d, &avail_in, &next_in, &avail_out, &next_out, NULL);
			out->len = (size_t)(next_out - out->p);
			if (r != BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT)
				break;
		}
		BrotliDecoderDestroyInstance(d);
		if (r != BROTLI_DECODER_RESULT_SUCCESS)
			return shard_error_set(err, SHARD_EDATA, "brotli: %s",
					       r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT ? "truncated data"
											   : "corrupt data");
		if (avail_in)
			return shard_error_set(err, SHARD_EDATA, "brotli: trailing bytes after the stream");
		break;
	}
	case SHARD_CODEC_SNAPPY: {
		size_t olen;
		if (snappy_uncompressed_length(src, n, &olen) != SNAPPY_OK ||
		    snappy_validate_compressed_buffer(src, n) != SNAPPY_OK)
			return shard_error_set(err, SHARD_EDATA, "snappy: corrupt data");
		if (olen > max_out)
			return shard_error_set(err, SHARD_EDATA, "snappy: data claims %zu bytes, over the limit of %llu",
					       olen, (unsigned long long)max_out);
		if (shard_buf_reserve(out, olen + 1))
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
		if (snappy_uncompress(src, n, (char *)out->p, &olen) != SNAPPY_OK)
			return shard_error_set(err, SHARD_EDATA, "snappy: corrupt data");
		out->len = olen;
		break;
	}
	default:
		if (n > max_out)
			return shard_error_set(err, SHARD_EDATA, "data over the limit");
		return shard_buf_append(out, src, n) ? shard_error_set(err, SHARD_ENOMEM, "out of memory") : 0;
	}
	if (out->len > max_out)
		return shard_error_set(err, SHARD_EDATA, "decompressed data exceeds %llu bytes",
				       (unsigned long long)max_out);
	return 0;
}
