# shellcheck shell=bash
# natpilot network-namespace lab: sourced by every tests/lab/test_*.sh.
#
# Needs root, iproute2, nftables, and the lab tools built by CMake into
# $NP_BUILD_DIR/lab-tools (np_delayline, np_pkt). ctest passes NATPILOT,
# NP_BUILD_DIR and NP_SOURCE_DIR; outside ctest they default to ./build.
#
# Everything this file creates is named after the PID of the test ($LAB_ID,
# e.g. "np4711"), so two runs never collide. Sourcing it installs an EXIT
# trap that kills every process started through lab_bg (by PID) and deletes
# every namespace (and the links inside) it made, on success and on failure.
# A test that needs its own clean-up defines a function lab_on_exit; the
# trap calls it first. Do not replace the EXIT trap.
#
# Topology (lab_build), addresses as in the project's address plan:
#
#   inet (simulated internet)                down0: 203.0.113.1/24 (gateway),
#     203.0.113.100 (a host / reflector),         198.51.100.10, 198.51.100.11
#     STUN server (coturn) on 198.51.100.10 and .11, ports 3478/3479
#        |  veth, or a TAP pair joined by np_delayline when delay/loss is set
#   [carrier]  optional carrier-grade NAT: wan 203.0.113.2, down0 100.64.0.1
#        |
#   router   wan: 203.0.113.2/24 (100.64.0.2/24 behind a carrier)
#            br0: 198.18.0.1/24 (192.0.2.1/24 in the public variant)
#        |  bridge br0, ports p1 p2
#   lan1 eth0 198.18.0.10 (public variant 192.0.2.10)
#   lan2 eth0 198.18.0.11 (public variant 192.0.2.11)
#
# Interface names inside each namespace are fixed (wan, down0, br0, p1, p2,
# eth0): links are created directly inside the namespaces, so they never
# clash with another run or with the host.

set -o pipefail
# shellcheck disable=SC2034 # LAB_* variables are this library's interface
# Messages go to the test's stderr even from inside redirected checks.
exec {LAB_ERR_FD}>&2

: "${NP_BUILD_DIR:=$PWD/build}"
: "${NP_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${NATPILOT:=$NP_BUILD_DIR/natpilot}"
LAB_TOOLS="$NP_BUILD_DIR/lab-tools"

# ---- addresses (read-only facts of the lab) --------------------------------
LAB_STUN1=198.51.100.10        # coturn primary address
LAB_STUN2=198.51.100.11        # coturn alternate address (OTHER-ADDRESS)
LAB_STUN_PORT=3478
LAB_STUN_ALT_PORT=3479
LAB_INET_GW=203.0.113.1        # inet's side of the WAN link
LAB_INET_HOST=203.0.113.100    # a host on the simulated internet
LAB_PUBLIC_IP=203.0.113.2      # the address the internet sees the home at
# Set by lab_build:
LAB_KIND=""       # NAT kind on the router
LAB_CARRIER=0     # 1 when a carrier-grade NAT sits between router and inet
LAB_WAN_IP=""     # router's own WAN address (203.0.113.2 or 100.64.0.2)
LAB_GW=""         # LAN gateway: 198.18.0.1 (192.0.2.1 public variant)
LAB_LAN_NET=""    # 198.18.0.0/24 (192.0.2.0/24 public variant)
LAB_LAN1_IP=""
LAB_LAN2_IP=""
LAB_DELAY_MS=0
LAB_LOSS_PCT=0
LAB_HAIRPIN=0     # 1: the router hairpins (lab_build -H)
# IPv6 (lab_build -6 KIND; off by default, every other topology unchanged).
# Documentation prefixes only (RFC 3849, 2001:db8::/32).
LAB_V6=""                      # IPv6 filtering on the router; "" = no IPv6
LAB_STUN6_1=2001:db8:ffff::10  # coturn (IPv6 instance) primary address
LAB_STUN6_2=2001:db8:ffff::11  # its alternate address (OTHER-ADDRESS)
LAB_INET6_GW=2001:db8:ffff::1  # inet's side of the WAN link
LAB_INET6_HOST=2001:db8:ffff::100 # a host on the simulated IPv6 internet
LAB_WAN6_IP=""                 # router's WAN address (2001:db8:ffff::2, or
                               # 2001:db8:fffe::2 behind the carrier)
LAB_GW6=2001:db8:1::1          # router's LAN address
LAB_LAN6_NET=2001:db8:1::/64   # the home's delegated prefix
LAB_LAN1_IP6=2001:db8:1::10
LAB_LAN2_IP6=2001:db8:1::11
LAB_COTURN6_PID=""

LAB_ID="np$$"
LAB_TMP=$(mktemp -d "/tmp/nplab.$$.XXXXXX")
LAB_PIDS=()       # every background process we started (lab_bg)
LAB_NETNS=()      # every namespace we created
LAB_LINKS=()      # "namespace dev" of every link we created
LAB_LAST_PID=""   # PID of the most recent lab_bg
LAB_UPNPD_ARGS=() # arguments of the last lab_miniupnpd_start (for restart)
LAB_UPNPD_PID=""
LAB_COTURN_PID=""
LAB_DELAYLINE_PID=""

# lab_log MSG...: progress line on stderr, prefixed with the elapsed time.
lab_log() {
    printf '[lab %6.2fs] %s\n' "$(lab__elapsed)" "$*" >&"$LAB_ERR_FD"
}

lab__t0=$(date +%s.%N)
lab__elapsed() {
    local now
    now=$(date +%s.%N)
    awk -v a="$lab__t0" -v b="$now" 'BEGIN { printf "%.2f", b - a }'
}

# lab_now_ms: monotonic-enough wall clock in milliseconds (for timings).
lab_now_ms() {
    local t
    t=$(date +%s%N)
    echo $((t / 1000000))
}

# lab_fail MSG...: print MSG as a failure and exit 1 (the trap cleans up).
lab_fail() {
    printf 'FAIL: %s\n' "$*" >&"$LAB_ERR_FD"
    exit 1
}

# ---- checks (tests/lab/checks.sh): lab_ok, lab_bad, lab_check, lab_done ----
# shellcheck source=tests/lab/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/checks.sh"

# lab_require: exit with a clear message unless root and the tools exist.
lab_require() {
    [ "$(id -u)" = 0 ] || lab_fail "lab tests need root (network namespaces)"
    local t
    for t in ip nft "$LAB_TOOLS/np_delayline" "$LAB_TOOLS/np_pkt" "$@"; do
        command -v "$t" >/dev/null 2>&1 || lab_fail "missing tool: $t"
    done
}

