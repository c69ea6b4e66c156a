//! The downstream client: sends one request, or plays one connection, through a listener over a
//! real socket, and gathers what came out the other side.

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use super::bootstrap::listener_name;
use super::calls::Unanswered;
use super::http1::{message_bytes, read_response};
use super::logs::callback_failure;
use super::{Envoy, EnvoyError, io};
use crate::host::{
    FinalResponse, HeaderMap, HostError, HttpOutcome, LocalReply, NetworkEvent, NetworkOutcome,
    Request, Response,
};

impl Envoy {
    /// Sends one request through the plugin on `listener`; `response` is what the upstream answers.
    /// A plugin that fails on the way is an [`EnvoyError::Plugin`], as the built-in host reports it.
    pub fn http(
        &mut self,
        listener: usize,
        request: &Request,
        response: &Response,
    ) -> Result<HttpOutcome, EnvoyError> {
        let log_start = self.process.log.end();
        let outcome = self.exchange(listener, request, response, log_start);
        self.failed_since(log_start, listener)?;
        self.unanswered_call(log_start, listener)?;
        outcome
    }

    /// Runs one connection through the network plugin on `listener`; a plugin that fails on the
    /// way is an [`EnvoyError::Plugin`].
    pub fn connection(
        &mut self,
        listener: usize,
        events: &[NetworkEvent],
    ) -> Result<NetworkOutcome, EnvoyError> {
        let log_start = self.process.log.end();
        let outcome = self.play_connection(listener, events, log_start);
        self.failed_since(log_start, listener)?;
        outcome
    }

    /// The plugin's failure, if Envoy logged one from byte `start` on, with what the plugin
    /// logged before it.
    fn failed_since(&self, start: usize, listener: usize) -> Result<(), EnvoyError> {
        match callback_failure(&self.process.log.text_since(start)) {
            Some((callback, message)) => Err(self.failure(start, listener, callback, message)),
            None => Ok(()),
        }
    }

    /// The plugin on `listener` failed in `callback`, with what it logged from byte `start` on.
    fn failure(
        &self,
        start: usize,
        listener: usize,
        callback: &'static str,
        message: String,
    ) -> EnvoyError {
        EnvoyError::Plugin(HostError::Trap {
            callback,
            message,
            logs: self
                .process
                .log
                .plugin_lines_since(start, &listener_name(listener)),
            refused: None,
        })
    }

    /// A call the script had no answer for fails the exchange, as it fails the plugin in the
    /// built-in host.
    fn unanswered_call(&self, start: usize, listener: usize) -> Result<(), EnvoyError> {
        match self.calls.take_unanswered() {
            None => Ok(()),
            Some(Unanswered { call, message }) => Err(self.failure(start, listener, call, message)),
        }
    }

    fn exchange(
        &mut self,
        listener: usize,
        request: &Request,
        response: &Response,
        log_start: usize,
    ) -> Result<HttpOutcome, EnvoyError> {
        let port = self.port(listener)?;
        self.upstream.set_response(response.clone());
        let stream = connect(port, Duration::from_secs(10))?;
        (&stream)
            .write_all(&request_bytes(request))
            .map_err(io("sending the request"))?;
        let logs = |envoy: &Envoy| {
            envoy
                .process
                .log
                .plugin_lines_since(log_start, &listener_name(listener))
        };
        let Some(message) = read_response(&mut BufReader::new(&stream), &request.method) else {
            // Envoy reset the stream (or it never went on): the exchange stopped short, as the
            // built-in host reports a stream the plugin reset or held.
            let _ = stream.shutdown(Shutdown::Both);
            self.wait_until_idle(listener)?;
            return Ok(HttpOutcome {
                upstream: self.upstream.take_received(),
                local_reply: None,
                response: None,
                stalled: Some("Envoy sent the client no response".into()),
                logs: logs(self),
            });
        };
        let status = message
            .status()
            .ok_or_else(|| EnvoyError::Io(format!("bad status line `{}`", message.start_line)))?;
        // Closing ends the stream's life in Envoy, the plugin's last callbacks included.
        let _ = stream.shutdown(Shutdown::Both);
        self.wait_until_idle(listener)?;
        let mut headers = HeaderMap::new();
        headers.add(":status", &status.to_string());
        for (name, value) in message.headers.iter() {
            headers.add(name, value);
        }
        let reached = self.upstream.take_received();
        let local_reply = reached.is_none().then(|| LocalReply {
            status,
            details: String::new(),
            headers: headers.clone(),
            body: message.body.clone(),
            callback: "envoy",
        });
        Ok(HttpOutcome {
            upstream: reached,
            local_reply,
            response: Some(FinalResponse {
                status,
                headers,
                body: message.body,
                trailers: message.trailers,
            }),
            stalled: None,
            logs: logs(self),
        })
    }

