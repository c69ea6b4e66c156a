//! The host against small hand-written modules: each one does exactly one thing a real plugin might,
//! including the broken things.

use std::time::Duration;

use super::*;
use crate::module::{AbiVersion, ModuleError};

/// A module with a bump allocator, the given imports and the given body.
fn module(abi: &str, imports: &str, body: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
          {imports}
          (memory (export "memory") 2)
          (global $heap (mut i32) (i32.const 65536))
          (func (export "malloc") (param $n i32) (result i32)
            (local $p i32)
            (local.set $p (global.get $heap))
            (global.set $heap (i32.add (global.get $heap) (local.get $n)))
            (local.get $p))
          (func (export "proxy_abi_version_{abi}"))
          {body})"#
    );
    wat::parse_str(&text).expect("test module is valid WAT")
}

fn start(bytes: &[u8], options: VmOptions) -> Result<Vm, HostError> {
    Vm::start(&Plugin::load(bytes).expect("module loads"), options)
}

/// The default options but for `limits`.
fn limited(limits: Limits) -> VmOptions {
    VmOptions {
        limits,
        ..VmOptions::default()
    }
}

/// `err` is a trap in `callback` whose message contains every one of `needles`.
#[track_caller]
fn assert_trap(err: HostError, callback: &str, needles: &[&str]) {
    let HostError::Trap {
        callback: trapped,
        message,
        ..
    } = err
    else {
        panic!("expected a trap, got {err}");
    };
    assert_eq!(trapped, callback);
    assert!(needles.iter().all(|n| message.contains(n)), "{message}");
}

const LOG: &str = r#"(import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))"#;

#[test]
fn a_bad_pointer_names_the_call_and_the_callback() {
    let bytes = module(
        "0_2_1",
        LOG,
        r#"(func (export "proxy_on_configure") (param i32 i32) (result i32)
             (drop (call $log (i32.const 2) (i32.const 0x7fff0000) (i32.const 10)))
             (i32.const 1))"#,
    );
    assert_trap(
        start(&bytes, VmOptions::default()).err().expect("fails"),
        "proxy_on_configure",
        &["proxy_log", "outside its memory"],
    );
}

#[test]
fn a_runaway_loop_is_stopped() {
    let bytes = module(
        "0_2_1",
        "",
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
             (loop $forever (br $forever))
             (i32.const 0))"#,
    );
    let options = limited(Limits {
        callback_time: Duration::from_millis(100),
        ..Limits::default()
    });
    let mut vm = start(&bytes, options).expect("starts");
    let began = std::time::Instant::now();
    let err = vm
        .http(&Request::default(), &Response::default())
        .unwrap_err();
    assert_trap(
        err,
        "proxy_on_request_headers",
        &["still running after 100 ms"],
    );
    assert!(began.elapsed() < Duration::from_secs(5));
}

