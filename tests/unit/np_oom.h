/*
 * Allocation-failure ("torture") harness for the cmocka tests, after curl's
 * torture mode: malloc, calloc, realloc and free are interposed so that the
 * allocation number fail_at fails (-1: none), and live counts what is not
 * yet freed. Include it in exactly one file of a test program. Sanitizer
 * builds replace malloc themselves: there NP_NO_INTERPOSE is defined and the
 * test runs its flow once without failures.
 */
#ifndef NP_TEST_OOM_H
#define NP_TEST_OOM_H

#include <stddef.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NP_NO_INTERPOSE 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define NP_NO_INTERPOSE 1
#endif

static long fail_at = -1; /* the allocation number that fails; -1 = none */
static long n_alloc;      /* allocations since the counter was reset */
static long live;         /* allocations not yet freed */

#ifndef NP_NO_INTERPOSE
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);

static int should_fail(void)
{
    return fail_at >= 0 && n_alloc++ == fail_at;
}

void *malloc(size_t size)
{
    void *p;

    if (should_fail())
        return NULL;
    p = __libc_malloc(size);
    if (p != NULL)
        live++;
    return p;
}

void *calloc(size_t n, size_t size)
{
    void *p;

    if (should_fail())
        return NULL;
    p = __libc_calloc(n, size);
    if (p != NULL)
        live++;
    return p;
}

void *realloc(void *old, size_t size)
{
    void *p;

    if (should_fail())
        return NULL;
    p = __libc_realloc(old, size);
    if (p != NULL && old == NULL)
        live++;
    return p;
}

void free(void *p)
{
    if (p != NULL)
        live--;
    __libc_free(p);
}
#endif

#endif /* NP_TEST_OOM_H */
