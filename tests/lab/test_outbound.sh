#!/usr/bin/env bash
# Lab test: natpilot verify --outbound against a router whose egress rules
# DROP some ports and REJECT others (TCP reset, ICMP admin-prohibited).
#
# Simulated internet: 203.0.113.100 accepts TCP on every port (np_tcpsink
# on :7000 plus an nftables DNAT of every TCP port of that address), and
# coturn on 198.51.100.10 answers STUN on every UDP port (its own 3478/3479
# plus a DNAT of every other UDP port to 3478). The link to the internet
# has 40 ms of delay each way (~80 ms RTT), so the wait natpilot derives
# from the RTT (4 x RTT) is visibly above the --min-wait floor we give.
#
# natpilot must report exactly the router's rules, tell dropped from
# refused from rejected, and finish in about one wait (elapsed < 3 x the
# wait it reports). A last case adds 5 % loss each way: loss must not be
# reported as "dropped". Everything is torn down by lib.sh's trap.
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
lab_require jq turnserver "$LAB_TOOLS/np_tcpsink"

REFLECTOR=$LAB_INET_HOST
SINK_PORT=7000

# Router egress policy under test (LAN -> internet only).
DROP_TCP="3074, 27022"
RST_TCP="3075"
ICMP_TCP="3076"
DROP_UDP="3074"
ICMP_UDP="3658"

start_reflectors() {
    local ready="$LAB_TMP/sink.ready"
    lab_bg inet tcpsink "$LAB_TOOLS/np_tcpsink" -p "$SINK_PORT" -r "$ready"
    lab_wait_for 5 "TCP sink" test -e "$ready"
    lab_coturn_start
    lab_in inet nft -f - <<EOF || lab_fail "reflector nft rules"
table ip reflect {
    chain pre {
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr $REFLECTOR tcp dport != $SINK_PORT dnat to $REFLECTOR:$SINK_PORT
        ip daddr $LAB_STUN1 udp dport != { $LAB_STUN_PORT, $LAB_STUN_ALT_PORT } dnat to $LAB_STUN1:$LAB_STUN_PORT
    }
}
EOF
}

egress_rules() {
    lab_in router nft delete table ip npegress 2>/dev/null || true
    lab_in router nft -f - <<EOF || lab_fail "egress nft rules"
table ip npegress {
    chain outfilter {
        type filter hook forward priority filter - 10; policy accept;
        iifname "br0" tcp dport { $DROP_TCP } counter drop
        iifname "br0" tcp dport { $RST_TCP } counter reject with tcp reset
        iifname "br0" tcp dport { $ICMP_TCP } counter reject with icmp type admin-prohibited
        iifname "br0" udp dport { $DROP_UDP } counter drop
        iifname "br0" udp dport { $ICMP_UDP } counter reject with icmp type admin-prohibited
        $1
    }
}
EOF
}

# port_state JSON PROTO PORT: the state natpilot reported for one port.
port_state() {
    jq -r --arg p "$2" --argjson n "$3" \
        '[.rules[].tested[] | select(.protocol == $p and .port == $n) | .state] | first // "missing"' <<<"$1"
}

expect_port() {
    local got
    got=$(port_state "$1" "$2" "$3")
    [ "$got" = "$4" ] || lab_fail "$2 $3: expected $4, natpilot said $got"
    lab_ok "$2 $3 $got"
}

# run_np OUTVAR ARGS...: run natpilot in lan1, JSON on stdout; sets RC,
# WALL_MS and the named variable.
run_np() {
    local __out=$1 t0 t1 out
    shift
    t0=$(lab_now_ms)
    set +e
    out=$(lab_in lan1 "$NATPILOT" verify --outbound --json "$@" 2>"$LAB_TMP/np.err")
    RC=$?
    set -e
    t1=$(lab_now_ms)
    WALL_MS=$((t1 - t0))
    printf -v "$__out" '%s' "$out"
    cat "$LAB_TMP/np.err" >&2
}

lab_build -k eim-apdf -d 40
start_reflectors
egress_rules ""

PORTS=(--port tcp:80 --port tcp:3074 --port tcp:3075 --port tcp:3076
    --port tcp:27015-27030 --port udp:3478 --port udp:3479
    --port udp:3074 --port udp:3658 --port udp:9000)

# ---- case 1: the router's exact policy, in about one wait -----------------
run_np J "${PORTS[@]}" --reflector "$REFLECTOR:80" \
    --stun "$LAB_STUN1:$LAB_STUN_PORT" --stun-all-ports --min-wait 100
