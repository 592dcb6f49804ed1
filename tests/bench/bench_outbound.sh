#!/usr/bin/env bash
# Benchmark: outbound port check of 20 TCP ports of which the router drops
# 5, in the lab (40 ms each way to the simulated internet, ~80 ms RTT).
#
#   natpilot verify --outbound (defaults: wait = clamp(4 x RTT, 400 ms,
#   3000 ms), all ports at once)
#   vs. a loop of `nc -z -w 2` (fixed 2 s timeout), one port after another.
#
# Prints the median wall time of each over RUNS runs (default 3) and the
# ratio, and checks that both found the same 5 blocked ports. Needs root.
# Usage: tests/bench/bench_outbound.sh [RUNS]   (NP_BUILD_DIR, NATPILOT as
# for the lab tests; defaults ./build)
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lab/lib.sh"
lab_require jq nc "$LAB_TOOLS/np_tcpsink"

RUNS=${1:-3}
REFLECTOR=$LAB_INET_HOST
SINK_PORT=7000
PORTS=(80 443 3074 3075 3478 3479 3480 5222 5223 6000
    7500 8080 9000 9295 9296 9297 10000 25565 27015 27036)
DROPPED=(3074 5223 9296 25565 27036)

lab_build -k eim-apdf -d 40
ready="$LAB_TMP/sink.ready"
lab_bg inet tcpsink "$LAB_TOOLS/np_tcpsink" -p "$SINK_PORT" -r "$ready"
lab_wait_for 5 "TCP sink" test -e "$ready"
lab_in inet nft -f - <<EOF
table ip reflect {
    chain pre {
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr $REFLECTOR tcp dport != $SINK_PORT dnat to $REFLECTOR:$SINK_PORT
    }
}
EOF
dropset=$(IFS=,; echo "${DROPPED[*]}")
lab_in router nft -f - <<EOF
table ip npegress {
    chain outfilter {
        type filter hook forward priority filter - 10; policy accept;
        iifname "br0" tcp dport { $dropset } drop
    }
}
EOF

# Warm-up: the very first packets through a fresh lab take about one extra
# round trip (seen on every fresh build); one connection before timing,
# so neither tool pays it.
lab_in lan1 nc -z -w 2 "$REFLECTOR" 80 || lab_fail "reflector not reachable"

port_args=()
for p in "${PORTS[@]}"; do
    port_args+=(--port "tcp:$p")
done

median() {
    sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

np_times=() nc_times=()
for run in $(seq 1 "$RUNS"); do
    t0=$(lab_now_ms)
    set +e
    out=$(lab_in lan1 "$NATPILOT" verify --outbound --json "${port_args[@]}" \
        --reflector "$REFLECTOR:443" --stun none 2>/dev/null)
    set -e
    t1=$(lab_now_ms)
    np_times+=($((t1 - t0)))
    np_info=$(jq -r '"rtt \(.rtt_ms) ms, wait \(.wait_ms) ms, late \(.late_answers), second pass \(.confirm_pass)"' <<<"$out")
    np_blocked=$(jq -r '[.rules[].tested[] | select(.state == "dropped") | .port] | sort | join(" ")' <<<"$out")

    t0=$(lab_now_ms)
    nc_blocked=()
    for p in "${PORTS[@]}"; do
        if ! lab_in lan1 nc -z -w 2 "$REFLECTOR" "$p" 2>/dev/null; then
            nc_blocked+=("$p")
        fi
    done
    t1=$(lab_now_ms)
    nc_times+=($((t1 - t0)))
    lab_log "run $run: natpilot ${np_times[-1]} ms ($np_info; dropped: $np_blocked)," \
        "nc loop ${nc_times[-1]} ms (failed: ${nc_blocked[*]})"
    want=$(printf '%s\n' "${DROPPED[@]}" | sort -n | tr '\n' ' ' | sed 's/ $//')
    got=$(tr ' ' '\n' <<<"$np_blocked" | sort -n | tr '\n' ' ' | sed 's/ $//')
    [ "$got" = "$want" ] || lab_fail "natpilot found '$got', expected '$want'"
    [ "${nc_blocked[*]}" = "$want" ] || lab_fail "nc found '${nc_blocked[*]}'"
done

np_med=$(printf '%s\n' "${np_times[@]}" | median)
nc_med=$(printf '%s\n' "${nc_times[@]}" | median)
echo "bench_outbound: 20 TCP ports, 5 dropped, RTT ~80 ms, $RUNS runs (median)"
echo "  natpilot verify --outbound : ${np_med} ms  (runs: ${np_times[*]})"
echo "  nc -z -w 2 loop            : ${nc_med} ms  (runs: ${nc_times[*]})"
awk -v a="$nc_med" -v b="$np_med" 'BEGIN { printf "  ratio (nc loop / natpilot) : %.1fx\n", a / b }'
