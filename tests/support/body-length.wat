;; A plugin that changes a body at its end without fixing its `content-length`, as a plugin that
;; forgets to would. The request's path says which and how: `/rs` makes the request body `he`,
;; `/rl` makes it `hello world`, `/ps` and `/pl` do the same to the response body. It holds each
;; body until its end. Used to hold the built-in host to Envoy on what an HTTP/1 peer reads of a
;; body its length no longer fits.
(module
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_buffer_bytes" (func $set (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (global $side (mut i32) (i32.const 0))
  (global $how (mut i32) (i32.const 0))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (data (i32.const 100) ":path")
  (data (i32.const 200) "hello world")
  ;; `r` (request) or `p` (response), then `s` (shorter) or `l` (longer).
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (local $path i32)
    (drop (call $get (i32.const 0) (i32.const 100) (i32.const 5) (i32.const 8) (i32.const 12)))
    (local.set $path (i32.load (i32.const 8)))
    (global.set $side (i32.load8_u (i32.add (local.get $path) (i32.const 1))))
    (global.set $how (i32.load8_u (i32.add (local.get $path) (i32.const 2))))
    (i32.const 0))
  ;; At the end of the body `kind` (0 request, 1 response) of `size` bytes, changes it as told.
  (func $change (param $kind i32) (param $size i32) (param $eos i32) (result i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    (drop (call $set (local.get $kind) (i32.const 0) (local.get $size) (i32.const 200)
      (select (i32.const 2) (i32.const 11) (i32.eq (global.get $how) (i32.const 115)))))
    (i32.const 0))
  (func (export "proxy_on_request_body") (param i32) (param $size i32) (param $eos i32) (result i32)
    (if (i32.ne (global.get $side) (i32.const 114)) (then (return (i32.const 0))))
    (call $change (i32.const 0) (local.get $size) (local.get $eos)))
  (func (export "proxy_on_response_body") (param i32) (param $size i32) (param $eos i32) (result i32)
    (if (i32.ne (global.get $side) (i32.const 112)) (then (return (i32.const 0))))
    (call $change (i32.const 1) (local.get $size) (local.get $eos))))
