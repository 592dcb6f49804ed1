#!/usr/bin/env bash
# Real routers' behaviours (issue 11, docs/routers.md), from the player's
# side: what natpilot open / close / the daemon say and do against a gateway
# that misbehaves like deployed ones. No packaged router does these, so the
# gateway is tests/lab/tools/np_fakegw.py (checked first with upnpc, like
# any peer we trust); it installs real nftables forwards where it says it
# mapped, so an inbound packet proves or disproves every mapping.
# One section per behaviour; numbers are the issue's.
set -u
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
lab_require upnpc jq python3

export NATPILOT_STATE_DIR="$LAB_TMP/state"
N=$NATPILOT

# run ROLE EXPECTED_EXIT OUTFILE ARGS...: natpilot in ROLE, check its exit
# (EXPECTED_EXIT "nz": any non-zero).
run() {
    local role=$1 want=$2 outf=$3 rc=0
    shift 3
    lab_in "$role" "$N" "$@" >"$outf" 2>"$outf.err" || rc=$?
    if [ "$want" = nz ] && [ "$rc" != 0 ]; then
        return 0
    fi
    if [ "$rc" != "$want" ]; then
        cat "$outf" "$outf.err" >&2
        tail -20 "$LAB_TMP/fakegw.log" >&2
        lab_fail "natpilot $* in $role: exit $rc, expected $want"
    fi
}
status_of() { # JSONFILE PROTO PORT
    jq -r --arg p "$2" --argjson n "$3" \
        '.rules[] | select(.protocol == $p and .port == $n) | .status' "$1"
}
field_of() { # JSONFILE PROTO PORT FIELD
    jq -r --arg p "$2" --argjson n "$3" --arg f "$4" \
        '.rules[] | select(.protocol == $p and .port == $n) | .[$f] // empty' "$1"
}
# The gateway's table, through upnpc and the emulator's description URL.
table() {
    lab_in lan1 upnpc -i -u "$LAB_FAKEGW_URL" -l 2>/dev/null |
        awk '/^ *[0-9]+ (UDP|TCP) / { print $2, $3, $4 }' | sort
}
# How many requests of one SOAP action the gateway got so far.
soap_count() {
    grep -c " $1 " "$LAB_TMP/fakegw.log" || true
}
fresh_gw() {
    lab_fakegw_stop
    : >"$LAB_TMP/fakegw.log"
    rm -rf "$NATPILOT_STATE_DIR"
    lab_fakegw_start "$@"
}
no_inbound() {
    if lab_inbound udp "$1" "$2" "$1" 1200 >/dev/null; then
        lab_fail "$3: a packet to udp $1 still reaches $2"
    fi
}

lab_build
lab_coturn_start

# --- 0. the emulator itself, checked with miniupnpc's upnpc ---------------
fresh_gw --igd 2
out=$(lab_in lan1 upnpc -i -s 2>&1) || lab_fail "upnpc -s: $out"
grep -q "IGD : http://$LAB_GW:49000/ctl/v2/0" <<<"$out" ||
    lab_fail "upnpc did not find the emulator by SSDP: $out"
grep -q "ExternalIPAddress = $LAB_WAN_IP" <<<"$out" || lab_fail "upnpc: $out"
lab_in lan1 upnpc -i -u "$LAB_FAKEGW_URL" -e "upnpc check" \
    -a "$LAB_LAN1_IP" 40000 40000 UDP 600 >/dev/null 2>&1 || lab_fail "upnpc -a"
[ "$(table)" = "UDP 40000->$LAB_LAN1_IP:40000 'upnpc" ] ||
    lab_fail "upnpc -l after -a: [$(table)]"
lab_inbound udp 40000 lan1 40000 2000 >/dev/null ||
    lab_fail "the emulator's mapping does not forward"
lab_in lan1 upnpc -i -u "$LAB_FAKEGW_URL" -d 40000 UDP >/dev/null 2>&1 ||
    lab_fail "upnpc -d"
[ -z "$(table)" ] || lab_fail "upnpc -l after -d: [$(table)]"
no_inbound 40000 lan1 "emulator after upnpc -d"
lab_ok "0: np_fakegw checked with upnpc: found by SSDP, -a maps (inbound proven), -l lists, -d removes (inbound stopped)"