/// A start function that never returns, and a plugin that grows its memory past the limit, are
/// stopped under the limits given, and the error names the limit that stopped them.
#[test]
fn limits_stop_a_plugin_while_it_starts() {
    let cases = [
        (
            r#"(func $spin (loop $forever (br $forever)))
               (start $spin)"#,
            Limits {
                callback_time: Duration::from_millis(100),
                ..Limits::default()
            },
            "start",
            "still running after 100 ms",
        ),
        (
            r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                 (loop $more (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
                 (i32.const 1))"#,
            Limits {
                memory_bytes: 4 << 20,
                ..Limits::default()
            },
            "proxy_on_vm_start",
            "memory limit of 4 MiB",
        ),
    ];
    for (body, limits, callback, message) in cases {
        let bytes = module("0_2_1", "", body);
        let err = start(&bytes, limited(limits))
            .err()
            .expect("the limit stops it");
        assert_trap(err, callback, &[message]);
    }
}

#[test]
fn an_unimplemented_import_fails_only_when_called() {
    let bytes = module(
        "0_2_1",
        r#"(import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))"#,
        r#"(func (export "proxy_on_tick") (param i32)
             (drop (call $open (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                               (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 0))))"#,
    );
    let mut vm = start(&bytes, VmOptions::default()).expect("loads although it imports path_open");
    // No tick period set: advancing the clock calls nothing.
    assert_eq!(vm.advance(Duration::from_secs(1)).unwrap(), 0);
    vm.store.data_mut().tick_period_ms = 10;
    assert_trap(
        vm.advance(Duration::from_millis(10)).unwrap_err(),
        "proxy_on_tick",
        &["wasi_snapshot_preview1.path_open", "does not implement"],
    );
}

#[test]
fn abi_0_1_0_headers_callbacks_and_configuration() {
    // on_request_headers without end_of_stream; proxy_get_configuration; a local reply.
    let bytes = module(
        "0_1_0",
        r#"(import "env" "proxy_get_configuration" (func $config (param i32 i32) (result i32)))
           (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
           (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))"#,
        r#"(data (i32.const 100) "denied")
           (func (export "proxy_on_configure") (param i32 i32) (result i32)
             (drop (call $config (i32.const 0) (i32.const 4)))
             ;; log the configuration the host handed over
             (drop (call $log (i32.const 2) (i32.load (i32.const 0)) (i32.load (i32.const 4))))
             (i32.const 1))
           (func (export "proxy_on_request_headers") (param i32 i32) (result i32)
             (drop (call $reply (i32.const 418) (i32.const 0) (i32.const 0) (i32.const 100) (i32.const 6)
                                (i32.const 0) (i32.const 0) (i32.const 0)))
             (i32.const 1))"#,
    );
    let options = VmOptions {
        plugin_config: b"{\"a\":1}".to_vec(),
        ..VmOptions::default()
    };
    let mut vm = start(&bytes, options).expect("starts");
    assert_eq!(vm.abi(), AbiVersion::V0_1_0);
    assert_eq!(vm.logs()[0].message, "{\"a\":1}");
    let outcome = vm.http(&Request::default(), &Response::default()).unwrap();
    assert!(outcome.upstream.is_none());
    let response = outcome.response.expect("local reply");
    assert_eq!(response.status, 418);
    assert_eq!(response.body, b"denied");
}

#[test]
fn http_call_answers_come_from_the_script() {
    // on_request_headers calls out and pauses; the answer's status decides: 200 resumes the
    // request, anything else sends a local reply.
    let bytes = module(
        "0_2_1",
        r#"(import "env" "proxy_http_call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
           (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
           (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
           (import "env" "proxy_set_effective_context" (func $effective (param i32) (result i32)))
           (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))"#,
        r#"(data (i32.const 100) "authz")
           (data (i32.const 200) ":status")
           ;; the request headers of the call, serialized: :method GET, :path /check, :authority authz
           (data (i32.const 300) "\03\00\00\00\07\00\00\00\03\00\00\00\05\00\00\00\06\00\00\00\0a\00\00\00\05\00\00\00:method\00GET\00:path\00/check\00:authority\00authz\00")
           (global $stream (mut i32) (i32.const 0))
           (func (export "proxy_on_request_headers") (param $ctx i32) (param i32 i32) (result i32)
             (global.set $stream (local.get $ctx))
             (drop (call $call (i32.const 100) (i32.const 5) (i32.const 300) (i32.const 70)
                               (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                               (i32.const 1000) (i32.const 8)))
             (i32.const 1))
           (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
             (drop (call $effective (global.get $stream)))
             (drop (call $get (i32.const 6) (i32.const 200) (i32.const 7) (i32.const 0) (i32.const 4)))
             ;; status "200" starts with '2'
             (if (i32.eq (i32.load8_u (i32.load (i32.const 0))) (i32.const 50))
               (then (drop (call $continue (i32.const 0))))
               (else (drop (call $reply (i32.const 403) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                                        (i32.const 0) (i32.const 0) (i32.const 0))))))"#,
    );
    let mut vm = start(&bytes, VmOptions::default()).expect("starts");
    let answer = |status: &str| CallAnswer {
        upstream: Some("authz".into()),
        response: CallResponse {
            headers: [(":status", status)].into_iter().collect(),
            ..CallResponse::default()
        },
    };
    vm.script_answers([answer("200")]);
    let allowed = vm.http(&Request::default(), &Response::default()).unwrap();
    assert!(allowed.upstream.is_some(), "{allowed:?}");
    assert_eq!(
        vm.calls_made()[0].headers.get(":path").as_deref(),
        Some("/check")
    );

    vm.script_answers([answer("500")]);
    let denied = vm.http(&Request::default(), &Response::default()).unwrap();
    assert!(denied.upstream.is_none());
    assert_eq!(denied.response.unwrap().status, 403);

    assert_trap(
        vm.http(&Request::default(), &Response::default())
            .unwrap_err(),
        "proxy_on_request_headers",
        &["no response scripted", "`authz`"],
    );
}

#[test]
fn a_cancelled_grpc_call_leaves_its_answer_for_the_next() {
    // The first call is cancelled in the callback that made it: it never leaves the proxy, so
    // the one scripted answer goes to the second call.
    let bytes = module(
        "0_2_1",
        &format!(
            r#"{LOG}
           (import "env" "proxy_grpc_call"
             (func $grpc (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
           (import "env" "proxy_grpc_cancel" (func $cancel (param i32) (result i32)))"#
        ),
        r#"(data (i32.const 100) "authz")
           (data (i32.const 110) "pkg.Svc")
           (data (i32.const 120) "Check")
           (func $call (param $message i32) (result i32)
             (drop (call $grpc (i32.const 100) (i32.const 5) (i32.const 110) (i32.const 7)
               (i32.const 120) (i32.const 5) (i32.const 0) (i32.const 0) (local.get $message)
               (i32.const 1) (i32.const 0) (i32.const 8)))
             (i32.load (i32.const 8)))
           (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
             (drop (call $cancel (call $call (i32.const 100))))
             (drop (call $call (i32.const 101)))
             (i32.const 0))
           (func (export "proxy_on_grpc_receive") (param i32 i32) (param $size i32)
             (drop (call $log (i32.const 2) (i32.const 100) (i32.const 5))))"#,
    );
    let answer = CallAnswer {
        upstream: Some("authz".into()),
        response: CallResponse::default(),
    };
    let options = VmOptions {
        call_answers: vec![answer],
        ..VmOptions::default()
    };
    let mut vm = start(&bytes, options).expect("starts");
    let outcome = vm.http(&Request::default(), &Response::default()).unwrap();
    let calls = vm.calls_made();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].body, b"u", "the second call's message");
    let logged: Vec<&str> = outcome.logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(logged, ["authz"]);
}

#[test]
fn ticks_shared_data_queues_and_metrics() {
    // Each tick: increment a counter, store the tick count in shared data, enqueue it.
    let bytes = module(
        "0_2_1",
        r#"(import "env" "proxy_set_tick_period_milliseconds" (func $period (param i32) (result i32)))
           (import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))
           (import "env" "proxy_increment_metric" (func $incr (param i32 i64) (result i32)))
           (import "env" "proxy_set_shared_data" (func $set (param i32 i32 i32 i32 i32) (result i32)))
           (import "env" "proxy_register_shared_queue" (func $register (param i32 i32 i32) (result i32)))
           (import "env" "proxy_enqueue_shared_queue" (func $enqueue (param i32 i32 i32) (result i32)))
           (import "env" "proxy_dequeue_shared_queue" (func $dequeue (param i32 i32 i32) (result i32)))
           (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))"#,
        r#"(data (i32.const 100) "ticks")
           (data (i32.const 200) "q")
           (global $ticks (mut i32) (i32.const 48))
           (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
             (drop (call $period (i32.const 1000)))
             (drop (call $define (i32.const 0) (i32.const 100) (i32.const 5) (i32.const 0)))
             (drop (call $register (i32.const 200) (i32.const 1) (i32.const 4)))
             (i32.const 1))
           (func (export "proxy_on_tick") (param i32)
             (global.set $ticks (i32.add (global.get $ticks) (i32.const 1)))
             (i32.store8 (i32.const 300) (global.get $ticks))
             (drop (call $incr (i32.load (i32.const 0)) (i64.const 1)))
             (drop (call $set (i32.const 100) (i32.const 5) (i32.const 300) (i32.const 1) (i32.const 0)))
             (drop (call $enqueue (i32.load (i32.const 4)) (i32.const 300) (i32.const 1))))
           (func (export "proxy_on_queue_ready") (param i32 i32)
             (drop (call $dequeue (local.get 1) (i32.const 8) (i32.const 12)))
             (drop (call $log (i32.const 2) (i32.load (i32.const 8)) (i32.load (i32.const 12)))))"#,
    );
    let mut vm = start(&bytes, VmOptions::default()).expect("starts");
    assert_eq!(vm.tick_period(), Some(Duration::from_secs(1)));
    assert_eq!(vm.advance(Duration::from_millis(2500)).unwrap(), 2);
    assert_eq!(vm.advance(Duration::from_millis(500)).unwrap(), 1);
    let metrics = vm.metrics();
    assert_eq!((metrics[0].name.as_str(), metrics[0].value), ("ticks", 3));
    assert_eq!(vm.store.data().shared_data["ticks"].0, b"3");
    let logged: Vec<&str> = vm.logs().iter().map(|l| l.message.as_str()).collect();
    assert_eq!(logged, ["1", "2", "3"]);
}

#[test]
fn environment_and_stdout_through_wasi() {
    // environ_get, then the first variable written to stdout.
    let bytes = module(
        "0_2_1",
        r#"(import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
           (import "wasi_snapshot_preview1" "environ_get" (func $environ (param i32 i32) (result i32)))
           (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))"#,
        r#"(func (export "_initialize")
             (drop (call $sizes (i32.const 0) (i32.const 4)))
             (drop (call $environ (i32.const 100) (i32.const 1000)))
             ;; iovec at 200: the first entry, without its NUL
             (i32.store (i32.const 200) (i32.load (i32.const 100)))
             (i32.store (i32.const 204) (i32.sub (i32.load (i32.const 4)) (i32.const 1)))
             (drop (call $write (i32.const 1) (i32.const 200) (i32.const 1) (i32.const 300))))"#,
    );
    let options = VmOptions {
        env: vec![("TRUST_DOMAIN".into(), "cluster.local".into())],
        ..VmOptions::default()
    };
    let vm = start(&bytes, options).expect("starts");
    assert_eq!(vm.logs()[0].message, "TRUST_DOMAIN=cluster.local");
    assert_eq!(vm.logs()[0].level, LogLevel::Info);
}

