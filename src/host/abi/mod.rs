//! The host functions a plugin imports (`env.proxy_*` and the WASI calls), one file per ABI area,
//! with the status codes Envoy returns.
//!
//! Guest pointers are checked on every access: a pointer outside the plugin's memory ends the
//! callback with an error naming the host call, rather than returning a status the SDK would turn
//! into an opaque panic. Imports the host does not provide are linked to a function that ends the
//! callback with an error naming the import, so a module that merely imports them still loads.

mod buffers;
mod calls;
mod contexts;
mod foreign;
mod headers;
mod logging;
mod memory;
mod metrics;
mod properties;
mod shared;
mod streams;
mod timers;
mod wasi;

use std::collections::HashSet;
use std::fmt::Display;

use wasmtime::{Caller, Engine, ExternType, ImportType, IntoFunc, Linker, Module, Val};

use super::error::{GuestFault, HostError};
use super::state::HostState;

use memory::{memory_and_state, return_bytes};

/// What every host function receives: the calling instance, with the host's state for it.
type HostCaller<'a> = Caller<'a, HostState>;
/// What a host function returns: its value, or a fault that ends the callback.
type HostResult<T> = wasmtime::Result<T>;

// proxy_status_t
const OK: i32 = 0;
const NOT_FOUND: i32 = 1;
const BAD_ARGUMENT: i32 = 2;
const SERIALIZATION_FAILURE: i32 = 3;
const PARSE_FAILURE: i32 = 4;
const EMPTY: i32 = 7;
const CAS_MISMATCH: i32 = 8;
const UNIMPLEMENTED: i32 = 12;

/// Ends the current callback with `what`, naming the host call that found it.
fn fault(call: &str, what: impl Display) -> wasmtime::Error {
    wasmtime::Error::new(GuestFault(format!("{call}: {what}")))
}

/// The linker being filled, and which imports it now provides.
struct HostFunctions<'l> {
    linker: &'l mut Linker<HostState>,
    defined: HashSet<(&'static str, &'static str)>,
}

impl HostFunctions<'_> {
    pub fn define<Params, Results>(
        &mut self,
        module: &'static str,
        name: &'static str,
        f: impl IntoFunc<HostState, Params, Results>,
    ) -> wasmtime::Result<()> {
        self.defined.insert((module, name));
        self.linker.func_wrap(module, name, f)?;
        Ok(())
    }
}

/// Declares an ABI area's host functions as the spec lists them, with parameter names and no
/// repeated types: parameters are `i32` and the result is `i32` (a status) unless written out. The
/// first parameter names the [`HostCaller`]. Also defines `define`, which links them all.
macro_rules! hostcalls {
    ($module:literal: $(
        $(#[$meta:meta])*
        fn $name:ident($caller:ident $(, $arg:ident $(: $ty:ty)?)* $(,)?) $(-> $ret:ty)? $body:block
    )*) => {
        $(
            $(#[$meta])*
            #[allow(unused_mut, clippy::too_many_arguments)]
            fn $name(
                mut $caller: super::HostCaller<'_>,
                $($arg: hostcalls!(@or_i32 $($ty)?)),*
            ) -> super::HostResult<hostcalls!(@or_i32 $($ret)?)> $body
        )*

        pub(super) fn define(host: &mut super::HostFunctions<'_>) -> wasmtime::Result<()> {
            $( host.define($module, stringify!($name), $name)?; )*
            Ok(())
        }
    };
    (@or_i32) => { i32 };
    (@or_i32 $ty:ty) => { $ty };
}
use hostcalls;

/// Builds the linker for one module: every host function, then a stand-in for each import the host
/// does not provide.
pub(super) fn linker(engine: &Engine, module: &Module) -> Result<Linker<HostState>, HostError> {
    let mut linker = Linker::new(engine);
    let mut host = HostFunctions {
        linker: &mut linker,
        defined: HashSet::new(),
    };
    define(&mut host).map_err(link_error)?;
    let defined = host.defined;
    linker.allow_shadowing(true);
    for import in module.imports() {
        if !defined.contains(&(import.module(), import.name())) {
            stand_in(&mut linker, &import)?;
        }
    }
    Ok(linker)
}

fn link_error(e: wasmtime::Error) -> HostError {
    HostError::Link(format!("{e:#}"))
}

fn define(host: &mut HostFunctions<'_>) -> wasmtime::Result<()> {
    logging::define(host)?;
    timers::define(host)?;
    buffers::define(host)?;
    headers::define(host)?;
    properties::define(host)?;
    shared::define(host)?;
    streams::define(host)?;
    calls::define(host)?;
    foreign::define(host)?;
    contexts::define(host)?;
    metrics::define(host)?;
    wasi::define(host)
}

/// Links an import the host does not provide: the ABI 0.1.0 calls whose signature varied between
/// SDKs answer OK whatever their signature; anything else fails when called, naming the import.
fn stand_in(linker: &mut Linker<HostState>, import: &ImportType<'_>) -> Result<(), HostError> {
    let (module_name, name) = (import.module(), import.name());
    let ExternType::Func(ty) = import.ty() else {
        return Err(HostError::Link(format!(
            "it imports `{module_name}.{name}`, which is not a function; proxy-wasm modules \
             define and export their own memory"
        )));
    };
    let linked = match (module_name, name) {
        (
            "env",
            "proxy_continue_request" | "proxy_continue_response" | "proxy_clear_route_cache",
        ) => {
            let which = name.to_string();
            linker.func_new(
                module_name,
                name,
                ty,
                move |mut caller, _params, results| {
                    streams::resume_v0_1(caller.data_mut(), &which);
                    results.fill(Val::I32(OK));
                    Ok(())
                },
            )
        }
        _ => {
            let full = format!("{module_name}.{name}");
            linker.func_new(module_name, name, ty, move |caller, _params, _results| {
                Err(wasmtime::Error::new(GuestFault(format!(
                    "the plugin called `{full}` from {}, which wasmctl's host does not implement",
                    caller.data().callback
                ))))
            })
        }
    };
    linked.map(drop).map_err(link_error)
}
