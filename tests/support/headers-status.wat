;; A plugin whose proxy_on_request_headers returns the status the request's `x-status` header
;; names (one digit), after logging `request headers`; proxy_on_response_headers logs
;; `response headers`. Used to hold the built-in host to Envoy on which statuses stop a stream.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (data (i32.const 100) "x-status")
  (data (i32.const 120) "request headers")
  (data (i32.const 140) "response headers")
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $log (i32.const 2) (i32.const 120) (i32.const 15)))
    (drop (call $get (i32.const 0) (i32.const 100) (i32.const 8) (i32.const 0) (i32.const 4)))
    (i32.sub (i32.load8_u (i32.load (i32.const 0))) (i32.const 48)))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (drop (call $log (i32.const 2) (i32.const 140) (i32.const 16)))
    (i32.const 0)))