# lab_ns ROLE: full namespace name of ROLE (inet router carrier lan1 lan2).
lab_ns() {
    echo "$LAB_ID-$1"
}

# lab_in ROLE CMD...: run CMD inside ROLE's namespace (foreground).
lab_in() {
    local role=$1
    shift
    ip netns exec "$(lab_ns "$role")" "$@"
}

# lab_bg ROLE NAME CMD...: start CMD in the background inside ROLE's
# namespace, stdout+stderr to $LAB_TMP/NAME.log; records its PID for the
# trap and in LAB_LAST_PID.
lab_bg() {
    local role=$1 name=$2
    shift 2
    ip netns exec "$(lab_ns "$role")" "$@" >"$LAB_TMP/$name.log" 2>&1 &
    LAB_LAST_PID=$!
    LAB_PIDS+=("$LAB_LAST_PID")
}

# lab_track_pid PID: have the trap kill PID too (e.g. a daemon that forked).
lab_track_pid() {
    LAB_PIDS+=("$1")
}

# lab_stop_pid PID: SIGTERM, wait up to 2 s, then SIGKILL. Quiet if gone.
lab_stop_pid() {
    local pid=$1 _
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 40); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# lab_wait_for TIMEOUT_S DESC CMD...: poll CMD every 50 ms until it
# succeeds; fail the test with DESC after TIMEOUT_S seconds.
lab_wait_for() {
    local timeout=$1 desc=$2
    shift 2
    local deadline=$(($(lab_now_ms) + timeout * 1000))
    while :; do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        [ "$(lab_now_ms)" -lt "$deadline" ] ||
            lab_fail "timed out after ${timeout}s waiting for: $desc"
        sleep 0.05
    done
}

# lab_teardown: kill every process we started and delete every namespace
# and link we created. Safe to call more than once; lab_build calls it, so
# a test can build several topologies one after the other.
lab_teardown() {
    local pid ns entry
    for pid in "${LAB_PIDS[@]}"; do
        lab_stop_pid "$pid"
    done
    LAB_PIDS=()
    # Safety net: anything still running inside our namespaces was started
    # by us (daemons that forked); end it by PID.
    for ns in "${LAB_NETNS[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null || true
        done
    done
    for entry in "${LAB_LINKS[@]}"; do
        # shellcheck disable=SC2086
        set -- $entry
        ip -n "$1" link del "$2" 2>/dev/null || true
    done
    LAB_LINKS=()
    for ns in "${LAB_NETNS[@]}"; do
        ip netns del "$ns" 2>/dev/null || true
    done
    LAB_NETNS=()
    LAB_UPNPD_PID=""
    LAB_COTURN_PID=""
    LAB_DELAYLINE_PID=""
}

lab__cleanup() {
    local rc=$?
    set +e
    if declare -F lab_on_exit >/dev/null; then
        lab_on_exit
    fi
    lab_teardown
    if [ "$rc" != 0 ] && [ -n "${LAB_KEEP_LOGS:-}" ]; then
        echo "lab logs kept in $LAB_TMP" >&2
    else
        rm -rf "$LAB_TMP"
    fi
    exit "$rc"
}
trap lab__cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- topology ----------------------------------------------------------------

lab__ns_add() {
    local ns
    ns=$(lab_ns "$1")
    ip netns add "$ns"
    LAB_NETNS+=("$ns")
    ip -n "$ns" link set lo up
    # No reverse-path filter surprises, no IPv6 router solicitations noise.
    ip netns exec "$ns" sh -c '
        for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > "$f"; done
        echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad 2>/dev/null
        echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad 2>/dev/null
        true'
}

# veth between ROLE_A dev A and ROLE_B dev B, both up.
lab__veth() {
    local na nb
    na=$(lab_ns "$1")
    nb=$(lab_ns "$3")
    ip -n "$na" link add "$2" type veth peer name "$4" netns "$nb"
    LAB_LINKS+=("$na $2")
    ip -n "$na" link set "$2" up
    ip -n "$nb" link set "$4" up
}

# A link ROLE_A dev A <-> ROLE_B dev B through np_delayline (TAP pair).
lab__delayline() {
    local ra=$1 da=$2 rb=$3 db=$4 delay=$5 loss=$6 seed=$7 na nb
    na=$(lab_ns "$ra")
    nb=$(lab_ns "$rb")
    ip -n "$na" tuntap add dev "$da" mode tap
    LAB_LINKS+=("$na $da")
    ip -n "$nb" tuntap add dev "$db" mode tap
    LAB_LINKS+=("$nb $db")
    ip -n "$na" link set "$da" up
    ip -n "$nb" link set "$db" up
    rm -f "$LAB_TMP/delayline.ready"
    "$LAB_TOOLS/np_delayline" --ns-a "/run/netns/$na" --dev-a "$da" \
        --ns-b "/run/netns/$nb" --dev-b "$db" --delay-ms "$delay" \
        --loss-pct "$loss" --seed "$seed" \
        --ready-file "$LAB_TMP/delayline.ready" \
        >"$LAB_TMP/delayline.log" 2>&1 &
    LAB_DELAYLINE_PID=$!
    LAB_PIDS+=("$LAB_DELAYLINE_PID")
    lab_wait_for 5 "np_delayline attached" test -s "$LAB_TMP/delayline.ready"
}

# Permanent ARP entries both ways between ROLE_A dev A (address IP_A) and
# ROLE_B dev B (address IP_B).
lab__static_neigh() {
    local mac_a mac_b
    mac_a=$(ip -n "$(lab_ns "$1")" -br link show "$2" | awk '{ print $3 }')
    mac_b=$(ip -n "$(lab_ns "$4")" -br link show "$5" | awk '{ print $3 }')
    ip -n "$(lab_ns "$1")" neigh replace "$6" lladdr "$mac_b" dev "$2" nud permanent
    ip -n "$(lab_ns "$4")" neigh replace "$3" lladdr "$mac_a" dev "$5" nud permanent
}

# lab_delayline_stats: print the delay line's counters so far, one line
# "np_delayline stats: a->b passed N dropped N overflow N; b->a ..." where
# a is the router (or carrier) side and b is inet. Fails without -d/-l.
lab_delayline_stats() {
    [ -n "${LAB_DELAYLINE_PID:-}" ] || lab_fail "no delay line in this lab"
    local n
    n=$(grep -c 'stats:' "$LAB_TMP/delayline.log" || true)
    kill -USR1 "$LAB_DELAYLINE_PID"
    lab_wait_for 2 "delay line statistics" lab__stats_grew "$n"
    grep 'stats:' "$LAB_TMP/delayline.log" | tail -1
}
lab__stats_grew() {
    [ "$(grep -c 'stats:' "$LAB_TMP/delayline.log" || true)" -gt "$1" ]
}

