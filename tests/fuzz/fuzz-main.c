/* Replays fuzz corpora and crash files through the targets without libFuzzer:
 * fuzz-run TARGET FILE...; used by make check so every corpus entry stays clean. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "fuzz.h"

int main(int argc, char **argv)
{
	int (*fn)(const uint8_t *, size_t);
	int i;

	if (argc < 3) {
		fprintf(stderr, "usage: fuzz-run mds|index|stream|csv|tz FILE...\n");
		return 2;
	}
	fn = strcmp(argv[1], "mds") == 0 ? fuzz_mds : strcmp(argv[1], "index") == 0 ? fuzz_index
		: strcmp(argv[1], "stream") == 0 ? fuzz_stream : strcmp(argv[1], "csv") == 0 ? fuzz_csv
		: strcmp(argv[1], "tz") == 0 ? fuzz_tz : NULL;
	if (!fn) {
		fprintf(stderr, "fuzz-run: unknown target '%s'\n", argv[1]);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		struct shard_buf b = {0};
		struct shard_error err;
		if (shard_read_file(argv[i], &b, 1u << 30, &err)) {
			fprintf(stderr, "fuzz-run: %s\n", err.msg);
			return 1;
		}
		fn(b.p, b.len);
		shard_buf_free(&b);
	}
	return 0;
}
