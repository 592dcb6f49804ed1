#!/usr/bin/env bash
# natpilot daemon in the lab, against the real miniupnpd:
#  1. the daemon on lan1 holds mappings for two devices (lan1 itself and
#     lan2, third party: secure_mode off, pcp_allow_thirdparty on); each is
#     proven by a packet from the simulated internet reaching the LAN host;
#  2. a failed start (a second daemon on the same state file) leaves the
#     first one's mappings alone and maps nothing;
#  3. miniupnpd restarted with its table flushed: mappings back within one
#     renew period (lease/2), proven by packets; the time is measured; found
#     three ways in turn: SSDP NOTIFY with a new BOOTID, the periodic read of
#     the router's table (SSDP ignored), and the PCP/NAT-PMP epoch going
#     back (miniupnpd counting from its own start, SSDP ignored);
#  4. SIGHUP with a broken config: still running with the old one; then a
#     good reload that turns lan2 into a "verify" device: its mappings are
#     removed, and the mapping lan2 then makes itself (upnpc) is seen;
#  5. the router unreachable for a while (nft drops PCP/NAT-PMP/SSDP/HTTP
#     to it): back-off without spinning, recovery measured once it returns;
#  6. kill -9, then a new start: the orphans in the state file are removed
#     before anything else and the mappings are made again;
#  7. SIGTERM: exit 0, the router's table (upnpc -l from lan1) holds none of
#     natpilot's mappings, the state file is gone.
# Times measured are printed as "measure: ..." lines.
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
lab_require turnserver miniupnpd upnpc jq

LEASE=30
RENEW=$((LEASE / 2))
D="$LAB_TMP/daemon"
mkdir -p "$D"
CONF="$D/natpilot.conf"
SOCK="$D/status.sock"
STATE="$D/state.json"
PROFILES="$NP_SOURCE_DIR/tests/lab/data/daemon/profiles"
DPID=""

measure() { printf '  measure: %s\n' "$*"; }

write_conf() { # write_conf LAN2_MODE [SSDP_LISTEN]
    cat >"$CONF" <<EOF
{
  "ssdp_listen": ${2:-true},
  "lease": $LEASE,
  "verify_interval": $RENEW,
  "log_level": "debug",
  "state_file": "$STATE",
  "status_socket": "$SOCK",
  "profiles_dir": "$PROFILES",
  "devices": [
    {"name": "nas", "address": "$LAB_LAN1_IP", "platform": "pc",
     "profiles": ["lab-game"]},
    {"name": "console", "address": "$LAB_LAN2_IP", "platform": "xbox",
     "profiles": ["lab-game-2"], "mode": "$1"}
  ]
}
EOF
}

status_json() { # the document, whatever the exit code (1: not all held)
    "$NATPILOT" status --json --socket "$SOCK" 2>/dev/null || true
}

# Every mapping of map-mode devices held (and there is at least one).
all_held() {
    status_json | jq -e '[.devices[] | select(.mode == "map") | .mappings[]]
        | length > 0 and all(.state == "held")' >/dev/null
}

start_daemon() {
    lab_bg lan1 "daemon.$1" "$NATPILOT" daemon --config "$CONF" --foreground
    DPID=$LAB_LAST_PID
}

stop_daemon() { # SIGTERM and wait (teardown talks to the router)
    local i rc=0
    kill -TERM "$DPID" 2>/dev/null || return 0
    for i in $(seq 1 200); do
        kill -0 "$DPID" 2>/dev/null || break
        sleep 0.05
    done
    wait "$DPID" || rc=$?
    DPID=""
    return "$rc"
}

lab_on_exit() {
    [ -z "$DPID" ] || kill -KILL "$DPID" 2>/dev/null || true
    if [ "$LAB_FAILED" != 0 ] || [ "${LAB_KEEP_LOGS:-0}" = 1 ]; then
        for f in "$LAB_TMP"/daemon.*.log; do
            [ -e "$f" ] || continue
            echo "---- $f"
            tail -n 60 "$f"
        done
    fi
}

lab_log "natpilot: $NATPILOT"

