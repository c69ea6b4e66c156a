#!/usr/bin/env bash
# Runs every test of wasmctl on a fresh machine: installs what the tests need (wasm toolchain, binaryen,
# registry and its clients, Envoy, a gRPC service), then runs the unit and integration tests.
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
#    It builds while cargo compiles the tests (a cold build of either leaves a core idle at times),
#    and is finished before any test runs.
build_harnesses() {
  go build -C tests/interop -o "$1/wasmctl-interop" . &&
    go build -C tests/interop -modfile=istio-1.30.mod -o "$1/wasmctl-interop-istio-1.30" .
}
harness=
if command -v go >/dev/null 2>&1; then
  log "building the interop harness (go.mod, istio-1.30.mod) while the tests compile"
  build_harnesses "$(realpath -m "${CARGO_TARGET_DIR:-target}")/interop" &
  harness=$!
else
  log "no Go: the interop tests will be skipped (see README)"
fi

# 4. The tests. Integration tests drive the real binary, real cargo builds, real services.
log "compiling the tests"
cargo test --locked --all-targets --no-run "$@"
if [ -n "$harness" ] && ! wait "$harness"; then
  log "the interop harness did not build"
  exit 1
fi
log "running cargo test"
cargo test --locked --all-targets "$@"
