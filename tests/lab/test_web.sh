#!/usr/bin/env bash
# The daemon's web interface in the lab (docs/web-api.md,
# docs/web-threat-model.md): the daemon on lan1 serves it on lan1's LAN
# address; the real miniupnpd is the router.
#  1. configuration: the interface refuses a WAN, public, documentation
#     (the lab's internet) or wildcard address; no devices is fine with it on;
#  2. security with curl: every response carries the CSP and other headers;
#     no login -> 401; wrong token -> 401; login rate -> 429; wrong Origin,
#     missing Origin, missing CSRF token -> 403; a foreign Host (DNS
#     rebinding) -> 403; an oversized body -> 413 (announced or chunked);
#     /metrics with the read-only token, not without; the token file is 0600;
#     a connection from the WAN side (the router forwarding its port 8780
#     here, as a careless port forward would) is refused;
#  3. a real browser (headless Chromium via Selenium, tools/web_browser.py,
#     in lan1): log in, the set-up of lan2 ("console", Microsoft MAC: hinted
#     as an Xbox) to Open, proven by an inbound packet from the simulated
#     internet to lan2; the status page updating after a router restart;
#     the refusal path (UDP 88, outside the router's allow list: manual
#     forwards, never a DMZ); the profiles page; screenshots of each page at
#     360 px and desktop width in $NP_BUILD_DIR/artifacts/web/;
#  4. the device is in the configuration file (written atomically, still
#     valid), and SIGTERM removes every mapping.
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"
lab_require turnserver miniupnpd upnpc jq curl chromium chromedriver

