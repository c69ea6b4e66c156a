//! `wasmctl serve`: the plugin in the built-in host behind a real listener, for curl, a browser or
//! a load generator. HTTP plugins get an HTTP/1 server (hyper) that sends each request through the
//! plugin to an upstream URL, or to a built-in echo; network plugins get a TCP proxy.
//!
//! Each worker is a thread with one long-lived VM, as an Envoy worker has: the root context lives
//! as long as the server, ticks come on the real clock, and a request that makes the plugin trap
//! gets a 500 (or passes unfiltered with fail-open) while the next one runs in a fresh VM.

mod cluster;
mod echo;
mod envoy;
mod error;
mod exchange;
mod h2c;
mod live;
mod network;
mod pool;
mod upstream;
mod worker;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use envoy::EnvoyServer;
pub use error::ServeError;

use crate::host::{HostError, Plugin, Vm};
use crate::key_value::KeyValue;
use crate::project::StaleBuild;
use crate::scenario::{PluginSetup, RunOptions};
use cluster::Clusters;
use pool::{Pool, Recipe};
use upstream::UpstreamTarget;
use worker::{Job, Worker};

/// What `wasmctl serve` serves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The plugin and its configuration, found as `run` finds them (traffic is not used).
    pub plugin: RunOptions,
    pub listen: SocketAddr,
    pub upstreams: Upstreams,
    /// Pass a request on unfiltered when the plugin traps on it, rather than answer 500.
    pub fail_open: bool,
    /// Worker threads, each with its own VM.
    pub workers: usize,
}

/// Where traffic leaves the plugin for, as Envoy's clusters: the upstream requests go on to, and
/// the clusters the plugin's http_calls name.
#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    /// An HTTP plugin's upstream URL, a network plugin's HOST:PORT; the echo when absent (HTTP).
    pub upstream: Option<String>,
    /// The clusters the plugin's http_calls go to: NAME=URL.
    pub clusters: Vec<KeyValue>,
}

impl Upstreams {
    /// The upstream, read as the plugin's kind reads it: a URL for HTTP, HOST:PORT for a network
    /// plugin.
    pub(crate) fn target(&self, network: bool) -> Result<UpstreamTarget, ServeError> {
        match network {
            true => UpstreamTarget::parse_tcp(self.upstream.as_deref()),
            false => UpstreamTarget::parse(self.upstream.as_deref()),
        }
    }
}

/// One line of the access log.
#[derive(Debug, Clone)]
pub struct AccessRecord {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub elapsed: Duration,
    /// Why the exchange did not end well, when it did not: the plugin left it unfinished, or let
    /// through a body its content-length does not match.
    pub stalled: Option<String>,
}

/// One proxied connection, for the access log of a network plugin.
#[derive(Debug, Clone)]
pub struct ConnectionRecord {
    pub peer: SocketAddr,
    pub to_upstream: u64,
    pub to_downstream: u64,
    pub elapsed: Duration,
    pub closed_by_plugin: bool,
}

/// Told what the server does, from whichever thread does it.
pub trait ServeObserver: Send + Sync {
    fn request(&self, record: &AccessRecord);
    fn connection(&self, _record: &ConnectionRecord) {}
    /// The plugin failed on a request or connection; the next one gets a fresh VM.
    fn plugin_failed(&self, err: &HostError);
    /// Envoy (`serve --envoy`) reported the plugin failing, with what the plugin logged then.
    fn plugin_failed_in_envoy(&self, _failure: &str, _logs: &[crate::host::LogRecord]) {}
}

/// The plugin a server serves, as it was found.
#[derive(Debug, Clone)]
pub struct Served {
    /// The module.
    pub wasm: PathBuf,
    /// Whether it is a network plugin, behind a TCP proxy.
    pub network: bool,
    /// The project's last build, when it is the module and a source changed after it.
    pub stale_build: Option<StaleBuild>,
}

impl Served {
    fn of(setup: &crate::scenario::PluginSetup) -> Served {
        Served {
            wasm: setup.wasm.clone(),
            network: setup.network,
            stale_build: setup.stale_build.clone(),
        }
    }
}

/// A server with its plugin started in every worker and its listener bound, not yet serving.
pub struct Server {
    listener: std::net::TcpListener,
    served: Served,
    /// The first workers, each with its VM started.
    workers: Vec<Worker>,
    pool: Arc<Pool>,
    /// Told when a worker's thread ends.
    exits: std::sync::mpsc::Receiver<()>,
    runtime: tokio::runtime::Runtime,
    /// How the plugin was found, and the clusters its calls go to: a swap finds it again.
    plugin: RunOptions,
    clusters: Arc<Clusters>,
}

