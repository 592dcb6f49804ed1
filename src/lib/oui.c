/* natpilot: MAC vendor look-up in the IEEE registry (see oui.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "np_hex.h"
#include "natpilot/oui.h"

#define OUI_FILE_MAX (16u * 1024u * 1024u)

/* Copy the CSV field starting at p (quoted or not) into out; returns the
 * position after the field's terminating comma or line end. */
static const char *csv_field(const char *p, const char *end, char *out,
                             size_t size)
{
    size_t n = 0;
    int quoted = p < end && *p == '"';

    if (quoted)
        p++;
    while (p < end && *p != '\n') {
        if (quoted && *p == '"') {
            if (p + 1 < end && p[1] == '"') {
                p++; /* an escaped quote */
            } else {
                quoted = 0;
                p++;
                continue;
            }
        } else if (!quoted && *p == ',') {
            p++;
            break;
        }
        if (n + 1 < size)
            out[n++] = *p;
        p++;
    }
    if (size > 0)
        out[n] = '\0';
    return p;
}

int np_oui_find(const char *text, size_t len, const uint8_t mac[6],
                char *vendor, size_t size, np_error *err)
{
    const char *p = text, *end = text + len;
    unsigned line = 0;
    char reg[16], hex[16], name[160];

    if (size > 0)
        vendor[0] = '\0';
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        int i, ok = 1;

        line++;
        if (line == 1 || next - p < 10) { /* the header, or a short line */
            p = next;
            continue;
        }
        p = csv_field(p, eol ? eol : end, reg, sizeof(reg));
        p = csv_field(p, eol ? eol : end, hex, sizeof(hex));
        if (strlen(hex) != 6) {
            char where[24];
            snprintf(where, sizeof(where), "line %u", line);
            return np_error_set(err, NP_EPARSE, where,
                                "expected a 6-digit OUI in the second field");
        }
        for (i = 0; i < 3 && ok; i++) {
            int hi = np__hex_digit(hex[2 * i]),
                lo = np__hex_digit(hex[2 * i + 1]);
            ok = hi >= 0 && lo >= 0 && (uint8_t)(hi << 4 | lo) == mac[i];
        }
        if (ok && strcmp(reg, "MA-L") == 0) {
            csv_field(p, eol ? eol : end, name, sizeof(name));
            snprintf(vendor, size, "%s", name);
            return NP_OK;
        }
        p = next;
    }
    return np_error_set(err, NP_ENOTFOUND, NULL, "vendor not registered");
}

int np_oui_lookup(const char *path, const uint8_t mac[6], char *vendor,
                  size_t size, np_error *err)
{
    FILE *f;
    char *buf;
    long n;
    size_t got;
    int rc;

    if (path == NULL)
        path = NP_OUI_DEFAULT_PATH;
    f = fopen(path, "rb");
    if (f == NULL)
        return np_error_sys(err, errno, path, "cannot open the OUI registry");
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        (unsigned long)n > OUI_FILE_MAX || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return np_error_set(err, NP_EPARSE, path,
                            "unreadable or larger than 16 MiB");
    }
    buf = malloc((size_t)n + 1);
    if (buf == NULL) {
        fclose(f);
        return np_error_set(err, NP_ENOMEM, path, "out of memory");
    }
    got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    rc = np_oui_find(buf, got, mac, vendor, size, err);
    free(buf);
    return rc;
}

const char *np_oui_console_hint(const char *vendor)
{
    if (vendor == NULL)
        return NULL;
    if (strncasecmp(vendor, "Nintendo", 8) == 0)
        return "switch";
    if (strncasecmp(vendor, "Sony Interactive", 16) == 0)
        return "playstation";
    if (strncasecmp(vendor, "Microsoft", 9) == 0)
        return "xbox";
    return NULL;
}
