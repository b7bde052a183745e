/* libshard: MDS shards (Mosaic Streaming compatible), datasets and the shard stream.
 * The one public header; everything the shard-* programs use is declared here.
 *
 * Conventions (lib/README.md has them in full): a call that can fail returns
 * an enum shard_status (0 is success) and fills a caller-owned struct
 * shard_error. Life cycles are named by what the caller holds: an opaque
 * handle is made by shard_X_new (shard_X_new_FROM for another source) and
 * released by shard_X_free; a handle bound to a file or connection by
 * shard_X_open... and shard_X_close (where the work is committed) or
 * shard_X_abort; a caller-owned struct is filled by shard_X_init or a
 * constructor named for what it reads (shard_index_load) and emptied by
 * shard_X_free, which never frees the struct itself. Options structs are
 * zeroed by the caller, zero being the default; members of public structs
 * are only ever added at the end. */
#ifndef SHARD_H
#define SHARD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of libshard (and of shardkit): written here and nowhere else;
 * configure.ac reads SHARD_VERSION_STRING from this header. */
#define SHARD_VERSION_MAJOR 0
#define SHARD_VERSION_MINOR 1
#define SHARD_VERSION_PATCH 0
#define SHARD_VERSION_STRING "0.1.0"
/* One number for comparisons in #if: MAJOR * 10000 + MINOR * 100 + PATCH. */
#define SHARD_VERSION_NUMBER (SHARD_VERSION_MAJOR * 10000 + SHARD_VERSION_MINOR * 100 + SHARD_VERSION_PATCH)

/* The version of the library a program runs with, which may be newer than
 * the header it was compiled against: its SHARD_VERSION_STRING and its
 * SHARD_VERSION_NUMBER. */
const char *shard_version(void);
int shard_version_number(void);

/* ---------------------------------------------------------------- errors */

/* Every fallible call returns one of these (0 is success) and leaves the
 * message in a caller-owned error object. */
enum shard_status {
	SHARD_OK = 0,
	SHARD_EDATA = 1,    /* the input is malformed or corrupt */
	SHARD_EIO = 2,      /* a system call failed */
	SHARD_ENOMEM = 3,   /* out of memory */
	SHARD_EARG = 4,     /* the caller asked for something invalid */
	SHARD_ELIMIT = 5,   /* a format limit would be exceeded */
	SHARD_EPIPE = 6,    /* the reader of our output went away */
	SHARD_ENOENT = 7,   /* a remote file does not exist (HTTP 404) */
};

/* What a call that failed left: the status it returned, the message (the
 * text the programs print), and where the fault lies as far as the library
 * knew: the file (a path or URL; "<stdin>" for a stream on standard input),
 * the line and column of a text input (1-based; a CSV record's first line
 * and the field at fault, from 1; a JSON text's line and column), the shard
 * (0-based: the index.json entry or the stream frame) and the sample in it
 * (0-based). What is not known is "" for the file, 0 for line and column and
 * SHARD_UNKNOWN for shard and sample. The members after msg are meaningful
 * only once a call has failed; members are only ever added at the end. */
#define SHARD_UNKNOWN UINT64_MAX
struct shard_error {
	int status;
	char msg[1024];
	char file[1024];
	uint64_t line, column;
	uint64_t shard, sample;
};

/* Set the status and the message; the place is cleared to not known.
 * Returns status. */
