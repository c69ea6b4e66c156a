;; A plugin that makes a grpc_call (`authz`, pkg.Svc/Check) before letting each request on, logs
;; `message MSG` when the answer's message arrives and `closed STATUS` (one character, `0` + the
;; status) when the call ends, then lets the request on.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_call"
    (func $grpc (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $bytes (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $effective (param i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (global $stream (mut i32) (i32.const 0))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (data (i32.const 100) "authz")
  (data (i32.const 110) "pkg.Svc")
  (data (i32.const 120) "Check")
  (data (i32.const 130) "ping")
  (data (i32.const 1000) "message ")
  (data (i32.const 1100) "closed .")

  (func (export "proxy_on_request_headers") (param $context i32) (param i32 i32) (result i32)
    (global.set $stream (local.get $context))
    (drop (call $grpc (i32.const 100) (i32.const 5) (i32.const 110) (i32.const 7)
      (i32.const 120) (i32.const 5) (i32.const 0) (i32.const 0) (i32.const 130) (i32.const 4)
      (i32.const 5000) (i32.const 8)))
    (i32.const 1))

  ;; The message (the gRPC receive buffer, 5) after `message `.
  (func (export "proxy_on_grpc_receive") (param i32 i32) (param $size i32)
    (drop (call $bytes (i32.const 5) (i32.const 0) (local.get $size) (i32.const 0) (i32.const 4)))
    (memory.copy (i32.const 1008) (i32.load (i32.const 0)) (i32.load (i32.const 4)))
    (drop (call $log (i32.const 2) (i32.const 1000) (i32.add (i32.const 8) (i32.load (i32.const 4))))))

  (func (export "proxy_on_grpc_close") (param i32 i32) (param $status i32)
    (i32.store8 (i32.const 1107) (i32.add (i32.const 48) (local.get $status)))
    (drop (call $log (i32.const 2) (i32.const 1100) (i32.const 8)))
    (drop (call $effective (global.get $stream)))
    (drop (call $continue (i32.const 0)))))
