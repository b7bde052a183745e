/* shard-index info: what a dataset holds, from its index.json alone. */
#ifndef SHARD_CLI_INDEX_INFO_H
#define SHARD_CLI_INDEX_INFO_H

/* DIR's samples, shards, bytes, compression, hashes and columns (with their
 * logical types), as text or with json as one JSON object, on stdout; dies
 * when index.json cannot be read. Returns the exit status, 0. */
int cli_index_info(const char *dir, int json);

#endif
