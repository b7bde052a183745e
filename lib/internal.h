/* libshard internals shared between its source files; not installed. */
#ifndef SHARD_INTERNAL_H
#define SHARD_INTERNAL_H

#include <stddef.h>

#include "shard.h"

/* MDS integers are little-endian whatever the host: read and written bytewise. */
static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32(p + 4, (uint32_t)(v >> 32));
}

/* Largest raw MDS shard: offsets are uint32. */
#define SHARD_RAW_MAX 0xFFFFFFFFull

int stream_write_header(int fd, struct shard_error *err);
int stream_write_frame(int fd, const char *tag, const void *meta, size_t mlen, const void *data,
		       size_t dlen, struct shard_error *err);
int stream_read_header(int fd, const char *name, int *eof, struct shard_error *err);
/* A frame whose data_len passes max_data is refused (SHARD_ELIMIT) before its
 * data is read; buffers grow only as bytes arrive. */
int stream_read_frame(int fd, const char *name, uint64_t frameno, uint64_t max_data, char tag[5],
		      struct shard_buf *meta, struct shard_buf *data, struct shard_error *err);

/* Encodings (lib/formats/encoding.c). The dtype code of the scalar an
 * encoding stores (int and int64: 65), -1 for one that is no scalar. */
int shard_kind_dtype(enum shard_enc_kind k);
/* An ndarray field's layout, checked: its dtype, ndim and shape, and where
 * its values start. */
int shard_nd_layout(const struct shard_encoding *e, const struct shard_field *f, int *dtype, int *ndim,
		    uint64_t *shape, size_t *vpos, struct shard_error *err);
/* A str_float's text as Python's float() reads it (underscores between
 * digits, surrounding whitespace); 0, or -1 when it is no number. */
int shard_parse_double_text(const uint8_t *p, size_t n, double *out);

/* Replace an entry's raw file info (takes ownership of f's contents). */
void shard_entry_set_raw(struct shard_entry *e, struct shard_fileinfo *f);

/* JSON syntax (lib/json.c). Each js_* advances *i past what it reads and
 * returns 0, or -1 at the first byte that does not fit. */
int hex4(const uint8_t *p, uint32_t *v);
void js_ws(const uint8_t *p, size_t n, size_t *i);
int js_word(const uint8_t *p, size_t n, size_t *i, const char *w);
int js_string(const uint8_t *p, size_t n, size_t *i);
int js_number(const uint8_t *p, size_t n, size_t *i);
int js_value(const uint8_t *p, size_t n, size_t *i, int depth);
int js_unescape(const uint8_t *p, size_t n, struct shard_buf *out);
int put_utf8(uint32_t cp, struct shard_buf *out);

/* One unquoted CSV field at p (the input ends at end) read as a number of
 * dtype (shard_coltype.dtype: 8, 9, 16, 17, 18, 32, ...) into out's
 * dtype >> 3 bytes, exactly as shard_text_to_value would write it. The field
 * ends at the first delim, CR or LF. Returns its length, or -1 when it is not
 * such a number (shard_text_to_value says why). */
ptrdiff_t shard_number_field(int dtype, uint8_t delim, const uint8_t *p, const uint8_t *end, uint8_t *out);

/* A zone from its transitions (UTC instants ascending, each with the offset
 * from then on; off0 before the first) and a POSIX TZ rule (rlen bytes, 0
 * for none) for instants after the last transition (lib/tz.c). */
int shard_tz_build(struct shard_tz **tz, const char *name, const int64_t *at, const int32_t *off, size_t n,
		   int32_t off0, const char *rule, size_t rlen, struct shard_error *err);
/* p[0..n) as a UTC offset, all of it: +HH, +HHMM, +HH:MM, +HHMMSS or
 * +HH:MM:SS (or -), at most 18 hours; 0 with *secs east of UTC, else -1. */
int shard_tz_parse_offset(const uint8_t *p, size_t n, int32_t *secs);

/* A reader made by shard_csv_new_mem: where the next record starts (offset in
 * the input, physical line number), and moving there. */
