//! A long-running `wasmctl` (serve, dev) in the background: its stderr collected as it comes, the
//! address it listens on, and Ctrl-C, after which it must exit 0.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Background {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Background {
    /// Spawns `cmd` with stderr collected.
    pub fn spawn(mut cmd: Command) -> Background {
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn wasmctl");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = BufReader::new(child.stderr.take().unwrap());
        let log = stderr.clone();
        std::thread::spawn(move || {
            for line in pipe.lines().map_while(Result::ok) {
                log.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        Background { child, stderr }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until `marker` has appeared `count` times on stderr.
    #[track_caller]
    pub fn wait_for(&self, marker: &str, count: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.stderr().matches(marker).count() < count {
            let late = Instant::now() > deadline;
            assert!(!late, "no {count}x `{marker}` in time:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The address of its `Listening on SCHEME://ADDR` line, once there.
    #[track_caller]
    pub fn listen_addr(&self) -> SocketAddr {
        self.wait_for("Listening on ", 1, Duration::from_secs(300));
        let stderr = self.stderr();
        let line = stderr
            .lines()
            .find(|l| l.contains("Listening on "))
            .unwrap();
        let addr = line.split("://").nth(1).unwrap().split_whitespace().next();
        addr.unwrap().parse().expect("a listen address")
    }

    /// Ctrl-C; it must exit 0 soon after. Returns what it wrote to stderr.
    #[track_caller]
    pub fn stop(self) -> String {
        self.stop_with("INT")
    }

    /// [`Background::stop`] with another signal (`TERM`, as `kill` and `timeout` send).
    pub fn stop_with(mut self, signal: &str) -> String {
        let pid = self.child.id().to_string();
        let kill = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(kill.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "no exit on SIG{signal}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(50));
        let stderr = self.stderr();
        assert!(status.success(), "exited {status}:\n{stderr}");
        stderr
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
