#!/usr/bin/env bash
# natpilot.service under a real systemd: a Debian 12 root (debootstrap,
# cached by .ci/mkroot) booted with systemd-nspawn, systemd as PID 1, its
# network the lab's LAN host lan1 (a namespace lib.sh built: router with
# nftables NAT and the real miniupnpd, coturn on the simulated internet).
# The .deb is installed in it with apt (no network: the runtime
# dependencies come from the root's apt cache, so a wrong Depends fails).
# Proves:
#  1. systemd-analyze security natpilot.service: the exposure score,
#     printed, and not above NP_SECURITY_MAX (the score recorded in
#     dist/natpilot.service);
#  2. systemctl start: the mappings are made, proven by packets from the
#     simulated internet reaching the container;
#  3. natpilot status works as an unprivileged user (no --socket);
#  4. systemctl reload re-reads the config: a device added, mapped and
#     proven, same main PID;
#  5. SIGKILL: systemd restarts the daemon, which first removes the orphans
#     its state file lists (a device dropped from the config meanwhile)
#     and maps the rest again;
#  6. systemctl stop: every mapping gone from the router's table, the state
#     file removed.
# usage: tests/install/test_nspawn.sh natpilot_VERSION_amd64.deb
# Root; NP_BUILD_DIR (lab tools) as for the lab tests; about a minute.
set -euo pipefail
DEB=$(realpath "${1:?usage: test_nspawn.sh natpilot_*.deb}")
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/../lab/lib.sh"
lab_require turnserver miniupnpd upnpc jq systemd-nspawn nsenter
: "${NP_SECURITY_MAX:=$(sed -n 's/^# systemd-analyze security: \([0-9.]*\).*/\1/p' \
    "$NP_SOURCE_DIR/dist/natpilot.service")}"

failures=0
ok() { printf '  ok   %s\n' "$*"; }
bad() {
    printf '  FAIL %s\n' "$*"
    failures=$((failures + 1))
}
measure() { printf '  measure: %s\n' "$*"; }

ROOT=$LAB_TMP/root
NSPAWN_PID=""
LEADER=""

# C CMD...: run CMD inside the booted container (all its namespaces).
C() { nsenter -t "$LEADER" -a "$@"; }

lab_on_exit() {
    if [ "$failures" != 0 ] && [ -n "$LEADER" ]; then
        C journalctl -u natpilot.service --no-pager -n 80 2>/dev/null || true
    fi
    if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
        [ -z "$LEADER" ] || C systemctl poweroff 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$NSPAWN_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$NSPAWN_PID" 2>/dev/null || true
    fi
    # nspawn may leave the root's /proc etc. mounted when killed
    grep -F " $ROOT/" /proc/self/mounts | awk '{print $2}' | sort -r |
        xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$ROOT"
}

# ---- the root -------------------------------------------------------------
t0=$(lab_now_ms)
TAR=$("$NP_SOURCE_DIR/.ci/mkroot" bookworm)
mkdir -p "$ROOT"
tar -C "$ROOT" -xf "$TAR"
cp "$DEB" "$ROOT/var/tmp/natpilot.deb"
nspawn_run() { # a command in the root, not booted, no network
    systemd-nspawn -q -D "$ROOT" --register=no --keep-unit --private-network \
        -E DEBIAN_FRONTEND=noninteractive "$@"
}
nspawn_run apt-get install -y -q --no-install-recommends \
    /var/tmp/natpilot.deb >"$LAB_TMP/apt.log" 2>&1 &&
    ok "the .deb installs in a clean Debian 12 root (Depends resolved by apt)" ||
    lab_fail "apt-get install of the .deb failed: $(tail -n 20 "$LAB_TMP/apt.log")"
nspawn_run useradd -m player
mkdir -p "$ROOT/etc/natpilot"
cp -r "$NP_SOURCE_DIR/tests/lab/data/daemon/profiles" "$ROOT/etc/natpilot/profiles"
measure "root unpacked and .deb installed: $(($(lab_now_ms) - t0)) ms"

CONF=$ROOT/etc/natpilot/natpilot.conf
write_conf() { # write_conf with_console(0|1)
    local console=""
    [ "$1" = 0 ] || console=',
    {"name": "console", "address": "'$LAB_LAN2_IP'", "platform": "xbox",
     "profiles": ["lab-game-2"], "mode": "map"}'
    cat >"$CONF" <<EOT
{
  "lease": 60,
  "log_level": "debug",
  "profiles_dir": "/etc/natpilot/profiles",
  "devices": [
    {"name": "nas", "address": "$LAB_LAN1_IP", "platform": "pc",
     "profiles": ["lab-game"], "mode": "map"}$console
  ]
}
EOT
}