/// Stops the server when it completes.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Server {
    /// What can be checked of `options` before there is a module: the clusters, the upstream
    /// (read as a network plugin's when `network`) and that the listen address is free. `dev`
    /// checks them at start, so bad flags stop it there rather than leave it serving nothing.
    pub fn check(options: &ServeOptions, network: bool) -> crate::Result<()> {
        Clusters::new(&options.upstreams.clusters)?;
        options.upstreams.target(network)?;
        listen(options.listen)?;
        Ok(())
    }

    /// Finds and compiles the plugin, starts it in every worker (a trap or a rejected
    /// configuration refuses to start), and binds the listener.
    pub fn bind(options: &ServeOptions) -> crate::Result<Server> {
        let clusters = Arc::new(Clusters::new(&options.upstreams.clusters)?);
        let setup = setup(&options.plugin, &clusters)?;
        let target = options.upstreams.target(setup.network)?;
        let served = Served::of(&setup);
        let (exited, exits) = std::sync::mpsc::channel();
        let recipe = Recipe {
            plugin: Arc::new(Plugin::from_file(&setup.wasm)?),
            options: setup.options,
            fail_open: options.fail_open,
            target,
            exited,
        };
        let workers = (0..options.workers.max(1))
            .map(|_| recipe.started_worker())
            .collect::<Result<Vec<_>, _>>()
            .map_err(ServeError::Start)?;
        let listener = listen(options.listen)?;
        listener
            .set_nonblocking(true)
            .map_err(ServeError::Runtime)?;
        let runtime = runtime().map_err(ServeError::Runtime)?;
        Ok(Server {
            listener,
            served,
            workers,
            pool: Arc::new(Pool::new(recipe)),
            exits,
            runtime,
            plugin: options.plugin.clone(),
            clusters,
        })
    }

    /// The address it listens on (the port the system chose, for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The plugin it serves.
    pub fn served(&self) -> &Served {
        &self.served
    }

    /// A handle that swaps the plugin the workers run, without dropping the listener.
    pub fn swapper(&self) -> Swapper {
        Swapper {
            pool: self.pool.clone(),
            plugin: self.plugin.clone(),
            clusters: self.clusters.clone(),
            network: self.served.network,
        }
    }

    /// Serves until `shutdown` completes, then lets the requests in flight finish.
    pub fn run(self, observer: Arc<dyn ServeObserver>, shutdown: Shutdown) -> crate::Result<()> {
        let Server {
            listener,
            served: Served { network, .. },
            workers,
            pool,
            exits,
            runtime,
            ..
        } = self;
        for worker in workers {
            pool.start(worker)?;
        }
        let grower = {
            let pool = pool.clone();
            std::thread::Builder::new()
                .name("wasmctl-pool".into())
                .spawn(move || pool.grow_while_open())
                .map_err(ServeError::Runtime)?
        };
        let served = runtime.block_on(async {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            match network {
                true => network::serve(listener, pool.clone(), observer, shutdown).await,
                false => serve_http(listener, pool.clone(), observer, shutdown).await,
            }
        });
        let started = pool.close();
        let _ = grower.join();
        // An HTTP worker finishes its exchange (and its access-log line) before the server is
        // done. A network worker may be inside a long-lived connection: it is not waited for.
        if !network {
            let deadline = std::time::Instant::now() + DRAIN_TIME;
            for _ in 0..started {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if exits.recv_timeout(left).is_err() {
                    break;
                }
            }
        }
        Ok(served.map_err(ServeError::Runtime)?)
    }
}

/// The plugin as `plugin` finds it now, with the options a server's VMs run it with.
fn setup(plugin: &RunOptions, clusters: &Arc<Clusters>) -> crate::Result<PluginSetup> {
    let mut setup = crate::scenario::resolve(plugin)?;
    setup.options.caller = Some(clusters.clone());
    // As `serve --envoy`'s route: no limit on a response that keeps coming.
    setup.options.route_timeout = None;
    Ok(setup)
}

/// A runtime for one thread of the server (the listener, a worker, the echo): current-thread,
/// with I/O and timers.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// The listener on `addr`, or why there can be none.
fn listen(addr: SocketAddr) -> Result<std::net::TcpListener, ServeError> {
    std::net::TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })
}

/// A worker's runtime: one thread of its own drives the upstream connections while the worker
/// waits for its next job, so a keep-alive connection the upstream closes while idle leaves the
/// pool then, instead of failing the next request that takes it (Envoy watches idle connections
/// the same way).
fn worker_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("wasmctl-upstream")
        .enable_all()
        .build()
}

/// How long requests in flight may take to finish after the shutdown signal.
const DRAIN_TIME: Duration = Duration::from_secs(10);

async fn serve_http(
    listener: tokio::net::TcpListener,
    pool: Arc<Pool>,
    observer: Arc<dyn ServeObserver>,
    mut shutdown: Shutdown,
) -> std::io::Result<()> {
    use hyper_util::rt::TokioIo;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let (pool, observer) = (pool.clone(), observer.clone());
                let service = hyper::service::service_fn(move |req| {
                    exchange::handle(req, pool.clone(), observer.clone())
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_TIME, graceful.shutdown()).await;
    Ok(())
}

/// Swaps the plugin a running server's workers use.
#[derive(Clone)]
pub struct Swapper {
    pool: Arc<Pool>,
    plugin: RunOptions,
    clusters: Arc<Clusters>,
    network: bool,
}

impl Swapper {
    /// Finds the plugin again as the server first found it (its module, pluginConfig, vm_config),
    /// compiles it and starts it in every worker: module and configuration change together. A
    /// worker whose new VM fails to start keeps the old one, and the error says why.
    pub fn swap(&self) -> crate::Result<Served> {
        let setup = setup(&self.plugin, &self.clusters)?;
        if setup.network != self.network {
            return Err(ServeError::KindChanged {
                network: setup.network,
            }
            .into());
        }
        let plugin = Arc::new(Plugin::from_file(&setup.wasm)?);
        // Starting once here first means a plugin that fails to start reaches no worker.
        Vm::start(&plugin, setup.options.clone()).map_err(ServeError::Swap)?;
        let replies = self.pool.broadcast(|reply| Job::Swap {
            plugin: plugin.clone(),
            options: Box::new(setup.options.clone()),
            reply,
        })?;
        for reply in replies {
            reply.map_err(ServeError::Swap)?;
        }
        let served = Served::of(&setup);
        self.pool.serve_next(plugin, setup.options);
        Ok(served)
    }
}
