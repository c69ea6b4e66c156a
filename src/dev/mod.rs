//! `wasmctl dev`: the inner loop on save. It watches the project, rebuilds with cargo's
//! incremental build, reruns the scenarios and reports each cycle; with a server it also swaps the
//! new module into the running `serve` without dropping its listener. A build that fails keeps the
//! last good module serving.

mod watch;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::build::{self, BuildOptions, BuildOutput};
use crate::error::Hint;
use crate::progress::Reporter;
use crate::project::Project;
use crate::scenario::{self, TestObserver, TestOptions, TestSummary};
use crate::serve::{ServeObserver, ServeOptions, Server, Swapper};
use watch::{ProjectWatch, Wait};

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("cannot watch the project: {0}")]
    Watch(String),
}

impl Hint for DevError {
    fn hints(&self) -> Vec<String> {
        match self {
            DevError::Watch(_) => {
                vec!["on Linux, raise fs.inotify.max_user_watches if the limit was reached".into()]
            }
        }
    }
}

/// What `wasmctl dev` does on every change.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// How to build; its project is the one watched.
    pub build: BuildOptions,
    /// Keep a server running with the newest good module.
    pub serve: Option<ServeOptions>,
    /// Changes closer together than this make one rebuild.
    pub debounce: Duration,
}

/// What a cycle did, as it happens.
pub enum DevEvent<'a> {
    /// Watching the project at `root`; a first cycle follows.
    Watching {
        root: &'a Path,
    },
    Changed {
        paths: &'a [PathBuf],
    },
    Built {
        output: &'a BuildOutput,
        took: Duration,
    },
    /// What cargo wrote to its stderr (its errors and warnings), as it is.
    CargoOutput {
        bytes: &'a [u8],
    },
    /// cargo (whose errors came as `CargoOutput`) or a module check failed.
    BuildFailed {
        error: &'a crate::Error,
        took: Duration,
    },
    Tested {
        summary: &'a TestSummary,
        took: Duration,
    },
    /// The scenarios could not run at all (none, or a bad file).
    TestsNotRun {
        error: &'a crate::Error,
    },
    Serving {
        addr: SocketAddr,
        wasm: &'a Path,
    },
    /// The server runs the new module, with the pluginConfig and vm_config as they are now.
    Swapped {
        wasm: &'a Path,
    },
    /// The server kept its old module.
    ServeFailed {
        error: &'a crate::Error,
    },
    /// The cycle is over: from the change to here.
    Done {
        took: Duration,
    },
}

/// Told every event of the loop.
pub trait DevObserver: Sync {
    fn event(&self, event: DevEvent<'_>);
}

struct NoProgress;
impl TestObserver for NoProgress {}

/// A build's reporter that passes on only cargo's own output: a cycle's summary says the rest.
struct CargoOutputOnly<'a>(&'a dyn DevObserver);

impl Reporter for CargoOutputOnly<'_> {
    fn status(&self, _verb: &str, _message: &str) {}
    fn note(&self, _message: &str) {}
    fn warning(&self, _message: &str) {}
    fn child_output(&self, bytes: &[u8]) {
        self.0.event(DevEvent::CargoOutput { bytes });
    }
}

/// Runs cycles until `stop` is set: one at start, then one per debounced batch of changes.
pub fn run(
    options: &DevOptions,
    observer: &dyn DevObserver,
    access_log: Arc<dyn ServeObserver>,
    stop: &AtomicBool,
) -> crate::Result<()> {
    let project = Project::discover(&options.build.project)?;
    if let Some(serve) = &options.serve {
        let network = project.settings.plugin_type == Some(crate::project::PluginType::Network);
        Server::check(serve, network)?;
    }
    let watch = ProjectWatch::start(&project, options.debounce)?;
    observer.event(DevEvent::Watching {
        root: &project.root,
    });
    let mut dev = Dev {
        options,
        observer,
        access_log,
        server: None,
    };
    let mut started = Instant::now();
    dev.cycle(started);
    while !stop.load(Ordering::Relaxed) {
        if let Wait::Changed(paths) = watch.wait(Duration::from_millis(100), started)? {
            started = Instant::now();
            observer.event(DevEvent::Changed { paths: &paths });
            dev.cycle(started);
        }
    }
    dev.stop();
    Ok(())
}

/// A server running on its own thread, and how to stop it.
struct Running {
    swapper: Swapper,
    shutdown: tokio::sync::oneshot::Sender<()>,
    thread: JoinHandle<crate::Result<()>>,
}

struct Dev<'a> {
    options: &'a DevOptions,
    observer: &'a dyn DevObserver,
    access_log: Arc<dyn ServeObserver>,
    server: Option<Running>,
}

impl Dev<'_> {
    /// Build, then serve the new module and run the scenarios with it.
    fn cycle(&mut self, started: Instant) {
        let built = build::build(&self.options.build, &CargoOutputOnly(self.observer));
        let took = started.elapsed();
        match &built {
            Ok(output) => self.observer.event(DevEvent::Built { output, took }),
            Err(error) => self.observer.event(DevEvent::BuildFailed { error, took }),
        }
        if built.is_err() {
            return;
        }
        self.serve();
        let tests_started = Instant::now();
        let tests = TestOptions {
            project: self.options.build.project.clone(),
            ..TestOptions::default()
        };
        match scenario::run_tests(&tests, &mut NoProgress) {
            Ok(summary) => self.observer.event(DevEvent::Tested {
                summary: &summary,
                took: tests_started.elapsed(),
            }),
            Err(error) => self.observer.event(DevEvent::TestsNotRun { error: &error }),
        }
        self.observer.event(DevEvent::Done {
            took: started.elapsed(),
        });
    }

    /// Swaps the new build and the configuration as it is now into the running server, or
    /// starts the server when none runs yet.
    fn serve(&mut self) {
        let Some(serve) = &self.options.serve else {
            return;
        };
        // What was swapped into a running server (else one was started).
        let swapped = match &self.server {
            Some(running) => running.swapper.swap().map(Some),
            None => self.start_server(serve).map(|()| None),
        };
        match swapped {
            Ok(Some(served)) => self
                .observer
                .event(DevEvent::Swapped { wasm: &served.wasm }),
            Ok(None) => {}
            Err(error) => self.observer.event(DevEvent::ServeFailed { error: &error }),
        }
    }

    fn start_server(&mut self, options: &ServeOptions) -> crate::Result<()> {
        let server = Server::bind(options)?;
        self.observer.event(DevEvent::Serving {
            addr: server.local_addr(),
            wasm: &server.served().wasm,
        });
        let swapper = server.swapper();
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let access_log = self.access_log.clone();
        let thread = std::thread::spawn(move || {
            let stopped = Box::pin(async {
                let _ = stopped.await;
            });
            server.run(access_log, stopped)
        });
        self.server = Some(Running {
            swapper,
            shutdown,
            thread,
        });
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(running) = self.server.take() {
            let _ = running.shutdown.send(());
            let _ = running.thread.join();
        }
    }
}
