#!/usr/bin/env bash
# Lab test: natpilot wizard driven as a person would, in a real terminal.
#
# The wizard runs inside tmux (80x24) in the LAN host's namespace; the test
# answers its questions with send-keys and reads the screen with
# capture-pane. Cases:
#   1. happy path for this host: ends Open, the router's table holds the
#      mapping and a packet from the internet proves it;
#   2. a console whose mapping the router refuses (secure mode): the manual
#      steps and the DMZ paragraph are shown, the table is unchanged;
#   3. carrier-grade NAT: the wizard says forwarding at home cannot help;
#   4. Ctrl-C while the router is being asked (slowed to two new TCP
#      connections a second, so the key lands mid-run): the table is as
#      before; 4a. Ctrl-C while the mappings are checked: the wizard
#      removes what its run made;
#   5. NO_COLOR: no colour sequences on the screen (and colour without it).
# Also: a wrong answer at "Device [1]:" asks again with a hint (case 1), and
# the plan names the protocol the run then uses, with PCP, NAT-PMP and UPnP
# all on (case 1b).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lab_require
command -v tmux >/dev/null || lab_fail "tmux is not installed"

STUN="198.51.100.10:3478"
TMUX_SOCK=""
TMUX_N=0
SESSION="wiz"

tm() { tmux -S "$TMUX_SOCK" "$@"; }

lab_on_exit() {
  local sock
  for sock in "$LAB_TMP"/tmux.*.sock; do
    [ -e "$sock" ] && tmux -S "$sock" kill-server 2>/dev/null || true
  done
}

# wiz_start "ARGS" [ENV...]: the wizard in a fresh 80x24 tmux session.
# A new tmux server (own socket) per run: reusing one right after
# kill-server races with its shutdown ("server exited unexpectedly").
# After the wizard the pane ignores SIGINT: a Ctrl-C that lands after the
# wizard has ended (case 4) must not end the pane and its transcript.
wiz_start() {
  local args=$1
  shift
  [ -z "$TMUX_SOCK" ] || tm kill-server 2>/dev/null || true
  TMUX_N=$((TMUX_N + 1))
  TMUX_SOCK="$LAB_TMP/tmux.$TMUX_N.sock"
  tm new-session -d -s "$SESSION" -x 80 -y 24 \
    "ip netns exec $(lab_ns lan1) env TERM=xterm-256color $* $NATPILOT wizard $args; echo WIZARD-EXIT=\$?; trap '' INT; sleep 60"
}

# screen: the whole scroll-back, wrapped lines joined.
screen() { tm capture-pane -p -J -t "$SESSION" -S -500; }

# wait_screen TIMEOUT_S TEXT: until TEXT is on the screen.
wait_screen() {
  local deadline=$(($(date +%s) + $1))
  while ! grep -qF -- "$2" <<<"$(screen)"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "---- screen ----" >&2
      screen >&2
      lab_fail "timed out waiting for: $2"
    fi
    sleep 0.1
  done
}

keys() { tm send-keys -t "$SESSION" "$@"; }

# until_plan: answer "no" to the outbound question if the wizard asks it,
# then wait for the plan's question.
until_plan() {
  local deadline=$(($(date +%s) + 15)) answered=0 scr
  while :; do
    scr=$(screen)
    grep -qF -- "Ask the router for these mappings now?" <<<"$scr" && return 0
    if [ "$answered" = 0 ] && grep -qF -- "outbound ports too?" <<<"$scr"; then
      keys Enter
      answered=1
    fi
    [ "$(date +%s)" -lt "$deadline" ] || { screen >&2; lab_fail "no plan question"; }
    sleep 0.1
  done
}

check() { # check DESC CMD...
  local desc=$1
  shift
  if "$@"; then
    lab_ok "$desc"
  else
    lab_bad "$desc"
  fi
}

# (Here-strings, not pipes into grep -q: with pipefail an early grep exit
# can fail the pipeline with SIGPIPE.)
has() { grep -qF -- "$1" <<<"$(screen)"; }
lacks() { ! has "$1"; }

# No line of the transcript is wider than the 80-column terminal.
fits_80() { ! tm capture-pane -p -J -t "$SESSION" -S -500 | awk 'length($0) > 80 { bad = 1 } END { exit !bad }'; }

# Attributes on the screen (capture-pane -e renders them as SGR sequences).
has_sgr() { grep -q $'\033\\[1' <<<"$(tm capture-pane -p -e -t "$SESSION" -S -500)"; }
no_sgr() { ! has_sgr; }

upnp_table() { lab_in lan1 upnpc -i -l 2>/dev/null | grep -E '^ *[0-9]+ (UDP|TCP) ' || true; }

save_screen() { screen > "$LAB_TMP/screen-$1.txt"; cp "$LAB_TMP/screen-$1.txt" "${NP_BUILD_DIR:-.}/wizard-screen-$1.txt" 2>/dev/null || true; }

