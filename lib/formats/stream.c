/* The shard stream (shard-stream(5)): a magic header, then frames that each
 * carry one whole MDS shard file with its index entry and an XXH64 checksum,
 * closed by an end frame with totals so a cut pipe is never a short dataset. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "shard.h"
#include "internal.h"

#define META_MAX (64u << 20)
#define DATA_MAX (5ull << 30)

int stream_write_header(int fd, struct shard_error *err)
{
	uint8_t h[16];
	memcpy(h, SHARD_STREAM_MAGIC, 8);
	wr32(h + 8, SHARD_STREAM_VERSION);
	wr32(h + 12, 0);
	return shard_write_all(fd, h, sizeof h, err);
}

int stream_write_frame(int fd, const char *tag, const void *meta, size_t mlen, const void *data,
		       size_t dlen, struct shard_error *err)
{
	uint8_t h[16], sum[8];
	XXH64_state_t *st = XXH64_createState();
	int rc;

	if (!st)
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	memcpy(h, tag, 4);
	wr32(h + 4, (uint32_t)mlen);
	wr64(h + 8, dlen);
	XXH64_reset(st, 0);
	XXH64_update(st, h, sizeof h);
	XXH64_update(st, meta, mlen);
	if (dlen)
		XXH64_update(st, data, dlen);
	wr64(sum, XXH64_digest(st));
	XXH64_freeState(st);
	if ((rc = shard_write_all(fd, h, sizeof h, err)) || (rc = shard_write_all(fd, meta, mlen, err)) ||
	    (dlen && (rc = shard_write_all(fd, data, dlen, err))) || (rc = shard_write_all(fd, sum, 8, err)))
		return rc;
	return 0;
}

/* Read exactly n bytes; returns bytes read (< n only at end of input) or -1. */
static ssize_t read_full(int fd, void *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (uint8_t *)p + got, n - got > (1u << 30) ? (1u << 30) : n - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int stream_read_header(int fd, const char *name, int *eof, struct shard_error *err)
{
	uint8_t h[16];
	ssize_t r = read_full(fd, h, sizeof h);

	*eof = 0;
	if (r < 0)
		return shard_error_set(err, SHARD_EIO, "%s: %s", name, strerror(errno));
	if (r == 0) {
		*eof = 1;
		return 0;
	}
	if (r < (ssize_t)sizeof h || memcmp(h, SHARD_STREAM_MAGIC, 8) != 0)
		return shard_error_set(err, SHARD_EDATA, "%s: not a shard stream (bad magic)", name);
	if (rd32(h + 8) != SHARD_STREAM_VERSION)
		return shard_error_set(err, SHARD_EDATA, "%s: shard stream version %u is not supported (this is %d)",
				       name, rd32(h + 8), SHARD_STREAM_VERSION);
	return 0;
}

/* Read n bytes into b (emptied first), growing it only as bytes arrive: from
 * 64 KiB, at most doubling what is there, so a length that lies costs no more
 * than twice the bytes really sent. Returns the bytes read (< n only at end of
 * input) or -1. */
static ssize_t read_grow(int fd, struct shard_buf *b, uint64_t n)
{
	b->len = 0;
	while (b->len < n) {
		uint64_t want = n - b->len, step = b->len < (64u << 10) ? (64u << 10) : b->len;
		ssize_t got;
		if (want > step)
			want = step;
		if (shard_buf_reserve(b, (size_t)want + 1))
			return -2;
		got = read_full(fd, b->p + b->len, (size_t)want);
		if (got < 0)
			return -1;
		b->len += (size_t)got;
		if ((uint64_t)got < want)
			break;
	}
	return (ssize_t)b->len;
}

int stream_read_frame(int fd, const char *name, uint64_t frameno, uint64_t max_data, char tag[5],
		      struct shard_buf *meta, struct shard_buf *data, struct shard_error *err)
{
	uint8_t h[16], sum[8];
	uint32_t mlen;
	uint64_t dlen;
	ssize_t r;
	XXH64_state_t *st;
	int ok;

	r = read_full(fd, h, sizeof h);
	if (r < 0)
		return shard_error_set(err, SHARD_EIO, "%s: %s", name, strerror(errno));
	if (r < (ssize_t)sizeof h)
		return shard_error_set(err, SHARD_EDATA,
				       "%s: truncated stream: input ended at frame %llu without an end frame",
				       name, (unsigned long long)frameno);
	memcpy(tag, h, 4);
	tag[4] = 0;
	mlen = rd32(h + 4);
	dlen = rd64(h + 8);
	if (memcmp(tag, "SHRD", 4) != 0 && memcmp(tag, "END.", 4) != 0)
		return shard_error_set(err, SHARD_EDATA, "%s: frame %llu: unknown frame type (corrupt stream)", name,
				       (unsigned long long)frameno);
	if (mlen > META_MAX || dlen > DATA_MAX)
		return shard_error_set(err, SHARD_EDATA, "%s: frame %llu: implausible lengths (corrupt stream)",
				       name, (unsigned long long)frameno);
	if (dlen > max_data)
		return shard_error_set(err, SHARD_ELIMIT,
				       "%s: frame %llu: a shard of %llu bytes is over the limit of %llu bytes (SHARDKIT_MAX_SHARD)",
				       name, (unsigned long long)frameno, (unsigned long long)dlen,
				       (unsigned long long)max_data);
	/* Grow with the bytes that actually arrive: a corrupt length must not
	 * make us allocate gigabytes before the input runs out. */
	data->len = 0;
	r = read_grow(fd, meta, mlen);
	if (r == (ssize_t)mlen)
		r = read_grow(fd, data, dlen);
	if (r >= 0)
		r = meta->len == mlen && data->len == dlen ? read_full(fd, sum, 8) : 0;
	if (r == -2)
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	if (r == -1)
		return shard_error_set(err, SHARD_EIO, "%s: %s", name, strerror(errno));
	if (r != 8)
		return shard_error_set(err, SHARD_EDATA, "%s: truncated stream: frame %llu is cut short", name,
				       (unsigned long long)frameno);
	if (shard_buf_reserve(meta, 1))
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	meta->p[mlen] = 0;
	st = XXH64_createState();
	if (!st)
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	XXH64_reset(st, 0);
	XXH64_update(st, h, sizeof h);
	XXH64_update(st, meta->p, mlen);
	XXH64_update(st, data->p, (size_t)dlen);
	ok = XXH64_digest(st) == rd64(sum);
	XXH64_freeState(st);
	if (!ok)
		return shard_error_set(err, SHARD_EDATA, "%s: frame %llu: checksum mismatch (corrupt stream)", name,
				       (unsigned long long)frameno);
	return 0;
}
