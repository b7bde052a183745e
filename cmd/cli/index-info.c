/* shard-index info: what a dataset holds, from its index.json alone. */
#include "config.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "index-info.h"
#include "shard.h"

/* The logical type index.json records for a column ("bool", "date", ...), or NULL. */
static const char *logical_type(const struct shard_index *ix, const char *col, json_t **keep)
{
	json_t *x;
	if (!ix->extra)
		return NULL;
	if (!*keep)
		*keep = json_loads(ix->extra, 0, NULL);
	x = json_object_get(json_object_get(*keep, "logical_types"), col);
	return json_string_value(x);
}

int cli_index_info(const char *dir, int json)
{
	struct shard_index ix;
	struct shard_error err;
	char path[PATH_MAX];
	uint64_t raw = 0, zip = 0;
	size_t i, k;
	const struct shard_entry *e0;
	json_t *lt = NULL;
	char shown[PATH_MAX];
	const char *name = shard_url_redact(dir, shown, sizeof shown);	/* a URL's password stays unsaid */

	snprintf(path, sizeof path, "%s/index.json", dir);
	if (shard_index_load(&ix, path, &err))
		cli_die_err(&err);
	for (i = 0; i < ix.nshards; i++) {
		raw += ix.shards[i].raw.bytes;
		zip += ix.shards[i].has_zip ? ix.shards[i].zip.bytes : ix.shards[i].raw.bytes;
	}
	e0 = ix.nshards ? &ix.shards[0] : NULL;
	if (json) {
		json_t *cols = json_array(), *hashes = json_array(), *o;
		char *s;
		for (k = 0; e0 && k < e0->schema.ncols; k++) {
			const char *l = logical_type(&ix, e0->schema.names[k], &lt);
			json_t *c = json_pack("{s:s, s:s, s:o}", "name", e0->schema.names[k], "encoding",
					      e0->schema.enc_names[k], "size",
					      e0->schema.enc[k].size ? json_integer((json_int_t)e0->schema.enc[k].size)
								     : json_null());
			if (l)
				json_object_set_new(c, "logical_type", json_string(l));
			json_array_append_new(cols, c);
		}
		for (k = 0; e0 && k < e0->nhashes; k++)
			json_array_append_new(hashes, json_string(e0->hashes[k]));
		o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:o}", "dataset", name, "samples",
			      (json_int_t)shard_index_samples(&ix), "shards", (json_int_t)ix.nshards, "bytes_raw",
			      (json_int_t)raw, "bytes_stored", (json_int_t)zip, "compression",
			      e0 && e0->compression ? json_string(e0->compression) : json_null(), "hashes", hashes,
			      "columns", cols);
		if (ix.extra)
			json_object_set_new(o, "shardkit", json_loads(ix.extra, 0, NULL));
		s = json_dumps(o, JSON_COMPACT);
		cli_out_str(s);
		cli_out_str("\n");
		free(s);
		json_decref(o);
	} else {
		char line[4096];
		snprintf(line, sizeof line,
			 "dataset:     %s\nsamples:     %llu\nshards:      %zu\nbytes raw:   %llu\nbytes stored: %llu\n"
			 "compression: %s\nhashes:     ",
			 name, (unsigned long long)shard_index_samples(&ix), ix.nshards, (unsigned long long)raw,
			 (unsigned long long)zip, e0 && e0->compression ? e0->compression : "none");
		cli_out_str(line);
		for (k = 0; e0 && k < e0->nhashes; k++) {
			cli_out_str(" ");
			cli_out_str(e0->hashes[k]);
		}
		cli_out_str(e0 && e0->nhashes ? "\n" : " none\ncolumns:\n");
		if (e0 && e0->nhashes)
			cli_out_str("columns:\n");
		for (k = 0; e0 && k < e0->schema.ncols; k++) {
			const char *l = logical_type(&ix, e0->schema.names[k], &lt);
			char enc[128];
			snprintf(enc, sizeof enc, "%s%s%s%s", e0->schema.enc_names[k], l ? " (" : "", l ? l : "", l ? ")" : "");
			if (e0->schema.enc[k].size)
				snprintf(line, sizeof line, "  %-24s %-20s %zu bytes\n", e0->schema.names[k], enc,
					 e0->schema.enc[k].size);
			else
				snprintf(line, sizeof line, "  %-24s %-20s variable\n", e0->schema.names[k], enc);
			cli_out_str(line);
		}
	}
	cli_out_flush();
	json_decref(lt);
	shard_index_free(&ix);
	return 0;
}
