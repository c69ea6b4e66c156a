//! Bad input, command by command: each row runs the real binary on one bad value and checks the exit
//! code, the first `error:` line, and that nothing on disk changed.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use support::{built_template, new_project, run, run_err, run_ok, tempdir, wasmctl};

/// What a row puts in its working directory before the command runs.
#[derive(Clone, Copy)]
enum Setup {
    Nothing,
    /// `notes.txt` (text), `empty.wasm` (no bytes), `truncated.wasm` (a module cut short).
    BadModules,
    /// `plugin.wasm`, a real plugin built from the http-headers template.
    Plugin,
    /// `plugin.wasm` and `notes/todo.txt`: a directory that is not an image layout.
    PluginAndNotes,
    /// `plugin.wasm` and a file `file.txt`.
    PluginAndFile,
    /// `layout/`, an image layout holding the plugin under `v1`.
    Layout,
    /// `x/notes.txt`: a project directory `new x` would replace.
    NonEmptyX,
    /// `file.txt`, where `new --dir` would put a project.
    File,
    /// A project whose `repository` setting carries a tag, and `plugin.wasm`.
    TaggedRepository,
    /// A project that was never built or pushed.
    Project,
    /// `hello.yaml`, a scenario that runs `notes.txt`, with the bad modules.
    Scenario,
}

struct Row {
    args: &'static [&'static str],
    setup: Setup,
    code: i32,
    /// The start of the first line on stderr.
    error: &'static str,
}

const fn row(args: &'static [&'static str], setup: Setup, code: i32, error: &'static str) -> Row {
    Row {
        args,
        setup,
        code,
        error,
    }
}

use Setup::*;

const LONG_NAMESPACE: &str = "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn";

