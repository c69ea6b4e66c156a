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
        let abi = info.abi;
        // `module::declarations` checked both when the plugin was loaded.
        let memory = instance
            .get_memory(&mut *store, "memory")
            .ok_or(ModuleError::NotProxyWasm("`memory`"))?;
        let allocator = get(store, instance, abi, info.allocator)?.ok_or(
            ModuleError::NotProxyWasm("`proxy_on_memory_allocate` or `malloc`"),
        )?;
        let guest = Guest { memory, allocator };
        let exports = Exports {
            initialize: get(store, instance, abi, "_initialize")?,
            start: get(store, instance, abi, "_start")?,
            main: get(store, instance, abi, "main").unwrap_or(None),
            on_context_create: get(store, instance, abi, "proxy_on_context_create")?,
            on_vm_start: get(store, instance, abi, "proxy_on_vm_start")?,
            on_configure: get(store, instance, abi, "proxy_on_configure")?,
            on_done: get(store, instance, abi, "proxy_on_done")?,
            on_log: get(store, instance, abi, "proxy_on_log")?,
            on_delete: get(store, instance, abi, "proxy_on_delete")?,
            on_tick: get(store, instance, abi, "proxy_on_tick")?,
            on_queue_ready: get(store, instance, abi, "proxy_on_queue_ready")?,
            on_request_headers: headers(store, instance, abi, "proxy_on_request_headers")?,
            on_request_body: get(store, instance, abi, "proxy_on_request_body")?,
            on_request_trailers: get(store, instance, abi, "proxy_on_request_trailers")?,
            on_response_headers: headers(store, instance, abi, "proxy_on_response_headers")?,
            on_response_body: get(store, instance, abi, "proxy_on_response_body")?,
            on_response_trailers: get(store, instance, abi, "proxy_on_response_trailers")?,
            on_http_call_response: get(store, instance, abi, "proxy_on_http_call_response")?,
            on_grpc_receive_initial_metadata: get(
                store,
                instance,
                abi,
                "proxy_on_grpc_receive_initial_metadata",
            )?,
            on_grpc_receive: get(store, instance, abi, "proxy_on_grpc_receive")?,
            on_grpc_receive_trailing_metadata: get(
                store,
                instance,
                abi,
                "proxy_on_grpc_receive_trailing_metadata",
            )?,
            on_grpc_close: get(store, instance, abi, "proxy_on_grpc_close")?,
            on_new_connection: get(store, instance, abi, "proxy_on_new_connection")?,
            on_downstream_data: get(store, instance, abi, "proxy_on_downstream_data")?,
            on_upstream_data: get(store, instance, abi, "proxy_on_upstream_data")?,
            on_downstream_connection_close: get(
                store,
                instance,
                abi,
                "proxy_on_downstream_connection_close",
            )?,
            on_upstream_connection_close: get(
                store,
                instance,
                abi,
                "proxy_on_upstream_connection_close",
            )?,
        };
        Ok((guest, exports))
    }
}

fn get<P: WasmParams, R: WasmResults>(
    store: &mut Store<HostState>,
    instance: &Instance,
    abi: AbiVersion,
    name: &'static str,
) -> Result<Option<TypedFunc<P, R>>, HostError> {
    let Some(func) = instance.get_func(&mut *store, name) else {
        return Ok(None);
    };
    func.typed::<P, R>(&*store).map(Some).map_err(|_| {
        HostError::from(ModuleError::ExportSignature {
            name,
            abi,
            found: format!("{}", func.ty(&*store)),
        })
    })
}

fn headers(
    store: &mut Store<HostState>,
    instance: &Instance,
    abi: AbiVersion,
    name: &'static str,
) -> Result<Option<HeadersCallback>, HostError> {
    let Some(func) = instance.get_func(&mut *store, name) else {
        return Ok(None);
    };
    let params = func.ty(&*store).params().len();
    Ok(if params == 2 {
        get(store, instance, abi, name)?.map(HeadersCallback::V1)
    } else {
        get(store, instance, abi, name)?.map(HeadersCallback::V2)
    })
}
