;; A plugin that asks a gRPC service (`authz`, pkg.Svc/Check, message `ping`) before each request
;; and answers the client itself: 200 with the answer's message when it comes, 503 with
;; `closed S MESSAGE` when the call closes instead (S one character, `0` + the gRPC status;
;; MESSAGE from proxy_get_status). Used by the serve tests against a real gRPC server.
(module
  (import "env" "proxy_grpc_call"
    (func $grpc (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $bytes (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_status" (func $status (param i32 i32 i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $effective (param i32) (result i32)))
  (import "env" "proxy_send_local_response"
    (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
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
  (data (i32.const 1100) "closed . ")

  (func (export "proxy_on_request_headers") (param $context i32) (param i32 i32) (result i32)
    (global.set $stream (local.get $context))
    (drop (call $grpc (i32.const 100) (i32.const 5) (i32.const 110) (i32.const 7)
      (i32.const 120) (i32.const 5) (i32.const 0) (i32.const 0) (i32.const 130) (i32.const 4)
      (i32.const 5000) (i32.const 8)))
    (i32.const 1))

  (func $answer (param $status i32) (param $body i32) (param $size i32)
    (drop (call $effective (global.get $stream)))
    (drop (call $reply (local.get $status) (i32.const 0) (i32.const 0)
      (local.get $body) (local.get $size) (i32.const 0) (i32.const 0) (i32.const -1))))

  (func (export "proxy_on_grpc_receive") (param i32 i32) (param $size i32)
    (i32.store (i32.const 4) (i32.const 0))
    (drop (call $bytes (i32.const 5) (i32.const 0) (local.get $size) (i32.const 0) (i32.const 4)))
    (call $answer (i32.const 200) (i32.load (i32.const 0)) (i32.load (i32.const 4))))

  (func (export "proxy_on_grpc_close") (param i32 i32) (param $status i32)
    (i32.store8 (i32.const 1107) (i32.add (i32.const 48) (local.get $status)))
    (i32.store (i32.const 20) (i32.const 0))
    (drop (call $status (i32.const 12) (i32.const 16) (i32.const 20)))
    (memory.copy (i32.const 1109) (i32.load (i32.const 16)) (i32.load (i32.const 20)))
    (call $answer (i32.const 503) (i32.const 1100) (i32.add (i32.const 9) (i32.load (i32.const 20))))))
