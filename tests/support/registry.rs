//! A real registry (Debian's docker-registry, distribution 2.8) started on a random loopback port,
//! in one of three modes: plain HTTP, htpasswd + TLS with a test CA, or token auth.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A running registry; stopped when dropped.
pub struct Registry {
    child: Option<Child>,
    /// `127.0.0.1:PORT`
    pub addr: String,
    pub dir: tempfile::TempDir,
    config: PathBuf,
    log: PathBuf,
    /// The CA that signed the TLS certificate, in TLS mode.
    pub ca: Option<PathBuf>,
    /// The token server, in token mode.
    token_server: Option<Child>,
    /// `127.0.0.1:PORT` of the token server, in token mode.
    pub token_addr: Option<String>,
}

/// A free port on 127.0.0.1 (the listener is closed before the registry binds it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}

fn wait_for_port(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("registry did not listen on {addr}");
}

fn openssl(dir: &Path, args: &[&str]) {
    super::run_ok(Command::new("openssl").args(args).current_dir(dir));
}

/// A test CA and a leaf for localhost/127.0.0.1 signed by it (rustls refuses a self-signed leaf).
pub fn make_ca_and_leaf(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=wasmctl test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.crt",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ],
    );
    (
        dir.join("ca.crt"),
        dir.join("leaf.crt"),
        dir.join("leaf.key"),
    )
}

impl Registry {
    /// Plain HTTP, no auth.
    pub fn start() -> Registry {
        Registry::start_with("")
    }

    /// htpasswd basic auth over TLS with a fresh test CA (`self.ca`).
    pub fn start_tls_htpasswd(user: &str, password: &str) -> Registry {
        Registry::start_tls_htpasswd_realm(user, password, "wasmctl-test")
    }

    /// As [`Registry::start_tls_htpasswd`], with the basic auth `realm` given.
    pub fn start_tls_htpasswd_realm(user: &str, password: &str, realm: &str) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("wasmctl-registry-")
            .tempdir()
            .unwrap();
        let (ca, leaf, key) = make_ca_and_leaf(dir.path());
        let out = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .expect("run htpasswd");
        let htpasswd = dir.path().join("htpasswd");
        std::fs::write(&htpasswd, out.stdout).unwrap();
        let extra = format!(
            "auth: {{htpasswd: {{realm: \"{realm}\", path: {}}}}}\n",
            htpasswd.display()
        );
        let tls = format!(
            "  tls: {{certificate: {}, key: {}}}\n",
            leaf.display(),
            key.display()
        );
        let mut registry = Registry::start_full(dir, &extra, &tls);
        registry.ca = Some(ca);
        registry
    }

    /// Plain HTTP with token auth: a token server (tests/support/token_server.py) on another
    /// loopback port issues RS256 JWTs to `user` with `password`, as Docker Hub or Harbor do.
    pub fn start_token_auth(user: &str, password: &str) -> Registry {
        use std::io::BufRead;
        let dir = tempfile::Builder::new()
            .prefix("wasmctl-registry-")
            .tempdir()
            .unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/token_server.py");
        let mut server = Command::new("python3")
            .arg(script)
            .arg(dir.path())
            .args(["wasmctl-test-issuer", "wasmctl-test"])
            .arg(format!("{user}:{password}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the token server (python3 with cryptography)");
        let mut line = String::new();
        std::io::BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().parse().expect("token server prints its port");
        let extra = format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{port}/token\n    service: wasmctl-test\n    issuer: wasmctl-test-issuer\n    rootcertbundle: {}\n",
            dir.path().join("token.crt").display()
        );
        let mut registry = Registry::start_full(dir, &extra, "");
        registry.token_server = Some(server);
        registry.token_addr = Some(format!("127.0.0.1:{port}"));
        registry
    }

    /// Plain HTTP with extra top-level config (e.g. `auth:`).
    pub fn start_with(extra: &str) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("wasmctl-registry-")
            .tempdir()
            .unwrap();
        Registry::start_full(dir, extra, "")
    }

    /// Starts a registry keeping its config, storage, log and any key files in `dir`.
    pub fn start_full(dir: tempfile::TempDir, extra: &str, http_extra: &str) -> Registry {
        let addr = format!("127.0.0.1:{}", free_port());
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: info, accesslog: {{disabled: false}}}}\n\
                 storage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\n\
                 http:\n  addr: {addr}\n{http_extra}{extra}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let log = dir.path().join("registry.log");
        let mut registry = Registry {
            child: None,
            addr,
            dir,
            config,
            log,
            ca: None,
            token_server: None,
            token_addr: None,
        };
        registry.restart();
        registry
    }

    /// Starts the registry (again) on the same port and storage.
    pub fn restart(&mut self) {
        self.stop();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&self.config)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start docker-registry (apt-get install docker-registry)");
        self.child = Some(child);
        wait_for_port(&self.addr);
    }

    /// The registry's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("registry is running").id()
    }

    /// Kills the registry process.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Access-log lines so far (`"METHOD /v2/... HTTP/1.1" STATUS`).
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                l.contains("\"GET ")
                    || l.contains("\"HEAD ")
                    || l.contains("\"PUT ")
                    || l.contains("\"POST ")
                    || l.contains("\"PATCH ")
                    || l.contains("\"DELETE ")
            })
            .map(str::to_string)
            .collect()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
        if let Some(mut server) = self.token_server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

/// A loopback HTTP proxy in front of a registry that answers `status` to the first `fail_first`
/// requests matching `method` and forwards everything else, one request per connection.
pub struct FlakyProxy {
    pub addr: String,
    pub failed: Arc<AtomicUsize>,
}

