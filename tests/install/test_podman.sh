#!/usr/bin/env bash
# dist/Containerfile's image run with podman on the lab's LAN: the
# container's network is the namespace of the lab's LAN host lan1 (router
# with nftables NAT and the real miniupnpd, coturn on the simulated
# internet), config from a host directory (read-only), state in a named
# volume. Proves:
#  1. mappings made (natpilot status inside, as the image's user) and
#     proven by packets from the simulated internet;
#  2. podman stop: exit 0, every mapping gone from the router's table;
#  3. the state volume survives: podman kill (SIGKILL, mappings left
#     behind), the container removed, a new container on the same volume
#     removes the orphans first (a device dropped from the config
#     meanwhile) and maps the rest; podman stop clears everything.
# usage: tests/install/test_podman.sh IMAGE   (built from dist/Containerfile)
# Root; NP_BUILD_DIR (lab tools) as for the lab tests. NP_PODMAN: the podman
# command (default: podman --runtime runc; see .ci/run for why).
set -euo pipefail
IMAGE=${1:?usage: test_podman.sh IMAGE}
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/../lab/lib.sh"
lab_require turnserver miniupnpd upnpc jq podman
read -r -a PODMAN <<<"${NP_PODMAN:-podman --runtime runc}"
# podman's default RLIMIT_NOFILE/NPROC are above what an unprivileged
# sandbox may set; ask for what the caller has.
RUNOPTS=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=4096:4096")

failures=0
ok() { printf '  ok   %s\n' "$*"; }
bad() {
    printf '  FAIL %s\n' "$*"
    failures=$((failures + 1))
}
measure() { printf '  measure: %s\n' "$*"; }

NAME=natpilot-$LAB_ID
VOL=natpilot-state-$LAB_ID
CFG=$LAB_TMP/config
lab_on_exit() {
    if [ "$failures" != 0 ]; then "${PODMAN[@]}" logs "$NAME" 2>&1 | tail -n 40 || true; fi
    "${PODMAN[@]}" rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
    "${PODMAN[@]}" volume rm -f "$VOL" >/dev/null 2>&1 || true
}

mkdir -p "$CFG"
chmod 755 "$CFG"
cp -r "$NP_SOURCE_DIR/tests/lab/data/daemon/profiles" "$CFG/profiles"
chmod -R a+rX "$CFG"
write_conf() { # write_conf with_console(0|1)
    local console=""
    [ "$1" = 0 ] || console=',
    {"name": "console", "address": "'$LAB_LAN2_IP'", "platform": "xbox",
     "profiles": ["lab-game-2"], "mode": "map"}'
    cat >"$CFG/natpilot.conf" <<EOT
{
  "lease": 60,
  "profiles_dir": "/etc/natpilot/profiles",
  "devices": [
    {"name": "nas", "address": "$LAB_LAN1_IP", "platform": "pc",
     "profiles": ["lab-game"], "mode": "map"}$console
  ]
}
EOT
    chmod 644 "$CFG/natpilot.conf"
}

echo "== lab: NAT eim-apdf, miniupnpd (third-party mappings allowed)"
lab_build -k eim-apdf
lab_coturn_start
lab_miniupnpd_start -S no -t yes
write_conf 1
"${PODMAN[@]}" volume create "$VOL" >/dev/null

