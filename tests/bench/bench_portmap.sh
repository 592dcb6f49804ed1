#!/usr/bin/env bash
# Benchmark: time from start until every inbound mapping of a set of ports is
# made and confirmed, natpilot (via PCP, NAT-PMP, UPnP) against upnpc -a and
# natpmpc -a run once per port, in the lab (real miniupnpd on the router).
#
#   tests/bench/bench_portmap.sh [-n RUNS] [-p PORTS]
#
# natpilot open reads each mapping back (UPnP GetSpecificPortMappingEntry,
# PCP/NAT-PMP answers) before it reports it, so its time is "confirmed".
# Run as root from a build directory's parent (NATPILOT, NP_BUILD_DIR as for
# the lab tests). Prints medians (ms) and ratios.
set -euo pipefail
. "$(dirname "$0")/../lab/lib.sh"
lab_require upnpc natpmpc

runs=5
nports=5
while getopts "n:p:" opt; do
  case $opt in
  n) runs=$OPTARG ;;
  p) nports=$OPTARG ;;
  *) echo "usage: $0 [-n RUNS] [-p PORTS]" >&2; exit 2 ;;
  esac
done
first=41000
last=$((first + nports - 1))

lab_build -k eim-apdf
lab_coturn_start
lab_miniupnpd_start -u yes -n yes -S no

ms_now() { date +%s%3N; }

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# time_cmd VAR CMD...: run CMD in lan1, store wall ms in VAR (exit must be 0)
time_cmd() {
  local __v=$1 t0 t1
  shift
  t0=$(ms_now)
  lab_in lan1 "$@" >/dev/null 2>&1 || lab_fail "failed: $*"
  t1=$(ms_now)
  printf -v "$__v" '%s' $((t1 - t0))
}

clean_all() {
  lab_in lan1 "$NATPILOT" close --all >/dev/null 2>&1 || true
  local p
  for p in $(seq "$first" "$last"); do
    lab_in lan1 upnpc -i -d "$p" UDP >/dev/null 2>&1 || true
    lab_in lan1 natpmpc -g "$LAB_GW" -a "$p" "$p" udp 0 >/dev/null 2>&1 || true
  done
}

declare -A res
for tool in np-pcp np-natpmp np-upnp upnpc natpmpc; do
  samples=()
  for i in $(seq 1 "$runs"); do
    clean_all
    case $tool in
    np-*)
      time_cmd ms "$NATPILOT" open --via "${tool#np-}" --port "udp:$first-$last" --lease 600
      ;;
    upnpc)
      t0=$(ms_now)
      for p in $(seq "$first" "$last"); do
        lab_in lan1 upnpc -i -e "bench" -a "$LAB_LAN1_IP" "$p" "$p" UDP 600 >/dev/null 2>&1 ||
          lab_fail "upnpc -a $p"
      done
      ms=$(($(ms_now) - t0))
      ;;
    natpmpc)
      t0=$(ms_now)
      for p in $(seq "$first" "$last"); do
        lab_in lan1 natpmpc -g "$LAB_GW" -a "$p" "$p" udp 600 >/dev/null 2>&1 ||
          lab_fail "natpmpc -a $p"
      done
      ms=$(($(ms_now) - t0))
      ;;
    esac
    # Confirm from outside for the record: the first port must forward.
    lab_inbound udp "$first" lan1 "$first" 2000 >/dev/null ||
      lab_fail "$tool: udp $first does not forward"
    samples+=("$ms")
  done
  res[$tool]=$(printf '%s\n' "${samples[@]}" | median)
  echo "$tool: ${samples[*]} ms -> median ${res[$tool]} ms" >&2
done
clean_all

echo "Mapping $nports UDP ports, $runs runs, medians of wall time (ms), each"
echo "including process start-up; every run proven by an inbound packet."
printf '%-18s %10s\n' "tool" "median ms"
for tool in np-pcp np-natpmp np-upnp upnpc natpmpc; do
  printf '%-18s %10s\n' "$tool" "${res[$tool]}"
done
awk -v a="${res[np-upnp]}" -v b="${res[upnpc]}" \
  'BEGIN { printf "natpilot via UPnP / upnpc -a per port:     %.3f (%.0fx faster)\n", a / b, b / a }'
awk -v a="${res[np-natpmp]}" -v b="${res[natpmpc]}" \
  'BEGIN { printf "natpilot via NAT-PMP / natpmpc -a per port: %.3f\n", a / b }'
awk -v a="${res[np-pcp]}" -v b="${res[natpmpc]}" \
  'BEGIN { printf "natpilot via PCP / natpmpc -a per port:     %.3f\n", a / b }'
