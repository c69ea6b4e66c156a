;; A plugin that holds each body until its end (it pauses on every chunk before it), as a plugin
;; that reads whole bodies does. Used to hold the built-in host to Envoy on how much of a body
;; Envoy holds for a plugin.
(module
  (memory (export "memory") 1)
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_request_body") (param i32 i32) (param $eos i32) (result i32)
    (i32.eqz (local.get $eos)))
  (func (export "proxy_on_response_body") (param i32 i32) (param $eos i32) (result i32)
    (i32.eqz (local.get $eos))))
