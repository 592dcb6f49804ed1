#!/usr/bin/env bash
# Benchmark of natpilot daemon's cost, in the namespace lab (needs root):
#   - peak resident memory (VmHWM) while it holds 3 devices x 10 mappings
#     (lan1, lan2 and a third LAN address, PCP with THIRD_PARTY allowed);
#   - wake-ups over 60 s idle, counted two ways: voluntary context switches
#     from /proc/PID/status, and the poll() calls strace sees (each return
#     of poll is one wake-up of the loop). Run twice: with SSDP listening off
#     (only its own timers can wake it: none are due in the window) and on
#     (the router's NOTIFY bursts, every notify_interval = 60 s, wake it);
#   - the same with the web interface on (issue 14), after a login, the
#     page and a status request (so the serving path has run), then idle;
#     and the status page's load on the LAN: the five requests the page
#     makes (HTML, CSS, JS, session, status) over one keep-alive
#     connection, median of 10.
# Targets (issue 7): VmHWM < 4 MiB; no wake-ups but its timers. With the
# web interface (issue 14): VmHWM < 6 MiB, 0 wake-ups idle, page < 50 ms.
#
#   sudo NP_BUILD_DIR=build tests/bench/bench_daemon.sh [IDLE_SECONDS]
set -euo pipefail
NP_SOURCE_DIR=${NP_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=tests/lab/lib.sh
source "$NP_SOURCE_DIR/tests/lab/lib.sh"
lab_require turnserver miniupnpd jq strace curl

IDLE=${1:-60}
D="$LAB_TMP/bench"
mkdir -p "$D"
PROFILES="$NP_SOURCE_DIR/tests/lab/data/daemon/profiles"
DPID=""

lab_on_exit() {
    [ -z "$DPID" ] || kill -KILL "$DPID" 2>/dev/null || true
}

conf() { # conf NAME SSDP [WEB]
    local web=""
    [ "${3:-false}" = true ] &&
        web="\"web\": {\"enabled\": true, \"listen\": \"$LAB_LAN1_IP:8780\", \"stun\": \"$LAB_STUN1:3478\"},"
    cat >"$D/$1.conf" <<EOF
{
  $web
  "lease": 7200,
  "verify_interval": 300,
  "ssdp_listen": $2,
  "log_level": "info",
  "state_file": "$D/$1.state.json",
  "status_socket": "$D/$1.sock",
  "profiles_dir": "$PROFILES",
  "devices": [
    {"name": "nas", "address": "$LAB_LAN1_IP", "profiles": ["bench-a"]},
    {"name": "xbox", "address": "$LAB_LAN2_IP", "profiles": ["bench-b"]},
    {"name": "ps5", "address": "198.18.0.12", "profiles": ["bench-c"]}
  ]
}
EOF
}

held() {
    "$NATPILOT" status --json --socket "$1" 2>/dev/null |
        jq -e '[.devices[].mappings[] | select(.state == "held")] | length == 30' \
            >/dev/null
}

field() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

U=""  # set once the lab is built
web_use() { # log in, load the page and the status, as a browser would
    local tok
    tok=$(lab_in lan1 "$NATPILOT" web-token --config "$1")
    lab_in lan1 curl -s -m 5 -o /dev/null -c "$D/jar" -X POST -H "Origin: $U" \
        -d "{\"token\":\"$tok\"}" "$U/api/v1/login"
    page_load_ms >/dev/null
}
page_load_ms() {
    lab_in lan1 curl -s -m 5 -b "$D/jar" -o /dev/null -o /dev/null \
        -o /dev/null -o /dev/null -o /dev/null -w '%{time_total}\n' "$U/" \
        "$U/app.css" "$U/app.js" "$U/api/v1/session" "$U/api/v1/status" |
        awk '{ s += $1 } END { printf "%.2f\n", s * 1000 }'
}

run() { # run NAME SSDP [WEB]
    local name=$1 ssdp=$2 web=${3:-false} t0 ms v0 v1 nv0 nv1 hwm rss anon file polls
    conf "$name" "$ssdp" "$web"
    t0=$(lab_now_ms)
    lab_bg lan1 "daemon.$name" "$NATPILOT" daemon --config "$D/$name.conf" \
        --foreground
    DPID=$LAB_LAST_PID
    lab_wait_for 30 "30 mappings held" held "$D/$name.sock"
    ms=$(($(lab_now_ms) - t0))
    if [ "$web" = true ]; then
        web_use "$D/$name.conf"
        for _ in $(seq 1 10); do page_load_ms; done | sort -n |
            sed -n 5p >"$D/page_ms"
    fi
    # settle: the first check and status requests are done
    sleep 2
    # window 1: /proc only (nothing attached to the process)
    v0=$(field "$DPID" voluntary_ctxt_switches)
    nv0=$(field "$DPID" nonvoluntary_ctxt_switches)
    sleep "$IDLE"
    v1=$(field "$DPID" voluntary_ctxt_switches)
    nv1=$(field "$DPID" nonvoluntary_ctxt_switches)
    # window 2: strace counts the poll calls that return (attaching and
    # detaching themselves interrupt the poll, which is restarted: counted
    # apart as the first/last call)
    timeout -s INT "$IDLE" strace -f -qq -c -e trace=poll,ppoll,epoll_wait \
        -p "$DPID" -o "$D/$name.strace" >/dev/null 2>&1 || true
    hwm=$(field "$DPID" VmHWM)
    rss=$(field "$DPID" VmRSS)
    anon=$(field "$DPID" RssAnon)
    file=$(field "$DPID" RssFile)
    polls=$(awk '$NF == "poll" || $NF == "ppoll" {s += $4} END {print s + 0}' \
        "$D/$name.strace")
    if [ "$web" = true ]; then
        # then the heavier pages: a diagnosis (loads libcrypto for STUN's
        # MESSAGE-INTEGRITY code), the catalog listed and searched, a plan
        local csrf
        csrf=$(lab_in lan1 curl -s -m 5 -b "$D/jar" "$U/api/v1/session" | jq -r .csrf)
        lab_in lan1 curl -s -m 10 -o /dev/null -b "$D/jar" -X POST -H "Origin: $U" \
            -H "X-CSRF-Token: $csrf" -d '{}' "$U/api/v1/diagnose"
        lab_in lan1 curl -s -m 5 -o /dev/null -b "$D/jar" "$U/api/v1/profiles"
        lab_in lan1 curl -s -m 5 -o /dev/null -b "$D/jar" "$U/api/v1/profiles?q=halo"
        lab_in lan1 curl -s -m 5 -o /dev/null -b "$D/jar" -X POST -H "Origin: $U" \
            -H "X-CSRF-Token: $csrf" \
            -d "{\"address\":\"$LAB_LAN2_IP\",\"profiles\":[\"bench-b\"]}" \
            "$U/api/v1/plan"
        field "$DPID" VmHWM >"$D/hwm_used"
    fi
    kill -TERM "$DPID"
    wait "$DPID" || true
    DPID=""
    printf '%-22s start->30 held %5d ms | VmHWM %5d KiB (%.2f MiB), VmRSS %d KiB (anon %d, file %d) | idle %ds: %d voluntary + %d involuntary switches; under strace %ds: %d poll calls\n' \
        "$name (ssdp $ssdp)" "$ms" "$hwm" "$(awk -v k="$hwm" 'BEGIN{print k/1024}')" \
        "$rss" "$anon" "$file" "$IDLE" $((v1 - v0)) $((nv1 - nv0)) "$IDLE" "$polls"
    echo "$name $hwm $((v1 - v0)) $polls" >>"$D/results"
}

lab_build -k eim-apdf
U="http://$LAB_LAN1_IP:8780"
lab_coturn_start
lab_miniupnpd_start -S no -t yes
echo "natpilot daemon, 3 devices x 10 mappings (PCP), lease 7200 s, check every 300 s"
run timers-only false
run with-ssdp true
run web-idle false true
read -r _ hwm wake polls < <(head -1 "$D/results")
echo
echo "peak RSS (VmHWM): $hwm KiB, target < 4096 KiB: $([ "$hwm" -lt 4096 ] && echo met || echo MISSED)"
echo "idle wake-ups over ${IDLE} s with no timer due (SSDP off): $wake context switches, $polls poll returns; target 0: $([ "$wake" = 0 ] && [ "$polls" -le 1 ] && echo met || echo MISSED)"
read -r _ _ swake spolls < <(sed -n 2p "$D/results")
echo "with SSDP listening on: $swake context switches, $spolls poll returns in ${IDLE} s (the router's NOTIFY bursts, notify_interval=60)"
read -r _ whwm wwake wpolls < <(sed -n 3p "$D/results")
page=$(cat "$D/page_ms")
echo
echo "with the web interface on (after a login and a status page load), SSDP off:"
echo "  peak RSS (VmHWM): $whwm KiB, target < 6144 KiB: $([ "$whwm" -lt 6144 ] && echo met || echo MISSED)"
echo "  idle wake-ups over ${IDLE} s: $wwake context switches, $wpolls poll returns; target 0: $([ "$wwake" = 0 ] && [ "$wpolls" -le 1 ] && echo met || echo MISSED)"
echo "  peak RSS after a diagnosis, the catalog listed and searched, and a plan: $(cat "$D/hwm_used") KiB"
echo "  status page load on the LAN (5 requests, keep-alive, median of 10): $page ms, target < 50 ms: $(awk -v m="$page" 'BEGIN { print (m < 50 ? "met" : "MISSED") }')"
