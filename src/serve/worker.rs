//! One worker: a thread that owns one long-lived VM, as an Envoy worker does. It takes requests
//! one at a time, keeps the root context alive between them, delivers ticks on the real clock, and
//! starts a fresh VM after the plugin traps, so one bad request does not take the server down.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use super::live::{Client, Live};
use super::network::{Proxied, proxy};
use super::pool::Seat;
use super::upstream::Upstream;
use super::{AccessRecord, ServeObserver};
use crate::host::{HostError, Plugin, Request, Status, Vm, VmOptions};

/// How long a worker waits for work when the plugin asked for no ticks.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// What a worker is asked to do.
pub(crate) enum Job {
    Http(Box<HttpJob>),
    /// Proxy one TCP connection through a network plugin.
    Connection {
        client: std::net::TcpStream,
        reply: tokio::sync::oneshot::Sender<Proxied>,
    },
    /// Start a VM of `plugin` with `options` and serve with it from now on; the old one stays if
    /// it fails.
    Swap {
        plugin: Arc<Plugin>,
        options: Box<VmOptions>,
        reply: Sender<Result<(), HostError>>,
    },
}

/// One HTTP request from a client: its head, its body still to come, and where the response goes.
pub(crate) struct HttpJob {
    pub head: Request,
    pub client: Client,
    pub started: Instant,
    pub observer: Arc<dyn ServeObserver>,
}

/// A worker's way to the upstream, and the runtime it waits on both sides with.
pub(crate) struct Io {
    pub upstream: Upstream,
    pub runtime: tokio::runtime::Runtime,
}

pub(crate) struct Worker {
    pub plugin: Arc<Plugin>,
    pub options: VmOptions,
    /// `None` after a trap, until the next request starts a fresh one.
    pub vm: Option<Vm>,
    pub fail_open: bool,
}

impl Worker {
    /// Serves `first`, then jobs until every sender is gone: those sent to it, and after each
    /// exchange or connection the one that waited longest for a worker.
    pub fn run(mut self, jobs: Receiver<Job>, first: Option<Job>, io: Io, seat: &Seat) {
        let mut clock = Instant::now();
        let mut next = first;
        loop {
            // What is asked of this worker itself (a swap) comes before a job that waited.
            let job = match jobs.try_recv() {
                Ok(job) => Some(job),
                Err(TryRecvError::Disconnected) if next.is_none() => return,
                Err(_) => match next.take() {
                    Some(job) => Some(job),
                    None => {
                        let wait = self.tick_period().unwrap_or(IDLE_WAIT);
                        match jobs.recv_timeout(wait) {
                            Ok(job) => Some(job),
                            Err(RecvTimeoutError::Timeout) => None,
                            Err(RecvTimeoutError::Disconnected) => return,
                        }
                    }
                },
            };
            self.catch_up(&mut clock);
            match job {
                Some(Job::Http(job)) => {
                    self.http(*job, &io);
                    next = seat.finished();
                }
                Some(Job::Connection { client, reply }) => {
                    let _ = reply.send(self.connection(client, &io));
                    next = seat.finished();
                }
                Some(Job::Swap {
                    plugin,
                    options,
                    reply,
                }) => {
                    let _ = reply.send(self.swap(plugin, *options));
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

    fn swap(&mut self, plugin: Arc<Plugin>, options: VmOptions) -> Result<(), HostError> {
        let vm = Vm::start(&plugin, options.clone())?;
        self.plugin = plugin;
        self.options = options;
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

    fn connection(&mut self, client: std::net::TcpStream, io: &Io) -> Proxied {
        let mut proxied = Proxied::default();
        let Upstream::Tcp(addr) = io.upstream else {
            return proxied;
        };
        let result = self.with_vm(|vm| io.runtime.block_on(proxy(vm, client, addr, &mut proxied)));
        proxied.failure = result.err();
        proxied
    }

    /// One request through the plugin, streamed both ways. When the plugin fails or stalls
    /// before the client got anything, it gets a 500 saying why (or, with fail-open after a
    /// failure, the upstream's unfiltered answer); after that, its response is broken off.
    fn http(&mut self, job: HttpJob, io: &Io) {
        let HttpJob {
            head,
            client,
            started,
            observer,
        } = job;
        let mut live = Live::new(
            &io.runtime,
            &io.upstream,
            &head.method,
            client,
            self.fail_open,
        );
        let has_body = live.has_body();
        let result = self.with_vm(|vm| vm.http_exchange(&head, has_body, &mut live));
        let (stalled, failure) = match result {
            Ok(ended) => (ended.stalled, None),
            Err(err) => (None, Some(err)),
        };
        if live.status.is_none() {
            match (&failure, &stalled) {
                (Some(_), _) if self.fail_open => live.pass_unfiltered(&head),
                (Some(err), _) => live.reply(
                    Status::INTERNAL_SERVER_ERROR,
                    &format!("the plugin failed: {err}\n"),
                ),
                // Envoy would hold the request until its timeout; a development server says why
                // at once.
                (None, Some(why)) => live.reply(Status::INTERNAL_SERVER_ERROR, &format!("{why}\n")),
                (None, None) => live.reply(
                    Status::INTERNAL_SERVER_ERROR,
                    "the exchange ended without a response\n",
                ),
            }
        }
        let status = live.status.unwrap_or(500);
        let stalled = stalled.or_else(|| live.framing_problem());
        drop(live);
        if let Some(err) = &failure {
            observer.plugin_failed(err);
        }
        observer.request(&AccessRecord {
            method: head.method,
            path: head.path,
            status,
            elapsed: started.elapsed(),
            stalled,
        });
    }
}
