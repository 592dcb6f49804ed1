#!/usr/bin/env bash
# Lab test of the mapping session against the real miniupnpd: one router
# answer has one meaning for `natpilot open` and for the daemon, and the
# mapping store survives a corrupt file.
#  a. lan2 holds TCP 25565; lan1 asks for Minecraft Java (a PC game whose
#     players dial 25565): open and the daemon leave the router in the SAME
#     state (no stand-in 25566 kept by either), for NAT-PMP, PCP and UPnP.
#  b. lan2 holds UDP 3074; an Xbox-platform request: open and the daemon
#     both keep an alternate external port to lan1's 3074, proven by a packet.
#  c. a corrupt mapping store: the message is shown, the corrupt file is
#     kept aside byte for byte, the mapping made is recorded in the new store
#     and close removes it (table as before); the same for the daemon's
#     state file.
set -u
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
lab_require miniupnpd upnpc jq

export NATPILOT_STATE_DIR="$LAB_TMP/state"
N=$NATPILOT
D="$LAB_TMP/sess"
mkdir -p "$D"
CONF="$D/natpilot.conf"
SOCK="$D/status.sock"
STATE="$D/state.json"
DPID=""


lab_on_exit() {
    [ -z "$DPID" ] || kill -KILL "$DPID" 2>/dev/null || true
    if [ "$LAB_FAILED" != 0 ] || [ "${LAB_KEEP_LOGS:-0}" = 1 ]; then
        for f in "$LAB_TMP"/daemon.*.log; do
            [ -e "$f" ] || continue
            echo "---- $f"
            tail -n 40 "$f"
        done
    fi
}

# The router's table, one "PROTO EXT->INT:PORT" a line (descriptions left
# out: open and the daemon label their mappings differently).
table() {
    lab_in lan1 upnpc -i -l 2>/dev/null |
        awk '/^ *[0-9]+ (UDP|TCP) / { print $2, $3 }' | sort
}

# The table's lines for one rule: TRANSPORT, internal port, as
# "EXT->ADDR:PORT" (any external port).
rule_lines() { # PROTO PORT
    table | awk -v p="$1" -v port="$2" \
        'toupper(p) == $1 && $2 ~ (":" port "$") { print $1, $2 }'
}

write_conf() { # PROTOCOL PLATFORM PROFILE
    cat >"$CONF" <<EOF
{
  "lease": 600,
  "verify_interval": 600,
  "log_level": "debug",
  "ssdp_listen": false,
  "protocols": ["$1"],
  "state_file": "$STATE",
  "status_socket": "$SOCK",
  "devices": [
    {"name": "pc", "address": "$LAB_LAN1_IP", "platform": "$2",
     "profiles": ["$3"]}
  ]
}
EOF
}

status_json() {
    "$N" status --json --socket "$SOCK" 2>/dev/null || true
}

# The daemon's entry for PROTO PORT has reached a settled state.
settled() { # PROTO PORT
    status_json | jq -e --arg t "$1" --argjson p "$2" '
        .devices[0].mappings[] | select(.transport == $t and
        .internal_port == $p) | .state == "held" or .state == "refused"' \
        >/dev/null
}

entry() { # PROTO PORT -> the daemon's status entry
    status_json | jq -c --arg t "$1" --argjson p "$2" '
        .devices[0].mappings[] | select(.transport == $t and
        .internal_port == $p)'
}

start_daemon() { # TAG
    lab_bg lan1 "daemon.$1" "$N" daemon --config "$CONF" --foreground
    DPID=$LAB_LAST_PID
}

stop_daemon() {
    local rc=0
    kill -TERM "$DPID" 2>/dev/null || return 0
    wait "$DPID" || rc=$?
    DPID=""
    return "$rc"
}

echo "== lab: miniupnpd with UPnP, NAT-PMP and PCP"
lab_build
lab_coturn_start
lab_miniupnpd_start -u yes -n yes

echo "== a. TCP 25565 held by lan2, Minecraft Java on lan1"
lab_in lan2 upnpc -i -e "lan2 server" -a "$LAB_LAN2_IP" 25565 25565 TCP 3600 \
    >/dev/null 2>&1 || lab_fail "upnpc on lan2 could not map 25565"
