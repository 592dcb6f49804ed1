#!/usr/bin/env bash
# Lab test of `natpilot update`: a CA and a server certificate made here with
# openssl, an HTTPS server (python3 http.server + ssl) on 127.0.0.1 inside a
# network namespace this test creates, and natpilot run in that namespace.
# Cases: first install, already current, an update that swaps generations,
# first install over a hand-made directory, then every failure (server down,
# DNS failure, 404, 500, untrusted certificate, bad hash, oversize file with
# and without Content-Length, invalid profile, unknown base, path traversal,
# absolute path, malformed index, http:// URL), each asserting the exit code,
# the message, and that the installed catalog is byte-for-byte unchanged.
set -euo pipefail

NATPILOT=${NATPILOT:?set NATPILOT to the natpilot binary}
NP_SOURCE_DIR=${NP_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# the catalog to publish in the "project's catalog" case (default: this tree's)
NP_PROFILES_DIR=${NP_PROFILES_DIR:-$NP_SOURCE_DIR/profiles}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces)"; exit 77; }
NATPILOT=$(readlink -f "$NATPILOT")

NS=npupd$$
NS_OFF=npupdoff$$ # a namespace with no network at all (lo down)
PORT=8443
DOWN_PORT=8444
T=$(mktemp -d /tmp/np-update.XXXXXX)
SRV_PID=
LOCK_PID=
UPD_PID=

