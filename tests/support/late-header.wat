;; A plugin that reads a request header in on_response_headers and fails when it cannot, as a Rust
;; plugin does when it unwraps the result: Envoy no longer gives it the request headers there.
(module
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (data (i32.const 100) ":path")
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (if (call $get (i32.const 0) (i32.const 100) (i32.const 5) (i32.const 0) (i32.const 4))
      (then unreachable))
    (i32.const 0)))