echo "$J" >"$LAB_TMP/case1.json"
[ "$RC" = 1 ] || lab_fail "case 1: exit $RC, expected 1 (essential rules blocked)"
expect_port "$J" tcp 80 reachable
expect_port "$J" tcp 3074 dropped
expect_port "$J" tcp 3075 refused
expect_port "$J" tcp 3076 rejected
expect_port "$J" tcp 27015 reachable
expect_port "$J" tcp 27022 dropped
expect_port "$J" tcp 27030 reachable
expect_port "$J" udp 3478 reachable
expect_port "$J" udp 3479 reachable
expect_port "$J" udp 9000 reachable
expect_port "$J" udp 3074 dropped
expect_port "$J" udp 3658 rejected
# The sample of the range is stated, and it found the dropped port inside.
jq -e '.rules[] | select(.ports == "27015-27030") |
    .sampled == true and .port_count == 16 and (.tested | length) == 5 and
    .state == "dropped" and .partial == true' <<<"$J" >/dev/null ||
    lab_fail "range rule not sampled/stated as expected"
# ICMP details name the router as the one rejecting.
jq -e '.rules[].tested[] | select(.protocol == "udp" and .port == 3658) |
    .icmp.code == 13 and .icmp.from == "198.18.0.1"' <<<"$J" >/dev/null ||
    lab_fail "udp 3658: ICMP admin-prohibited from the router not reported"
# No other port is blocked than those the router blocks.
nblocked=$(jq '[.rules[].tested[] | select(.state != "reachable")] | length' <<<"$J")
[ "$nblocked" = 6 ] || lab_fail "expected 6 non-reachable ports, got $nblocked"
# Timing: the wait comes from the RTT (~80 ms, 4 x RTT), and the whole run
# takes about one wait.
RTT=$(jq '.rtt_ms' <<<"$J")
WAIT=$(jq '.wait_ms' <<<"$J")
ELAPSED=$(jq '.elapsed_ms' <<<"$J")
lab_log "rtt ${RTT} ms, wait ${WAIT} ms, elapsed ${ELAPSED} ms, wall ${WALL_MS} ms"
# The RTT cannot be below the delay line's 80 ms; a stalled machine can make
# it longer, which the relative checks below absorb.
awk -v r="$RTT" 'BEGIN { exit !(r > 60 && r < 1000) }' ||
    lab_fail "RTT $RTT ms is not the lab's delayed ~80 ms"
awk -v w="$WAIT" -v r="$RTT" 'BEGIN { exit !(w > 3.9 * r && w < 4.1 * r) }' ||
    lab_fail "wait $WAIT ms is not 4 x RTT $RTT ms"
awk -v e="$ELAPSED" -v w="$WAIT" 'BEGIN { exit !(e >= w && e < 3 * w) }' ||
    lab_fail "elapsed $ELAPSED ms is not about one wait ($WAIT ms)"
awk -v e="$WALL_MS" -v w="$WAIT" 'BEGIN { exit !(e < 3 * w) }' ||
    lab_fail "wall time $WALL_MS ms is not below 3 x wait ($WAIT ms)"
# The router really saw the drops (the verdict matches the rule that hit).
RULES=$(lab_in router nft list table ip npegress)
for r in 'tcp dport \{ 3074, 27022 \} counter packets [1-9]' \
    'tcp dport 3075 counter packets [1-9]' 'tcp dport 3076 counter packets [1-9]' \
    'udp dport 3074 counter packets [1-9]' 'udp dport 3658 counter packets [1-9]'; do
    grep -Eq "$r" <<<"$RULES" || lab_fail "router rule never hit: $r"
done

# ---- case 1b: the human output names what to do ---------------------------
set +e
H=$(lab_in lan1 "$NATPILOT" verify --outbound "${PORTS[@]}" \
    --reflector "$REFLECTOR:80" --stun "$LAB_STUN1:$LAB_STUN_PORT" \
    --stun-all-ports --min-wait 100)
HRC=$?
set -e
echo "$H"
[ "$HRC" = 1 ] || lab_fail "case 1b: exit $HRC"
grep -q "TCP 3074, 27022 dropped" <<<"$H" || lab_fail "human: dropped TCP ports not listed"
grep -q "TCP 3075 refused" <<<"$H" || lab_fail "human: refused TCP port not listed"
grep -q "tested 27015, 27018, 27022, 27026, 27030 of 16 ports" <<<"$H" ||
    lab_fail "human: range sample not stated"