#[test]
fn network_data_flows_and_close_order() {
    let bytes = module(
        "0_2_1",
        r#"(import "env" "proxy_set_buffer_bytes" (func $set (param i32 i32 i32 i32 i32) (result i32)))
           (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))"#,
        r#"(data (i32.const 100) "HELLO")
           (data (i32.const 200) "downstream closed")
           (data (i32.const 300) "upstream closed")
           (func (export "proxy_on_downstream_data") (param i32 i32 i32) (result i32)
             ;; replace each chunk with HELLO (not the empty call that ends the stream)
             (if (local.get 1)
               (then (drop (call $set (i32.const 2) (i32.const 0) (local.get 1) (i32.const 100) (i32.const 5)))))
             (i32.const 0))
           (func (export "proxy_on_downstream_connection_close") (param i32 i32)
             (drop (call $log (i32.const 2) (i32.const 200) (i32.const 17))))
           (func (export "proxy_on_upstream_connection_close") (param i32 i32)
             (drop (call $log (i32.const 2) (i32.const 300) (i32.const 15))))"#,
    );
    let mut vm = start(&bytes, VmOptions::default()).expect("starts");
    let outcome = vm
        .connection(&[
            NetworkEvent::Downstream(b"hello".to_vec()),
            NetworkEvent::Upstream(b"world".to_vec()),
            NetworkEvent::CloseDownstream,
        ])
        .unwrap();
    assert_eq!(outcome.to_upstream, b"HELLO");
    assert_eq!(outcome.to_downstream, b"world");
    let logged: Vec<&str> = outcome.logs.iter().map(|l| l.message.as_str()).collect();
    // Envoy's order: the upstream side first, then the proxy closes the client's.
    assert_eq!(logged, ["upstream closed", "downstream closed"]);
}

