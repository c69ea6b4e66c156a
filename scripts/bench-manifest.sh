#!/usr/bin/env bash
# Wall time of `wasmctl manifest` beside a bare process start (/bin/true), median of N runs each.
#
#   scripts/bench-manifest.sh [RUNS]        (default 50; WASMCTL=path/to/wasmctl to pick a binary)
#
# Builds the release binary unless WASMCTL is set, writes a throwaway plugin project with a push
# record (no registry or build needed: `manifest` only reads them), then times both the same way:
# a clock read before and after each run, so the shell's own fork/exec cost is in both columns.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-50}
if [ -z "${WASMCTL:-}" ]; then
  cargo build --release --quiet
  WASMCTL=$PWD/target/release/wasmctl
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
project=$work/bench-plugin
mkdir -p "$project/src"
: >"$project/src/lib.rs"
cat >"$project/Cargo.toml" <<'EOF'
[package]
name = "bench-plugin"
version = "0.1.0"
edition = "2021"

[lib]
crate-type = ["cdylib"]

[package.metadata.wasmctl]
template = "http-headers"
type = "HTTP"
repository = "localhost:5000/bench-plugin"
namespace = "default"
selector = { app = "bench-plugin" }
config = "config.yaml"
EOF
printf 'headers:\n  x-greeting: hello\n' >"$project/config.yaml"
export CARGO_TARGET_DIR=$work/target
mkdir -p "$CARGO_TARGET_DIR/wasmctl"
cat >"$CARGO_TARGET_DIR/wasmctl/bench-plugin.push.json" <<EOF
{"reference": "localhost:5000/bench-plugin:0.1.0",
 "digest": "sha256:$(printf 'bench' | sha256sum | cut -d' ' -f1)",
 "format": "compat", "module_sha256": null}
EOF

# Sets NOW in microseconds. Bash 5's EPOCHREALTIME costs no process; `date +%s%N` is the fallback,
# and its own process start then lands in every sample, the bare one included.
if [ -n "${EPOCHREALTIME:-}" ]; then
  now_us() { NOW=${EPOCHREALTIME/[.,]/}; }
else
  now_us() { NOW=$(( $(date +%s%N) / 1000 )); }
fi

# Prints the median wall time in microseconds of running "$@" $runs times.
median_us() {
  local samples=() start end
  for _ in $(seq "$runs"); do
    now_us
    start=$NOW
    "$@" >/dev/null
    now_us
    end=$NOW
    samples+=($(( end - start )))
  done
  printf '%s\n' "${samples[@]}" | sort -n | awk '{ v[NR] = $1 } END {
    if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

cd "$project"
"$WASMCTL" manifest --env TRUST_DOMAIN=cluster.local >/dev/null  # warm the page cache
manifest=$(median_us "$WASMCTL" manifest --env TRUST_DOMAIN=cluster.local)
manifest_json=$(median_us "$WASMCTL" manifest --json --set headers.x-b=two)
# -p makes wasmctl ask `cargo metadata`, the path the fast Cargo.toml read avoids.
via_cargo=$(median_us "$WASMCTL" manifest -p bench-plugin)
bare=$(median_us /bin/true)

ms() { awk -v us="$1" 'BEGIN { printf "%.2f ms", us / 1000 }'; }
printf '%-52s %12s\n' "command ($runs runs each)" "median"
printf '%-52s %12s\n' "/bin/true" "$(ms "$bare")"
printf '%-52s %12s\n' "wasmctl manifest --env TRUST_DOMAIN=..." "$(ms "$manifest")"
printf '%-52s %12s\n' "wasmctl manifest --json --set headers.x-b=two" "$(ms "$manifest_json")"
printf '%-52s %12s\n' "wasmctl manifest -p bench-plugin (cargo metadata)" "$(ms "$via_cargo")"
printf '%-52s %12s\n' "target" "10.00 ms"
if [ "$manifest" -gt 10000 ]; then
  echo "bench-manifest: median above the 10 ms target" >&2
  exit 1
fi
