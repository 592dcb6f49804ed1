#!/usr/bin/env bash
# Issue 11, "Truth": a result natpilot cannot back must never look like a
# good one. Against the real coturn and miniupnpd in the namespace lab:
#  1. verify with a working mapping: proven from outside, exit 0 (control)
#  2. verify where the router drops all forwarded UDP: exit 1, one sentence
#     that UDP does not get out (not "inconclusive" and exit 0)
#  3. verify against coturn without an alternate address (no RFC 5780):
#     inconclusive and exit 0, never "unreachable ... a second NAT"
#  4. diagnose against a server that answers STUN over TCP but whose UDP is
#     dropped on its host, on a network where UDP works: "unknown", not
#     "blocked"/Xbox "Unavailable"; a second server's UDP answer: "ok"
#  5. diagnose against a server whose host rejects UDP (ICMP port
#     unreachable): "server-no-udp"
#  6. diagnose with UDP blocked by the router and two server addresses
#     silent over UDP while TCP answers: "blocked"
#  7. behaviour 14: a daemon device named "Tom & Ana" maps through the real
#     miniupnpd with the '&' escaped in the SOAP body (miniupnpd 2.3.1
#     stores the raw element text, so its table shows what was sent)
#  8-10. a scripted gateway (tests/lab/tools/np_badpmp.c; no packaged
#     server misbehaves so): a 2-byte NAT-PMP answer to the external-address
#     request (libnatpmp's natpmpc reads 0.0.0.0; natpilot names the peer
#     and the byte, and claims no double NAT), a PCP version 1 server (not
#     "none of PCP"), a PCP SUCCESS with external address 0.0.0.0 (not
#     mapped, never shown), UNSUPP_OPTION without THIRD_PARTY
# 11. verify against a gateway that grants NAT-PMP mappings and forwards
#     nothing: the control answer comes in, the mapped port's does not:
#     not-inbound, exit 1
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
lab_require turnserver miniupnpd upnpc natpmpc jq nft "$NATPILOT"

export NATPILOT_STATE_DIR="$LAB_TMP/state"
DPID=""
lab_on_exit() {
    [ -z "$DPID" ] || kill -KILL "$DPID" 2>/dev/null || true
}

# wait_soft SECONDS CMD...: poll CMD every 200 ms; 1 when it never succeeds.
wait_soft() {
    local end=$(($(lab_now_ms) + $1 * 1000))
    shift
    until "$@"; do
        [ "$(lab_now_ms)" -lt "$end" ] || return 1
        sleep 0.2
    done
}

# inet_rule RULE...: one rule in this test's own table in inet.
inet_rule() {
    lab_in inet nft add table inet nptruth 2>/dev/null || true
    lab_in inet nft add chain inet nptruth input \
        '{ type filter hook input priority -10; policy accept; }' 2>/dev/null || true
    lab_in inet nft add rule inet nptruth input "$@"
}

# nprun OUT ARGS...: natpilot in lan1, stdout to OUT, exit code echoed.
nprun() {
    local out=$1 rc=0
    shift
    lab_in lan1 timeout 60 "$NATPILOT" "$@" >"$out" 2>"$out.err" || rc=$?
    echo "$rc"
}

# coturn with one listening port only: no --alt-listening-port, so no
# OTHER-ADDRESS (not an RFC 5780 server).
coturn_no5780() {
    mkdir -p "$LAB_TMP/coturn1"
    lab_bg inet coturn1 turnserver -n --stun-only --no-cli --no-tls --no-dtls \
        --listening-ip "$LAB_STUN1" --listening-port "$LAB_STUN_PORT" \
        --log-file "$LAB_TMP/coturn1/turn.log" --simple-log \
        --pidfile "$LAB_TMP/coturn1/turn.pid" --db "$LAB_TMP/coturn1/turndb" \
        --no-software-attribute
    LAB_COTURN_PID=$LAB_LAST_PID
    lab_wait_for 10 "coturn (one port) listening" \
        sh -c "ip netns exec $(lab_ns inet) ss -Hlnu | grep -q '$LAB_STUN1:$LAB_STUN_PORT '"
}

