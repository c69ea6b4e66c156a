//! Requests per second through one built-in host instance, on this thread. For
//! `scripts/bench-run.sh` (hidden `wasmctl run --bench N`), which sets it beside Envoy's.

use std::time::{Duration, Instant};

use super::builtin::{BuiltinHost, PluginCache};
use super::driver::{ScenarioHost, Started};
use super::once::{RunOptions, resolve};

/// How long `requests` requests took.
#[derive(Debug, Clone, Copy)]
pub struct BenchReport {
    pub requests: u64,
    pub elapsed: Duration,
}

impl BenchReport {
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn nanoseconds_per_request(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.requests.max(1) as f64
    }
}

/// Sends the request of `options` `requests` times through one instance of the plugin.
pub fn bench(options: &RunOptions, requests: u64) -> crate::Result<BenchReport> {
    let setup = resolve(options)?;
    let mut plugins = PluginCache::default();
    plugins.load(&setup.wasm)?;
    let mut host = BuiltinHost::new(&mut plugins);
    if let Started::Rejected { error, .. } = host.start(&setup)? {
        return Err(error.into());
    }
    let (request, response) = (&options.traffic.request, &options.traffic.response);
    // Warm up caches and the allocator before timing.
    for _ in 0..requests.min(1000) {
        host.http(request, response)?;
    }
    host.clear_logs();
    let started = Instant::now();
    for i in 0..requests {
        host.http(request, response)?;
        if i % 1024 == 0 {
            host.clear_logs();
        }
    }
    Ok(BenchReport {
        requests,
        elapsed: started.elapsed(),
    })
}
