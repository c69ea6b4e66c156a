;; A plugin that asks an `authz` cluster about each request, and traces the order in which its
;; callbacks run. Each event adds three characters, then a space:
;;   `H` request headers, `B` request body, `T` request trailers, and `h`, `b`, `t` for the
;;   response's, each with end_of_stream (0 or 1) and the size (headers: 0), one digit each;
;;   `A` an answer, with how many answers have come so far, then 0.
;; proxy_on_log logs the whole trace. What the plugin does depends on the first letter of the
;; request's path:
;;   `/hold`: it pauses the request headers until the answer, then asks again from the response
;;      headers and pauses them until that answer too; it traces the response as well.
;;   `/go`: it lets the request headers go on at once.
;;   `/buffer`: as `/go`, and it pauses on each request body chunk before the end.
;; In `/go` and `/buffer` the response headers wait for the answer, so the trace ends with it.
;; Used to hold the built-in host to Envoy on what arrives before a call's answer.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call"
    (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $effective (param i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (global $stream (mut i32) (i32.const 0))
  ;; 104 (`h`) hold, 103 (`g`) go, 98 (`b`) buffer.
  (global $mode (mut i32) (i32.const 0))
  (global $answers (mut i32) (i32.const 0))
  (global $waiting (mut i32) (i32.const 0))
  (global $len (mut i32) (i32.const 0))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (data (i32.const 100) "authz")
  (data (i32.const 120) ":path")
  (data (i32.const 200) "\03\00\00\00\07\00\00\00\03\00\00\00\05\00\00\00\06\00\00\00\0a\00\00\00\05\00\00\00:method\00GET\00:path\00/check\00:authority\00authz\00")

  ;; Adds `event`, `flag` and `size` (digits) and a space to the trace at 1000.
  (func $trace (param $event i32) (param $flag i32) (param $size i32)
    (local $at i32)
    (local.set $at (i32.add (i32.const 1000) (global.get $len)))
    (i32.store8 (local.get $at) (local.get $event))
    (i32.store8 (i32.add (local.get $at) (i32.const 1)) (i32.add (i32.const 48) (local.get $flag)))
    (i32.store8 (i32.add (local.get $at) (i32.const 2)) (i32.add (i32.const 48) (local.get $size)))
    (i32.store8 (i32.add (local.get $at) (i32.const 3)) (i32.const 32))
    (global.set $len (i32.add (global.get $len) (i32.const 4))))

  (func $ask
    (drop (call $call (i32.const 100) (i32.const 5) (i32.const 200) (i32.const 70)
                      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                      (i32.const 1000) (i32.const 8))))

  (func $holding (result i32) (i32.eq (global.get $mode) (i32.const 104)))

  (func (export "proxy_on_request_headers") (param $ctx i32) (param i32) (param $eos i32) (result i32)
    (global.set $stream (local.get $ctx))
    (global.set $answers (i32.const 0))
    (global.set $waiting (i32.const 0))
    (global.set $len (i32.const 0))
    (drop (call $get (i32.const 0) (i32.const 120) (i32.const 5) (i32.const 0) (i32.const 4)))
    (global.set $mode (i32.load8_u (i32.add (i32.load (i32.const 0)) (i32.const 1))))
    (call $trace (i32.const 72) (local.get $eos) (i32.const 0))
    (call $ask)
    (call $holding))

  (func (export "proxy_on_request_body") (param i32) (param $size i32) (param $eos i32) (result i32)
    (call $trace (i32.const 66) (local.get $eos) (local.get $size))
    (i32.and (i32.eq (global.get $mode) (i32.const 98)) (i32.eqz (local.get $eos))))

  (func (export "proxy_on_request_trailers") (param i32) (param $count i32) (result i32)
    (call $trace (i32.const 84) (i32.const 0) (local.get $count))
    (i32.const 0))

  (func (export "proxy_on_response_headers") (param i32) (param i32) (param $eos i32) (result i32)
    (if (call $holding)
      (then
        (call $trace (i32.const 104) (local.get $eos) (i32.const 0))
        (call $ask)
        (global.set $waiting (i32.const 1))
        (return (i32.const 1))))
    (if (global.get $answers) (then (return (i32.const 0))))
    (global.set $waiting (i32.const 1))
    (i32.const 1))

  (func (export "proxy_on_response_body") (param i32) (param $size i32) (param $eos i32) (result i32)
    (if (call $holding)
      (then (call $trace (i32.const 98) (local.get $eos) (local.get $size))))
    (i32.const 0))

  (func (export "proxy_on_response_trailers") (param i32) (param $count i32) (result i32)
    (if (call $holding)
      (then (call $trace (i32.const 116) (i32.const 0) (local.get $count))))
    (i32.const 0))

  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
    (drop (call $effective (global.get $stream)))
    (global.set $answers (i32.add (global.get $answers) (i32.const 1)))
    (call $trace (i32.const 65) (global.get $answers) (i32.const 0))
    (if (global.get $waiting)
      (then
        (global.set $waiting (i32.const 0))
        (drop (call $continue (i32.const 1))))
      (else
        (if (call $holding) (then (drop (call $continue (i32.const 0))))))))

  (func (export "proxy_on_log") (param i32)
    (drop (call $log (i32.const 2) (i32.const 1000) (i32.sub (global.get $len) (i32.const 1))))))