# --- 1. permanent leases only (725) ---------------------------------------
fresh_gw --igd 2 --behave perm-725
run lan1 0 "$LAB_TMP/p725.json" open --via upnp --port udp:40000 --json
[ "$(status_of "$LAB_TMP/p725.json" udp 40000)" = mapped ] ||
    lab_fail "725: $(cat "$LAB_TMP/p725.json")"
[ "$(field_of "$LAB_TMP/p725.json" udp 40000 lease)" = 0 ] ||
    lab_fail "725: not reported permanent: $(cat "$LAB_TMP/p725.json")"
field_of "$LAB_TMP/p725.json" udp 40000 message | grep -q "permanently" ||
    lab_fail "725: the report does not say permanent"
[ "$(soap_count AddPortMapping)" = 2 ] ||
    lab_fail "725: $(soap_count AddPortMapping) AddPortMapping requests, want 2 (one retry)"
grep "AddPortMapping" "$LAB_TMP/fakegw.log" | grep -v "ExternalPort=40000 " &&
    lab_fail "725: a retry on another external port"
lab_inbound udp 40000 lan1 40000 2000 >/dev/null || lab_fail "725: no inbound"
run lan1 0 /dev/null close --port udp:40000
[ -z "$(table)" ] || lab_fail "725: close left [$(table)]"
no_inbound 40000 lan1 "725 after close"
lab_ok "1: 725 -> one retry with lease 0 on the same port, reported permanent, proven, removed by close"

# --- 2. 402 and its meanings -----------------------------------------------
fresh_gw --igd 2 --behave perm-402
run lan1 0 "$LAB_TMP/p402.json" open --via upnp --port udp:40000 --json
[ "$(status_of "$LAB_TMP/p402.json" udp 40000)" = mapped ] &&
    [ "$(field_of "$LAB_TMP/p402.json" udp 40000 lease)" = 0 ] ||
    lab_fail "402 (lease): $(cat "$LAB_TMP/p402.json")"
lab_inbound udp 40000 lan1 40000 2000 >/dev/null || lab_fail "402 (lease): no inbound"
run lan1 0 /dev/null close --port udp:40000
[ -z "$(table)" ] || lab_fail "402: close left [$(table)]"
fresh_gw --igd 2 --behave table-full --behave table-full-402
run lan1 nz "$LAB_TMP/full.json" open --via upnp --port udp:40000 --json
st=$(status_of "$LAB_TMP/full.json" udp 40000)
[ "$st" != mapped ] && [ "$st" != permanent-only ] ||
    lab_fail "402 (table full) called $st: $(cat "$LAB_TMP/full.json")"
[ "$(soap_count AddPortMapping)" = 2 ] ||
    lab_fail "402 (table full): $(soap_count AddPortMapping) requests, want 2"
[ -z "$(table)" ] || lab_fail "402 (table full): table [$(table)]"
lab_ok "2: 402 to a lease -> permanent after one retry; 402 to both -> '$st', not 'permanent only', no rule left"

# --- 3. success answer, no mapping -------------------------------------------
fresh_gw --igd 2 --behave no-mapping
run lan1 nz "$LAB_TMP/nomap.json" open --via upnp --port udp:40000 --json
[ "$(status_of "$LAB_TMP/nomap.json" udp 40000)" != mapped ] ||
    lab_fail "no mapping called mapped: $(cat "$LAB_TMP/nomap.json")"
grep -q "reading the mapping back finds no" "$LAB_TMP/nomap.json" ||
    lab_fail "no read-back reason: $(cat "$LAB_TMP/nomap.json")"
no_inbound 40000 lan1 "no-mapping"
fresh_gw --igd 2 --behave drop-third-party
run lan1 nz "$LAB_TMP/drop3.json" open --via upnp --for "$LAB_LAN2_IP" \
    --port udp:40000 --json
[ "$(status_of "$LAB_TMP/drop3.json" udp 40000)" != mapped ] ||
    lab_fail "dropped third-party mapping called mapped"
no_inbound 40000 lan2 "drop-third-party"
lab_ok "3: success answers without a mapping (all, or for another device) are not 'mapped' (read-back trusted)"

