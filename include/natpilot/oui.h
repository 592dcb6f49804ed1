/*
 * natpilot: MAC vendor look-up from the IEEE registry (Debian's ieee-data
 * package, /usr/share/ieee-data/oui.csv), for hints such as "Nintendo" next
 * to a device on the LAN. Hints only: a missing registry is not an error.
 */
#ifndef NATPILOT_OUI_H
#define NATPILOT_OUI_H

#include <stddef.h>
#include <stdint.h>

#include "natpilot/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NP_OUI_DEFAULT_PATH "/usr/share/ieee-data/oui.csv"

/*
 * Find the organisation registered for mac's first three bytes in text, the
 * contents of an oui.csv ("MA-L,98E8FA,\"Nintendo Co.,Ltd\",\"address\"").
 * Writes the name to vendor (always terminated). NP_OK, NP_ENOTFOUND, or
 * NP_EPARSE with where = "line N" for a malformed line.
 */
int np_oui_find(const char *text, size_t len, const uint8_t mac[6],
                char *vendor, size_t size, np_error *err);

/* As np_oui_find, reading the file at path (NULL: the default path). */
int np_oui_lookup(const char *path, const uint8_t mac[6], char *vendor,
                  size_t size, np_error *err);

/*
 * The console platform a vendor name suggests: "xbox" (Microsoft),
 * "playstation" (Sony Interactive Entertainment), "switch" (Nintendo), or NULL.
 */
const char *np_oui_console_hint(const char *vendor);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_OUI_H */
