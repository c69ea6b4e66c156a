//! The workers, and how requests and connections reach them. A job goes to a worker with nothing
//! to do, the first one first, so that a plugin's root context sees the traffic of a quiet server
//! in one place. When every worker is busy the job waits, and a worker that finishes takes the
//! job that has waited longest. A job that has waited [`WAIT`] gets a worker of its own, grown for
//! it, up to a limit, as an Envoy worker would take a new stream beside the ones it holds: so a
//! burst of slow requests runs side by side, not one after another. A grown worker stays for later
//! jobs.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::error::ServeError;
use super::upstream::{Upstream, UpstreamTarget};
use super::worker::{Io, Job, Worker};
use crate::host::{HostError, Plugin, Vm, VmOptions};

/// How long a job waits for a busy worker before the pool grows one for it: long enough that a
/// burst of quick requests is served by the workers there are, short next to a slow upstream.
const WAIT: Duration = Duration::from_millis(20);
/// The most workers the pool grows to.
const MAX_WORKERS: usize = 64;

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
    id: usize,
    jobs: Sender<Job>,
    /// On a job (or about to be): it gets no other until it asks for one.
    busy: bool,
}

/// Who does what: the workers, the jobs waiting for one, and whether the pool takes jobs.
#[derive(Default)]
struct Dispatch {
    workers: Vec<Handle>,
    waiting: VecDeque<(Instant, Job)>,
    closed: bool,
}

pub(crate) struct Pool {
    dispatch: Mutex<Dispatch>,
    /// Told when a job starts waiting, and when the pool closes.
    changed: Condvar,
    recipe: Mutex<Recipe>,
    /// Workers started, for waiting on them at shutdown.
    started: AtomicUsize,
}

/// A worker with all it needs to start.
struct Ready {
    worker: Worker,
    io: Io,
    exited: Sender<()>,
}

/// A worker's place in the pool: how it asks for its next job.
pub(crate) struct Seat {
    pool: Arc<Pool>,
    id: usize,
}

impl Seat {
    /// The job that has waited longest, or none, and the worker is free.
    pub fn finished(&self) -> Option<Job> {
        let mut dispatch = lock(&self.pool.dispatch);
        if let Some((_, job)) = dispatch.waiting.pop_front() {
            return Some(job);
        }
        if let Some(handle) = dispatch.workers.iter_mut().find(|h| h.id == self.id) {
            handle.busy = false;
        }
        None
    }
}

impl Pool {
    pub fn new(recipe: Recipe) -> Pool {
        Pool {
            dispatch: Mutex::new(Dispatch::default()),
            changed: Condvar::new(),
            recipe: Mutex::new(recipe),
            started: AtomicUsize::new(0),
        }
    }

    /// Starts `worker` on a thread of its own; it takes jobs from now on.
    pub fn start(self: &Arc<Self>, worker: Worker) -> Result<(), ServeError> {
        let ready = self.ready(worker)?;
        self.spawn(ready, None)
    }

    /// `worker` with its way to the upstream: all it needs to start.
    fn ready(&self, worker: Worker) -> Result<Ready, ServeError> {
        let recipe = lock(&self.recipe);
        let io = Io {
            upstream: Upstream::new(&recipe.target).map_err(ServeError::Runtime)?,
            runtime: super::worker_runtime().map_err(ServeError::Runtime)?,
        };
        let exited = recipe.exited.clone();
        Ok(Ready { worker, io, exited })
    }

    /// Starts a ready worker on a thread of its own, on `first` when given.
    fn spawn(self: &Arc<Self>, ready: Ready, first: Option<Job>) -> Result<(), ServeError> {
        let Ready { worker, io, exited } = ready;
        let (jobs, queue) = channel();
        let id = self.started.fetch_add(1, Ordering::Relaxed);
        {
            let mut dispatch = lock(&self.dispatch);
            // A worker started as the pool closed gets no queue to wait on: it ends after `first`.
            if !dispatch.closed {
                let busy = first.is_some();
                dispatch.workers.push(Handle { id, jobs, busy });
            }
        }
        let seat = Seat {
            pool: self.clone(),
            id,
        };
        let spawned = std::thread::Builder::new()
            .name(format!("wasmctl-worker-{id}"))
            .spawn(move || {
                worker.run(queue, first, io, &seat);
                let _ = exited.send(());
            });
        if let Err(err) = spawned {
            lock(&self.dispatch).workers.retain(|h| h.id != id);
            return Err(ServeError::Runtime(err));
        }
        Ok(())
    }

