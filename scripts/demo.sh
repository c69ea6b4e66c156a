#!/usr/bin/env bash
# The main job, end to end, on a fresh machine: new -> build -> push -> manifest.
# Pushes to an OCI image layout on disk (no registry needed) unless REGISTRY=host:port/repo is given.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

log() { printf '\n== %s\n' "$*" >&2; }

# A toolchain that can build wasm32-wasip1 (only machines whose rustup cannot add the target need this).
if ! rustc --print target-libdir --target wasm32-wasip1 2>/dev/null | xargs -I{} sh -c 'ls {}/libcore-*.rlib' >/dev/null 2>&1; then
  bash scripts/setup-wasm-toolchain.sh
  export RUSTUP_TOOLCHAIN=wasm-debian
fi

log "installing wasmctl"
cargo install --quiet --locked --path "$repo" --root "$repo/target/demo-install"
export PATH="$repo/target/demo-install/bin:$PATH"

# wasm-opt makes the module about a fifth smaller. Debian's binaryen 108 predates current rustc
# output, so binaryen 132 from npm (a wasm build run by node) goes beside wasmctl, as
# scripts/setup-test-deps.sh installs it for the tests.
if ! wasm-opt --version 2>/dev/null | grep -qE 'version (1[2-9][0-9]|[2-9][0-9][0-9])'; then
  if command -v npm >/dev/null; then
    log "installing binaryen 132 (wasm-opt) from npm"
    npm install -g --silent --prefix "$repo/target/demo-install" binaryen@132 >/dev/null
  else
    log "npm is not installed: building without wasm-opt (install node and npm for a smaller module)"
  fi
fi

work=${WORKDIR:-$(mktemp -d)}
cd "$work"
rm -rf demo

log "wasmctl new demo --yes"
wasmctl new demo --yes
cd demo

log "wasmctl build"
wasmctl build

dest=${REGISTRY:-oci-layout:$work/oci-layout:v1}
log "wasmctl push $dest"
wasmctl push "$dest"

log "wasmctl manifest --selector app=demo --config config.yaml --env TRUST_DOMAIN=cluster.local"
wasmctl manifest --selector app=demo --config config.yaml --env TRUST_DOMAIN=cluster.local
