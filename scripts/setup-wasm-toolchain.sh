#!/usr/bin/env bash
# Installs a Rust toolchain that can build wasm32-wasip1 and wasm32-unknown-unknown plugins on machines
# where `rustup target add` cannot download the wasm std. It builds std from Debian's rustc-web sources
# into Debian's sysroot and links it as the rustup toolchain `wasm-debian`.
#
# The std rlibs carry both machine code and LLVM bitcode (embed-bitcode=yes, no LTO while building
# them): LTO release builds use the bitcode, and dev or non-LTO builds link the machine code (the
# system lld cannot read the newer rustc's bitcode).
#
# Idempotent: every step is skipped when its result is already there. On a normal developer machine
# `rustup target add wasm32-wasip1` is all that is needed; this script is not.
set -euo pipefail

TOOLCHAIN=${WASMCTL_WASM_TOOLCHAIN:-wasm-debian}
SYSROOT=/usr
TARGETS=(wasm32-wasip1 wasm32-unknown-unknown)
LLVM_BIN=/usr/lib/llvm-16/bin

log() { printf 'setup-wasm-toolchain: %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    log "error: must run as root (installs Debian packages into /usr)"
    exit 1
  fi
}

# Marks a std built by this script's current recipe; an older build without it is replaced.
STD_MARKER=.wasmctl-std-v2

have_std() {
  [ -f "$SYSROOT/lib/rustlib/$1/lib/$STD_MARKER" ] && ls "$SYSROOT/lib/rustlib/$1/lib/"libstd-*.rlib >/dev/null 2>&1
}

install_packages() {
  local missing=()
  for p in rustc-web cargo-web rust-web-src lld-16 wasi-libc; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    need_root
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

build_std() {
  local target=$1
  if have_std "$target"; then
    log "std for $target already installed"
    return
  fi
  need_root
  log "building std for $target (about a minute)"
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  mkdir -p "$work/src"
  cat >"$work/Cargo.toml" <<'TOML'
[package]
name = "wasmctl_std_builder"
version = "0.0.0"
edition = "2021"
[lib]
path = "src/lib.rs"
[workspace]
TOML
  echo '#![no_std]' >"$work/src/lib.rs"
  (
    cd "$work"
    env -u RUSTUP_TOOLCHAIN -u CARGO -u RUSTC \
      PATH="/usr/bin:$PATH" \
      RUSTC_BOOTSTRAP=1 \
      RUSTFLAGS="-C linker=$LLVM_BIN/wasm-ld -C embed-bitcode=yes" \
      /usr/bin/cargo build -q --release --target "$target" -Zbuild-std=std,panic_abort
  )
  local dest="$SYSROOT/lib/rustlib/$target/lib"
  mkdir -p "$dest"
  find "$dest" -maxdepth 1 -name '*.rlib' -delete
  find "$work/target/$target/release/deps" -name '*.rlib' ! -name 'libwasmctl_std_builder-*' \
    -exec cp {} "$dest/" \;
  touch "$dest/$STD_MARKER"
  log "std for $target rebuilt: run \`cargo clean\` in plugin projects built with an earlier one"
}

link_wasi_libc() {
  local dest="$SYSROOT/lib/rustlib/wasm32-wasip1/lib/self-contained"
  if [ -f "$dest/crt1-command.o" ]; then
    return
  fi
  need_root
  log "linking WASI libc into the wasm32-wasip1 sysroot"
  mkdir -p "$dest"
  cp /usr/lib/wasm32-wasi/*.o /usr/lib/wasm32-wasi/*.a "$dest/"
}

link_lld() {
  if [ -x /usr/local/bin/rust-lld ]; then
    return
  fi
  need_root
  ln -sf "$LLVM_BIN/lld" /usr/local/bin/rust-lld
}

link_toolchain() {
  if rustup toolchain list 2>/dev/null | grep -q "^$TOOLCHAIN"; then
    return
  fi
  log "registering rustup toolchain $TOOLCHAIN -> $SYSROOT"
  rustup toolchain link "$TOOLCHAIN" "$SYSROOT"
}

install_packages
for t in "${TARGETS[@]}"; do build_std "$t"; done
link_wasi_libc
link_lld
link_toolchain
log "ready: RUSTUP_TOOLCHAIN=$TOOLCHAIN cargo build --target wasm32-wasip1"