    fn play_connection(
        &mut self,
        listener: usize,
        events: &[NetworkEvent],
        log_start: usize,
    ) -> Result<NetworkOutcome, EnvoyError> {
        let port = self.port(listener)?;
        self.peer.reset();
        let mut client = connect(port, Duration::from_secs(5))?;
        // tcp_proxy connects upstream as soon as the client connects.
        wait_until("the upstream connection", || self.peer.stream().is_some())?;
        let to_downstream = self.play(&mut client, events)?;
        let _ = client.shutdown(Shutdown::Both);
        wait_until("the upstream to close", || self.peer.closed())?;
        self.wait_until_idle(listener)?;
        Ok(NetworkOutcome {
            to_upstream: self.peer.received(),
            to_downstream,
            closed_by_plugin: false,
            logs: self
                .process
                .log
                .plugin_lines_since(log_start, &listener_name(listener)),
        })
    }

    /// Plays `events` on the client and the TCP peer; returns what reached the client.
    fn play(
        &mut self,
        client: &mut TcpStream,
        events: &[NetworkEvent],
    ) -> Result<Vec<u8>, EnvoyError> {
        let mut sent = 0;
        let mut to_downstream = Vec::new();
        for event in events {
            match event {
                NetworkEvent::Downstream(data) => {
                    client.write_all(data).map_err(io("writing"))?;
                    sent += data.len();
                    wait_until("data upstream", || self.peer.received().len() >= sent)?;
                }
                NetworkEvent::Upstream(data) => {
                    let mut peer = self
                        .peer
                        .stream()
                        .ok_or_else(|| EnvoyError::Io("no upstream".into()))?;
                    peer.write_all(data).map_err(io("writing upstream"))?;
                    let mut buf = vec![0; data.len()];
                    client.read_exact(&mut buf).map_err(io("reading"))?;
                    to_downstream.extend_from_slice(&buf);
                }
                NetworkEvent::CloseDownstream => break,
                NetworkEvent::CloseUpstream => {
                    if let Some(peer) = self.peer.stream() {
                        let _ = peer.shutdown(Shutdown::Both);
                    }
                    let mut rest = Vec::new();
                    let _ = client.read_to_end(&mut rest);
                    to_downstream.extend_from_slice(&rest);
                    break;
                }
            }
        }
        Ok(to_downstream)
    }

    /// Waits until `listener` holds no connection: then the plugin has run its last callback and
    /// its log lines are written.
    fn wait_until_idle(&self, listener: usize) -> Result<(), EnvoyError> {
        let name = listener_name(listener);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.process.admin.active_connections(&name)? > 0 {
            if Instant::now() > deadline {
                return Err(EnvoyError::Io(format!(
                    "timed out waiting for listener `{name}` to close its connections"
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        // The plugin's calls of the case answered too, so their callbacks' logs and the calls
        // themselves belong to it. A call held open (a gRPC stream the plugin never ends) is
        // waited for a second at most: it is not this case's to finish.
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.process.admin.requests_in_flight(self.calls.names())? > 0
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }
}

fn connect(port: u16, read_timeout: Duration) -> Result<TcpStream, EnvoyError> {
    let stream = TcpStream::connect(("127.0.0.1", port)).map_err(io("connecting to envoy"))?;
    stream
        .set_read_timeout(Some(read_timeout))
        .map_err(io("socket"))?;
    Ok(stream)
}

/// The request on the wire: the headers the built-in host gives the plugin, less what a proxy
/// adds.
fn request_bytes(request: &Request) -> Vec<u8> {
    let start = format!("{} {} HTTP/1.1", request.method, request.path);
    let headers = request.client_headers();
    let host = std::iter::once(("host", request.host()));
    let trailers = request.trailers.iter().map(|(n, v)| (n, v)).collect();
    message_bytes(&start, host.chain(headers.iter()), &request.body, &trailers)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) -> Result<(), EnvoyError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        if Instant::now() > deadline {
            return Err(EnvoyError::Io(format!("timed out waiting for {what}")));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}
