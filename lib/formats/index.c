/* index.json: shard entries read with the strictness of Mosaic Streaming's
 * reader (exact key sets) and written byte-for-byte as Python's json.dumps does. */
#include "config.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "internal.h"

#define INDEX_MAX (4ull << 30)

static void fileinfo_free(struct shard_fileinfo *f)
{
	size_t i;
	for (i = 0; i < f->nhashes; i++) {
		free(f->hash_names[i]);
		free(f->hash_values[i]);
	}
	free(f->hash_names);
	free(f->hash_values);
	free(f->basename);
	memset(f, 0, sizeof *f);
}

void shard_entry_set_raw(struct shard_entry *e, struct shard_fileinfo *f)
{
	fileinfo_free(&e->raw);
	e->raw = *f;
	memset(f, 0, sizeof *f);
}

void shard_entry_free(struct shard_entry *e)
{
	size_t i;
	shard_schema_free(&e->schema);
	free(e->compression);
	for (i = 0; i < e->nhashes; i++)
		free(e->hashes[i]);
	free(e->hashes);
	fileinfo_free(&e->raw);
	fileinfo_free(&e->zip);
	memset(e, 0, sizeof *e);
}

static int keys_exact(json_t *o, const char *const *keys, const char *what, struct shard_error *err)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach(o, k, v) {
		int found = 0;
		for (i = 0; keys[i] && !found; i++)
			found = strcmp(keys[i], k) == 0;
		if (!found)
			return shard_error_set(err, SHARD_EDATA, "%s: unexpected key \"%s\" (Python's reader rejects it)",
					       what, k);
	}
	for (i = 0; keys[i]; i++)
		if (!json_object_get(o, keys[i]))
			return shard_error_set(err, SHARD_EDATA, "%s: missing key \"%s\"", what, keys[i]);
	return 0;
}

static int safe_basename(const char *b)
{
	const char *p = b;
	if (!*b || b[0] == '/')
		return 0;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || (n == 2 && p[0] == '.' && p[1] == '.') || (n == 1 && p[0] == '.'))
			return 0;
		p += n;
		if (*p == '/')
			p++;
	}
	return 1;
}

static int fileinfo_parse(struct shard_fileinfo *f, json_t *o, const char *what, struct shard_error *err)
{
	static const char *const keys[] = {"basename", "bytes", "hashes", NULL};
	json_t *b, *n, *h, *v;
	const char *k;
	size_t i = 0;
	int rc;

	memset(f, 0, sizeof *f);
	if (!json_is_object(o))
		return shard_error_set(err, SHARD_EDATA, "%s: not an object", what);
	if ((rc = keys_exact(o, keys, what, err)))
		return rc;
	b = json_object_get(o, "basename");
	n = json_object_get(o, "bytes");
	h = json_object_get(o, "hashes");
	if (!json_is_string(b) || !safe_basename(json_string_value(b)))
		return shard_error_set(err, SHARD_EDATA, "%s: basename must be a relative path inside the dataset",
				       what);
	if (!json_is_integer(n) || json_integer_value(n) < 0)
		return shard_error_set(err, SHARD_EDATA, "%s: bytes must be a non-negative integer", what);
	if (!json_is_object(h))
		return shard_error_set(err, SHARD_EDATA, "%s: hashes must be an object", what);
	f->basename = strdup(json_string_value(b));
	f->bytes = (uint64_t)json_integer_value(n);
	f->nhashes = json_object_size(h);
	f->hash_names = calloc(f->nhashes + 1, sizeof *f->hash_names);
	f->hash_values = calloc(f->nhashes + 1, sizeof *f->hash_values);
	if (!f->basename || !f->hash_names || !f->hash_values)
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	json_object_foreach(h, k, v) {
		if (!json_is_string(v))
			return shard_error_set(err, SHARD_EDATA, "%s: hash \"%s\" is not a string", what, k);
		f->hash_names[i] = strdup(k);
		f->hash_values[i] = strdup(json_string_value(v));
		if (!f->hash_names[i] || !f->hash_values[i])
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
		i++;
	}
	return 0;
}

