;; A plugin that buffers every response body to its end and replaces it with `short`, leaving the
;; content-length as it was: the mistake a body-rewriting plugin makes when it forgets the length.
;; Used by the serve tests.
(module
  (import "env" "proxy_set_buffer_bytes" (func $set (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (data (i32.const 100) "short")
  (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32)
    ;; Before the end: pause, so the proxy buffers the chunk and calls again with all of it.
    (if (i32.eqz (local.get 2))
      (then (return (i32.const 1))))
    (drop (call $set (i32.const 1) (i32.const 0) (local.get 1) (i32.const 100) (i32.const 5)))
    (i32.const 0))
)
