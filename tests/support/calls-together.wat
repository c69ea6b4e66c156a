;; A plugin that makes four http_calls to an `authz` cluster at once, in proxy_on_request_headers,
;; and logs which answer each took, by the order the calls were made: `call I got N`, N being the
;; length of the answer's body. Once all four are answered it lets the request on. Used to hold
;; both hosts to answering calls to one upstream in the order they were made.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call"
    (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $effective (param i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (global $stream (mut i32) (i32.const 0))
  (global $answered (mut i32) (i32.const 0))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (data (i32.const 100) "authz")
  (data (i32.const 200) "\03\00\00\00\07\00\00\00\03\00\00\00\05\00\00\00\06\00\00\00\0a\00\00\00\05\00\00\00:method\00GET\00:path\00/check\00:authority\00authz\00")
  (data (i32.const 1000) "call ? got ?")

  ;; The tokens of the four calls, in the order they were made, at 300.
  (func (export "proxy_on_request_headers") (param $context i32) (param i32 i32) (result i32)
    (local $i i32)
    (global.set $stream (local.get $context))
    (global.set $answered (i32.const 0))
    (block $done (loop $next
      (br_if $done (i32.eq (local.get $i) (i32.const 4)))
      (drop (call $call (i32.const 100) (i32.const 5) (i32.const 200) (i32.const 70)
        (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 5000)
        (i32.add (i32.const 300) (i32.mul (local.get $i) (i32.const 4)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (i32.const 1))

  (func (export "proxy_on_http_call_response")
    (param i32) (param $token i32) (param i32) (param $body i32) (param i32)
    (local $i i32)
    ;; A token that is none of the four's is the host's mistake: the callback traps.
    (block $found (loop $next
      (if (i32.eq (local.get $i) (i32.const 4)) (then unreachable))
      (br_if $found (i32.eq (i32.load (i32.add (i32.const 300) (i32.mul (local.get $i) (i32.const 4))))
        (local.get $token)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (i32.store8 (i32.const 1005) (i32.add (i32.const 48) (local.get $i)))
    (i32.store8 (i32.const 1011) (i32.add (i32.const 48) (local.get $body)))
    (drop (call $log (i32.const 2) (i32.const 1000) (i32.const 12)))
    (global.set $answered (i32.add (global.get $answered) (i32.const 1)))
    (if (i32.eq (global.get $answered) (i32.const 4))
      (then
        (drop (call $effective (global.get $stream)))
        (drop (call $continue (i32.const 0)))))))
