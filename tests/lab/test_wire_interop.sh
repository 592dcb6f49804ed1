#!/usr/bin/env bash
# Interoperability of libnatpilot's wire codecs with real servers, through
# the np_wire tool (one request, one decoded answer):
# - STUN (stun.h) against coturn (RFC 5780) and Vovida stund (RFC 3489):
#   XOR-MAPPED / MAPPED-ADDRESS, OTHER-ADDRESS or CHANGED-ADDRESS,
#   RESPONSE-ORIGIN or SOURCE-ADDRESS, CHANGE-REQUEST honoured (the answer
#   comes from where the decoded attributes say), FINGERPRINT verified.
# - PCP (pcp.h) and NAT-PMP (natpmp.h) against miniupnpd 2.3: ANNOUNCE,
#   MAP success with a real inbound packet through the mapping, policy
#   refusal (NOT_AUTHORIZED for port 88), THIRD_PARTY refused
#   (UNSUPP_OPTION, option echoed), nonce matching, deletion, NAT-PMP
#   external address and map, and the section 8.5 epoch check across a
#   router restart.
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
lab_require turnserver stund miniupnpd "$LAB_TOOLS/np_wire"

wire() { # wire ROLE ARGS...: np_wire's line (empty on failure, logged)
    local out
    out=$(lab_in "$1" "$LAB_TOOLS/np_wire" "${@:2}" 2>&1) || true
    echo "    np_wire ${*:2} -> $out" >&2
    echo "$out"
}
f() { lab_field "$1" "$2"; }

STUND_PORT=3480
STUND_ALT_PORT=3481

lab_build -k eim-apdf
lab_coturn_start
lab_bg inet stund stund -h "$LAB_STUN1" -a "$LAB_STUN2" -p "$STUND_PORT" \
    -o "$STUND_ALT_PORT"
STUND_PID=$LAB_LAST_PID
lab_wait_for 10 "stund listening" bash -c \
    "ip netns exec $(lab_ns inet) ss -Hlnu | grep -q '$LAB_STUN2:$STUND_ALT_PORT '"

echo "== STUN: coturn (RFC 5780), from the router (no NAT in between)"
# flags: 0 plain, 2 change port, 4 change IP, 6 both
declare -A want_from=(
    [0]="$LAB_STUN1:$LAB_STUN_PORT" [2]="$LAB_STUN1:$LAB_STUN_ALT_PORT"
    [4]="$LAB_STUN2:$LAB_STUN_PORT" [6]="$LAB_STUN2:$LAB_STUN_ALT_PORT")
for flags in 0 2 4 6; do
    line=$(wire router stun "$LAB_STUN1" "$LAB_STUN_PORT" "$flags")
    lab_check "coturn flags $flags: decoded, our txid" 1 "$(f "$line" txid_ok)"
    lab_check "coturn flags $flags: answer from" "${want_from[$flags]}" "$(f "$line" from)"
    lab_check "coturn flags $flags: RESPONSE-ORIGIN = source" "${want_from[$flags]}" \
        "$(f "$line" origin)"
    lab_check "coturn flags $flags: XOR-MAPPED-ADDRESS ip" "$LAB_PUBLIC_IP" \
        "$(f "$line" xor_mapped | cut -d: -f1)"
    lab_check "coturn flags $flags: MAPPED = XOR-MAPPED" "$(f "$line" xor_mapped)" \
        "$(f "$line" mapped)"
    lab_check "coturn flags $flags: OTHER-ADDRESS" "$LAB_STUN2:$LAB_STUN_ALT_PORT" \
        "$(f "$line" other)"
    lab_check "coturn flags $flags: no unknown attributes" 0 "$(f "$line" unknown)"
done
line=$(wire router stun "$LAB_STUN1" "$LAB_STUN_PORT" 0)
lab_check "coturn plain answer carries a FINGERPRINT (verified)" 1 \
    "$(f "$line" fingerprint)"

echo "== STUN: Vovida stund (RFC 3489 attributes), from the router"
declare -A want_from3489=(
    [0]="$LAB_STUN1:$STUND_PORT" [2]="$LAB_STUN1:$STUND_ALT_PORT"
    [4]="$LAB_STUN2:$STUND_PORT" [6]="$LAB_STUN2:$STUND_ALT_PORT")
for flags in 0 2 4 6; do
    line=$(wire router stun "$LAB_STUN1" "$STUND_PORT" "$flags")
    lab_check "stund flags $flags: decoded, our txid" 1 "$(f "$line" txid_ok)"
    lab_check "stund flags $flags: answer from" "${want_from3489[$flags]}" \
        "$(f "$line" from)"
    lab_check "stund flags $flags: SOURCE-ADDRESS = source" \
        "${want_from3489[$flags]}" "$(f "$line" origin)"
    lab_check "stund flags $flags: MAPPED-ADDRESS ip" "$LAB_PUBLIC_IP" \
        "$(f "$line" mapped | cut -d: -f1)"
    lab_check "stund flags $flags: CHANGED-ADDRESS as other" \
        "$LAB_STUN2:$STUND_ALT_PORT" "$(f "$line" other)"
done
lab_stop_pid "$STUND_PID"

echo "== STUN through the NAT (eim-apdf) from lan1"
line=$(wire lan1 stun "$LAB_STUN1" "$LAB_STUN_PORT" 0)
lab_check "lan1: mapped to the router's public address" "$LAB_PUBLIC_IP" \
    "$(f "$line" xor_mapped | cut -d: -f1)"

echo "== PCP and NAT-PMP: miniupnpd (secure_mode, no third party)"
lab_miniupnpd_start -u no
line=$(wire lan1 pcp-announce "$LAB_GW" "$LAB_LAN1_IP")
lab_check "ANNOUNCE: PCP version 2 answers" "2 SUCCESS" \
    "$(f "$line" version) $(f "$line" result)"
