#!/usr/bin/env bash
# natpilot diagnose in the namespace lab: one case per NAT kind (apdm-seq:
# address-and-port-dependent mapping with sequential ports), plus 40 ms
# delay each way, 5% loss each way (three seeds), and a network where
# nothing answers. natpilot runs in lan1 against the lab's coturn; every
# field of the contract is asserted with jq, with a diff on failure.
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
lab_require turnserver jq "$NATPILOT"

EI=endpoint-independent
AD=address-dependent
APD=address-and-port-dependent

# Expected values: "jq-path=json-value" entries separated by ";".
exp_none=".nat.behind_nat=false;.nat.udp=\"ok\";.nat.mapping=\"$EI\";.nat.filtering=\"$EI\";.labels.generic=\"open\";.labels.xbox=\"Open\";.labels.playstation=\"Type 1\";.labels.switch=\"A\";exit=0"
exp_eim_eif=".nat.behind_nat=true;.nat.udp=\"ok\";.nat.mapping=\"$EI\";.nat.filtering=\"$EI\";.labels.generic=\"open\";.labels.xbox=\"Open\";.labels.playstation=\"Type 2\";.labels.switch=\"A\";.nat.hairpinning=false;exit=0"
exp_eim_adf=".nat.behind_nat=true;.nat.udp=\"ok\";.nat.mapping=\"$EI\";.nat.filtering=\"$AD\";.labels.generic=\"moderate\";.labels.xbox=\"Moderate\";.labels.playstation=\"Type 2\";.labels.switch=\"A\";.nat.hairpinning=false;exit=1"
exp_eim_apdf=".nat.behind_nat=true;.nat.udp=\"ok\";.nat.mapping=\"$EI\";.nat.filtering=\"$APD\";.labels.generic=\"moderate\";.labels.xbox=\"Moderate\";.labels.playstation=\"Type 2\";.labels.switch=\"B\";.nat.hairpinning=false;exit=1"
exp_apdm=".nat.behind_nat=true;.nat.udp=\"ok\";.nat.mapping=\"$APD\";.nat.port_allocation=\"random\";.labels.generic=\"strict\";.labels.xbox=\"Strict\";.labels.playstation=\"Type 3\";.labels.switch=\"D\";.nat.hairpinning=false;exit=1"
exp_apdm_seq=".nat.behind_nat=true;.nat.udp=\"ok\";.nat.mapping=\"$APD\";.nat.port_allocation=\"sequential\";.labels.generic=\"strict\";.labels.xbox=\"Strict\";.labels.playstation=\"Type 3\";.labels.switch=\"C\";.nat.hairpinning=false;exit=1"
exp_udp_blocked=".nat.udp=\"blocked\";.labels.generic=\"blocked\";.labels.xbox=\"Unavailable\";.labels.playstation=\"Failed\";.labels.switch=\"F\";exit=1"

# Present in every answer whatever the case (the rest of the contract).
shape_checks=(
    '(.labels.generic|IN("open","moderate","strict","blocked","unknown"))'
    '(.labels.xbox|IN("Open","Moderate","Strict","Unavailable","Unknown"))'
    '(.labels.playstation|IN("Type 1","Type 2","Type 3","Failed","Unknown"))'
    '(.labels.switch|IN("A","B","C","D","F","Unknown"))'
    '(.nat.behind_nat|IN(true,false,null))'
    '(.nat.udp|IN("ok","blocked","no-answer","unknown","server-no-udp"))'
    '(.nat.mapping|IN("endpoint-independent","address-dependent","address-and-port-dependent","unknown"))'
    '(.nat.filtering|IN("endpoint-independent","address-dependent","address-and-port-dependent","unknown"))'
    '(.nat.port_allocation|IN("preserving","sequential","random","unknown"))'
    '(.nat.hairpinning|IN(true,false,null))'
    '(.nat.confidence|IN("high","medium","low"))'
    '(.rtt_ms|type=="number")'
    '(.elapsed_ms|type=="number")'
)

