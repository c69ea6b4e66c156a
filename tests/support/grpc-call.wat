;; A plugin that makes a grpc_call (`authz`, pkg.Svc/Check, message `ping`) before letting each
;; request on. When the answer's message arrives it logs `message MSG`; when the call closes
;; instead, `closed S MESSAGE` (S one character, `0` + the gRPC status; MESSAGE from
;; proxy_get_status). Then it logs `maps SNSN`: the status and byte count of header maps 4 and 5
;; (a gRPC stream's metadata), one digit each, and lets the request on.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_call"
    (func $grpc (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $bytes (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_status" (func $status (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_pairs" (func $pairs (param i32 i32 i32) (result i32)))
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
  (data (i32.const 1100) "closed . ")
  (data (i32.const 3000) "maps ....")
  (func $maps
    (i32.store (i32.const 40) (i32.const 0))
    (i32.store8 (i32.const 3005) (i32.add (i32.const 48) (call $pairs (i32.const 4) (i32.const 36) (i32.const 40))))
    (i32.store8 (i32.const 3006) (i32.add (i32.const 48) (i32.load (i32.const 40))))
    (i32.store (i32.const 40) (i32.const 0))
    (i32.store8 (i32.const 3007) (i32.add (i32.const 48) (call $pairs (i32.const 5) (i32.const 36) (i32.const 40))))
    (i32.store8 (i32.const 3008) (i32.add (i32.const 48) (i32.load (i32.const 40))))
    (drop (call $log (i32.const 2) (i32.const 3000) (i32.const 9))))

  (func (export "proxy_on_request_headers") (param $context i32) (param i32 i32) (result i32)
    (global.set $stream (local.get $context))
    (drop (call $grpc (i32.const 100) (i32.const 5) (i32.const 110) (i32.const 7)
      (i32.const 120) (i32.const 5) (i32.const 0) (i32.const 0) (i32.const 130) (i32.const 4)
      (i32.const 5000) (i32.const 8)))
    (i32.const 1))

  (func $go_on
    (call $maps)
    (drop (call $effective (global.get $stream)))
    (drop (call $continue (i32.const 0))))

  ;; The message (the gRPC receive buffer, 5) after `message `.
  (func (export "proxy_on_grpc_receive") (param i32 i32) (param $size i32)
    (i32.store (i32.const 4) (i32.const 0))
    (drop (call $bytes (i32.const 5) (i32.const 0) (local.get $size) (i32.const 0) (i32.const 4)))
    (memory.copy (i32.const 1008) (i32.load (i32.const 0)) (i32.load (i32.const 4)))
    (drop (call $log (i32.const 2) (i32.const 1000) (i32.add (i32.const 8) (i32.load (i32.const 4)))))
    (call $go_on))

  (func (export "proxy_on_grpc_close") (param i32 i32) (param $status i32)
    (i32.store8 (i32.const 1107) (i32.add (i32.const 48) (local.get $status)))
    (i32.store (i32.const 20) (i32.const 0))
    (drop (call $status (i32.const 12) (i32.const 16) (i32.const 20)))
    (memory.copy (i32.const 1109) (i32.load (i32.const 16)) (i32.load (i32.const 20)))
    (drop (call $log (i32.const 2) (i32.const 1100) (i32.add (i32.const 9) (i32.load (i32.const 20)))))
    (call $go_on)))