# Poll until CMD succeeds; prints elapsed ms; 1 on timeout (SECONDS).
time_until() {
    local timeout=$1 t0 now
    shift
    t0=$(lab_now_ms)
    while :; do
        if "$@" >/dev/null 2>&1; then
            now=$(lab_now_ms)
            echo $((now - t0))
            return 0
        fi
        now=$(lab_now_ms)
        [ $((now - t0)) -lt $((timeout * 1000)) ] || return 1
        sleep 0.2
    done
}

# reload_and_wait [checked]: SIGHUP, then wait until the daemon says it
# reloaded or kept the old configuration (an event, not a sleep); with
# "checked", also until the check a good reload starts at once has asked
# the router (so that a router restart that follows cannot race it).
log_count() { grep -cE "$1" "$LAB_TMP/daemon.1.log" || true; }
count_grew() { [ "$(log_count "$1")" -gt "$2" ]; }
reload_and_wait() {
    local before disc
    before=$(log_count "configuration reloaded|reload failed")
    disc=$(log_count "debug: discovery:")
    kill -HUP "$DPID"
    lab_wait_for 10 "the daemon's answer to SIGHUP" \
        count_grew "configuration reloaded|reload failed" "$before"
    [ "${1:-}" != checked ] ||
        lab_wait_for 10 "the check after the reload" \
            count_grew "debug: discovery:" "$disc"
}

prove_all() { # packets from the internet reach lan1 and lan2
    lab_inbound udp 40000 lan1 40000 2000 >/dev/null &&
        lab_inbound udp 40001 lan1 40001 2000 >/dev/null &&
        lab_inbound tcp 40010 lan1 40010 2000 >/dev/null &&
        lab_inbound udp 40100 lan2 40100 2000 >/dev/null &&
        lab_inbound tcp 40110 lan2 40110 2000 >/dev/null
}

# natpilot's entries in the router's table, as upnpc from lan1 lists them
# (PCP mappings carry miniupnpd's own description, so count by port).
OURS_RE=' (UDP|TCP) +40(00[01]|010|10[01]|110)->'
router_ours() {
    lab_in lan1 upnpc -i -l 2>/dev/null | grep -cE "$OURS_RE" || true
}

echo "== lab: NAT eim-apdf, miniupnpd with secure_mode off, third party on"
lab_build -k eim-apdf
lab_coturn_start
lab_miniupnpd_start -S no -t yes
write_conf map

echo "== 1. two devices mapped"
"$NATPILOT" daemon --config "$CONF" --check >/dev/null ||
    lab_fail "the test configuration does not validate"
t0=$(lab_now_ms)
start_daemon 1
if ms=$(time_until 20 all_held); then
    lab_ok "all mappings held"
    measure "start to all 6 mappings held: ${ms} ms"
else
    lab_bad "mappings not all held after 20 s"
    status_json || true
fi
if prove_all; then lab_ok "packets from the internet reach lan1 and lan2"; else
    lab_bad "a mapping does not forward"
fi
[ -s "$STATE" ] && [ "$(jq '.mappings | length' "$STATE")" = 6 ] &&
    lab_ok "state file lists 6 mappings" || lab_bad "state file does not list 6"
n=$(router_ours)
[ "$n" = 6 ] && lab_ok "router table: 6 natpilot mappings" ||
    lab_bad "router table holds $n natpilot mappings, expected 6"
"$NATPILOT" status --socket "$SOCK" >"$LAB_TMP/status.txt" &&
    lab_ok "natpilot status exits 0" || lab_bad "natpilot status exit code"
grep -q "console (198.18.0.11, map)" "$LAB_TMP/status.txt" &&
    lab_ok "status text names the devices" || lab_bad "status text"

echo "== 2. a second daemon on the same state file fails and maps nothing"
rc=0
lab_in lan1 "$NATPILOT" daemon --config "$CONF" --foreground \
    >"$LAB_TMP/daemon.second.log" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "another natpilot daemon" "$LAB_TMP/daemon.second.log" &&
    lab_ok "second start refused (exit 1)" || lab_bad "second start: exit $rc"