grep -q "network's admin" <<<"$H" || lab_fail "human: no advice"

# ---- case 2: UDP without a STUN server on the port: not testable ------------
run_np J --port tcp:80 --port udp:3478 --port udp:9000 \
    --reflector "$REFLECTOR:80" --stun "$LAB_STUN1:$LAB_STUN_PORT" --min-wait 100
[ "$RC" = 0 ] || lab_fail "case 2: exit $RC, expected 0"
expect_port "$J" udp 9000 not-testable
expect_port "$J" udp 3478 reachable
expect_port "$J" tcp 80 reachable

# ---- case 2b: bounded parallelism: 2 in flight still gives the same verdicts
run_np J "${PORTS[@]}" --reflector "$REFLECTOR:80" \
    --stun "$LAB_STUN1:$LAB_STUN_PORT" --stun-all-ports --min-wait 100 --parallel 2
[ "$RC" = 1 ] || lab_fail "case 2b: exit $RC"
[ "$(jq .max_parallel <<<"$J")" -le 2 ] || lab_fail "case 2b: more than 2 in flight"
expect_port "$J" tcp 3074 dropped
expect_port "$J" tcp 27022 dropped
expect_port "$J" udp 3658 rejected
expect_port "$J" udp 9000 reachable

# ---- case 3: non-essential? every --port is essential; a refused port with
#      the rest open still exits 1, and a fully open set exits 0 ------------
run_np J --port tcp:443 --port tcp:3075 --reflector "$REFLECTOR:443" \
    --stun "$LAB_STUN1:$LAB_STUN_PORT" --min-wait 100
[ "$RC" = 1 ] || lab_fail "case 3: exit $RC, expected 1"
expect_port "$J" tcp 3075 refused

# ---- case 5: rules from profiles (fixtures in tests/data/outbound), resolved
#      for the device platform: base profile first, platform-only rules
#      dropped for pc and present for xbox -------------------------------------
PROFILE_ARGS=(np-lab-shooter --profiles "$NP_SOURCE_DIR/tests/data/outbound"
    --reflector "$REFLECTOR:80" --stun "$LAB_STUN1:$LAB_STUN_PORT"
    --stun-all-ports --min-wait 100)
run_np J "${PROFILE_ARGS[@]}"
{
    [ "$RC" = 1 ] || lab_fail "case 5: exit $RC, expected 1"
    rule() { jq -r --arg p "$1" --arg f "$2" --arg k "$3" \
        '.rules[] | select(.profile == $p and .feature == $f) | .[$k] | tostring' <<<"$J"; }
    [ "$(rule np-lab-platform sign-in state)" = reachable ] || lab_fail "case 5: sign-in"
    [ "$(rule np-lab-platform "party chat" state)" = reachable ] || lab_fail "case 5: party chat"
    [ "$(rule np-lab-shooter matchmaking state)" = dropped ] || lab_fail "case 5: matchmaking"
    [ "$(rule np-lab-shooter matchmaking essential)" = true ] || lab_fail "case 5: essential"
    [ "$(rule np-lab-shooter "stats upload" state)" = refused ] || lab_fail "case 5: stats"
    [ "$(rule np-lab-shooter "stats upload" note)" = "the game still plays without it" ] ||
        lab_fail "case 5: note"
    [ "$(rule np-lab-shooter "dedicated servers" partial)" = true ] || lab_fail "case 5: range"
    [ "$(rule np-lab-shooter "in-game voice" state)" = rejected ] || lab_fail "case 5: voice"
    [ "$(rule np-lab-shooter "peer-to-peer lobbies" state)" = reachable ] || lab_fail "case 5: p2p"
    [ "$(jq '[.rules[] | select(.feature == "xbox-only service")] | length' <<<"$J")" = 0 ] ||
        lab_fail "case 5: xbox-only rule tested for pc"
    [ "$(jq -r '.rules[0].profile' <<<"$J")" = np-lab-platform ] || lab_fail "case 5: base not first"
    run_np J "${PROFILE_ARGS[@]}" --platform xbox
    [ "$(rule np-lab-shooter "xbox-only service" state)" = rejected ] ||
        lab_fail "case 5: xbox-only rule not tested for xbox"
    # Only non-essential rules blocked: exit 0.
    egress_rules ""
    lab_in router nft flush chain ip npegress outfilter
    lab_in router nft add rule ip npegress outfilter iifname br0 tcp dport 3075 reject with tcp reset
    run_np J "${PROFILE_ARGS[@]}"
    [ "$RC" = 0 ] || lab_fail "case 5: only a non-essential rule blocked, exit $RC"
    [ "$(rule np-lab-shooter "stats upload" state)" = refused ] || lab_fail "case 5: stats (2)"
    egress_rules ""
    lab_ok "profile rules"
}

