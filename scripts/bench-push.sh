#!/usr/bin/env bash
# Benchmark `wasmctl push` against `skopeo copy` of the same image from an oci: layout, to the same
# local registry (Debian's docker-registry on a random loopback port). One run; prints a table.
#
#   scripts/bench-push.sh            # 5 MB module
#   SIZE_MB=20 scripts/bench-push.sh
#
# Needs: docker-registry, skopeo, python3, bc, and a toolchain with wasm32-wasip1 for the plugin
# build (WASMCTL_TEST_TOOLCHAIN=wasm-debian picks a rustup toolchain for it, as in the tests).
set -euo pipefail

SIZE_MB=${SIZE_MB:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d -t wasmctl-bench-XXXXXX)
REGISTRY_PID=
cleanup() {
    if [ -n "$REGISTRY_PID" ]; then kill "$REGISTRY_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "building wasmctl (release)..." >&2
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
WASMCTL="$ROOT/target/release/wasmctl"

echo "building a plugin and padding it to ${SIZE_MB} MB..." >&2
"$WASMCTL" -q new bench --yes --dir "$WORK/bench" >/dev/null
if [ -n "${WASMCTL_TEST_TOOLCHAIN:-}" ]; then export RUSTUP_TOOLCHAIN=$WASMCTL_TEST_TOOLCHAIN; fi
BUILT=$(cd "$WORK/bench" && "$WASMCTL" -q build)
unset RUSTUP_TOOLCHAIN
# A custom section of random bytes: still a valid proxy-wasm module, and incompressible, so the
# registry really receives SIZE_MB megabytes.
python3 - "$BUILT" "$WORK/module.wasm" "$SIZE_MB" <<'PY'
import os, sys
src, dst, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
module = open(src, "rb").read()
name = b"bench-padding"
payload = bytes([len(name)]) + name + os.urandom(max(mb * 1024 * 1024 - len(module) - 32, 0))
def leb(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)
open(dst, "wb").write(module + b"\x00" + leb(len(payload)) + payload)
PY
MODULE="$WORK/module.wasm"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $WORK/data}}
http: {addr: 127.0.0.1:$PORT}
YML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REGISTRY_PID=$!
for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then break; fi
    sleep 0.1
done
REG=127.0.0.1:$PORT

# Access-log lines: all registry API requests, and the blob upload ones (POST/PATCH/PUT).
requests() { grep -cE '"(GET|HEAD|PUT|POST|PATCH) /v2/' "$WORK/registry.log" || true; }
uploads() { grep -cE '"(PUT|PATCH|POST) /v2/[^ ]*/blobs/uploads/' "$WORK/registry.log" || true; }
now() { date +%s.%N; }
# Runs "$@" and prints: seconds, requests, blob upload requests.
measure() {
    local r0 u0 t0 t1
    r0=$(requests)
    u0=$(uploads)
    t0=$(now)
    "$@" >/dev/null 2>&1
    t1=$(now)
    echo "$(echo "$t1 - $t0" | bc -l) $(($(requests) - r0)) $(($(uploads) - u0))"
}

# Outside any cargo project, so no project lookup (cargo metadata) is timed.
cd "$WORK"

# The same image for skopeo, in an oci: layout written by wasmctl (same bytes, same digest).
"$WASMCTL" -q push "oci-layout:$WORK/layout:v1" --wasm "$MODULE" >/dev/null

read -r w1 w1req w1up < <(measure "$WASMCTL" -q push "$REG/bench/wasmctl:v1" --wasm "$MODULE")
read -r w2 w2req w2up < <(measure "$WASMCTL" -q push "$REG/bench/wasmctl:v1" --wasm "$MODULE")
read -r s1 s1req s1up < <(measure skopeo copy -q --dest-tls-verify=false "oci:$WORK/layout:v1" "docker://$REG/bench/skopeo:v1")
read -r s2 s2req s2up < <(measure skopeo copy -q --dest-tls-verify=false "oci:$WORK/layout:v1" "docker://$REG/bench/skopeo:v1")
ratio=$(echo "$w1 / $s1" | bc -l)
printf '\n%s MB module (%s bytes), registry %s\n\n' "$SIZE_MB" "$(stat -c %s "$MODULE")" "$REG"
printf '| %-28s | %9s | %8s | %12s |\n' "run" "seconds" "requests" "blob uploads"
printf '|%s|%s|%s|%s|\n' "------------------------------" "-----------" "----------" "--------------"
for row in "wasmctl push (first)|$w1|$w1req|$w1up" "wasmctl push (again)|$w2|$w2req|$w2up" \
    "skopeo copy oci: (first)|$s1|$s1req|$s1up" "skopeo copy oci: (again)|$s2|$s2req|$s2up"; do
    IFS='|' read -r name secs reqs ups <<<"$row"
    printf '| %-28s | %9.3f | %8d | %12d |\n' "$name" "$secs" "$reqs" "$ups"
done
printf '\nfirst push / skopeo: %.2fx (target <= 1.0x); re-push: %d requests, %d blob upload requests (target <= 5, 0)\n' \
    "$ratio" "$w2req" "$w2up"
