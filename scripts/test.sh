#!/usr/bin/env bash
# Runs every test of wasmctl on a fresh machine: installs what the tests need (wasm toolchain, binaryen,
# registry and its clients, Envoy), then runs the unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'test.sh: %s\n' "$*" >&2; }

# 1. A toolchain that can build wasm32 plugins. With a working rustup target, nothing to do.
if ! rustc --print target-libdir --target wasm32-wasip1 2>/dev/null | xargs -I{} sh -c 'ls {}/libcore-*.rlib' >/dev/null 2>&1; then
  bash scripts/setup-wasm-toolchain.sh
  export WASMCTL_TEST_TOOLCHAIN=${WASMCTL_TEST_TOOLCHAIN:-wasm-debian}
fi

# 2. Services and independent clients the integration tests start and use.
bash scripts/setup-test-deps.sh

# 3. The Go harness that runs Istio's own code (tests/interop/), built once for each Istio release it
#    covers; the Go build cache makes later builds fast. Without Go the interop tests skip, loudly.
build_harness() { # MODFILE BINARY
  log "building the interop harness ($1)"
  go build -C tests/interop -modfile="$1" -o "$(realpath -m "${CARGO_TARGET_DIR:-target}")/interop/$2" .
}
if command -v go >/dev/null 2>&1; then
  build_harness go.mod wasmctl-interop
  build_harness istio-1.30.mod wasmctl-interop-istio-1.30
else
  log "no Go: the interop tests will be skipped (see README)"
fi

# 4. The tests. Integration tests drive the real binary, real cargo builds, real services.
log "running cargo test"
cargo test --locked --all-targets "$@"
