//! Build script of wasmctl: templates/ is embedded with `include_dir!`, which notices edits to files
//! it already embeds but not files added or removed. Telling cargo to watch the whole directory makes
//! any change to a template rebuild wasmctl.
#![allow(clippy::print_stdout)] // cargo reads build-script instructions from stdout

fn main() {
    println!("cargo:rerun-if-changed=templates");
}
