/* SHA-256, Ed25519 and base64 over libsodium. */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

core_status core_crypto_init(void)
{
    /* sodium_init is itself idempotent and thread-safe. */
    if (sodium_init() < 0)
        return CORE_ERR(CORE_ERR_INTERNAL, "libsodium failed to initialise");
    return CORE_OK;
}

void core_sha256(uint8_t out[CORE_SHA256_BYTES], const void *data, size_t n)
{
    crypto_hash_sha256(out, data, n);
}

core_status core_sha256_file(const char *path, uint8_t out[CORE_SHA256_BYTES], uint64_t *bytes)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CORE_ERR(CORE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    crypto_hash_sha256_state s;
    crypto_hash_sha256_init(&s);
    unsigned char buf[1 << 16];
    uint64_t total = 0;
    core_status st = CORE_OK;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = CORE_ERR(CORE_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        crypto_hash_sha256_update(&s, buf, (unsigned long long)r);
        total += (uint64_t)r;
    }
    close(fd);
    if (st == CORE_OK) {
        crypto_hash_sha256_final(&s, out);
        if (bytes)
            *bytes = total;
    }
    return st;
}

void core_hex(char *out, const uint8_t *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bool core_unhex(uint8_t *out, size_t n, const char *hex)
{
    if (strlen(hex) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

core_status core_ed25519_keypair(uint8_t pk[CORE_ED25519_PK_BYTES],
                                 uint8_t sk[CORE_ED25519_SK_BYTES], const uint8_t *seed)
{
    core_status st = core_crypto_init();
    if (st != CORE_OK)
        return st;
    int rc = seed ? crypto_sign_seed_keypair(pk, sk, seed) : crypto_sign_keypair(pk, sk);
    if (rc != 0)
        return CORE_ERR(CORE_ERR_INTERNAL, "libsodium could not make an Ed25519 key pair");
    return CORE_OK;
}

void core_ed25519_sign(uint8_t sig[CORE_ED25519_SIG_BYTES], const void *msg, size_t n,
                       const uint8_t sk[CORE_ED25519_SK_BYTES])
{
    crypto_sign_detached(sig, NULL, msg, n, sk);
}

bool core_ed25519_verify(const uint8_t sig[CORE_ED25519_SIG_BYTES], const void *msg, size_t n,
                         const uint8_t pk[CORE_ED25519_PK_BYTES])
{
    return crypto_sign_verify_detached(sig, msg, n, pk) == 0;
}

char *core_base64_encode(const void *data, size_t n)
{
    size_t len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = core_alloc(len, 1, "base64 text");
    if (s)
        sodium_bin2base64(s, len, data, n, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

core_status core_base64_decode(const char *b64, uint8_t **out, size_t *n)
{
    size_t len = strlen(b64);
    size_t cap = len / 4 * 3 + 3;
    uint8_t *buf = core_alloc(cap, 1, "base64 data");
    if (!buf)
        return CORE_ERR_NOMEM;
    size_t got = 0;
    const char *end = NULL;
    if (sodium_base642bin(buf, cap, b64, len, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) !=
            0 ||
        end != b64 + len) {
        free(buf);
        return CORE_ERR(CORE_ERR_PARSE, "invalid base64 at character %zu",
                        end ? (size_t)(end - b64) : 0);
    }
    *out = buf;
    *n = got;
    return CORE_OK;
}

void core_wipe(void *p, size_t n)
{
    sodium_memzero(p, n);
}