run_container() {
    "${PODMAN[@]}" run -d --name "$NAME" "${RUNOPTS[@]}" \
        --network "ns:/run/netns/$(lab_ns lan1)" \
        -v "$CFG:/etc/natpilot:ro" -v "$VOL:/var/lib/natpilot" "$IMAGE" >/dev/null
}
status_json() { "${PODMAN[@]}" exec "$NAME" natpilot status --json 2>/dev/null || true; }
held() { # held N: N devices, every mapping held
    local j
    j=$(status_json)
    [ -n "$j" ] && jq -e --argjson n "$1" '(.devices | length) == $n and
        ([.devices[].mappings[]] | length > 0 and all(.state == "held"))' \
        >/dev/null <<<"$j"
}
OURS_RE=' (UDP|TCP) +40(00[01]|010|10[01]|110)->'
router_ours() {
    lab_in lan2 upnpc -i -l 2>/dev/null | grep -cE "${1:-$OURS_RE}" || true
}
prove_all() {
    lab_inbound udp 40000 lan1 40000 2000 >/dev/null &&
        lab_inbound tcp 40010 lan1 40010 2000 >/dev/null &&
        lab_inbound udp 40100 lan2 40100 2000 >/dev/null &&
        lab_inbound tcp 40110 lan2 40110 2000 >/dev/null
}

echo "== 1. podman run: mappings made and proven"
t0=$(lab_now_ms)
run_container
if (lab_wait_for 30 "mappings held" held 2); then
    measure "podman run to all mappings held: $(($(lab_now_ms) - t0)) ms"
    ok "2 devices, all mappings held (natpilot status in the container)"
else
    bad "mappings not held: $(status_json)"
fi
prove_all && ok "packets from the internet reach lan1 (container) and lan2" ||
    bad "a mapping does not forward"
n=$(router_ours)
[ "$n" = 6 ] && ok "router table: 6 natpilot mappings" || bad "router table holds $n, expected 6"
[ "$("${PODMAN[@]}" exec "$NAME" id -u)" != 0 ] && ok "runs as a non-root user" ||
    bad "runs as root"

echo "== 2. podman stop removes every mapping"
t0=$(lab_now_ms)
"${PODMAN[@]}" stop -t 60 "$NAME" >/dev/null
measure "podman stop: $(($(lab_now_ms) - t0)) ms"
rc=$("${PODMAN[@]}" inspect -f '{{.State.ExitCode}}' "$NAME")
[ "$rc" = 0 ] && ok "exit code 0 after SIGTERM" || bad "exit code $rc"
n=$(router_ours)
[ "$n" = 0 ] && ok "router table: no natpilot mapping left" || bad "$n mappings left"

echo "== 3. podman kill, then a new container on the same state volume"
"${PODMAN[@]}" start "$NAME" >/dev/null
lab_wait_for 30 "mappings held again" held 2
"${PODMAN[@]}" kill -s KILL "$NAME" >/dev/null
"${PODMAN[@]}" wait "$NAME" >/dev/null 2>&1 || true
n=$(router_ours)
[ "$n" = 6 ] && ok "after podman kill: 6 mappings left behind in the router" ||
    bad "after podman kill: $n mappings in the router, expected 6"
write_conf 0 # the console leaves the config: only the state volume knows it
"${PODMAN[@]}" rm "$NAME" >/dev/null
t0=$(lab_now_ms)
run_container
orphans_gone() { [ "$(router_ours ' (UDP|TCP) +40(10[01]|110)->')" = 0 ]; }
if (lab_wait_for 30 "orphans removed" orphans_gone) && (lab_wait_for 30 "nas held" held 1); then
    measure "new container to orphans removed and nas held: $(($(lab_now_ms) - t0)) ms"
    ok "the new container removed the orphans it found in the state volume"
else
    bad "orphans: router $(router_ours) mappings; $(status_json)"
fi
n=$("${PODMAN[@]}" logs "$NAME" 2>&1 | grep -c 'removed orphan .*(console' || true)
[ "$n" = 3 ] && ok "its log names the dropped device's 3 orphans, removed" ||
    bad "its log names $n removed orphans of the dropped device, expected 3"
lab_inbound udp 40000 lan1 40000 2000 >/dev/null && ok "nas reachable" || bad "nas not reachable"
"${PODMAN[@]}" stop -t 60 "$NAME" >/dev/null
n=$(router_ours)
[ "$n" = 0 ] && ok "podman stop: no mapping left" || bad "$n mappings left after stop"

echo "== result: $failures failure(s)"
[ "$failures" = 0 ]
