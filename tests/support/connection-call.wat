;; A network plugin that asks an `authz` cluster (GET /check) when a connection opens and pauses
;; the connection until the answer. It logs `N` with its context id and the call's status; in the
;; answer `A` with the context id it is called with and what resuming the downstream returns
;; there (the root context), then `C0` with what resuming it returns once the connection's context
;; is the effective one; and `D` with end_of_stream and the size of each chunk from the client.
;; Used to hold the built-in host to Envoy on a connection's calls.
(module
  (import "env" "proxy_http_call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $effective (param i32) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (global $conn (mut i32) (i32.const 0))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (data (i32.const 100) "authz")
  (data (i32.const 300) "\03\00\00\00\07\00\00\00\03\00\00\00\05\00\00\00\06\00\00\00\0a\00\00\00\05\00\00\00:method\00GET\00:path\00/check\00:authority\00authz\00")
  (func $say (param $a i32) (param $b i32) (param $c i32)
    (i32.store8 (i32.const 50) (local.get $a))
    (i32.store8 (i32.const 51) (i32.add (i32.const 48) (local.get $b)))
    (i32.store8 (i32.const 52) (i32.add (i32.const 48) (local.get $c)))
    (drop (call $log (i32.const 2) (i32.const 50) (i32.const 3))))
  (func (export "proxy_on_new_connection") (param $ctx i32) (result i32)
    (global.set $conn (local.get $ctx))
    (call $say (i32.const 78) (local.get $ctx) (call $call (i32.const 100) (i32.const 5) (i32.const 300) (i32.const 70)
                      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1000) (i32.const 8)))
    (i32.const 1))
  (func (export "proxy_on_downstream_data") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (call $say (i32.const 68) (local.get $eos) (local.get $n))
    (i32.const 0))
  (func (export "proxy_on_http_call_response") (param $ctx i32) (param i32 i32 i32 i32)
    (call $say (i32.const 65) (local.get $ctx) (call $continue (i32.const 2)))
    (drop (call $effective (global.get $conn)))
    (call $say (i32.const 67) (i32.const 0) (call $continue (i32.const 2)))))
