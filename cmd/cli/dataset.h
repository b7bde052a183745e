/* Front-end helpers the programs share for datasets they write: -o DEST,
 * index.json written with its summary line. */
#ifndef SHARD_CLI_DATASET_H
#define SHARD_CLI_DATASET_H

#include <stdint.h>
#include "shard.h"

/* -o DEST: a dataset directory, or "-" for a shard stream on stdout, which
 * is refused on a terminal (SHARD_EARG; with force -1 the program has no
 * --force, with 0 the message points to it, 1 writes anyway). The sink
 * syncs unless no_sync, and a signal removes what it wrote
 * (cli_guard_sink). */
int cli_dest_open(struct shard_sink **sink, const char *dest, int force, int no_sync, struct shard_error *err);
/* Whether dest is an http(s) URL, where no dataset is written (s3:// is). */
int cli_http_url(const char *dest);
/* "prog: NAME: [N indexes, ]S shards, M samples" on stderr (nindexes 0: no
 * count of indexes). */
void cli_dataset_summary(const char *name, size_t nindexes, uint64_t shards, uint64_t samples);
/* DIR/index.json for ix, written atomically, after the shards it names
 * reach the disk (unless no_sync); refused, with a warning per repeat, when
 * it lists a file twice. An s3:// DIR: PUT once every shard it names is
 * listed with its size. Dies on failure. */
void cli_write_index(const char *dir, const struct shard_index *ix, int no_sync);

#endif