kill -0 "$DPID" && all_held && [ "$(router_ours)" = 6 ] &&
    lab_ok "first daemon and its mappings untouched" || lab_bad "first daemon disturbed"
sed "s|$STATE|/proc/natpilot-cannot-write/state.json|" "$CONF" >"$D/bad-state.conf"
sed -i "s|$SOCK|$D/other.sock|" "$D/bad-state.conf"
rc=0
lab_in lan1 "$NATPILOT" daemon --config "$D/bad-state.conf" --foreground \
    >"$LAB_TMP/daemon.badstate.log" 2>&1 || rc=$?
[ "$rc" = 1 ] && [ "$(router_ours)" = 6 ] &&
    lab_ok "start with an unwritable state file fails (exit 1), maps nothing" ||
    lab_bad "unwritable state file: exit $rc, table $(router_ours)"

echo "== 3. router restart with a flushed table"
lab_miniupnpd_restart
t0=$(lab_now_ms)
[ "$(router_ours)" = 0 ] && lab_ok "router table flushed" || true
if ms=$(time_until $((RENEW + 10)) prove_all); then
    measure "router restart to every mapping proven again: ${ms} ms (renew period ${RENEW} s)"
    [ "$ms" -le $((RENEW * 1000)) ] && lab_ok "back within one renew period" ||
        lab_bad "took ${ms} ms, more than one renew period"
else
    lab_bad "mappings not back within $((RENEW + 10)) s"
fi
# Found by the announcement, not by the periodic check: the daemon started
# after miniupnpd's first NOTIFYs, so this holds only because it compares
# them with the IGD its own discovery found.
status_json | jq -e '.router.last_restart_reason | test("SSDP")' >/dev/null &&
    lab_ok "status reports the restart: $(status_json | jq -r .router.last_restart_reason)" ||
    lab_bad "restart not found through SSDP: $(status_json | jq -c .router)"
grep -q "router restart" "$LAB_TMP/daemon.1.log" && lab_ok "restart logged" ||
    lab_bad "restart not logged"

echo "== 3b. router restart, SSDP announcements ignored: the periodic check"
write_conf map false
reload_and_wait checked
lab_miniupnpd_restart
t0=$(lab_now_ms)
if ms=$(time_until $((RENEW + 10)) prove_all); then
    measure "router restart (no SSDP) to every mapping proven again: ${ms} ms (check every ${RENEW} s)"
    [ "$ms" -le $((RENEW * 1000 + 3000)) ] && lab_ok "back within one check period" ||
        lab_bad "took ${ms} ms"
else
    lab_bad "mappings not back within $((RENEW + 10)) s"
fi
# The periodic check rediscovers (epochs) and reads the table: either may
# be the first to see the restart.
grep -qE "gone from the router's table|epoch went" "$LAB_TMP/daemon.1.log" &&
    lab_ok "found by the periodic check" || lab_bad "the periodic check did not find it"

echo "== 3c. router restart seen by the PCP epoch (miniupnpd system_uptime=no)"
# The lab's miniupnpd counts its epoch from the system's uptime, which a
# daemon restart does not reset; run it counting from its own start, so the
# epoch goes back when it restarts (SSDP still ignored).
upnpd_own_epoch() {
    lab_miniupnpd_stop
    rm -f "$LAB_TMP/miniupnpd.leases" # or it restores the mappings
    sed 's/^system_uptime=yes/system_uptime=no/' "$LAB_TMP/miniupnpd.conf" \
        >"$D/miniupnpd-epoch.conf"
    rm -f "$D/miniupnpd-epoch.pid"
    lab_in router miniupnpd -4 -f "$D/miniupnpd-epoch.conf" \
        -P "$D/miniupnpd-epoch.pid" >/dev/null 2>&1 || lab_fail "miniupnpd"
    lab_wait_for 10 "miniupnpd pid file" test -s "$D/miniupnpd-epoch.pid"
    LAB_UPNPD_PID=$(cat "$D/miniupnpd-epoch.pid")
    lab_track_pid "$LAB_UPNPD_PID"
    lab_wait_for 10 "miniupnpd listening" lab__miniupnpd_ready yes yes
}
upnpd_own_epoch
time_until $((RENEW + 10)) prove_all >/dev/null || lab_bad "not back after the first restart"
# one periodic check records this instance's epoch: wait for the next one
disc=$(log_count "debug: discovery:")
lab_wait_for $((RENEW + 5)) "a check after the restart" \
    count_grew "debug: discovery:" "$disc"
