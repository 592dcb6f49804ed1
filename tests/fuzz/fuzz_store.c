/* libFuzzer target: the mapping store's reader (every known format) on
 * arbitrary bytes; what it accepts must serialise and read back to the
 * same entries. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "natpilot/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    np_store *s = np_store_new("fuzz.json", NULL), *b;
    char *text;

    if (s == NULL)
        return 0;
    if (np_store_from_json(s, (const char *)data, size, NULL) == NP_OK &&
        (text = np_store_to_json(s, 0)) != NULL) {
        b = np_store_new("fuzz.json", NULL);
        if (b == NULL ||
            np_store_from_json(b, text, strlen(text), NULL) != NP_OK ||
            b->n != s->n)
            abort();
        np_store_free(b);
        free(text);
    }
    np_store_free(s);
    return 0;
}
