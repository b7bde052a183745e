/* Writes a dataset straight through libshard's writer (every scalar encoding,
 * strings, bytes, json, ndarrays) and prints the samples as JSON Lines, so the
 * interop tests can check that Python's StreamingDataset reads back exactly
 * what the library wrote: write-ds DIR|- SAMPLES COMPRESSION HASHES SIZE_LIMIT */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"

static const char *names[] = {"a_int", "b_i8", "c_i16", "d_i32", "e_i64", "f_u8", "g_u16", "h_u32", "i_u64",
			      "j_f16", "k_f32", "l_f64", "m_str", "n_bytes", "o_json", "p_strint", "q_nd",
			      "r_nddyn", "s_strfloat"};
static const char *encs[] = {"int", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
			     "float16", "float32", "float64", "str", "bytes", "json", "str_int",
			     "ndarray:float32:2,2", "ndarray", "str_float"};
#define NCOLS (sizeof names / sizeof names[0])

static void die(const struct shard_error *err)
{
	fprintf(stderr, "write-ds: %s\n", err->msg);
	exit(1);
}

int main(int argc, char **argv)
{
	struct shard_schema s;
	struct shard_error err;
	struct shard_sink *sink;
	struct shard_writer *w;
	struct shard_writer_opts o = {0};
	struct shard_field f[NCOLS];
	struct shard_buf line = {0};
	char **hl = NULL;
	size_t nh = 0, i, k;
	long n;

	if (argc != 6) {
		fprintf(stderr, "usage: write-ds DIR|- SAMPLES COMPRESSION|none HASHES|none SIZE_LIMIT\n");
		return 2;
	}
	n = atol(argv[2]);
	o.compression = strcmp(argv[3], "none") ? argv[3] : NULL;
	if (strcmp(argv[4], "none")) {
		char *p = strdup(argv[4]);
		for (char *t = strtok(p, ","); t; t = strtok(NULL, ",")) {
			hl = realloc(hl, (nh + 1) * sizeof *hl);
			hl[nh++] = t;
		}
	}
	o.hashes = (const char *const *)hl;
	o.nhashes = nh;
	o.size_limit = strtoull(argv[5], NULL, 10);
	if (shard_schema_init(&s, NCOLS, names, encs, 1, &err))
		die(&err);
	if ((strcmp(argv[1], "-") ? shard_sink_open_dir(&sink, argv[1], &err) : shard_sink_open_fd(&sink, 1, &err)) ||
	    shard_writer_new(&w, sink, &s, &o, &err))
		die(&err);
	for (i = 0; i < (size_t)n; i++) {
		int64_t a = (int64_t)i * 1000003 - 5000000000LL;
		int8_t b = (int8_t)(i * 37);
		int16_t c = (int16_t)(i * 7919);
		int32_t d = (int32_t)(i * 2654435761u);
		int64_t e = -(int64_t)i * 1234567891011LL;
		uint8_t fu = (uint8_t)(255 - i);
		uint16_t g = (uint16_t)(i * 40503u);
		uint32_t h = (uint32_t)(i * 2246822519u);
		uint64_t u = (uint64_t)i * 11400714819323198485ull;
		uint16_t half = (uint16_t)(0x3C00 + i * 3);	/* 1.0 upward */
		float fl = (float)i / 7.0f - 3.0f;
		double db = i % 5 == 4 ? NAN : sqrt((double)i) * (i % 2 ? -1 : 1);
		char str[64], js[64], si[64], sf[64];
		uint8_t bytes[8], nd[16], nddyn[2 + 3 * 2 + 1];
		float q[4] = {fl, -fl, fl * 2, 0.5f};
		int16_t dv[3] = {(int16_t)i, (int16_t)-i, 7};

		snprintf(str, sizeof str, "row %zu: \"é\" \\ %s", i, i % 3 ? "x" : "");
		snprintf(js, sizeof js, "{\"k\": [%zu, null, true, \"s\"]}", i);
		snprintf(si, sizeof si, "-%zu123456789012345678901234567890", i);
		snprintf(sf, sizeof sf, "%.17g", (double)i / 3.0);
		for (k = 0; k < sizeof bytes; k++)
			bytes[k] = (uint8_t)(i + k * 31);
		memcpy(nd, q, 16);
		nddyn[0] = 17;			/* int16 */
		nddyn[1] = (1 << 2) | 0;	/* one dimension, uint8 dims */
		nddyn[2] = 3;
		memcpy(nddyn + 3, dv, 6);
		f[0] = (struct shard_field){(uint8_t *)&a, 8};
		f[1] = (struct shard_field){(uint8_t *)&b, 1};
		f[2] = (struct shard_field){(uint8_t *)&c, 2};
		f[3] = (struct shard_field){(uint8_t *)&d, 4};
		f[4] = (struct shard_field){(uint8_t *)&e, 8};
		f[5] = (struct shard_field){&fu, 1};
		f[6] = (struct shard_field){(uint8_t *)&g, 2};
		f[7] = (struct shard_field){(uint8_t *)&h, 4};
		f[8] = (struct shard_field){(uint8_t *)&u, 8};
		f[9] = (struct shard_field){(uint8_t *)&half, 2};
		f[10] = (struct shard_field){(uint8_t *)&fl, 4};
		f[11] = (struct shard_field){(uint8_t *)&db, 8};
		f[12] = (struct shard_field){(uint8_t *)str, strlen(str)};
		f[13] = (struct shard_field){bytes, i % 4 ? sizeof bytes : 0};
		f[14] = (struct shard_field){(uint8_t *)js, strlen(js)};
		f[15] = (struct shard_field){(uint8_t *)si, strlen(si)};
		f[16] = (struct shard_field){nd, 16};
		f[17] = (struct shard_field){nddyn, 9};
		f[18] = (struct shard_field){(uint8_t *)sf, strlen(sf)};
		if (shard_writer_add(w, f, &err))
			die(&err);
		/* expected values, in the documented text form */
		line.len = 0;
		shard_buf_putc(&line, '{');
		for (k = 0; k < NCOLS; k++) {
			if (k)
				shard_buf_putc(&line, ',');
			shard_buf_printf(&line, "\"%s\":", s.names[k]);
			if (shard_field_format(&s.enc[k], &f[shard_schema_index(&s, s.names[k])], SHARD_TEXT_JSON, &line, &err))
				die(&err);
		}
		shard_buf_printf(&line, "}\n");
		if (strcmp(argv[1], "-"))
			fwrite(line.p, 1, line.len, stdout);
	}
	if (shard_writer_finish(w, &err) || shard_sink_close(sink, &err))
		die(&err);
	shard_writer_free(w);
	shard_schema_free(&s);
	shard_buf_free(&line);
	if (hl)
		free(hl[0]);
	free(hl);
	return 0;
}