    /// Hands an exchange or connection to the first worker with nothing to do, else lets it wait
    /// for one; false once the pool is closed.
    pub fn send(&self, job: Job) -> bool {
        let mut dispatch = lock(&self.dispatch);
        if dispatch.closed {
            return false;
        }
        let mut job = job;
        while let Some(handle) = dispatch.workers.iter_mut().find(|h| !h.busy) {
            handle.busy = true;
            match handle.jobs.send(job) {
                Ok(()) => return true,
                // Its thread is gone: it takes no more jobs.
                Err(returned) => {
                    let id = handle.id;
                    dispatch.workers.retain(|h| h.id != id);
                    job = returned.0;
                }
            }
        }
        dispatch.waiting.push_back((Instant::now(), job));
        self.changed.notify_all();
        true
    }

    /// Until the pool closes: gives each job that has waited [`WAIT`] a worker of its own, up to
    /// [`MAX_WORKERS`]. Runs on a thread of its own.
    pub fn grow_while_open(self: &Arc<Self>) {
        let mut dispatch = lock(&self.dispatch);
        loop {
            if dispatch.closed {
                return;
            }
            let Some(due) = dispatch.waiting.front().map(|(since, _)| *since + WAIT) else {
                dispatch = self.wait(dispatch, None);
                continue;
            };
            let now = Instant::now();
            // At the limit, the jobs wait for workers to finish: look again a while later.
            let full = dispatch.workers.len() >= MAX_WORKERS;
            if due > now || full {
                let until = if full { WAIT } else { due - now };
                dispatch = self.wait(dispatch, Some(until));
                continue;
            }
            drop(dispatch);
            let worker = lock(&self.recipe).worker();
            let ready = self.ready(worker);
            dispatch = lock(&self.dispatch);
            let ready = match ready {
                Ok(ready) => ready,
                Err(err) => {
                    tracing::debug!(%err, "the pool could not grow");
                    dispatch = self.wait(dispatch, Some(WAIT));
                    continue;
                }
            };
            // A worker may have finished meanwhile and taken the job.
            let Some((_, job)) = dispatch.waiting.pop_front() else {
                continue;
            };
            drop(dispatch);
            if let Err(err) = self.spawn(ready, Some(job)) {
                tracing::debug!(%err, "the pool could not grow");
            }
            dispatch = lock(&self.dispatch);
        }
    }

    /// Waits until the dispatch changes (a job starts waiting, the pool closes), or `timeout`.
    fn wait<'a>(
        &self,
        dispatch: MutexGuard<'a, Dispatch>,
        timeout: Option<Duration>,
    ) -> MutexGuard<'a, Dispatch> {
        match timeout {
            Some(timeout) => match self.changed.wait_timeout(dispatch, timeout) {
                Ok((dispatch, _)) => dispatch,
                Err(poisoned) => poisoned.into_inner().0,
            },
            None => self
                .changed
                .wait(dispatch)
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        }
    }

    /// Hands every worker a job made by `job`, waiting for each one's reply.
    pub fn broadcast<T>(&self, job: impl Fn(Sender<T>) -> Job) -> Result<Vec<T>, ServeError> {
        let senders: Vec<Sender<Job>> = (lock(&self.dispatch).workers.iter())
            .map(|w| w.jobs.clone())
            .collect();
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
        let mut dispatch = lock(&self.dispatch);
        dispatch.closed = true;
        dispatch.workers.clear();
        dispatch.waiting.clear();
        self.changed.notify_all();
        self.started.load(Ordering::Relaxed)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