# run_case NAME EXPECTED [RTT_LOW RTT_HIGH] [MAX_MS]
#   Runs natpilot diagnose in lan1 of the current lab and checks it.
run_case() {
    local name=$1 expected=$2 rlo=${3:-} rhi=${4:-} max_ms=${5:-20000}
    local out rc=0 t0 t1 ms bad=0 w path want got chk
    t0=$(lab_now_ms)
    out=$(lab_in lan1 timeout 60 "$NATPILOT" diagnose \
        --stun "${DIAG_STUN:-$LAB_STUN1:$LAB_STUN_PORT}" \
        ${DIAG_STUN2:+--stun "$DIAG_STUN2"} --json 2>"$LAB_TMP/diag.err") || rc=$?
    t1=$(lab_now_ms)
    ms=$((t1 - t0))
    echo "-- $name: exit $rc, wall ${ms} ms, natpilot elapsed_ms $(jq -r '.elapsed_ms // "?"' <<<"$out" 2>/dev/null), rtt_ms $(jq -r '.rtt_ms // "?"' <<<"$out" 2>/dev/null)"
    if ! jq -e 'type=="object"' >/dev/null 2>&1 <<<"$out"; then
        echo "   FAIL not one JSON object on stdout:"
        sed 's/^/     | /' <<<"$out" | head -20
        sed 's/^/     stderr| /' "$LAB_TMP/diag.err" | head -10
        LAB_FAILED=$((LAB_FAILED + 1))
        return 0
    fi
    local -a entries
    IFS=';' read -r -a entries <<<"$expected"
    for w in "${entries[@]}"; do
        path=${w%%=*}
        want=${w#*=}
        if [ "$path" = exit ]; then
            got=$rc
        else
            got=$(jq -c "$path" <<<"$out" 2>&1) || true
        fi
        if [ "$got" != "$want" ]; then
            printf '   FAIL %-24s - %s\n        %-24s + %s\n' "$path" "$want" "" "$got"
            bad=1
        fi
    done
    if [ "$rc" != 3 ]; then
        for chk in "${shape_checks[@]}"; do
            if [ "$(jq "$chk" <<<"$out" 2>&1)" != true ]; then
                printf '   FAIL contract %s: got %s\n' "$chk" \
                    "$(jq -c "${chk%%|*})" <<<"$out" 2>&1)"
                bad=1
            fi
        done
    fi
    if [ -n "$rlo" ]; then
        got=$(jq -r '.rtt_ms' <<<"$out" 2>&1) || true
        if ! awk -v v="$got" -v a="$rlo" -v b="$rhi" 'BEGIN { exit !(v >= a && v <= b) }'; then
            printf '   FAIL rtt_ms %s not in %s..%s\n' "$got" "$rlo" "$rhi"
            bad=1
        fi
    fi
    if [ "$ms" -gt "$max_ms" ]; then
        printf '   FAIL took %s ms, more than %s ms\n' "$ms" "$max_ms"
        bad=1
    fi
    if [ "$bad" = 0 ]; then
        lab_ok "$name: $(jq -c '[.labels.generic,.labels.xbox,.labels.playstation,.labels.switch,.nat.mapping,.nat.filtering,.nat.port_allocation,.nat.confidence]' <<<"$out")"
    else
        LAB_FAILED=$((LAB_FAILED + 1))
        echo "   natpilot's answer:"
        jq -c '{labels, nat, rtt_ms, elapsed_ms}' <<<"$out" | sed 's/^/     /'
    fi
}

echo "== one case per NAT kind"
for kind in none eim-eif eim-adf eim-apdf apdm apdm-seq udp-blocked; do
    lab_build -k "$kind"
    lab_coturn_start
    var="exp_${kind//-/_}"
    # "UDP blocked" is a claim about the path: it needs UDP silent towards
    # a second server address too (one server may serve TCP only; see
    # test_truth.sh)
    if [ "$kind" = udp-blocked ]; then
        DIAG_STUN2="$LAB_STUN2:$LAB_STUN_PORT" run_case "$kind" "${!var}"
    else
        run_case "$kind" "${!var}"
    fi
done

echo "== eim-apdf on a router that hairpins (RFC 4787 REQ-9)"
lab_build -k eim-apdf -H
lab_coturn_start
run_case "eim-apdf, hairpinning" "${exp_eim_apdf/.nat.hairpinning=false/.nat.hairpinning=true}"

echo "== eim-apdf with 40 ms delay each way"
lab_build -k eim-apdf -d 40
lab_coturn_start
# rtt_ms cannot be below 80 ms here; the upper bound only rules out
# nonsense (a stalled machine makes it longer; timing is the benchmark's).
run_case "eim-apdf +40ms" "$exp_eim_apdf" 70 250

echo "== eim-eif with 5% loss each way, three seeds"
for seed in 1 2 3; do
    lab_build -k eim-eif -l 5 -s "$seed"
    lab_coturn_start
    run_case "eim-eif 5% loss seed $seed" "$exp_eim_eif"
    echo "   $(lab_delayline_stats)"
done

echo "== an RFC 3489 server (Vovida stund: CHANGED-ADDRESS, no OTHER-ADDRESS)"
lab_build -k eim-apdf
lab_bg inet stund stund -h "$LAB_STUN1" -a "$LAB_STUN2" -p 3480 -o 3481
lab_wait_for 10 "stund listening" bash -c \
    "ip netns exec $(lab_ns inet) ss -Hlnu | grep -q '$LAB_STUN2:3481 '"
DIAG_STUN="$LAB_STUN1:3480" run_case "eim-apdf, RFC 3489 server" "$exp_eim_apdf"

echo "== nothing answers (no STUN server, no route beyond the router)"
lab_build -k eim-apdf
lab_in router ip route del default
run_case "nothing answers" "exit=3" "" "" 8000

lab_done
