;; A plugin that answers or resumes a request from its own headers callback, in the ways the
;; path's first letter says (see proxy_on_request_headers), logging each status as a letter and a
;; digit; the response headers callback logs `h` and that letter. A local reply's body is `first`
;; (401), a second's `second` (402). Used to hold the built-in host to Envoy on what wins.
(module
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $mode (mut i32) (i32.const 0))
  (func (export "malloc") (param i32) (result i32) (i32.const 4096))
  (func (export "proxy_abi_version_0_2_1"))
  (data (i32.const 100) ":path")
  (data (i32.const 200) "first")
  (data (i32.const 210) "second")
  (func $say (param $a i32) (param $b i32)
    (i32.store8 (i32.const 50) (local.get $a))
    (i32.store8 (i32.const 51) (i32.add (i32.const 48) (local.get $b)))
    (drop (call $log (i32.const 2) (i32.const 50) (i32.const 2))))
  ;; `/a`: resumes the request inside the headers callback, then returns Pause; `/b`: two local
  ;; replies; `/c`: a local reply, then resumes the request; `/d`: a local reply, then returns
  ;; Continue.
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $get (i32.const 0) (i32.const 100) (i32.const 5) (i32.const 8) (i32.const 12)))
    (global.set $mode (i32.load8_u (i32.add (i32.load (i32.const 8)) (i32.const 1))))
    (if (i32.eq (global.get $mode) (i32.const 97))
      (then (call $say (i32.const 65) (call $continue (i32.const 0))) (return (i32.const 1))))
    (if (i32.eq (global.get $mode) (i32.const 98))
      (then
        (call $say (i32.const 66) (call $reply (i32.const 401) (i32.const 0) (i32.const 0) (i32.const 200) (i32.const 5) (i32.const 0) (i32.const 0) (i32.const -1)))
        (call $say (i32.const 67) (call $reply (i32.const 402) (i32.const 0) (i32.const 0) (i32.const 210) (i32.const 6) (i32.const 0) (i32.const 0) (i32.const -1)))
        (return (i32.const 1))))
    (if (i32.eq (global.get $mode) (i32.const 99))
      (then
        (call $say (i32.const 68) (call $reply (i32.const 401) (i32.const 0) (i32.const 0) (i32.const 200) (i32.const 5) (i32.const 0) (i32.const 0) (i32.const -1)))
        (call $say (i32.const 69) (call $continue (i32.const 0)))
        (return (i32.const 1))))
    (if (i32.eq (global.get $mode) (i32.const 100))
      (then
        (call $say (i32.const 70) (call $reply (i32.const 401) (i32.const 0) (i32.const 0) (i32.const 200) (i32.const 5) (i32.const 0) (i32.const 0) (i32.const -1)))
        (return (i32.const 0))))
    (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (call $say (i32.const 104) (i32.sub (global.get $mode) (i32.const 48)))
    (i32.const 0)))
