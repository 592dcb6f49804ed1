/*
 * natpilot: the daemon's configuration file (natpilot.conf(5)), JSON.
 *
 *   {
 *     "lease": 7200,                       seconds, 20..86400
 *     "protocols": ["pcp", "natpmp", "upnp"],  preference order
 *     "log_level": "info",                 error | warn | info | debug
 *     "state_file": "/var/lib/natpilot/state.json",
 *     "status_socket": "/run/natpilot/status.sock",
 *     "verify_interval": 300,              seconds, 10..86400
 *     "ssdp_listen": true,                 watch IGD announcements
 *     "gateway": "198.18.0.1",             optional; default route
 *     "profiles_dir": "/etc/natpilot/profiles",  optional extra profiles
 *     "web": { "enabled": true,            the web interface (off by default)
 *              "listen": "127.0.0.1:8780", loopback unless a LAN address
 *              "hosts": ["nas.local"],     extra Host names the page may use
 *              "token_file": "/var/lib/natpilot/web-token",
 *              "stun": "198.51.100.10:3478",    for the page's diagnosis
 *              "devices_file": "/var/lib/natpilot/web-devices.json" },
 *     "devices": [
 *       { "name": "xbox", "address": "198.18.0.20", "platform": "xbox",
 *         "profiles": ["xbox"], "mode": "map",     map | verify
 *         "address6": "2001:db8:1::20" }           optional: IPv6 pinholes
 *     ]
 *   }
 *
 * Every problem is a diagnostic with file, line, column and JSON pointer
 * (np_diags, see profile.h): unknown keys, wrong types, bad addresses,
 * unknown profiles, duplicate devices, lease out of range.
 *
 * Ownership: np_config and everything in it belongs to the caller, freed
 * with np_config_free (accepts NULL). It keeps no pointer to the text or to
 * the catalog used to check it.
 */
#ifndef NATPILOT_CONFIG_H
#define NATPILOT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "natpilot/addr.h"
#include "natpilot/error.h"
#include "natpilot/portmap.h"
#include "natpilot/profile.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NP_CFG_MAX_BYTES     (256 * 1024)
#define NP_CFG_MAX_DEVICES   64
#define NP_CFG_MAX_PROFILES  16 /* per device */
#define NP_CFG_NAME_MAX      48
#define NP_CFG_PATH_MAX      256
#define NP_CFG_LEASE_MIN     20
#define NP_CFG_LEASE_MAX     86400
#define NP_CFG_LEASE_DEFAULT 7200
#define NP_CFG_VERIFY_MIN    10
#define NP_CFG_VERIFY_MAX    86400
#define NP_CFG_WEB_PORT      8780
#define NP_CFG_WEB_MAX_HOSTS 8

enum np_log_level {
    NP_LOG_ERROR = 0,
    NP_LOG_WARN = 1,
    NP_LOG_INFO = 2,
    NP_LOG_DEBUG = 3
};
/* "error", "warn", "info", "debug"; parse returns -1 when unknown. */
const char *np_log_level_name(int level);
int np_log_level_parse(const char *s);

enum np_cfg_mode {
    NP_CFG_MAP = 0,   /* natpilot maps the device's ports */
    NP_CFG_VERIFY = 1 /* the device maps itself (UPnP); natpilot checks */
};

/*
 * Explicit ports (the web page's expert form; "ports" in a device):
 * "udp:3074", "tcp:27015-27030". Bounded so that no request is a DMZ in
 * disguise: at most NP_CFG_PORT_SPAN_MAX ports in one rule, at most
 * NP_CFG_PORTS_MAX in all per device, never "all" / "any" / "*" / "dmz".
 */
#define NP_CFG_MAX_PORT_RULES 16
#define NP_CFG_PORT_SPAN_MAX  64
#define NP_CFG_PORTS_MAX      128

typedef struct np_cfg_port {
    int transport; /* NP_PM_UDP / NP_PM_TCP */
    uint16_t lo, hi;
} np_cfg_port;

/*
 * Parse one explicit rule. NP_EINVALID with the reason in err (a whole or
 * DMZ-like range: "all", a span over NP_CFG_PORT_SPAN_MAX ports; port 0;
 * lo > hi; no protocol). Pure.
 */
int np_cfg_port_parse(const char *text, np_cfg_port *out, np_error *err);

typedef struct np_cfg_device {
    char name[NP_CFG_NAME_MAX];
    np_addr address;   /* IPv4, port 0 */
    np_addr address6;  /* "address6": the device's global IPv6 address,
                          port 0; empty when not given. Map-mode inbound
                          ports become IPv6 pinholes for it too. */
    unsigned platform; /* one NP_PLAT_* bit, 0 when not given */
    int mode;          /* enum np_cfg_mode */
    char **profiles;   /* owned, n_profiles strings (may be 0 when
                          ports are given) */
    size_t n_profiles;
    np_cfg_port ports[NP_CFG_MAX_PORT_RULES]; /* explicit, mapped besides
                                                 the profiles' rules */
    size_t n_ports;
} np_cfg_device;

