/*
 * natpilotd only: the few libcrypto functions the library's STUN code uses
 * (MESSAGE-INTEGRITY, FINGERPRINT), resolved from libcrypto when first
 * called instead of at start.
 *
 * Why: the web interface's diagnosis (web_api.c) runs the library's probe,
 * which brings stun.c and with it libcrypto — 1.5 MiB of resident memory
 * (measured: VmHWM 2.4 -> 3.9 MiB) in every daemon at start, web interface
 * or not. Defined here, these symbols satisfy the references, so the
 * linker (--as-needed) does not make natpilotd need libcrypto; a daemon
 * loads it at its first diagnosis only. Each prototype comes from the
 * OpenSSL headers, so the compiler checks that they match.
 *
 * If a later change makes natpilotd call another libcrypto function, the
 * link simply needs libcrypto again (correct, only larger): add the
 * function here to keep it lazy.
 */
#include <dlfcn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <string.h>

static void *crypto_sym(const char *name)
{
    static void *h;

    if (h == NULL)
        h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
    return h != NULL ? dlsym(h, name) : NULL;
}

/* Resolve name once into the function pointer fp (no cast between object
 * and function pointers: POSIX guarantees the representation). */
static int resolve(const char *name, void *fp, size_t size)
{
    void *p = crypto_sym(name);

    if (p == NULL)
        return 0;
    memcpy(fp, &p, size);
    return 1;
}

#define LAZY(ret, name, fail, params, args)                                    \
    ret name params                                                            \
    {                                                                          \
        static ret(*f) params;                                                 \
        if (f == NULL && !resolve(#name, &f, sizeof(f)))                       \
            return fail;                                                       \
        return f args;                                                         \
    }
#define LAZY_VOID(name, params, args)                                          \
    void name params                                                           \
    {                                                                          \
        static void(*f) params;                                                \
        if (f == NULL && !resolve(#name, &f, sizeof(f)))                       \
            return;                                                            \
        f args;                                                                \
    }

static const OSSL_PARAM no_param;

LAZY(int, CRYPTO_memcmp, 1, (const void *a, const void *b, size_t n), (a, b, n))
LAZY(int, EVP_DigestInit_ex, 0,
     (EVP_MD_CTX * ctx, const EVP_MD *type, ENGINE *impl), (ctx, type, impl))
LAZY(int, EVP_DigestUpdate, 0, (EVP_MD_CTX * ctx, const void *d, size_t cnt),
     (ctx, d, cnt))
LAZY(int, EVP_DigestFinal_ex, 0,
     (EVP_MD_CTX * ctx, unsigned char *md, unsigned int *s), (ctx, md, s))
LAZY(EVP_MD_CTX *, EVP_MD_CTX_new, NULL, (void), ())
LAZY_VOID(EVP_MD_CTX_free, (EVP_MD_CTX * ctx), (ctx))
LAZY(const EVP_MD *, EVP_md5, NULL, (void), ())
LAZY(EVP_MAC *, EVP_MAC_fetch, NULL,
     (OSSL_LIB_CTX * libctx, const char *algorithm, const char *properties),
     (libctx, algorithm, properties))
LAZY_VOID(EVP_MAC_free, (EVP_MAC * mac), (mac))
LAZY(EVP_MAC_CTX *, EVP_MAC_CTX_new, NULL, (EVP_MAC * mac), (mac))
LAZY_VOID(EVP_MAC_CTX_free, (EVP_MAC_CTX * ctx), (ctx))
LAZY(int, EVP_MAC_init, 0,
     (EVP_MAC_CTX * ctx, const unsigned char *key, size_t keylen,
      const OSSL_PARAM params[]),
     (ctx, key, keylen, params))
LAZY(int, EVP_MAC_update, 0,
     (EVP_MAC_CTX * ctx, const unsigned char *data, size_t datalen),
     (ctx, data, datalen))
LAZY(int, EVP_MAC_final, 0,
     (EVP_MAC_CTX * ctx, unsigned char *out, size_t *outl, size_t outsize),
     (ctx, out, outl, outsize))
LAZY(OSSL_PARAM, OSSL_PARAM_construct_end, no_param, (void), ())
LAZY(OSSL_PARAM, OSSL_PARAM_construct_utf8_string, no_param,
     (const char *key, char *buf, size_t bsize), (key, buf, bsize))