# lab_build [-k KIND] [-d DELAY_MS] [-l LOSS_PCT] [-s SEED] [-c] [-C KIND] [-H]
#           [-6 V6KIND]
#   Tear down whatever exists, then build inet, router, lan1, lan2 (and a
#   carrier with -c) and apply NAT KIND on the router (lab_set_nat).
#   KIND: eim-apdf (default) apdm apdm-seq eim-eif eim-adf udp-blocked none.
#   none is the public variant: the LAN is 192.0.2.0/24, routed, no NAT.
#   -d/-l put np_delayline on the link towards inet with DELAY_MS each way
#   and LOSS_PCT (0-100, decimals allowed) dropped each way, PRNG seeded by
#   SEED (default 1); without them that link is a veth pair.
#   -c adds the carrier namespace (router WAN 100.64.0.2, carrier WAN
#   203.0.113.2) doing NAT kind -C (default eim-apdf).
#   -H makes the router hairpin UDP (default: no hairpinning): a LAN host
#   sending to a mapped public address and port reaches the mapped host,
#   itself included, from the sender's public address.
#   -6 adds IPv6 (dual stack; see lab__ipv6 for the addresses): the router
#   routes the home's 2001:db8:1::/64 and filters it with V6KIND:
#     apdf     stateful firewall: established/related in, new inbound
#              dropped unless a pinhole in miniupnpd's chain allows it
#              (address-and-port-dependent filtering, like most routers)
#     adf      as apdf, plus inbound UDP from any port of a remote address
#              the internal endpoint has sent to (address-dependent)
#     open     no IPv6 firewall (endpoint-independent filtering)
#     nat66    apdf plus IPv6 masquerade to the router's WAN address
#     blocked  the router forwards no IPv6 at all (addresses and routes
#              are there, nothing gets through)
#   With -c the carrier routes IPv6 untouched (the DS-Lite situation: IPv4
#   behind carrier-grade NAT, native IPv6).
#   Sets LAB_KIND LAB_CARRIER LAB_WAN_IP LAB_GW LAB_LAN_NET LAB_LAN1_IP
#   LAB_LAN2_IP LAB_DELAY_MS LAB_LOSS_PCT (LAB_V6 LAB_WAN6_IP with -6).
#   Does not start any server.
lab_build() {
    local kind=eim-apdf delay=0 loss=0 seed=1 carrier=0 ckind=eim-apdf opt
    local hairpin=0 v6="" OPTIND=1
    while getopts "k:d:l:s:cC:H6:" opt; do
        case $opt in
        6) v6=$OPTARG ;;
        H) hairpin=1 ;;
        k) kind=$OPTARG ;;
        d) delay=$OPTARG ;;
        l) loss=$OPTARG ;;
        s) seed=$OPTARG ;;
        c) carrier=1 ;;
        C) ckind=$OPTARG ;;
        *) lab_fail "lab_build: bad option" ;;
        esac
    done
    case $kind in
    eim-apdf | apdm | apdm-seq | eim-eif | eim-adf | udp-blocked | none) ;;
    *) lab_fail "lab_build: unknown NAT kind '$kind'" ;;
    esac
    [ "$kind" = none ] && [ "$carrier" = 1 ] &&
        lab_fail "lab_build: kind none (public LAN) cannot sit behind a carrier"
    case $v6 in
    "" | apdf | adf | open | nat66 | blocked) ;;
    *) lab_fail "lab_build: unknown IPv6 kind '$v6'" ;;
    esac
    lab_teardown
    LAB_V6=$v6
    LAB_WAN6_IP=""

    LAB_KIND=$kind
    LAB_HAIRPIN=$hairpin
    LAB_CARRIER=$carrier
    LAB_DELAY_MS=$delay
    LAB_LOSS_PCT=$loss
    if [ "$kind" = none ]; then
        LAB_GW=192.0.2.1 LAB_LAN_NET=192.0.2.0/24
        LAB_LAN1_IP=192.0.2.10 LAB_LAN2_IP=192.0.2.11
    else
        LAB_GW=198.18.0.1 LAB_LAN_NET=198.18.0.0/24
        LAB_LAN1_IP=198.18.0.10 LAB_LAN2_IP=198.18.0.11
    fi

    local roles=(inet router lan1 lan2) r
    [ "$carrier" = 1 ] && roles+=(carrier)
    for r in "${roles[@]}"; do
        lab__ns_add "$r"
    done

    # The link towards the simulated internet: from the outermost NAT.
    local edge=router
    [ "$carrier" = 1 ] && edge=carrier
    if [ "$delay" != 0 ] || [ "$loss" != 0 ]; then
        lab__delayline "$edge" wan inet down0 "$delay" "$loss" "$seed"
    else
        lab__veth "$edge" wan inet down0
    fi
    ip -n "$(lab_ns inet)" addr add "$LAB_INET_GW/24" dev down0
    ip -n "$(lab_ns inet)" addr add "$LAB_INET_HOST/24" dev down0
    ip -n "$(lab_ns inet)" addr add "$LAB_STUN1/24" dev down0
    ip -n "$(lab_ns inet)" addr add "$LAB_STUN2/24" dev down0
    ip -n "$(lab_ns "$edge")" addr add "$LAB_PUBLIC_IP/24" dev wan
    ip -n "$(lab_ns "$edge")" route add default via "$LAB_INET_GW"
    if [ "$delay" != 0 ] || [ "$loss" != 0 ]; then
        # Permanent neighbours across the delay line: no ARP exchange to be
        # delayed or lost, so the first packet of a test sees the plain RTT.
        lab__static_neigh "$edge" wan "$LAB_PUBLIC_IP" inet down0 "$LAB_INET_GW"
        lab__static_neigh "$edge" wan "$LAB_PUBLIC_IP" inet down0 "$LAB_INET_HOST"
    fi

    if [ "$carrier" = 1 ]; then
        lab__veth router wan carrier down0
        ip -n "$(lab_ns carrier)" addr add 100.64.0.1/24 dev down0
        ip -n "$(lab_ns router)" addr add 100.64.0.2/24 dev wan
        ip -n "$(lab_ns router)" route add default via 100.64.0.1
        lab_in carrier sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
        LAB_WAN_IP=100.64.0.2
    else
        LAB_WAN_IP=$LAB_PUBLIC_IP
    fi
    [ "$kind" = none ] &&
        ip -n "$(lab_ns inet)" route add "$LAB_LAN_NET" via "$LAB_PUBLIC_IP"

    local rns
    rns=$(lab_ns router)
    ip -n "$rns" link add br0 type bridge
    LAB_LINKS+=("$rns br0")
    ip -n "$rns" link set br0 up
    ip -n "$rns" addr add "$LAB_GW/24" dev br0
    lab_in router sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
    lab__veth router p1 lan1 eth0
    lab__veth router p2 lan2 eth0
    ip -n "$rns" link set p1 master br0
    ip -n "$rns" link set p2 master br0
    # With the kernel's bridge netfilter on (this kernel's default), a frame
    # DNATed back to the LAN host that sent it is bridged, not routed, and a
    # bridge never sends a frame out of the port it came in on: hairpinning
    # to oneself (a STUN client's hairpin test) would be dropped. Routers
    # (OpenWrt among them) leave bridge netfilter off; so does the lab's.
    lab_in router sh -c 'echo 0 > /proc/sys/net/bridge/bridge-nf-call-iptables' \
        2>/dev/null || true
    ip -n "$(lab_ns lan1)" addr add "$LAB_LAN1_IP/24" dev eth0
    ip -n "$(lab_ns lan2)" addr add "$LAB_LAN2_IP/24" dev eth0
    ip -n "$(lab_ns lan1)" route add default via "$LAB_GW"
    ip -n "$(lab_ns lan2)" route add default via "$LAB_GW"

    [ -n "$v6" ] && lab__ipv6 "$edge" "$delay$loss"
    lab_set_nat "$kind" router
    [ "$carrier" = 1 ] && lab_set_nat "$ckind" carrier 0
    lab_log "built: kind=$kind carrier=$carrier delay=${delay}ms loss=${loss}% hairpin=$hairpin${v6:+ ipv6=$v6}"
}

