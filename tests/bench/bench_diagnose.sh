#!/usr/bin/env bash
# Benchmark: natpilot diagnose against coturn's turnutils_natdiscovery and
# Vovida's stun, in the namespace lab with a delay line on the WAN link
# (default 40 ms each way, ~80 ms RTT). For each NAT kind, N runs of each
# tool, wall clock per run, and whether each tool's verdict was right.
# Prints a table of medians, ratios natpilot/peer, and natpilot's time as a
# multiple of the measured RTT. Run as root; see tests/bench/README.md.
#
#   tests/bench/bench_diagnose.sh [-n RUNS] [-d DELAY_MS] [-k "KIND ..."]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${NP_SOURCE_DIR:=$(cd "$here/../.." && pwd)}"
: "${NP_BUILD_DIR:=$NP_SOURCE_DIR/build}"
: "${NATPILOT:=$NP_BUILD_DIR/natpilot}"
# shellcheck source=tests/lab/lib.sh
source "$NP_SOURCE_DIR/tests/lab/lib.sh"

runs=5 delay=40 kinds="eim-eif eim-adf eim-apdf apdm udp-blocked none"
while getopts "n:d:k:h" opt; do
    case $opt in
    n) runs=$OPTARG ;;
    d) delay=$OPTARG ;;
    k) kinds=$OPTARG ;;
    *)
        sed -n '2,9p' "$0"
        exit 2
        ;;
    esac
done
lab_require turnserver turnutils_natdiscovery stun jq "$NATPILOT"

EI=endpoint-independent AD=address-dependent APD=address-and-port-dependent

# What is right, per kind. natpilot: "generic mapping filtering exit".
declare -A np_want=(
    [none]="open $EI $EI 0" [eim-eif]="open $EI $EI 0"
    [eim-adf]="moderate $EI $AD 1" [eim-apdf]="moderate $EI $APD 1"
    [apdm]="strict $APD * 1" [apdm-seq]="strict $APD * 1"
    [udp-blocked]="blocked * * 1")
# turnutils_natdiscovery: its mapping and filtering lines; on a public
# address the right answer says "No NAT" (it never does: it compares the
# mapped address with its 0.0.0.0 socket address), with UDP blocked it must
# give some verdict (it gives none).
declare -A nd_want=(
    [none]="No NAT" [eim-eif]="EI EI" [eim-adf]="EI AD" [eim-apdf]="EI APD"
    [apdm]="APD APD" [apdm-seq]="APD APD" [udp-blocked]="blocked")
# Vovida stun: its "Primary:" line.
declare -A vv_want=(
    [none]="Open" [eim-eif]="Independent Mapping, Independent Filter"
    [eim-adf]="Independent Mapping, Address Dependent Filter"
    [eim-apdf]="Independent Mapping, Port Dependent Filter"
    [apdm]="Dependent Mapping, random port"
    [apdm-seq]="Dependent Mapping"
    [udp-blocked]="Blocked or could not reach STUN server")

np_verdict() { # JSON, exit code -> "generic mapping filtering exit"
    local g m f
    g=$(jq -r '.labels.generic' <<<"$1" 2>/dev/null) || g='?'
    m=$(jq -r '.nat.mapping' <<<"$1" 2>/dev/null) || m='?'
    f=$(jq -r '.nat.filtering' <<<"$1" 2>/dev/null) || f='?'
    echo "$g $m $f $2"
}
np_right() { # kind verdict
    local want=${np_want[$1]} w g
    read -r -a w <<<"$want"
    read -r -a g <<<"$2"
    local i
    for i in 0 1 2 3; do
        [ "${w[$i]}" = '*' ] || [ "${w[$i]}" = "${g[$i]:-}" ] || return 1
    done
}
nd_verdict() {
    local m=none f=none
    case $1 in
    *"No NAT"*) echo "No NAT" && return ;;
    esac
    case $1 in
    *"NAT with Endpoint Independent Mapping!"*) m=EI ;;
    *"NAT with Address Dependent Mapping!"*) m=AD ;;
    *"NAT with Address and Port Dependent Mapping!"*) m=APD ;;
    esac
    case $1 in
    *"NAT with Endpoint Independent Filtering!"*) f=EI ;;
    *"NAT with Address Dependent Filtering!"*) f=AD ;;
    *"NAT with Address and Port Dependent Filtering!"*) f=APD ;;
    esac
    echo "$m $f"
}
vv_verdict() {
    sed -n 's/^Primary: //p' <<<"$1" | head -1 | sed 's/[[:space:]]*$//'
}
vv_right() { # kind verdict: the verdict starts with what is wanted
    case $2 in
    "${vv_want[$1]}"*) return 0 ;;
    esac
    return 1
}

