;; A plugin that answers every request itself in proxy_on_request_headers: 403 with the body
;; "denied 100%\n" and the header `x-own: 1`, and, when the request has an `x-grpc` header, the
;; gRPC status 9 (else none). Used to hold the built-in host to Envoy on the local reply a gRPC
;; client gets.
(module
  (import "env" "proxy_send_local_response"
    (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (data (i32.const 100) "denied 100%\n")
  ;; One header, `x-own: 1`, serialized: the count, the sizes, then each name and value.
  (data (i32.const 140) "\01\00\00\00\05\00\00\00\01\00\00\00x-own\001\00")
  (data (i32.const 200) "x-grpc")
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (local $grpc i32)
    (local.set $grpc (i32.const -1))
    (if (i32.eqz (call $get (i32.const 0) (i32.const 200) (i32.const 6) (i32.const 0) (i32.const 4)))
      (then (local.set $grpc (i32.const 9))))
    (drop (call $reply (i32.const 403) (i32.const 0) (i32.const 0) (i32.const 100) (i32.const 12)
      (i32.const 140) (i32.const 20) (local.get $grpc)))
    (i32.const 1)))