# ---- the lab, and the container on its LAN ------------------------------------
echo "== lab: NAT eim-apdf, miniupnpd (third-party mappings allowed)"
lab_build -k eim-apdf
lab_coturn_start
lab_miniupnpd_start -S no -t yes
write_conf 0

t0=$(lab_now_ms)
systemd-nspawn -D "$ROOT" --boot --register=no --keep-unit -M "$LAB_ID" \
    --network-namespace-path="/run/netns/$(lab_ns lan1)" \
    >"$LAB_TMP/nspawn.log" 2>&1 </dev/null &
NSPAWN_PID=$!
lab_track_pid "$NSPAWN_PID"
booted() {
    LEADER=$(pgrep -P "$NSPAWN_PID" | head -n 1)
    [ -n "$LEADER" ] || return 1
    case $(C systemctl is-system-running 2>/dev/null) in
    running | degraded) return 0 ;;
    esac
    return 1
}
lab_wait_for 120 "the container to boot" booted
measure "container boot (systemd as PID 1): $(($(lab_now_ms) - t0)) ms"
[ "$(C readlink /proc/1/exe)" = /usr/lib/systemd/systemd ] ||
    [ "$(C cat /proc/1/comm)" = systemd ] && ok "systemd is PID 1 in the container" ||
    bad "PID 1 in the container is $(C cat /proc/1/comm)"
[ "$(readlink "/proc/$LEADER/ns/net")" = "net:[$(stat -L -c %i "/run/netns/$(lab_ns lan1)")]" ] &&
    ok "the container's network is the lab's LAN host lan1 ($LAB_LAN1_IP)" ||
    bad "the container is not in lan1's network namespace"

echo "== 1. systemd-analyze security"
C systemd-analyze security natpilot.service --no-pager >"$LAB_TMP/security.txt" 2>&1 || true
score=$(sed -n 's/.*Overall exposure level for natpilot.service: \([0-9.]*\).*/\1/p' \
    "$LAB_TMP/security.txt")
measure "systemd-analyze security natpilot.service: $(grep 'Overall exposure' "$LAB_TMP/security.txt")"
if [ -z "$score" ]; then
    bad "no exposure score: $(tail -n 5 "$LAB_TMP/security.txt")"
elif [ -n "$NP_SECURITY_MAX" ] && awk -v s="$score" -v m="$NP_SECURITY_MAX" 'BEGIN { exit !(s > m) }'; then
    bad "exposure $score above the recorded $NP_SECURITY_MAX"
    grep -E '^✗' "$LAB_TMP/security.txt" || true
else
    ok "exposure $score (recorded: ${NP_SECURITY_MAX:-none})"
fi
[ "${NP_SECURITY_SHOW:-0}" = 0 ] || cat "$LAB_TMP/security.txt"

STATUS() { C runuser -u player -- natpilot status "$@"; }
status_json() { STATUS --json 2>/dev/null || true; }
held() { # held N: N devices, every mapping held
    local j
    j=$(status_json)
    [ -n "$j" ] && jq -e --argjson n "$1" '(.devices | length) == $n and
        ([.devices[].mappings[]] | length > 0 and all(.state == "held"))' \
        >/dev/null <<<"$j"
}
OURS_RE=' (UDP|TCP) +40(00[01]|010|10[01]|110)->'
router_ours() { # natpilot's entries in the router's table (any protocol)
    lab_in lan2 upnpc -i -l 2>/dev/null | grep -cE "${1:-$OURS_RE}" || true
}
prop() { C systemctl show -P "$1" natpilot.service; }

echo "== 2. systemctl start: mappings made"
t0=$(lab_now_ms)
C systemctl start natpilot.service && ok "systemctl start natpilot" ||
    bad "systemctl start failed"
if (lab_wait_for 30 "mappings held" held 1); then
    measure "start to all mappings held: $(($(lab_now_ms) - t0)) ms"
    ok "3 mappings held for nas"
else
    bad "mappings not held: $(status_json)"
fi
lab_inbound udp 40000 lan1 40000 2000 >/dev/null &&
    lab_inbound udp 40001 lan1 40001 2000 >/dev/null &&
    lab_inbound tcp 40010 lan1 40010 2000 >/dev/null &&
    ok "packets from the internet reach the container's ports (udp 40000 40001, tcp 40010)" ||
    bad "a mapping does not forward"