median() { # numbers on stdin -> median (mean of the middle two if even)
    sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
        if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# timed VAR_MS VAR_OUT VAR_RC CMD...: wall time of CMD in lan1.
timed() {
    local _t0 _t1 _rc=0 _out
    _t0=$(date +%s%N)
    _out=$(lab_in lan1 timeout 60 "${@:4}" 2>&1) || _rc=$?
    _t1=$(date +%s%N)
    printf -v "$1" '%s' $(((_t1 - _t0) / 1000000))
    printf -v "$2" '%s' "$_out"
    printf -v "$3" '%s' "$_rc"
}

results=()
for kind in $kinds; do
    lab_build -k "$kind" -d "$delay"
    lab_coturn_start
    lab_echo_start inet "$LAB_INET_HOST" 7
    proto=udp
    [ "$kind" = udp-blocked ] && proto=tcp # the RTT of TCP connects
    ping=$(lab_ping lan1 "$LAB_INET_HOST" 7 10 20 "$proto") || true
    rtt=$(lab_field "$ping" rtt_median)
    np_t=() np_e=() nd_t=() vv_t=() np_ok=0 nd_ok=0 vv_ok=0 np_seen="" nd_seen="" vv_seen=""
    # "UDP blocked" is a claim about the path: natpilot says it only when a
    # second server address is silent too (one server may serve TCP only),
    # so that kind gets the second address, as in tests/lab/test_diagnose.sh.
    np_extra=()
    [ "$kind" = udp-blocked ] && np_extra=(--stun "$LAB_STUN2:$LAB_STUN_PORT")
    for i in $(seq 1 "$runs"); do
        timed ms out rc "$NATPILOT" diagnose --no-router --stun "$LAB_STUN1:$LAB_STUN_PORT" \
            "${np_extra[@]}" --json
        np_t+=("$ms")
        json=$(sed -n '/^{/,/^}/p' <<<"$out")
        np_e+=("$(jq -r '.elapsed_ms // "nan"' <<<"$json" 2>/dev/null || echo nan)")
        v=$(np_verdict "$json" "$rc")
        if np_right "$kind" "$v"; then np_ok=$((np_ok + 1)); else np_seen=$v; fi
        [ "$i" = 1 ] && [ -z "$np_seen" ] && np_seen=$v

        timed ms out rc turnutils_natdiscovery -m -f "$LAB_STUN1"
        nd_t+=("$ms")
        v=$(nd_verdict "$out")
        [ "$kind" = udp-blocked ] && [ "$v" = "none none" ] && v="no verdict"
        if [ "$v" = "${nd_want[$kind]}" ]; then nd_ok=$((nd_ok + 1)); else nd_seen=$v; fi
        [ "$i" = 1 ] && [ -z "$nd_seen" ] && nd_seen=$v

        timed ms out rc stun "$LAB_STUN1"
        vv_t+=("$ms")
        v=$(vv_verdict "$out")
        if vv_right "$kind" "$v"; then vv_ok=$((vv_ok + 1)); else vv_seen=$v; fi
        [ "$i" = 1 ] && [ -z "$vv_seen" ] && vv_seen=$v
    done
    np_m=$(printf '%s\n' "${np_t[@]}" | median)
    np_em=$(printf '%s\n' "${np_e[@]}" | median)
    nd_m=$(printf '%s\n' "${nd_t[@]}" | median)
    vv_m=$(printf '%s\n' "${vv_t[@]}" | median)
    results+=("$kind|$rtt|$np_m|$np_ok|$nd_m|$nd_ok|$vv_m|$vv_ok|$np_seen|$nd_seen|$vv_seen|$np_em")
    lab_log "$kind: natpilot ${np_m} ms ($np_ok/$runs right), natdiscovery ${nd_m} ms ($nd_ok/$runs), stun ${vv_m} ms ($vv_ok/$runs)"
done
lab_teardown

echo
echo "natpilot diagnose vs peers: ${delay} ms each way, $runs runs per tool, medians of wall time (ms)"
echo "(wall time includes ip netns exec; \"self\" is natpilot's own elapsed_ms; rtt is the UDP ping median, TCP connect time where UDP is blocked)"
printf '%-12s %6s | %9s %5s %7s | %9s %5s | %9s %5s | %8s %8s | %7s\n' \
    kind rtt natpilot right "(self)" natdisc right stun right np/nd np/stun np/RTT
printf '%s\n' "-------------------------------------------------------------------------------------------------------------"
for r in "${results[@]}"; do
    IFS='|' read -r kind rtt np_m np_ok nd_m nd_ok vv_m vv_ok _ _ _ np_em <<<"$r"
    awk -v k="$kind" -v rtt="$rtt" -v np="$np_m" -v npo="$np_ok/$runs" -v npe="$np_em" \
        -v nd="$nd_m" -v ndo="$nd_ok/$runs" -v vv="$vv_m" -v vvo="$vv_ok/$runs" 'BEGIN {
        printf "%-12s %6.1f | %9.0f %5s %7.0f | %9.0f %5s | %9.0f %5s | %8.3f %8.3f | %7.2f\n",
            k, rtt, np, npo, npe, nd, ndo, vv, vvo, np / nd, np / vv, (rtt > 0 ? np / rtt : 0) }'
done
echo
echo "Verdicts seen (natpilot: generic mapping filtering exit | natdiscovery | stun Primary):"
for r in "${results[@]}"; do
    IFS='|' read -r kind _ _ _ _ _ _ _ np_seen nd_seen vv_seen _ <<<"$r"
    printf '  %-12s %s | %s | %s\n' "$kind" "$np_seen" "$nd_seen" "$vv_seen"
done