# lab_set_nat KIND [ROLE] [HAIRPIN]: (re)install the nftables ruleset of
# ROLE (default router; also carrier) for NAT KIND; HAIRPIN 1 (default
# $LAB_HAIRPIN, set by lab_build -H) adds hairpinning on the router. Kinds in
# RFC 4787 terms:
#   eim-apdf    masquerade: endpoint-independent mapping, address-and-port-
#               dependent filtering
#   apdm        masquerade fully-random: address-and-port-dependent mapping
#               with random ports
#   apdm-seq    address-and-port-dependent mapping with sequential ports:
#               UDP snat to the next port of a counter (20000-20255,
#               wrapping) for every new flow (TCP plain masquerade)
#   eim-eif     masquerade + dynamic map ext-port -> int addr.port written by
#               every outbound UDP packet; unsolicited inbound UDP to a
#               recorded port is DNATed (endpoint-independent filtering)
#   eim-adf     as eim-eif, but only from remote addresses the internal
#               endpoint has sent to (dynamic set remote-addr . ext-port)
#   udp-blocked masquerade, forward chain drops all UDP (TCP works)
#   none        routing only (public addressing), forward accepts all
# Table "inet nplab" holds everything, including the empty chains miniupnpd
# fills (miniupnpd, prerouting_miniupnpd, postrouting_miniupnpd) jumped to
# from the forward and nat base chains.
lab_set_nat() {
    local kind=$1 role=${2:-router} hairpin=${3:-$LAB_HAIRPIN}
    local masq="masquerade" fwd_udp="" dnat="" policy=drop hp_dnat="" hp_snat=""
    local v6_fwd="" v6_chain="" v6_set="" v6_record="" v6_masq="" v6_pre=""
    [ -n "$LAB_V6" ] && lab__v6_rules "$role"
    # Every NAT kind records its UDP flows (used by EIF/ADF and hairpinning).
    local record='oifname "wan" meta l4proto udp ct direction original update @eim { udp sport : ct original ip saddr . ct original proto-src }
        oifname "wan" meta l4proto udp ct direction original update @adf { ip daddr . udp sport }'
    case $kind in
    eim-apdf) ;;
    apdm) masq="masquerade fully-random" ;;
    apdm-seq)
        # Each new UDP flow gets the next port from a counter (Switch C).
        # (A map, not "numgen ... offset": its value would reach the port
        # in host byte order.)
        local elems="" i
        for i in $(seq 0 255); do
            elems+="${elems:+, }$i : $((20000 + i))"
        done
        masq="meta l4proto udp snat ip to $LAB_PUBLIC_IP : numgen inc mod 256 map { $elems }
        oifname \"wan\" masquerade"
        ;;
    eim-eif | eim-adf)
        if [ "$kind" = eim-eif ]; then
            dnat='iifname "wan" udp dport @eim dnat ip to udp dport map @eim'
        else
            dnat='iifname "wan" ip saddr . udp dport @adf dnat ip to udp dport map @eim'
        fi
        ;;
    udp-blocked) fwd_udp='meta l4proto udp counter drop' ;;
    none) masq="" policy=accept record="" ;;
    *) lab_fail "lab_set_nat: unknown kind '$kind'" ;;
    esac
    if [ "$hairpin" = 1 ] && [ "$kind" != none ] && [ "$role" = router ]; then
        # RFC 4787 REQ-9: a LAN host sending to a mapped public address and
        # port reaches the mapped host, with the sender's public address and
        # port as source.
        hp_dnat="iifname \"br0\" ip daddr $LAB_WAN_IP udp dport @eim dnat ip to udp dport map @eim"
        hp_snat="ip saddr $LAB_LAN_NET ip daddr $LAB_LAN_NET ct status dnat snat ip to $LAB_WAN_IP"
    fi
    [ -n "$masq" ] && masq="oifname \"wan\" $masq"
    [ "$kind" = apdm-seq ] && [ "$role" = carrier ] &&
        lab_fail "lab_set_nat: apdm-seq only on the router"
    lab_in "$role" nft delete table inet nplab 2>/dev/null || true
    lab_in "$role" nft -f - <<EOF || lab_fail "nft ruleset for $kind on $role"
table inet nplab {
    map eim {
        type inet_service : ipv4_addr . inet_service
        flags dynamic,timeout
        timeout 5m
    }
    set adf {
        type ipv4_addr . inet_service
        flags dynamic,timeout
        timeout 5m
    }
    chain forward {
        type filter hook forward priority filter; policy $policy;
        $fwd_udp
        $v6_fwd
        ct state established,related accept
        iifname != "wan" accept
        jump miniupnpd
        ct status dnat accept
    }
    chain miniupnpd {
    }
    $v6_set
    $v6_chain
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        jump prerouting_miniupnpd
        $v6_pre
        $hp_dnat
        $dnat
    }
    chain prerouting_miniupnpd {
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        jump postrouting_miniupnpd
        $v6_masq
        $hp_snat
        $masq
    }
    chain postrouting_miniupnpd {
    }
    chain record {
        type filter hook postrouting priority 200; policy accept;
        $v6_record
        $record
    }
}
EOF
    [ "$role" = router ] && LAB_KIND=$kind
    return 0
}

