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
