/* libFuzzer: the web interface's own request parsing (src/daemon/web_auth.c)
 * on arbitrary bytes: the login body, the Cookie header, Content-Length,
 * and the Host / Origin checks. (HTTP itself is libmicrohttpd's.) */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "web_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char names[][48] = {"nas.local"};
    char tok[NP_WEB_SECRET_HEX + 2], cookie[NP_WEB_SECRET_HEX + 2];
    char *s = malloc(size + 1);
    const char *why;
    np_web_hosts hs;
    np_addr a;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    (void)np_web_login_token((const char *)data, size, tok, sizeof(tok));
    (void)np_web_cookie_get(s, NP_WEB_COOKIE, cookie, sizeof(cookie));
    (void)np_web_length_check(s, NP_WEB_MAX_BODY);
    if (np_addr_parse(&a, "192.168.1.5:8780", 0, NULL) == NP_OK) {
        np_web_hosts_init(&hs, &a, names, 1);
        (void)np_web_host_ok(&hs, s);
        (void)np_web_origin_ok(&hs, "192.168.1.5:8780", s, s, &why);
    }
    free(s);
    return 0;
}