before=$(table)
for via in natpmp pcp upnp; do
    rc=0
    lab_in lan1 "$N" open --via $via --platform pc --json minecraft-java \
        >"$D/mc.$via.json" 2>"$D/mc.$via.err" || rc=$?
    after_open=$(rule_lines tcp 25565)
    st=$(jq -r '.rules[0] | "\(.status) \(.holder // "-")"' "$D/mc.$via.json")
    if [ "$rc" = 1 ] && [ "$st" = "conflict $LAB_LAN2_IP" ]; then
        lab_ok "$via: open reports a conflict held by lan2, exit 1"
    else
        lab_bad "$via: open: exit $rc, $(cat "$D/mc.$via.json" "$D/mc.$via.err")"
    fi
    [ "$(table)" = "$before" ] && lab_ok "$via: open left the table as before" ||
        lab_bad "$via: open changed the table: $(table)"
    lab_in lan1 "$N" close --via $via --platform pc minecraft-java \
        >/dev/null 2>&1 || true
    write_conf $via pc minecraft-java
    rm -f "$STATE"
    start_daemon "mc.$via"
    lab_wait_for 20 "daemon settled on tcp 25565" settled tcp 25565
    after_daemon=$(rule_lines tcp 25565)
    e=$(entry tcp 25565)
    [ "$(jq -r '"\(.state) \(.holder)"' <<<"$e")" = "refused $LAB_LAN2_IP" ] &&
        lab_ok "$via: daemon: refused, held by lan2 ($(jq -r .last_error <<<"$e" | cut -c1-80))" ||
        lab_bad "$via: daemon: $e"
    if [ "$after_open" = "$after_daemon" ] && [ "$(table)" = "$before" ]; then
        lab_ok "$via: open and daemon leave the same router state [$after_daemon]"
    else
        lab_bad "$via: open left [$after_open], the daemon [$after_daemon]"
    fi
    stop_daemon || lab_bad "$via: daemon stop failed"
    [ "$(table)" = "$before" ] || lab_bad "$via: table after the daemon: $(table)"
done
lab_in lan2 upnpc -i -d 25565 TCP >/dev/null 2>&1 ||
    lab_fail "upnpc on lan2 could not remove its 25565"

echo "== b. UDP 3074 held by lan2, an Xbox-platform request on lan1"
lab_in lan2 upnpc -i -e "lan2 xbox" -a "$LAB_LAN2_IP" 3074 3074 UDP 3600 \
    >/dev/null 2>&1 || lab_fail "upnpc on lan2 could not map 3074"
