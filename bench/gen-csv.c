/* Writes a Spark-style CSV export for the benchmarks: DIR/part-NNNNN.csv files
 * with a header each, 20 float columns (7 significant digits, as Spark prints
 * floats) and an integer label, deterministic. gen-csv DIR ROWS PARTS */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	uint64_t x = 0x9E3779B97F4A7C15ull, rows, per, r;
	int parts, p, j;
	char path[4096];

	if (argc != 4) {
		fprintf(stderr, "usage: gen-csv DIR ROWS PARTS\n");
		return 2;
	}
	rows = strtoull(argv[2], NULL, 10);
	parts = atoi(argv[3]);
	per = (rows + (uint64_t)parts - 1) / (uint64_t)parts;
	for (p = 0; p < parts; p++) {
		FILE *f;
		snprintf(path, sizeof path, "%s/part-%05d-bench-c000.csv", argv[1], p);
		if (!(f = fopen(path, "w"))) {
			perror(path);
			return 1;
		}
		for (j = 0; j < 20; j++)
			fprintf(f, "f%02d,", j);
		fprintf(f, "label\n");
		for (r = (uint64_t)p * per; r < rows && r < (uint64_t)(p + 1) * per; r++) {
			for (j = 0; j < 20; j++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				fprintf(f, "%.7g,", ((double)(x >> 11) / 9007199254740992.0 - 0.5) * 8.0);
			}
			fprintf(f, "%d\n", (int)(x % 10));
		}
		fclose(f);
	}
	snprintf(path, sizeof path, "%s/_SUCCESS", argv[1]);
	fclose(fopen(path, "w"));
	return 0;
}
