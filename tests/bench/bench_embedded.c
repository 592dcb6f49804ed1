/* Benchmark: the start-up cost of the embedded catalog, i.e. what
 * `natpilot diagnose` (and every command that loads profiles) pays before
 * anything else: np_catalog_load_embedded (parse and validate every
 * compiled-in profile) plus np_catalog_check. Public API only, so the same
 * file builds against an older libnatpilot for a baseline
 * (tests/bench/bench_profiles.sh does that).
 *
 *   bench_embedded [ITERATIONS]
 * prints: profiles=N iterations=K us_per_load=X us_per_profile=Y */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "natpilot/profile.h"

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    long k, iters = argc > 1 ? strtol(argv[1], NULL, 10) : 200;
    size_t n = 0;
    double best = 0, total = 0;

    if (iters < 1)
        iters = 1;
    for (k = 0; k < iters; k++) {
        np_catalog *cat = np_catalog_new();
        double t0, dt;
        if (cat == NULL)
            return 1;
        t0 = now_us();
        if (np_catalog_load_embedded(cat, NULL, NULL) != NP_OK ||
            np_catalog_check(cat, NP_LAYER_EMBEDDED, NULL) != NP_OK) {
            fprintf(stderr,
                    "bench_embedded: the embedded catalog has errors\n");
            np_catalog_free(cat);
            return 1;
        }
        dt = now_us() - t0;
        n = np_catalog_count(cat);
        np_catalog_free(cat);
        total += dt;
        if (k == 0 || dt < best)
            best = dt;
    }
    printf("profiles=%zu iterations=%ld us_per_load=%.1f best_us=%.1f "
           "us_per_profile=%.2f\n",
           n, iters, total / (double)iters, best, n ? best / (double)n : 0.0);
    return 0;
}
