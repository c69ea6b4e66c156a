//! The plugin's callbacks, looked up once per instance and typed, so each call is a direct call.

use wasmtime::{Instance, Memory, Store, TypedFunc, WasmParams, WasmResults};

use super::error::HostError;
use super::state::HostState;
use crate::module::{AbiVersion, ModuleError, ModuleInfo};

type F<P, R> = Option<TypedFunc<P, R>>;

/// `proxy_on_request_headers` and `proxy_on_response_headers` lost nothing but gained
/// `end_of_stream` in ABI 0.2.0.
#[derive(Clone)]
pub(crate) enum HeadersCallback {
    V1(TypedFunc<(i32, i32), i32>),
    V2(TypedFunc<(i32, i32, i32), i32>),
}

impl HeadersCallback {
    pub fn call(
        &self,
        store: &mut Store<HostState>,
        context: u32,
        count: usize,
        end_of_stream: bool,
    ) -> wasmtime::Result<i32> {
        match self {
            HeadersCallback::V1(f) => f.call(store, (context as i32, count as i32)),
            HeadersCallback::V2(f) => {
                f.call(store, (context as i32, count as i32, end_of_stream as i32))
            }
        }
    }
}

pub(crate) struct Exports {
    pub initialize: F<(), ()>,
    pub start: F<(), ()>,
    pub main: F<(i32, i32), i32>,
    pub on_context_create: F<(i32, i32), ()>,
    pub on_vm_start: F<(i32, i32), i32>,
    pub on_configure: F<(i32, i32), i32>,
    pub on_done: F<i32, i32>,
    pub on_log: F<i32, ()>,
    pub on_delete: F<i32, ()>,
    pub on_tick: F<i32, ()>,
    pub on_queue_ready: F<(i32, i32), ()>,
    pub on_request_headers: Option<HeadersCallback>,
    pub on_request_body: F<(i32, i32, i32), i32>,
    pub on_request_trailers: F<(i32, i32), i32>,
    pub on_response_headers: Option<HeadersCallback>,
    pub on_response_body: F<(i32, i32, i32), i32>,
    pub on_response_trailers: F<(i32, i32), i32>,
    pub on_http_call_response: F<(i32, i32, i32, i32, i32), ()>,
    pub on_grpc_receive_initial_metadata: F<(i32, i32, i32), ()>,
    pub on_grpc_receive: F<(i32, i32, i32), ()>,
    pub on_grpc_receive_trailing_metadata: F<(i32, i32, i32), ()>,
    pub on_grpc_close: F<(i32, i32, i32), ()>,
    pub on_new_connection: F<i32, i32>,
    pub on_downstream_data: F<(i32, i32, i32), i32>,
    pub on_upstream_data: F<(i32, i32, i32), i32>,
    pub on_downstream_connection_close: F<(i32, i32), ()>,
    pub on_upstream_connection_close: F<(i32, i32), ()>,
}

/// The instance's memory, and the allocator the host returns bytes through.
pub(crate) struct Guest {
    pub memory: Memory,
    pub allocator: TypedFunc<i32, i32>,
}

impl Exports {
    /// Every export the host uses, looked up once: the guest's memory and allocator, which the
    /// host state holds, and the callbacks the VM calls.
    pub fn resolve(
        store: &mut Store<HostState>,
        instance: &Instance,
        info: &ModuleInfo,
    ) -> Result<(Guest, Exports), HostError> {
        // `module::declarations` checked both when the plugin was loaded.
        let memory = instance
            .get_memory(&mut *store, "memory")
            .ok_or(ModuleError::NotProxyWasm("`memory`"))?;
        let mut lookup = Lookup {
            store,
            instance,
            abi: info.abi,
        };
        let allocator = lookup
            .func(info.allocator)?
            .ok_or(ModuleError::NotProxyWasm(
                "`proxy_on_memory_allocate` or `malloc`",
            ))?;
        let guest = Guest { memory, allocator };
        let exports = Exports {
            initialize: lookup.func("_initialize")?,
            start: lookup.func("_start")?,
            main: lookup.func("main").unwrap_or(None),
            on_context_create: lookup.func("proxy_on_context_create")?,
            on_vm_start: lookup.func("proxy_on_vm_start")?,
            on_configure: lookup.func("proxy_on_configure")?,
            on_done: lookup.func("proxy_on_done")?,
            on_log: lookup.func("proxy_on_log")?,
            on_delete: lookup.func("proxy_on_delete")?,
            on_tick: lookup.func("proxy_on_tick")?,
            on_queue_ready: lookup.func("proxy_on_queue_ready")?,
            on_request_headers: lookup.headers("proxy_on_request_headers")?,
            on_request_body: lookup.func("proxy_on_request_body")?,
            on_request_trailers: lookup.func("proxy_on_request_trailers")?,
            on_response_headers: lookup.headers("proxy_on_response_headers")?,
            on_response_body: lookup.func("proxy_on_response_body")?,
            on_response_trailers: lookup.func("proxy_on_response_trailers")?,
            on_http_call_response: lookup.func("proxy_on_http_call_response")?,
            on_grpc_receive_initial_metadata: lookup
                .func("proxy_on_grpc_receive_initial_metadata")?,
            on_grpc_receive: lookup.func("proxy_on_grpc_receive")?,
            on_grpc_receive_trailing_metadata: lookup
                .func("proxy_on_grpc_receive_trailing_metadata")?,
            on_grpc_close: lookup.func("proxy_on_grpc_close")?,
            on_new_connection: lookup.func("proxy_on_new_connection")?,
            on_downstream_data: lookup.func("proxy_on_downstream_data")?,
            on_upstream_data: lookup.func("proxy_on_upstream_data")?,
            on_downstream_connection_close: lookup.func("proxy_on_downstream_connection_close")?,
            on_upstream_connection_close: lookup.func("proxy_on_upstream_connection_close")?,
        };
        Ok((guest, exports))
    }
}

/// Looks the plugin's exports up by name in one instance, typed as the ABI has them.
struct Lookup<'a> {
    store: &'a mut Store<HostState>,
    instance: &'a Instance,
    abi: AbiVersion,
}

impl Lookup<'_> {
    /// The export `name` with the signature `P -> R`; none when the plugin does not export it.
    fn func<P: WasmParams, R: WasmResults>(
        &mut self,
        name: &'static str,
    ) -> Result<Option<TypedFunc<P, R>>, HostError> {
        let Some(func) = self.instance.get_func(&mut *self.store, name) else {
            return Ok(None);
        };
        func.typed::<P, R>(&*self.store).map(Some).map_err(|_| {
            HostError::from(ModuleError::ExportSignature {
                name,
                abi: self.abi,
                found: format!("{}", func.ty(&*self.store)),
            })
        })
    }

    /// A headers callback, with or without `end_of_stream` as its parameters say.
    fn headers(&mut self, name: &'static str) -> Result<Option<HeadersCallback>, HostError> {
        let Some(func) = self.instance.get_func(&mut *self.store, name) else {
            return Ok(None);
        };
        Ok(match func.ty(&*self.store).params().len() {
            2 => self.func(name)?.map(HeadersCallback::V1),
            _ => self.func(name)?.map(HeadersCallback::V2),
        })
    }
}
