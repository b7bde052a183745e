/* Replays fuzz corpora and crash files through the targets without libFuzzer:
 * fuzz-run TARGET FILE...; used by make check so every corpus entry stays clean. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "fuzz.h"

static const struct {
	const char *name;
	int (*fn)(const uint8_t *, size_t);
} targets[] = {
	{"mds", fuzz_mds}, {"index", fuzz_index}, {"stream", fuzz_stream}, {"stream_raw", fuzz_stream_raw},
	{"csv", fuzz_csv}, {"tz", fuzz_tz}, {"codec", fuzz_codec}, {"codec_rt", fuzz_codec_rt},
	{"writer", fuzz_writer}, {"shuffle", fuzz_shuffle}, {"remote", fuzz_remote},
};

int main(int argc, char **argv)
{
	int (*fn)(const uint8_t *, size_t) = NULL;
	size_t t;
	int i;

	if (argc >= 2)
		for (t = 0; t < sizeof targets / sizeof targets[0]; t++)
			if (strcmp(argv[1], targets[t].name) == 0)
				fn = targets[t].fn;
	if (argc < 3 || !fn) {
		fprintf(stderr, "usage: fuzz-run TARGET FILE...; TARGET is one of");
		for (t = 0; t < sizeof targets / sizeof targets[0]; t++)
			fprintf(stderr, " %s", targets[t].name);
		fprintf(stderr, "\n");
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
