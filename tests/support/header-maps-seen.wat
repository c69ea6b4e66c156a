;; A plugin that logs, in each callback, what it finds as the properties request.headers,
;; response.headers and response.trailers (whole header maps), and response.trailers.x-st: one
;; line per callback, `C RQ RS TR ST`, where C is the callback (G configure, H request headers,
;; B request body, R request trailers, S response headers, D response body, T response trailers,
;; L log, E done; N new connection, W downstream data, P upstream data) and
;;   RQ is request.headers as `COUNT/SIZE`: its pair count (2 hex digits) and the size of its
;;      encoding (4 hex digits), or `-` when not found;
;;   RS is response.headers' pair count, or `-`;
;;   TR is response.trailers as `COUNT/SIZE`, or `-`;
;;   ST is response.trailers.x-st's value, or `-`.
;; Used to hold the built-in host to Envoy on when a plugin finds the whole maps, and with what.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $prop (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (data (i32.const 64) "0123456789abcdef")
  (data (i32.const 200) "request\00headers")
  (data (i32.const 220) "response\00headers")
  (data (i32.const 240) "response\00trailers")
  (data (i32.const 260) "response\00trailers\00x-st")

  ;; Writes the low `digits` hex digits of `value` at `out`; returns the end.
  (func $hex (param $value i32) (param $digits i32) (param $out i32) (result i32)
    (local $i i32)
    (local.set $i (local.get $digits))
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $i)))
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (local.get $out) (local.get $i))
        (i32.load8_u (i32.add (i32.const 64) (i32.and (local.get $value) (i32.const 15)))))
      (local.set $value (i32.shr_u (local.get $value) (i32.const 4)))
      (br $next)))
    (i32.add (local.get $out) (local.get $digits)))

  ;; Writes `-` for a property not found; else its pair count, and `/SIZE` if `size` is set.
  ;; Then a space. Returns the end.
  (func $map (param $path i32) (param $len i32) (param $size i32) (param $out i32) (result i32)
    (if (call $prop (local.get $path) (local.get $len) (i32.const 0) (i32.const 4))
      (then
        (i32.store8 (local.get $out) (i32.const 45))
        (local.set $out (i32.add (local.get $out) (i32.const 1))))
      (else
        (local.set $out (call $hex (i32.load (i32.load (i32.const 0))) (i32.const 2)
          (local.get $out)))
        (if (local.get $size)
          (then
            (i32.store8 (local.get $out) (i32.const 47))
            (local.set $out (call $hex (i32.load (i32.const 4)) (i32.const 4)
              (i32.add (local.get $out) (i32.const 1))))))))
    (i32.store8 (local.get $out) (i32.const 32))
    (i32.add (local.get $out) (i32.const 1)))

  ;; Writes response.trailers.x-st's value, or `-`. Returns the end.
  (func $trailer (param $out i32) (result i32)
    (if (call $prop (i32.const 260) (i32.const 22) (i32.const 0) (i32.const 4))
      (then
        (i32.store8 (local.get $out) (i32.const 45))
        (return (i32.add (local.get $out) (i32.const 1)))))
    (memory.copy (local.get $out) (i32.load (i32.const 0)) (i32.load (i32.const 4)))
    (i32.add (local.get $out) (i32.load (i32.const 4))))

  (func $probe (param $c i32)
    (local $o i32)
    (i32.store8 (i32.const 1000) (local.get $c))
    (i32.store8 (i32.const 1001) (i32.const 32))
    (local.set $o (call $map (i32.const 200) (i32.const 15) (i32.const 1) (i32.const 1002)))
    (local.set $o (call $map (i32.const 220) (i32.const 16) (i32.const 0) (local.get $o)))
    (local.set $o (call $map (i32.const 240) (i32.const 17) (i32.const 1) (local.get $o)))
    (local.set $o (call $trailer (local.get $o)))
    (drop (call $log (i32.const 2) (i32.const 1000) (i32.sub (local.get $o) (i32.const 1000)))))

  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (call $probe (i32.const 71)) (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (call $probe (i32.const 72)) (i32.const 0))
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
    (call $probe (i32.const 66)) (i32.const 0))
  (func (export "proxy_on_request_trailers") (param i32 i32) (result i32)
    (call $probe (i32.const 82)) (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (call $probe (i32.const 83)) (i32.const 0))
  (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32)
    (call $probe (i32.const 68)) (i32.const 0))
  (func (export "proxy_on_response_trailers") (param i32 i32) (result i32)
    (call $probe (i32.const 84)) (i32.const 0))
  (func (export "proxy_on_log") (param i32)
    (call $probe (i32.const 76)))
  (func (export "proxy_on_done") (param i32) (result i32)
    (call $probe (i32.const 69)) (i32.const 1))
  (func (export "proxy_on_new_connection") (param i32) (result i32)
    (call $probe (i32.const 78)) (i32.const 0))
  (func (export "proxy_on_downstream_data") (param i32 i32 i32) (result i32)
    (call $probe (i32.const 87)) (i32.const 0))
  (func (export "proxy_on_upstream_data") (param i32 i32 i32) (result i32)
    (call $probe (i32.const 80)) (i32.const 0)))
