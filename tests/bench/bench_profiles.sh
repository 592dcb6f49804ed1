#!/usr/bin/env bash
# Benchmark: load and validate a generated catalog of N valid profiles
# (default 10,000) with `natpilot profiles validate DIR`; print the wall
# time and the peak resident memory. Then the start-up cost of the embedded
# catalog (every profile parsed and checked, as at `natpilot diagnose`
# start) against a baseline build, as a ratio.
#
#   tests/bench/bench_profiles.sh [BUILD_DIR] [N] [BASE_BUILD_DIR]
#
# BASE_BUILD_DIR: a build directory of the baseline (its libnatpilot.a and
# natpilot). Without it the baseline commit ${NP_BENCH_BASE:-89fd5e8} (main
# before issue 12: 32 games and 6 platforms) is exported with git archive and
# built once into /tmp/np-bench-base-COMMIT (a few minutes on 2 cores);
# NP_BENCH_BASE=none skips the comparison.
set -euo pipefail
build=${1:-build}
n=${2:-10000}
base_build=${3:-}
src=$(cd "$(dirname "$0")/../.." && pwd)
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

# --- the embedded catalog at start-up, against the baseline -----------------
base_commit=${NP_BENCH_BASE:-89fd5e8}
if [ "$base_commit" = none ]; then
  exit 0
fi
if [ -z "$base_build" ]; then
  base_src=/tmp/np-bench-base-$base_commit
  base_build=$base_src/build
  if [ ! -f "$base_build/libnatpilot.a" ] || [ ! -x "$base_build/natpilot" ]; then
    echo "building the baseline $base_commit in $base_src (once)"
    rm -rf "$base_src"
    mkdir -p "$base_src"
    git -C "$src" archive "$base_commit" | tar -x -C "$base_src"
    cmake -S "$base_src" -B "$base_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
          -DNP_TESTS=OFF >/dev/null
    cmake --build "$base_build" -j2 --target natpilot >/dev/null
  fi
fi
libs="$(pkg-config --libs miniupnpc libcurl libcjson) -lnatpmp -lcrypto -lpthread"
bin=$(mktemp -d /tmp/np-bench-embedded.XXXXXX)
trap 'rm -rf "$dir" "$bin"' EXIT
# shellcheck disable=SC2086
cc -O2 -I"$src/include" "$src/tests/bench/bench_embedded.c" \
   "$build/libnatpilot.a" $libs -o "$bin/new"
# shellcheck disable=SC2086
cc -O2 -I"$base_build/../include" "$src/tests/bench/bench_embedded.c" \
   "$base_build/libnatpilot.a" $libs -o "$bin/base"

# Alternate the two a few times: the best load time of each is the least
# disturbed by other load on the machine; the mean is printed too.
iters=${NP_BENCH_ITERS:-300}
best_new=; best_base=; mean_new=; mean_base=
for round in 1 2 3; do
  for which in base new; do
    line=$("$bin/$which" "$iters")
    b=$(echo "$line" | sed -n 's/.*best_us=\([0-9.]*\).*/\1/p')
    m=$(echo "$line" | sed -n 's/.*us_per_load=\([0-9.]*\).*/\1/p')
    p=$(echo "$line" | sed -n 's/.*profiles=\([0-9]*\).*/\1/p')
    eval "profiles_$which=$p"
    cur_best=$(eval echo "\${best_$which:-}")
    if [ -z "$cur_best" ] || awk -v a="$b" -v c="$cur_best" 'BEGIN { exit !(a < c) }'; then
      eval "best_$which=$b"
    fi
    cur_mean=$(eval echo "\${mean_$which:-}")
    if [ -z "$cur_mean" ] || awk -v a="$m" -v c="$cur_mean" 'BEGIN { exit !(a < c) }'; then
      eval "mean_$which=$m"
    fi
  done
done
echo "embedded catalog, baseline $base_commit: $profiles_base profiles, best ${best_base} us, mean ${mean_base} us per load+check"
echo "embedded catalog, this build:        $profiles_new profiles, best ${best_new} us, mean ${mean_new} us per load+check"
awk -v bn="$best_new" -v bb="$best_base" -v pn="$profiles_new" -v pb="$profiles_base" 'BEGIN {
  printf "ratio (this / baseline): %.2fx the time for %.2fx the profiles; per profile %.2fx (%.1f vs %.1f us)\n",
         bn / bb, pn / pb, (bn / pn) / (bb / pb), bn / pn, bb / pb }'

# The same through the program: `natpilot profiles list` parses every
# profile at start (process start-up included).
if [ -x "$base_build/natpilot" ]; then
  for which in "$base_build/natpilot" "$natpilot"; do
    s=$(date +%s%N)
    for _ in $(seq 50); do "$which" profiles list >/dev/null; done
    e=$(date +%s%N)
    echo "natpilot profiles list ($which): $(( (e - s) / 50000 )) us per run"
  done
fi
