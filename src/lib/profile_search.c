/*
 * natpilot: search profiles by words, forgiving typos.
 *
 * Each query word is compared with the words of every profile's id, name and
 * aliases (lower-cased, split at anything not a letter or digit) and with
 * each of those strings squeezed together ("cod", "counterstrike2"): equal
 * scores 1, a prefix of at least 3 letters 0.9, otherwise an optimal string
 * alignment distance within a budget that grows with the word's length
 * (none up to 3 letters, 1 up to 5, 2 up to 8, 3 beyond) scores
 * 1 - distance / length. Profiles rank by how many query words matched,
 * then by the sum of the scores, then by id. A query that, squeezed to its
 * letters and digits, equals a whole alias, the name or the id squeezed the
 * same way ("gta 5" = "GTA-5", "bo6", "7dtd") counts every word as matched
 * and adds PHRASE_BONUS, so what players type finds the game first.
 */
#include <stdlib.h>
#include <string.h>

#include "np_profile_int.h"

#define WORD_MAX     48
#define PHRASE_BONUS 2.0

static char lower(char ch)
{
    return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

static int alnum(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || (unsigned char)ch >= 0x80;
}

static double word_sim(const char *w, size_t lw, const char *t, size_t lt)
{
    unsigned d, budget;
    size_t mx;

    if (lw == 0 || lt == 0)
        return 0;
    if (lw == lt && memcmp(w, t, lw) == 0)
        return 1.0;
    if (lw >= 3 && lw < lt && memcmp(w, t, lw) == 0)
        return 0.9;
    budget = lw <= 3 ? 0 : lw <= 5 ? 1 : lw <= 8 ? 2 : 3;
    if (budget == 0)
        return 0;
    if ((lw > lt ? lw - lt : lt - lw) > budget)
        return 0;
    d = np__osa_distance_max(w, lw, t, lt, budget);
    if (d > budget)
        return 0;
    mx = lw > lt ? lw : lt;
    return 1.0 - (double)d / (double)mx;
}

/* Best similarity of query word w against the text s. */
static double text_sim(const char *w, size_t lw, const char *s)
{
    char squeezed[WORD_MAX + 1], tok[WORD_MAX + 1];
    size_t ls = 0, lt = 0, i;
    double best = 0, v;

    for (i = 0;; i++) {
        char ch = s[i];
        if (ch != '\0' && alnum(ch)) {
            if (lt < WORD_MAX)
                tok[lt++] = lower(ch);
            if (ls < WORD_MAX)
                squeezed[ls++] = lower(ch);
            continue;
        }
        if (lt > 0) {
            v = word_sim(w, lw, tok, lt);
            if (v > best)
                best = v;
            lt = 0;
        }
        if (ch == '\0')
            break;
    }
    v = word_sim(w, lw, squeezed, ls);
    return v > best ? v : best;
}

/* s squeezed (lower-case letters and digits) equals the query squeezed. */
static int phrase_eq(const char *s, const char *q, size_t lq)
{
    size_t n = 0;

    for (; *s != '\0'; s++) {
        if (!alnum(*s))
            continue;
        if (n >= lq || lower(*s) != q[n])
            return 0;
        n++;
    }
    return n == lq;
}

static int cmp_hit(const void *a, const void *b)
{
    const np_search_hit *x = a, *y = b;

    if (x->words_matched != y->words_matched)
        return x->words_matched > y->words_matched ? -1 : 1;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp(x->profile->id, y->profile->id);
}

int np_catalog_search(const np_catalog *cat, const char *const *words,
                      size_t n_words, unsigned platforms, np_search_hit *hits,
                      size_t max, size_t *n_hits)
{
    char(*q)[WORD_MAX + 1] = NULL;
    char phrase[WORD_MAX * 2];
    size_t phrase_len = 0;
    size_t *ql = NULL, nq = 0, i, j, k, count = 0;
    np_search_hit *all = NULL;
    int r = NP_OK;

    if (n_hits == NULL || cat == NULL || (words == NULL && n_words > 0) ||
        (hits == NULL && max > 0))
        return NP_EINVAL;
    *n_hits = 0;
    /* Split the query into lower-case words. */
    for (i = 0; i < n_words; i++)
        nq += strlen(words[i]) / 2 + 1;
    q = calloc(nq ? nq : 1, sizeof(*q));
    ql = calloc(nq ? nq : 1, sizeof(*ql));
    all = calloc(cat->n ? cat->n : 1, sizeof(*all));
    if (q == NULL || ql == NULL || all == NULL) {
        r = NP_ENOMEM;
        goto out;
    }
    nq = 0;
    for (i = 0; i < n_words; i++) {
        const char *s = words[i];
        size_t l = 0;
        for (j = 0;; j++) {
            if (s[j] != '\0' && alnum(s[j])) {
                if (l < WORD_MAX)
                    q[nq][l++] = lower(s[j]);
                continue;
            }
            if (l > 0) {
                q[nq][l] = '\0';
                ql[nq++] = l;
                l = 0;
            }
            if (s[j] == '\0')
                break;
        }
    }
    if (nq == 0)
        goto out;
    for (j = 0; j < nq; j++) {
        if (phrase_len + ql[j] > sizeof(phrase)) {
            phrase_len = 0; /* too long to be anyone's alias */
            break;
        }
        memcpy(phrase + phrase_len, q[j], ql[j]);
        phrase_len += ql[j];
    }
    for (i = 0; i < cat->n; i++) {
        const np_profile *p = &cat->profs[i]->pub;
        double sum = 0;
        unsigned matched = 0;
        if (platforms != 0 && !(p->platforms & platforms))
            continue;
        for (j = 0; j < nq; j++) {
            double best = text_sim(q[j], ql[j], p->id);
            double v = p->name ? text_sim(q[j], ql[j], p->name) : 0;
            if (v > best)
                best = v;
            for (k = 0; k < p->n_aliases; k++) {
                v = text_sim(q[j], ql[j], p->aliases[k]);
                if (v > best)
                    best = v;
            }
            if (best > 0) {
                matched++;
                sum += best;
            }
        }
        {
            int exact = phrase_len > 0 &&
                        (phrase_eq(p->id, phrase, phrase_len) ||
                         (p->name && phrase_eq(p->name, phrase, phrase_len)));
            for (k = 0; phrase_len > 0 && !exact && k < p->n_aliases; k++)
                exact = phrase_eq(p->aliases[k], phrase, phrase_len);
            if (exact) {
                matched = (unsigned)nq;
                sum += PHRASE_BONUS;
            }
        }
        if (matched == 0)
            continue;
        all[count].profile = p;
        all[count].score = sum;
        all[count].words_matched = matched;
        count++;
    }
    qsort(all, count, sizeof(*all), cmp_hit);
    for (i = 0; i < count && i < max; i++)
        hits[i] = all[i];
    *n_hits = i;
out:
    free(q);
    free(ql);
    free(all);
    return r;
}