/// Every row: the input, what is in the directory first, the exit code and the first error line.
#[rustfmt::skip]
const ROWS: &[Row] = &[
    // new: every value it stores is checked by the rule of the command that reads it later.
    row(&["new", "x", "--yes", "--selector", "bad key=v"], Nothing, 2,
        "error: invalid --selector `bad key=v`: the key: its name part must consist of letters, digits, '-', '_' or '.'"),
    row(&["new", "x", "--yes", "--selector", "app=*"], Nothing, 2,
        "error: invalid --selector `app=*`: wildcards are not allowed in labels"),
    row(&["new", "x", "--yes", "--selector", "app=a b"], Nothing, 2,
        "error: invalid --selector `app=a b`: the value must consist of letters"),
    row(&["new", "x", "--yes", "--selector", "Example.com/app=x"], Nothing, 2,
        "error: invalid --selector `Example.com/app=x`: the key: its prefix `Example.com` must consist of lower case"),
    row(&["new", "x", "--yes", "--selector", "app=a", "--selector", "app=b"], Nothing, 2,
        "error: invalid --selector `app=b`: the key is given twice"),
    row(&["new", "x", "--yes", "--selector", "novalue"], Nothing, 2,
        "error: invalid --selector `novalue`: expected KEY=VALUE"),
    row(&["new", "x", "--yes", "--namespace", "Bad_NS"], Nothing, 2,
        "error: invalid --namespace `Bad_NS`: must consist of lower case letters, digits and '-'"),
    row(&["new", "x", "--yes", "--namespace", LONG_NAMESPACE], Nothing, 2,
        "error: invalid --namespace `nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn`: must be at most 63 characters (it has 64)"),
    row(&["new", "x", "--yes", "--repository", "UPPER/Repo"], Nothing, 2,
        "error: invalid image reference `UPPER/Repo`: bad repository component `Repo`"),
    row(&["new", "x", "--yes", "--repository", "ghcr.io/acme/x:v1"], Nothing, 2,
        "error: invalid repository `ghcr.io/acme/x:v1`: a repository names no tag or digest"),
    row(&["new", "x", "--yes", "--repository", "ghcr.io/acme/x@sha256:0000000000000000000000000000000000000000000000000000000000000000"], Nothing, 2,
        "error: invalid repository `ghcr.io/acme/x@sha256:"),
    row(&["new", "x", "--yes", "--repository", "demo"], Nothing, 2,
        "error: invalid image reference `demo`: it names no registry host"),
    row(&["new", "x", "--yes", "--repository", "ghcr.io/acme//x"], Nothing, 2,
        "error: invalid image reference `ghcr.io/acme//x`: bad repository component ``"),
    row(&["new", "x", "--yes", "--repository", "ghcr.io:99999/acme/x"], Nothing, 2,
        "error: invalid image reference `ghcr.io:99999/acme/x`: bad registry host `ghcr.io:99999`"),
    row(&["build", "--manifest-path", "/nonexistent"], Nothing, 2,
        "error: --manifest-path `/nonexistent` does not exist"),
    row(&["build", "--manifest-path", "file.txt"], File, 2,
        "error: --manifest-path `file.txt` is not a Cargo.toml"),
    row(&["build", "--target", "wasm32-wasi"], Project, 2,
        "error: the Rust target wasm32-wasi is not installed"),
    row(&["new", "x", "--yes", "--template", "http-header"], Nothing, 2,
        "error: unknown template `http-header`"),
    row(&["new", "x", "--yes", "--template", "grpc"], Nothing, 2,
        "error: unknown template `grpc`"),
    row(&["new", "Bad Name", "--yes"], Nothing, 2,
        "error: invalid plugin name `Bad Name`: the name contains 'B'"),
    row(&["new", "x", "--yes"], NonEmptyX, 2,
        "error: destination `x` already exists and is not empty"),
    row(&["new", "x", "--yes", "--dir", "file.txt"], File, 2,
        "error: destination `file.txt` exists and is not a directory"),
    // manifest outside a project: a url is not enough.
    row(&["manifest", "--url", "oci://ghcr.io/acme/x@sha256:0000000000000000000000000000000000000000000000000000000000000000"], Nothing, 2,
        "error: no name for the WasmPlugin"),
    // push: the module and the destination are checked before anything is written.
    row(&["push", "--wasm", "plugin.wasm", "oci-layout:notes"], PluginAndNotes, 2,
        "error: `notes` is not empty and is not an OCI image layout"),
    row(&["push", "--wasm", "plugin.wasm", "oci-layout:file.txt"], PluginAndFile, 2,
        "error: `file.txt` is a file, not an image layout directory"),
    row(&["push", "--wasm", "notes.txt", "oci-layout:out"], BadModules, 2,
        "error: `notes.txt`: not a wasm module: the file does not start with the wasm magic bytes"),
    row(&["push", "--wasm", "empty.wasm", "oci-layout:out"], BadModules, 2,
        "error: `empty.wasm`: not a wasm module: the file is empty"),
    row(&["push", "--wasm", "truncated.wasm", "oci-layout:out"], BadModules, 2,
        "error: `truncated.wasm`: invalid wasm module: "),
    row(&["push", "--wasm", "missing.wasm", "oci-layout:out"], Nothing, 2,
        "error: failed to read `missing.wasm`"),
    row(&["push", "--wasm", "plugin.wasm", "oci-layout:out@sha256:0000000000000000000000000000000000000000000000000000000000000000"], Plugin, 2,
        "error: cannot push to a digest reference `oci-layout:out@sha256:0000000000000000000000000000000000000000000000000000000000000000`: a push names a tag"),
    row(&["push", "--wasm", "plugin.wasm", "UPPER/Repo:v1"], Plugin, 2,
        "error: invalid image reference `UPPER/Repo:v1`: bad repository component `Repo`"),
    row(&["push", "--wasm", "plugin.wasm"], TaggedRepository, 2,
        "error: `repository` in "),
    // verify and pull: what they read must exist and be what they were told.
    row(&["verify", "oci-layout:nowhere"], Nothing, 2,
        "error: failed to read the image layout in `nowhere/index.json`"),
    row(&["verify", "oci-layout:layout@sha256:0000000000000000000000000000000000000000000000000000000000000000"], Layout, 2,
        "error: the image layout `layout` has no image sha256:0000000000000000000000000000000000000000000000000000000000000000"),
    row(&["verify", "oci-layout:layout@sha256:abc"], Layout, 2,
        "error: invalid image reference `oci-layout:layout@sha256:abc`: bad digest `sha256:abc`"),
    row(&["pull", "oci-layout:layout:nope", "-o", "out.wasm"], Layout, 2,
        "error: the image layout `layout` has no tag `nope`"),
    row(&["pull", "-o", "out.wasm"], Nothing, 2,
        "error: could not find Cargo.toml in "),
    row(&["pull", "--json", "-o", "-", "oci-layout:layout:v1"], Layout, 2,
        "error: --json and `-o -` would both write to stdout"),
    row(&["verify"], Project, 2,
        "error: no image: this project has not been pushed yet"),
    row(&["pull", "-o", "out.wasm"], Project, 2,
        "error: no image: this project has not been pushed yet"),
    // run and test: a file that is not wasm is named, on one line.
    row(&["run", "notes.txt"], BadModules, 2,
        "error: `notes.txt`: not a wasm module: the file does not start with the wasm magic bytes"),
    row(&["run", "empty.wasm"], BadModules, 2,
        "error: `empty.wasm`: not a wasm module: the file is empty"),
    row(&["run", "truncated.wasm"], BadModules, 2,
        "error: `truncated.wasm`: not a loadable wasm module: "),
    row(&["test", "--plugin", "notes.txt", "hello.yaml"], Scenario, 2,
        "error: `notes.txt`: not a wasm module: the file does not start with the wasm magic bytes"),
    row(&["test", "--plugin", "empty.wasm", "hello.yaml"], Scenario, 2,
        "error: `empty.wasm`: not a wasm module: the file is empty"),
    // build: the target and the project are checked before cargo runs.
    row(&["build", "--target", "x86_64-unknown-linux-gnu"], Project, 2,
        "error: `x86_64-unknown-linux-gnu` is not a wasm target"),
    row(&["build"], Nothing, 2,
        "error: could not find Cargo.toml in "),
    // login: the host is named as given, not as wasmctl probes it.
    row(&["login", "bad_host", "-u", "me", "--password-stdin"], Nothing, 2,
        "error: invalid registry host `bad_host`"),
    row(&["manifest", "--name", "demo", "--url", "oci://ghcr.io/a/b:1", "-o", "yaml", "--json"],
        Nothing, 2, "error: -o yaml and --json ask for two formats"),
    // A flag where the key should be is not taken for the key.
    row(&["manifest", "--name", "demo", "--url", "oci://ghcr.io/a/b:1", "--verification-key", "--json"],
        Nothing, 2, "error: invalid --verification-key `--json`"),
    // -o names a file, not a directory.
    row(&["manifest", "--name", "demo", "--url", "oci://ghcr.io/a/b:1", "-o", "notes"],
        PluginAndNotes, 2, "error: -o notes is a directory; it takes the file name to write"),
    // Basic auth cannot carry an empty user name, nor one with a colon.
    row(&["login", "localhost:5000", "-u", "", "--password-stdin"], Nothing, 2,
        "error: invalid user name ``: it is empty or holds a `:`"),
    row(&["login", "localhost:5000", "-u", "a:b", "--password-stdin"], Nothing, 2,
        "error: invalid user name `a:b`"),
    row(&["login", "localhost:5000", "-u", "me", "--password-stdin", "--insecure", "bad host"],
        Nothing, 2, "error: invalid --insecure: invalid registry host `bad host`"),
    // A CA file with no certificate in it is refused before anything is sent.
    row(&["push", "--wasm", "plugin.wasm", "--ca-file", "file.txt", "localhost:5000/x:v1"],
        PluginAndFile, 2, "error: failed to read CA file `file.txt`"),
];