# ---- servers ---------------------------------------------------------------

# lab_coturn_start: start coturn in inet as an RFC 5780 server on
# 198.51.100.10 and .11, ports 3478 and 3479 (UDP; TCP on 3478 too). State,
# log and pid file under $LAB_TMP. Returns once all its sockets listen.
# Sets LAB_COTURN_PID.
lab_coturn_start() {
    mkdir -p "$LAB_TMP/coturn"
    lab_bg inet coturn turnserver -n --stun-only --no-cli --no-tls --no-dtls \
        --listening-ip "$LAB_STUN1" --listening-ip "$LAB_STUN2" \
        --listening-port "$LAB_STUN_PORT" \
        --alt-listening-port "$LAB_STUN_ALT_PORT" \
        --log-file "$LAB_TMP/coturn/turn.log" --simple-log \
        --pidfile "$LAB_TMP/coturn/turn.pid" --db "$LAB_TMP/coturn/turndb" \
        --no-software-attribute
    LAB_COTURN_PID=$LAB_LAST_PID
    lab_wait_for 10 "coturn listening on both addresses" lab__coturn_ready
}

lab__coturn_ready() {
    kill -0 "$LAB_COTURN_PID" 2>/dev/null ||
        lab_fail "coturn exited: $(tail -5 "$LAB_TMP/coturn.log" "$LAB_TMP/coturn/turn.log" 2>&1)"
    local s
    s=$(lab_in inet ss -Hlnu)
    grep -q "$LAB_STUN1:$LAB_STUN_PORT " <<<"$s" &&
        grep -q "$LAB_STUN2:$LAB_STUN_PORT " <<<"$s" &&
        grep -q "$LAB_STUN1:$LAB_STUN_ALT_PORT " <<<"$s" &&
        grep -q "$LAB_STUN2:$LAB_STUN_ALT_PORT " <<<"$s" &&
        lab_in inet ss -Hlnt | grep -q "$LAB_STUN1:$LAB_STUN_PORT "
}

# lab_coturn_stop: stop coturn (e.g. for a "nothing answers" case).
lab_coturn_stop() {
    lab_stop_pid "$LAB_COTURN_PID"
    LAB_COTURN_PID=""
}

# lab_miniupnpd_start [-u yes|no] [-n yes|no] [-S yes|no] [-t yes|no]
#                     [-s yes|no] [-1] [-6 yes|no]
#                     [-A "allow|deny EXT IP/MASK INT"]...
#   Start miniupnpd on the router (nftables backend, its chains in table
#   inet nplab). -u enable_upnp (yes), -n enable_natpmp = NAT-PMP and PCP
#   (yes), -S secure_mode (yes), -t pcp_allow_thirdparty (no). -A lines
#   replace the default permission rules
#     allow 1024-65535 <LAN net> 1024-65535 / deny 0-65535 0.0.0.0/0 0-65535.
#   It learns its external address by STUN from the lab's coturn
#   (ext_perform_stun; needs lab_coturn_start first). -s no turns that off:
#   the router then reports its own WAN address (100.64.0.2 behind the
#   carrier), like a home router behind carrier-grade NAT, and refuses to
#   map from a reserved address. -1 makes it describe itself as an IGDv1
#   (force_igd_desc_v1: no AddAnyPortMapping). In a lab built with -6 it
#   serves IPv6 too (IGDv2 pinholes, PCP over IPv6) unless -6 no (a router
#   that takes no pinhole requests). Runs in the background
#   without -d (it forks; the PID comes from its pid file and is tracked).
#   Returns once it listens on what was enabled. Sets LAB_UPNPD_PID.
lab_miniupnpd_start() {
    LAB_UPNPD_ARGS=("$@")
    local upnp=yes natpmp=yes secure=yes third=no stun=yes perms=() opt
    local igdv1=no v6=yes OPTIND=1
    while getopts "u:n:S:t:s:A:16:" opt; do
        case $opt in
        6) v6=$OPTARG ;;
        1) igdv1=yes ;;
        s) stun=$OPTARG ;;
        u) upnp=$OPTARG ;;
        n) natpmp=$OPTARG ;;
        S) secure=$OPTARG ;;
        t) third=$OPTARG ;;
        A) perms+=("$OPTARG") ;;
        *) lab_fail "lab_miniupnpd_start: bad option" ;;
        esac
    done
    [ ${#perms[@]} -gt 0 ] || perms=("allow 1024-65535 $LAB_LAN_NET 1024-65535"
        "deny 0-65535 0.0.0.0/0 0-65535")
    [ "$stun" = no ] || [ -n "$LAB_COTURN_PID" ] ||
        lab_fail "lab_miniupnpd_start: start coturn first (ext_perform_stun)"
    local conf="$LAB_TMP/miniupnpd.conf" pidf="$LAB_TMP/miniupnpd.pid" p
    {
        echo "ext_ifname=wan"
        echo "listening_ip=br0"
        echo "enable_upnp=$upnp"
        echo "enable_natpmp=$natpmp"
        echo "secure_mode=$secure"
        echo "pcp_allow_thirdparty=$third"
        echo "force_igd_desc_v1=$igdv1"
        if [ "$stun" = yes ]; then
            echo "ext_perform_stun=yes"
            echo "ext_stun_host=$LAB_STUN1"
            echo "ext_stun_port=$LAB_STUN_PORT"
        fi
        echo "upnp_table_name=nplab"
        echo "upnp_nat_table_name=nplab"
        echo "upnp_forward_chain=miniupnpd"
        echo "upnp_nat_chain=prerouting_miniupnpd"
        echo "upnp_nat_postrouting_chain=postrouting_miniupnpd"
        echo "uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b"
        echo "friendly_name=natpilot lab router"
        echo "system_uptime=yes"
        echo "notify_interval=60"
        echo "clean_ruleset_interval=600"
        echo "lease_file=$LAB_TMP/miniupnpd.leases"
        if [ -n "$LAB_V6" ] && [ "$v6" = yes ]; then
            # IPv6 on (lab_build -6): IGDv2 WANIPv6FirewallControl pinholes
            # and PCP over IPv6, in the same nftables chain (miniupnpd).
            echo "ext_ifname6=wan"
            echo "lease_file6=$LAB_TMP/miniupnpd.leases6"
        fi
        for p in "${perms[@]}"; do
            echo "$p"
        done
    } >"$conf"
    rm -f "$pidf"
    # Without -d miniupnpd daemonizes; the process we start exits at once.
    # -4 (no IPv6) unless the lab has IPv6.
    local v4only=(-4)
    [ -n "$LAB_V6" ] && [ "$v6" = yes ] && v4only=()
    lab_in router miniupnpd "${v4only[@]}" -f "$conf" -P "$pidf" \
        >"$LAB_TMP/miniupnpd.log" 2>&1 ||
        lab_fail "miniupnpd did not start: $(cat "$LAB_TMP/miniupnpd.log")"
    lab_wait_for 10 "miniupnpd pid file" test -s "$pidf"
    LAB_UPNPD_PID=$(cat "$pidf")
    lab_track_pid "$LAB_UPNPD_PID"
    lab_wait_for 10 "miniupnpd listening" lab__miniupnpd_ready "$upnp" "$natpmp"
}