# ---- case 7: diagnose --outbound runs the same check beside the NAT test and
#      nests it in its JSON; a blocked essential outbound rule makes it exit 1
run_diag() {
    RC=0
    J=$(lab_in lan1 "$NATPILOT" diagnose --json --stun "$LAB_STUN1:$LAB_STUN_PORT" \
        --outbound np-lab-shooter --profiles "$NP_SOURCE_DIR/tests/data/outbound" \
        --reflector "$REFLECTOR:80") || RC=$?
}
run_diag
[ "$RC" = 1 ] || lab_fail "case 7: exit $RC, expected 1 (essential rule blocked)"
[ "$(jq -r .labels.generic <<<"$J")" = moderate ] || lab_fail "case 7: NAT verdict missing"
[ "$(jq -r '.outbound.rules[] | select(.feature == "matchmaking") | .state' <<<"$J")" = dropped ] ||
    lab_fail "case 7: outbound result not nested in diagnose's JSON"
H=$(lab_in lan1 "$NATPILOT" diagnose --stun "$LAB_STUN1:$LAB_STUN_PORT" \
    --outbound np-lab-shooter --profiles "$NP_SOURCE_DIR/tests/data/outbound" \
    --reflector "$REFLECTOR:80" || true)
grep -q "Outbound ports" <<<"$H" || lab_fail "case 7: no outbound section in the human output"
grep -q "matchmaking" <<<"$H" || lab_fail "case 7: outbound rule missing in the human output"
lab_ok "diagnose --outbound"

# ---- case 4: the router lets nothing out: exit 3, nothing reachable ---------
egress_rules 'iifname "br0" counter drop'
run_np J --port tcp:80 --port udp:3478 --reflector "$REFLECTOR:80" \
    --stun "$LAB_STUN1:$LAB_STUN_PORT" --min-wait 100 --timeout 800
[ "$RC" = 3 ] || lab_fail "case 4: exit $RC, expected 3"
[ "$(jq -r .overall <<<"$J")" = nothing-reachable ] || lab_fail "case 4: overall"
[ "$(jq -r .reflector.state <<<"$J")" = dropped ] || lab_fail "case 4: reflector state"
# No RTT: the ceiling is the wait, and the run still ends after one wait.
awk -v e="$(jq .elapsed_ms <<<"$J")" 'BEGIN { exit !(e >= 800 && e < 2400) }' ||
    lab_fail "case 4: elapsed not about one ceiling"

# ---- case 6: a lossy path (5 % each way): loss must not read as "dropped" --
lab_build -k eim-apdf -d 40 -l 5 -s 7
start_reflectors
DROP_TCP="5000" RST_TCP="5002" ICMP_TCP="5003" DROP_UDP="5000" ICMP_UDP="5003"
egress_rules ""
LOSSY=()
for p in $(seq 5000 5019); do
    LOSSY+=(--port "tcp:$p" --port "udp:$p")
done
run_np J "${LOSSY[@]}" --reflector "$REFLECTOR:443" \
    --stun "$LAB_STUN1:$LAB_STUN_PORT" --stun-all-ports
[ "$RC" = 1 ] || lab_fail "case 6: exit $RC"
expect_port "$J" tcp 5000 dropped
expect_port "$J" udp 5000 dropped
expect_port "$J" tcp 5002 refused
expect_port "$J" tcp 5003 rejected
expect_port "$J" udp 5003 rejected
nfalse=$(jq '[.rules[].tested[] | select(.port != 5000 and .port != 5002 and
    .port != 5003 and .state != "reachable")] | length' <<<"$J")
lab_log "lossy: late answers $(jq .late_answers <<<"$J"), confirmation pass" \
    "$(jq .confirm_pass <<<"$J"), elapsed $(jq .elapsed_ms <<<"$J") ms," \
    "wait $(jq .wait_ms <<<"$J") ms"
[ "$nfalse" = 0 ] || lab_fail "case 6: $nfalse open ports reported blocked on a lossy path"
awk -v e="$(jq .elapsed_ms <<<"$J")" -v w="$(jq .wait_ms <<<"$J")" \
    'BEGIN { exit !(e < 3 * w) }' || lab_fail "case 6: more than 3 waits"

lab_done
