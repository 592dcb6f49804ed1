/* natpilot: strict JSON scanner with value positions (see np_jsonpos.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "np_hex.h"
#include "np_jsonpos.h"

typedef struct scan {
    np__jpos *jp;
    const char *s;
    size_t len, pos;
    unsigned max_depth;
    size_t err_off;
    char *msg;
    size_t msgsize;
    int oom;
} scan;

static int fail(scan *sc, size_t off, const char *what)
{
    sc->err_off = off;
    snprintf(sc->msg, sc->msgsize, "%s", what);
    return -1;
}

static int fail_got(scan *sc, const char *expected)
{
    char buf[160];

    if (sc->pos >= sc->len) {
        snprintf(buf, sizeof(buf), "%s, found the end of the input", expected);
    } else {
        unsigned char c = (unsigned char)sc->s[sc->pos];
        if (c >= 0x20 && c < 0x7f)
            snprintf(buf, sizeof(buf), "%s, found '%c'", expected, c);
        else
            snprintf(buf, sizeof(buf), "%s, found byte 0x%02x", expected, c);
    }
    return fail(sc, sc->pos, buf);
}

static void skip_ws(scan *sc)
{
    while (sc->pos < sc->len) {
        char c = sc->s[sc->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        sc->pos++;
    }
}

static int new_node(scan *sc, uint32_t *idx)
{
    np__jpos *jp = sc->jp;

    if (jp->n == jp->cap) {
        size_t ncap = jp->cap ? jp->cap * 2 : 64;
        np__jnode *nn = realloc(jp->nodes, ncap * sizeof(*nn));
        if (nn == NULL) {
            sc->oom = 1;
            return -2;
        }
        jp->nodes = nn;
        jp->cap = ncap;
    }
    if (jp->n >= NP__JNONE - 1) {
        sc->oom = 1;
        return -2;
    }
    *idx = (uint32_t)jp->n;
    jp->nodes[jp->n].off = (uint32_t)sc->pos;
    jp->nodes[jp->n].key_off = (uint32_t)sc->pos;
    jp->nodes[jp->n].child = NP__JNONE;
    jp->nodes[jp->n].next = NP__JNONE;
    jp->n++;
    return 0;
}

static int scan_string(scan *sc)
{
    size_t start = sc->pos;

    sc->pos++; /* the opening quote */
    for (;;) {
        unsigned char c;
        if (sc->pos >= sc->len)
            return fail(sc, start, "unterminated string");
        c = (unsigned char)sc->s[sc->pos];
        if (c == '"') {
            sc->pos++;
            return 0;
        }
        if (c == '\n' || c == '\r')
            return fail(sc, start,
                        "unterminated string (a string cannot "
                        "contain a line break)");
        if (c < 0x20)
            return fail(sc, sc->pos, "control character in string (escape it)");
        if (c != '\\') {
            sc->pos++;
            continue;
        }
        sc->pos++;
        if (sc->pos >= sc->len)
            return fail(sc, start, "unterminated string");
        c = (unsigned char)sc->s[sc->pos];
        if (strchr("\"\\/bfnrt", c) != NULL && c != '\0') {
            sc->pos++;
            continue;
        }
        if (c == 'u') {
            int i, v = 0;
            for (i = 1; i <= 4; i++) {
                int h = sc->pos + (size_t)i < sc->len
                            ? np__hex_digit(sc->s[sc->pos + (size_t)i])
                            : -1;
                if (h < 0)
                    return fail(sc, sc->pos - 1,
                                "invalid \\u escape: expected 4 hex digits");
                v = v * 16 + h;
            }
            if (v == 0)
                return fail(sc, sc->pos - 1, "\\u0000 is not allowed");
            sc->pos += 5;
            continue;
        }
        return fail(sc, sc->pos - 1,
                    "invalid escape: expected one of \\\" \\\\ \\/ \\b \\f "
                    "\\n \\r \\t \\uXXXX");
    }
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int scan_number(scan *sc)
{
    size_t start = sc->pos;

    if (sc->s[sc->pos] == '-')
        sc->pos++;
    if (sc->pos >= sc->len || !is_digit(sc->s[sc->pos]))
        return fail(sc, start, "invalid number: expected a digit");
    if (sc->s[sc->pos] == '0') {
        sc->pos++;
        if (sc->pos < sc->len && is_digit(sc->s[sc->pos]))
            return fail(sc, start, "invalid number: leading zero");
    } else {
        while (sc->pos < sc->len && is_digit(sc->s[sc->pos]))
            sc->pos++;
    }
    if (sc->pos < sc->len && sc->s[sc->pos] == '.') {
        sc->pos++;
        if (sc->pos >= sc->len || !is_digit(sc->s[sc->pos]))
            return fail(sc, start,
                        "invalid number: expected a digit after '.'");
        while (sc->pos < sc->len && is_digit(sc->s[sc->pos]))
            sc->pos++;
    }
    if (sc->pos < sc->len && (sc->s[sc->pos] == 'e' || sc->s[sc->pos] == 'E')) {
        sc->pos++;
        if (sc->pos < sc->len &&
            (sc->s[sc->pos] == '+' || sc->s[sc->pos] == '-'))
            sc->pos++;
        if (sc->pos >= sc->len || !is_digit(sc->s[sc->pos]))
            return fail(sc, start,
                        "invalid number: expected a digit in the exponent");
        while (sc->pos < sc->len && is_digit(sc->s[sc->pos]))
            sc->pos++;
    }
    if (sc->pos - start > 60)
        return fail(sc, start, "number too long");
    return 0;
}