lab__miniupnpd_ready() {
    kill -0 "$LAB_UPNPD_PID" 2>/dev/null || lab_fail "miniupnpd exited"
    local u t
    u=$(lab_in router ss -Hlnup)
    t=$(lab_in router ss -Hlntp)
    if [ "$2" = yes ]; then
        grep -q ":5351 .*miniupnpd" <<<"$u" || return 1
    fi
    if [ "$1" = yes ]; then
        grep -q ":1900 .*miniupnpd" <<<"$u" || return 1
        grep -q "miniupnpd" <<<"$t" || return 1
    fi
    return 0
}

# lab_miniupnpd_stop: stop miniupnpd (by its PID) and flush its chains, as
# a router reboot would.
lab_miniupnpd_stop() {
    lab_stop_pid "$LAB_UPNPD_PID"
    LAB_UPNPD_PID=""
    local c
    for c in miniupnpd prerouting_miniupnpd postrouting_miniupnpd; do
        lab_in router nft flush chain inet nplab "$c" 2>/dev/null || true
    done
}

# lab_miniupnpd_restart: stop miniupnpd, flush its chains (its mappings are
# gone, like after a router reboot), start it again with the same options.
lab_miniupnpd_restart() {
    local args=("${LAB_UPNPD_ARGS[@]}")
    lab_miniupnpd_stop
    rm -f "$LAB_TMP/miniupnpd.leases" "$LAB_TMP/miniupnpd.leases6"
    lab_miniupnpd_start "${args[@]}"
}

# ---- packets -----------------------------------------------------------------

# lab_pkt ROLE ARGS...: run the np_pkt tool inside ROLE (see np_pkt.c).
lab_pkt() {
    local role=$1
    shift
    lab_in "$role" "$LAB_TOOLS/np_pkt" "$@"
}

# lab_inbound PROTO EXT_PORT ROLE LOCAL_PORT [TIMEOUT_MS] [DST]
#   Prove a port forward: listen on ROLE:LOCAL_PORT (udp|tcp), send from the
#   simulated internet (203.0.113.100) to DST:EXT_PORT (DST defaults to the
#   public address 203.0.113.2), and return 0 iff it arrived. UDP is sent up
#   to 5 times, 100 ms apart, so one lost datagram does not fail a check.
#   Prints the receiver's "from ADDR:PORT payload" line on success.
lab_inbound() {
    local proto=$1 eport=$2 role=$3 lport=$4 timeout=${5:-3000}
    local dst=${6:-$LAB_PUBLIC_IP} flag=-u ready pid spid="" rc=0
    [ "$proto" = tcp ] && flag=-t
    ready="$LAB_TMP/listen.$role.$lport.ready"
    rm -f "$ready"
    lab_bg "$role" "listen.$role.$lport" "$LAB_TOOLS/np_pkt" listen "$flag" \
        -p "$lport" -w "$timeout" -r "$ready"
    pid=$LAB_LAST_PID
    lab_wait_for 5 "listener on $role:$lport" test -e "$ready"
    if [ "$proto" = tcp ]; then
        lab_pkt inet send -t -b "$LAB_INET_HOST" -a "$dst" -p "$eport" -m "np-inbound-$eport" \
            >/dev/null 2>&1 || true
    else
        lab_pkt inet send -u -b "$LAB_INET_HOST" -a "$dst" -p "$eport" -m "np-inbound-$eport" \
            -n 5 -i 100 >/dev/null 2>&1 &
        spid=$!
    fi
    wait "$pid" || rc=$?
    [ -z "$spid" ] || wait "$spid" 2>/dev/null || true
    [ "$rc" = 0 ] && cat "$LAB_TMP/listen.$role.$lport.log"
    return "$rc"
}

# lab_echo_start ROLE ADDR PORT: UDP echo server, also accepting TCP
# connections on PORT (for lab_ping), in ROLE.
lab_echo_start() {
    local ready="$LAB_TMP/echo.$1.$3.ready"
    rm -f "$ready"
    lab_bg "$1" "echo.$1.$3" "$LAB_TOOLS/np_pkt" echo -b "$2" -p "$3" -r "$ready"
    lab_wait_for 5 "echo server $2:$3" test -e "$ready"
}

# lab_ping ROLE ADDR PORT [COUNT] [INTERVAL_MS] [udp|tcp]: UDP ping (or
# timed TCP connects) from ROLE to a lab_echo_start server; prints "sent N
# received M loss_pct L rtt_min A rtt_median B rtt_max C" (ms). Returns
# non-zero if nothing came back.
lab_ping() {
    local t=()
    [ "${6:-udp}" = tcp ] && t=(-t)
    lab_pkt "$1" ping "${t[@]}" -a "$2" -p "$3" -c "${4:-10}" -i "${5:-20}" -w 1000
}

# lab_field LINE NAME: the value after NAME in a "name value ..." line.
lab_field() {
    awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i+1); exit } }' <<<"$1"
}

# lab_rogue_start [FAKE_EXT_ADDR]: a rogue PCP/NAT-PMP responder in lan2
# (198.18.0.11:5351) answering with success and FAKE_EXT_ADDR (default
# 203.0.113.66). The router's bridge is put in hub mode (no MAC learning)
# so lan2 sees lan1's requests to the gateway and answers them from its
# own, non-gateway address. Log: $LAB_TMP/rogue.log. Sets LAB_ROGUE_PID.
lab_rogue_start() {
    local ready="$LAB_TMP/rogue.ready"
    rm -f "$ready"
    ip -n "$(lab_ns router)" link set br0 type bridge ageing_time 0
    lab_bg lan2 rogue "$LAB_TOOLS/np_pkt" rogue -e "${1:-203.0.113.66}" \
        -d eth0 -r "$ready"
    LAB_ROGUE_PID=$LAB_LAST_PID
    lab_wait_for 5 "rogue responder" test -e "$ready"
}