# --- 1. happy path, this host, UPnP -------------------------------------------
lab_build -k eim-apdf
lab_coturn_start
lab_miniupnpd_start -u yes -n no
wiz_start "--stun $STUN --no-save"
wait_screen 10 "Device [1]:"
check "step 1 shows the router and the NAT" has "NAT today"
keys "99" Enter
wait_screen 5 "is not one of the choices"
check "a wrong answer at Device re-asks (no exit)" lacks "WIZARD-EXIT="
check "the question is asked again" \
  test "$(screen | grep -cF 'Device [1]:')" -ge 2
keys "not-an-address" Enter
wait_screen 5 "'not-an-address' is not one of the choices"
keys "1" Enter
wait_screen 5 "A game you play"
keys "minecraft java" Enter
wait_screen 5 "Which one"
keys "1" Enter
wait_screen 5 "Another game"
keys Enter
until_plan
check "the plan names TCP 25565" has "tcp 25565"
before_table=$(upnp_table)
check "nothing mapped before the player says yes" test -z "$before_table"
keys "y" Enter
wait_screen 20 "WIZARD-EXIT="
save_screen happy
check "ends Open" has "After"
check "exit status 0" has "WIZARD-EXIT=0"
table=$(upnp_table)
echo "$table"
check "UPnP table has TCP 25565 -> lan1" grep -qE "TCP +25565->$LAB_LAN1_IP:25565" <<<"$table"
check "a packet from the internet reaches lan1 on tcp 25565" lab_inbound tcp 25565 lan1 25565
check "fits 80 columns" fits_80
lab_in lan1 "$NATPILOT" close --all >/dev/null 2>&1 || true

# --- 1b. PCP, NAT-PMP and UPnP all answer: the plan names the protocol the
#      run then uses (it used to say the one diagnose's discovery preferred)
lab_miniupnpd_stop
lab_miniupnpd_start -u yes -n yes
wiz_start "--stun $STUN --device self --game minecraft-java --yes --no-save"
wait_screen 20 "WIZARD-EXIT="
save_screen proto
plan_proto=$(screen | grep -oE 'Each for [0-9]+ s, via [a-z]+' | sed 's/.* via //' | head -1)
run_proto=$(screen | grep -oE 'mapped via [a-z]+' | sed 's/.* via //' | sort -u | tr '\n' ' ')
echo "plan: via $plan_proto; run: via $run_proto"
check "the plan names a protocol" test -n "$plan_proto"
check "the run maps with the protocol the plan named" test "$run_proto" = "$plan_proto "
check "with all three on, that is PCP (the preference)" test "$plan_proto" = pcp
check "ends Open" has "WIZARD-EXIT=0"
lab_in lan1 "$NATPILOT" close --all >/dev/null 2>&1 || true

# --- 2. a console, router refuses third-party mappings -------------------------
lab_miniupnpd_stop
lab_miniupnpd_start -u yes -n yes -S yes -t no
wiz_start "--stun $STUN --device $LAB_LAN2_IP --platform xbox --no-save"
wait_screen 15 "A game you play"
keys Enter
until_plan
before_table=$(upnp_table)
keys "y" Enter
wait_screen 20 "WIZARD-EXIT="
save_screen console
check "explains the refusal for another device" has "another device"
check "gives the manual forwards" has "port-forwarding page"
check "advises a DHCP reservation" has "DHCP"
check "says why not the DMZ" has "Why not the DMZ"
check "exit status 1" has "WIZARD-EXIT=1"
check "router table unchanged" test "$(upnp_table)" = "$before_table"
check "fits 80 columns" fits_80

# --- 3. carrier-grade NAT -------------------------------------------------------
# The home router has no STUN of its own: like a real one behind the
# provider's NAT, it cannot tell a public address (miniupnpd answers an
# empty one, NAT-PMP "network failure").
lab_build -k eim-apdf -c -C eim-apdf
lab_coturn_start
lab_miniupnpd_start -u yes -n yes -s no
wiz_start "--stun $STUN --device self --game minecraft-java --no-save"
wait_screen 15 "WIZARD-EXIT="
save_screen cgnat
check "detects the second NAT" has "second NAT"
check "the router cannot say its public address" has "the router cannot say"
check "says forwarding at home cannot help" has "cannot make the NAT"
check "names what can (provider, IPv6)" has "IPv6"
check "fits 80 columns" fits_80

# --- 4. Ctrl-C while asking the router ------------------------------------------
# Several games give open many rules; the interrupt is sent the moment the
# open command starts. Either open is interrupted (and must roll back), or
# it finished first (then the test says so and cleans up).
# The router takes at most two new TCP connections a second from the LAN
# (each UPnP request is one), so that mapping seven rules lasts seconds and
# the Ctrl-C lands while the router is being asked.
lab_build -k eim-apdf
lab_coturn_start
lab_miniupnpd_start -u yes -n no
before_table=$(upnp_table)
lab_in router nft -f - <<'NFT' || lab_fail "slow router rules"
table ip wizslow {
    chain in {
        type filter hook input priority filter - 10; policy accept;
        iifname "br0" tcp flags & (syn | ack) == syn limit rate over 2/second burst 2 packets drop
    }
}
NFT
wiz_start "--stun $STUN --device self --platform pc --game counter-strike-2 --game minecraft-java --game rust --game valheim --yes --no-save"
wait_screen 30 "\$ natpilot open"
keys C-c
wait_screen 60 "WIZARD-EXIT="
lab_in router nft delete table ip wizslow
save_screen ctrlc
check "says it was interrupted or finished cleanly" \
  bash -c "grep -qE 'Interrupted|Rolled back|Done|Not Open' '$LAB_TMP/screen-ctrlc.txt'"