# --- 4. several WAN services, the first not connected -----------------------
# A DSL box lists WANPPPConnection (down) before WANIPConnection (up): the
# connected one with a usable address is the one to use.
fresh_gw --igd 2 --wan-services ppp:disconnected,ip:connected
run lan1 0 "$LAB_TMP/wan2.json" open --via upnp --port udp:40000 --json
[ "$(status_of "$LAB_TMP/wan2.json" udp 40000)" = mapped ] ||
    lab_fail "two WAN services: $(cat "$LAB_TMP/wan2.json")"
grep -q "soap v2/1 AddPortMapping" "$LAB_TMP/fakegw.log" ||
    lab_fail "two WAN services: not mapped on the connected one: $(grep AddPortMapping "$LAB_TMP/fakegw.log")"
grep -q "soap v2/0 AddPortMapping" "$LAB_TMP/fakegw.log" &&
    lab_fail "two WAN services: asked the disconnected PPP service to map"
lab_inbound udp 40000 lan1 40000 2000 >/dev/null || lab_fail "two WAN services: no inbound"
run lan1 0 /dev/null close --port udp:40000
[ -z "$(table)" ] || lab_fail "two WAN services: close left [$(table)]"
lab_ok "4: first WAN service disconnected -> the connected WANIPConnection maps (proven), close removes"

# --- 6. LOCATION on loopback (some TP-Link firmwares) -------------------------
fresh_gw --igd 2 --location-host 127.0.0.1
run lan1 0 "$LAB_TMP/loc.json" open --via upnp --port udp:40000 --json
[ "$(status_of "$LAB_TMP/loc.json" udp 40000)" = mapped ] ||
    lab_fail "loopback LOCATION: $(cat "$LAB_TMP/loc.json")"
grep -q "127.0.0.1" "$LAB_TMP/loc.json" ||
    lab_fail "loopback LOCATION: the report does not say it was re-pointed: $(cat "$LAB_TMP/loc.json")"
lab_inbound udp 40000 lan1 40000 2000 >/dev/null || lab_fail "loopback LOCATION: no inbound"
run lan1 0 /dev/null close --port udp:40000
[ -z "$(table)" ] || lab_fail "loopback LOCATION: close left [$(table)]"
lab_ok "6: LOCATION on 127.0.0.1 -> re-pointed at the gateway that answered, reported, mapped (proven), closed"

# --- 9. per-device permission: 606 on v2, the v1 description maps -----------
fresh_gw --igd both --behave v2-606
run lan1 0 "$LAB_TMP/v606.json" open --via upnp --port udp:40000 --json
[ "$(status_of "$LAB_TMP/v606.json" udp 40000)" = mapped ] ||
    lab_fail "606 v2: $(cat "$LAB_TMP/v606.json")"
grep -q "soap v1/0 AddPortMapping" "$LAB_TMP/fakegw.log" || lab_fail "606: v1 not used"
lab_inbound udp 40000 lan1 40000 2000 >/dev/null || lab_fail "606 v2: no inbound"
run lan1 0 /dev/null close --port udp:40000
fresh_gw --igd 2 --behave v2-606
run lan1 nz "$LAB_TMP/v606only.json" open --via upnp --port udp:40000 --json
grep -q "Permit independent port sharing" "$LAB_TMP/v606only.json" ||
    lab_fail "606 without v1: setting not named: $(cat "$LAB_TMP/v606only.json")"
lab_ok "9: 606 on the IGDv2 service -> mapped through the v1 description; with v2 only, the router setting is named"

# --- 10. a protocol that answers but refuses -> the next one ----------------
fresh_gw --igd 2 --pcp refuse-all
run lan1 0 "$LAB_TMP/pcp2.json" open --port udp:40000 --json
[ "$(status_of "$LAB_TMP/pcp2.json" udp 40000)" = mapped ] &&
    [ "$(jq -r '.rules[0].via' "$LAB_TMP/pcp2.json")" = upnp ] ||
    lab_fail "PCP NOT_AUTHORIZED: $(cat "$LAB_TMP/pcp2.json")"
lab_inbound udp 40000 lan1 40000 2000 >/dev/null || lab_fail "PCP refuse: no inbound"
run lan1 0 /dev/null close --port udp:40000
fresh_gw --igd 2 --natpmp result3
run lan1 0 "$LAB_TMP/nat3.json" open --port udp:40000 --json
[ "$(status_of "$LAB_TMP/nat3.json" udp 40000)" = mapped ] &&
    [ "$(jq -r '.rules[0].via' "$LAB_TMP/nat3.json")" = upnp ] ||
    lab_fail "NAT-PMP result 3: $(cat "$LAB_TMP/nat3.json")"
