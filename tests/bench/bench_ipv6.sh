#!/usr/bin/env bash
# Benchmark: natpilot diagnose with its IPv6 side on, against IPv4 alone,
# in the namespace lab with the delay line on the WAN link (default 40 ms
# each way, ~80 ms RTT; the delay line forwards Ethernet frames, IPv6
# included). For each IPv6 topology (apdf: a stateful firewall that
# answers; blocked: IPv6 configured but dropped at the router), N runs of
#   natpilot diagnose --no-ipv6            (IPv4 alone)
#   natpilot diagnose --stun6 [V6]:3478    (IPv4 and IPv6 in one loop)
# both with --no-router (the probes only) and with the router asked.
# Prints medians of natpilot's elapsed_ms (the probe loop) and wall time,
# and both in round trips of the measured RTT. Run as root.
#
#   tests/bench/bench_ipv6.sh [-n RUNS] [-d DELAY_MS] [-k "apdf blocked"]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${NP_SOURCE_DIR:=$(cd "$here/../.." && pwd)}"
: "${NP_BUILD_DIR:=$NP_SOURCE_DIR/build}"
: "${NATPILOT:=$NP_BUILD_DIR/natpilot}"
# shellcheck source=tests/lab/lib.sh
source "$NP_SOURCE_DIR/tests/lab/lib.sh"

runs=5 delay=40 kinds="apdf blocked"
while getopts "n:d:k:h" opt; do
    case $opt in
    n) runs=$OPTARG ;;
    d) delay=$OPTARG ;;
    k) kinds=$OPTARG ;;
    *)
        sed -n '2,14p' "$0"
        exit 2
        ;;
    esac
done
lab_require turnserver miniupnpd jq "$NATPILOT"

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# run MODE ROUTER: one diagnose; prints "elapsed_ms wall_ms rtt_ms v6state"
run() {
    local mode=$1 router=$2 args=() out t0 ms
    [ "$router" = no ] && args+=(--no-router)
    if [ "$mode" = v4 ]; then
        args+=(--no-ipv6)
    else
        args+=(--stun6 "[$LAB_STUN6_1]:$LAB_STUN_PORT")
    fi
    t0=$(lab_now_ms)
    out=$(lab_in lan1 "$NATPILOT" diagnose --stun "$LAB_STUN1:$LAB_STUN_PORT" \
        "${args[@]}" --json 2>/dev/null) || true
    ms=$(($(lab_now_ms) - t0))
    printf '%s %s %s %s\n' "$(jq -r '.elapsed_ms' <<<"$out")" "$ms" \
        "$(jq -r '.rtt_ms' <<<"$out")" "$(jq -r '.ipv6.state // "-"' <<<"$out")"
}

printf '%-8s %-7s %-6s %10s %9s %8s %10s %9s %s\n' topology router mode \
    "probe_ms" "probe_rt" "wall_ms" "wall_rt" "rtt_ms" "ipv6"
for kind in $kinds; do
    lab_build -k eim-apdf -d "$delay" -6 "$kind" >/dev/null 2>&1
    lab_coturn_start
    lab_coturn6_start
    lab_miniupnpd_start
    run v4 no >/dev/null # warm-up (neighbour tables, miniupnpd)
    for router in no yes; do
        for mode in v4 v4+v6; do
            : >"$LAB_TMP/runs"
            for _ in $(seq 1 "$runs"); do
                run "$mode" "$router" >>"$LAB_TMP/runs"
            done
            e=$(awk '{ print $1 }' "$LAB_TMP/runs" | median)
            w=$(awk '{ print $2 }' "$LAB_TMP/runs" | median)
            r=$(awk '{ print $3 }' "$LAB_TMP/runs" | median)
            s=$(awk '{ print $4 }' "$LAB_TMP/runs" | sort | uniq -c | awk '{ printf "%s%sx%s", sep, $1, $2; sep="," }')
            printf '%-8s %-7s %-6s %10s %9s %8s %10s %9s %s\n' "$kind" \
                "$router" "$mode" "$e" \
                "$(awk -v a="$e" -v b="$r" 'BEGIN { printf "%.2f", a / b }')" \
                "$w" "$(awk -v a="$w" -v b="$r" 'BEGIN { printf "%.2f", a / b }')" \
                "$r" "$s"
        done
    done
done