STUN="$LAB_STUN1:$LAB_STUN_PORT"

echo "== 1. verify, working mapping (control)"
lab_build -k eim-apdf
lab_coturn_start
lab_miniupnpd_start -u yes -n no
rc=$(nprun "$LAB_TMP/open1.json" open --via upnp --port udp:40000 --json)
[ "$rc" = 0 ] || lab_bad "open exit $rc: $(cat "$LAB_TMP/open1.json.err")"
rc=$(nprun "$LAB_TMP/v1.json" verify --via upnp --port udp:40000 --stun "$STUN" --json)
r=$(jq -r '.rules[0].reachability' "$LAB_TMP/v1.json")
[ "$rc" = 0 ] && [ "$r" = reachable ] && lab_ok "proven from outside, exit 0" ||
    lab_bad "exit $rc, reachability $r"

echo "== 3. verify against a server without RFC 5780 (coturn, one port)"
lab_coturn_stop
coturn_no5780
rc=$(nprun "$LAB_TMP/v3.json" verify --via upnp --port udp:40000 --stun "$STUN" --json)
r=$(jq -r '.rules[0].reachability + " " + .rules[0].reachability_reason + " " + .rules[0].status' "$LAB_TMP/v3.json")
echo "     $r; exit $rc"
case $r in
inconclusive\ no-rfc5780\ mapped | inconclusive\ change-refused\ mapped)
    [ "$rc" = 0 ] && lab_ok "inconclusive, exit 0 (not unreachable)" || lab_bad "exit $rc" ;;
*) lab_bad "expected inconclusive/mapped, got: $r" ;;
esac
rc=$(nprun "$LAB_TMP/v3.txt" verify --via upnp --port udp:40000 --stun "$STUN")
if grep -q "second NAT" "$LAB_TMP/v3.txt"; then
    lab_bad "text blames a second NAT: $(cat "$LAB_TMP/v3.txt")"
else
    lab_ok "text does not blame a second NAT"
fi
lab_stop_pid "$LAB_COTURN_PID"
LAB_COTURN_PID=""

echo "== 2. verify where the router drops forwarded UDP"
lab_build -k udp-blocked
lab_coturn_start
lab_miniupnpd_start -u yes -n no
rc=$(nprun "$LAB_TMP/open2.json" open --via upnp --port udp:40000 --json)
[ "$rc" = 0 ] || lab_bad "open exit $rc: $(cat "$LAB_TMP/open2.json.err")"
rc=$(nprun "$LAB_TMP/v2.json" verify --via upnp --port udp:40000 --stun "$STUN" --json)
r=$(jq -r '.rules[0].reachability + " " + .rules[0].status' "$LAB_TMP/v2.json")
[ "$rc" = 1 ] && [ "$r" = "udp-blocked unreachable" ] &&
    lab_ok "exit 1, reachability udp-blocked" || lab_bad "exit $rc, $r"
rc=$(nprun "$LAB_TMP/v2.txt" verify --via upnp --port udp:40000 --stun "$STUN")
sed 's/^/     | /' "$LAB_TMP/v2.txt"
grep -q "UDP does not get out" "$LAB_TMP/v2.txt" && [ "$rc" = 1 ] &&
    lab_ok "text says UDP does not get out, exit 1" || lab_bad "text/exit $rc"
grep -q "inconclusive" "$LAB_TMP/v2.txt" && lab_bad "text says inconclusive"

echo "== 6. diagnose, UDP blocked, two server addresses silent over UDP"
rc=$(nprun "$LAB_TMP/d6.json" diagnose --stun "$STUN" \
    --stun "$LAB_STUN2:$LAB_STUN_PORT" --json)
r=$(jq -r '.nat.udp + " " + .labels.xbox' "$LAB_TMP/d6.json")
[ "$r" = "blocked Unavailable" ] && lab_ok "blocked with two servers (exit $rc)" ||
    lab_bad "expected blocked, got $r"
