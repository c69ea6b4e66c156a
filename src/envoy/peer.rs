//! The TCP peer behind every network listener: records what arrives on the latest connection and
//! closes when the other side is done, as most servers do.

use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use super::{EnvoyError, io};

pub(super) struct TcpPeer {
    pub port: u16,
    latest: Arc<Mutex<PeerConnection>>,
}

/// The connection accepted last.
#[derive(Default)]
struct PeerConnection {
    /// Which accepted connection this is; a reader of an older one must not touch it.
    id: u64,
    stream: Option<TcpStream>,
    received: Vec<u8>,
    closed: bool,
}

impl TcpPeer {
    pub fn start() -> Result<TcpPeer, EnvoyError> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(io("tcp upstream"))?;
        let port = listener.local_addr().map_err(io("tcp upstream"))?.port();
        let latest = Arc::new(Mutex::new(PeerConnection::default()));
        let shared = latest.clone();
        std::thread::spawn(move || {
            for (id, stream) in (1..).zip(listener.incoming().flatten()) {
                if let Ok(mut latest) = shared.lock() {
                    *latest = PeerConnection {
                        id,
                        stream: stream.try_clone().ok(),
                        received: Vec::new(),
                        closed: false,
                    };
                }
                let shared = shared.clone();
                std::thread::spawn(move || record(stream, id, &shared));
            }
        });
        Ok(TcpPeer { port, latest })
    }

    /// Forgets the latest connection, so the next one is waited for.
    pub fn reset(&self) {
        if let Ok(mut latest) = self.latest.lock() {
            *latest = PeerConnection {
                id: u64::MAX,
                ..PeerConnection::default()
            };
        }
    }

    /// The latest connection, to write to or close.
    pub fn stream(&self) -> Option<TcpStream> {
        self.latest.lock().ok()?.stream.as_ref()?.try_clone().ok()
    }

    pub fn received(&self) -> Vec<u8> {
        self.latest
            .lock()
            .map(|c| c.received.clone())
            .unwrap_or_default()
    }

    pub fn closed(&self) -> bool {
        self.latest.lock().map(|c| c.closed).unwrap_or(true)
    }
}

/// Reads connection `id` to its end, then closes it.
fn record(mut stream: TcpStream, id: u64, latest: &Mutex<PeerConnection>) {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Ok(mut latest) = latest.lock()
                    && latest.id == id
                {
                    latest.received.extend_from_slice(&buf[..n]);
                }
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    if let Ok(mut latest) = latest.lock()
        && latest.id == id
    {
        latest.closed = true;
    }
}
