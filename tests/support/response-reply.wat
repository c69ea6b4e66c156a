;; A plugin that answers locally while the response is under way, as the upstream's `x-reply`
;; header asks: `headers` in proxy_on_response_headers, `body` in proxy_on_response_body (too
;; late: the headers have gone). It logs `on response headers` and `on response body` in those
;; callbacks. Used to hold the built-in host to Envoy on what such a reply does.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response"
    (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  ;; The first letter of `x-reply`, once the response headers came.
  (global $asked (mut i32) (i32.const 0))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (data (i32.const 100) "replaced")
  (data (i32.const 120) "\00\00\00\00")
  (data (i32.const 140) "x-reply")
  (data (i32.const 160) "on response headers")
  (data (i32.const 200) "on response body")
  (func $answer
    (drop (call $reply (i32.const 500) (i32.const 0) (i32.const 0) (i32.const 100) (i32.const 8)
      (i32.const 120) (i32.const 4) (i32.const -1))))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (drop (call $log (i32.const 2) (i32.const 160) (i32.const 19)))
    (if (i32.eqz (call $get (i32.const 2) (i32.const 140) (i32.const 7) (i32.const 0) (i32.const 4)))
      (then (global.set $asked (i32.load8_u (i32.load (i32.const 0))))))
    (if (i32.eq (global.get $asked) (i32.const 104))
      (then (call $answer) (return (i32.const 1))))
    (i32.const 0))
  (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32)
    (drop (call $log (i32.const 2) (i32.const 200) (i32.const 16)))
    (if (i32.eq (global.get $asked) (i32.const 98))
      (then (call $answer) (return (i32.const 1))))
    (i32.const 0)))