/* The web interface (src/daemon/web*.c); off unless enabled. */
typedef struct np_cfg_web {
    int enabled;
    np_addr listen; /* loopback or a LAN address, with its port */
    char hosts[NP_CFG_WEB_MAX_HOSTS][NP_CFG_NAME_MAX]; /* extra Host names */
    size_t n_hosts;
    char token_file[NP_CFG_PATH_MAX]; /* default: beside state_file */
    np_addr stun; /* RFC 5780 server for the page's diagnosis; may be empty */
    char devices_file[NP_CFG_PATH_MAX]; /* devices added from the page;
                                           default: beside state_file,
                                           web-devices.json */
} np_cfg_web;

typedef struct np_config {
    uint32_t lease;
    enum np_pm_proto prefer[NP_PM_NPROTO]; /* NP_PM_NONE-terminated */
    int log_level;
    char state_file[NP_CFG_PATH_MAX];
    char status_socket[108]; /* sun_path */
    uint32_t verify_interval;
    int ssdp_listen;
    np_addr gateway;                    /* empty: the default route's */
    char profiles_dir[NP_CFG_PATH_MAX]; /* extra profiles; "" none */
    np_cfg_web web;
    np_cfg_device *devices;
    size_t n_devices; /* 0 only when the web interface is enabled */
} np_config;

/*
 * Parse and validate a configuration held in memory. name is the display
 * name used in diagnostics. cat, when not NULL, is used to check that every
 * profile exists and applies to the device's platform. On NP_OK *out is a
 * new config; on NP_EINVALID the problems are in diags (never NULL here) and
 * *out is NULL. NP_ENOMEM, NP_EINVAL otherwise.
 */
int np_config_parse(const char *name, const char *text, size_t len,
                    const np_catalog *cat, np_config **out, np_diags *diags,
                    np_error *err);

/* As np_config_parse for a file on disk (NP_ESYS when unreadable). */
int np_config_load(const char *path, const np_catalog *cat, np_config **out,
                   np_diags *diags, np_error *err);

/*
 * The whole load as the daemon does it: parse path once to learn
 * profiles_dir, load the profile catalog (embedded, user directory,
 * profiles_dir), then parse again checking every profile. On NP_OK *out is
 * the config and, when cat_out is not NULL, *cat_out the catalog (the
 * caller frees both). Problems of the config are in diags; profile files
 * that fail to load are skipped (as everywhere else).
 */
int np_config_load_full(const char *path, np_config **out, np_catalog **cat_out,
                        np_diags *diags, np_error *err);
/*
 * np_config_load_full also reads the devices the web page added: the file
 * web.devices_file ({"devices": [...]} and nothing else, the devices
 * written as in the configuration) when it exists, and appends them to the
 * configuration's devices. It lives in the state directory, which a
 * sandboxed daemon may write (/etc is read-only under ProtectSystem=strict).
 * A device of the same name or address as one already configured is an
 * error (diagnostic), as in the configuration itself.
 */

/*
 * Add a device to web.devices_file of cfg (created when absent), as
 * np_config_add_device does for the configuration: checked with cat,
 * replaced atomically (mode 0644). NP_EEXIST when cfg (the configuration
 * in force, web devices included) or the file already has a device of that
 * name or address.
 */
int np_config_add_web_device(const np_config *cfg, const np_cfg_device *dev,
                             const np_catalog *cat, np_diags *diags,
                             np_error *err);

void np_config_free(np_config *cfg);

/*
 * Whether the web interface may listen on, or take connections from, a:
 * loopback, RFC 1918 / ULA, link-local, or the 198.18.0.0/15 benchmark range
 * (the lab's LAN). Never a public, shared (100.64/10, a carrier's side),
 * documentation (the lab's internet), unspecified or multicast address: the
 * interface can open ports on the router and must not face the WAN.
 */
int np_config_web_addr_ok(const np_addr *a);

/*
 * Add a device to the configuration file at path, keeping every other key
 * and device as written: the text is re-read, the device appended to
 * "devices" (created when absent), the result checked with cat (when not
 * NULL) exactly as the daemon loads it, and the file replaced atomically
 * (temporary file, fsync, rename, fsync of the directory), keeping its
 * mode. NP_EEXIST when a device of that name or address is already listed;
 * NP_EINVALID (problems in diags) when the result would not load.
 */
int np_config_add_device(const char *path, const np_cfg_device *dev,
                         const np_catalog *cat, np_diags *diags, np_error *err);

/*
 * Default paths when the configuration names none: $STATE_DIRECTORY /
 * $RUNTIME_DIRECTORY (set by systemd), else /var/lib/natpilot and
 * /run/natpilot for root, else $XDG_STATE_HOME (~/.local/state)/natpilot and
 * $XDG_RUNTIME_DIR/natpilot. NP_OK, NP_ENOTFOUND, NP_EBUFSIZE.
 */
int np_config_default_state_file(char *buf, size_t size);
int np_config_default_status_socket(char *buf, size_t size);

/*
 * The socket a client (natpilot status) reads when none is given: the
 * default above if a socket is there; else, for a user other than root, the
 * system daemon's /run/natpilot/status.sock if it exists (natpilot.service
 * runs under DynamicUser and serves every local user); else the default
 * above. NP_OK, NP_ENOTFOUND, NP_EBUFSIZE.
 */
int np_config_client_status_socket(char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif /* NATPILOT_CONFIG_H */