rc=$(nprun "$LAB_TMP/d6b.json" diagnose --stun "$STUN" --json)
r=$(jq -r '.nat.udp + " " + .nat.confidence' "$LAB_TMP/d6b.json")
[ "$r" = "unknown low" ] && lab_ok "one server only: unknown, low confidence" ||
    lab_bad "one server: expected unknown low, got $r"

echo "== 4. diagnose, a server that answers TCP but drops UDP on its host"
lab_build -k eim-apdf
lab_coturn_start
inet_rule ip daddr "$LAB_STUN1" udp dport "$LAB_STUN_PORT" drop
rc=$(nprun "$LAB_TMP/d4.json" diagnose --stun "$STUN" --json)
r=$(jq -r '.nat.udp + " " + .labels.xbox + " " + .nat.confidence' "$LAB_TMP/d4.json")
jq -r '.reason // empty' "$LAB_TMP/d4.json" | sed 's/^/     | /'
[ "$r" = "unknown Unknown low" ] && lab_ok "unknown, not blocked (exit $rc)" ||
    lab_bad "expected unknown, got $r"
rc=$(nprun "$LAB_TMP/d4b.json" diagnose --stun "$STUN" \
    --stun "$LAB_STUN2:$LAB_STUN_PORT" --json)
r=$(jq -r '.nat.udp' "$LAB_TMP/d4b.json")
[ "$r" = ok ] && lab_ok "a second server's UDP answer: ok" || lab_bad "expected ok, got $r"

echo "== 5. diagnose, the server's host rejects UDP (ICMP port unreachable)"
lab_in inet nft flush chain inet nptruth input
inet_rule ip daddr "$LAB_STUN1" udp dport "$LAB_STUN_PORT" reject
t0=$(lab_now_ms)
rc=$(nprun "$LAB_TMP/d5.json" diagnose --stun "$STUN" --json)
t1=$(lab_now_ms)
r=$(jq -r '.nat.udp' "$LAB_TMP/d5.json")
[ "$r" = server-no-udp ] && lab_ok "server-no-udp in $((t1 - t0)) ms (exit $rc)" ||
    lab_bad "expected server-no-udp, got $r"
lab_in inet nft delete table inet nptruth

echo "== 7. a daemon device named \"Tom & Ana\" (miniupnpd, UPnP)"
lab_miniupnpd_start -S no -u yes -n no
# miniupnpd 2.3.1 stores a description as the raw text of the SOAP
# element, entities and all, which shows what went over the wire. The
# control: miniupnpc's upnpc sends the '&' unescaped (miniupnpd 2.3.1 takes
# it, a strict XML parser answers 402).
lab_in lan1 upnpc -i -e 'Tom & Ana' -a "$LAB_LAN1_IP" 41000 41000 UDP >/dev/null 2>&1 || true
if lab_in lan1 upnpc -i -l 2>/dev/null | grep -q "41000.*'Tom & Ana'"; then
    lab_ok "control: upnpc put a bare '&' on the wire"
else
    lab_bad "control: upnpc's entry not found as 'Tom & Ana'"
fi
lab_in lan1 upnpc -i -d 41000 UDP >/dev/null 2>&1 || true
D="$LAB_TMP/daemon"
mkdir -p "$D"
printf '{\n  "lease": 120, "verify_interval": 30, "protocols": ["upnp"],
  "ssdp_listen": false,
  "state_file": "%s", "status_socket": "%s", "profiles_dir": "%s",
  "devices": [ {"name": "Tom & Ana", "address": "%s", "profiles": ["lab-game"]} ]
}\n' "$D/state.json" "$D/status.sock" \
    "$NP_SOURCE_DIR/tests/lab/data/daemon/profiles" "$LAB_LAN1_IP" >"$D/natpilot.conf"
lab_bg lan1 daemon "$NATPILOT" daemon --config "$D/natpilot.conf" --foreground
DPID=$LAB_LAST_PID
held() {
    "$NATPILOT" status --json --socket "$D/status.sock" 2>/dev/null |
        jq -e '[.devices[].mappings[]] | length > 0 and all(.state == "held")' \
            >/dev/null 2>&1
}
if wait_soft 20 held; then
    lab_ok "every mapping of \"Tom & Ana\" held via UPnP"
