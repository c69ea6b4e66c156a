#!/usr/bin/env bash
# Module size of the http-headers template: a plain `cargo build --release` with the proxy-wasm SDK
# examples' release profile, beside `wasmctl build` of the project as generated. One run, one table.
# Target: wasmctl's module <= 0.5x the plain one.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${RUSTUP_TOOLCHAIN:-}" ] && rustup toolchain list | grep -q '^wasm-debian'; then
  wasm_toolchain=wasm-debian
else
  wasm_toolchain=${RUSTUP_TOOLCHAIN:-}
fi

cargo build --quiet --locked
wasmctl=$PWD/target/debug/wasmctl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cd "$work"
"$wasmctl" -q new bench-headers --yes >/dev/null
cd bench-headers

# The SDK examples' profile: lto, opt-level 3, codegen-units 1, panic abort, strip debuginfo.
RUSTUP_TOOLCHAIN=$wasm_toolchain CARGO_TARGET_DIR=$work/plain \
CARGO_PROFILE_RELEASE_OPT_LEVEL=3 CARGO_PROFILE_RELEASE_LTO=true CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
CARGO_PROFILE_RELEASE_PANIC=abort CARGO_PROFILE_RELEASE_STRIP=debuginfo \
  cargo build --quiet --release --target wasm32-wasip1
plain=$(stat -c %s "$work/plain/wasm32-wasip1/release/bench_headers.wasm")

RUSTUP_TOOLCHAIN=$wasm_toolchain CARGO_TARGET_DIR=$work/wasmctl "$wasmctl" -q build >/dev/null
ours=$(stat -c %s "$work/wasmctl/wasmctl/bench-headers.wasm")

RUSTUP_TOOLCHAIN=$wasm_toolchain CARGO_TARGET_DIR=$work/wasmctl "$wasmctl" -q build --no-opt >/dev/null
noopt=$(stat -c %s "$work/wasmctl/wasmctl/bench-headers.wasm")

wasm_opt=$(command -v wasm-opt >/dev/null && wasm-opt --version | head -1 || echo "not installed")
printf '\n%-58s %10s %8s\n' "http-headers template, wasm32-wasip1" "bytes" "ratio"
printf '%-58s %10s %8s\n' "----------------------------------------------------------" "----------" "-------"
printf '%-58s %10d %8s\n' "cargo build --release (SDK examples' profile)" "$plain" "1.000x"
printf '%-58s %10d %6.3fx\n' "wasmctl build --no-opt (generated profile, stripped)" "$noopt" "$(awk "BEGIN{print $noopt/$plain}")"
printf '%-58s %10d %6.3fx\n' "wasmctl build (+ wasm-opt -Oz --converge)" "$ours" "$(awk "BEGIN{print $ours/$plain}")"
printf '\nwasm-opt: %s; target: wasmctl build <= 0.50x\n' "$wasm_opt"

# The rebuild of an unchanged project, side by side: with wasm-opt's output from the cache, and with
# --no-cache (wasm-opt runs again). Best of three each; the cache is a fresh directory.
if command -v wasm-opt >/dev/null; then
  export WASMCTL_CACHE_DIR=$work/cache
  RUSTUP_TOOLCHAIN=$wasm_toolchain CARGO_TARGET_DIR=$work/wasmctl "$wasmctl" -q build >/dev/null
  best() {
    local best=
    for _ in 1 2 3; do
      local start end ms
      start=$(date +%s%N)
      RUSTUP_TOOLCHAIN=$wasm_toolchain CARGO_TARGET_DIR=$work/wasmctl "$wasmctl" -q build "$@" >/dev/null
      end=$(date +%s%N)
      ms=$(( (end - start) / 1000000 ))
      if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
    done
    echo "$best"
  }
  cached=$(best)
  fresh=$(best --no-cache)
  printf '\n%-58s %10s %8s\n' "rebuild, nothing changed (best of 3)" "ms" "ratio"
  printf '%-58s %10s %8s\n' "----------------------------------------------------------" "----------" "-------"
  printf '%-58s %10d %8s\n' "wasmctl build --no-cache (wasm-opt runs again)" "$fresh" "1.000x"
  printf '%-58s %10d %6.3fx\n' "wasmctl build (wasm-opt's output from the cache)" "$cached" "$(awk "BEGIN{print $cached/$fresh}")"
fi