run lan1 0 /dev/null close --port udp:40000
lab_ok "10: PCP NOT_AUTHORIZED / NAT-PMP result 3 at discovery -> UPnP maps"

# --- 11. AddAnyPortMapping broken -> next free port -------------------------
for how in addany-drop addany-401 addany-602; do
    fresh_gw --igd 2 --behave "$how" --seed "UDP:3074:$LAB_LAN2_IP:3074:lan2 game"
    run lan1 0 "$LAB_TMP/any.$how.json" open --via upnp --platform xbox --json xbox-network
    alt=$(field_of "$LAB_TMP/any.$how.json" udp 3074 alternate_external_port)
    [ -n "$alt" ] && [ "$alt" != 3074 ] ||
        lab_fail "$how: no alternate port: $(cat "$LAB_TMP/any.$how.json")"
    lab_inbound udp "$alt" lan1 3074 2000 >/dev/null || lab_fail "$how: nothing through $alt"
    run lan1 0 /dev/null close --via upnp --platform xbox xbox-network
done
lab_ok "11: AddAnyPortMapping dropped / 401 / 602 -> next free external port ($alt), proven"

# --- 12. conflicts under other codes ------------------------------------------
fresh_gw --igd 2 --behave conflict-501 --seed "UDP:40000:$LAB_LAN2_IP:40000:lan2 game"
run lan1 nz "$LAB_TMP/c501.json" open --via upnp --port udp:40000 --json
[ "$(status_of "$LAB_TMP/c501.json" udp 40000)" = conflict ] &&
    [ "$(field_of "$LAB_TMP/c501.json" udp 40000 holder)" = "$LAB_LAN2_IP" ] ||
    lab_fail "501: $(cat "$LAB_TMP/c501.json")"
fresh_gw --igd 2 --behave readd-718
run lan1 0 /dev/null open --via upnp --port udp:40000
run lan1 0 "$LAB_TMP/r718.json" open --via upnp --port udp:40000 --json
[ "$(status_of "$LAB_TMP/r718.json" udp 40000)" = mapped ] ||
    lab_fail "718 on re-adding own: $(cat "$LAB_TMP/r718.json")"
lab_inbound udp 40000 lan1 40000 2000 >/dev/null || lab_fail "718 re-add: no inbound"
run lan1 0 /dev/null close --port udp:40000
[ -z "$(table)" ] || lab_fail "718: close left [$(table)]"
lab_ok "12: 501 for another device's port -> conflict with holder; 718 on our own -> mapped again"

# --- 8. a table that cannot be listed (713 at index 0) -----------------------
fresh_gw --igd 2 --behave list-713
run lan1 0 /dev/null open --via upnp --port udp:40000 --port tcp:40010
lab_inbound udp 40000 lan1 40000 2000 >/dev/null || lab_fail "713: no inbound"
run lan1 0 "$LAB_TMP/l713c.json" close --port udp:40000 --json
[ "$(jq -r .removed "$LAB_TMP/l713c.json")" = 1 ] ||
    lab_fail "713: close --port: $(cat "$LAB_TMP/l713c.json")"
no_inbound 40000 lan1 "713 after close"
run lan1 0 "$LAB_TMP/l713all.json" close --all --json
[ "$(jq -r .removed "$LAB_TMP/l713all.json")" = 1 ] ||
    lab_fail "713: close (all): $(cat "$LAB_TMP/l713all.json")"
grep -q "DeletePortMapping ExternalPort=40010 .*-> 0" "$LAB_TMP/fakegw.log" ||
    lab_fail "713: tcp 40010 not removed"
lab_ok "8: a table that cannot be listed: close (with --port, and without) removes its own mappings through GetSpecificPortMappingEntry"