else
    lab_bad "not held: $(tail -n 5 "$LAB_TMP/daemon.log")"
fi
tab=$(lab_in lan1 upnpc -i -l 2>/dev/null | grep "natpilot:" || true)
sed 's/^/     | /' <<<"$tab"
grep -q "'natpilot:Tom &amp; Ana'" <<<"$tab" &&
    lab_ok "natpilot's SOAP body carried \"Tom &amp; Ana\" (escaped)" ||
    lab_bad "no escaped \"Tom &amp; Ana\" entry in the table"
grep -q "'natpilot:Tom & Ana'" <<<"$tab" && lab_bad "a bare '&' went over the wire"
if grep -Eq "error 402|402 Invalid" "$LAB_TMP/daemon.log"; then
    lab_bad "the daemon got a 402"
    grep -E "error 402|402 Invalid" "$LAB_TMP/daemon.log" | head -n 5 | sed 's/^/     | /'
fi
lab_stop_pid "$DPID"
DPID=""

# badgw MODE: the scripted gateway on the router's LAN address, port 5351.
BADPID=""
badgw() {
    [ -z "$BADPID" ] || lab_stop_pid "$BADPID"
    rm -f "$LAB_TMP/bad.ready"
    lab_bg router badpmp "$LAB_TOOLS/np_badpmp" -a "$LAB_GW" -m "$1" \
        -r "$LAB_TMP/bad.ready"
    BADPID=$LAB_LAST_PID
    lab_wait_for 5 "np_badpmp $1" test -e "$LAB_TMP/bad.ready"
}

echo "== 8. NAT-PMP: a 2-byte answer to the external-address request"
lab_build -k eim-apdf
lab_coturn_start
badgw natpmp-short
# the control, a real client: libnatpmp does not check the length
out=$(lab_in lan1 timeout 10 natpmpc -g "$LAB_GW" 2>&1 || true)
# (it reads bytes that never came: 0.0.0.0 or garbage, whatever was there)
grep -q "readnatpmpresponseorretry returned 0 (OK)" <<<"$out" &&
    grep -q "Public IP address : [0-9]" <<<"$out" &&
    lab_ok "control: natpmpc (libnatpmp) accepts the 2 bytes: $(grep 'Public IP' <<<"$out")" ||
    lab_bad "control: natpmpc said: $(head -n 5 <<<"$out")"
rc=$(nprun "$LAB_TMP/d8.json" diagnose --stun "$STUN" --json)
r=$(jq -c '[.router.natpmp, .router.external_address, .router.double_nat]' "$LAB_TMP/d8.json")
[ "$r" = "[true,null,null]" ] &&
    lab_ok "diagnose: NAT-PMP answered, no external address, no double-NAT claim" ||
    lab_bad "diagnose router: $r"
jq -r '.router.note' "$LAB_TMP/d8.json" | grep -q "$LAB_GW:5351, byte 2" &&
    lab_ok "the note names the peer and the byte: $(jq -r '.router.note' "$LAB_TMP/d8.json")" ||
    lab_bad "note: $(jq -r '.router.note' "$LAB_TMP/d8.json")"
rc=$(nprun "$LAB_TMP/d8.txt" diagnose --stun "$STUN")
grep -q "0\.0\.0\.0" "$LAB_TMP/d8.txt" && lab_bad "0.0.0.0 shown: $(grep 0.0.0.0 "$LAB_TMP/d8.txt")"
grep -qi "double NAT" "$LAB_TMP/d8.txt" && lab_bad "text claims a double NAT"

echo "== 8b. NAT-PMP: external address 0.0.0.0"
badgw natpmp-zero
rc=$(nprun "$LAB_TMP/d8b.json" diagnose --stun "$STUN" --json)
r=$(jq -c '[.router.natpmp, .router.external_address, .router.double_nat]' "$LAB_TMP/d8b.json")
[ "$r" = "[true,null,null]" ] &&
    lab_ok "0.0.0.0 is not the public address, and no double NAT" || lab_bad "router: $r"