/// Every file under `dir` and its bytes, to show that a command wrote nothing.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).unwrap().flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(dir).unwrap().to_path_buf();
            if path.is_dir() {
                files.insert(relative.join(""), Vec::new());
                stack.push(path);
            } else {
                files.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn plugin() -> &'static Path {
    &built_template("http-headers").module
}

fn prepare(setup: Setup, dir: &Path) {
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    let copy_plugin = || write("plugin.wasm", &std::fs::read(plugin()).unwrap());
    match setup {
        Setup::Nothing => {}
        Setup::BadModules | Setup::Scenario => {
            write("notes.txt", b"remember the milk\n");
            write("empty.wasm", b"");
            let module = std::fs::read(plugin()).unwrap();
            write("truncated.wasm", &module[..module.len() / 2]);
            if matches!(setup, Setup::Scenario) {
                write(
                    "hello.yaml",
                    b"name: hello\nexchanges:\n  - request: {method: GET, path: /}\n",
                );
            }
        }
        Setup::Plugin => copy_plugin(),
        Setup::PluginAndNotes => {
            copy_plugin();
            write("notes/todo.txt", b"keep me\n");
        }
        Setup::PluginAndFile => {
            copy_plugin();
            write("file.txt", b"keep me\n");
        }
        Setup::Layout => {
            copy_plugin();
            let r =
                run(wasmctl(dir).args(["push", "--wasm", "plugin.wasm", "oci-layout:layout:v1"]));
            assert!(r.success(), "{}", r.stderr);
        }
        Setup::NonEmptyX => write("x/notes.txt", b"keep me\n"),
        Setup::File => write("file.txt", b"keep me\n"),
        Setup::TaggedRepository | Setup::Project => {
            let repository = match setup {
                Setup::TaggedRepository => "ghcr.io/acme/x:v1",
                _ => "ghcr.io/acme/x",
            };
            write(
                "Cargo.toml",
                format!(
                    "[package]\nname = \"x\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                     [lib]\ncrate-type = [\"cdylib\"]\n\n\
                     [package.metadata.wasmctl]\nrepository = \"{repository}\"\n"
                )
                .as_bytes(),
            );
            write("src/lib.rs", b"");
            if matches!(setup, Setup::TaggedRepository) {
                copy_plugin();
            }
        }
    }
}

