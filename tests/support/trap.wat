;; A plugin that traps on requests whose path starts with `/boom` and lets every other request
;; through. Used by the serve tests: that request gets 500, the next one succeeds.
(module
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (data (i32.const 100) ":path")
  (func (export "proxy_on_request_headers") (param $ctx i32) (param i32 i32) (result i32)
    ;; The request's :path; its value pointer lands at 0, its size at 4.
    (drop (call $get (i32.const 0) (i32.const 100) (i32.const 5) (i32.const 0) (i32.const 4)))
    (if (i32.eq (i32.load8_u (i32.add (i32.load (i32.const 0)) (i32.const 1))) (i32.const 98))
      (then unreachable))
    (i32.const 0)))