# lab_fakegw_start ARGS...: start tests/lab/tools/np_fakegw.py (a scripted,
# misbehaving IGD; see its --help) on the router's LAN address in place of
# miniupnpd, telling external address $LAB_WAN_IP unless ARGS say
# otherwise. Its forwards go into the lab's prerouting_miniupnpd chain.
# Log (one line per request): $LAB_TMP/fakegw.log. Sets LAB_FAKEGW_PID and
# LAB_FAKEGW_URL (its first description URL). Returns once it listens.
lab_fakegw_start() {
    local ready="$LAB_TMP/fakegw.ready"
    rm -f "$ready"
    lab_bg router fakegw python3 -u "$NP_SOURCE_DIR/tests/lab/tools/np_fakegw.py" \
        --lan-addr "$LAB_GW" --wan-addr "$LAB_WAN_IP" --ready-file "$ready" "$@"
    LAB_FAKEGW_PID=$LAB_LAST_PID
    lab_wait_for 10 "np_fakegw listening" lab__fakegw_ready "$ready"
    LAB_FAKEGW_URL=$(awk '/^ready/ { print $2; exit }' "$LAB_TMP/fakegw.log")
    LAB_FAKEGW_URL="http://$LAB_GW:49000$LAB_FAKEGW_URL"
}
lab__fakegw_ready() {
    kill -0 "$LAB_FAKEGW_PID" 2>/dev/null ||
        lab_fail "np_fakegw exited: $(tail -5 "$LAB_TMP/fakegw.log")"
    test -s "$1"
}

# lab_fakegw_stop: stop np_fakegw (it removes its forwards on SIGTERM).
lab_fakegw_stop() {
    lab_stop_pid "${LAB_FAKEGW_PID:-}"
    LAB_FAKEGW_PID=""
    lab_in router nft flush chain inet nplab prerouting_miniupnpd 2>/dev/null || true
}

# ---- IPv6 (lab_build -6 KIND) -------------------------------------------------
#
#   inet    down0: 2001:db8:ffff::1/64 (gateway), ::100 (a host), coturn's
#           second instance on 2001:db8:ffff::10 and ::11 (lab_coturn6_start)
#   [carrier] wan 2001:db8:ffff::2, down0 2001:db8:fffe::1 (routes only)
#   router  wan 2001:db8:ffff::2/64 (2001:db8:fffe::2 behind the carrier),
#           br0 2001:db8:1::1/64, routes the home's 2001:db8:1::/64
#   lan1    2001:db8:1::10, lan2 2001:db8:1::11 (default via 2001:db8:1::1)
# Every address is added with nodad (no duplicate address detection delay).

# lab__ipv6 EDGE DELAYLOSS: addresses, routes and forwarding (lab_build -6).
lab__ipv6() {
    local edge=$1 dl=$2 r
    lab__addr6() { ip -n "$(lab_ns "$1")" -6 addr add "$3" dev "$2" nodad; }
    for r in inet router lan1 lan2 $([ "$LAB_CARRIER" = 1 ] && echo carrier); do
        lab_in "$r" sh -c 'echo 0 > /proc/sys/net/ipv6/conf/all/disable_ipv6'
    done
    lab__addr6 inet down0 "$LAB_INET6_GW/64"
    lab__addr6 inet down0 "$LAB_INET6_HOST/64"
    lab__addr6 inet down0 "$LAB_STUN6_1/64"
    lab__addr6 inet down0 "$LAB_STUN6_2/64"
    lab__addr6 "$edge" wan 2001:db8:ffff::2/64
    ip -n "$(lab_ns "$edge")" -6 route add default via "$LAB_INET6_GW"
    if [ "$dl" != 00 ]; then
        lab__static_neigh "$edge" wan 2001:db8:ffff::2 inet down0 "$LAB_INET6_GW"
    fi
    if [ "$LAB_CARRIER" = 1 ]; then
        lab__addr6 carrier down0 2001:db8:fffe::1/64
        lab__addr6 router wan 2001:db8:fffe::2/64
        ip -n "$(lab_ns router)" -6 route add default via 2001:db8:fffe::1
        ip -n "$(lab_ns carrier)" -6 route add "$LAB_LAN6_NET" via 2001:db8:fffe::2
        lab_in carrier sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/forwarding'
        LAB_WAN6_IP=2001:db8:fffe::2
    else
        LAB_WAN6_IP=2001:db8:ffff::2
    fi
    # Behind NAT66 the home's prefix is not routed from outside.
    [ "$LAB_V6" = nat66 ] ||
        ip -n "$(lab_ns inet)" -6 route add "$LAB_LAN6_NET" via 2001:db8:ffff::2
    lab__addr6 router br0 "$LAB_GW6/64"
    lab_in router sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/forwarding'
    lab__addr6 lan1 eth0 "$LAB_LAN1_IP6/64"
    lab__addr6 lan2 eth0 "$LAB_LAN2_IP6/64"
    ip -n "$(lab_ns lan1)" -6 route add default via "$LAB_GW6"
    ip -n "$(lab_ns lan2)" -6 route add default via "$LAB_GW6"
}

# lab__v6_rules ROLE: the IPv6 parts of lab_set_nat's ruleset (sets its
# local v6_* variables). IPv4 rules never see an IPv6 packet: each chain
# that holds IPv4 rules ends IPv6 early.
lab__v6_rules() {
    v6_pre='meta nfproto ipv6 accept'
    if [ "$1" != router ]; then
        # The carrier routes IPv6 untouched (native IPv6 beside its CGNAT).
        v6_fwd='meta nfproto ipv6 accept'
        v6_masq='meta nfproto ipv6 accept'
        v6_record='meta nfproto ipv6 accept'
        return 0
    fi
    v6_fwd='meta nfproto ipv6 jump fwd6'
    v6_record='meta nfproto ipv6 accept'
    v6_masq='meta nfproto ipv6 accept'
    local body
    case $LAB_V6 in
    apdf | nat66)
        body='ct state established,related accept
        iifname != "wan" accept
        jump miniupnpd
        drop'
        [ "$LAB_V6" = nat66 ] &&
            v6_masq='oifname "wan" meta nfproto ipv6 masquerade
        meta nfproto ipv6 accept'
        ;;
    adf)
        v6_set='set adf6 {
        type ipv6_addr . inet_service . ipv6_addr
        flags dynamic,timeout
        timeout 5m
    }'
        v6_record='oifname "wan" meta nfproto ipv6 meta l4proto udp update @adf6 { ip6 saddr . udp sport . ip6 daddr }
        meta nfproto ipv6 accept'
        body='ct state established,related accept
        iifname != "wan" accept
        iifname "wan" meta l4proto udp ip6 daddr . udp dport . ip6 saddr @adf6 accept
        jump miniupnpd
        drop'
        ;;
    open) body='accept' ;;
    blocked) body='drop' ;;
    esac
    v6_chain="chain fwd6 {
        $body
    }"
}