#[test]
fn bad_input_is_refused_with_one_error_line_and_nothing_written() {
    let mut failures = Vec::new();
    let mut matrix = Vec::new();
    for row in ROWS {
        let dir = tempdir();
        prepare(row.setup, dir.path());
        let before = snapshot(dir.path());
        let r = run(wasmctl(dir.path())
            .args(row.args)
            .env("HOME", dir.path())
            .stdin(std::process::Stdio::null()));
        let first = r.stderr.lines().next().unwrap_or_default().to_string();
        let after = snapshot(dir.path());
        let written: Vec<_> = after
            .iter()
            .filter(|(path, bytes)| before.get(*path) != Some(*bytes))
            .map(|(path, _)| path.display().to_string())
            .chain(
                before
                    .keys()
                    .filter(|path| !after.contains_key(*path))
                    .map(|path| format!("removed {}", path.display())),
            )
            .collect();
        let args = row.args.join(" ");
        matrix.push(format!(
            "| `wasmctl {args}` | {} | `{first}` | {} |",
            r.code.unwrap_or(-1),
            if written.is_empty() {
                "nothing written".to_string()
            } else {
                format!("WROTE {written:?}")
            }
        ));
        if r.code != Some(row.code) {
            failures.push(format!(
                "{args}: exit {:?}, not {}\n{}",
                r.code, row.code, r.stderr
            ));
        }
        if !first.starts_with(row.error) {
            failures.push(format!(
                "{args}: first line\n  {first}\nnot\n  {}",
                row.error
            ));
        }
        if r.stderr.matches("error:").count() != 1 {
            failures.push(format!("{args}: not one error line:\n{}", r.stderr));
        }
        if let Some(named) = first.split('`').nth(1).filter(|n| !n.is_empty())
            && r.stderr
                .lines()
                .any(|l| l.contains("caused by:") && l.contains(&format!("`{named}`")))
        {
            failures.push(format!(
                "{args}: a cause names `{named}` again:\n{}",
                r.stderr
            ));
        }
        if !written.is_empty() {
            failures.push(format!("{args}: wrote {written:?}"));
        }
        if !r.stdout.is_empty() {
            failures.push(format!("{args}: printed a result: {}", r.stdout));
        }
    }
    // The matrix as a table, for whoever reviews what is covered.
    let table = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bad-input-matrix.md");
    std::fs::write(&table, matrix.join("\n") + "\n").unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        matrix.len(),
        failures.join("\n\n")
    );
}

#[test]
fn manifest_output_formats_are_formats_not_file_names() {
    let dir = tempdir();
    let url = "oci://ghcr.io/acme/demo@sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let manifest = |out: &str| {
        run_ok(wasmctl(dir.path()).args(["manifest", "--name", "demo", "--url", url, "-o", out]))
    };
    let yaml = manifest("yaml");
    assert!(
        yaml.stdout
            .starts_with("apiVersion: extensions.istio.io/v1alpha1\n"),
        "{}",
        yaml.stdout
    );
    let json: serde_json::Value = serde_json::from_str(&manifest("json").stdout).unwrap();
    assert_eq!(json["kind"], "WasmPlugin");
    assert_eq!(manifest("-").stdout, yaml.stdout);
    assert!(
        support::entries(dir.path()).is_empty(),
        "wrote {:?}",
        support::entries(dir.path())
    );
    // A file of that name is still a path away.
    let r = manifest("./yaml");
    assert_eq!(r.stdout.trim(), "./yaml");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("yaml")).unwrap(),
        yaml.stdout
    );
}

#[test]
fn a_plugin_panic_is_printed_once() {
    let dir = tempdir();
    let root = new_project(dir.path(), "panicky", &[]);
    let lib = root.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    let hook = "fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {";
    assert!(source.contains(hook), "the template changed");
    let source = source.replace(
        hook,
        &format!("{hook}\n        panic!(\"the upstream failed us\");"),
    );
    std::fs::write(&lib, source).unwrap();
    run_ok(wasmctl(&root).arg("build"));
    let r = run_err(wasmctl(&root).arg("run"));
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("error: the plugin failed in proxy_on_response_headers: panicked"),
        "{}",
        r.stderr
    );
    assert_eq!(
        r.stderr.matches("the upstream failed us").count(),
        1,
        "{}",
        r.stderr
    );
}

#[test]
fn a_result_that_cannot_be_written_fails_and_a_closed_pipe_does_not() {
    let dir = tempdir();
    let url = "oci://ghcr.io/acme/demo@sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let manifest = || {
        let mut cmd = wasmctl(dir.path());
        cmd.args(["manifest", "--name", "demo", "--url", url]);
        cmd
    };
    // A full disk behind `> FILE`: the YAML is lost, so the command fails.
    let full = std::fs::File::create("/dev/full").unwrap();
    let out = manifest()
        .stdout(full)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: failed to write the result to stdout: No space left on device"),
        "{stderr}"
    );
    // A reader that wants no more (`| head -0`) is no failure.
    let mut child = manifest()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
