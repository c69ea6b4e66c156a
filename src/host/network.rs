//! One TCP connection through a network (stream) filter: new connection, data both ways, each
//! side's end and close, then on_done, on_log, on_delete.

use serde::Serialize;

use super::http::lossy;
use super::state::{LogRecord, Stream};
use super::{HostError, Vm};

/// What happens on the connection, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkEvent {
    /// The client sends bytes.
    Downstream(Vec<u8>),
    /// The upstream sends bytes.
    Upstream(Vec<u8>),
    /// The client closes the connection.
    CloseDownstream,
    /// The upstream closes the connection.
    CloseUpstream,
}

/// What the plugin let through.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkOutcome {
    /// Bytes forwarded to the upstream.
    #[serde(serialize_with = "lossy")]
    pub to_upstream: Vec<u8>,
    /// Bytes forwarded to the client.
    #[serde(serialize_with = "lossy")]
    pub to_downstream: Vec<u8>,
    /// Whether the plugin refused the connection (paused it in on_new_connection) or closed it.
    pub closed_by_plugin: bool,
    pub logs: Vec<LogRecord>,
}

#[derive(Debug, Default)]
pub(crate) struct NetStream {
    /// The data from the client, and from the upstream.
    pub downstream: Direction,
    pub upstream: Direction,
    pub closed: bool,
    pub progress: ConnectionProgress,
}

/// One direction of a connection: the data waiting for the plugin to let it on, and whether the
/// plugin resumed it.
#[derive(Debug, Default)]
pub(crate) struct Direction {
    pub data: Vec<u8>,
    pub resumed: bool,
}

/// How far the connection has come: what Envoy's stream info keeps of it for the `request.time`,
/// `*.size` and `upstream.*` properties.
#[derive(Debug, Default)]
pub(crate) struct ConnectionProgress {
    /// When the connection came, on the host's clock.
    pub started_ns: u64,
    /// Envoy's `tcp_proxy` has connected upstream: after proxy_on_new_connection.
    pub connected: bool,
    /// Bytes from the client, and bytes the plugin let through to it, so far.
    pub received: usize,
    pub sent: usize,
}

impl NetStream {
    /// The stream of a connection that comes at `started_ns`.
    fn starting(started_ns: u64) -> Stream {
        let progress = ConnectionProgress {
            started_ns,
            ..ConnectionProgress::default()
        };
        Stream::Network(Box::new(NetStream {
            progress,
            ..NetStream::default()
        }))
    }

    /// The direction from the client (`downstream`) or from the upstream.
    fn side(&mut self, downstream: bool) -> &mut Direction {
        match downstream {
            true => &mut self.downstream,
            false => &mut self.upstream,
        }
    }
}

const PEER_UNKNOWN: i32 = 0;
const PEER_LOCAL: i32 = 1;

impl Vm {
    /// Runs one connection through the plugin.
    pub fn connection(&mut self, events: &[NetworkEvent]) -> Result<NetworkOutcome, HostError> {
        let context = self.new_context_id();
        let logs_before = self.store.data().logs.len();
        let now = self.store.data().clock_ns;
        self.store
            .data_mut()
            .begin_stream(context, NetStream::starting(now));
        let mut outcome = NetworkOutcome {
            to_upstream: Vec::new(),
            to_downstream: Vec::new(),
            closed_by_plugin: false,
            logs: Vec::new(),
        };
        let result = self.connection_lifecycle(context, events, &mut outcome);
        let finish = if result.is_ok() {
            self.finish_context(context)
        } else {
            Ok(())
        };
        self.store.data_mut().stream = Stream::None;
        result?;
        finish?;
        outcome.logs = self.store.data().logs[logs_before..].to_vec();
        Ok(outcome)
    }

    /// Opens a connection through the plugin to feed it one chunk at a time, as a live proxy
    /// does: its context is created and on_new_connection runs. One connection at a time per VM.
    pub fn open_connection(&mut self) -> Result<u32, HostError> {
        let context = self.new_context_id();
        let now = self.store.data().clock_ns;
        self.store
            .data_mut()
            .begin_stream(context, NetStream::starting(now));
        self.connection_opened(context)?;
        Ok(context)
    }

    /// Hands the plugin a chunk from the client (`downstream`) or the upstream on the connection
    /// [`Vm::open_connection`] opened; what passes on to the other side, unless held back.
    pub fn connection_data(
        &mut self,
        context: u32,
        bytes: &[u8],
        downstream: bool,
    ) -> Result<Option<Vec<u8>>, HostError> {
        self.data(context, bytes, downstream, false)
    }

    /// Whether the plugin has closed the open connection.
    pub fn connection_closed_by_plugin(&mut self) -> bool {
        self.net().closed
    }

    /// Closes the open connection as Envoy does (see `Vm::end_connection`) and ends its
    /// context. What the last data calls let through is not sent: the sockets are closing.
    pub fn close_connection(
        &mut self,
        context: u32,
        upstream_first: bool,
    ) -> Result<(), HostError> {
        let result = self
            .end_connection(context, upstream_first)
            .map(drop)
            .and_then(|()| self.finish_context(context));
        self.store.data_mut().stream = Stream::None;
        result
    }