static int scan_literal(scan *sc, const char *word)
{
    size_t n = strlen(word);

    if (sc->len - sc->pos < n || memcmp(sc->s + sc->pos, word, n) != 0)
        return fail_got(sc, "expected a JSON value (object, array, string, "
                            "number, true, false or null)");
    sc->pos += n;
    return 0;
}

static int scan_value(scan *sc, unsigned depth, uint32_t *out);

static int scan_container(scan *sc, unsigned depth, uint32_t self, int obj)
{
    uint32_t prev = NP__JNONE;
    char close = obj ? '}' : ']';
    int r;

    if (depth >= sc->max_depth) {
        char buf[80];
        snprintf(buf, sizeof(buf), "nesting deeper than %u levels",
                 sc->max_depth);
        return fail(sc, sc->pos, buf);
    }
    sc->pos++;
    skip_ws(sc);
    if (sc->pos < sc->len && sc->s[sc->pos] == close) {
        sc->pos++;
        return 0;
    }
    for (;;) {
        uint32_t child;
        size_t key_off = sc->pos;

        if (obj) {
            if (sc->pos >= sc->len || sc->s[sc->pos] != '"')
                return fail_got(sc, prev == NP__JNONE
                                        ? "expected a string key or '}'"
                                        : "expected a string key");
            if ((r = scan_string(sc)) != 0)
                return r;
            skip_ws(sc);
            if (sc->pos >= sc->len || sc->s[sc->pos] != ':')
                return fail_got(sc, "expected ':' after the key");
            sc->pos++;
            skip_ws(sc);
        }
        if ((r = scan_value(sc, depth + 1, &child)) != 0)
            return r;
        sc->jp->nodes[child].key_off = (uint32_t)key_off;
        if (prev == NP__JNONE)
            sc->jp->nodes[self].child = child;
        else
            sc->jp->nodes[prev].next = child;
        prev = child;
        skip_ws(sc);
        if (sc->pos < sc->len && sc->s[sc->pos] == ',') {
            sc->pos++;
            skip_ws(sc);
            if (sc->pos < sc->len && sc->s[sc->pos] == close)
                return fail(sc, sc->pos,
                            obj ? "trailing comma before '}'"
                                : "trailing comma before ']'");
            continue;
        }
        if (sc->pos < sc->len && sc->s[sc->pos] == close) {
            sc->pos++;
            return 0;
        }
        return fail_got(sc, obj ? "expected ',' or '}' after an object member"
                                : "expected ',' or ']' after an array element");
    }
}

