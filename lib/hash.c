/* The hashes MDS allows, as hex digests identical to Python's hashlib and xxhash
 * hexdigest(): OpenSSL's libcrypto for the cryptographic ones, libxxhash for xxh*. */
#include "config.h"

#include <openssl/evp.h>
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

int shard_hash_hex(const char *algo, const void *p, size_t n, char *out, struct shard_error *err)
{
	const char *name = evp_name(algo);

	if (name) {
		uint8_t md[EVP_MAX_MD_SIZE];
		unsigned int len = 0;
		EVP_MD *md_type = EVP_MD_fetch(NULL, name, NULL);
		int ok = md_type && EVP_Digest(p, n, md, &len, md_type, NULL);
		EVP_MD_free(md_type);
		if (!ok)
			return shard_error_set(err, SHARD_EIO, "hash %s: not available in libcrypto", algo);
		hex(md, len, out);
		return 0;
	}
	if (strcmp(algo, "xxh32") == 0) {
		XXH32_canonical_t c;
		XXH32_canonicalFromHash(&c, XXH32(p, n, 0));
		hex(c.digest, sizeof c.digest, out);
	} else if (strcmp(algo, "xxh64") == 0) {
		XXH64_canonical_t c;
		XXH64_canonicalFromHash(&c, XXH64(p, n, 0));
		hex(c.digest, sizeof c.digest, out);
	} else if (strcmp(algo, "xxh3_64") == 0) {
		XXH64_canonical_t c;
		XXH64_canonicalFromHash(&c, XXH3_64bits(p, n));
		hex(c.digest, sizeof c.digest, out);
	} else if (strcmp(algo, "xxh128") == 0 || strcmp(algo, "xxh3_128") == 0) {
		XXH128_canonical_t c;
		XXH128_canonicalFromHash(&c, XXH3_128bits(p, n));
		hex(c.digest, sizeof c.digest, out);
	} else {
		return shard_error_set(err, SHARD_EARG, "unknown hash '%s'", algo);
	}
	return 0;
}
