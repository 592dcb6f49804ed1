#!/usr/bin/env bash
# Benchmark: load and validate a generated catalog of N valid profiles
# (default 10,000) with `natpilot profiles validate DIR`; print the wall
# time and the peak resident memory.
#
#   tests/bench/bench_profiles.sh [BUILD_DIR] [N]
set -euo pipefail
build=${1:-build}
n=${2:-10000}
natpilot=$build/natpilot
[ -x "$natpilot" ] || { echo "bench: $natpilot not built" >&2; exit 2; }

dir=$(mktemp -d /tmp/np-bench-profiles.XXXXXX)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/platforms" "$dir/games"

# Four platforms, then games building on them: about 1 KiB each, the size of
# a real game profile, with ranges, per-rule platforms and two sources.
awk -v dir="$dir" -v n="$n" 'BEGIN {
  split("xbox playstation switch pc", plat, " ")
  for (p = 1; p <= 4; p++) {
    f = sprintf("%s/platforms/bench-%s.json", dir, plat[p])
    printf "{\n  \"schema\": 1,\n  \"id\": \"bench-%s\",\n  \"kind\": \"platform\",\n", plat[p] > f
    printf "  \"name\": \"Bench %s network\",\n  \"platforms\": [\"%s\"],\n", plat[p], plat[p] > f
    printf "  \"facts\": {\"self_maps_with_upnp\": true},\n" > f
    printf "  \"inbound\": [\n    {\"protocol\": \"udp\", \"ports\": [%d], \"role\": \"peer-to-peer\",\n", 3000 + p > f
    printf "     \"essential\": true, \"source\": \"s\", \"confidence\": \"high\"}\n  ],\n" > f
    printf "  \"sources\": [{\"id\": \"s\", \"url\": \"https://example.com/%s\", \"title\": \"t\", \"official\": true}],\n", plat[p] > f
    printf "  \"checked\": \"2026-11-20\"\n}\n" > f
    close(f)
  }
  for (i = 4; i < n; i++) {
    id = sprintf("bench-game-%05d", i)
    f = sprintf("%s/games/%s.json", dir, id)
    p1 = plat[i % 4 + 1]; p2 = plat[(i + 1) % 4 + 1]
    port = 10000 + (i % 40000)
    printf "{\n  \"schema\": 1,\n  \"id\": \"%s\",\n  \"kind\": \"game\",\n", id > f
    printf "  \"name\": \"Benchmark Game %d: The Sequel\",\n", i > f
    printf "  \"aliases\": [\"bg%d\", \"bench game %d\"],\n", i, i > f
    printf "  \"platforms\": [\"%s\", \"%s\"],\n", p1, p2 > f
    printf "  \"base\": [\"bench-%s\", \"bench-%s\"],\n", p1, p2 > f
    printf "  \"inbound\": [\n" > f
    printf "    {\"protocol\": \"udp\", \"ports\": [%d, \"%d-%d\"], \"role\": \"game-server\",\n", port, port + 2, port + 9 > f
    printf "     \"essential\": true, \"feature\": \"online play\", \"source\": \"pub\", \"confidence\": \"high\"},\n" > f
    printf "    {\"protocol\": \"tcp\", \"ports\": [%d], \"platforms\": [\"%s\"], \"role\": \"service\",\n", port, p1 > f
    printf "     \"essential\": false, \"note\": \"only for hosting\", \"source\": \"wiki\", \"confidence\": \"medium\"}\n  ],\n" > f
    printf "  \"outbound\": [\n    {\"protocol\": \"tcp\", \"ports\": [443], \"role\": \"service\",\n" > f
    printf "     \"essential\": true, \"source\": \"pub\", \"confidence\": \"high\"}\n  ],\n" > f
    printf "  \"sources\": [\n    {\"id\": \"pub\", \"url\": \"https://support.example.com/games/%d/ports\", \"title\": \"Ports\", \"official\": true},\n", i > f
    printf "    {\"id\": \"wiki\", \"url\": \"https://wiki.example.org/%d\", \"title\": \"Wiki\", \"official\": false}\n  ],\n", i > f
    printf "  \"checked\": \"2026-11-20\",\n  \"notes\": \"generated for the benchmark\"\n}\n" > f
    close(f)
  }
}'

bytes=$(du -sb "$dir" | cut -f1)
echo "catalog: $n profiles, $((bytes / 1024)) KiB on disk, in $dir"

# Warm the page cache once, then measure.
"$natpilot" profiles validate "$dir" >/dev/null
out=$(mktemp)
if [ -x /usr/bin/time ]; then
  /usr/bin/time -f '%e %M' -o "$out" "$natpilot" profiles validate "$dir" >/dev/null
  read -r wall rss_kib <"$out"
else
  start=$(date +%s.%N)
  "$natpilot" profiles validate "$dir" >/dev/null
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  rss_kib="?"
fi
rm -f "$out"
echo "natpilot profiles validate: ${wall} s wall, peak RSS ${rss_kib} KiB" \
     "($(awk -v w="$wall" -v n="$n" 'BEGIN { printf "%.1f", w * 1e6 / n }') us per profile)"

# Loading the same catalog as a layer (list) for comparison.
out=$(mktemp)
/usr/bin/time -f '%e %M' -o "$out" "$natpilot" profiles --profiles "$dir" list >/dev/null
read -r wall rss_kib <"$out"
rm -f "$out"
echo "natpilot profiles --profiles DIR list: ${wall} s wall, peak RSS ${rss_kib} KiB"
