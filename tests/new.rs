//! `wasmctl new`: scaffolding from the embedded templates, and refusing bad input without writing.

mod support;

use support::{entries, run_err, run_ok, tempdir, wasmctl};

#[test]
fn list_shows_every_template_with_a_description() {
    let dir = tempdir();
    let r = run_ok(wasmctl(dir.path()).args(["new", "--list"]));
    let ids: Vec<&str> = r
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(ids, ["http-headers", "http-auth", "http-body", "network"]);
    for line in r.stdout.lines() {
        assert!(
            line.split_whitespace().count() > 2,
            "no description: {line}"
        );
    }

    let r = run_ok(wasmctl(dir.path()).args(["new", "--list", "--json"]));
    let rows: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(rows[3]["id"], "network");
    assert_eq!(rows[3]["type"], "NETWORK");
}

#[test]
fn creates_a_project_with_defaults_in_cargo_metadata() {
    let dir = tempdir();
    let r = run_ok(wasmctl(dir.path()).args(["new", "demo", "--yes"]));
    let root = dir.path().join("demo");
    assert_eq!(
        r.stdout.trim(),
        root.display().to_string(),
        "stdout is the path only"
    );
    assert!(r.stderr.contains("Created"), "{}", r.stderr);
    for file in [
        "Cargo.toml",
        "src/lib.rs",
        "README.md",
        "config.yaml",
        ".gitignore",
    ] {
        assert!(root.join(file).is_file(), "missing {file}");
    }
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(!cargo.contains("{{"), "unrendered placeholder:\n{cargo}");
    let doc: toml_edit::DocumentMut = cargo.parse().unwrap();
    assert_eq!(doc["package"]["name"].as_str(), Some("demo"));
    let meta = &doc["package"]["metadata"]["wasmctl"];
    assert_eq!(meta["template"].as_str(), Some("http-headers"));
    assert_eq!(meta["type"].as_str(), Some("HTTP"));
    assert_eq!(meta["repository"].as_str(), Some("localhost:5000/demo"));
    assert_eq!(meta["namespace"].as_str(), Some("default"));
    assert_eq!(meta["selector"]["app"].as_str(), Some("demo"));
    assert_eq!(meta["config"].as_str(), Some("config.yaml"));
    assert_eq!(
        doc["lib"]["crate-type"]
            .as_array()
            .unwrap()
            .get(0)
            .and_then(|v| v.as_str()),
        Some("cdylib")
    );
    // Nothing but the project was left beside it.
    assert_eq!(entries(dir.path()), ["demo"]);
}

#[test]
fn flags_set_every_default_and_json_reports_the_files() {
    let dir = tempdir();
    let r = run_ok(wasmctl(dir.path()).args([
        "new",
        "edge-auth",
        "--template",
        "http-auth",
        "--dir",
        "nested/place",
        "--repository",
        "ghcr.io/acme/edge-auth",
        "--namespace",
        "istio-system",
        "--selector",
        "istio=ingressgateway",
        "--json",
    ]));
    let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(out["name"], "edge-auth");
    assert_eq!(out["template"], "http-auth");
    assert!(
        out["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "src/lib.rs")
    );
    let cargo = std::fs::read_to_string(dir.path().join("nested/place/Cargo.toml")).unwrap();
    assert!(
        cargo.contains("repository = \"ghcr.io/acme/edge-auth\""),
        "{cargo}"
    );
    assert!(cargo.contains("namespace = \"istio-system\""), "{cargo}");
    assert!(
        cargo.contains("selector = { istio = \"ingressgateway\" }"),
        "{cargo}"
    );
    assert!(cargo.contains("template = \"http-auth\""), "{cargo}");
}

#[test]
fn bad_names_are_refused_with_a_hint_and_nothing_is_written() {
    let long = "a".repeat(64);
    for (name, why) in [
        ("Bad Name", "contains 'B'"),
        ("-x", "must start with a lowercase letter"),
        ("a..b", "contains '.'"),
        (long.as_str(), "64 characters long"),
        ("proxy-wasm", "reserved"),
    ] {
        let dir = tempdir();
        let r = run_err(wasmctl(dir.path()).args(["new", name, "--yes"]));
        assert_eq!(r.code, Some(2), "{name}: {}", r.stderr);
        let first = r.stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("error: invalid plugin name `{name}`")),
            "{first}"
        );
        assert!(first.contains(why), "{name}: {first}");
        assert!(
            r.stderr.contains("\nhint: "),
            "{name}: no hint in {}",
            r.stderr
        );
        assert!(r.stdout.is_empty());
        assert!(
            entries(dir.path()).is_empty(),
            "{name} wrote {:?}",
            entries(dir.path())
        );
    }
}

