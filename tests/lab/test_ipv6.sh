#!/usr/bin/env bash
# natpilot and IPv6 in the namespace lab (issue 13), with real packets
# (and a real Teredo server, miredo-server, for the Xbox's Teredo outlook):
#   diagnose's IPv6 side on each topology (dual stack with public IPv4;
#   IPv4 behind carrier-grade NAT with native IPv6, the DS-Lite situation;
#   an IPv6 firewall that filters address-dependently; an open one; NAT66;
#   IPv6 blocked; no IPv6 at all), the router's pinhole support, and the
#   firewall's behaviour proven by an inbound IPv6 packet from the
#   simulated internet.
# Every field is asserted with jq, with a diff on failure.
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
lab_require turnserver miniupnpd miredo-server jq "$NATPILOT" "$LAB_TOOLS/np_pkt6"

EI=endpoint-independent
AD=address-dependent
APD=address-and-port-dependent
OUT=""

fail() { lab_bad "$*"; }

# diag NAME [ARGS...]: natpilot diagnose --json in lan1 against both
# coturns; the answer in $OUT, the exit code in $RC, the wall time in $MS.
diag() {
    local name=$1 t0
    shift
    RC=0
    t0=$(lab_now_ms)
    OUT=$(lab_in lan1 timeout 60 "$NATPILOT" diagnose \
        --stun "$LAB_STUN1:$LAB_STUN_PORT" \
        --stun6 "[$LAB_STUN6_1]:$LAB_STUN_PORT" --json "$@" \
        2>"$LAB_TMP/diag.err") || RC=$?
    MS=$(($(lab_now_ms) - t0))
    echo "-- $name: exit $RC, wall $MS ms, elapsed_ms $(jq -r '.elapsed_ms // "?"' <<<"$OUT" 2>/dev/null), ipv6 elapsed_ms $(jq -r '.ipv6.elapsed_ms // "-"' <<<"$OUT" 2>/dev/null)"
    jq -e 'type=="object" and (.ipv6|type=="object")' >/dev/null 2>&1 <<<"$OUT" || {
        fail "no JSON object with an ipv6 key:"
        head -20 <<<"$OUT" | sed 's/^/     | /'
        sed 's/^/     stderr| /' "$LAB_TMP/diag.err" | head -10
        OUT='{"ipv6":{}}'
    }
}