n=$(router_ours)
[ "$n" = 3 ] && ok "router table: 3 natpilot mappings" || bad "router table holds $n, expected 3"
# SSDP NOTIFY listener under the unit's hardening: bound to 1900/udp and a
# member of 239.255.255.250 (0xEFFFFFFA) on the LAN interface
lab_in lan1 ss -Hlnup | grep -q ':1900 .*natpilotd' &&
    lab_in lan1 grep -A3 eth0 /proc/net/igmp | grep -qi 'FAFFFFEF' &&
    ok "SSDP: listening on udp 1900, joined 239.255.255.250 on eth0" ||
    bad "SSDP listener: $(lab_in lan1 ss -Hlnup | grep 1900 || echo none)"

echo "== 3. natpilot status as an unprivileged user"
rc=0
STATUS >"$LAB_TMP/status.txt" 2>&1 || rc=$?
[ "$rc" = 0 ] && grep -q "nas ($LAB_LAN1_IP, map)" "$LAB_TMP/status.txt" &&
    ok "'natpilot status' as user player: exit 0, names the device" ||
    bad "natpilot status as player: exit $rc: $(head -n 3 "$LAB_TMP/status.txt")"
uid=$(C stat -c %u /proc/"$(prop MainPID)")
[ -n "$uid" ] && [ "$uid" != 0 ] && ok "the daemon runs as uid $uid (DynamicUser)" ||
    bad "the daemon runs as root"

echo "== 4. systemctl reload re-reads the config"
pid1=$(prop MainPID)
write_conf 1
t0=$(lab_now_ms)
C systemctl reload natpilot.service || bad "systemctl reload failed"
if (lab_wait_for 30 "two devices held" held 2); then
    measure "reload to the new device's mappings held: $(($(lab_now_ms) - t0)) ms"
    ok "after reload: 2 devices, all held"
else
    bad "after reload: $(status_json)"
fi
[ "$(prop MainPID)" = "$pid1" ] && ok "same main PID ($pid1)" || bad "main PID changed"
lab_inbound udp 40100 lan2 40100 2000 >/dev/null &&
    lab_inbound tcp 40110 lan2 40110 2000 >/dev/null &&
    ok "the added device's ports forward (lan2 udp 40100, tcp 40110)" ||
    bad "the added device's mappings do not forward"

echo "== 5. SIGKILL: restarted by systemd, orphans cleaned"
write_conf 0 # the console leaves the config; no reload: only the state knows it
C systemctl kill -s KILL natpilot.service
t0=$(lab_now_ms)
restarted() { [ "$(prop NRestarts)" = 1 ] && [ "$(prop ActiveState)" = active ] &&
    [ "$(prop MainPID)" != 0 ] && [ "$(prop MainPID)" != "$pid1" ]; }
if (lab_wait_for 60 "systemd to restart natpilot" restarted); then
    measure "SIGKILL to restarted: $(($(lab_now_ms) - t0)) ms (RestartSec)"
    ok "restarted by systemd (NRestarts=1, new main PID $(prop MainPID))"
else
    bad "not restarted: $(prop ActiveState) NRestarts=$(prop NRestarts)"
fi
orphans_gone() { [ "$(router_ours ' (UDP|TCP) +40(10[01]|110)->')" = 0 ]; }
if (lab_wait_for 30 "orphans removed" orphans_gone) && (lab_wait_for 30 "nas held" held 1); then
    measure "restart to orphans removed and nas held: $(($(lab_now_ms) - t0)) ms"
    ok "the dropped device's mappings (orphans) removed, nas mapped again"
else
    bad "after restart: router $(router_ours) mappings; $(status_json)"
fi
lab_inbound udp 40000 lan1 40000 2000 >/dev/null && ok "nas still reachable" ||
    bad "nas not reachable after the restart"
n=$(C journalctl -u natpilot.service --no-pager -o cat | grep -c 'removed orphan .*(console' || true)
[ "$n" = 3 ] && ok "the journal names the 3 orphans of the dropped device, removed" ||
    bad "the journal names $n removed orphans of the dropped device, expected 3"

echo "== 6. systemctl stop removes every mapping"
t0=$(lab_now_ms)
C systemctl stop natpilot.service
measure "systemctl stop: $(($(lab_now_ms) - t0)) ms"
[ "$(prop Result)" = success ] && ok "stopped cleanly (Result=success)" ||
    bad "stop: Result=$(prop Result)"
n=$(router_ours)
[ "$n" = 0 ] && ok "router table: no natpilot mapping left" || bad "$n mappings left"
! lab_inbound udp 40000 lan1 40000 1000 >/dev/null &&
    ok "no packet from the internet gets through any more" || bad "udp 40000 still forwards"
[ -z "$(ls -A "$ROOT/var/lib/private/natpilot" 2>/dev/null | grep -v '\.lock$')" ] &&
    ok "state directory empty (no state file)" ||
    bad "state directory holds: $(ls -A "$ROOT/var/lib/private/natpilot")"

echo "== result: $failures failure(s)"
[ "$failures" = 0 ]
