;; A plugin that logs why, then traps in proxy_on_configure. Used by the serve tests: the server
;; refuses to start and shows the plugin's log.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "malloc") (param $n i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (data (i32.const 100) "no upstream configured")
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $log (i32.const 4) (i32.const 100) (i32.const 22)))
    unreachable)
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0)))