before=$(grep -c "epoch went from" "$LAB_TMP/daemon.1.log" || true)
upnpd_own_epoch
if ms=$(time_until $((RENEW + 10)) prove_all); then
    measure "router restart (epoch only, no SSDP) to every mapping proven again: ${ms} ms"
else
    lab_bad "mappings not back within $((RENEW + 10)) s"
fi
after=$(grep -c "epoch went from" "$LAB_TMP/daemon.1.log" || true)
[ "$after" -gt "$before" ] &&
    lab_ok "found by the epoch: $(grep "epoch went from" "$LAB_TMP/daemon.1.log" | tail -1 | sed 's/.*router restart: //')" ||
    lab_bad "the epoch going back was not seen"
lab_miniupnpd_restart # the lab's own configuration again
time_until $((RENEW + 10)) prove_all >/dev/null || lab_bad "not back after restoring miniupnpd"
write_conf map

echo "== 4. SIGHUP"
cp "$CONF" "$D/good.conf"
printf '{ "lease": 30, "devices": [ {"name": "x", "adress": "1.2.3"} ]\n' >"$CONF"
reload_and_wait
kill -0 "$DPID" && lab_ok "still running after a broken reload" || lab_bad "daemon died"
grep -q "reload failed" "$LAB_TMP/daemon.1.log" && lab_ok "bad reload logged" ||
    lab_bad "bad reload not logged"
all_held && [ "$(status_json | jq '[.devices[].mappings[]] | length')" = 6 ] &&
    lab_ok "old configuration still in force" || lab_bad "old configuration lost"
write_conf verify
reload_and_wait
n=$(lab_in lan1 upnpc -i -l 2>/dev/null | grep -E "$OURS_RE" | grep -c "$LAB_LAN2_IP" || true)
[ "$n" = 0 ] && lab_ok "reload: lan2 (now verify) mappings removed" ||
    lab_bad "reload: $n mappings for lan2 left"
lab_in lan2 upnpc -i -e "console self" -a "$LAB_LAN2_IP" 40100 40100 UDP 60 >/dev/null 2>&1 ||
    lab_bad "upnpc on lan2 could not map"
# and one on another external port, as an Xbox makes when its own is taken
lab_in lan2 upnpc -i -e "console alt" -a "$LAB_LAN2_IP" 40110 41110 TCP 60 >/dev/null 2>&1 ||
    lab_bad "upnpc on lan2 could not map 40110 on 41110"
kill -HUP "$DPID" # a good reload also checks at once
present() {
    status_json | jq -e '[.devices[1].mappings[] | select(
        (.internal_port == 40100 and .transport == "udp" and .state == "present") or
        (.internal_port == 40110 and .transport == "tcp" and .state == "present"
         and (.external | endswith(":41110"))))] | length == 2' >/dev/null
}
if time_until 10 present >/dev/null; then
    lab_ok "verify: lan2's own mappings seen (tcp 40110 on external 41110)"
else
    lab_bad "verify: lan2's own mappings not seen"
    status_json | jq -c '.devices[1]' || true
fi
status_json | jq -e '.devices[1].mappings[] | select(.internal_port == 40101)
    | .state == "missing"' >/dev/null && lab_ok "verify: unmapped rule reported missing" ||
    lab_bad "verify: missing rule not reported"
lab_in lan2 upnpc -i -d 40100 UDP >/dev/null 2>&1 || true
lab_in lan2 upnpc -i -d 41110 TCP >/dev/null 2>&1 || true
cp "$D/good.conf" "$CONF"
kill -HUP "$DPID"
if time_until 10 all_held >/dev/null; then lab_ok "reload back to map mode"; else
    lab_bad "reload back to map mode"