SHOTS="$NP_BUILD_DIR/artifacts/web"
mkdir -p "$SHOTS"
rm -f "$SHOTS"/*.png
D="$LAB_TMP/web"
mkdir -p "$D" "$D/etc"
# The configuration sits in a directory the daemon sees read-only (as /etc
# under the shipped unit's ProtectSystem=strict): the devices added from
# the page go to web-devices.json in the state directory.
CONF="$D/etc/natpilot.conf"
PROFILES="$NP_SOURCE_DIR/tests/lab/data/web/profiles"
DPID=""
BPID=""

measure() { printf '  measure: %s\n' "$*"; }

lab_on_exit() {
    [ -z "$BPID" ] || kill -KILL "$BPID" 2>/dev/null || true
    [ -z "$DPID" ] || kill -KILL "$DPID" 2>/dev/null || true
    if [ "$LAB_FAILED" != 0 ] || [ "${LAB_KEEP_LOGS:-0}" = 1 ]; then
        for f in "$LAB_TMP"/daemon.*.log "$LAB_TMP"/browser.log; do
            [ -e "$f" ] || continue
            echo "---- $f"
            tail -n 60 "$f"
        done
    fi
}

write_conf() { # write_conf LISTEN
    cat >"$CONF" <<EOF
{
  "lease": 30,
  "verify_interval": 15,
  "log_level": "debug",
  "state_file": "$D/state.json",
  "status_socket": "$D/status.sock",
  "profiles_dir": "$PROFILES",
  "web": {"enabled": true, "listen": "$1", "stun": "$LAB_STUN1:3478"},
  "devices": []
}
EOF
}

echo "== lab: NAT eim-apdf, miniupnpd with secure_mode off, third party on"
lab_build -k eim-apdf
lab_coturn_start
lab_miniupnpd_start -S no -t yes
# lan2 is "the console": a Microsoft MAC address (OUI 70:BC:10)
ip -n "$(lab_ns lan2)" link set eth0 address 70:bc:10:00:00:11

echo "== 1. where the interface may listen"
for a in "$LAB_PUBLIC_IP:8780" "0.0.0.0:8780" "203.0.113.100:8780" \
    "100.64.0.1:8780" "8.8.8.8:8780"; do
    write_conf "$a"
    if "$NATPILOT" daemon --config "$CONF" --check >"$D/check.out" 2>&1; then
        lab_bad "listen $a accepted"
    else
        grep -q "never listens on a WAN" "$D/check.out" &&
            lab_ok "listen $a refused" || lab_bad "listen $a: $(cat "$D/check.out")"
    fi
done
rc=0
lab_in lan1 "$NATPILOT" daemon --config "$CONF" --web-listen 0.0.0.0:8780 \
    --foreground >"$D/wild.out" 2>&1 || rc=$?
[ "$rc" = 2 ] && lab_ok "--web-listen 0.0.0.0 refused (exit 2)" ||
    lab_bad "--web-listen 0.0.0.0: exit $rc"
write_conf "$LAB_LAN1_IP:8780"
"$NATPILOT" daemon --config "$CONF" --check >/dev/null &&
    lab_ok "a LAN address and no devices: valid with the web interface on" ||
    lab_bad "the web test configuration does not validate"

lab_bg lan1 daemon.web unshare -m sh -c \
    'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" &&
     exec "$2" daemon --config "$3" --foreground' sh "$D/etc" "$NATPILOT" "$CONF"
DPID=$LAB_LAST_PID
U="http://$LAB_LAN1_IP:8780"
lab_wait_for 10 "web interface listening" \
    lab_in lan1 curl -s -o /dev/null "$U/"
TOKEN=$(lab_in lan1 "$NATPILOT" web-token --config "$CONF")
MTOKEN=$(lab_in lan1 "$NATPILOT" web-token --config "$CONF" --metrics)
[ "${#TOKEN}" = 64 ] && lab_ok "natpilot web-token prints the token" ||
    lab_bad "web-token: '$TOKEN'"
grep -q "web login token: $TOKEN" "$LAB_TMP/daemon.web.log" &&
    lab_ok "the first start logs the token" || lab_bad "token not in the log"
[ "$(stat -c %a "$D/web-token")" = 600 ] && lab_ok "token file is 0600" ||
    lab_bad "token file mode $(stat -c %a "$D/web-token")"

echo "== 2. security"
cu() { lab_in lan1 curl -s -m 5 "$@"; }
code() { cu -o /dev/null -w '%{http_code}' "$@"; }
hdrs=$(cu -D - -o /dev/null "$U/")
for h in "Content-Security-Policy: default-src 'none'; script-src 'self'" \
    "X-Content-Type-Options: nosniff" "X-Frame-Options: DENY" \
    "Referrer-Policy: no-referrer"; do
    grep -qF "$h" <<<"$hdrs" && lab_ok "page header: ${h%%:*}" ||
        lab_bad "page lacks $h"
done
hdrs=$(cu -D - -o /dev/null "$U/api/v1/status")
grep -qF "Content-Security-Policy: default-src 'none'" <<<"$hdrs" &&
    lab_ok "API answers (even 401) carry the CSP" || lab_bad "API answer lacks CSP"
c=$(code "$U/api/v1/status")
[ "$c" = 401 ] && lab_ok "no login: status 401" || lab_bad "no login: status $c"
c=$(code "$U/metrics")
[ "$c" = 401 ] && lab_ok "no login: /metrics 401" || lab_bad "no login: /metrics $c"
c=$(code -X POST -H "Origin: $U" -d "{\"token\":\"$(printf 'f%.0s' $(seq 64))\"}" \
    "$U/api/v1/login")
[ "$c" = 401 ] && lab_ok "wrong token: 401" || lab_bad "wrong token: $c"
c=$(code -X POST -H "Origin: http://evil.example" -d "{\"token\":\"$TOKEN\"}" \
    "$U/api/v1/login")
[ "$c" = 403 ] && lab_ok "login from another Origin: 403" || lab_bad "login from another origin: $c"
c=$(code -X POST -d "{\"token\":\"$TOKEN\"}" "$U/api/v1/login")
[ "$c" = 403 ] && lab_ok "login without Origin: 403" || lab_bad "login without Origin: $c"
c=$(code -H "Host: rebind.example:8780" "$U/")
[ "$c" = 403 ] && lab_ok "foreign Host (DNS rebinding): 403" || lab_bad "foreign Host: $c"
c=$(code -X POST -H "Origin: $U" -c "$D/jar" -d "{\"token\":\"$TOKEN\"}" \
    "$U/api/v1/login")
[ "$c" = 200 ] && lab_ok "login: 200" || lab_bad "login: $c"
grep -q "#HttpOnly_" "$D/jar" && lab_ok "cookie is HttpOnly" || lab_bad "cookie not HttpOnly"
CSRF=$(cu -b "$D/jar" "$U/api/v1/session" | jq -r .csrf)
c=$(code -b "$D/jar" "$U/api/v1/status")
[ "$c" = 200 ] && lab_ok "logged in: status 200" || lab_bad "logged in: status $c"
cu -b "$D/jar" "$U/api/v1/status" | jq -e '.router and .devices' >/dev/null &&
    lab_ok "status is the keeper's report" || lab_bad "status document"
PLAN="{\"address\":\"$LAB_LAN2_IP\",\"profiles\":[\"lab-console-game\"]}"
c=$(code -b "$D/jar" -X POST -H "Origin: $U" -d "$PLAN" "$U/api/v1/plan")
[ "$c" = 403 ] && lab_ok "POST without CSRF token: 403" || lab_bad "no CSRF: $c"
last=0
[ "${CSRF: -1}" = 0 ] && last=1
c=$(code -b "$D/jar" -X POST -H "Origin: $U" -H "X-CSRF-Token: ${CSRF%?}$last" \
    -d "$PLAN" "$U/api/v1/plan")
[ "$c" = 403 ] && lab_ok "POST with a wrong CSRF token: 403" || lab_bad "wrong CSRF: $c"
c=$(code -b "$D/jar" -X POST -H "Origin: http://198.18.0.66:8780" \
    -H "X-CSRF-Token: $CSRF" -d "$PLAN" "$U/api/v1/plan")
[ "$c" = 403 ] && lab_ok "POST from another Origin with the CSRF token: 403" ||
    lab_bad "wrong Origin: $c"
c=$(code -b "$D/jar" -X POST -H "Origin: $U" -H "X-CSRF-Token: $CSRF" \
    -d "$PLAN" "$U/api/v1/plan")
[ "$c" = 200 ] && lab_ok "POST with Origin and CSRF token: 200" || lab_bad "plan: $c"
head -c 20000 /dev/zero | tr '\0' 'x' >"$D/big"
c=$(code -b "$D/jar" -X POST -H "Origin: $U" -H "X-CSRF-Token: $CSRF" \
    --data-binary @"$D/big" "$U/api/v1/plan")
[ "$c" = 413 ] && lab_ok "oversized body: 413" || lab_bad "oversized body: $c"
c=$(code -b "$D/jar" -X POST -H "Origin: $U" -H "X-CSRF-Token: $CSRF" \
    -H "Transfer-Encoding: chunked" --data-binary @"$D/big" "$U/api/v1/plan")
[ "$c" = 413 ] && lab_ok "oversized chunked body: 413" || lab_bad "chunked oversized: $c"
c=$(code -b "$D/jar" -X POST -H "Origin: $U" -H "X-CSRF-Token: $CSRF" \
    -d "{\"address\":\"$LAB_INET_HOST\",\"profiles\":[\"lab-console-game\"]}" \
    "$U/api/v1/plan")
[ "$c" = 403 ] && lab_ok "a device off the LAN: 403" || lab_bad "off-LAN device: $c"
c=$(code -b "$D/jar" -X POST -H "Origin: $U" -H "X-CSRF-Token: $CSRF" \
    -d "{\"name\":\"x\",\"address\":\"$LAB_LAN2_IP\",\"profiles\":[\"no-such\"]}" \
    "$U/api/v1/setup")
[ "$c" = 422 ] && lab_ok "set-up with a profile not in the catalog: 422" ||
    lab_bad "unknown profile: $c"
c=$(code -H "Authorization: Bearer $MTOKEN" "$U/metrics")
[ "$c" = 200 ] && lab_ok "/metrics with the read-only token: 200" || lab_bad "metrics token: $c"
c=$(code -H "Authorization: Bearer $TOKEN" "$U/metrics")
[ "$c" = 401 ] && lab_ok "/metrics with the login token as bearer: 401" ||
    lab_bad "metrics with login token: $c"
c=$(code -H "Authorization: Bearer $MTOKEN" "$U/api/v1/status")
[ "$c" = 401 ] && lab_ok "the metrics token does not open the API: 401" ||
    lab_bad "metrics token on the API: $c"
cu -H "Authorization: Bearer $MTOKEN" "$U/metrics" |
    grep -q '^natpilot_router_up 1$' && lab_ok "/metrics: Prometheus text" ||
    lab_bad "/metrics text"
# login rate: 5 tries a minute per address, then 429 (lan2, a fresh address)
codes=""
for _ in 1 2 3 4 5 6 7; do
    codes+="$(lab_in lan2 curl -s -m 5 -o /dev/null -w '%{http_code} ' \
        -X POST -H "Origin: $U" -d '{"token":"x"}' "$U/api/v1/login")"
done
[[ "$codes" == *429* ]] && lab_ok "repeated wrong logins: 429 ($codes)" ||
    lab_bad "no login rate limit: $codes"
c=$(lab_in lan2 curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST \
    -H "Origin: $U" -d "{\"token\":\"$TOKEN\"}" "$U/api/v1/login")
[ "$c" = 429 ] && lab_ok "even the right token waits out the limit" ||
    lab_bad "right token during the limit: $c"
# The router forwards its WAN port 8780 here, as a careless port forward
# would: the daemon refuses the connection from the internet's address.
lab_in router nft add rule inet nplab prerouting iifname wan tcp dport 8780 \
    dnat ip to "$LAB_LAN1_IP:8780"
rc=0
lab_in inet curl -s -m 5 -o /dev/null --interface "$LAB_INET_HOST" \
    "http://$LAB_PUBLIC_IP:8780/" || rc=$?
[ "$rc" != 0 ] && grep -q "refused a connection from $LAB_INET_HOST" \
    "$LAB_TMP/daemon.web.log" &&
    lab_ok "a connection from the WAN side is refused (curl exit $rc)" ||
    lab_bad "WAN-side connection: curl exit $rc"
c=$(cu -o /dev/null -w '%{http_code}' "http://127.0.0.1:8780/" || true)
[ "$c" = 000 ] && lab_ok "not listening on loopback when given a LAN address" ||
    lab_bad "loopback answered $c"

# The status page's load on the LAN, as the daemon serves it: the five
# requests the page makes (HTML, CSS, JS, session, status) in order over one
# keep-alive connection, like a browser; the median of 5 runs.
page_load_ms() {
    cu -b "$D/jar" -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
        -o /dev/null -w '%{time_total}\n' "$U/" "$U/app.css" "$U/app.js" \
        "$U/api/v1/session" "$U/api/v1/status" |
        awk '{ s += $1 } END { printf "%.2f\n", s * 1000 }'
}
loads=$(for _ in 1 2 3 4 5; do page_load_ms; done | sort -n)
med=$(sed -n 3p <<<"$loads")
measure "status page load on the LAN (HTML, CSS, JS, session, status; median of 5): $med ms (runs: $(tr '\n' ' ' <<<"$loads"))"
awk -v m="$med" 'BEGIN { exit !(m < 50) }' &&
    lab_ok "status page served in under 50 ms ($med ms)" ||
    lab_bad "status page took $med ms"

echo "== 3. the browser"
HS="$D/handshake"
mkdir -p "$HS"
# lan1 learns lan2's MAC (the neighbour table the page lists)
lab_in lan1 bash -c "echo hi >/dev/udp/$LAB_LAN2_IP/9" || true
lab_wait_for 5 "lan2 in lan1's neighbour table" \
    bash -c "ip -n $(lab_ns lan1) neigh show $LAB_LAN2_IP | grep -q lladdr"
lab_bg lan1 browser env HOME="$D" /usr/bin/python3 \
    "$NP_SOURCE_DIR/tests/lab/tools/web_browser.py" "$U/" "$TOKEN" "$SHOTS" \
    "$HS" "$LAB_LAN2_IP" "$LAB_LAN1_IP"
BPID=$LAB_LAST_PID
for _ in $(seq 1 1200); do
    [ -e "$HS/setup.done" ] || [ -e "$HS/restart.request" ] ||
        ! kill -0 "$BPID" 2>/dev/null && break
    sleep 0.1
done
if [ -e "$HS/setup.done" ]; then
    lab_inbound udp 40100 lan2 40100 2000 >/dev/null &&
        lab_inbound tcp 40110 lan2 40110 2000 >/dev/null &&
        lab_ok "set-up in the browser: packets from the internet reach lan2" ||
        lab_bad "set-up in the browser: no inbound packet reaches lan2"
fi
for _ in $(seq 1 600); do
    [ -e "$HS/restart.request" ] || ! kill -0 "$BPID" 2>/dev/null && break
    sleep 0.1
done
if [ -e "$HS/restart.request" ]; then
    lab_miniupnpd_restart
    touch "$HS/restart.done"
fi
rc=0
wait "$BPID" || rc=$?
BPID=""
cat "$LAB_TMP/browser.log"
[ "$rc" = 0 ] && lab_ok "browser run passed" || lab_bad "browser run: exit $rc"
n=$(find "$SHOTS" -name '*-phone.png' | wc -l)
m=$(find "$SHOTS" -name '*-desktop.png' | wc -l)
[ "$n" -ge 8 ] && [ "$n" = "$m" ] &&
    lab_ok "screenshots: $n pages at 360 px and desktop width in $SHOTS" ||
    lab_bad "screenshots: $n phone, $m desktop"
lab_inbound udp 40100 lan2 40100 2000 >/dev/null &&
    lab_ok "after the router restart: lan2 reachable again" ||
    lab_bad "after the restart: lan2 not reachable"

echo "== 3b. the expert form: explicit ports, never a whole range or a DMZ"
XIP=${LAB_LAN2_IP%.*}.50 # a second address of lan2: a device the catalog
ip -n "$(lab_ns lan2)" addr add "$XIP/24" dev eth0 # does not know
xpost() { # xpost BODY: the HTTP code; the answer in $D/expert.json
    cu -b "$D/jar" -o "$D/expert.json" -w '%{http_code}' -X POST \
        -H "Origin: $U" -H "X-CSRF-Token: $CSRF" -d "$1" "$U/api/v1/expert"
}
xcase() { # xcase WHAT WANT_CODE WANT_ERROR BODY
    local c
    c=$(xpost "$4")
    [ "$c" = "$2" ] && jq -e --arg e "$3" '.error.code == $e' "$D/expert.json" >/dev/null &&
        lab_ok "expert: $1: $2 $3 ($(jq -r .error.message "$D/expert.json" | cut -c1-70)...)" ||
        lab_bad "expert: $1: $c $(cat "$D/expert.json")"
}
xcase "1-65535" 422 whole_range \
    "{\"name\":\"x\",\"address\":\"$XIP\",\"ports\":[\"udp:1-65535\"]}"
xcase "65 ports in one rule" 422 whole_range \
    "{\"name\":\"x\",\"address\":\"$XIP\",\"ports\":[\"tcp:27000-27064\"]}"
xcase "more than 128 ports in all" 422 whole_range \
    "{\"name\":\"x\",\"address\":\"$XIP\",\"ports\":[\"udp:1000-1063\",\"udp:2000-2063\",\"udp:3000-3063\"]}"
xcase "\"all\"" 422 dmz \
    "{\"name\":\"x\",\"address\":\"$XIP\",\"ports\":[\"all\"]}"
xcase "a DMZ request" 422 dmz \
    "{\"name\":\"x\",\"address\":\"$XIP\",\"dmz\":true,\"ports\":[\"udp:3074\"]}"
xcase "an address off the LAN" 403 not_lan \
    "{\"name\":\"x\",\"address\":\"$LAB_INET_HOST\",\"ports\":[\"udp:3074\"]}"
c=$(cu -b "$D/jar" -o /dev/null -w '%{http_code}' -X POST -H "Origin: $U" \
    -d "{\"name\":\"x\",\"address\":\"$XIP\",\"ports\":[\"udp:3074\"]}" \
    "$U/api/v1/expert")
[ "$c" = 403 ] && lab_ok "expert: without the CSRF token: 403" || lab_bad "expert no CSRF: $c"
jq -e 'all(.devices[]; .name != "x")' "$D/web-devices.json" >/dev/null &&
    lab_ok "expert: nothing refused was written" || lab_bad "a refused device was written"
c=$(xpost "{\"name\":\"expert-pc\",\"address\":\"$XIP\",\"ports\":[\"udp:41000-41001\",\"tcp:41010\"]}")
[ "$c" = 200 ] && jq -e .reloaded "$D/expert.json" >/dev/null &&
    lab_ok "expert: 3 explicit ports for $XIP added and reloaded" ||
    lab_bad "expert add: $c $(cat "$D/expert.json")"
xverify() {
    cu -b "$D/jar" -X POST -H "Origin: $U" -H "X-CSRF-Token: $CSRF" \
        -d '{"name":"expert-pc"}' "$U/api/v1/verify" >"$D/xverify.json" &&
        jq -e '[.rules[] | select(.status == "mapped")] | length == 3' \
            "$D/xverify.json" >/dev/null && return 0
    sleep 0.5 # each check asks the router: not in a tight loop
    return 1
}
lab_wait_for 20 "the keeper mapped the expert ports" xverify &&
    lab_ok "expert: the session's verify: 3 of 3 mapped" ||
    lab_bad "expert verify: $(cat "$D/xverify.json")"
jq -e '.discovery.gateway and (.rules[0] | has("via") and has("external"))' \
    "$D/xverify.json" >/dev/null &&
    lab_ok "verify answers verify --json's report structure" ||
    lab_bad "verify report: $(cat "$D/xverify.json")"
lab_inbound udp 41001 lan2 41001 2000 >/dev/null &&
    lab_inbound tcp 41010 lan2 41010 2000 >/dev/null &&
    lab_ok "expert: packets from the internet reach $XIP" ||
    lab_bad "expert: no inbound packet reaches $XIP"

echo "== 4. the web devices file"
grep -q "Read-only file system" "$LAB_TMP/daemon.web.log" &&
    lab_bad "something tried to write the read-only configuration directory"
jq -e '.devices == []' "$CONF" >/dev/null &&
    lab_ok "the configuration (read-only to the daemon) is unchanged" ||
    lab_bad "config: $(cat "$CONF")"
jq -e '[.devices[].name] == ["console", "nas-pc", "expert-pc"] and (keys == ["devices"])' \
    "$D/web-devices.json" >/dev/null &&
    lab_ok "the three devices were added to web-devices.json in the state directory" ||
    lab_bad "web-devices.json: $(cat "$D/web-devices.json" 2>&1)"
"$NATPILOT" daemon --config "$CONF" --check >/dev/null &&
    lab_ok "the configuration with the web devices is valid" ||
    lab_bad "written web devices invalid"
ls "$D" | grep -q '\.new$\|\.tmp' && lab_bad "a temporary file was left" ||
    lab_ok "no temporary file left"
kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
DPID=""
[ "$rc" = 0 ] && lab_ok "SIGTERM: exit 0" || lab_bad "SIGTERM: exit $rc"
n=$(lab_in lan1 upnpc -i -l 2>/dev/null | grep -cE ' (UDP|TCP) +4(0(10[01]|110|200)|10(0[01]|10))->' || true)
[ "$n" = 0 ] && lab_ok "no mapping left on the router" || lab_bad "$n mappings left"

lab_done