/// What the proxy does to a matching request.
#[derive(Clone, Copy)]
enum Fault {
    /// Answers this status line with this `Retry-After` value.
    Status(&'static str, &'static str),
    /// SIGKILL this process (the registry) before forwarding, as a crash mid-push would.
    Kill(u32),
    /// Forward, then name another digest in the manifest `Location` the registry answered with.
    WrongDigest,
}

impl FlakyProxy {
    /// Fails the first `fail_first` `method` requests with a 500.
    pub fn start(upstream: &str, method: &'static str, fail_first: usize) -> FlakyProxy {
        FlakyProxy::start_with(upstream, method, fail_first, "500 Internal Server Error")
    }

    pub fn start_with(
        upstream: &str,
        method: &'static str,
        fail_first: usize,
        status: &'static str,
    ) -> FlakyProxy {
        FlakyProxy::spawn(upstream, method, fail_first, Fault::Status(status, "0"))
    }

    /// Answers the first `method` request with `status` and `Retry-After: {retry_after}`.
    pub fn asking_to_wait(
        upstream: &str,
        method: &'static str,
        status: &'static str,
        retry_after: &'static str,
    ) -> FlakyProxy {
        FlakyProxy::spawn(upstream, method, 1, Fault::Status(status, retry_after))
    }

    /// Kills the registry (`pid`) when the first blob upload PUT arrives, then forwards it.
    pub fn killing_on_blob_put(upstream: &str, pid: u32) -> FlakyProxy {
        FlakyProxy::spawn(upstream, "PUT", 1, Fault::Kill(pid))
    }

    /// Answers manifest uploads with a `Location` naming a digest other than the one stored.
    pub fn lying_about_manifest_digest(upstream: &str) -> FlakyProxy {
        FlakyProxy::spawn(upstream, "PUT", usize::MAX, Fault::WrongDigest)
    }

    fn spawn(upstream: &str, method: &'static str, fail_first: usize, fault: Fault) -> FlakyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let failed = Arc::new(AtomicUsize::new(0));
        let (upstream, counter) = (upstream.to_string(), failed.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (upstream, counter) = (upstream.clone(), counter.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &upstream, method, fail_first, fault, &counter);
                });
            }
        });
        FlakyProxy { addr, failed }
    }
}

fn read_head(stream: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 4096];
    loop {
        let n = stream.read(&mut byte)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&byte[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
    }
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}

fn serve(
    mut client: TcpStream,
    upstream: &str,
    method: &str,
    fail_first: usize,
    fault: Fault,
    failed: &AtomicUsize,
) -> std::io::Result<()> {
    loop {
        let mut first = [0u8; 1];
        client.peek(&mut first)?;
        if !first[0].is_ascii_alphabetic() {
            // Not HTTP (a TLS hello): answer as any plain HTTP server does.
            client.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")?;
            return Ok(());
        }
        let (head, mut body) = read_head(&mut client)?;
        let head_text = String::from_utf8_lossy(&head).to_string();
        let want = content_length(&head_text);
        while body.len() < want {
            let mut chunk = vec![0u8; 65536];
            let n = client.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        let matches = head_text.starts_with(&format!("{method} "))
            && match fault {
                Fault::Status(..) => true,
                Fault::Kill(_) => head_text.contains("/blobs/uploads/"),
                Fault::WrongDigest => head_text.contains("/manifests/"),
            };
        let mut lie = false;
        if matches && failed.fetch_add(1, Ordering::SeqCst) < fail_first {
            match fault {
                Fault::Status(status, retry_after) => {
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nRetry-After: {retry_after}\r\n\r\n"
                    );
                    client.write_all(response.as_bytes())?;
                    continue;
                }
                Fault::Kill(pid) => {
                    let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                    std::thread::sleep(Duration::from_millis(100));
                }
                Fault::WrongDigest => lie = true,
            }
        }
        // Forward with `Connection: close` so the upstream response ends at EOF.
        let mut up = TcpStream::connect(upstream)?;
        let head_text = head_text
            .lines()
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
            .collect::<Vec<_>>()
            .join("\r\n");
        let head_text = head_text.trim_end().to_string() + "\r\nConnection: close\r\n\r\n";
        up.write_all(head_text.as_bytes())?;
        up.write_all(&body)?;
        let mut response = Vec::new();
        up.read_to_end(&mut response)?;
        if lie {
            let text = String::from_utf8_lossy(&response).into_owned();
            if let Some(at) = text.find("/manifests/sha256:") {
                let start = at + "/manifests/sha256:".len();
                let mut bytes = text.into_bytes();
                bytes[start..start + 64].copy_from_slice(&[b'0'; 64]);
                response = bytes;
            }
        }
        client.write_all(&response)?;
        // The upstream said `close`; so does the proxy.
        return Ok(());
    }
}

/// Asks the token server for a refresh token with the OAuth2 password grant, as `docker login`
/// does for registries that issue identity tokens.
pub fn identity_token(token_addr: &str, user: &str, password: &str) -> String {
    let body = format!(
        "grant_type=password&username={user}&password={password}&service=wasmctl-test&client_id=test&access_type=offline"
    );
    let mut stream = TcpStream::connect(token_addr).unwrap();
    write!(
        stream,
        "POST /token HTTP/1.0\r\nHost: {token_addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let json = response.split("\r\n\r\n").nth(1).expect("a response body");
    let json: serde_json::Value = serde_json::from_str(json).unwrap();
    json["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string()
}