size_t shard_csv_mem_tell(const struct shard_csv *c, uint64_t *line);
void shard_csv_mem_seek(struct shard_csv *c, size_t pos, uint64_t line);

/* Dataset files through a source (lib/io/source.c), for the verifier. With
 * SHARD_SRC_INDEX_ERROR_OK a dataset whose index.json is missing or malformed
 * still opens, with no shards (for a URL, any other failure to fetch it still
 * fails the open); shard_source_index_error then says why, else NULL. */
#define SHARD_SRC_INDEX_ERROR_OK 0x100
const struct shard_error *shard_source_index_error(const struct shard_source *src);
/* The dataset's directory as given, or its URL as shard_remote_url shows it. */
const char *shard_source_path(const struct shard_source *src);
int shard_source_is_remote(const struct shard_source *src);
/* A file of the dataset (basename as index.json names it) whole into b, at
 * most max bytes: SHARD_ENOENT when there is no such file (HTTP 404 for a
 * URL); a local file that is not a regular file is refused. Messages name
 * the file. */
int shard_source_read(struct shard_source *src, const char *basename, struct shard_buf *b, uint64_t max,
		      struct shard_error *err);

/* ---------------------------------------------------------------- converter inputs */

/* A text input (lib/io/input.c): a file or descriptor through libarchive,
 * which undoes gzip, bzip2, xz, zstd and lz4-frame compression (a plain file
 * is read directly), a caller's reader, or bytes in memory. */
struct archive;
struct shard_textin {
	const char *name;		/* for messages */
	struct archive *a;
	int fd;				/* a plain file read directly, or -1 */
	shard_read_fn fn;
	void *ctx;
	const uint8_t *mem;
	size_t len, pos;
};
/* *empty when the input holds nothing; errors carry libarchive's text alone
 * (the caller names the input). */
int shard_textin_open_path(struct shard_textin *t, const char *path, const char *name, int *empty,
			   struct shard_error *err);
int shard_textin_open_fd(struct shard_textin *t, int fd, const char *name, int *empty, struct shard_error *err);
void shard_textin_open_read(struct shard_textin *t, shard_read_fn fn, void *ctx, const char *name);
void shard_textin_open_mem(struct shard_textin *t, const void *p, size_t n, const char *name);
/* A shard_read_fn over a struct shard_textin; errors name the input. */
ssize_t shard_textin_read(void *t, void *buf, size_t n, struct shard_error *err);
void shard_textin_close(struct shard_textin *t);
/* Hadoop's .snappy and .lz4 part files are block-framed, not the standard
 * frame formats: no decompressor for them exists outside Hadoop. SHARD_EDATA
 * with the advice for such a file, else 0. */
int shard_textin_hadoop(const char *path, struct shard_error *err);

/* A Spark output directory (lib/io/input.c): part files in name order; _*
 * and .* (the _SUCCESS marker, .crc files) skipped; key=value subdirectories
 * give the files below them those partition values (%XX unescaped). fn gets
 * each file with its partition (np pairs, valid during the call only); its
 * non-zero return stops the walk and is returned. */
typedef int (*shard_part_fn)(void *ctx, const char *path, const char *const *keys, const char *const *vals,
			     size_t np, struct shard_error *err);
int shard_part_walk(const char *dir, shard_part_fn fn, void *ctx, struct shard_error *err);

/* Schema inference (lib/text/infer.c): the first rows of a CSV reader (one
 * JSON object per record with jsonl; the first record a header with header)
 * as a --schema column list, NUL-terminated in out. Errors name the input. */
int shard_infer_schema(struct shard_csv *csv, const char *name, int jsonl, int header, struct shard_buf *out,
		       struct shard_error *err);
/* A CSV reader's error as one message: NAME:LINE:COLUMN: when the input is
 * to blame, as for a bad row; a read error already names the file. */
void shard_csv_error_text(char *out, size_t n, const char *name, const struct shard_csv_record *rec,
			  const struct shard_error *err);

#endif
