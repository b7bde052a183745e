/* The hashes MDS allows, as hex digests identical to Python's hashlib and xxhash
 * hexdigest(): OpenSSL's libcrypto for the cryptographic ones, libxxhash for xxh*. */
#include "config.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "shard.h"

const char *const shard_hash_names[] = {
	"blake2b", "blake2s", "md5", "sha1", "sha224", "sha256", "sha384", "sha512",
	"sha3_224", "sha3_256", "sha3_384", "sha3_512",
	"xxh128", "xxh32", "xxh3_128", "xxh3_64", "xxh64", NULL,
};

static const char *evp_name(const char *algo)
{
	static const struct { const char *py, *ossl; } map[] = {
		{"md5", "MD5"}, {"sha1", "SHA1"}, {"sha224", "SHA224"}, {"sha256", "SHA256"},
		{"sha384", "SHA384"}, {"sha512", "SHA512"}, {"sha3_224", "SHA3-224"},
		{"sha3_256", "SHA3-256"}, {"sha3_384", "SHA3-384"}, {"sha3_512", "SHA3-512"},
		{"blake2b", "BLAKE2B-512"}, {"blake2s", "BLAKE2S-256"},
	};
	size_t i;
	for (i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(map[i].py, algo) == 0)
			return map[i].ossl;
	return NULL;
}

int shard_hash_known(const char *algo)
{
	size_t i;
	for (i = 0; shard_hash_names[i]; i++)
		if (strcmp(shard_hash_names[i], algo) == 0)
			return 1;
	return 0;
}

static void hex(const uint8_t *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;
	for (i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = 0;
}

/* One hash in progress: an xxh state or a libcrypto digest context. */
enum { H_XXH32, H_XXH64, H_XXH3_64, H_XXH3_128, H_EVP };

struct shard_hasher {
	int kind;
	union {
		XXH32_state_t *x32;
		XXH64_state_t *x64;
		XXH3_state_t *x3;
		EVP_MD_CTX *md;
	} u;
};

int shard_hasher_new(struct shard_hasher **out, const char *algo, struct shard_error *err)
{
	struct shard_hasher *h = calloc(1, sizeof *h);
	const char *name = evp_name(algo);
	int ok = 0;

	*out = NULL;
	if (!h)
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	if (name) {
		EVP_MD *md = EVP_MD_fetch(NULL, name, NULL);
		h->kind = H_EVP;
		h->u.md = md ? EVP_MD_CTX_new() : NULL;
		ok = h->u.md && EVP_DigestInit_ex(h->u.md, md, NULL);
		EVP_MD_free(md);
		if (!ok) {
			shard_hasher_free(h);
			return shard_error_set(err, SHARD_EIO, "hash %s: not available in libcrypto", algo);
		}
	} else if (strcmp(algo, "xxh32") == 0) {
		h->kind = H_XXH32;
		ok = (h->u.x32 = XXH32_createState()) && XXH32_reset(h->u.x32, 0) == XXH_OK;
	} else if (strcmp(algo, "xxh64") == 0) {
		h->kind = H_XXH64;
		ok = (h->u.x64 = XXH64_createState()) && XXH64_reset(h->u.x64, 0) == XXH_OK;
	} else if (strcmp(algo, "xxh3_64") == 0 || strcmp(algo, "xxh128") == 0 || strcmp(algo, "xxh3_128") == 0) {
		h->kind = strcmp(algo, "xxh3_64") == 0 ? H_XXH3_64 : H_XXH3_128;
		ok = (h->u.x3 = XXH3_createState()) &&
		     (h->kind == H_XXH3_64 ? XXH3_64bits_reset(h->u.x3) : XXH3_128bits_reset(h->u.x3)) == XXH_OK;
	} else {
		free(h);
		return shard_error_set(err, SHARD_EARG, "unknown hash '%s'", algo);
	}
	if (!ok) {
		shard_hasher_free(h);
		return shard_error_set(err, SHARD_ENOMEM, "out of memory");
	}
	*out = h;
	return 0;
}

/* The xxh hashes run at the speed of their arithmetic only on bytes already
 * in cache: over a large buffer in memory they wait on each line in turn
 * (5 GB/s here against 16 when cached). So they take the bytes 256 at a
 * time, each piece with a request for the lines 2 KiB further on: about
 * 11 GB/s. The digests of libcrypto are slower than memory; they take
 * the bytes whole. */
#define PIECE 256
#define AHEAD 2048

static void xxh_update(struct shard_hasher *h, const uint8_t *q, size_t m)
{
	switch (h->kind) {
	case H_XXH32:
		XXH32_update(h->u.x32, q, m);
		break;
	case H_XXH64:
		XXH64_update(h->u.x64, q, m);
		break;
	case H_XXH3_64:
		XXH3_64bits_update(h->u.x3, q, m);
		break;
	default:
		XXH3_128bits_update(h->u.x3, q, m);
	}
}

void shard_hasher_update(struct shard_hasher *h, const void *p, size_t n)
{
	const uint8_t *q = p, *end = q + n;
	if (h->kind == H_EVP) {
		EVP_DigestUpdate(h->u.md, p, n);
		return;
	}
	for (; end - q > AHEAD + PIECE; q += PIECE) {
		for (size_t l = 0; l < PIECE; l += 64)
			__builtin_prefetch(q + AHEAD + l);
		xxh_update(h, q, PIECE);
	}
	if (q < end)
		xxh_update(h, q, (size_t)(end - q));
}

int shard_hasher_hex(struct shard_hasher *h, char *out, struct shard_error *err)
{
	switch (h->kind) {
	case H_XXH32: {
		XXH32_canonical_t c;
		XXH32_canonicalFromHash(&c, XXH32_digest(h->u.x32));
		hex(c.digest, sizeof c.digest, out);
		break;
	}
	case H_XXH64: {
		XXH64_canonical_t c;
		XXH64_canonicalFromHash(&c, XXH64_digest(h->u.x64));
		hex(c.digest, sizeof c.digest, out);
		break;
	}
	case H_XXH3_64: {
		XXH64_canonical_t c;
		XXH64_canonicalFromHash(&c, XXH3_64bits_digest(h->u.x3));
		hex(c.digest, sizeof c.digest, out);
		break;
	}
	case H_XXH3_128: {
		XXH128_canonical_t c;
		XXH128_canonicalFromHash(&c, XXH3_128bits_digest(h->u.x3));
		hex(c.digest, sizeof c.digest, out);
		break;
	}
	default: {
		uint8_t md[EVP_MAX_MD_SIZE];
		unsigned int len = 0;
		if (!EVP_DigestFinal_ex(h->u.md, md, &len))
			return shard_error_set(err, SHARD_EIO, "hash: libcrypto failed to finish a digest");
		hex(md, len, out);
	}
	}
	return 0;
}

void shard_hasher_free(struct shard_hasher *h)
{
	if (!h)
		return;
	switch (h->kind) {
	case H_XXH32:
		XXH32_freeState(h->u.x32);
		break;
	case H_XXH64:
		XXH64_freeState(h->u.x64);
		break;
	case H_XXH3_64:
	case H_XXH3_128:
		XXH3_freeState(h->u.x3);
		break;
	default:
		EVP_MD_CTX_free(h->u.md);
	}
	free(h);
}

int shard_hash_hex(const char *algo, const void *p, size_t n, char *out, struct shard_error *err)
{
	struct shard_hasher *h;
	int rc;

	if ((rc = shard_hasher_new(&h, algo, err)))
		return rc;
	shard_hasher_update(h, p, n);
	rc = shard_hasher_hex(h, out, err);
	shard_hasher_free(h);
	return rc;
}