lab_check "ANNOUNCE: from the gateway" "$LAB_GW:5351" "$(f "$line" from)"

line=$(wire lan1 natpmp-public "$LAB_GW")
lab_check "NAT-PMP external address" "SUCCESS $LAB_PUBLIC_IP:0" \
    "$(f "$line" result) $(f "$line" external)"

line=$(wire lan1 pcp-map "$LAB_GW" "$LAB_LAN1_IP" udp 40001 600)
nonce=$(f "$line" nonce)
lab_check "PCP MAP udp 40001: SUCCESS, nonce matches" "SUCCESS 1" \
    "$(f "$line" result) $(f "$line" match)"
lab_check "PCP MAP udp 40001: external" "$LAB_PUBLIC_IP:40001" "$(f "$line" external)"
lab_check "PCP MAP udp 40001: lifetime granted" 600 "$(f "$line" lifetime)"
if lab_inbound udp 40001 lan1 40001 >/dev/null; then got=arrived; else got=lost; fi
lab_check "PCP MAP udp 40001: inbound packet reaches lan1" arrived "$got"

line=$(wire lan1 pcp-map "$LAB_GW" "$LAB_LAN1_IP" udp 88 600)
lab_check "PCP MAP udp 88 (outside 1024-65535): refused" "NOT_AUTHORIZED 1" \
    "$(f "$line" result) $(f "$line" match)"

line=$(wire lan1 pcp-map "$LAB_GW" "$LAB_LAN1_IP" tcp 40002 600 "$LAB_LAN2_IP")
lab_check "PCP MAP THIRD_PARTY for lan2: refused" "UNSUPP_OPTION 1" \
    "$(f "$line" result) $(f "$line" match)"
lab_check "PCP MAP THIRD_PARTY: option echoed" "0x1 $LAB_LAN2_IP:0" \
    "$(f "$line" options) $(f "$line" third_party)"

line=$(wire lan1 natpmp-map "$LAB_GW" tcp 40003 600)
lab_check "NAT-PMP map tcp 40003" "SUCCESS 40003 40003" \
    "$(f "$line" result) $(f "$line" internal_port) $(f "$line" external_port)"
if lab_inbound tcp 40003 lan1 40003 >/dev/null; then got=arrived; else got=lost; fi
lab_check "NAT-PMP map tcp 40003: inbound connection reaches lan1" arrived "$got"

line=$(wire lan1 pcp-map "$LAB_GW" "$LAB_LAN1_IP" udp 40001 0)
lab_check "delete with another nonce is refused (RFC 6887 15)" NOT_AUTHORIZED \
    "$(f "$line" result)"
line=$(NP_WIRE_NONCE=$nonce wire lan1 pcp-map "$LAB_GW" "$LAB_LAN1_IP" udp 40001 0)
lab_check "PCP MAP udp 40001 lifetime 0, same nonce (delete)" "SUCCESS 0 1" \
    "$(f "$line" result) $(f "$line" lifetime) $(f "$line" match)"
if lab_inbound udp 40001 lan1 40001 1000 >/dev/null; then got=arrived; else got=lost; fi
lab_check "after delete: inbound packet no longer forwarded" lost "$got"

echo "== epoch (RFC 6887 8.5) across a miniupnpd restart"
announce_epoch() { # prints "EPOCH CLIENT_TIME"
    local l
    l=$(wire lan1 pcp-announce "$LAB_GW" "$LAB_LAN1_IP")
    echo "$(f "$l" epoch) $(date +%s)"
}
epoch_lost() { # epoch_lost "E1 T1" "E2 T2"
    # shellcheck disable=SC2086
    lab_in lan1 "$LAB_TOOLS/np_wire" epoch $1 $2
}
# With system_uptime=yes (lib.sh's setting, also common on routers) the
# epoch is the host's uptime: a restart of the daemon alone is invisible.
e1=$(announce_epoch)
sleep 2
lab_miniupnpd_restart -u no
e2=$(announce_epoch)
lab_check "system_uptime=yes: daemon restart keeps the epoch" "lost 0" \
    "$(epoch_lost "$e1" "$e2")"
# With system_uptime=no the epoch starts again with the daemon.
own_pid=""
own_start() {
    local pidf="$LAB_TMP/miniupnpd-own.pid"
    rm -f "$pidf"
    lab_in router miniupnpd -4 -f "$LAB_TMP/miniupnpd-own.conf" -P "$pidf" \
        >"$LAB_TMP/miniupnpd-own.log" 2>&1 || lab_fail "miniupnpd did not start"
    lab_wait_for 10 "miniupnpd pid file" test -s "$pidf"
    own_pid=$(cat "$pidf")
    lab_track_pid "$own_pid"
    lab_wait_for 15 "miniupnpd listening on 5351" bash -c \
        "ip netns exec $(lab_ns router) ss -Hlnup | grep -q ':5351 .*miniupnpd'"
}
lab_miniupnpd_stop
sed 's/^system_uptime=.*/system_uptime=no/' "$LAB_TMP/miniupnpd.conf" \
    >"$LAB_TMP/miniupnpd-own.conf"
own_start
e1=$(announce_epoch)
sleep 3
e2=$(announce_epoch)
lab_check "system_uptime=no: epoch consistent while it runs" "lost 0" \
    "$(epoch_lost "$e1" "$e2")"
lab_stop_pid "$own_pid"
sleep 2
own_start
e3=$(announce_epoch)
lab_check "system_uptime=no: restart detected as lost state" "lost 1" \
    "$(epoch_lost "$e2" "$e3")"
lab_stop_pid "$own_pid"

lab_done