int shard_error_set(struct shard_error *err, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefix the existing message with "prefix: " (e.g. a file name); the place
 * is kept. Returns the status. */
int shard_error_prefix(struct shard_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Status SHARD_OK, no message, the place not known. */
void shard_error_clear(struct shard_error *err);
/* Record where an error happened, leaving the message alone: the file (NULL
 * or "": not known; cut short to fit), the line and column, the shard and
 * sample. Each returns err's status, for "return shard_error_file(err, path);". */
int shard_error_file(struct shard_error *err, const char *file);
int shard_error_line(struct shard_error *err, uint64_t line, uint64_t column);
int shard_error_item(struct shard_error *err, uint64_t shard, uint64_t sample);
/* The enumerator's name of a status ("SHARD_EDATA", "SHARD_OK"); NULL for a
 * value that is no enum shard_status. */
const char *shard_status_name(int status);

/* ---------------------------------------------------------------- buffers */

struct shard_buf {
	uint8_t *p;
	size_t len, cap;
};

int shard_buf_reserve(struct shard_buf *b, size_t extra);
int shard_buf_append(struct shard_buf *b, const void *p, size_t n);
int shard_buf_putc(struct shard_buf *b, int c);
int shard_buf_printf(struct shard_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void shard_buf_free(struct shard_buf *b);

/* Read a whole file (at most max bytes) into b. */
int shard_read_file(const char *path, struct shard_buf *b, uint64_t max,
		    struct shard_error *err);
/* Create a new file (for reading too when rdwr) and return its descriptor,
 * never opening what is already at path: a symbolic link, a second link to a
 * file or another user's file there is an error (-1, err says). A plain file
 * of this user and no other link, the stray of an earlier run killed under
 * the same process id, is replaced. */
int shard_create_new(const char *path, int rdwr, struct shard_error *err);
/* Write a file atomically: PATH.tmp.PID created by shard_create_new, the
 * bytes written, rename over PATH (which replaces a link, never writes
 * through it). With sync, the file is flushed to stable storage before the
 * rename (fsync) and its directory after, so that PATH holds these bytes
 * across a power loss once this returns. */
int shard_write_file_atomic(const char *path, const void *p, size_t n, int sync,
			    struct shard_error *err);
/* The largest raw shard a reader takes, from the environment's
 * SHARDKIT_MAX_SHARD (a size as shard_parse_size reads it, up to 4 GiB - 1;
 * default SHARD_MAX_SHARD_DEFAULT): no index entry, stream frame or
 * compressed file makes a reader allocate more than a small multiple of it.
 * SHARD_EARG for a value that is no such size. */
#define SHARD_MAX_SHARD_DEFAULT (1ull << 30)
int shard_max_shard(uint64_t *out, struct shard_error *err);
/* The largest compressed shard file of a raw shard of at most limit bytes
 * (any codec's worst expansion of incompressible data, with room to spare). */
uint64_t shard_max_stored(uint64_t limit);
/* Read a shard file whole into b after fstat: refuses (SHARD_EDATA) a file
 * that is not a regular file (a FIFO, a device, also through a symbolic
 * link) and one over max bytes (SHARD_ELIMIT), before reading a byte; reads
 * no more than the size fstat gave. Messages name the file. */
int shard_read_shard(const char *path, struct shard_buf *b, uint64_t max, struct shard_error *err);
/* Flush a file, or a directory (its entries), to stable storage. A missing
 * file is SHARD_ENOENT; a file system that cannot flush (EINVAL) is no error. */
int shard_fsync_path(const char *path, int is_dir, struct shard_error *err);
/* Write all bytes to fd; SHARD_EPIPE on a closed pipe. */
int shard_write_all(int fd, const void *p, size_t n, struct shard_error *err);

/* Parse a size with optional K/M/G/KB/MB/GB/KiB/MiB/GiB suffix (1024-based). */
int shard_parse_size(const char *s, uint64_t *out);

/* ---------------------------------------------------------------- threads */

/* The CPUs this process may use: its affinity mask, capped by the CPU quota
 * of its cgroup (v2 cpu.max or v1 cfs_quota_us/cfs_period_us, the tightest
 * from its own cgroup up, rounded up to whole CPUs); at least 1. A Spark
 * executor given one core gets 1, whatever the machine has. */
unsigned shard_cpu_budget(void);

/* One pool of worker threads serves every engine in a process: the writer's
 * compression, the converter's parsing, the batcher's gathers. Work goes in
 * as tasks the caller owns (embed one in its own struct): no allocation, so
 * submitting cannot fail. Tasks run in the order given, on any worker; a
 * task must not wait for a task submitted after it. Waiting for a task that
 * has not started runs it on the waiting thread, so a caller never idles
 * behind a queue. Every call is thread-safe. A NULL pool runs each task at
 * once, on the thread that submits it. */
#define SHARD_POOL_MAX 1024
struct shard_task {
	void (*fn)(struct shard_task *t);	/* set by the caller before submitting */
	/* the pool's own */
	struct shard_task *next_;
	int state_;
};
struct shard_pool;
/* threads 0: shard_cpu_budget(). */
int shard_pool_new(struct shard_pool **p, unsigned threads, struct shard_error *err);
unsigned shard_pool_threads(const struct shard_pool *p);
void shard_pool_submit(struct shard_pool *p, struct shard_task *t);
/* Until t has run (returns at once for a task never submitted). */
void shard_pool_wait(struct shard_pool *p, struct shard_task *t);
/* Whether t has run, without waiting. */
int shard_task_done(struct shard_pool *p, struct shard_task *t);
/* Runs what is queued, then stops the threads. */
void shard_pool_free(struct shard_pool *p);

/* ---------------------------------------------------------------- codecs */

/* Compression as MDS names it: "zstd", "zstd:7", "gz:9", "bz2", "br:11", "snappy". */
struct shard_codec {
	int id;		/* SHARD_CODEC_* */
	int level;
	char ext[8];	/* file extension, e.g. "zstd" */
};

enum { SHARD_CODEC_NONE = 0, SHARD_CODEC_ZSTD, SHARD_CODEC_GZ, SHARD_CODEC_BZ2,
       SHARD_CODEC_BR, SHARD_CODEC_SNAPPY };

int shard_codec_parse(const char *name, struct shard_codec *c, struct shard_error *err);
int shard_compress(const struct shard_codec *c, const void *src, size_t n,
		   struct shard_buf *out, struct shard_error *err);
/* Decompress, refusing output over max_out bytes (a bomb or a lie). */
int shard_decompress(const struct shard_codec *c, const void *src, size_t n,
		     uint64_t max_out, struct shard_buf *out, struct shard_error *err);

/* ---------------------------------------------------------------- hashes */

/* Hex digest of data under an MDS hash name ("xxh64", "sha1", ...). hex must
 * hold 129 bytes. */
int shard_hash_hex(const char *algo, const void *p, size_t n, char *hex,
		   struct shard_error *err);
int shard_hash_known(const char *algo);
/* The same digest over bytes given in pieces, in order. */
struct shard_hasher;
int shard_hasher_new(struct shard_hasher **h, const char *algo, struct shard_error *err);
void shard_hasher_update(struct shard_hasher *h, const void *p, size_t n);
/* The digest of all bytes given (once: the hasher is spent). */
int shard_hasher_hex(struct shard_hasher *h, char *hex, struct shard_error *err);
void shard_hasher_free(struct shard_hasher *h);
/* The names MDS allows, NULL-terminated. */
extern const char *const shard_hash_names[];

/* ---------------------------------------------------------------- encodings */

enum shard_enc_kind {
	SHARD_ENC_BYTES, SHARD_ENC_STR, SHARD_ENC_INT,
	SHARD_ENC_UINT8, SHARD_ENC_INT8, SHARD_ENC_UINT16, SHARD_ENC_INT16,
	SHARD_ENC_FLOAT16, SHARD_ENC_UINT32, SHARD_ENC_INT32, SHARD_ENC_FLOAT32,
	SHARD_ENC_UINT64, SHARD_ENC_INT64, SHARD_ENC_FLOAT64,
	SHARD_ENC_STR_INT, SHARD_ENC_STR_FLOAT, SHARD_ENC_STR_DECIMAL,
	SHARD_ENC_PIL, SHARD_ENC_JPEG, SHARD_ENC_PNG,
	SHARD_ENC_LIST_PIL, SHARD_ENC_LIST_JPEG, SHARD_ENC_LIST_PNG,
	SHARD_ENC_JPEG_ARRAY, SHARD_ENC_PKL, SHARD_ENC_JSON, SHARD_ENC_NDARRAY,
};

#define SHARD_NDIM_MAX 63

struct shard_encoding {
	enum shard_enc_kind kind;
	int dtype;		/* ndarray: value dtype code (8, 9, 16, ...) or -1 if in the data */
	int ndim;		/* ndarray: 0 if the shape is in the data */
	uint64_t shape[SHARD_NDIM_MAX];
	size_t size;		/* fixed size in bytes, 0 when variable */
};

int shard_encoding_parse(const char *name, struct shard_encoding *e, struct shard_error *err);
/* Size in bytes of one scalar of an ndarray dtype code; 0 if unknown. */
size_t shard_dtype_size(int code);
const char *shard_dtype_name(int code);
int shard_dtype_from_name(const char *name);

/* A column schema, ordered by column name as MDS stores them. */
struct shard_schema {
	size_t ncols;
	char **names;
	char **enc_names;
	struct shard_encoding *enc;
	size_t nvar;		/* columns without a fixed size */
};

/* With sort set, columns are put in MDS order (by name, bytewise); without it
 * they keep the given order, as a shard read through its index does. */
int shard_schema_init(struct shard_schema *s, size_t n, const char *const *names,
		      const char *const *encodings, int sort, struct shard_error *err);
/* Override a column's size as index.json records it (0 = variable). */
void shard_schema_set_size(struct shard_schema *s, size_t col, size_t size);
void shard_schema_free(struct shard_schema *s);
int shard_schema_index(const struct shard_schema *s, const char *name);

struct shard_field {
	const uint8_t *p;
	size_t len;
};

/* Split one sample's bytes into its column fields (fields[ncols]). */
int shard_sample_split(const struct shard_schema *s, const uint8_t *p, size_t n,
		       struct shard_field *fields, struct shard_error *err);
/* Check a field's bytes under its encoding (UTF-8, ndarray layout, JSON, ...). */
int shard_field_check(const struct shard_encoding *e, const struct shard_field *f,
		      struct shard_error *err);

/* Text forms of a field (see shard-cat(1)). */
/* Text forms of values: JSON; CSV in Spark's dialect (backslash escapes, ""
 * for an empty string, so that an empty field is null); TSV with backslash
 * escapes; CSV as RFC 4180 (doubled quotes). */
enum shard_text { SHARD_TEXT_JSON, SHARD_TEXT_CSV, SHARD_TEXT_TSV, SHARD_TEXT_CSV_RFC4180 };
int shard_field_format(const struct shard_encoding *e, const struct shard_field *f,
		       enum shard_text how, struct shard_buf *out, struct shard_error *err);

/* Shortest text that reads back to the same value. */
int shard_format_double(double v, char *buf, size_t n);
int shard_format_float(float v, char *buf, size_t n);
float shard_half_to_float(uint16_t h);

/* ---------------------------------------------------------------- MDS shards */

/* A parsed, validated view of one raw (decompressed) MDS shard in memory. */
struct shard_mds {
	const uint8_t *data;
	size_t size;
	uint32_t nsamples;
};

/* Validate header and offsets: monotonic, in bounds, last == size. */
int shard_mds_parse(struct shard_mds *m, const uint8_t *data, size_t size,
		    struct shard_error *err);
void shard_mds_sample(const struct shard_mds *m, uint32_t i, const uint8_t **p, size_t *n);
/* The config JSON embedded between the offsets and the first sample. */
void shard_mds_config(const struct shard_mds *m, const uint8_t **p, size_t *n);

/* ---------------------------------------------------------------- index.json */

struct shard_fileinfo {
	char *basename;
	uint64_t bytes;
	size_t nhashes;
	char **hash_names;
	char **hash_values;
};

/* One entry of index.json's "shards": what the Python reader requires. */
struct shard_entry {
	struct shard_schema schema;
	char *compression;		/* NULL when none */
	size_t nhashes;
	char **hashes;
	uint64_t size_limit;		/* 0 = null */
	uint64_t samples;
	struct shard_fileinfo raw;
	int has_zip;
	struct shard_fileinfo zip;
};

void shard_entry_free(struct shard_entry *e);
int shard_entry_copy(struct shard_entry *dst, const struct shard_entry *src);
/* Parse one entry from JSON text (a jansson object internally). */
int shard_entry_from_json(struct shard_entry *e, const char *text, size_t n,
			  struct shard_error *err);
/* Serialise as Python does: sorted keys, ", " and ": ", ASCII only. */
int shard_entry_to_json(const struct shard_entry *e, struct shard_buf *out,
			struct shard_error *err);
/* The shard's embedded config (entry minus samples/raw_data/zip_data). */
int shard_entry_config_json(const struct shard_entry *e, struct shard_buf *out,
			    struct shard_error *err);

/* Check an entry's claims before anything is allocated from them: its raw
 * shard at most limit bytes and large enough for the offsets of the samples
 * it claims (8 + 4 samples), its compressed file at most shard_max_stored
 * (limit) bytes and no more than the codec can inflate to raw_data.bytes.
 * stored_size is the real size of the file to be read (the compressed one
 * when stored_is_zip), or UINT64_MAX when not known yet. SHARD_ELIMIT for a
 * shard over the limit, SHARD_EDATA for a claim the bytes cannot back. */
int shard_entry_check(const struct shard_entry *e, int stored_is_zip, uint64_t stored_size, uint64_t limit,
		      struct shard_error *err);
/* Whether a shard's embedded config (N bytes at CFG) is a JSON object with
 * the keys and values of its entry (hashes aside: create --hashes records
 * others); SHARD_EDATA with the first difference otherwise. */
int shard_entry_config_check(const struct shard_entry *e, const uint8_t *cfg, size_t n, struct shard_error *err);

/* Check a file's size, and with hashes set the hashes its info lists; fill an
 * info from bytes. */
int shard_fileinfo_verify(const struct shard_fileinfo *f, const void *p, size_t n, int hashes, const char *what,
			  struct shard_error *err);
int shard_fileinfo_fill(struct shard_fileinfo *f, const char *const *algos, size_t nalgos,
			const char *basename, const void *p, size_t n, struct shard_error *err);

struct shard_index {
	size_t nshards;
	struct shard_entry *shards;
	char *extra;		/* the "shardkit" top-level object as JSON text, or NULL */
};

/* Load DIR/index.json (or a path to an index file, or a dataset's URL). Strict:
 * the key sets the Python reader demands. */
int shard_index_load(struct shard_index *ix, const char *path, struct shard_error *err);
/* Files an index names more than once (a raw or compressed basename of two
 * entries, or both of one): FN, when given, gets each repeat with the entry
 * that named the file first. Returns the number of repeats, -1 out of memory. */
int shard_index_repeats(const struct shard_index *ix, void (*fn)(void *ctx, const char *name, size_t first, size_t again),
			void *ctx);
int shard_index_parse(struct shard_index *ix, const char *text, size_t n,
		      const char *name, struct shard_error *err);
int shard_index_to_json(const struct shard_index *ix, struct shard_buf *out,
			struct shard_error *err);
int shard_index_append(struct shard_index *ix, const struct shard_entry *e);
void shard_index_free(struct shard_index *ix);

/* ---------------------------------------------------------------- remote datasets */

/* Whether path is an http://, https:// or s3:// URL rather than a local path. */
int shard_is_url(const char *path);

/* A URL as it may be shown: the user and password of a URL (the part of
 * SCHEME://USER:PASSWORD@HOST/... between "://" and '@') replaced by "***",
 * anything else as it is. The authority ends at the first '/', '?' or '#'
 * after "://" and its credentials at its last '@'; when an '@' follows the
 * authority too and the authority holds credentials or is no HOST[:PORT]
 * ("https://u:p@ss/w@host/ds"), a password may hold an unescaped '/', '?' or
 * '#', so everything up to the last '@' is hidden (shard_remote_open refuses
 * such a URL). Returns s itself when there is nothing to hide, else buf (n
 * bytes, cut short if need be). */
const char *shard_url_redact(const char *s, char *buf, size_t n);

/* A dataset under a URL: http(s)://HOST[:PORT]/PATH or s3://BUCKET/PREFIX,
 * with or without a trailing slash or /index.json. Its files are fetched whole
 * over one reused connection, with timeouts and retries of transient failures.
 * Reads the environment (AWS_* for S3, SHARDKIT_CONNECT_TIMEOUT,
 * SHARDKIT_LOW_SPEED_TIME, SHARDKIT_RETRIES): see shard-cat(1). */
struct shard_remote;
int shard_remote_open(struct shard_remote **r, const char *url, struct shard_error *err);
/* The dataset's URL as messages name it: no trailing slash, and its user and
 * password hidden by shard_url_redact. */
const char *shard_remote_url(const struct shard_remote *r);
/* Fetch the dataset's file basename into b (at most max bytes); a body cut
 * short is an error. SHARD_ENOENT on HTTP 404; messages name the file's URL. */
int shard_remote_get(struct shard_remote *r, const char *basename, struct shard_buf *b, uint64_t max,
		     struct shard_error *err);
void shard_remote_close(struct shard_remote *r);
/* The dataset's index.json (shard_index_load does this for a URL). */
int shard_index_load_remote(struct shard_index *ix, struct shard_remote *r, struct shard_error *err);

/* ---------------------------------------------------------------- the shard stream */

#define SHARD_STREAM_MAGIC "SHRDSTRM"
#define SHARD_STREAM_VERSION 1

/* ---------------------------------------------------------------- sources */

/* One shard as read from a dataset, a loose file or a stream. */
struct shard_item {
	struct shard_entry entry;
	const char *name;		/* for messages: path or "stream frame N" */
	struct shard_buf stored;	/* bytes as stored (compressed when stored_is_zip) */
	int stored_is_zip;
	size_t stored_map;		/* with SHARD_SRC_MAP: stored is a read-only mapping this long */
	struct shard_buf raw;		/* decompressed bytes, filled by shard_item_load_raw */
	int raw_loaded;
	struct shard_mds mds;
	/* after shard_source_set_range: an item of a shard only partly in the
	 * range may hold only samples part_first.. part_first+part_count-1 of
	 * it (stored then holds a raw MDS shard of just those, with no config),
	 * and one wholly outside the range no bytes at all (part_count 0) */
	int part;
	uint64_t part_first, part_count;
};

struct shard_source;

/* VERIFY_HASHES: check every hash an entry lists (sizes are always checked).
 * MAP: map a dataset's shard files read-only instead of reading them into
 * memory (no copy out of the page cache; the files must not be truncated
 * while an item refers to them). */
enum { SHARD_SRC_VERIFY_HASHES = 1, SHARD_SRC_MAP = 2 };

/* path: a dataset directory, an index.json, a dataset's URL (see
 * shard_remote_open), a loose shard file (.mds[.ext]), or "-" for a shard
 * stream on stdin. */
int shard_source_open(struct shard_source **src, const char *path, int flags,
		      struct shard_error *err);
/* 1: an item was read; 0: end; <0: -status with err set. */
int shard_source_next(struct shard_source *src, struct shard_item *item,
		      struct shard_error *err);
void shard_source_close(struct shard_source *src);
/* Pass over the next shard: a dataset's is not even read; a stream's must be.
 * Same returns as shard_source_next; it may or may not fill it. */
int shard_source_skip(struct shard_source *src, struct shard_item *it, struct shard_error *err);
/* How a dataset under a URL is read: in_flight files fetched at once
 * (SHARDKIT_IN_FLIGHT, default 4), at most window bytes fetched ahead of the
 * reader (SHARDKIT_READ_AHEAD, default 256 MiB; one file larger than it is
 * still fetched, alone), and the files kept in cache_dir (SHARDKIT_CACHE,
 * none by default) up to cache_limit bytes (SHARDKIT_CACHE_SIZE, default
 * 10 GiB). Zero or NULL: the environment's value, else the default. */
struct shard_source_opts {
	unsigned in_flight;
	uint64_t window;
	const char *cache_dir;
	uint64_t cache_limit;
};
#define SHARD_SOURCE_IN_FLIGHT_DEFAULT 4
#define SHARD_SOURCE_WINDOW_DEFAULT (256ull << 20)
#define SHARD_SOURCE_CACHE_DEFAULT (10ull << 30)
/* shard_source_open with options (opts may be NULL); SHARD_EARG for an
 * environment variable above that holds no valid value. */
int shard_source_open_opts(struct shard_source **src, const char *path, int flags,
			   const struct shard_source_opts *opts, struct shard_error *err);
/* Only samples lo..hi-1 of the source (counted from its first shard) will be
 * read; call before the first shard_source_next. A shard wholly outside
 * comes back as an item with its entry and no bytes (part set, part_count 0),
 * never fetched; a raw shard of a remote dataset partly inside is fetched in
 * two range requests, its offset table then its samples in the range (see
 * struct shard_item). Compressed shards are fetched whole. */
void shard_source_set_range(struct shard_source *src, uint64_t lo, uint64_t hi);
/* Shard number shard (of the index) will be passed over with
 * shard_source_skip: call before the first shard_source_next, so that a
 * remote dataset's read-ahead does not fetch it. SHARD_ENOMEM or 0. */
int shard_source_pass_over(struct shard_source *src, size_t shard);
/* What reading a remote dataset took so far (zero for a local one). */
struct shard_source_stats {
	uint64_t requests;	/* HTTP requests for shards, retries included */
	uint64_t bytes;		/* body bytes received */
	uint64_t cache_hits;	/* shards read from the cache */
	unsigned cache_dropped;	/* cached files that failed their check, dropped and fetched again */
	uint64_t peak_ahead;	/* the most bytes held fetched ahead */
	/* index.json was read from the cache, the server not answering: why */
	const char *index_cached;
};
void shard_source_stats(const struct shard_source *src, struct shard_source_stats *st);
/* Index of the dataset when the source has one (NULL for streams). */
const struct shard_index *shard_source_index(const struct shard_source *src);
/* The dataset's extra metadata (the index's "shardkit" object as JSON text,
 * e.g. logical column types), or NULL; for streams, that of the last frame. */
const char *shard_source_extra(const struct shard_source *src);
void shard_item_free(struct shard_item *it);
/* Decompress (if needed), verify hashes of raw bytes, parse the MDS header. */
int shard_item_load_raw(struct shard_item *it, int verify, struct shard_error *err);

/* ---------------------------------------------------------------- sinks */

/* Where whole shards go: a dataset directory (index.json written last, at
 * close), an s3:// dataset, or a shard stream (end frame written at close).
 * For s3://BUCKET/PREFIX (shard_remote_open's URL and environment, and
 * SHARDKIT_MULTIPART_SIZE: see shard-convert(1)), each shard is PUT as it is
 * put, shards from several threads at once, above the multipart size in
 * parts; index.json is PUT at close, after every shard; abort and kill DELETE
 * every object the sink wrote. http(s):// URLs are refused (SHARD_EARG). */
struct shard_sink;

int shard_sink_open_dir(struct shard_sink **s, const char *dir, struct shard_error *err);
int shard_sink_open_fd(struct shard_sink **s, int fd, struct shard_error *err);
/* One task's part of a dataset shared by many writers (Spark tasks): shards go
 * to a fresh DEST/part-PID-RANDOM/ directory and close writes no index.json;
 * collect the entries with shard_sink_on_shard and merge them elsewhere.
 * Like shard_sink_open_dir, refuses (SHARD_EARG) a DEST holding index.json. */
int shard_sink_open_part(struct shard_sink **s, const char *dest, struct shard_error *err);
/* Put one shard. The sink renames it to its own next shard.NNNNN name. */
int shard_sink_put(struct shard_sink *s, const struct shard_entry *e,
		   const void *stored, size_t n, int stored_is_zip, struct shard_error *err);
/* Finish: index.json or the end frame. Must be called for success. */
int shard_sink_close(struct shard_sink *s, struct shard_error *err);
/* Abandon: remove temporary files; never writes index.json. */
void shard_sink_abort(struct shard_sink *s);
/* For a thread about to end the process (on a signal) while others may still
 * use s: wait for a shard being written, remove every file s wrote, and keep
 * s locked, so that no thread writes another. s is not freed, and must not
 * be closed, aborted or freed meanwhile. */
void shard_sink_kill(struct shard_sink *s);
/* Set top-level extra index metadata (JSON object text). */
int shard_sink_set_extra(struct shard_sink *s, const char *json);
uint64_t shard_sink_samples(const struct shard_sink *s);
uint64_t shard_sink_shards(const struct shard_sink *s);
/* With a prefix, basenames are PREFIX/shard.NNNNN... (for per-task subdirectories). */
int shard_sink_set_prefix(struct shard_sink *s, const char *prefix);
/* Whether close flushes the shards and their directories to stable storage
 * before it writes index.json, and index.json after (the default, 1); 0 for
 * scratch data, which a power loss may leave with an index over lost bytes.
 * No-op for an s3:// dataset, whose objects are durable once PUT. */
void shard_sink_set_sync(struct shard_sink *s, int on);
/* Flush to stable storage the files of ix found below dir (a missing one is
 * passed over) and every directory from dir down to them. */
int shard_index_sync(const char *dir, const struct shard_index *ix, struct shard_error *err);
/* Called with each shard's final entry after it is written (may be NULL). */
void shard_sink_on_shard(struct shard_sink *s,
			 void (*fn)(void *ctx, const struct shard_entry *e), void *ctx);

/* ---------------------------------------------------------------- writers */

struct shard_writer_opts {
	const char *compression;	/* NULL or "" for none */
	const char *const *hashes;	/* sorted, unique */
	size_t nhashes;
	uint64_t size_limit;		/* bytes; 0 = unlimited (one shard) */
	uint64_t max_samples;		/* samples per shard; 0 = unlimited */
	/* where shards are hashed and compressed, a few at once: NULL for a
	 * pool of the writer's own (a thread per CPU of shard_cpu_budget, up
	 * to 4), freed by shard_writer_finish or shard_writer_free. A caller
	 * may share one pool among its writers, converter and batcher; it
	 * must outlive the writer. */
	struct shard_pool *pool;
};

struct shard_writer;

/* Build MDS shards from samples and hand them to a sink (not owned). */
int shard_writer_new(struct shard_writer **w, struct shard_sink *sink,
		     const struct shard_schema *schema, const struct shard_writer_opts *o,
		     struct shard_error *err);
/* Add a sample given as its column fields (in schema order). */
int shard_writer_add(struct shard_writer *w, const struct shard_field *fields,
		     struct shard_error *err);
/* Append one sample's bytes in MDS sample layout (size prefixes of variable
 * columns, then the columns) to out; fixed-size columns are length-checked. */
int shard_sample_encode(const struct shard_schema *s, const struct shard_field *fields, struct shard_buf *out,
			struct shard_error *err);
/* Add a sample already in MDS sample layout. */
int shard_writer_add_raw(struct shard_writer *w, const void *p, size_t n,
			 struct shard_error *err);
/* Add n samples in MDS sample layout, back to back in p, lens[i] bytes each:
 * the same shards as n calls of shard_writer_add_raw, with one copy per run. */
int shard_writer_add_many(struct shard_writer *w, const void *p, const uint32_t *lens, size_t n,
			  struct shard_error *err);
/* Flush the last shard. */
int shard_writer_finish(struct shard_writer *w, struct shard_error *err);
/* Give up after a failure elsewhere: shards still being compressed never reach
 * the sink, and on return none is on its way, so shard_sink_abort then removes
 * every shard written. Only shard_writer_free may follow. */
void shard_writer_abort(struct shard_writer *w);
void shard_writer_free(struct shard_writer *w);

/* ---------------------------------------------------------------- time zones */

/* A time zone: an IANA name such as America/New_York read from the zoneinfo
 * directory (TZif files, RFC 8536, and for instants past their last
 * transition the POSIX TZ rule of their footer), or Z, UTC, GMT, or a fixed
 * offset such as +05:30 (also after UTC or GMT; at most 18 hours). A handle
 * never changes once made: any number of threads may read it at once. */
struct shard_tz;
/* dir: the zoneinfo directory, NULL for /usr/share/zoneinfo. SHARD_EARG for a
 * name that is no zone, SHARD_EDATA for a zone file that is malformed (the
 * message names the zone). */
int shard_tz_new(struct shard_tz **tz, const char *name, const char *dir, struct shard_error *err);
/* The same from a TZif file's bytes, untrusted: every count, offset and index is checked. */
int shard_tz_new_tzif(struct shard_tz **tz, const char *name, const void *p, size_t n, struct shard_error *err);
void shard_tz_free(struct shard_tz *tz);
const char *shard_tz_name(const struct shard_tz *tz);
/* Seconds east of UTC at a UTC instant (seconds since 1970-01-01T00:00Z).
 * A NULL zone is UTC. */
int32_t shard_tz_offset(const struct shard_tz *tz, int64_t utc);
/* The UTC instant of a local wall-clock time (seconds since 1970-01-01T00:00
 * on the local clock), as java.time's ZonedDateTime.of resolves it: in an
 * overlap the earlier instant (the offset before the transition); in a gap the
 * time moved later by the gap's length (again the offset before). Arguments
 * are clamped to 2^62 seconds either way. */
int64_t shard_tz_to_utc(const struct shard_tz *tz, int64_t local);

/* ---------------------------------------------------------------- text to values */

/* Logical types MDS lacks, stored in plain encodings: bool as uint8 0/1, date
 * as int32 days since 1970-01-01, timestamp as int64 microseconds UTC. */
enum { SHARD_LT_NONE = 0, SHARD_LT_BOOL, SHARD_LT_DATE, SHARD_LT_TIMESTAMP };

struct shard_coltype {
	int ltype;
	int nullable;		/* "TYPE?": nulls kept (a validity column beside it) */
	int dec_p, dec_s;	/* "decimal(P,S)": str_decimal of that precision and scale; else 0, -1 */
	int dtype;		/* scalar dtype code of a numeric encoding, else -1 */
	char enc_name[64];
	struct shard_encoding enc;
	/* timestamp: the zone of text without an offset (NULL: UTC; not owned) */
	const struct shard_tz *tz;
	/* timestamp_ntz: wall-clock text kept as if it were UTC whatever tz,
	 * and text with an offset refused (Spark's TIMESTAMP_NTZ) */
	int ntz;
};

/* "int32", "ndarray:float32:4", "bool", "date", "timestamp", "timestamp_ntz",
 * "decimal(10,2)", ...; a trailing '?' ("int32?") marks the column nullable. */
int shard_coltype_parse(const char *type, struct shard_coltype *t, struct shard_error *err);

/* Nulls (shard-mds(5), NULLS): MDS has none, so a nullable column NAME gets a
 * uint8 validity column NAME.valid beside it, 1 where NAME holds a value and 0
 * where it is null; NAME then holds shard_null_value's placeholder. index.json's
 * shardkit metadata maps NAME to it under "validity". A json column holds JSON
 * null itself and gets no validity column. */
#define SHARD_VALIDITY_SUFFIX ".valid"
int shard_has_validity(const struct shard_coltype *t);
/* "NAME.valid" into buf; -1 when it does not fit. */
int shard_validity_name(const char *col, char *buf, size_t n);
/* Append the placeholder a null leaves in a column of type t: zeros of a fixed
 * size, "" for str and bytes, "0" for str_int/str_float/str_decimal, [0] for
 * an ndarray without a shape, null for json. */
int shard_null_value(const struct shard_coltype *t, struct shard_buf *out, struct shard_error *err);
const char *shard_ltype_name(int ltype);
int shard_ltype_from_name(const char *name);

/* A column list "NAME:TYPE,NAME:TYPE,...": a NAME in backquotes may hold any
 * character (`a,b:c`; `` for a backquote); commas inside parentheses
 * (decimal(10,2)) and the dimensions of an ndarray's shape
 * (ndarray:float32:2,3) stay in the type. With types 0 the list holds names
 * alone ("a,`b,c`") and each type is NULL. The caller frees with
 * shard_colspec_free. */
struct shard_colspec {
	char *name, *type;
};
int shard_colspec_parse(const char *text, int types, struct shard_colspec **out, size_t *n, struct shard_error *err);
void shard_colspec_free(struct shard_colspec *c, size_t n);
/* "NAME<sep>REST" with NAME backquoted or not: the name (malloc'd) and the rest. */
int shard_colname_split(const char *s, char sep, char **name, const char **rest, struct shard_error *err);
/* A decimal(P,S) value's text as the column writes it: plain, S fraction
 * digits (a --fill of 0 becomes 0.00). */
int shard_decimal_scaled(const struct shard_coltype *t, const char *text, struct shard_buf *out,
			 struct shard_error *err);
/* The text form of a logical value: true/false, "yyyy-MM-dd", "yyyy-MM-ddTHH:mm:ss.ffffffZ". */
int shard_ltype_format(int ltype, const struct shard_field *f, enum shard_text how, struct shard_buf *out,
		       struct shard_error *err);
/* Append the MDS bytes of a text value; SHARD_EDATA with a message if it does not parse. */
int shard_text_to_value(const struct shard_coltype *t, const uint8_t *p, size_t n, struct shard_buf *out,
			struct shard_error *err);
uint16_t shard_float_to_half(float f);
/* A Spark schema, as a DDL string ("id BIGINT, x ARRAY<FLOAT>") or the JSON of
 * df.schema.json(), as a shard-convert column list "id:int64,x:ndarray:float32"
 * (NUL-terminated in out). */
int shard_schema_from_spark(const char *text, struct shard_buf *out, struct shard_error *err);

/* ---------------------------------------------------------------- JSON Lines */

/* Call fn for each member of one JSON object (Python's dialect: NaN, Infinity,
 * big numbers), with the key decoded, the 0-based byte of its opening quote,
 * and the value as its raw text. fn's non-zero return stops the scan and is
 * returned. Strict where a value would be ambiguous: a lone surrogate escape
 * (\ud800 without its pair, a lone low surrogate) or a key twice in one
 * object, at any depth, is an error before fn is called, with *at the 1-based
 * byte of the escape or the repeated key; *at is 0 for other errors. */
int shard_json_object_scan(const uint8_t *p, size_t n,
			   int (*fn)(void *ctx, const char *key, size_t key_at, const uint8_t *val, size_t vlen),
			   void *ctx, size_t *at, struct shard_error *err);
/* Decode a JSON string literal (with its quotes) to UTF-8. */
int shard_json_string_value(const uint8_t *p, size_t n, struct shard_buf *out);

/* ---------------------------------------------------------------- shuffling */

/* xoshiro256** seeded by SplitMix64 from (seed, epoch): documented in
 * shard-shuffle(1), the same on every machine. */
struct shard_rng {
	uint64_t s[4];
};
void shard_rng_seed(struct shard_rng *r, uint64_t seed, uint64_t epoch);
uint64_t shard_rng_next(struct shard_rng *r);
/* Uniform in [0, n), unbiased. */
uint64_t shard_rng_below(struct shard_rng *r, uint64_t n);
/* Fisher-Yates: a uniformly random permutation of a[0..n). */
void shard_permute(struct shard_rng *r, uint64_t *a, size_t n);
/* An epoch's order of the first[nshards] samples into perm (shard-shuffle(1)):
 * a permutation of them all from (seed, epoch), or with block the shards'
 * order shuffled, then the samples within each shard; shard s holds samples
 * first[s] to first[s+1]. SHARD_ENOMEM, or 0. */
int shard_epoch_order(uint64_t seed, uint64_t epoch, int block, const uint64_t *first, size_t nshards,
		      uint64_t *perm);
/* One rank's share of an epoch's order perm[0..n): position p to rank p mod
 * world, or with batch > 0 batch j to rank j mod world, the remainder dropped
 * (or, with pad, filled by wrapping around); then the first skip left out.
 * Returns a malloc'd list of *count sample indices, or NULL. */
uint64_t *shard_deal(const uint64_t *perm, uint64_t n, uint64_t rank, uint64_t world, uint64_t batch, int pad,
		     uint64_t skip, uint64_t *count);
/* The same without the list, whose length --batch and --pad set whatever the
 * data (a share may repeat a few samples a great many times): a deal of n
 * samples, and its k-th sample (k < count) as a position in perm, in O(1). */
struct shard_dealer {
	uint64_t n, rank, world, batch, skip;
	uint64_t total;		/* positions dealt, to all ranks (n, or whole rounds of batches) */
	uint64_t count;		/* this rank's, after skip */
};
/* SHARD_EARG when batch * world overflows. */
int shard_dealer_init(struct shard_dealer *d, uint64_t n, uint64_t rank, uint64_t world, uint64_t batch, int pad,
		      uint64_t skip);
uint64_t shard_dealer_at(const struct shard_dealer *d, uint64_t k);
/* The inverse: for a position i < total in the epoch's order (sample perm[i %
 * n]), whether it is this rank's after skip, and at which k. */
int shard_dealer_find(const struct shard_dealer *d, uint64_t i, uint64_t *k);

/* ---------------------------------------------------------------- CSV */

/* Input callback: bytes read into buf (<= n), 0 at end, -1 with err set. */
typedef ssize_t (*shard_read_fn)(void *ctx, void *buf, size_t n, struct shard_error *err);

struct shard_csv_opts {
	char delim, quote, escape;	/* quote or escape 0: none */
	const char *null_value;		/* an unquoted field equal to this is null ("") */
	size_t max_record;		/* bytes */
	int keep_raw;			/* keep each record's raw bytes (for rejects) */
	uint64_t first_line;		/* line number of the input's first byte (default 1) */
	int no_bom;			/* the input is not a file's start: never strip a BOM */
};

struct shard_csv_field {
	const uint8_t *p;
	size_t len;
	int quoted, null;
};

struct shard_csv_record {
	uint64_t line;			/* line the record starts on (1-based) */
	size_t nfields;
	struct shard_csv_field *fields;
	const uint8_t *raw;		/* with keep_raw: the record as read */
	size_t raw_len;
	size_t bad_field;		/* after an error the input is to blame for: the field at fault
					 * (from 1), with line the record's first line; else 0 */
};

struct shard_csv;
void shard_csv_opts_default(struct shard_csv_opts *o);
int shard_csv_new(struct shard_csv **c, const struct shard_csv_opts *o, shard_read_fn read, void *ctx,
		  struct shard_error *err);
/* Read a whole input held in memory in place (it must outlive the reader):
 * unquoted fields point straight into it. */
int shard_csv_new_mem(struct shard_csv **c, const struct shard_csv_opts *o, const void *p, size_t n,
		      struct shard_error *err);
/* 1: a record; 0: end of input; <0: -status with err set. When the input is
 * to blame (an unterminated quote, a record over max_record) rec->bad_field
 * and rec->line say where; a read error keeps the read callback's message. */
int shard_csv_next(struct shard_csv *c, struct shard_csv_record *rec, struct shard_error *err);
void shard_csv_free(struct shard_csv *c);

/* ================================================================ engines
 * Each engine is a handle: an options struct (zeroed, then the fields that
 * matter set; fields are only ever added at the end), shard_X_new, the calls
 * that do the work, shard_X_free. None prints, exits or keeps process-wide
 * state; two run side by side in one process. */

/* ---------------------------------------------------------------- engine: converter */

/* CSV/TSV as Apache Spark writes it, or JSON Lines, typed by a schema into
 * MDS shards: inputs are queued (files, plain or compressed; directories of
 * Spark part files, whose key=value subdirectories become columns; a
 * descriptor; a reader; bytes), the schema settled from the options and the
 * inputs, then shard_converter_finish converts them all, in order, into a
 * writer on the caller's sink. Chunks of whole records are parsed on the
 * pool and written in input order, so the shards are the same whatever the
 * thread count. Messages name the input and, for a bad row, FILE:LINE or
 * FILE:LINE:COLUMN (the field, from 1). */

/* A row left out by skip, as on_reject gets it (valid during the call). */
struct shard_convert_reject {
	const char *file;		/* the input's name */
	uint64_t line;			/* the line the record starts on (1-based) */
	size_t column;			/* the field at fault (from 1), or 0 for the row */
	const char *reason;
	const uint8_t *raw;		/* the record as read, its line end included */
	size_t raw_len;
};

struct shard_convert_opts {
	int jsonl;			/* one JSON object per line, else CSV */
	/* the CSV dialect: delim, quote, escape, null_value, max_record (set
	 * with shard_csv_opts_default first; jsonl reads lines with it, its
	 * delimiter, quote and escape unset) */
	struct shard_csv_opts csv;
	int header;			/* every input file starts with a header line */
	int case_sensitive;		/* header names and JSON keys match exactly, not ignoring ASCII case */
	/* Columns as "NAME:TYPE,..." (see shard_colspec_parse and
	 * shard_coltype_parse); NULL: inferred from the first 1000 rows of the
	 * first input, which must be a path or bytes. */
	const char *schema;
	int spark_schema;		/* the schema came from Spark's (no_nulls then names its nullable fields) */
	/* Each a list of n strings, as the options of shard-convert(1) take them:
	 * "COL=TYPE" another type than the schema's; "COL=VALUE" the text used
	 * for nulls; "COL=NAME" the name written; "NAME=COL,COL,...:DTYPE" packs
	 * columns into one ndarray column. */
	const char *const *types;
	size_t ntypes;
	const char *const *fills;
	size_t nfills;
	const char *const *renames;
	size_t nrenames;
	const char *const *packs;
	size_t npacks;
	const char *select;		/* "COL,COL": the columns written (NULL: all) */
	int no_nulls;			/* no column keeps nulls */
	const char *timezone;		/* of timestamps without an offset (NULL: UTC) */
	const char *tzdir;		/* zoneinfo directory (NULL: /usr/share/zoneinfo) */
	/* A bad row: with skip, passed to on_reject and left out; without, the
	 * run fails at it. skip needs on_reject. */
	int skip;
	void (*on_reject)(void *ctx, const struct shard_convert_reject *r);
	/* Notes that are no failure (an empty file without its header) and the
	 * columns that met nulls they cannot hold, before the failure that
	 * follows them. */
	void (*on_warning)(void *ctx, const char *msg);
	/* Rows and input bytes done, after each chunk, in order. */
	void (*on_progress)(void *ctx, uint64_t rows, uint64_t bytes);
	void *ctx;			/* for the callbacks, which run on the thread calling finish */
	struct shard_writer_opts writer;
	struct shard_pool *pool;	/* NULL: a pool of its own of threads (0: shard_cpu_budget());
					 * the writer's compression shares it unless writer.pool is set */
	unsigned threads;
};

struct shard_convert_stats {
	uint64_t rows_read, rows_written, rows_rejected;
	size_t inputs;
};

struct shard_converter;

/* A converter with these options (its strings and lists are not copied: they
 * must outlive it). Nothing is checked yet: see shard_converter_prepare. */
int shard_converter_new(struct shard_converter **h, const struct shard_convert_opts *o, struct shard_error *err);
/* Queue a file (compressed or not, recognised from its content) or a
 * directory of Spark part files (walked now). SHARD_EIO for a path that
 * cannot be read, SHARD_EDATA for a subdirectory that is no key=value
 * partition; SHARD_EARG after prepare. */
int shard_converter_add_path(struct shard_converter *h, const char *path, struct shard_error *err);
/* Queue a descriptor (compressed or not; not closed), a reader (plain text),
 * or bytes (plain text, not copied: they must outlive the converter); name
 * (copied) is what messages call it. */
int shard_converter_add_fd(struct shard_converter *h, int fd, const char *name, struct shard_error *err);
int shard_converter_add_read(struct shard_converter *h, shard_read_fn fn, void *ctx, const char *name,
			   struct shard_error *err);
int shard_converter_add_bytes(struct shard_converter *h, const void *p, size_t n, const char *name,
			    struct shard_error *err);
/* Settle the schema: inferred when the options give none, the options
 * applied, partition keys of the inputs queued made columns. SHARD_EARG for
 * options that cannot be (a usage error), others for inputs that fail.
 * After it, no input may be added. finish calls it when not called. */
int shard_converter_prepare(struct shard_converter *h, struct shard_error *err);
/* After prepare: the schema as a column list (the options', or the one
 * inferred), the MDS schema written, and index.json's "shardkit" metadata
 * (logical types, validity columns) as JSON text, NULL when there is none. */
const char *shard_converter_schema_text(const struct shard_converter *h);
/* The input the schema was inferred from, NULL when the options gave it. */
const char *shard_converter_inferred_from(const struct shard_converter *h);
const struct shard_schema *shard_converter_schema(const struct shard_converter *h);
const char *shard_converter_extra(const struct shard_converter *h);
/* Convert every input queued, in order, into shards handed to sink (not
 * owned; its extra metadata set), the last one flushed. On a failure
 * (a bad row without skip, a null a column cannot hold, an input or the
 * sink failing) no shard is left on its way: the caller aborts the sink.
 * Once only. */
int shard_converter_finish(struct shard_converter *h, struct shard_sink *sink, struct shard_error *err);
/* Rows read, written and rejected so far, and the inputs queued. */
void shard_converter_stats(const struct shard_converter *h, struct shard_convert_stats *st);
/* Nulls met in a column of the schema (by the name the input gives it),
 * filled, kept or refused; 0 for a name that is no column. */
uint64_t shard_converter_nulls(const struct shard_converter *h, const char *column);
void shard_converter_free(struct shard_converter *h);

/* ---------------------------------------------------------------- engine: shuffler */

/* An epoch's shuffle of a dataset (shard-shuffle(1)): its samples in a seeded
 * order, one rank's share of it, as the bytes of each sample (MDS sample
 * layout, never re-encoded). FULL is a uniform permutation of all samples
 * and BLOCK shuffles the shards' order, then the samples within each shard
 * (both shard_epoch_order, dealt by shard_dealer); either holds the share's
 * samples in memory when their estimated bytes fit memory, else scatters them
 * to temporary bucket files read back a window at a time, with the same
 * order. BUFFER passes the input once through a window of buffer samples:
 * each sample coming in replaces a random one, which goes out (the order of
 * a stream read once); positions go to ranks one by one, then skip. */
enum shard_shuffle_mode { SHARD_SHUFFLE_FULL = 0, SHARD_SHUFFLE_BLOCK, SHARD_SHUFFLE_BUFFER };

struct shard_shuffle_opts {
	uint64_t seed, epoch;
	int mode;			/* enum shard_shuffle_mode */
	uint64_t buffer;		/* BUFFER: the window, in samples (at least 1) */
	uint64_t rank, world;		/* this rank's share of world ranks (world 0: 1) */
	uint64_t batch;			/* deal whole batches of this many samples (not with BUFFER) */
	int pad;			/* with batch: wrap around to fill the last batches */
	uint64_t skip;			/* leave out the share's first skip samples (resuming) */
	uint64_t memory;		/* bytes of samples held before buckets are used; 0: 1 GiB */
	const char *tmpdir;		/* where temporary files go; NULL: $TMPDIR, else /tmp */
	/* called with each shard's stored bytes as it is read (for progress), on
	 * the thread calling shard_shuffler_open or shard_shuffler_next; may be NULL */
	void (*on_read)(void *ctx, uint64_t bytes);
	void *ctx;
};

/* One sample: bytes valid until the next call on the shuffler, and the entry
 * of the dataset's first shard, whose columns every sample has (a shuffler
 * refuses shards whose columns differ). */
struct shard_shuffle_sample {
	const uint8_t *p;
	size_t len;
	const struct shard_entry *entry;
};

struct shard_shuffler;
/* A shuffler with its options (copied, tmpdir too); it reads and makes
 * nothing yet, so that a signal's cleanup (shard_shuffler_kill) can be set
 * up between new and open, before any temporary file exists. SHARD_EARG for
 * options that do not fit together (rank not below world, pad without batch,
 * batch or no buffer with BUFFER). */
int shard_shuffler_new(struct shard_shuffler **s, const struct shard_shuffle_opts *o, struct shard_error *err);
/* Its input: a dataset directory or URL, or "-" for a shard stream on stdin
 * (spooled to a temporary dataset for FULL and BLOCK; read as it comes for
 * BUFFER, which takes a dataset too). FULL and BLOCK load and check the
 * index (the claims of its entries against the files' sizes, the columns of
 * every shard alike) and deal the order; BUFFER reads the first shard.
 * Errors carry the message shard-shuffle prints (SHARD_EARG: a batch too
 * large for world). Once only. */
int shard_shuffler_open(struct shard_shuffler *s, const char *path, struct shard_error *err);
/* After open: the first shard's entry (the output's schema and, by default,
 * its compression, hashes and size limit), and the dataset's extra metadata
 * (the index's "shardkit" object, the stream's first one) or NULL. */
const struct shard_entry *shard_shuffler_entry(const struct shard_shuffler *s);
const char *shard_shuffler_extra(const struct shard_shuffler *s);
/* 1: the next sample of the share in *out; 0: the end; <0: -status with err
 * set, after which only shard_shuffler_free may follow. The first call of
 * FULL or BLOCK reads the whole input. */
int shard_shuffler_next(struct shard_shuffler *s, struct shard_shuffle_sample *out, struct shard_error *err);
/* For a thread about to end the process (a signal's cleanup) while another
 * may be inside open or next: remove every temporary file the shuffler has
 * made (a spool's shard being written is waited for), and keep it locked, so
 * that no thread makes another; a thread that tries waits for good. s is not
 * freed and must not be freed meanwhile. */
void shard_shuffler_kill(struct shard_shuffler *s);
/* Removes the temporary files, frees s. */
void shard_shuffler_free(struct shard_shuffler *s);

/* ---------------------------------------------------------------- engine: batcher */

/* Batches of fixed-size columns from datasets, loose shards or the shard
 * stream, gathered into memory the caller provides (pinned host memory for a
 * device, a numpy array's buffer, ...). Shards are read, checked and
 * decompressed ahead on the pool, and the gathering runs on it too.
 *
 * A batch's layout: each column's values back to back, sample after sample,
 * little-endian as MDS stores them, starting at the column's off (a multiple
 * of opts.align) and cap bytes long: batch * size rounded up to a multiple of
 * 4, zeros after the samples of a short last batch. The bytes between one
 * column's cap and the next column's off are never written. Columns are in
 * the order asked for, or the schema's. Every shard must have the first
 * shard's columns. */
struct shard_batch_opts {
	const char *const *columns;	/* fixed-size columns to gather (copied); NULL or */
	size_t ncolumns;		/* 0: every fixed-size one, in the schema's order */
	size_t batch;			/* samples per batch; 0: 1024 */
	size_t align;			/* column boundary in a batch, a power of two; 0: 256 */
	int drop_last;			/* leave out a last, partial batch */
	int no_verify;			/* do not check shard hashes (sizes are always checked) */
	struct shard_pool *pool;	/* not owned; NULL: the batcher's own, of threads */
	unsigned threads;		/* 0: shard_cpu_budget() */
};

/* One column of a batch. name and encoding are the batcher's, valid until
 * shard_batcher_free. */
struct shard_batch_column {
	const char *name, *encoding;
	size_t size;			/* bytes a sample */
	size_t off, cap;		/* its place in a batch buffer */
};

struct shard_batch_layout {
	size_t ncols;
	const struct shard_batch_column *cols;
	size_t sample_bytes;		/* of a sample, over the columns */
	size_t bytes;			/* a batch buffer's size: every column's place */
};

/* What shard_batcher_next filled. samples 0: the inputs are done. */
struct shard_batch {
	size_t samples;			/* in this batch: opts.batch, or fewer in the last */
	size_t bytes;			/* samples * sample_bytes */
	/* each column's shard_batch_checksum over its cap bytes (the
	 * batcher's, valid until the next call) */
	const uint64_t *sums;
	/* so far, over the run */
	uint64_t shards;		/* shards taken */
	uint64_t dropped;		/* samples left out by drop_last */
	double reader_wait;		/* seconds the batching waited for shards */
};

/* The checksum of a column's bytes: the sum, modulo 2^64, of w[j] * (2j + 1)
 * over its little-endian 32-bit words w[j] (n a multiple of 4). A sum, so a
 * device computes it in any order; weighted by position, so moved or swapped
 * words change it. */
uint64_t shard_batch_checksum(const void *p, size_t n);

struct shard_batcher;
/* Batch the inputs one after the other: each a dataset directory, an
 * index.json, a dataset's URL, a loose shard file, or "-" for a shard stream
 * on stdin (see shard_source_open). Reading starts at once, on the pool.
 * SHARD_EARG for no inputs or a bad opts.align. */
int shard_batcher_new(struct shard_batcher **b, const char *const *inputs, size_t ninputs,
		      const struct shard_batch_opts *opts, struct shard_error *err);
/* The layout of every batch, from the first shard's columns (waits for it).
 * SHARD_EDATA for input that holds no shards, a column the shard lacks or
 * one of no fixed size, a read error of that shard; SHARD_EARG for a column
 * named twice or a batch too large for a column. An error stays: every
 * later call returns it. */
int shard_batcher_layout(struct shard_batcher *b, struct shard_batch_layout *l, struct shard_error *err);
/* Fill the next batch into buf (cap bytes, at least the layout's bytes; the
 * caller's, any alignment) and say what went in (out->samples 0 at the end).
 * Errors name the shard, and err's place says it (the shard's file, or
 * "<stdin>"; its index entry; the sample where one is at fault): a read,
 * hash or size failure, a sample shorter than its columns, a shard with
 * other columns. After an error only shard_batcher_free may follow. */
int shard_batcher_next(struct shard_batcher *b, void *buf, size_t cap, struct shard_batch *out,
		       struct shard_error *err);
/* Stops the reading (waits for the shard being read) and frees everything. */
void shard_batcher_free(struct shard_batcher *b);


/* ---------------------------------------------------------------- engine: verifier */

/* A finding of the verifier, as fields; the strings live until the callback
 * returns. */
enum { SHARD_PROBLEM_ERROR = 0, SHARD_PROBLEM_WARNING = 1 };
struct shard_problem {
	int severity;		/* ERROR: the dataset is not sound; WARNING: it is, but a job may
				 * want this gone (a file index.json does not reference) */
	const char *file;	/* the file's path or URL (a directory's ends in '/') */
	long shard;		/* the index.json entry concerned, or -1 */
	long long sample;	/* the sample within that shard, or -1 */
	const char *column;	/* the column concerned, or NULL */
	const char *message;	/* what is wrong, without the file, sample and column */
	const char *unreferenced;	/* a file (or "DIR/") below the dataset that index.json does
					 * not reference, else NULL */
};

struct shard_verify_opts {
	int strict;			/* unreferenced files are problems, not warnings */
	const char *const *hashes;	/* the hashes checked where a file lists them; NULL: all */
	size_t nhashes;
	const char *expect_schema;	/* the columns expected, in any order: NAME:TYPE[?],... as
					 * shard_colspec_parse reads it, TYPE one of shard_coltype_parse's
					 * or any MDS encoding, '?' nullable; NULL: any */
	int expect_samples_set;
	uint64_t expect_samples;	/* the number of samples expected, when set */
	uint64_t max_problems;		/* reported at most, and the run stops soon after; 0: no limit */
	void (*problem)(void *ctx, const struct shard_problem *p);	/* each finding, in order */
	void *ctx;
};

/* What the last run looked at. */
struct shard_verify_counts {
	uint64_t shards, samples;	/* as index.json lists them */
	uint64_t samples_ok;		/* in shards whose files are sound, with every field sound */
	uint64_t shards_read, bytes;	/* shards whose data was checked, and the bytes read */
	uint64_t problems, warnings;	/* found, also past max_problems */
	int index_ok;			/* index.json was read */
	int listed;			/* the files below the dataset were looked at (not for a URL) */
};

struct shard_verifier;
struct shard_orphan;
/* A verifier with options o (copied). SHARD_EARG for an expected schema
 * that does not parse, the message saying why. */
int shard_verifier_new(struct shard_verifier **v, const struct shard_verify_opts *o, struct shard_error *err);
/* Check every byte of a dataset (a directory or a URL, read through a
 * source): index.json, each shard's files (sizes, hashes, the compressed
 * file and its contents), MDS headers, embedded configs and every sample's
 * fields, the expectations, files listed twice, and for a directory the
 * files index.json does not reference. Findings go to the callback; 0 when
 * the dataset could be judged (sound or not: see the counts), else the
 * status of what stopped it (a directory that is not there, a server
 * failing other than by a 404, memory), err saying why. */
int shard_verifier_run(struct shard_verifier *v, const char *dataset, struct shard_error *err);
void shard_verifier_counts(const struct shard_verifier *v, struct shard_verify_counts *c);
/* The dataset of the last run as findings name it (a URL without its
 * password), or NULL when it could not be opened. */
const char *shard_verifier_dataset(const struct shard_verifier *v);
/* The files below the dataset that its index.json does not reference, as
 * the last run found them (all of them, also past max_problems; see
 * shard_dataset_unreferenced); owned by the verifier. */
const struct shard_orphan *shard_verifier_orphans(const struct shard_verifier *v, size_t *n);
void shard_verifier_free(struct shard_verifier *v);

/* Datasets as a whole (lib/engines/dataset.c). */

/* Whether two schemas have the same columns with the same encodings. */
int shard_schema_same(const struct shard_schema *a, const struct shard_schema *b);
/* The samples an index lists. */
uint64_t shard_index_samples(const struct shard_index *ix);
/* An index (into ix, the caller frees it) of the shard files (*.mds and
 * *.mds.EXT, a raw one beside its compressed twin counted once) in dir, read
 * in name order; with algos (sorted, unique: SHARD_EARG otherwise) the file
 * infos hashed anew under those. Refuses a dir holding index.json unless
 * replace; writes nothing. */
int shard_dataset_create(struct shard_index *ix, const char *dir, const char *const *algos, size_t nalgos,
			 int replace, struct shard_error *err);
/* One index (into ix) of the index.json files below dir (not dir's own), in
 * path order, their basenames rebased to be relative to out, which must hold
 * them; the "shardkit" metadata kept when all agree. *nparts: the indexes
 * merged. */
int shard_dataset_merge(struct shard_index *ix, const char *dir, const char *out, size_t *nparts,
			struct shard_error *err);
/* Add one line of entries (an entry's JSON, or {"shardkit": {...}} metadata,
 * which must agree across lines) to ix; the files it names must be in dir
 * with their sizes. Messages start with where ("<stdin>:3"). */
int shard_index_add_line(struct shard_index *ix, const char *dir, const char *line, size_t len, const char *where,
			 struct shard_error *err);

/* A file or directory below a dataset that its index does not reference, or
 * one that could not be looked at (errnum set). Names starting with '.' or
 * '_' (and what is below them) are never counted. */
struct shard_orphan {
	char *rel;		/* its path below the dataset */
	int is_dir, errnum;
	uint64_t files, bytes;	/* a directory's: the files it holds */
};
/* What below dir ix does not reference, in path order, a directory none of
 * whose contents is referenced as a whole; symbolic links never followed.
 * dir may be an s3:// dataset, whose objects are listed and reported one by
 * one.
 * The caller frees the list with shard_orphans_free. */
int shard_dataset_unreferenced(const char *dir, const struct shard_index *ix, struct shard_orphan **v, size_t *n,
			       struct shard_error *err);
void shard_orphans_free(struct shard_orphan *v, size_t n);
/* What is wrong with an orphan, as a sentence ("not referenced by index.json (a writer's temporary file)"). */
void shard_orphan_message(const struct shard_orphan *o, char *msg, size_t n);

struct shard_prune_opts {
	int dry_run;		/* remove nothing, report what would go */
	/* each file or directory removed (errnum 0) or not removable (errnum set) */
	void (*removed)(void *ctx, const char *rel, int is_dir, int errnum);
	void *ctx;
};
struct shard_prune_counts {
	uint64_t files, dirs, bytes, failed;
};
/* Remove what dir/index.json does not reference, after checking that the
 * index is valid, that all of the dataset could be looked at and that some
 * of the files it lists are here: either everything is removed (a failure
 * to remove one goes to the callback and is counted), or nothing (an
 * error). */
int shard_dataset_prune(const char *dir, const struct shard_prune_opts *o, struct shard_prune_counts *c,
			struct shard_error *err);

/* ---------------------------------------------------------------- remote writes */

/* Writing s3://BUCKET/PREFIX datasets (lib/io/upload.c). Requests are retried
 * as shard_remote_get's are; objects over SHARDKIT_MULTIPART_SIZE (default 64
 * MiB, from 5 MiB to 5 GiB) go up as multipart uploads. Messages name the
 * object, the method and S3's answer ("s3://b/p/index.json: PUT: HTTP 403
 * (SignatureDoesNotMatch)"). Plain http(s) datasets cannot be listed:
 * SHARD_EARG. */
struct shard_remote_file {
	char *name;		/* below the dataset ("shard.00000.mds", "part-1-ab/shard.00000.mds") */
	uint64_t size;
};
/* Every file below the dataset whose name starts with sub ("" for all), in
 * name order (ListObjectsV2). */
int shard_remote_list(struct shard_remote *r, const char *sub, struct shard_remote_file **v, size_t *n,
		      struct shard_error *err);
void shard_remote_files_free(struct shard_remote_file *v, size_t n);
/* PUT the n bytes at p as the dataset's file basename. */
int shard_remote_put(struct shard_remote *r, const char *basename, const void *p, size_t n, struct shard_error *err);
/* DELETE the dataset's file basename (one not there is no error). */
int shard_remote_delete(struct shard_remote *r, const char *basename, struct shard_error *err);
/* ix as the dataset's index.json, PUT once every file it names is listed
 * with the size it gives (SHARD_EDATA naming the first one that is not); an
 * index.json already there is refused (SHARD_EARG) unless replace. */
int shard_index_put_remote(struct shard_remote *r, const struct shard_index *ix, int replace,
			   struct shard_error *err);

#ifdef __cplusplus
}
#endif
#endif
