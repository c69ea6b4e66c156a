;; A plugin that asks an `authz` cluster (GET /check) before letting each request on, and logs how
;; the answer comes to it, in proxy_on_http_call_response:
;;   `sizes 4:SSSS 5:SSSS 6:SSSS 7:SSSS`, the bytes proxy_get_header_map_pairs lists for header maps
;;      4 and 5 (a gRPC call's metadata) and 6 and 7 (an HTTP call's response headers and
;;      trailers), as 4 hex digits;
;;   `6: NAME/VALUE/...`, map 6's fields, when it has any.
;; Then it lets the request on. Used to hold the built-in host to Envoy on a call's answer.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call"
    (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
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
  (data (i32.const 64) "0123456789abcdef")
  (data (i32.const 100) "authz")
  (data (i32.const 200) "\03\00\00\00\07\00\00\00\03\00\00\00\05\00\00\00\06\00\00\00\0a\00\00\00\05\00\00\00:method\00GET\00:path\00/check\00:authority\00authz\00")
  (data (i32.const 1000) "sizes 4:.... 5:.... 6:.... 7:....")
  (data (i32.const 1100) "6: ")

  ;; The bytes map `kind` lists, written as 4 hex digits at `out`.
  (func $size (param $kind i32) (param $out i32)
    (local $n i32) (local $i i32)
    (drop (call $pairs (local.get $kind) (i32.const 0) (i32.const 4)))
    (local.set $n (i32.load (i32.const 4)))
    (local.set $i (i32.const 4))
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $i)))
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (local.get $out) (local.get $i))
        (i32.load8_u (i32.add (i32.const 64) (i32.and (local.get $n) (i32.const 15)))))
      (local.set $n (i32.shr_u (local.get $n) (i32.const 4)))
      (br $next))))

  ;; Logs map 6's names and values, each followed by `/`, after `6: `.
  (func $fields
    (local $p i32) (local $end i32) (local $at i32) (local $out i32) (local $b i32)
    (drop (call $pairs (i32.const 6) (i32.const 0) (i32.const 4)))
    (local.set $p (i32.load (i32.const 0)))
    (local.set $end (i32.add (local.get $p) (i32.load (i32.const 4))))
    (if (i32.eqz (i32.load (i32.const 4))) (then (return)))
    ;; The names and values start after the count and the two sizes of each field.
    (local.set $at (i32.add (local.get $p)
      (i32.add (i32.const 4) (i32.mul (i32.const 8) (i32.load (local.get $p))))))
    (local.set $out (i32.const 1103))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
      (local.set $b (i32.load8_u (local.get $at)))
      (i32.store8 (local.get $out) (select (local.get $b) (i32.const 47) (local.get $b)))
      (local.set $at (i32.add (local.get $at) (i32.const 1)))
      (local.set $out (i32.add (local.get $out) (i32.const 1)))
      (br $next)))
    (drop (call $log (i32.const 2) (i32.const 1100) (i32.sub (local.get $out) (i32.const 1100)))))

  (func (export "proxy_on_request_headers") (param $context i32) (param i32 i32) (result i32)
    (global.set $stream (local.get $context))
    (drop (call $call (i32.const 100) (i32.const 5) (i32.const 200) (i32.const 70)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 5000) (i32.const 8)))
    (i32.const 1))

  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
    (drop (call $effective (global.get $stream)))
    (call $size (i32.const 4) (i32.const 1008))
    (call $size (i32.const 5) (i32.const 1015))
    (call $size (i32.const 6) (i32.const 1022))
    (call $size (i32.const 7) (i32.const 1029))
    (drop (call $log (i32.const 2) (i32.const 1000) (i32.const 33)))
    (call $fields)
    (drop (call $continue (i32.const 0)))))
