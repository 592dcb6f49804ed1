/*
 * natpilot web-token: show the login token of the daemon's web interface
 * (created by the daemon on its first start with the interface enabled,
 * stored 0600 beside its state file), or the read-only /metrics token.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "natpilot/config.h"
#include "web_auth.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: natpilot web-token --config FILE [--metrics] "
               "[--json]\n\n"
               "Print the token that logs in to the daemon's web interface "
               "(natpilot.conf(5),\n\"web\"). The daemon makes it on its "
               "first start with the interface on.\n\n"
               "  -c, --config FILE   the daemon's configuration\n"
               "      --metrics       the read-only token for /metrics "
               "instead\n"
               "      --json          {\"token\": ..., \"file\": ..., "
               "\"url\": ...}\n"
               "  -h, --help          this help\n");
}

int np_cmd_web_token(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"metrics", no_argument, NULL, 'm'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *path = NULL;
    int metrics = 0, json = 0, c, rc;
    np_config *cfg = NULL;
    np_diags diags;
    np_error err;
    char tok[NP_WEB_SECRET_HEX + 1], file[NP_CFG_PATH_MAX + 16], buf[700],
        url[NP_ADDRSTRLEN + 16];
    size_t i;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'm':
            metrics = 1;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            usage(stdout);
            return NP_EXIT_OK;
        default:
            usage(stderr);
            return NP_EXIT_USAGE;
        }
    }
    if (path == NULL || optind != argc) {
        usage(stderr);
        return NP_EXIT_USAGE;
    }
    np_diags_init(&diags);
    np_error_clear(&err);
    rc = np_config_load(path, NULL, &cfg, &diags, &err);
    for (i = 0; i < diags.count; i++)
        fprintf(stderr, "%s\n",
                np_diag_format(&diags.items[i], buf, sizeof(buf)));
    np_diags_free(&diags);
    if (rc != NP_OK) {
        if (rc != NP_EINVALID)
            np_out_error("web-token", &err);
        return NP_EXIT_USAGE;
    }
    snprintf(file, sizeof(file), "%s%s", cfg->web.token_file,
             metrics ? "-metrics" : "");
    {
        char a[NP_ADDRSTRLEN];

        snprintf(url, sizeof(url), "http://%s/",
                 np_addr_str(&cfg->web.listen, a, sizeof(a)));
    }
    np_config_free(cfg);
    rc = np_web_token_load(file, 0, tok, NULL, &err);
    if (rc != NP_OK) {
        np_out_error("web-token", &err);
        fprintf(stderr, "natpilot web-token: the daemon makes the token on "
                        "its first start with \"web\": {\"enabled\": true}\n");
        return NP_EXIT_PROBLEM;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        char *s;

        cJSON_AddStringToObject(o, "token", tok);
        cJSON_AddStringToObject(o, "file", file);
        cJSON_AddStringToObject(o, "url", url);
        s = cJSON_Print(o);
        if (s != NULL)
            puts(s);
        free(s);
        cJSON_Delete(o);
    } else
        printf("%s\n", tok);
    return NP_EXIT_OK;
}