check "stops at Ctrl-C (no manual steps after it)" \
  bash -c "! grep -qE 'Interrupted' '$LAB_TMP/screen-ctrlc.txt' || ! grep -q 'What to do in the router' '$LAB_TMP/screen-ctrlc.txt'"
check "Ctrl-C landed while the slowed router was being asked" \
  grep -q 'Interrupted' "$LAB_TMP/screen-ctrlc.txt"
if grep -qE 'Interrupted|Rolled back' "$LAB_TMP/screen-ctrlc.txt"; then
  check "router table as before after Ctrl-C" test "$(upnp_table)" = "$before_table"
else
  echo "note: the run finished before Ctrl-C arrived; closing"
  lab_in lan1 "$NATPILOT" close --all >/dev/null 2>&1 || true
fi

# --- 4a. Ctrl-C after the router said yes, while the mappings are being
#      checked: the wizard takes this run's mappings back itself
lab_in router nft -f - <<'NFT' || lab_fail "slow router rules"
table ip wizslow {
    chain in {
        type filter hook input priority filter - 10; policy accept;
        iifname "br0" tcp flags & (syn | ack) == syn limit rate over 2/second burst 2 packets drop
    }
}
NFT
before_table=$(upnp_table)
wiz_start "--stun $STUN --device self --platform pc --game counter-strike-2 --game minecraft-java --game rust --game valheim --yes --no-save"
wait_screen 60 "Checking the mappings:"
keys C-c
wait_screen 60 "WIZARD-EXIT="
lab_in router nft delete table ip wizslow
save_screen ctrlc-verify
check "Ctrl-C during the check: says the mappings were removed again" \
  has "were removed again"
check "the mapping was made before the Ctrl-C" has "mapped via upnp"
check "router table as before after Ctrl-C during the check" \
  test "$(upnp_table)" = "$before_table"

# --- 4b. the outbound check, unattended (--outbound): a game's outbound
#      rule that the router drops is reported, and the exit is 1
lab_in inet nft -f - <<'NFT' || lab_fail "reflector rules"
table ip wizreflect {
    chain pre {
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr 203.0.113.100 tcp dport != 7000 dnat to 203.0.113.100:7000
    }
}
NFT
lab_bg inet tcpsink "$LAB_TOOLS/np_tcpsink" -p 7000 -r "$LAB_TMP/sink.ready"
lab_wait_for 5 "TCP sink" test -e "$LAB_TMP/sink.ready"
lab_in router nft -f - <<'NFT' || lab_fail "egress rules"
table ip wizegress {
    chain f {
        type filter hook forward priority filter - 10; policy accept;
        iifname "br0" tcp dport 27015 drop
    }
}
NFT
wiz_start "--stun $STUN --device self --platform pc --game counter-strike-2 --outbound --reflector 203.0.113.100:443 --no-apply --no-save"
wait_screen 30 "WIZARD-EXIT="
save_screen outbound
check "runs the outbound check" has "verify --outbound"
check "reports a blocked outbound port" has "dropped"
check "exit 1 when an essential outbound rule is blocked (or NAT not open)" has "WIZARD-EXIT=1"
lab_in router nft delete table ip wizegress

# --- 4c. step 8: the set-up saved as a daemon config the daemon accepts
wiz_start "--stun $STUN --device $LAB_LAN2_IP --platform xbox --game halo-infinite --no-apply --save $LAB_TMP/saved.conf"
wait_screen 30 "WIZARD-EXIT="
save_screen save
check "says where the config was saved" has "Saved $LAB_TMP/saved.conf"
check "natpilot daemon --check accepts the saved config" \
  lab_in lan1 "$NATPILOT" daemon --config "$LAB_TMP/saved.conf" --check
check "the console that maps itself is saved as a verify device" \
  test "$(jq -r '.devices[0].mode' "$LAB_TMP/saved.conf")" = verify

# --- 5. NO_COLOR ------------------------------------------------------------------
wiz_start "--stun $STUN --device self --game minecraft-java --no-apply --no-save" NO_COLOR=1
wait_screen 15 "WIZARD-EXIT="
check "NO_COLOR: no colour or bold on the screen" no_sgr
wiz_start "--stun $STUN --device self --game minecraft-java --no-apply --no-save"
wait_screen 15 "WIZARD-EXIT="
check "colour on a terminal without NO_COLOR" has_sgr

lab_done