# lab_coturn6_start: a second coturn in inet, RFC 5780 over IPv6 on
# 2001:db8:ffff::10 and ::11, ports 3478 and 3479 (TCP on 3478 too).
# Sets LAB_COTURN6_PID.
lab_coturn6_start() {
    [ -n "$LAB_V6" ] || lab_fail "lab_coturn6_start: build the lab with -6"
    mkdir -p "$LAB_TMP/coturn6"
    lab_bg inet coturn6 turnserver -n --stun-only --no-cli --no-tls --no-dtls \
        --listening-ip "$LAB_STUN6_1" --listening-ip "$LAB_STUN6_2" \
        --listening-port "$LAB_STUN_PORT" \
        --alt-listening-port "$LAB_STUN_ALT_PORT" \
        --log-file "$LAB_TMP/coturn6/turn.log" --simple-log \
        --pidfile "$LAB_TMP/coturn6/turn.pid" --db "$LAB_TMP/coturn6/turndb" \
        --no-software-attribute
    LAB_COTURN6_PID=$LAB_LAST_PID
    lab_wait_for 10 "coturn listening on both IPv6 addresses" lab__coturn6_ready
}

lab__coturn6_ready() {
    kill -0 "$LAB_COTURN6_PID" 2>/dev/null ||
        lab_fail "coturn (IPv6) exited: $(tail -5 "$LAB_TMP/coturn6.log" 2>&1)"
    local s
    s=$(lab_in inet ss -Hlnu)
    grep -q "\[$LAB_STUN6_1\]:$LAB_STUN_PORT " <<<"$s" &&
        grep -q "\[$LAB_STUN6_2\]:$LAB_STUN_PORT " <<<"$s" &&
        grep -q "\[$LAB_STUN6_1\]:$LAB_STUN_ALT_PORT " <<<"$s" &&
        grep -q "\[$LAB_STUN6_2\]:$LAB_STUN_ALT_PORT " <<<"$s" &&
        lab_in inet ss -Hlnt | grep -q "\[$LAB_STUN6_1\]:$LAB_STUN_PORT "
}

# lab_coturn6_stop: stop the IPv6 coturn.
lab_coturn6_stop() {
    lab_stop_pid "$LAB_COTURN6_PID"
    LAB_COTURN6_PID=""
}

# lab_inbound6 PROTO ROLE PORT [TIMEOUT_MS] [DST] [SRC]
#   Prove an IPv6 pinhole with a real packet: listen on ROLE [::]:PORT
#   (udp|tcp), send from the simulated internet (SRC, default
#   2001:db8:ffff::100) to DST (default ROLE's address) port PORT; 0 iff it
#   arrived. UDP is sent up to 5 times, 100 ms apart. Prints the
#   receiver's "from [ADDR]:PORT payload" line on success.
lab_inbound6() {
    local proto=$1 role=$2 port=$3 timeout=${4:-2000} dst=${5:-} src=${6:-$LAB_INET6_HOST}
    local flag=-u ready pid spid="" rc=0
    if [ -z "$dst" ]; then
        case $role in
        lan1) dst=$LAB_LAN1_IP6 ;;
        lan2) dst=$LAB_LAN2_IP6 ;;
        *) lab_fail "lab_inbound6: give DST for $role" ;;
        esac
    fi
    [ "$proto" = tcp ] && flag=-t
    ready="$LAB_TMP/listen6.$role.$port.ready"
    rm -f "$ready"
    lab_bg "$role" "listen6.$role.$port" "$LAB_TOOLS/np_pkt6" listen "$flag" \
        -p "$port" -w "$timeout" -r "$ready"
    pid=$LAB_LAST_PID
    lab_wait_for 5 "IPv6 listener on $role:$port" test -e "$ready"
    if [ "$proto" = tcp ]; then
        lab_in inet "$LAB_TOOLS/np_pkt6" send -t -b "$src" -a "$dst" -p "$port" \
            -m "np-inbound6-$port" >/dev/null 2>&1 || true
    else
        lab_in inet "$LAB_TOOLS/np_pkt6" send -u -b "$src" -a "$dst" -p "$port" \
            -m "np-inbound6-$port" -n 5 -i 100 >/dev/null 2>&1 &
        spid=$!
    fi
    wait "$pid" || rc=$?
    [ -z "$spid" ] || wait "$spid" 2>/dev/null || true
    [ "$rc" = 0 ] && cat "$LAB_TMP/listen6.$role.$port.log"
    return "$rc"
}

# ---- Teredo (RFC 4380) -------------------------------------------------------

LAB_TEREDO1=203.0.113.50 # miredo-server's primary address (UDP 3544)
LAB_TEREDO2=203.0.113.51 # its secondary address (the primary + 1)
LAB_TEREDO_PID=""

# lab_teredo_start: a real Teredo server (miredo-server) in inet on
# 203.0.113.50 and .51, UDP 3544, run as nobody in the foreground. Sets
# LAB_TEREDO_PID; returns once both sockets listen.
lab_teredo_start() {
    local ns
    ns=$(lab_ns inet)
    ip -n "$ns" addr add "$LAB_TEREDO1/24" dev down0 2>/dev/null || true
    ip -n "$ns" addr add "$LAB_TEREDO2/24" dev down0 2>/dev/null || true
    printf 'ServerBindAddress %s\n' "$LAB_TEREDO1" >"$LAB_TMP/miredo-server.conf"
    lab_bg inet miredo-server miredo-server -f -c "$LAB_TMP/miredo-server.conf" \
        -p "$LAB_TMP/miredo-server.pid" -u nobody
    LAB_TEREDO_PID=$LAB_LAST_PID
    lab_wait_for 10 "miredo-server listening on UDP 3544" lab__teredo_ready
}

lab__teredo_ready() {
    kill -0 "$LAB_TEREDO_PID" 2>/dev/null ||
        lab_fail "miredo-server exited: $(tail -5 "$LAB_TMP/miredo-server.log")"
    local s
    s=$(lab_in inet ss -Hlnu)
    grep -q "$LAB_TEREDO1:3544 " <<<"$s" && grep -q "$LAB_TEREDO2:3544 " <<<"$s"
}