rc=$(nprun "$LAB_TMP/d8b.txt" diagnose --stun "$STUN")
grep -q "does not know its public address" "$LAB_TMP/d8b.txt" &&
    lab_ok "text: the router does not know its public address" ||
    lab_bad "text: $(grep -i external "$LAB_TMP/d8b.txt")"

echo "== 9. PCP: UNSUPP_VERSION from a version 1 server"
badgw pcp-v1
rc=$(nprun "$LAB_TMP/o9.txt" open --via pcp --port udp:40000)
cat "$LAB_TMP/o9.txt" "$LAB_TMP/o9.txt.err" | sed 's/^/     | /'
grep -q "only version 1" "$LAB_TMP/o9.txt" "$LAB_TMP/o9.txt.err" &&
    lab_ok "says the router speaks PCP version 1 only (exit $rc)" ||
    lab_bad "no 'only version 1' (exit $rc)"
grep -q "none of PCP" "$LAB_TMP/o9.txt" "$LAB_TMP/o9.txt.err" &&
    lab_bad "says 'none of PCP'"

echo "== 10. PCP: SUCCESS with external address 0.0.0.0"
badgw pcp-zero-ext
rc=$(nprun "$LAB_TMP/o10.json" open --via pcp --port udp:40000 --json)
r=$(jq -r '.rules[0].status // "?"' "$LAB_TMP/o10.json" 2>/dev/null)
jq -c '.rules[0]' "$LAB_TMP/o10.json" 2>/dev/null | sed 's/^/     | /'
[ "$rc" != 0 ] && [ "$r" != mapped ] && ! grep -q '0\.0\.0\.0:40000\|\[::\]:40000' "$LAB_TMP/o10.json" &&
    lab_ok "not mapped, 0.0.0.0 not shown (exit $rc, status $r)" ||
    lab_bad "exit $rc, status $r"
echo "== 10b. PCP: UNSUPP_OPTION on a request without THIRD_PARTY"
badgw pcp-option
rc=$(nprun "$LAB_TMP/o10b.json" open --via pcp --port udp:40000 --json)
r=$(jq -r '.rules[0].outcome + " | " + .rules[0].message' "$LAB_TMP/o10b.json" 2>/dev/null)
echo "     $r"
case $r in
third-party*) lab_bad "blamed on THIRD_PARTY: $r" ;;
*THIRD_PARTY*) lab_bad "message names THIRD_PARTY: $r" ;;
"unsupported | "*) lab_ok "unsupported, not a third-party refusal (exit $rc)" ;;
*) lab_bad "unexpected: $r" ;;
esac

echo "== 11. verify: a router that reports mappings it does not make"
lab_stop_pid "$BADPID"
lab_bg router badpmp "$LAB_TOOLS/np_badpmp" -a "$LAB_GW" -m natpmp-liar \
    -e "$LAB_WAN_IP" -r "$LAB_TMP/bad2.ready"
BADPID=$LAB_LAST_PID
lab_wait_for 5 "np_badpmp natpmp-liar" test -e "$LAB_TMP/bad2.ready"
rc=$(nprun "$LAB_TMP/o11.json" open --via natpmp --port udp:40002 --json)
[ "$rc" = 0 ] || lab_bad "open via the liar: exit $rc"
rc=$(nprun "$LAB_TMP/v11.json" verify --via natpmp --port udp:40002 --stun "$STUN" --json)
r=$(jq -r '.rules[0].status + " " + .rules[0].reachability + " " + .rules[0].reachability_reason' "$LAB_TMP/v11.json")
[ "$rc" = 1 ] && [ "$r" = "unreachable not-reachable not-inbound" ] &&
    lab_ok "exit 1: the control came in, the mapped port did not (not-inbound)" ||
    lab_bad "exit $rc, $r"
lab_stop_pid "$BADPID"

lab_done