cleanup() {
    if [ -n "$SRV_PID" ]; then
        kill "$SRV_PID" 2>/dev/null || true
        wait "$SRV_PID" 2>/dev/null || true
    fi
    if [ -n "$UPD_PID" ]; then
        kill -9 "$UPD_PID" 2>/dev/null || true
        wait "$UPD_PID" 2>/dev/null || true
    fi
    if [ -n "$LOCK_PID" ]; then
        kill "$LOCK_PID" 2>/dev/null || true
        wait "$LOCK_PID" 2>/dev/null || true
    fi
    ip netns del "$NS" 2>/dev/null || true
    ip netns del "$NS_OFF" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT INT TERM
# shellcheck source=tests/lab/checks.sh
source "$(dirname "$0")/checks.sh"


# --- certificates -----------------------------------------------------------
mkdir -p "$T/pki"
(
    cd "$T/pki"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 \
        -keyout ca.key -out ca.pem -subj "/CN=natpilot lab CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -sha256 -keyout srv.key -out srv.csr \
        -subj "/CN=127.0.0.1" 2>/dev/null
    printf '%s\n' "subjectAltName=IP:127.0.0.1" "basicConstraints=CA:FALSE" \
        "keyUsage=digitalSignature,keyEncipherment" \
        "extendedKeyUsage=serverAuth" >srv.ext
    openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -out srv.pem -days 2 -sha256 -extfile srv.ext 2>/dev/null
)

# --- catalogs served ----------------------------------------------------------
W=$T/www
profile() { # id kind platform port
    cat <<EOF
{
  "schema": 1,
  "id": "$1",
  "kind": "$2",
  "name": "Lab $1",
  "platforms": ["$3"],
  "inbound": [
    {"protocol": "udp", "ports": [$4], "role": "peer-to-peer",
     "essential": true, "source": "lab", "confidence": "high"}
  ],
  "sources": [
    {"id": "lab", "url": "https://example.org/lab-ports", "title": "Lab",
     "official": true}
  ],
  "checked": "2026-11-23"
}
EOF
}
mkcat() { # dir: write index.json for it
    "$NP_SOURCE_DIR/dist/catalog-index.sh" "$1" >"$1/index.json.tmp"
    mv "$1/index.json.tmp" "$1/index.json"
}

mkdir -p "$W/v1/platforms" "$W/v1/games"
profile lab-console platform pc 40000 >"$W/v1/platforms/lab-console.json"
profile lab-game game pc 40001 >"$W/v1/games/lab-game.json"
mkcat "$W/v1"

mkdir -p "$W/v2"
cp -r "$W/v1/platforms" "$W/v1/games" "$W/v2/"
profile lab-game-two game pc 40002 >"$W/v2/games/lab-game-two.json"
mkcat "$W/v2"

# bad hash: a file changed after the index was made (the index differs from
# v2's by one more file, so this is not "already current")
cp -r "$W/v2" "$W/badhash"
profile lab-game-three game pc 40003 >"$W/badhash/games/lab-game-three.json"
mkcat "$W/badhash"
profile lab-game game pc 40009 >"$W/badhash/games/lab-game.json"

# oversize: the index declares fewer bytes than the file has (same digest
# field as the real file, so only the size cap can catch it)
cp -r "$W/v2" "$W/oversize"
sed -i 's/"size": \([0-9]*\)}/"size": 10}/' "$W/oversize/index.json"

# invalid profile: an inverted range, with a correct digest
cp -r "$W/v2" "$W/invalid"
sed 's/"ports": \[40002\]/"ports": ["40010-40002"]/' \
    "$W/v2/games/lab-game-two.json" >"$W/invalid/games/lab-game-two.json"
mkcat "$W/invalid"

# unknown base: valid alone, fails the cross-file check
cp -r "$W/v2" "$W/nobase"
sed 's/"platforms": \["pc"\],/"platforms": ["pc"],\n  "base": ["no-such-platform"],/' \
    "$W/v2/games/lab-game-two.json" >"$W/nobase/games/lab-game-two.json"
mkcat "$W/nobase"

# path traversal and absolute path in the index
mkdir -p "$W/traversal" "$W/absolute"
sum=$(sha256sum "$W/v1/games/lab-game.json" | cut -d' ' -f1)
size=$(wc -c <"$W/v1/games/lab-game.json")
printf '{"schema": 1, "files": [{"path": "games/../../../etc/cron.d/x.json", "sha256": "%s", "size": %s}]}\n' \
    "$sum" "$size" >"$W/traversal/index.json"
printf '{"schema": 1, "files": [{"path": "/etc/natpilot.json", "sha256": "%s", "size": %s}]}\n' \
    "$sum" "$size" >"$W/absolute/index.json"

# the project's own catalog, published the way docs/update.md says (only
# when this tree has one)
REAL=0
if compgen -G "$NP_PROFILES_DIR/games/*.json" >/dev/null; then
    REAL=$(ls "$NP_PROFILES_DIR"/platforms/*.json \
        "$NP_PROFILES_DIR"/games/*.json 2>/dev/null | wc -l)
    mkdir -p "$W/real"
    cp -r "$NP_PROFILES_DIR/platforms" "$NP_PROFILES_DIR/games" "$W/real/"
    mkcat "$W/real"
fi

# malformed index, and an index listing a file the server does not have
mkdir -p "$W/malformed" "$W/missingfile/games"
printf '{"schema": 1, "files": [\n  {"path": "games/a.json",}\n]}\n' >"$W/malformed/index.json"
cp "$W/v1/index.json" "$W/missingfile/index.json"
# a missing file declared 10 bytes: the 404 page is larger than that, and
# the error must still say 404, not "too large"
mkdir -p "$W/missingsmall"
cp "$W/oversize/index.json" "$W/missingsmall/index.json"

# --- the server ---------------------------------------------------------------
cat >"$T/server.py" <<'EOF'
import http.server, os, ssl, sys, time

port, root, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **kw):
        super().__init__(*a, directory=root, **kw)

    def log_message(self, fmt, *args):
        sys.stderr.write("server: " + (fmt % args) + "\n")

    def do_GET(self):
        if self.path.startswith("/slow/"):
            # profiles (not the index) come after 4 s: time to kill a client
            self.path = self.path[len("/slow"):]
            if not self.path.endswith("/index.json"):
                time.sleep(4)
        if self.path.startswith("/fail500/"):
            self.send_error(500, "lab server error")
            return
        if self.path.startswith("/nolen/"):
            # HTTP/1.0, no Content-Length: the body ends when we close
            p = os.path.join(root, self.path[len("/nolen/"):].lstrip("/"))
            if not os.path.isfile(p):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            with open(p, "rb") as f:
                self.wfile.write(f.read())
            return
        super().do_GET()

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("ready", flush=True)
srv.serve_forever()
EOF

ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" python3 "$T/server.py" "$PORT" "$W" "$T/pki/srv.pem" \
    "$T/pki/srv.key" >"$T/server.out" 2>"$T/server.log" &
SRV_PID=$!
for _ in $(seq 1 100); do
    grep -q ready "$T/server.out" 2>/dev/null && break
    sleep 0.05
done
grep -q ready "$T/server.out" || { echo "server did not start"; cat "$T/server.log"; exit 1; }

BASE=https://127.0.0.1:$PORT
export XDG_DATA_HOME=$T/xdg HOME=$T/home
mkdir -p "$HOME"
CAT=$XDG_DATA_HOME/natpilot/profiles

# run natpilot in the namespace; sets rc, out (stdout), errout (stderr)
np() {
    set +e
    ip netns exec "$NS" env XDG_DATA_HOME="$XDG_DATA_HOME" HOME="$HOME" \
        NO_COLOR=1 "$NATPILOT" "$@" >"$T/out" 2>"$T/err"
    rc=$?
    set -e
    out=$(cat "$T/out")
    errout=$(cat "$T/err")
}

# byte-for-byte picture of a catalog: where the link points, every file's
# digest, and every entry beside it
snapshot() {
    {
        readlink "$1" || echo "(not a link)"
        (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
        ls -A "$(dirname "$1")"
    } 2>&1
}

expect() { # name want_rc pattern...
    local name=$1 want=$2 p
    shift 2
    if [ "$rc" != "$want" ]; then
        lab_bad "$name: exit $rc, want $want"
        printf '  stdout: %s\n  stderr: %s\n' "$out" "$errout"
        return 1
    fi
    for p in "$@"; do
        if ! grep -qF -- "$p" <<<"$out"$'\n'"$errout"; then
            lab_bad "$name: output lacks '$p'"
            printf '  stdout: %s\n  stderr: %s\n' "$out" "$errout"
            return 1
        fi
    done
    lab_ok "$name (exit $rc)${errout:+: $(head -n 1 <<<"$errout")}"
}

# --- success cases -----------------------------------------------------------
np update --url "$BASE/v1/index.json" --cacert "$T/pki/ca.pem"
expect "first install" 0 "Catalog updated: 2 files" "$CAT" || true
if [ -L "$CAT" ] && cmp -s "$CAT/games/lab-game.json" "$W/v1/games/lab-game.json" &&
    cmp -s "$CAT/platforms/lab-console.json" "$W/v1/platforms/lab-console.json"; then
    lab_ok "first install: catalog is a symlink to a generation holding the files"
else
    lab_bad "first install: catalog not installed as expected"; ls -la "$CAT" || true
fi

np update --url "$BASE/v1/index.json" --cacert "$T/pki/ca.pem" --json
expect "already current" 0 || true
if [ "$(jq -r '.updated,.current,.files,.error' <<<"$out" | tr '\n' ' ')" = "false true 2 null " ]; then
    lab_ok "already current: --json says updated=false current=true files=2 error=null"
else
    lab_bad "already current: json $out"
fi

gen1=$(readlink "$CAT")
np update --url "$BASE/v2/index.json" --cacert "$T/pki/ca.pem" --json
expect "update to v2" 0 || true
gen2=$(readlink "$CAT")
if [ "$(jq -r '.updated,.files,.from,.to' <<<"$out" | tr '\n' ' ')" = "true 3 $BASE/v2/index.json $CAT " ] &&
    [ "$(jq -r '.bytes > 0 and (.index_sha256 | length) == 64 and (.previous_sha256 | length) == 64' <<<"$out")" = true ]; then
    lab_ok "update to v2: --json fields updated, files, bytes, from, to, digests"
else
    lab_bad "update to v2: json $out"
fi
left=$(ls -A "$XDG_DATA_HOME/natpilot" | sort | tr '\n' ' ')
if [ "$gen1" != "$gen2" ] && [ ! -e "$XDG_DATA_HOME/natpilot/$gen1" ] &&
    [ "$left" = "$(printf '%s\n' .profiles.lock "$gen2" profiles | sort | tr '\n' ' ')" ] &&
    cmp -s "$CAT/games/lab-game-two.json" "$W/v2/games/lab-game-two.json"; then
    lab_ok "update to v2: new generation swapped in, old one removed, nothing left over"
else
    lab_bad "update to v2: generations $gen1 -> $gen2, directory holds: $left"
fi

# progress on a terminal (script(1) gives natpilot a pty): shown on stderr
# while fetching, erased at the end; nothing of it without a terminal
rm -rf "$T/ttycat"
set +e
ip netns exec "$NS" script -qec "env TERM=xterm XDG_DATA_HOME='$XDG_DATA_HOME' HOME='$HOME' \
    '$NATPILOT' update --url '$BASE/v2/index.json' --cacert '$T/pki/ca.pem' \
    --dir '$T/ttycat'" /dev/null >"$T/tty" 2>&1
rc=$?
set -e
if [ "$rc" = 0 ] && grep -q "fetching games/lab-game.json  (3/3 files" "$T/tty" &&
    grep -q "Catalog updated" "$T/tty" && ! grep -q fetching <<<"$out$errout"; then
    lab_ok "progress on a terminal (files and bytes), none when not a terminal"
else
    lab_bad "progress on a terminal: rc $rc: $(tr '\r' '\n' <"$T/tty" | head -5)"
fi

# the profile loader sees the new catalog as the user layer
np profiles list --json
if [ "$rc" = 0 ] && jq -e '[.. | objects | select(.id? == "lab-game-two")] | length > 0' \
    >/dev/null 2>&1 <<<"$out"; then
    lab_ok "natpilot profiles list shows lab-game-two from the updated catalog"
elif grep -q "not built yet" <<<"$errout"; then
    echo "skip natpilot profiles list: not built in this tree"
else
    lab_bad "profiles list does not show lab-game-two (exit $rc): $out $errout"
fi

# the project's own catalog goes through the whole path
if [ "$REAL" -gt 0 ]; then
    t0=$(date +%s%N)
    np update --url "$BASE/real/index.json" --cacert "$T/pki/ca.pem" \
        --dir "$T/real-install/profiles" --json
    t1=$(date +%s%N)
    expect "the project's catalog ($REAL files)" 0 || true
    if [ "$(jq -r '.updated,.files' <<<"$out" | tr '\n' ' ')" = "true $REAL " ]; then
        lab_ok "the project's catalog: all $REAL files ($(jq -r .bytes <<<"$out") bytes) verified, validated, installed in $(((t1 - t0) / 1000000)) ms"
    else
        lab_bad "the project's catalog: $out"
    fi
else
    echo "skip the project's catalog: no profiles/games/*.json in this tree"
fi

# first install over a hand-made directory: exchanged atomically
HAND=$T/hand/profiles
mkdir -p "$HAND/games/deeper/and/deeper/still"
echo '{}' >"$HAND/games/mine.json"
echo '{}' >"$HAND/games/deeper/and/deeper/still/x.json"
np update --url "$BASE/v1/index.json" --cacert "$T/pki/ca.pem" --dir "$HAND"
expect "install over a real directory (--dir)" 0 "Catalog updated" || true
if [ -L "$HAND" ] && [ ! -e "$HAND/games/mine.json" ] && [ -f "$HAND/games/lab-game.json" ] &&
    [ "$(ls -A "$T/hand" | wc -l)" = 3 ]; then
    lab_ok "real directory replaced by the new generation, old one removed"
else
    lab_bad "real directory case: $(ls -la "$T/hand")"
fi

# a catalog path that is a symlink written by hand ("./.profiles.mine"): a
# failed update must not sweep its target away, a good one replaces it
OWN=$T/own
mkdir -p "$OWN/.profiles.mine/games"
echo '{}' >"$OWN/.profiles.mine/games/mine.json"
ln -s ./.profiles.mine "$OWN/profiles"
np update --url "$BASE/badhash/index.json" --cacert "$T/pki/ca.pem" --dir "$OWN/profiles"
if [ "$rc" = 2 ] && [ -f "$OWN/.profiles.mine/games/mine.json" ] &&
    [ "$(readlink "$OWN/profiles")" = ./.profiles.mine ]; then
    lab_ok "hand-made symlink: a failed update leaves it and its target alone"
else
    lab_bad "hand-made symlink after a failed update (exit $rc): $(ls -lA "$OWN")"
fi
np update --url "$BASE/v1/index.json" --cacert "$T/pki/ca.pem" --dir "$OWN/profiles"
if [ "$rc" = 0 ] && [ -f "$OWN/profiles/games/lab-game.json" ] &&
    [ "$(readlink "$OWN/profiles")" != ./.profiles.mine ]; then
    lab_ok "hand-made symlink: replaced by a good update"
else
    lab_bad "hand-made symlink after a good update (exit $rc): $(ls -lA "$OWN")"
fi

# --- failure cases: the installed catalog must not change ---------------------
before=$(snapshot "$CAT")
unchanged() {
    if [ "$(snapshot "$CAT")" = "$before" ]; then
        lab_ok "$1: installed catalog byte-for-byte unchanged"
    else
        lab_bad "$1: installed catalog changed"
        diff <(echo "$before") <(snapshot "$CAT") || true
    fi
}
fail_case() { # name want_rc url-or-- extra-args... -- patterns...
    local name=$1 want=$2 args=() pats=()
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
    shift
    pats=("$@")
    np update "${args[@]}"
    expect "$name" "$want" "${pats[@]}" || true
    unchanged "$name"
}

fail_case "server down" 3 --url "https://127.0.0.1:$DOWN_PORT/v2/index.json" \
    --cacert "$T/pki/ca.pem" -- "https://127.0.0.1:$DOWN_PORT/v2/index.json" \
    "could not connect" "was not changed"
ip netns add "$NS_OFF"
set +e
ip netns exec "$NS_OFF" env XDG_DATA_HOME="$XDG_DATA_HOME" HOME="$HOME" \
    "$NATPILOT" update --url "$BASE/v2/index.json" --cacert "$T/pki/ca.pem" \
    >"$T/out" 2>"$T/err"
rc=$?
set -e
out=$(cat "$T/out")
errout=$(cat "$T/err")
expect "offline (no network at all)" 3 "$BASE/v2/index.json" "could not connect" || true
unchanged "offline"

# another update holds the lock: one process (so that killing it by PID
# releases the lock) takes flock(2) on the same lock file
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)' "$XDG_DATA_HOME/natpilot/.profiles.lock" >"$T/lock.out" &
LOCK_PID=$!
for _ in $(seq 1 100); do
    grep -q locked "$T/lock.out" 2>/dev/null && break
    sleep 0.05
done
fail_case "another update holds the lock" 1 --url "$BASE/badhash/index.json" \
    --cacert "$T/pki/ca.pem" -- "another natpilot update"
kill "$LOCK_PID"
wait "$LOCK_PID" 2>/dev/null || true
LOCK_PID=

fail_case "DNS failure" 3 --url "https://catalog.natpilot.invalid/index.json" \
    --cacert "$T/pki/ca.pem" -- "catalog.natpilot.invalid" "could not resolve"
fail_case "404 for the index" 3 --url "$BASE/nowhere/index.json" \
    --cacert "$T/pki/ca.pem" -- "$BASE/nowhere/index.json" "HTTP 404"
fail_case "404 for a listed file" 3 --url "$BASE/missingfile/index.json" \
    --cacert "$T/pki/ca.pem" -- "$BASE/missingfile/platforms/lab-console.json" "HTTP 404"
fail_case "404 for a file declared smaller than the error page" 3 \
    --url "$BASE/missingsmall/index.json" --cacert "$T/pki/ca.pem" \
    -- "$BASE/missingsmall/platforms/lab-console.json" "HTTP 404"
fail_case "500" 3 --url "$BASE/fail500/index.json" --cacert "$T/pki/ca.pem" \
    -- "$BASE/fail500/index.json" "HTTP 500"
fail_case "untrusted certificate (no --cacert)" 3 --url "$BASE/v2/index.json" \
    -- "$BASE/v2/index.json" "not trusted" "--cacert"
fail_case "bad sha256" 2 --url "$BASE/badhash/index.json" --cacert "$T/pki/ca.pem" \
    -- "$BASE/badhash/games/lab-game.json" "sha256 mismatch"
fail_case "oversize file (Content-Length)" 2 --url "$BASE/oversize/index.json" \
    --cacert "$T/pki/ca.pem" -- "$BASE/oversize/" "larger than the 10 bytes"
fail_case "oversize file (no Content-Length: write cap)" 2 \
    --url "$BASE/nolen/oversize/index.json" --cacert "$T/pki/ca.pem" \
    -- "$BASE/nolen/oversize/" "larger than the 10 bytes" "stopped reading"
fail_case "invalid profile" 2 --url "$BASE/invalid/index.json" \
    --cacert "$T/pki/ca.pem" -- "games/lab-game-two.json:" "/inbound/0/ports/0" "inverted"
fail_case "unknown base" 2 --url "$BASE/nobase/index.json" \
    --cacert "$T/pki/ca.pem" -- "games/lab-game-two.json:" "no-such-platform"
fail_case "path traversal in the index" 2 --url "$BASE/traversal/index.json" \
    --cacert "$T/pki/ca.pem" -- "/files/0/path" "'..' in path"
fail_case "absolute path in the index" 2 --url "$BASE/absolute/index.json" \
    --cacert "$T/pki/ca.pem" -- "/files/0/path" "absolute path"
fail_case "malformed index" 2 --url "$BASE/malformed/index.json" \
    --cacert "$T/pki/ca.pem" -- "$BASE/malformed/index.json:2:" "not JSON"
fail_case "plain http URL" 2 --url "http://127.0.0.1:$PORT/v2/index.json" \
    -- "only https://"
fail_case "unreadable --cacert" 2 --url "$BASE/v2/index.json" \
    --cacert "$T/no-such-ca.pem" -- "no-such-ca.pem" "CA certificate"

np update --url "$BASE/badhash/index.json" --cacert "$T/pki/ca.pem" --json
if [ "$rc" = 2 ] && [ "$(jq -r '.updated,.error.kind' <<<"$out" | tr '\n' ' ')" = "false integrity " ] &&
    jq -e '.error.where | length > 0' >/dev/null <<<"$out" &&
    [ "$(jq -r '.error.url' <<<"$out")" = "$BASE/badhash/games/lab-game.json" ]; then
    lab_ok "--json error object: kind, where, message, url"
else
    lab_bad "--json error object: rc $rc $out"
fi
unchanged "--json bad sha256"

# --- a crash before the swap leaves the old catalog; the next run cleans up ---
mkdir -p "$XDG_DATA_HOME/natpilot/.profiles.AbC123/games"
echo half >"$XDG_DATA_HOME/natpilot/.profiles.AbC123/games/x.json"
ln -s .profiles.AbC123 "$XDG_DATA_HOME/natpilot/.profiles.AbC123.lnk"

# a real crash: natpilot killed with SIGKILL while it writes a new generation
catalog_only() { readlink "$CAT"; (cd "$CAT" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
cbefore=$(catalog_only)
ip netns exec "$NS" env XDG_DATA_HOME="$XDG_DATA_HOME" HOME="$HOME" \
    "$NATPILOT" update --url "$BASE/slow/v1/index.json" --cacert "$T/pki/ca.pem" \
    >/dev/null 2>&1 &
UPD_PID=$!
cur=$(readlink "$CAT")
newgen=
for _ in $(seq 1 100); do
    newgen=$(cd "$XDG_DATA_HOME/natpilot" && ls -A | grep -E '^\.profiles\.[A-Za-z0-9]{6}$' | grep -vxF "$cur" | grep -v AbC123 || true)
    [ -n "$newgen" ] && break
    sleep 0.05
done
kill -9 "$UPD_PID" 2>/dev/null || true
wait "$UPD_PID" 2>/dev/null || true
UPD_PID=
if [ -n "$newgen" ] && [ -d "$XDG_DATA_HOME/natpilot/$newgen" ] &&
    [ "$(catalog_only)" = "$cbefore" ]; then
    lab_ok "SIGKILL while writing generation $newgen: the catalog is the whole old one"
else
    lab_bad "SIGKILL during an update: new generation '$newgen', catalog changed or not caught"
fi

np update --url "$BASE/v2/index.json" --cacert "$T/pki/ca.pem"
expect "run after a simulated crash" 0 "already current" || true
if [ ! -e "$XDG_DATA_HOME/natpilot/.profiles.AbC123" ] &&
    [ ! -L "$XDG_DATA_HOME/natpilot/.profiles.AbC123.lnk" ] &&
    { [ -z "$newgen" ] || [ ! -e "$XDG_DATA_HOME/natpilot/$newgen" ]; }; then
    lab_ok "leftovers of an interrupted update removed"
else
    lab_bad "leftovers remain: $(ls -A "$XDG_DATA_HOME/natpilot")"
fi

if ! kill -0 "$SRV_PID" 2>/dev/null; then
    lab_bad "the HTTPS server died"; cat "$T/server.log"
fi
lab_done
