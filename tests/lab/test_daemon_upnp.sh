#!/usr/bin/env bash
# natpilot daemon over UPnP-IGD only (protocols ["upnp"]), against the real
# miniupnpd: mappings carry the natpilot tag in the router's table, are
# renewed at 40-50 % of the lease, re-created after the table is flushed by
# a restart that only the periodic table read can see (SSDP off), and are
# all removed on SIGTERM. Times are printed as "measure:" lines.
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
lab_require turnserver miniupnpd upnpc jq

LEASE=30
CHECK=10
D="$LAB_TMP/daemon"
mkdir -p "$D"
CONF="$D/natpilot.conf"
SOCK="$D/status.sock"
DPID=""
lab_on_exit() {
    [ -z "$DPID" ] || kill -KILL "$DPID" 2>/dev/null || true
    [ "$LAB_FAILED" = 0 ] || tail -n 40 "$LAB_TMP/daemon.log" 2>/dev/null || true
}
status_json() { "$NATPILOT" status --json --socket "$SOCK" 2>/dev/null || true; }
all_held() {
    status_json | jq -e '[.devices[].mappings[]] | length == 6 and
        all(.state == "held" and .protocol == "upnp")' >/dev/null
}
tagged() { # natpilot-tagged entries in the router's table
    lab_in lan1 upnpc -i -l 2>/dev/null | grep -c "natpilot:" || true
}
prove_all() {
    lab_inbound udp 40000 lan1 40000 2000 >/dev/null &&
        lab_inbound tcp 40010 lan1 40010 2000 >/dev/null &&
        lab_inbound udp 40100 lan2 40100 2000 >/dev/null &&
        lab_inbound tcp 40110 lan2 40110 2000 >/dev/null
}
time_until() {
    local timeout=$1 t0 now
    shift
    t0=$(lab_now_ms)
    while :; do
        if "$@" >/dev/null 2>&1; then
            echo $(($(lab_now_ms) - t0))
            return 0
        fi
        now=$(lab_now_ms)
        [ $((now - t0)) -lt $((timeout * 1000)) ] || return 1
        sleep 0.2
    done
}

lab_build -k eim-apdf
lab_coturn_start
lab_miniupnpd_start -S no
printf '{\n  "lease": %s, "verify_interval": %s, "protocols": ["upnp"],
  "ssdp_listen": false, "log_level": "debug",
  "state_file": "%s", "status_socket": "%s", "profiles_dir": "%s",
  "devices": [
    {"name": "nas", "address": "%s", "profiles": ["lab-game"]},
    {"name": "console", "address": "%s", "profiles": ["lab-game-2"]}
  ]\n}\n' "$LEASE" "$CHECK" "$D/state.json" "$SOCK" \
    "$NP_SOURCE_DIR/tests/lab/data/daemon/profiles" "$LAB_LAN1_IP" \
    "$LAB_LAN2_IP" >"$CONF"
lab_bg lan1 daemon "$NATPILOT" daemon --config "$CONF" --foreground
DPID=$LAB_LAST_PID
if ms=$(time_until 20 all_held); then
    lab_ok "6 mappings held via UPnP"
    printf '  measure: start to 6 UPnP mappings held: %s ms\n' "$ms"
else
    lab_bad "not all held via UPnP"
    status_json
fi
n=$(tagged)
[ "$n" = 6 ] && lab_ok "router table: 6 entries tagged natpilot:" || lab_bad "$n tagged"
prove_all && lab_ok "packets reach lan1 and lan2" || lab_bad "a mapping does not forward"
if time_until 20 grep -q "renewed" "$LAB_TMP/daemon.log" >/dev/null; then
    t=$(status_json | jq '[.devices[].mappings[].renew_in] | max')
    lab_ok "renewed within 20 s of a ${LEASE} s lease (next renewal in ${t} s)"
else
    lab_bad "no renewal within 20 s"
fi
lab_miniupnpd_restart
# The restart flushed the table; the daemon may already have re-created the
# mappings by the time we look (its check can fall right after the restart),
# so a non-empty table is only wrong if the daemon did not log a restart.
if [ "$(tagged)" != 0 ] && ! grep -q "router restart" "$LAB_TMP/daemon.log" 2>/dev/null; then
    lab_bad "table not flushed"
fi
if ms=$(time_until $((CHECK + 8)) prove_all); then
    printf '  measure: restart (no SSDP, check every %s s) to all proven: %s ms\n' \
        "$CHECK" "$ms"
    lab_ok "re-created after the restart"
else
    lab_bad "not re-created within $((CHECK + 8)) s"
fi
grep -q "gone from the router's table" "$LAB_TMP/daemon.log" &&
    lab_ok "found by reading the table" || lab_bad "restart not found by the table read"
kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
DPID=""
[ "$rc" = 0 ] && lab_ok "SIGTERM: exit 0" || lab_bad "SIGTERM: exit $rc"
n=$(tagged)
[ "$n" = 0 ] && lab_ok "router table holds no natpilot mapping" || lab_bad "$n left"
lab_done
