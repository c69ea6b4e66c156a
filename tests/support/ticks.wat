;; A plugin that asks for a tick every 50 ms and counts them; a request gets a 204 local reply once
;; at least one tick came, a 200 from the upstream before. Used by the serve tests: ticks come on
;; the real clock while the server waits.
(module
  (import "env" "proxy_set_tick_period_milliseconds" (func $period (param i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $ticks (mut i32) (i32.const 0))
  (func (export "malloc") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $period (i32.const 50)))
    (i32.const 1))
  (func (export "proxy_on_tick") (param i32)
    (global.set $ticks (i32.add (global.get $ticks) (i32.const 1))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (if (i32.gt_u (global.get $ticks) (i32.const 0))
      (then (drop (call $reply (i32.const 204) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                               (i32.const 0) (i32.const 0) (i32.const 0)))
            (return (i32.const 1))))
    (i32.const 0)))
