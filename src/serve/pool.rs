//! The workers, and how requests and connections reach them. Each worker has a queue of its own; a
//! job goes to a worker with nothing to do, the first one first, so that a plugin's root context
//! sees the traffic of a quiet server in one place. When every worker is held by a long exchange (a
//! stream, a slow upstream, an open TCP connection), the pool grows by one worker, up to a limit,
//! as an Envoy worker would take a new stream beside the ones it holds; a worker it grew stays for
//! later jobs.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::error::ServeError;
use super::upstream::{Upstream, UpstreamTarget};
use super::worker::{Io, Job, Worker};
use crate::host::{HostError, Plugin, Vm, VmOptions};

/// How long a worker must have been on one job before it counts as held by a long exchange.
const LONG: Duration = Duration::from_millis(100);
/// The most workers the pool grows to.
const MAX_WORKERS: usize = 64;

/// How much a worker has to do: the jobs handed to it and not finished, and since when it has been
/// on the one it is on.
#[derive(Default)]
pub(crate) struct Load {
    pending: AtomicUsize,
    since: Mutex<Option<Instant>>,
}

impl Load {
    /// The worker starts a job.
    pub fn begin(&self) {
        *lock(&self.since) = Some(Instant::now());
    }

    /// The worker finished a job.
    pub fn end(&self) {
        *lock(&self.since) = None;
        self.pending.fetch_sub(1, Ordering::Relaxed);
    }

    fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    fn held_long(&self) -> bool {
        lock(&self.since).is_some_and(|since| since.elapsed() >= LONG)
    }
}

/// What a new worker is made of.
pub(crate) struct Recipe {
    /// The module served now, and its options; a swap replaces both.
    pub plugin: Arc<Plugin>,
    pub options: VmOptions,
    pub fail_open: bool,
    pub target: UpstreamTarget,
    /// Told when a worker's thread ends.
    pub exited: Sender<()>,
}

impl Recipe {
    /// A worker of the module served now; its VM starts with its first job.
    pub fn worker(&self) -> Worker {
        Worker {
            plugin: self.plugin.clone(),
            options: self.options.clone(),
            vm: None,
            fail_open: self.fail_open,
        }
    }

    /// A worker with its VM started, or why the plugin did not start.
    pub fn started_worker(&self) -> Result<Worker, HostError> {
        let vm = Vm::start(&self.plugin, self.options.clone())?;
        Ok(Worker {
            vm: Some(vm),
            ..self.worker()
        })
    }
}

/// One worker, as the pool hands it jobs.
struct Handle {
    jobs: Sender<Job>,
    load: Arc<Load>,
}

pub(crate) struct Pool {
    workers: Mutex<Vec<Handle>>,
    recipe: Mutex<Recipe>,
    /// Workers started, for waiting on them at shutdown.
    started: AtomicUsize,
    closed: AtomicBool,
}

impl Pool {
    pub fn new(recipe: Recipe) -> Pool {
        Pool {
            workers: Mutex::new(Vec::new()),
            recipe: Mutex::new(recipe),
            started: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Starts `worker` on a thread of its own; it takes jobs from now on.
    pub fn start(&self, worker: Worker) -> Result<(), ServeError> {
        let (io, exited) = {
            let recipe = lock(&self.recipe);
            let io = Io {
                upstream: Upstream::new(&recipe.target).map_err(ServeError::Runtime)?,
                runtime: super::worker_runtime().map_err(ServeError::Runtime)?,
            };
            (io, recipe.exited.clone())
        };
        let (jobs, queue) = channel();
        let load = Arc::new(Load::default());
        let worker_load = load.clone();
        let index = self.started.fetch_add(1, Ordering::Relaxed);
        std::thread::Builder::new()
            .name(format!("wasmctl-worker-{index}"))
            .spawn(move || {
                worker.run(queue, io, &worker_load);
                let _ = exited.send(());
            })
            .map_err(ServeError::Runtime)?;
        let mut workers = lock(&self.workers);
        // A worker grown as the pool closed gets no queue to wait on: it ends at once.
        if !self.closed.load(Ordering::Relaxed) {
            workers.push(Handle { jobs, load });
        }
        Ok(())
    }

    /// Hands an exchange or connection to the first worker with nothing to do (growing one when
    /// every worker is held by a long exchange), else to the one with least to do; false once the
    /// pool is closed.
    pub fn send(&self, job: Job) -> bool {
        if self.needs_growth() {
            let worker = lock(&self.recipe).worker();
            if let Err(err) = self.start(worker) {
                tracing::debug!(%err, "the pool could not grow");
            }
        }
        let workers = lock(&self.workers);
        let Some(index) = (workers.iter().position(|w| w.load.pending() == 0))
            .or_else(|| (0..workers.len()).min_by_key(|&i| workers[i].load.pending()))
        else {
            return false;
        };
        workers[index].load.pending.fetch_add(1, Ordering::Relaxed);
        workers[index].jobs.send(job).is_ok()
    }

    fn needs_growth(&self) -> bool {
        let workers = lock(&self.workers);
        !self.closed.load(Ordering::Relaxed)
            && !workers.is_empty()
            && workers.len() < MAX_WORKERS
            && workers.iter().all(|w| w.load.held_long())
    }

    /// Hands every worker a job made by `job`, waiting for each one's reply.
    pub fn broadcast<T>(&self, job: impl Fn(Sender<T>) -> Job) -> Result<Vec<T>, ServeError> {
        let senders: Vec<Sender<Job>> =
            lock(&self.workers).iter().map(|w| w.jobs.clone()).collect();
        let mut replies = Vec::new();
        for sender in senders {
            let (reply, answer) = channel();
            sender.send(job(reply)).map_err(|_| ServeError::Stopped)?;
            replies.push(answer.recv().map_err(|_| ServeError::Stopped)?);
        }
        Ok(replies)
    }

    /// From now on, workers the pool grows serve `plugin` with `options`.
    pub fn serve_next(&self, plugin: Arc<Plugin>, options: VmOptions) {
        let mut recipe = lock(&self.recipe);
        recipe.plugin = plugin;
        recipe.options = options;
    }

    /// Lets the workers end once their queues are empty; returns how many were started.
    pub fn close(&self) -> usize {
        self.closed.store(true, Ordering::Relaxed);
        lock(&self.workers).clear();
        self.started.load(Ordering::Relaxed)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