# --- 13. description blanked or changed by the router ------------------------
for how in "--behave blank-desc" "--rewrite-desc UPnP_Rule_7"; do
    # shellcheck disable=SC2086
    fresh_gw --igd 2 $how
    run lan1 0 /dev/null open --via upnp --port udp:40000
    lab_inbound udp 40000 lan1 40000 2000 >/dev/null || lab_fail "13 ($how): no inbound"
    run lan1 0 "$LAB_TMP/blank.json" close --all --json
    [ "$(jq -r .removed "$LAB_TMP/blank.json")" = 1 ] && [ -z "$(table)" ] ||
        lab_fail "13 ($how): close: $(cat "$LAB_TMP/blank.json") table [$(table)]"
    no_inbound 40000 lan1 "13 ($how) after close"
done
# ... and a mapping of another program to the same device is left alone
fresh_gw --igd 2 --seed "UDP:40000:$LAB_LAN1_IP:40000:other program"
run lan1 0 /dev/null close --port udp:40000
[ "$(table)" = "UDP 40000->$LAB_LAN1_IP:40000 'other" ] ||
    lab_fail "13: another program's mapping touched: [$(table)]"
lab_ok "13: a blanked or rewritten description: close finds its own mapping by client, port, protocol and its record; another program's is left alone"

# --- the daemon against the emulator ---------------------------------------
D="$LAB_TMP/daemon"
DPID=""
lab_on_exit() {
    [ -z "$DPID" ] || kill -KILL "$DPID" 2>/dev/null || true
}
# daemon_start LEASE CHECK SSDP_LISTEN: natpilotd in lan1 for lan1's
# lab-game rules (udp 40000-40001, tcp 40010), UPnP only.
daemon_start() {
    rm -rf "$D"
    mkdir -p "$D"
    printf '{ "lease": %s, "verify_interval": %s, "protocols": ["upnp"],
  "ssdp_listen": %s, "log_level": "debug",
  "state_file": "%s", "status_socket": "%s", "profiles_dir": "%s",
  "devices": [ {"name": "pc", "address": "%s", "profiles": ["lab-game"]} ] }\n' \
        "$1" "$2" "$3" "$D/state.json" "$D/status.sock" \
        "$NP_SOURCE_DIR/tests/lab/data/daemon/profiles" "$LAB_LAN1_IP" >"$D/conf"
    lab_bg lan1 daemon "$N" daemon --config "$D/conf" --foreground
    DPID=$LAB_LAST_PID
    lab_wait_for 20 "the daemon holds 3 mappings" all_held
}
status_json() { "$N" status --json --socket "$D/status.sock" 2>/dev/null || true; }
all_held() {
    status_json | jq -e '[.devices[].mappings[]] | length == 3 and
        all(.state == "held")' >/dev/null
}
daemon_stop() {
    kill -TERM "$DPID"
    wait "$DPID" || lab_fail "daemon exit $?"
    DPID=""
}
dlog() { cat "$LAB_TMP/daemon.log"; }
count_ge() { [ "$(soap_count "$1")" -ge "$2" ]; } # ACTION N
notify_ge() { [ "$(grep -c "ssdp NOTIFY" "$LAB_TMP/fakegw.log")" -ge "$1" ]; }

# --- 5. one router, several descriptions (and TR-064): no restarts ---------
fresh_gw --igd both --tr64 --notify-interval 1
daemon_start 120 30 true
lab_wait_for 10 "three NOTIFY rounds" notify_ge 4
sleep 1
if dlog | grep -qE "router restart|announced itself anew"; then
    dlog | grep -E "restart|anew" >&2
    lab_fail "several descriptions taken for a restart"
fi
adds=$(soap_count AddPortMapping)
kill -HUP "$LAB_FAKEGW_PID" # a real restart: table flushed, BOOTID 2
lab_wait_for 15 "mappings back after the restart" lab_inbound udp 40000 lan1 40000 1000
dlog | grep -q "router restart" || lab_fail "the real restart was not seen"
dlog | grep -q "BOOTID 1 -> 2" || lab_fail "restart not keyed on BOOTID: $(dlog | grep -i restart)"
[ "$(soap_count AddPortMapping)" -gt "$adds" ] || lab_fail "not re-created"
daemon_stop
lab_ok "5: igddesc.xml + igd2desc.xml + TR-064 announced every second: no restart; a BOOTID change is one, mappings back"

