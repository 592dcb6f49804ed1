#!/usr/bin/env bash
# End-to-end checks of `natpilot profiles` (no network, no namespaces):
# exit codes, the file:line:col: /path: message lines, --json shapes, layers.
set -euo pipefail
NATPILOT=${NATPILOT:-build/natpilot}
SRC=${NP_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
DATA=$SRC/tests/data/profiles
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_DATA_HOME=$tmp/no-user-layer  # a user catalog must not interfere
fail() { echo "FAIL: $*" >&2; exit 1; }
run() { set +e; "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; set -e; }

# validate: a good tree is ok (exit 0), a bad file exits 2 with the exact line.
run "$NATPILOT" profiles validate "$DATA/good"
[ "$rc" = 0 ] || fail "good tree: rc=$rc $(cat "$tmp/err")"
grep -q '^ok: 5 profiles valid$' "$tmp/out" || fail "good tree output: $(cat "$tmp/out")"

cd "$DATA/bad"
run "$NATPILOT" profiles validate games/range-inverted.json
[ "$rc" = 2 ] || fail "bad file: rc=$rc"
grep -qx 'games/range-inverted.json:10:35: /inbound/1/ports/0: range 27030-27015 is inverted' "$tmp/err" \
  || fail "bad file stderr: $(cat "$tmp/err")"

# Every error of a file, one per line.
run "$NATPILOT" profiles validate games/sources-empty.json
[ "$rc" = 2 ] || fail "sources-empty rc=$rc"
[ "$(grep -c '^games/sources-empty.json:[0-9]*:[0-9]*: /' "$tmp/err")" = 3 ] || fail "want 3 errors: $(cat "$tmp/err")"

# Malformed JSON with a position.
run "$NATPILOT" profiles validate games/syntax-missing-comma.json
grep -q "^games/syntax-missing-comma.json:5:3: malformed JSON: expected ',' or '}'" "$tmp/err" \
  || fail "syntax: $(cat "$tmp/err")"

# Cross-file: cycles and unknown bases; --json shape.
run "$NATPILOT" profiles validate --json cycle
[ "$rc" = 2 ] || fail "cycle rc=$rc"
jq -e '.valid == false and .errors == 2 and
       ([.diagnostics[] | select(.severity == "error") | .path] == ["/base/0", "/base/0"])' "$tmp/out" >/dev/null \
  || fail "cycle json: $(cat "$tmp/out")"
cd - >/dev/null

# Layers: --profiles over the built-in catalog; show resolves bases.
run "$NATPILOT" profiles --profiles "$DATA/good" show call-of-duty-mw3 --platform xbox --json
[ "$rc" = 0 ] || fail "show rc=$rc $(cat "$tmp/err")"
jq -e '[.profiles[].id] == ["xbox-network", "call-of-duty-mw3"] and
       .inbound[0].protocol == "udp" and .inbound[0].ports == [{"lo": 3074, "hi": 3074}] and
       .inbound[0].essential == true and .inbound[0].profile == "xbox-network" and
       (.inbound[0].source.url | startswith("https://")) and
       .facts.self_maps_with_upnp == true and .facts.alternate_external_port[0].port == 3074' \
  "$tmp/out" >/dev/null || fail "show json: $(cat "$tmp/out")"

run "$NATPILOT" profiles --profiles "$DATA/good" list --platform switch --json
# (the built-in catalog is listed too: look at the --profiles layer only)
jq -e '[.profiles[] | select(.layer == "custom") | .id] == ["minecraft-bedrock"]' "$tmp/out" >/dev/null || fail "list: $(cat "$tmp/out")"

# User layer under --profiles: the override wins.
mkdir -p "$tmp/xdg/natpilot"
cp -r "$DATA/good" "$tmp/xdg/natpilot/profiles"
run env XDG_DATA_HOME="$tmp/xdg" "$NATPILOT" profiles --profiles "$DATA/override" list --json
jq -e '([.profiles[] | select(.id == "minecraft-java") | .layer] == ["custom"]) and
       ([.profiles[] | select(.id == "xbox-network") | .layer] == ["user"])' "$tmp/out" >/dev/null \
  || fail "layers: $(cat "$tmp/out")"

# search forgives typos; nothing found is exit 1.
run "$NATPILOT" profiles --profiles "$DATA/good" search minecraft bedrok --json
jq -e '.results[0].id == "minecraft-bedrock"' "$tmp/out" >/dev/null || fail "search: $(cat "$tmp/out")"
run "$NATPILOT" profiles --profiles "$DATA/good" search qqqqzz
[ "$rc" = 1 ] || fail "search none rc=$rc"

# Usage errors exit 2; --help exits 0.
run "$NATPILOT" profiles show --platform wii x
[ "$rc" = 2 ] || fail "bad platform rc=$rc"
for sub in list show search validate; do
  run "$NATPILOT" profiles "$sub" --help
  [ "$rc" = 0 ] && grep -q "usage: natpilot profiles" "$tmp/out" || fail "$sub --help"
done
echo "ok: natpilot profiles CLI"