before=$(table)
for via in natpmp pcp upnp; do
    rc=0
    lab_in lan1 "$N" open --via $via --platform xbox --json xbox-network \
        >"$D/xb.$via.json" 2>"$D/xb.$via.err" || rc=$?
    alt=$(jq -r '.rules[] | select(.protocol == "udp" and .port == 3074) |
        .alternate_external_port // empty' "$D/xb.$via.json")
    if [ "$rc" = 0 ] && [ -n "$alt" ] && [ "$alt" != 3074 ] &&
        lab_inbound udp "$alt" lan1 3074 >/dev/null; then
        lab_ok "$via: open keeps alternate external port $alt, proven"
    else
        lab_bad "$via: open: exit $rc, alt '$alt': $(cat "$D/xb.$via.json")"
    fi
    open_lines=$(rule_lines udp 3074 | grep -c "$LAB_LAN1_IP:3074" || true)
    lab_in lan1 "$N" close --via $via --platform xbox xbox-network \
        >/dev/null 2>&1 || lab_bad "$via: close after open failed"
    [ "$(table)" = "$before" ] || lab_bad "$via: close left $(table)"
    write_conf $via xbox xbox-network
    rm -f "$STATE"
    start_daemon "xb.$via"
    lab_wait_for 20 "daemon settled on udp 3074" settled udp 3074
    e=$(entry udp 3074)
    dext=$(jq -r '.external | split(":") | .[-1]' <<<"$e")
    if [ "$(jq -r .state <<<"$e")" = held ] && [ -n "$dext" ] &&
        [ "$dext" != 3074 ] && lab_inbound udp "$dext" lan1 3074 >/dev/null; then
        lab_ok "$via: daemon keeps alternate external port $dext, proven"
    else
        lab_bad "$via: daemon: $e"
    fi
    daemon_lines=$(rule_lines udp 3074 | grep -c "$LAB_LAN1_IP:3074" || true)
    [ "$open_lines" = 1 ] && [ "$daemon_lines" = 1 ] &&
        lab_ok "$via: open and daemon each held one alternate mapping to lan1:3074" ||
        lab_bad "$via: open held $open_lines, the daemon $daemon_lines"
    stop_daemon || lab_bad "$via: daemon stop failed"
    [ "$(table)" = "$before" ] || lab_bad "$via: table after the daemon: $(table)"
done
lab_in lan2 upnpc -i -d 3074 UDP >/dev/null 2>&1 || true

echo "== c. a corrupt mapping store"
before=$(table)
mkdir -p "$NATPILOT_STATE_DIR"
printf '{"version":2,"mappings":[{"owner":"cli",\001 cut here' \
    >"$NATPILOT_STATE_DIR/mappings.json"
cp "$NATPILOT_STATE_DIR/mappings.json" "$D/corrupt.copy"
rc=0
lab_in lan1 "$N" open --via pcp --port udp:3090 --json >"$D/c.json" \
    2>"$D/c.err" || rc=$?
aside=$(ls "$NATPILOT_STATE_DIR"/mappings.json.corrupt-* 2>/dev/null | head -1)
[ "$rc" = 0 ] && lab_ok "open with a corrupt store maps (exit 0)" ||
    lab_bad "open with a corrupt store: exit $rc $(cat "$D/c.err")"
grep -q "kept as $aside" "$D/c.err" && [ -n "$aside" ] &&
    lab_ok "the message is shown: $(cut -c1-100 "$D/c.err")" ||
    lab_bad "no message: $(cat "$D/c.err")"
[ -n "$aside" ] && cmp -s "$aside" "$D/corrupt.copy" &&
    lab_ok "the corrupt store is kept aside byte for byte" ||
    lab_bad "the corrupt store is not kept: '$aside'"
[ "$(jq -r '.store_warning != null' "$D/c.json")" = true ] ||
    lab_bad "--json does not carry the store warning"
[ "$(jq '[.mappings[] | select(.internal_port == 3090 and
    .protocol == "pcp" and (.nonce | length) == 24)] | length' \
    "$NATPILOT_STATE_DIR/mappings.json")" = 1 ] &&
    lab_ok "the new store records the mapping with its nonce" ||
    lab_bad "new store: $(cat "$NATPILOT_STATE_DIR/mappings.json")"
[ "$(stat -c %a "$NATPILOT_STATE_DIR/mappings.json")" = 600 ] ||
    lab_bad "the store's mode is $(stat -c %a "$NATPILOT_STATE_DIR/mappings.json")"
rc=0
lab_in lan1 "$N" close --via pcp --port udp:3090 --json >"$D/cc.json" \
    2>&1 || rc=$?
[ "$rc" = 0 ] && [ "$(jq -r .removed "$D/cc.json")" = 1 ] &&
    [ "$(table)" = "$before" ] &&
    lab_ok "close removes it with the recorded nonce; table as before" ||
    lab_bad "close: exit $rc $(cat "$D/cc.json"); table $(table)"
cmp -s "$aside" "$D/corrupt.copy" || lab_bad "the aside file changed"

# The daemon's state file, corrupt: said in the log, kept aside, and the
# daemon starts and maps.
printf 'not json at all' >"$STATE"
cp "$STATE" "$D/state.copy"
cat >"$CONF" <<EOF
{
  "lease": 600, "verify_interval": 600, "log_level": "debug",
  "ssdp_listen": false, "protocols": ["pcp"],
  "state_file": "$STATE", "status_socket": "$SOCK",
  "devices": [{"name": "pc", "address": "$LAB_LAN1_IP", "platform": "xbox",
               "profiles": ["xbox-network"]}]
}
EOF
start_daemon corrupt
lab_wait_for 20 "daemon settled on udp 3074" settled udp 3074
saside=$(ls "$STATE".corrupt-* 2>/dev/null | head -1)
[ -n "$saside" ] && cmp -s "$saside" "$D/state.copy" &&
    grep -q "kept as $saside" "$LAB_TMP/daemon.corrupt.log" &&
    lab_ok "daemon: corrupt state file said in the log and kept aside" ||
    lab_bad "daemon: aside '$saside': $(tail -5 "$LAB_TMP/daemon.corrupt.log")"
[ "$(jq '.mappings | length' "$STATE")" -ge 1 ] &&
    lab_ok "daemon: the new state file records its mappings" ||
    lab_bad "daemon state: $(cat "$STATE")"
stop_daemon || lab_bad "daemon stop failed"
[ ! -e "$STATE" ] || lab_bad "state file left after a clean stop"

lab_done