static int scan_value(scan *sc, unsigned depth, uint32_t *out)
{
    uint32_t self;
    char c;

    skip_ws(sc);
    if (sc->pos >= sc->len)
        return fail_got(sc, "expected a JSON value");
    if (new_node(sc, &self) != 0)
        return -2;
    *out = self;
    c = sc->s[sc->pos];
    switch (c) {
    case '{':
        return scan_container(sc, depth, self, 1);
    case '[':
        return scan_container(sc, depth, self, 0);
    case '"':
        return scan_string(sc);
    case 't':
        return scan_literal(sc, "true");
    case 'f':
        return scan_literal(sc, "false");
    case 'n':
        return scan_literal(sc, "null");
    default:
        if (c == '-' || is_digit(c))
            return scan_number(sc);
        if ((unsigned char)c == 0xef)
            return fail(sc, sc->pos,
                        "byte order mark or stray byte: a JSON "
                        "file must start with '{'");
        return fail_got(sc, "expected a JSON value (object, array, string, "
                            "number, true, false or null)");
    }
}

int np__jpos_scan(np__jpos *jp, const char *text, size_t len,
                  unsigned max_depth, size_t *err_off, char *msg,
                  size_t msgsize)
{
    scan sc;
    uint32_t root;
    int r;

    memset(&sc, 0, sizeof(sc));
    sc.jp = jp;
    sc.s = text;
    sc.len = len;
    sc.max_depth = max_depth;
    sc.msg = msg;
    sc.msgsize = msgsize;
    if (msgsize > 0)
        msg[0] = '\0';
    r = scan_value(&sc, 0, &root);
    if (r == 0) {
        skip_ws(&sc);
        if (sc.pos < sc.len)
            r = fail(&sc, sc.pos, "unexpected content after the JSON value");
    }
    if (sc.oom) {
        *err_off = 0;
        snprintf(msg, msgsize, "out of memory");
        return -2;
    }
    if (r != 0) {
        *err_off = sc.err_off;
        return -1;
    }
    return 0;
}

void np__jpos_free(np__jpos *jp)
{
    if (jp == NULL)
        return;
    free(jp->nodes);
    jp->nodes = NULL;
    jp->n = jp->cap = 0;
}

void np__jpos_linecol(const char *text, size_t len, size_t off, unsigned *line,
                      unsigned *col)
{
    unsigned l = 1, c = 1;
    size_t i;

    if (off > len)
        off = len;
    for (i = 0; i < off; i++) {
        if (text[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

size_t np__jptr_push_key(char *path, size_t size, size_t *len, const char *key)
{
    size_t old = *len, i;

    if (*len + 1 < size)
        path[(*len)++] = '/';
    for (i = 0; key[i] != '\0' && *len + 2 < size; i++) {
        if (key[i] == '~' || key[i] == '/') {
            path[(*len)++] = '~';
            path[(*len)++] = key[i] == '~' ? '0' : '1';
        } else {
            path[(*len)++] = key[i];
        }
    }
    path[*len] = '\0';
    return old;
}

size_t np__jptr_push_idx(char *path, size_t size, size_t *len, size_t idx)
{
    size_t old = *len;
    int n = snprintf(path + *len, size - *len, "/%zu", idx);

    if (n > 0 && *len + (size_t)n < size)
        *len += (size_t)n;
    path[*len] = '\0';
    return old;
}

void np__jptr_pop(char *path, size_t *len, size_t old)
{
    *len = old;
    path[old] = '\0';
}

const char *np__json_type_name(const cJSON *v)
{
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsArray(v))
        return "an array";
    if (cJSON_IsObject(v))
        return "an object";
    return "an invalid value";
}

int np__json_whole(const cJSON *v, int64_t lo, int64_t hi, int64_t *out)
{
    double d;

    if (!cJSON_IsNumber(v))
        return 0;
    d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi)) /* false for NaN too */
        return 0;
    /* (double)INT64_MAX rounds up to 2^63, which no int64_t holds. */
    if (d >= 9223372036854775808.0)
        return 0;
    if (d != (double)(int64_t)d)
        return 0;
    *out = (int64_t)d;
    return 1;
}