static int entry_parse(struct shard_entry *e, json_t *o, const char *what, struct shard_error *err)
{
	static const char *const keys[] = {"column_encodings", "column_names", "column_sizes", "compression",
					   "format", "hashes", "raw_data", "samples", "size_limit",
					   "version", "zip_data", NULL};
	json_t *names, *encs, *sizes, *comp, *hashes, *v;
	const char **nv = NULL, **ev = NULL;
	char sub[600];
	size_t n, i;
	int rc;

	memset(e, 0, sizeof *e);
	if (!json_is_object(o))
		return shard_error_set(err, SHARD_EDATA, "%s: not an object", what);
	if ((rc = keys_exact(o, keys, what, err)))
		return rc;
	v = json_object_get(o, "version");
	if (!json_is_integer(v) || json_integer_value(v) != 2)
		return shard_error_set(err, SHARD_EDATA, "%s: version must be 2", what);
	v = json_object_get(o, "format");
	if (!json_is_string(v) || strcmp(json_string_value(v), "mds") != 0)
		return shard_error_set(err, SHARD_EDATA, "%s: format must be \"mds\"", what);
	names = json_object_get(o, "column_names");
	encs = json_object_get(o, "column_encodings");
	sizes = json_object_get(o, "column_sizes");
	if (!json_is_array(names) || !json_is_array(encs) || !json_is_array(sizes) ||
	    json_array_size(names) != json_array_size(encs) || json_array_size(names) != json_array_size(sizes))
		return shard_error_set(err, SHARD_EDATA,
				       "%s: column_names, column_encodings and column_sizes must be lists of one length",
				       what);
	n = json_array_size(names);
	if (n == 0)
		return shard_error_set(err, SHARD_EDATA, "%s: no columns", what);
	nv = calloc(n, sizeof *nv);
	ev = calloc(n, sizeof *ev);
	if (!nv || !ev) {
		free(nv);
		free(ev);
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	for (i = 0; i < n; i++) {
		nv[i] = json_string_value(json_array_get(names, i));
		ev[i] = json_string_value(json_array_get(encs, i));
		if (!nv[i] || !ev[i]) {
			free(nv);
			free(ev);
			return shard_error_set(err, SHARD_EDATA, "%s: column %zu: name and encoding must be strings",
					       what, i);
		}
	}
	rc = shard_schema_init(&e->schema, n, nv, ev, 0, err);
	free(nv);
	free(ev);
	if (rc)
		return shard_error_prefix(err, "%s", what);
	for (i = 0; i < n; i++) {
		json_t *s = json_array_get(sizes, i);
		if (json_is_null(s)) {
			shard_schema_set_size(&e->schema, i, 0);
		} else if (json_is_integer(s) && json_integer_value(s) >= 0 &&
			   json_integer_value(s) <= UINT32_MAX) {
			shard_schema_set_size(&e->schema, i, (size_t)json_integer_value(s));
		} else {
			return shard_error_set(err, SHARD_EDATA, "%s: column_sizes[%zu] must be an integer or null",
					       what, i);
		}
	}
	comp = json_object_get(o, "compression");
	if (json_is_string(comp)) {
		struct shard_codec c;
		/* what the index names is data: an unknown codec is bad data, not a bad option */
		if (json_string_length(comp) && shard_codec_parse(json_string_value(comp), &c, err)) {
			err->status = SHARD_EDATA;
			return shard_error_prefix(err, "%s", what);
		}
		if (json_string_length(comp) && !(e->compression = strdup(json_string_value(comp))))
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	} else if (!json_is_null(comp)) {
		return shard_error_set(err, SHARD_EDATA, "%s: compression must be a string or null", what);
	}
	hashes = json_object_get(o, "hashes");
	if (!json_is_array(hashes))
		return shard_error_set(err, SHARD_EDATA, "%s: hashes must be a list", what);
	e->hashes = calloc(json_array_size(hashes) + 1, sizeof *e->hashes);
	if (!e->hashes)
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	for (i = 0; i < json_array_size(hashes); i++) {
		const char *h = json_string_value(json_array_get(hashes, i));
		if (!h || !shard_hash_known(h))
			return shard_error_set(err, SHARD_EDATA, "%s: unknown hash \"%s\"", what, h ? h : "?");
		if (!(e->hashes[e->nhashes++] = strdup(h)))
			return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	v = json_object_get(o, "samples");
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX)
		return shard_error_set(err, SHARD_EDATA, "%s: samples must be an integer from 0 to 2^32-1", what);
	e->samples = (uint64_t)json_integer_value(v);
	v = json_object_get(o, "size_limit");
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		e->size_limit = (uint64_t)json_integer_value(v);
	else if (!json_is_null(v))
		return shard_error_set(err, SHARD_EDATA, "%s: size_limit must be an integer or null", what);
	snprintf(sub, sizeof sub, "%s: raw_data", what);
	if ((rc = fileinfo_parse(&e->raw, json_object_get(o, "raw_data"), sub, err)))
		return rc;
	v = json_object_get(o, "zip_data");
	if (!json_is_null(v)) {
		snprintf(sub, sizeof sub, "%s: zip_data", what);
		if ((rc = fileinfo_parse(&e->zip, v, sub, err)))
			return rc;
		e->has_zip = 1;
		if (!e->compression)
			return shard_error_set(err, SHARD_EDATA, "%s: zip_data is set but compression is null", what);
	}
	return 0;
}

int shard_entry_from_json(struct shard_entry *e, const char *text, size_t n, struct shard_error *err)
{
	json_error_t je;
	json_t *o = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
	int rc;

	memset(e, 0, sizeof *e);
	if (!o) {
		shard_error_set(err, SHARD_EDATA, "index entry: invalid JSON at line %d column %d: %s", je.line,
				je.column, je.text);
		return shard_error_line(err, je.line, je.column);
	}
	rc = entry_parse(e, o, "index entry", err);
	json_decref(o);
	if (rc)
		shard_entry_free(e);
	return rc;
}

static json_t *fileinfo_json(const struct shard_fileinfo *f)
{
	json_t *h = json_object();
	size_t i;
	for (i = 0; i < f->nhashes; i++)
		json_object_set_new(h, f->hash_names[i], json_string(f->hash_values[i]));
	return json_pack("{s:s, s:I, s:o}", "basename", f->basename, "bytes", (json_int_t)f->bytes, "hashes", h);
}

static json_t *entry_json(const struct shard_entry *e, int config_only)
{
	json_t *o = json_object(), *names = json_array(), *encs = json_array(), *sizes = json_array(),
	       *hashes = json_array();
	size_t i;

	for (i = 0; i < e->schema.ncols; i++) {
		json_array_append_new(names, json_string(e->schema.names[i]));
		json_array_append_new(encs, json_string(e->schema.enc_names[i]));
		json_array_append_new(sizes, e->schema.enc[i].size ? json_integer((json_int_t)e->schema.enc[i].size)
								   : json_null());
	}
	for (i = 0; i < e->nhashes; i++)
		json_array_append_new(hashes, json_string(e->hashes[i]));
	json_object_set_new(o, "column_encodings", encs);
	json_object_set_new(o, "column_names", names);
	json_object_set_new(o, "column_sizes", sizes);
	json_object_set_new(o, "compression", e->compression ? json_string(e->compression) : json_null());
	json_object_set_new(o, "format", json_string("mds"));
	json_object_set_new(o, "hashes", hashes);
	json_object_set_new(o, "size_limit", e->size_limit ? json_integer((json_int_t)e->size_limit) : json_null());
	json_object_set_new(o, "version", json_integer(2));
	if (!config_only) {
		json_object_set_new(o, "raw_data", fileinfo_json(&e->raw));
		json_object_set_new(o, "samples", json_integer((json_int_t)e->samples));
		json_object_set_new(o, "zip_data", e->has_zip ? fileinfo_json(&e->zip) : json_null());
	}
	return o;
}

static int dump(json_t *o, struct shard_buf *out, struct shard_error *err)
{
	char *s = json_dumps(o, JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	int rc;
	json_decref(o);
	if (!s)
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	rc = shard_buf_append(out, s, strlen(s));
	free(s);
	return rc ? shard_error_set(err, SHARD_ENOMEM, "out of memory") : 0;
}

int shard_entry_to_json(const struct shard_entry *e, struct shard_buf *out, struct shard_error *err)
{
	json_t *o = entry_json(e, 0);
	return o ? dump(o, out, err) : shard_error_set(err, SHARD_ENOMEM, "out of memory");
}

int shard_entry_config_json(const struct shard_entry *e, struct shard_buf *out, struct shard_error *err)
{
	json_t *o = entry_json(e, 1);
	return o ? dump(o, out, err) : shard_error_set(err, SHARD_ENOMEM, "out of memory");
}

/* A JSON value in a message: compact, cut short when long. */
static void shown(json_t *v, char *buf, size_t n)
{
	char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;
	if (!s)
		snprintf(buf, n, "nothing");
	else if (strlen(s) < n)
		snprintf(buf, n, "%s", s);
	else
		snprintf(buf, n, "%.*s...", (int)(n - 4), s);
	free(s);
}

int shard_entry_config_check(const struct shard_entry *e, const uint8_t *cfg, size_t n, struct shard_error *err)
{
	static const char *const keys[] = {"column_encodings", "column_names", "column_sizes", "compression",
					   "format", "hashes", "size_limit", "version", NULL};
	json_error_t je;
	json_t *have = json_loadb((const char *)cfg, n, JSON_REJECT_DUPLICATES, &je), *want;
	char a[120], b[120];
	size_t i;
	int rc = 0;

	if (!have)
		return shard_error_set(err, SHARD_EDATA, "embedded config is not valid JSON (%s)", je.text);
	if (!json_is_object(have)) {
		json_decref(have);
		return shard_error_set(err, SHARD_EDATA, "embedded config is not a JSON object");
	}
	if ((rc = keys_exact(have, keys, "embedded config", err))) {
		json_decref(have);
		return rc;
	}
	if (!(want = entry_json(e, 1))) {
		json_decref(have);
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	/* hashes may differ: shard-index create --hashes records others than
	 * the writer chose, and the files' digests are checked on their own */
	for (i = 0; keys[i] && !rc; i++) {
		json_t *x = json_object_get(have, keys[i]), *y = json_object_get(want, keys[i]);
		if (strcmp(keys[i], "hashes") == 0 || json_equal(x, y))
			continue;
		shown(x, a, sizeof a);
		shown(y, b, sizeof b);
		rc = shard_error_set(err, SHARD_EDATA, "embedded config disagrees with the index entry: %s is %s in the shard, %s in index.json",
				     keys[i], a, b);
	}
	json_decref(have);
	json_decref(want);
	return rc;
}

/* The files of an index, each with the entry naming it, in name order. */
struct named {
	const char *name;
	size_t entry;
};

static int by_name(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : x->entry < y->entry ? -1 : x->entry > y->entry;
}

int shard_index_repeats(const struct shard_index *ix, void (*fn)(void *ctx, const char *name, size_t first, size_t again),
			void *ctx)
{
	struct named *v = malloc((2 * ix->nshards + 1) * sizeof *v);
	size_t i, n = 0, found = 0;

	if (!v)
		return -1;
	for (i = 0; i < ix->nshards; i++) {
		v[n].name = ix->shards[i].raw.basename;
		v[n++].entry = i;
		if (ix->shards[i].has_zip) {
			v[n].name = ix->shards[i].zip.basename;
			v[n++].entry = i;
		}
	}
	qsort(v, n, sizeof *v, by_name);
	for (i = 1; i < n; i++) {
		size_t first = i - 1;
		if (strcmp(v[first].name, v[i].name) != 0)
			continue;
		/* one report per repeat, against the first entry naming the file */
		while (first && strcmp(v[first - 1].name, v[i].name) == 0)
			first--;
		found++;
		if (fn)
			fn(ctx, v[i].name, v[first].entry, v[i].entry);
	}
	free(v);
	return (int)(found > INT32_MAX ? INT32_MAX : found);
}

int shard_entry_copy(struct shard_entry *dst, const struct shard_entry *src)
{
	struct shard_buf b = {0};
	struct shard_error err;
	int rc = shard_entry_to_json(src, &b, &err);
	if (!rc)
		rc = shard_entry_from_json(dst, (const char *)b.p, b.len, &err);
	shard_buf_free(&b);
	return rc;
}

/* ---------------------------------------------------------------- whole index */

void shard_index_free(struct shard_index *ix)
{
	size_t i;
	for (i = 0; i < ix->nshards; i++)
		shard_entry_free(&ix->shards[i]);
	free(ix->shards);
	free(ix->extra);
	memset(ix, 0, sizeof *ix);
}

int shard_index_append(struct shard_index *ix, const struct shard_entry *e)
{
	struct shard_entry *ns = realloc(ix->shards, (ix->nshards + 1) * sizeof *ns);
	if (!ns)
		return SHARD_ENOMEM;
	ix->shards = ns;
	if (shard_entry_copy(&ix->shards[ix->nshards], e))
		return SHARD_ENOMEM;
	ix->nshards++;
	return 0;
}

static int index_parse(struct shard_index *ix, const char *text, size_t n, const char *name,
		       struct shard_error *err)
{
	json_error_t je;
	json_t *o, *v, *shards;
	size_t i;
	int rc = 0;

	memset(ix, 0, sizeof *ix);
	o = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
	if (!o) {
		shard_error_set(err, SHARD_EDATA, "%s:%d:%d: invalid JSON: %s", name, je.line, je.column, je.text);
		return shard_error_line(err, je.line, je.column);
	}
	if (!json_is_object(o)) {
		json_decref(o);
		return shard_error_set(err, SHARD_EDATA, "%s: not a JSON object", name);
	}
	v = json_object_get(o, "version");
	if (!json_is_integer(v) || json_integer_value(v) != 2) {
		json_decref(o);
		return shard_error_set(err, SHARD_EDATA, "%s: \"version\" must be 2", name);
	}
	shards = json_object_get(o, "shards");
	if (!json_is_array(shards)) {
		json_decref(o);
		return shard_error_set(err, SHARD_EDATA, "%s: \"shards\" must be a list", name);
	}
	ix->shards = calloc(json_array_size(shards) + 1, sizeof *ix->shards);
	if (!ix->shards) {
		json_decref(o);
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	for (i = 0; i < json_array_size(shards); i++) {
		char what[600];
		snprintf(what, sizeof what, "%s: shard %zu", name, i);
		if ((rc = entry_parse(&ix->shards[i], json_array_get(shards, i), what, err))) {
			shard_error_item(err, i, SHARD_UNKNOWN);
			shard_entry_free(&ix->shards[i]);
			break;
		}
		ix->nshards++;
	}
	v = json_object_get(o, "shardkit");
	if (!rc && json_is_object(v))
		ix->extra = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(o);
	if (rc)
		shard_index_free(ix);
	return rc;
}

int shard_index_parse(struct shard_index *ix, const char *text, size_t n, const char *name,
		      struct shard_error *err)
{
	int rc = index_parse(ix, text, n, name, err);

	if (rc)
		shard_error_file(err, name);
	return rc;
}

int shard_index_load_remote(struct shard_index *ix, struct shard_remote *r, struct shard_error *err)
{
	struct shard_buf b = {0};
	char name[4200];
	int rc;

	snprintf(name, sizeof name, "%s/index.json", shard_remote_url(r));
	rc = shard_remote_get(r, "index.json", &b, INDEX_MAX, err);
	if (!rc)
		rc = shard_index_parse(ix, (const char *)b.p, b.len, name, err);
	shard_buf_free(&b);
	return rc;
}

int shard_index_load(struct shard_index *ix, const char *path, struct shard_error *err)
{
	struct shard_buf b = {0};
	int rc;

	if (shard_is_url(path)) {
		struct shard_remote *r;
		if ((rc = shard_remote_open(&r, path, err)))
			return rc;
		rc = shard_index_load_remote(ix, r, err);
		shard_remote_close(r);
		return rc;
	}
	/* a FIFO or a device in its place is refused, not waited on or read forever */
	if (!(rc = shard_read_shard(path, &b, INDEX_MAX, err)))
		rc = shard_index_parse(ix, (const char *)b.p, b.len, path, err);
	shard_buf_free(&b);
	return rc;
}

int shard_index_to_json(const struct shard_index *ix, struct shard_buf *out, struct shard_error *err)
{
	json_t *o = json_object(), *arr = json_array();
	size_t i;

	for (i = 0; i < ix->nshards; i++)
		json_array_append_new(arr, entry_json(&ix->shards[i], 0));
	json_object_set_new(o, "shards", arr);
	json_object_set_new(o, "version", json_integer(2));
	if (ix->extra) {
		json_t *x = json_loads(ix->extra, 0, NULL);
		if (x)
			json_object_set_new(o, "shardkit", x);
	}
	return dump(o, out, err);
}