    fn connection_opened(&mut self, context: u32) -> Result<(), HostError> {
        if let Some(create) = self.exports.on_context_create.clone() {
            self.call("proxy_on_context_create", |store| {
                create.call(store, (context as i32, super::vm::ROOT_CONTEXT as i32))
            })?;
        }
        if let Some(f) = self.exports.on_new_connection.clone() {
            self.call("proxy_on_new_connection", |store| {
                f.call(store, context as i32)
            })?;
            self.deliver_calls(context)?;
        }
        self.net().progress.connected = true;
        Ok(())
    }

    fn connection_lifecycle(
        &mut self,
        context: u32,
        events: &[NetworkEvent],
        outcome: &mut NetworkOutcome,
    ) -> Result<(), HostError> {
        self.connection_opened(context)?;
        let mut upstream_first = false;
        for event in events {
            if self.net().closed {
                outcome.closed_by_plugin = true;
                break;
            }
            match event {
                NetworkEvent::Downstream(bytes) => {
                    if let Some(data) = self.data(context, bytes, true, false)? {
                        outcome.to_upstream.extend_from_slice(&data);
                    }
                }
                NetworkEvent::Upstream(bytes) => {
                    if let Some(data) = self.data(context, bytes, false, false)? {
                        outcome.to_downstream.extend_from_slice(&data);
                    }
                }
                NetworkEvent::CloseDownstream => break,
                NetworkEvent::CloseUpstream => {
                    upstream_first = true;
                    break;
                }
            }
        }
        if self.net().closed {
            outcome.closed_by_plugin = true;
        }
        let (to_upstream, to_downstream) = self.end_connection(context, upstream_first)?;
        outcome.to_upstream.extend_from_slice(&to_upstream);
        outcome.to_downstream.extend_from_slice(&to_downstream);
        Ok(())
    }

    /// Ends the connection as Envoy 1.40's tcp_proxy does. It half-closes: the side that closes
    /// first has its data callback called once more, empty, with end_of_stream; the proxy passes
    /// the close on, and the other side's end follows. The plugin then hears of the upstream
    /// close (peer unknown) and of the downstream close, done by the proxy (local). When the
    /// upstream closes first, its close comes before the client's end. (A connection the plugin
    /// closed itself just closes.) Returns what the last data calls let through to the upstream
    /// and to the client.
    fn end_connection(
        &mut self,
        context: u32,
        upstream_first: bool,
    ) -> Result<(Vec<u8>, Vec<u8>), HostError> {
        let ends = !self.net().closed;
        let mut passed = (Vec::new(), Vec::new());
        let mut end = |vm: &mut Vm, downstream: bool| -> Result<(), HostError> {
            if ends && let Some(data) = vm.data(context, &[], downstream, true)? {
                match downstream {
                    true => passed.0.extend_from_slice(&data),
                    false => passed.1.extend_from_slice(&data),
                }
            }
            Ok(())
        };
        if upstream_first {
            end(self, false)?;
            self.close(context, false, PEER_UNKNOWN)?;
            end(self, true)?;
        } else {
            end(self, true)?;
            end(self, false)?;
            self.close(context, false, PEER_UNKNOWN)?;
        }
        self.close(context, true, PEER_LOCAL)?;
        Ok(passed)
    }

    /// Hands the plugin a chunk from the client (`downstream`) or from the upstream, or with
    /// `end_of_stream` that side's end; what passes on to the other side, unless the plugin holds
    /// it back.
    fn data(
        &mut self,
        context: u32,
        bytes: &[u8],
        downstream: bool,
        end_of_stream: bool,
    ) -> Result<Option<Vec<u8>>, HostError> {
        let exports = &self.exports;
        let (f, callback) = match downstream {
            true => (
                exports.on_downstream_data.clone(),
                "proxy_on_downstream_data",
            ),
            false => (exports.on_upstream_data.clone(), "proxy_on_upstream_data"),
        };
        let s = self.net();
        s.side(downstream).data.extend_from_slice(bytes);
        if downstream {
            s.progress.received += bytes.len();
        }
        if let Some(f) = f {
            let size = self.net().side(downstream).data.len() as i32;
            let action = self.call(callback, |store| {
                f.call(store, (context as i32, size, end_of_stream as i32))
            })?;
            self.deliver_calls(context)?;
            let resumed = &mut self.net().side(downstream).resumed;
            if action != 0 && !std::mem::take(resumed) {
                return Ok(None);
            }
        }
        let s = self.net();
        let passed = std::mem::take(&mut s.side(downstream).data);
        if !downstream {
            s.progress.sent += passed.len();
        }
        Ok(Some(passed))
    }

    fn close(&mut self, context: u32, downstream: bool, peer: i32) -> Result<(), HostError> {
        let (f, name) = if downstream {
            (
                self.exports.on_downstream_connection_close.clone(),
                "proxy_on_downstream_connection_close",
            )
        } else {
            (
                self.exports.on_upstream_connection_close.clone(),
                "proxy_on_upstream_connection_close",
            )
        };
        if let Some(f) = f {
            self.store.data_mut().active_context = context;
            self.call(name, |store| f.call(store, (context as i32, peer)))?;
        }
        Ok(())
    }

    fn net(&mut self) -> &mut NetStream {
        let install = || Stream::Network(Box::default());
        self.store
            .data_mut()
            .enter_stream(Stream::as_network, install)
    }
}