#[test]
fn an_existing_non_empty_directory_is_refused_unless_forced() {
    let dir = tempdir();
    let root = dir.path().join("demo");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("notes.txt"), "keep me").unwrap();

    let r = run_err(wasmctl(dir.path()).args(["new", "demo", "--yes"]));
    assert!(r.stderr.starts_with("error: destination"), "{}", r.stderr);
    assert!(
        r.stderr.contains("already exists and is not empty"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint: pass --force"), "{}", r.stderr);
    assert_eq!(entries(&root), ["notes.txt"]);
    assert_eq!(
        entries(dir.path()),
        ["demo"],
        "no staging directory left behind"
    );

    let r = run_ok(wasmctl(dir.path()).args(["new", "demo", "--yes", "--force"]));
    assert!(
        r.stderr.contains(&format!(
            "warning: replaced what was in {}: notes.txt",
            root.display()
        )),
        "--force says what it replaced: {}",
        r.stderr
    );
    assert!(root.join("Cargo.toml").is_file());
    assert!(
        !root.join("notes.txt").exists(),
        "--force replaces the directory"
    );
    assert_eq!(entries(dir.path()), ["demo"], "no backup left behind");

    // An empty directory is fine without --force.
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    run_ok(wasmctl(dir.path()).args(["new", "empty", "--yes"]));
    assert!(dir.path().join("empty/Cargo.toml").is_file());

    // What --force never replaces: the directory the user is in (or one holding it), and a git
    // repository.
    let r = run_err(wasmctl(&root).args(["new", "demo", "--dir", ".", "--yes", "--force"]));
    assert!(
        r.stderr
            .starts_with("error: --force does not replace `.`: it holds the current directory"),
        "{}",
        r.stderr
    );
    assert!(root.join("Cargo.toml").is_file());
    let r = run_err(
        wasmctl(&root.join("src")).args(["new", "demo", "--dir", "..", "--yes", "--force"]),
    );
    assert!(
        r.stderr.contains("it holds the current directory"),
        "{}",
        r.stderr
    );
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::write(repo.join("README"), "history").unwrap();
    let r = run_err(wasmctl(dir.path()).args(["new", "repo", "--yes", "--force"]));
    assert!(r.stderr.contains("it is a git repository"), "{}", r.stderr);
    assert!(
        r.stderr.contains("hint: remove what is there yourself"),
        "{}",
        r.stderr
    );
    assert_eq!(entries(&repo), [".git", "README"]);
}

#[test]
fn a_destination_that_is_not_utf8_is_refused_before_anything_is_written() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempdir();
    let bad = std::ffi::OsStr::from_bytes(b"bad\xffbyte");
    let r = run_err(
        wasmctl(dir.path())
            .args(["new", "demo", "--yes", "--json", "--dir"])
            .arg(bad),
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("is not valid UTF-8"), "{}", r.stderr);
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[test]
fn an_unknown_template_is_refused_with_the_list() {
    let dir = tempdir();
    let r = run_err(wasmctl(dir.path()).args(["new", "demo", "--yes", "--template", "grpc"]));
    assert_eq!(
        r.stderr.lines().next(),
        Some("error: unknown template `grpc`")
    );
    assert!(
        r.stderr
            .contains("hint: available templates: http-headers, http-auth, http-body, network"),
        "{}",
        r.stderr
    );
    assert!(entries(dir.path()).is_empty());

    // A near miss names the template meant.
    for (typo, meant) in [
        ("http-header", "http-headers"),
        ("auth", "http-auth"),
        ("netwrok", "network"),
    ] {
        let r = run_err(wasmctl(dir.path()).args(["new", "demo", "--yes", "--template", typo]));
        assert!(
            r.stderr.contains(&format!("hint: did you mean `{meant}`?")),
            "{typo}: {}",
            r.stderr
        );
    }
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn flags_are_checked_by_the_rules_of_push_and_manifest() {
    // Each value is refused before anything is written, with the message manifest and push give.
    for (flag, value, message) in [
        (
            "--selector",
            "bad key=v",
            "invalid --selector `bad key=v`: the key: its name part",
        ),
        (
            "--selector",
            "app=*",
            "invalid --selector `app=*`: wildcards are not allowed in labels",
        ),
        (
            "--namespace",
            "Bad_NS",
            "invalid --namespace `Bad_NS`: must consist of lower case",
        ),
        (
            "--repository",
            "UPPER/Repo",
            "bad repository component `Repo`",
        ),
        (
            "--repository",
            "ghcr.io/acme/x:v1",
            "a repository names no tag or digest",
        ),
    ] {
        let dir = tempdir();
        let r = run_err(wasmctl(dir.path()).args(["new", "demo", "--yes", flag, value]));
        assert_eq!(r.code, Some(2), "{flag} {value}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{flag} {value}: {}", r.stderr);
        assert!(entries(dir.path()).is_empty(), "{flag} {value} wrote files");
    }
    // The same selector is refused by manifest with the same words.
    let dir = tempdir();
    let r = run_err(wasmctl(dir.path()).args([
        "manifest",
        "--name",
        "demo",
        "--url",
        "oci://ghcr.io/acme/demo:v1",
        "--selector",
        "bad key=v",
    ]));
    assert!(
        r.stderr
            .contains("invalid --selector `bad key=v`: the key: its name part"),
        "{}",
        r.stderr
    );
}

#[test]
fn without_a_terminal_it_never_prompts() {
    // No --yes and no TTY: defaults are taken, nothing waits on stdin.
    let dir = tempdir();
    let r = run_ok(
        wasmctl(dir.path())
            .args(["new", "quiet-one"])
            .stdin(std::process::Stdio::null()),
    );
    assert!(
        dir.path().join("quiet-one/Cargo.toml").is_file(),
        "{}",
        r.stderr
    );
}

#[test]
fn quiet_prints_only_the_result() {
    let dir = tempdir();
    let r = run_ok(wasmctl(dir.path()).args(["-q", "new", "hush", "--yes"]));
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    assert!(r.stdout.trim().ends_with("hush"));
}

#[test]
fn on_a_terminal_it_prompts_for_what_no_flag_settled() {
    // Answers are typed into a real pseudo-terminal.
    let dir = tempdir();
    let (mut child, mut terminal) = spawn_on_terminal(dir.path(), "new tty-demo");
    // Each answer is typed once its prompt is on the screen.
    let answers: [(&str, &[u8]); 5] = [
        ("Template (--template)", b"\x1b[B"),
        // The cursor has moved to the second template.
        ("> http-auth", b"\r"),
        (
            "Image repository (--repository)",
            b"ghcr.io/acme/tty-demo\r",
        ),
        ("Namespace (--namespace)", b"prod\r"),
        ("Workload selector (--selector)", b"app=x,tier=edge\r"),
    ];
    for (prompt, answer) in answers {
        terminal.wait_for(prompt);
        terminal.type_in(answer);
    }
    let screen = terminal.finish();
    let status = child.wait().unwrap();
    let screen = String::from_utf8_lossy(&screen);
    assert!(status.success(), "{screen}");
    for prompt in [
        "Template (--template)",
        "Image repository (--repository)",
        "Namespace (--namespace)",
        "Workload selector (--selector)",
    ] {
        assert!(screen.contains(prompt), "no prompt {prompt}: {screen}");
    }
    let cargo = std::fs::read_to_string(dir.path().join("tty-demo/Cargo.toml")).unwrap();
    assert!(cargo.contains("template = \"http-auth\""), "{cargo}");
    assert!(
        cargo.contains("repository = \"ghcr.io/acme/tty-demo\""),
        "{cargo}"
    );
    assert!(cargo.contains("namespace = \"prod\""), "{cargo}");
    assert!(
        cargo.contains("selector = { app = \"x\", tier = \"edge\" }"),
        "{cargo}"
    );
}

#[test]
fn a_bad_answer_at_a_prompt_is_refused_with_the_reason_and_asked_again() {
    let dir = tempdir();
    let (mut child, mut terminal) = spawn_on_terminal(dir.path(), "new tty-bad");
    terminal.wait_for("Template (--template)");
    terminal.type_in(b"\r");
    // Each bad answer shows why, then the same question comes back.
    let steps: [(&str, &[u8], &str); 6] = [
        (
            "Image repository (--repository)",
            b"UPPER/Repo\r",
            "bad repository component `Repo`",
        ),
        (
            "Image repository (--repository)",
            b"ghcr.io/acme/tty:v1\r",
            "a repository names no tag or digest",
        ),
        (
            "Image repository (--repository)",
            b"ghcr.io/acme/tty-bad\r",
            "Namespace (--namespace)",
        ),
        ("", b"Bad_NS\r", "must consist of lower case letters"),
        (
            "Namespace (--namespace)",
            b"prod\r",
            "Workload selector (--selector)",
        ),
        ("", b"app=*\r", "wildcards are not allowed in labels"),
    ];
    for (prompt, answer, then) in steps {
        if !prompt.is_empty() {
            terminal.wait_for(prompt);
        }
        terminal.type_in(answer);
        terminal.wait_for(then);
    }
    terminal.wait_for("Workload selector (--selector)");
    terminal.type_in(b"bad key=v\r");
    terminal.wait_for("its name part must consist of");
    terminal.wait_for("Workload selector (--selector)");
    terminal.type_in(b"app=tty, tier=edge\r");
    let screen = terminal.finish();
    let status = child.wait().unwrap();
    let screen = String::from_utf8_lossy(&screen);
    assert!(status.success(), "{screen}");
    let cargo = std::fs::read_to_string(dir.path().join("tty-bad/Cargo.toml")).unwrap();
    assert!(
        cargo.contains("repository = \"ghcr.io/acme/tty-bad\""),
        "{cargo}"
    );
    assert!(cargo.contains("namespace = \"prod\""), "{cargo}");
    assert!(
        cargo.contains("selector = { app = \"tty\", tier = \"edge\" }"),
        "{cargo}"
    );
    assert!(
        !cargo.contains("UPPER") && !cargo.contains("Bad_NS"),
        "{cargo}"
    );
}

/// Runs `wasmctl ARGS` under util-linux `script`, which gives it a real pseudo-terminal.
fn spawn_on_terminal(dir: &std::path::Path, args: &str) -> (std::process::Child, Terminal) {
    use std::process::{Command, Stdio};
    let bin = assert_cmd::cargo::cargo_bin("wasmctl");
    let mut child = Command::new("script")
        .args([
            "-q",
            "-e",
            "-c",
            &format!("{} {args}", bin.display()),
            "/dev/null",
        ])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` is installed");
    let terminal = Terminal::attach(&mut child);
    (child, terminal)
}

/// The keyboard and screen of a program running under `script`: a thread collects what it draws,
/// so a test can wait for a prompt instead of sleeping.
struct Terminal {
    keyboard: std::process::ChildStdin,
    screen: std::sync::Arc<(std::sync::Mutex<Vec<u8>>, std::sync::Condvar)>,
    reader: std::thread::JoinHandle<()>,
    /// How much of the screen earlier prompts used up.
    seen: usize,
}

impl Terminal {
    /// How long one prompt may take to appear.
    const PROMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

    fn attach(child: &mut std::process::Child) -> Terminal {
        use std::io::Read;
        let keyboard = child.stdin.take().expect("stdin is piped");
        let mut output = child.stdout.take().expect("stdout is piped");
        let screen =
            std::sync::Arc::new((std::sync::Mutex::new(Vec::new()), std::sync::Condvar::new()));
        let shared = screen.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = output.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let (text, changed) = &*shared;
                text.lock().unwrap().extend_from_slice(&buf[..n]);
                changed.notify_all();
            }
        });
        Terminal {
            keyboard,
            screen,
            reader,
            seen: 0,
        }
    }

    /// Waits until `text` is drawn after the previous prompt; fails the test with the screen on a
    /// timeout.
    #[track_caller]
    fn wait_for(&mut self, text: &str) {
        let deadline = std::time::Instant::now() + Self::PROMPT_TIMEOUT;
        let (screen, changed) = &*self.screen;
        let mut drawn = screen.lock().unwrap();
        loop {
            if let Some(at) = drawn[self.seen..]
                .windows(text.len())
                .position(|window| window == text.as_bytes())
            {
                self.seen += at + text.len();
                return;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(
                !left.is_zero(),
                "no {text:?} on the terminal after {:?}:\n{}",
                Self::PROMPT_TIMEOUT,
                String::from_utf8_lossy(&drawn)
            );
            drawn = changed.wait_timeout(drawn, left).unwrap().0;
        }
    }

    fn type_in(&mut self, keys: &[u8]) {
        use std::io::Write;
        self.keyboard.write_all(keys).unwrap();
        self.keyboard.flush().unwrap();
    }

    /// Closes the keyboard and returns everything drawn once the program has exited.
    fn finish(self) -> Vec<u8> {
        drop(self.keyboard);
        self.reader.join().expect("terminal reader");
        std::mem::take(&mut *self.screen.0.lock().unwrap())
    }
}

#[test]
fn a_project_in_a_cargo_workspace_builds_and_says_how_it_stands() {
    let dir = tempdir();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("plugins")).unwrap();
    std::fs::write(
        ws.join("Cargo.toml"),
        "[workspace]\nresolver = \"2\"\nmembers = [\"plugins/*\"]\n",
    )
    .unwrap();

    // Not listed: a workspace of its own, which builds where it is.
    let r = run_ok(wasmctl(&ws).args(["new", "loose", "--yes"]));
    assert!(
        r.stderr.contains(&format!(
            "warning: the cargo workspace at {} does not list this project",
            ws.display()
        )),
        "{}",
        r.stderr
    );
    let manifest = std::fs::read_to_string(ws.join("loose/Cargo.toml")).unwrap();
    assert!(manifest.ends_with("[workspace]\n"), "{manifest}");
    run_ok(wasmctl(&ws.join("loose")).arg("build"));

    // Listed: a member, whose size profile cargo takes from the workspace.
    let r = run_ok(wasmctl(&ws).args(["new", "member", "--yes", "--dir", "plugins/member"]));
    assert!(
        r.stderr.contains(
            "lists this project: cargo builds it with that workspace's [profile.release]"
        ),
        "{}",
        r.stderr
    );
    let manifest = std::fs::read_to_string(ws.join("plugins/member/Cargo.toml")).unwrap();
    assert!(!manifest.contains("[workspace]"), "{manifest}");
}

#[test]
fn ctrl_c_at_a_prompt_gives_the_cursor_back_and_writes_nothing() {
    let dir = tempdir();
    let (mut child, mut terminal) = spawn_on_terminal(dir.path(), "new tty-stop");
    terminal.wait_for("Template (--template)");
    terminal.type_in(b"\x03");
    let screen = terminal.finish();
    let status = child.wait().unwrap();
    let screen = String::from_utf8_lossy(&screen);
    assert_eq!(status.code(), Some(130), "{screen}");
    // The prompt hid the cursor (ESC[?25l); it is shown again (ESC[?25h) after it.
    let hidden = screen
        .rfind("\x1b[?25l")
        .expect("the prompt hides the cursor");
    let shown = screen.rfind("\x1b[?25h");
    assert!(shown.is_some_and(|s| s > hidden), "{screen:?}");
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}