# --- 8. the daemon on a table that cannot be listed -------------------------
fresh_gw --igd 2 --behave list-713
daemon_start 120 10 false
lab_wait_for 30 "two checks" count_ge GetGenericPortMappingEntry 2
dlog | grep -q "router restart" && lab_fail "713 at index 0 taken for a restart"
[ "$(soap_count AddPortMapping)" = 3 ] || lab_fail "re-added: $(soap_count AddPortMapping)"
lab_inbound udp 40000 lan1 40000 2000 >/dev/null || lab_fail "713: no inbound"
daemon_stop
[ "$(grep -c "DeletePortMapping.* -> 0" "$LAB_TMP/fakegw.log")" = 3 ] ||
    lab_fail "713: SIGTERM did not remove all 3"
no_inbound 40000 lan1 "713 after SIGTERM"
lab_ok "8: a table that cannot be listed: the daemon confirms each mapping by GetSpecificPortMappingEntry, no restart, removes all on SIGTERM"

# --- 1 (daemon). permanent only: kept by checking presence ------------------
fresh_gw --igd 2 --behave perm-725
daemon_start 20 30 false
adds=$(soap_count AddPortMapping)
[ "$adds" = 6 ] || lab_fail "725 daemon: $adds AddPortMapping, want 6 (3 + one retry each)"
g=$(soap_count GetSpecificPortMappingEntry)
lab_wait_for 20 "presence checks" count_ge GetSpecificPortMappingEntry $((g + 3))
[ "$(soap_count AddPortMapping)" = "$adds" ] ||
    lab_fail "725 daemon re-adds permanent mappings: $(soap_count AddPortMapping)"
all_held || lab_fail "725 daemon: not held"
daemon_stop
[ "$(grep -c "DeletePortMapping.* -> 0" "$LAB_TMP/fakegw.log")" = 3 ] ||
    lab_fail "725 daemon: SIGTERM did not remove the permanent mappings"
lab_ok "1 (daemon): permanent mappings kept by checking presence, not re-added; removed on SIGTERM"

# --- 13 (daemon). description blanked: SIGTERM still removes them ----------
fresh_gw --igd 2 --behave blank-desc
daemon_start 120 30 false
daemon_stop
[ "$(grep -c "DeletePortMapping.* -> 0" "$LAB_TMP/fakegw.log")" = 3 ] ||
    lab_fail "13 daemon: SIGTERM did not remove its blanked mappings"
[ -z "$(table)" ] || lab_fail "13 daemon: left [$(table)]"
lab_ok "13 (daemon): mappings whose description the router blanked are removed on SIGTERM"

# --- 15. SSDP quiet while HTTP works -----------------------------------------
fresh_gw --igd 2 --notify-interval 0
daemon_start 120 10 false
kill -USR1 "$LAB_FAKEGW_PID" # SSDP silent from now on
lab_wait_for 20 "the daemon reads the last good URL" \
    grep -q "does not answer SSDP any more" "$LAB_TMP/daemon.log"
c=$(soap_count GetGenericPortMappingEntry)
lab_wait_for 20 "one more check" count_ge GetGenericPortMappingEntry $((c + 1))
all_held || lab_fail "15: mappings not held while SSDP is quiet: $(status_json)"
dlog | grep -qE "router restart|does not answer$" && lab_fail "15: IGD declared gone"
[ "$(soap_count AddPortMapping)" = 3 ] || lab_fail "15: re-created"
daemon_stop
lab_ok "15: SSDP quiet, HTTP working: the last good description URL is reused, mappings kept"

# --- 16. the WAN address changes -> reported on renewal ----------------------
fresh_gw --igd 2 --wan-addr2 203.0.113.99
daemon_start 20 30 false
kill -USR2 "$LAB_FAKEGW_PID"
lab_wait_for 15 "the change reported" \
    grep -q "external address changed from $LAB_WAN_IP to 203.0.113.99" "$LAB_TMP/daemon.log"
status_json | jq -e '.router.external_address_change | test("203.0.113.99")' >/dev/null ||
    lab_fail "16: not in the status: $(status_json | jq -c .router)"
status_json | jq -e '[.devices[].mappings[].external | startswith("203.0.113.99")] | any' >/dev/null ||
    lab_fail "16: status still shows the old address"
daemon_stop
lab_ok "16: a WAN address change on renewal is logged and in the status"

lab_fakegw_stop
lab_done