# expect "jq-path=json-value;..." against $OUT.
expect() {
    local -a entries
    local w path want got bad=0
    IFS=';' read -r -a entries <<<"$1"
    for w in "${entries[@]}"; do
        path=${w%%=*}
        want=${w#*=}
        got=$(jq -c "$path" <<<"$OUT" 2>&1) || true
        if [ "$got" != "$want" ]; then
            printf '   FAIL %-34s - %s\n        %-34s + %s\n' "$path" "$want" "" "$got"
            bad=1
        fi
    done
    if [ "$bad" = 0 ]; then
        lab_ok "$(jq -c 'if (.ipv6|type)=="object" then .ipv6 | [.state,.nat,.udp,.mapping,.filtering,.labels.generic,.labels.xbox,.pinholes.available] else [.pinholes[]? | [.transport,.port,.status,.protocol]] end' <<<"$OUT")"
    else
        LAB_FAILED=$((LAB_FAILED + 1))
        jq -c '.ipv6' <<<"$OUT" | sed 's/^/     /'
    fi
}

# The contract of the ipv6 key, whatever the case.
shape() {
    local chk
    for chk in \
        '(.ipv6.state|IN("no-address","no-route","not-tested","no-answer","udp-blocked","udp-unknown","ok"))' \
        '(.ipv6.nat|IN("unknown","none","nat66"))' \
        '(.ipv6.udp|IN("ok","blocked","no-answer","unknown","server-no-udp","untested"))' \
        '(.ipv6.filtering|IN("endpoint-independent","address-dependent","address-and-port-dependent","unknown"))' \
        '(.ipv6.labels.generic|IN("open","moderate","strict","blocked","unknown"))' \
        '(.ipv6.reason|type=="string" and length>0)' \
        '(.ipv6.advice|type=="string" and length>0)' \
        '(.ipv6.pinholes.asked|type=="boolean")'; do
        [ "$(jq "$chk" <<<"$OUT" 2>&1)" = true ] || fail "contract $chk"
    done
}

# inbound_blocked ROLE PORT: an unsolicited IPv6 packet from the internet
# to ROLE:PORT must not arrive (the firewall filters).
inbound_blocked() {
    if lab_inbound6 udp "$1" "$2" 700 >/dev/null; then
        fail "unsolicited inbound IPv6 UDP reached $1 port $2"
    else
        lab_ok "unsolicited inbound IPv6 to $1:$2 dropped"
    fi
}

ok_apdf=".ipv6.state=\"ok\";.ipv6.nat=\"none\";.ipv6.udp=\"ok\";.ipv6.mapping=\"$EI\";.ipv6.filtering=\"$APD\";.ipv6.labels.generic=\"moderate\";.ipv6.address=\"$LAB_LAN1_IP6\";.ipv6.default_route=true;.ipv6.server.rfc5780=\"ok\""
pinholes_yes=".ipv6.pinholes.asked=true;.ipv6.pinholes.available=true;.ipv6.pinholes.upnp.firewall_control=true;.ipv6.pinholes.upnp.inbound_pinhole_allowed=true;.ipv6.pinholes.pcp.answered=true;.ipv6.pinholes.pcp.result=0"

echo "== dual stack, public IPv4 (NAT eim-apdf), IPv6 stateful firewall"
lab_build -k eim-apdf -6 apdf
lab_coturn_start
lab_coturn6_start
lab_miniupnpd_start
diag "dual stack"
shape
expect "$ok_apdf;$pinholes_yes;.labels.generic=\"moderate\";.nat.filtering=\"$APD\";.ipv6.plan.applies=false;.teredo.native_ipv6=true"
inbound_blocked lan1 4100
# Without --stun6 and with an IPv4 literal as --stun, IPv6 is not tested
# but still reported (address, route).
OUT=$(lab_in lan1 "$NATPILOT" diagnose --stun "$LAB_STUN1:$LAB_STUN_PORT" \
    --no-router --json 2>/dev/null) || true
expect '.ipv6.state="not-tested";.ipv6.pinholes.asked=false'
OUT=$(lab_in lan1 "$NATPILOT" diagnose --stun "$LAB_STUN1:$LAB_STUN_PORT" \
    --no-ipv6 --no-router --json 2>/dev/null) || true
[ "$(jq -c 'has("ipv6")' <<<"$OUT")" = false ] || fail "--no-ipv6 still reports ipv6"
# The text output has its IPv6 section.
text=$(lab_in lan1 "$NATPILOT" diagnose --stun "$LAB_STUN1:$LAB_STUN_PORT" \
    --stun6 "[$LAB_STUN6_1]:$LAB_STUN_PORT" 2>/dev/null) || true
if grep -q "^  Pinholes          available" <<<"$text" &&
    grep -q "^  Filtering         address-and-port-dependent" <<<"$text"; then
    lab_ok "text output: IPv6 section with pinholes"
else
    fail "text output lacks the IPv6 pinhole line"
fi

echo "== pinholes for this host: UPnP IGDv2 (preferred)"
np6() { lab_in lan1 env NATPILOT_STATE_DIR="$LAB_TMP/state" "$NATPILOT" "$@"; }
OUT=$(np6 open --ipv6 --port udp:3074 --port tcp:3075 --json) || fail "open --ipv6 exit $?"
expect ".pinholes[0].status=\"open\";.pinholes[0].protocol=\"upnp\";.pinholes[1].status=\"open\";.pinholes[1].protocol=\"upnp\";.opened=2;.router.upnp_firewall_control=true"
uid=$(jq -r '.pinholes[0].uid' <<<"$OUT")
inbound_arrives() {
    if lab_inbound6 "$1" lan1 "$2" 2000 >/dev/null; then
        lab_ok "inbound IPv6 $1 $2 arrives through the pinhole"
    else
        fail "inbound IPv6 $1 $2 did not arrive through the pinhole"
    fi
}
inbound_gone() {
    if lab_inbound6 "$1" lan1 "$2" 700 >/dev/null; then
        fail "inbound IPv6 $1 $2 still arrives ($3)"
    else
        lab_ok "inbound IPv6 $1 $2 dropped $3"
    fi
}
inbound_arrives udp 3074
inbound_arrives tcp 3075
OUT=$(np6 verify --ipv6 --port udp:3074 --stun "[$LAB_STUN6_1]:$LAB_STUN_PORT" --json) ||
    fail "verify --ipv6 exit $?"
expect '.pinholes[0].status="open";.pinholes[0].reachable=true;.pinholes[0].in_store=true'
OUT=$(np6 open --ipv6 --port udp:3074 --json) || fail "renewing open --ipv6 exit $?"
expect ".pinholes[0].status=\"open\";.pinholes[0].message=\"pinhole renewed\";.pinholes[0].uid=\"$uid\""
OUT=$(np6 close --ipv6 --port udp:3074 --port tcp:3075 --json) || fail "close --ipv6 exit $?"
expect '.removed=2;.failed=0'
inbound_gone udp 3074 "after close"
inbound_gone tcp 3075 "after close"
[ "$(jq length "$LAB_TMP/state/pinholes.json")" = 0 ] || fail "the pinhole store is not empty after close"
OUT=$(np6 verify --ipv6 --port udp:3074 --stun "[$LAB_STUN6_1]:$LAB_STUN_PORT" --json) && RC=0 || RC=$?
expect '.pinholes[0].status="closed";.pinholes[0].reachable=false'
[ "$RC" = 1 ] || fail "verify of a closed pinhole: exit $RC, want 1"

echo "== pinholes for this host: PCP over IPv6"
OUT=$(np6 open --ipv6 --via pcp --port udp:3080 --json) || fail "open --ipv6 --via pcp exit $?"
expect '.pinholes[0].status="open";.pinholes[0].protocol="pcp"'
inbound_arrives udp 3080
OUT=$(np6 close --ipv6 --port udp:3080 --json) || fail "close --ipv6 (pcp) exit $?"
expect '.removed=1'
inbound_gone udp 3080 "after close"

echo "== a pinhole for another host (secure mode): refused, explained"
OUT=$(np6 open --ipv6 --for "$LAB_LAN2_IP6" --port udp:3090 --json) && RC=0 || RC=$?
expect '.pinholes[0].status="third-party-refused";.opened=0'
jq -e --arg ip "$LAB_LAN2_IP6" '.pinholes[0].manual|contains($ip)' >/dev/null <<<"$OUT" ||
    fail "no manual steps naming $LAB_LAN2_IP6"
[ "$RC" = 1 ] || fail "refused pinhole: exit $RC, want 1"
if lab_inbound6 udp lan2 3090 700 >/dev/null; then
    fail "inbound IPv6 reached lan2 although the pinhole was refused"
else
    lab_ok "inbound IPv6 to lan2:3090 dropped"
fi

echo "== a console found by its MAC address: IPv4 address -> IPv6 address"
# lan1 has talked to lan2 over both families (as a PC does with a console).
lab_pkt lan1 send -u -a "$LAB_LAN2_IP" -p 9 -m hello >/dev/null 2>&1 || true
lab_in lan1 "$LAB_TOOLS/np_pkt6" send -u -a "$LAB_LAN2_IP6" -p 9 -m hello >/dev/null 2>&1 || true
lab_miniupnpd_stop
# Pinholes for another host: miniupnpd refuses them over UPnP whatever its
# secure mode, and allows them over PCP with pcp_allow_thirdparty.
lab_miniupnpd_start -S no -t yes
text=$(np6 open --ipv6 --for "$LAB_LAN2_IP" --port udp:3096) || fail "open --ipv6 --for $LAB_LAN2_IP exit $?"
if grep -q "is $LAB_LAN2_IP6 over IPv6" <<<"$text"; then
    lab_ok "$LAB_LAN2_IP found as $LAB_LAN2_IP6 by its MAC address"
else
    fail "the console's IPv6 address was not found by its MAC: $text"
fi
if lab_inbound6 udp lan2 3096 2000 >/dev/null; then
    lab_ok "inbound IPv6 udp 3096 reaches the console through its pinhole"
else
    fail "inbound IPv6 did not reach the console through its pinhole"
fi
OUT=$(np6 close --ipv6 --for "$LAB_LAN2_IP" --port udp:3096 --json) || fail "close --ipv6 --for exit $?"
expect '.removed=1'
if lab_inbound6 udp lan2 3096 700 >/dev/null; then
    fail "inbound IPv6 still reaches the console after close"
else
    lab_ok "inbound IPv6 udp 3096 to the console dropped after close"
fi

echo "== a router that takes no pinhole requests (miniupnpd without IPv6)"
lab_miniupnpd_stop
lab_miniupnpd_start -6 no
OUT=$(np6 open --ipv6 --port udp:3092 --json) && RC=0 || RC=$?
expect '.pinholes[0].status="unsupported";.router.upnp_firewall_control=false;.router.pcp_answered=false'
jq -e '.pinholes[0].manual|test("IPv6 firewall")' >/dev/null <<<"$OUT" ||
    fail "no manual steps for a router without pinhole support"
[ "$RC" = 1 ] || fail "unsupported pinhole: exit $RC, want 1"
inbound_gone udp 3092 "(no pinhole support)"
diag "no pinhole support"
expect '.ipv6.pinholes.available=false;.ipv6.state="ok"'
# A router silent over IPv6 must not hold diagnose up.
[ "$MS" -lt 3000 ] || fail "diagnose took $MS ms beside a router silent over IPv6"

echo "== the daemon keeps IPv6 pinholes (address6) and removes them when it stops"
lab_miniupnpd_stop
lab_miniupnpd_start
D="$LAB_TMP/daemon6"
mkdir -p "$D"
cat >"$D/natpilot.conf" <<EOF
{
  "lease": 30,
  "verify_interval": 15,
  "log_level": "debug",
  "ssdp_listen": false,
  "state_file": "$D/state.json",
  "status_socket": "$D/status.sock",
  "profiles_dir": "$NP_SOURCE_DIR/tests/lab/data/daemon/profiles",
  "devices": [
    {"name": "pc", "address": "$LAB_LAN1_IP", "address6": "$LAB_LAN1_IP6",
     "platform": "pc", "profiles": ["lab-game"]}
  ]
}
EOF
lab_bg lan1 daemon6 "$NATPILOT" daemon --config "$D/natpilot.conf" --foreground
DPID6=$LAB_LAST_PID
lab_on_exit() { [ -z "${DPID6:-}" ] || kill -KILL "$DPID6" 2>/dev/null || true; }
daemon_pinholes() { [ "$(grep -c 'IPv6 pinhole .* open via' "$LAB_TMP/daemon6.log")" -ge 3 ]; }
lab_wait_for 20 "the daemon's three IPv6 pinholes" daemon_pinholes
grep 'IPv6 pinhole' "$LAB_TMP/daemon6.log" | sed 's/^/     log| /'
inbound_arrives udp 40000
inbound_arrives udp 40001
inbound_arrives tcp 40010
# The lease is 30 s: renewed at about 15 s, so still open after 36 s.
renewed() { [ "$(grep -c 'IPv6 pinhole .* renewed' "$LAB_TMP/daemon6.log")" -ge 3 ]; }
lab_wait_for 25 "the daemon's pinhole renewals" renewed
sleep 18
if lab_inbound6 udp lan1 40000 2000 >/dev/null; then
    lab_ok "pinhole open past its first 30 s lease (renewed)"
else
    fail "pinhole gone after its first lease although renewed"
fi
kill -TERM "$DPID6"
wait "$DPID6" && RC=0 || RC=$?
DPID6=""
[ "$RC" = 0 ] || fail "daemon exit $RC on SIGTERM"
grep -q "removed 3 IPv6 pinholes" "$LAB_TMP/daemon6.log" ||
    fail "the daemon did not say it removed its 3 IPv6 pinholes"
inbound_gone udp 40000 "after the daemon stopped"
inbound_gone tcp 40010 "after the daemon stopped"
if lab_in router nft list chain inet nplab miniupnpd | grep -q 'th dport 400[01][01]'; then
    fail "the router still holds the daemon's pinhole rules"
fi

echo "== DS-Lite situation: IPv4 behind carrier-grade NAT, native IPv6"
lab_build -k eim-apdf -c -6 apdf
lab_coturn_start
lab_coturn6_start
lab_miniupnpd_start -s no
diag "CGNAT + native IPv6"
shape
expect "$ok_apdf;$pinholes_yes;.router.double_nat=true;.ipv6.plan.applies=true;.ipv6.plan.platforms[0].platform=\"xbox\";.ipv6.plan.platforms[0].ipv6=\"open\";.ipv6.plan.platforms[1].ipv6=\"hosting\";.ipv6.plan.platforms[2].ipv6=\"none\";.ipv6.plan.platforms[3].platform=\"switch\";.ipv6.plan.platforms[3].ipv6=\"none\""
text=$(lab_in lan1 "$NATPILOT" diagnose --stun "$LAB_STUN1:$LAB_STUN_PORT" \
    --stun6 "[$LAB_STUN6_1]:$LAB_STUN_PORT" 2>/dev/null) || true
if grep -q "Behind carrier-grade NAT: the IPv6 way" <<<"$text"; then
    lab_ok "text output: the carrier-grade NAT plan"
else
    fail "text output lacks the carrier-grade NAT plan"
fi
inbound_blocked lan1 4101

echo "== IPv6 firewall filtering address-dependently"
lab_build -k eim-apdf -6 adf
lab_coturn_start
lab_coturn6_start
lab_miniupnpd_start
diag "IPv6 ADF"
shape
expect "${ok_apdf/.ipv6.filtering=\"$APD\"/.ipv6.filtering=\"$AD\"}"
inbound_blocked lan1 4102

echo "== IPv6 without a firewall (endpoint-independent filtering)"
lab_build -k eim-apdf -6 open
lab_coturn_start
lab_coturn6_start
diag "IPv6 open" --no-router
shape
expect ".ipv6.state=\"ok\";.ipv6.nat=\"none\";.ipv6.filtering=\"$EI\";.ipv6.labels.generic=\"open\";.ipv6.labels.xbox=\"Open\";.ipv6.pinholes.asked=false"
if lab_inbound6 udp lan1 4103 2000 >/dev/null; then
    lab_ok "unsolicited inbound IPv6 arrives (no firewall)"
else
    fail "inbound IPv6 did not arrive through an open router"
fi

echo "== NAT66 on the router"
lab_build -k eim-apdf -6 nat66
lab_coturn_start
lab_coturn6_start
diag "NAT66" --no-router
shape
expect ".ipv6.state=\"ok\";.ipv6.nat=\"nat66\";.ipv6.port_preserved=true;.ipv6.mapped_address=\"[2001:db8:ffff::2]:$(jq -r '.ipv6.local_address' <<<"$OUT" | sed 's/.*\]://')\""

echo "== IPv6 blocked at the router"
lab_build -k eim-apdf -6 blocked
lab_coturn_start
lab_coturn6_start
lab_miniupnpd_start
diag "IPv6 blocked"
shape
expect ".ipv6.state=\"no-answer\";.ipv6.udp=\"no-answer\";.ipv6.labels.generic=\"blocked\";.labels.generic=\"moderate\""
# The silent IPv6 path must not hold diagnose up for its whole budget.
v6e=$(jq -r '.ipv6.elapsed_ms' <<<"$OUT")
awk -v e="$v6e" 'BEGIN { exit !(e < 1500) }' ||
    fail "IPv6 probe waited $v6e ms on a silent path"

echo "== no IPv6 at all (the lab without -6)"
lab_build -k eim-apdf
lab_coturn_start
OUT=$(lab_in lan1 "$NATPILOT" diagnose --stun "$LAB_STUN1:$LAB_STUN_PORT" \
    --stun6 "[$LAB_STUN6_1]:$LAB_STUN_PORT" --no-router --json 2>/dev/null) || true
shape
expect '.ipv6.state="no-address";.ipv6.address=null;.labels.generic="moderate"'

echo "== Teredo for Xbox against a real Teredo server (miredo-server)"
teredo_case() {
    local name=$1 want=$2 t0
    t0=$(lab_now_ms)
    OUT=$(lab_in lan1 "$NATPILOT" diagnose --stun "$LAB_STUN1:$LAB_STUN_PORT" \
        --teredo "$LAB_TEREDO1" --no-router --json 2>/dev/null) || true
    echo "-- $name: wall $(($(lab_now_ms) - t0)) ms"
    expect "$want"
}
for kind in eim-apdf apdm udp-blocked; do
    lab_build -k "$kind"
    lab_coturn_start
    lab_teredo_start
    case $kind in
    eim-apdf) teredo_case "cone NAT" '.teredo.verdict="qualifies";.teredo.reason="none";.teredo.qualification.symmetric=false'
        jq -e '.teredo.qualification | .mapped_primary == .mapped_secondary' >/dev/null <<<"$OUT" ||
            fail "cone NAT: the two Teredo mappings differ"
        ;;
    apdm) teredo_case "symmetric NAT" '.teredo.verdict="fails";.teredo.reason="symmetric-nat";.teredo.fix="router-eim";.teredo.qualification.symmetric=true' ;;
    udp-blocked) teredo_case "UDP blocked" '.teredo.verdict="fails";.teredo.reason="udp-blocked";.teredo.fix="allow-udp"' ;;
    esac
done
lab_build -k eim-apdf
lab_coturn_start
lab_teredo_start
lab_in router nft insert rule inet nplab forward udp dport 3544 drop
teredo_case "UDP 3544 blocked" '.teredo.verdict="fails";.teredo.reason="udp-3544-blocked";.teredo.fix="allow-udp-3544";.teredo.qualification.answered_primary=false'
echo "== Teredo behind a symmetric NAT, with native IPv6: the fix is IPv6"
lab_build -k apdm -6 apdf
lab_coturn_start
lab_coturn6_start
lab_teredo_start
OUT=$(lab_in lan1 "$NATPILOT" diagnose --stun "$LAB_STUN1:$LAB_STUN_PORT" \
    --stun6 "[$LAB_STUN6_1]:$LAB_STUN_PORT" --teredo "$LAB_TEREDO1" \
    --no-router --json 2>/dev/null) || true
expect '.teredo.verdict="fails";.teredo.reason="symmetric-nat";.teredo.fix="native-ipv6";.teredo.native_ipv6=true;.ipv6.state="ok"'

lab_done