#[test]
fn modules_that_are_not_proxy_wasm_are_refused() {
    let bytes = wat::parse_str(r#"(module (memory (export "memory") 1))"#).unwrap();
    assert!(matches!(
        Plugin::load(&bytes),
        Err(HostError::Module(ModuleError::NotProxyWasm(_)))
    ));
    assert!(matches!(
        Plugin::load(b"not wasm"),
        Err(HostError::Module(ModuleError::Compile(_)))
    ));
}

#[test]
fn abi_0_2_0_is_recognised_and_runs() {
    let bytes = module(
        "0_2_0",
        r#"(import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))"#,
        r#"(data (i32.const 100) "x-abi020")
           (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
             (drop (call $add (i32.const 2) (i32.const 100) (i32.const 8) (i32.const 100) (i32.const 5)))
             (i32.const 0))"#,
    );
    let mut vm = start(&bytes, VmOptions::default()).expect("starts");
    assert_eq!(vm.abi(), AbiVersion::V0_2_0);
    let outcome = vm.http(&Request::default(), &Response::default()).unwrap();
    let headers = outcome.response.unwrap().headers;
    assert_eq!(headers.get("X-ABI020").as_deref(), Some("x-abi"));
}

#[test]
fn properties_follow_envoy_encodings() {
    // Logs request.path in on_request_headers and response.code in on_response_headers: as in
    // Envoy, the request's properties are gone once its headers have gone on.
    let bytes = module(
        "0_2_1",
        r#"(import "env" "proxy_get_property" (func $prop (param i32 i32 i32 i32) (result i32)))
           (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))"#,
        r#"(data (i32.const 100) "request\00path\00")
           (data (i32.const 200) "response\00code\00")
           (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
             (drop (call $prop (i32.const 100) (i32.const 13) (i32.const 0) (i32.const 4)))
             (drop (call $log (i32.const 2) (i32.load (i32.const 0)) (i32.load (i32.const 4))))
             (i32.const 0))
           (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
             (drop (call $prop (i32.const 200) (i32.const 14) (i32.const 8) (i32.const 12)))
             ;; response.code is an 8-byte little-endian integer: log its first byte as text
             (i32.store8 (i32.const 300) (i32.add (i32.const 48) (i32.rem_u (i32.load8_u (i32.load (i32.const 8))) (i32.const 10))))
             (drop (call $log (i32.const 2) (i32.const 300) (i32.const 1)))
             (i32.const 0))"#,
    );
    let mut vm = start(&bytes, VmOptions::default()).expect("starts");
    let request = Request {
        path: "/a?b=c".into(),
        ..Request::default()
    };
    let response = Response {
        status: Status::NO_CONTENT,
        ..Response::default()
    };
    let outcome = vm.http(&request, &response).unwrap();
    let logged: Vec<&str> = outcome.logs.iter().map(|l| l.message.as_str()).collect();
    // 204 = 0xcc: first byte 204, % 10 = 4.
    assert_eq!(logged, ["/a?b=c", "4"]);
}