fi

echo "== 5. router unreachable for a while"
lab_in router nft -f - <<'EOF'
table inet npdrop {
  chain input {
    type filter hook input priority -10; policy accept;
    iifname "br0" udp dport { 5351, 1900 } drop
    iifname "br0" tcp dport 1024-65535 drop
  }
}
EOF
before=$(grep -c "router unreachable" "$LAB_TMP/daemon.1.log" || true)
kill -HUP "$DPID" # force a check now
sleep 20
after=$(grep -c "router unreachable" "$LAB_TMP/daemon.1.log" || true)
tries=$((after - before))
status_json | jq -e '.router.state == "unreachable"' >/dev/null &&
    lab_ok "status: router unreachable" || lab_bad "status does not say unreachable"
[ "$tries" -ge 1 ] && [ "$tries" -le 8 ] &&
    lab_ok "backed off: $tries attempts in 20 s" || lab_bad "$tries attempts in 20 s"
ctx=$(awk '/voluntary_ctxt_switches/ && !/non/ {print $2}' /proc/"$DPID"/status)
sleep 5
ctx2=$(awk '/voluntary_ctxt_switches/ && !/non/ {print $2}' /proc/"$DPID"/status)
[ $((ctx2 - ctx)) -le 20 ] && lab_ok "no spinning: $((ctx2 - ctx)) wake-ups in 5 s" ||
    lab_bad "spinning: $((ctx2 - ctx)) wake-ups in 5 s"
# The router also reboots while unreachable: its table is empty when it
# comes back, so every mapping has to be made again.
lab_miniupnpd_restart
[ "$(router_ours)" = 0 ] || lab_bad "table not flushed"
lab_in router nft delete table inet npdrop
t0=$(lab_now_ms)
if ms=$(time_until 40 prove_all); then
    measure "router reachable again (after a reboot) to every mapping proven: ${ms} ms (back-off cap $((RENEW)) s)"
    lab_ok "recovered"
else
    lab_bad "no recovery within 40 s"
fi
time_until 10 all_held >/dev/null && lab_ok "status: all held again" ||
    lab_bad "status not all held"

echo "== 6. kill -9, then restart"
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null || true
DPID=""
[ "$(jq '.mappings | length' "$STATE")" = 6 ] && lab_ok "state file kept 6 mappings" ||
    lab_bad "state file after kill -9"
start_daemon 2
if ms=$(time_until 20 all_held); then
    measure "restart after kill -9 to all held: ${ms} ms"
    lab_ok "mappings held again"
else
    lab_bad "not all held after restart"
fi
grep -q "did not stop cleanly" "$LAB_TMP/daemon.2.log" && lab_ok "orphans found" ||
    lab_bad "orphans not reported"
n=$(grep -c "removed orphan" "$LAB_TMP/daemon.2.log" || true)
[ "$n" = 6 ] && lab_ok "6 orphans removed before mapping" || lab_bad "$n orphans removed"
n=$(router_ours)
[ "$n" = 6 ] && lab_ok "router table: 6 natpilot mappings (no duplicates)" ||
    lab_bad "router table holds $n natpilot mappings"
time_until 10 prove_all >/dev/null && lab_ok "packets reach lan1 and lan2" ||
    lab_bad "a mapping does not forward"

echo "== 7. SIGTERM"
rc=0
stop_daemon || rc=$?
[ "$rc" = 0 ] && lab_ok "exit 0" || lab_bad "exit $rc"
n=$(router_ours)
[ "$n" = 0 ] && lab_ok "router table holds none of natpilot's mappings" ||
    lab_bad "router table still holds $n"
[ ! -e "$STATE" ] && lab_ok "state file removed" || lab_bad "state file left"
rc=0
"$NATPILOT" status --socket "$SOCK" >/dev/null 2>&1 || rc=$?
[ "$rc" = 3 ] && lab_ok "status exits 3 with no daemon" || lab_bad "status exit $rc"

lab_done
