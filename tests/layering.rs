//! The library never touches the terminal: drawing, prompting and printing belong to `src/cli/`
//! and `src/main.rs` alone. This test reads the sources, so a new module cannot slip past it.

use std::path::{Path, PathBuf};

/// What only the command-line layer may use, and why the library may not.
const CLI_ONLY: &[(&str, &str)] = &[
    (
        "indicatif",
        "progress bars are drawn by the CLI; report through progress::Reporter",
    ),
    ("console::", "terminal styling is the CLI's"),
    (
        "dialoguer",
        "prompts are the CLI's; the library takes every answer as an option",
    ),
    ("println!", "stdout is written by the CLI's Printer only"),
    ("eprintln!", "stderr is written by the CLI's Printer only"),
    ("print!(", "stdout is written by the CLI's Printer only"),
    ("std::process::exit", "exit codes are chosen by main"),
    ("Printer", "a library function never takes a Printer"),
];

fn library_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "cli") {
                continue;
            }
            library_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "main.rs")
        {
            out.push(path);
        }
    }
}

#[test]
fn the_library_has_no_terminal_io() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    library_sources(&src, &mut files);
    assert!(files.len() > 20, "found only {} library files", files.len());
    let mut offences = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read source");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for (needle, why) in CLI_ONLY {
                if code.contains(needle) {
                    let shown = file.strip_prefix(&src).unwrap_or(file).display();
                    offences.push(format!("src/{shown}:{}: `{needle}`: {why}", number + 1));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "terminal I/O in the library:\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_check_sees_an_offence() {
    // The scan above must be able to fail: the CLI itself is full of what it forbids.
    let cli = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli/mod.rs");
    let text = std::fs::read_to_string(cli).expect("read cli");
    assert!(CLI_ONLY.iter().any(|(needle, _)| text.contains(needle)));
}
