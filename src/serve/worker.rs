//! One worker: a thread that owns one long-lived VM, as an Envoy worker does. It takes requests
//! one at a time, keeps the root context alive between them, delivers ticks on the real clock, and
//! starts a fresh VM after the plugin traps, so one bad request does not take the server down.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use super::network::{Proxied, proxy};
use super::upstream::Upstream;
use crate::host::{ForwardedRequest, HostError, HttpOutcome, Plugin, Request, Vm, VmOptions};

/// How long a worker waits for work when the plugin asked for no ticks.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// What a worker is asked to do.
pub(crate) enum Job {
    Http {
        request: Box<Request>,
        /// The sizes of the chunks its body came in.
        chunks: Vec<usize>,
        reply: tokio::sync::oneshot::Sender<Answer>,
    },
    /// Proxy one TCP connection through a network plugin.
    Connection {
        client: std::net::TcpStream,
        reply: tokio::sync::oneshot::Sender<Proxied>,
    },
    /// Start a VM of `plugin` and serve with it from now on; the old one stays if it fails.
    Swap {
        plugin: Arc<Plugin>,
        reply: Sender<Result<(), HostError>>,
    },
}

/// What the client gets for one request.
pub(crate) struct Answer {
    pub status: u16,
    /// Without pseudo-headers.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The plugin failed on this request (the answer is then a 500, or the request passed
    /// unfiltered with fail-open).
    pub failure: Option<HostError>,
    /// Why the plugin left the exchange unfinished, when it did.
    pub stalled: Option<String>,
}

pub(crate) struct Worker {
    pub plugin: Arc<Plugin>,
    pub options: VmOptions,
    /// `None` after a trap, until the next request starts a fresh one.
    pub vm: Option<Vm>,
    pub fail_open: bool,
}

impl Worker {
    /// Serves jobs until every sender is gone.
    pub fn run(mut self, jobs: Receiver<Job>, upstream: Upstream) {
        let mut clock = Instant::now();
        loop {
            let wait = self.tick_period().unwrap_or(IDLE_WAIT);
            let job = match jobs.recv_timeout(wait) {
                Ok(job) => Some(job),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            self.catch_up(&mut clock);
            match job {
                Some(Job::Http {
                    request,
                    chunks,
                    reply,
                }) => {
                    let _ = reply.send(self.http(&request, &chunks, &upstream));
                }
                Some(Job::Connection { client, reply }) => {
                    let _ = reply.send(self.connection(client, &upstream));
                }
                Some(Job::Swap { plugin, reply }) => {
                    let _ = reply.send(self.swap(plugin));
                }
                None => {}
            }
        }
    }

    fn tick_period(&self) -> Option<Duration> {
        self.vm.as_ref().and_then(Vm::tick_period)
    }

    /// Moves the VM's clock to now, delivering the ticks that fell due.
    fn catch_up(&mut self, clock: &mut Instant) {
        let now = Instant::now();
        let elapsed = now - *clock;
        *clock = now;
        if let Some(vm) = &mut self.vm
            && vm.advance(elapsed).is_err()
        {
            self.vm = None;
        }
        if let Some(vm) = &mut self.vm {
            // A long-running server must not keep every line the plugin ever logged.
            vm.clear_logs();
        }
    }

    fn swap(&mut self, plugin: Arc<Plugin>) -> Result<(), HostError> {
        let vm = Vm::start(&plugin, self.options.clone())?;
        self.plugin = plugin;
        self.vm = Some(vm);
        Ok(())
    }

    /// Runs `f` on the VM, starting a fresh one when the last trapped. A VM that trapped may be
    /// left half-way through its own state: it is not reused.
    fn with_vm<T>(
        &mut self,
        f: impl FnOnce(&mut Vm) -> Result<T, HostError>,
    ) -> Result<T, HostError> {
        let mut vm = match self.vm.take() {
            Some(vm) => vm,
            None => Vm::start(&self.plugin, self.options.clone())?,
        };
        let result = f(&mut vm);
        if result.is_ok() {
            self.vm = Some(vm);
        }
        result
    }

    fn connection(&mut self, client: std::net::TcpStream, upstream: &Upstream) -> Proxied {
        let mut proxied = Proxied::default();
        let Upstream::Tcp { addr, runtime } = upstream else {
            return proxied;
        };
        let result = self.with_vm(|vm| runtime.block_on(proxy(vm, client, *addr, &mut proxied)));
        proxied.failure = result.err();
        proxied
    }

    fn http(&mut self, request: &Request, chunks: &[usize], upstream: &Upstream) -> Answer {
        let result =
            self.with_vm(|vm| vm.http_through(request, chunks, &mut |fwd| upstream.exchange(fwd)));
        match result {
            Ok(outcome) => answer_of(outcome),
            Err(err) if self.fail_open => {
                let forwarded = ForwardedRequest {
                    headers: request.header_map("fail-open"),
                    body: request.body.clone(),
                    trailers: request.trailers.iter().map(|(n, v)| (n, v)).collect(),
                };
                let (response, _) = upstream.exchange(&forwarded);
                Answer {
                    status: response.status,
                    headers: response.headers,
                    body: response.body,
                    failure: Some(err),
                    stalled: None,
                }
            }
            Err(err) => Answer {
                status: 500,
                headers: vec![("content-type".into(), "text/plain".into())],
                body: format!("the plugin failed: {err}\n").into_bytes(),
                failure: Some(err),
                stalled: None,
            },
        }
    }
}

fn answer_of(outcome: HttpOutcome) -> Answer {
    match outcome.response {
        Some(response) => Answer {
            status: response.status,
            headers: response
                .headers
                .iter()
                .filter(|(n, _)| !n.starts_with(':'))
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: response.body,
            failure: None,
            stalled: outcome.stalled,
        },
        // Envoy would hold the request until its timeout; a development server says why at once.
        None => {
            let why = outcome
                .stalled
                .unwrap_or_else(|| "the stream stalled".into());
            Answer {
                status: 500,
                headers: vec![("content-type".into(), "text/plain".into())],
                body: format!("{why}\n").into_bytes(),
                failure: None,
                stalled: Some(why),
            }
        }
    }
}
