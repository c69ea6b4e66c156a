;; A plugin that, in proxy_on_request_headers, calls the host's metric, shared-data, queue, tick
;; and log-level functions in ways Envoy answers differently, and logs the statuses (0 ok, 1 not
;; found, 2 bad argument, 7 empty, 8 CAS mismatch) as one line, `R` then groups: metric definitions
;; (counter, gauge, histogram, an unknown kind); a counter incremented by 1 and -1, recorded 5,
;; read, and its value; a gauge incremented by -1, recorded 3, read, and its value; a histogram
;; incremented, recorded and read; an unknown metric id incremented, recorded and read; shared
;; data read missing, set, read, set with a wrong CAS and with the right one; a queue resolved
;; before it exists, registered, resolved under another VM's id, dequeued empty, enqueued and
;; dequeued, and an unknown queue enqueued and dequeued; the tick period set in a stream context,
;; the log level read, and its value. Used to hold the built-in host to Envoy on these statuses.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_define_metric" (func $def (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $inc (param i32 i64) (result i32)))
  (import "env" "proxy_record_metric" (func $rec (param i32 i64) (result i32)))
  (import "env" "proxy_get_metric" (func $getm (param i32 i32) (result i32)))
  (import "env" "proxy_get_shared_data" (func $getsd (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_shared_data" (func $setsd (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_register_shared_queue" (func $reg (param i32 i32 i32) (result i32)))
  (import "env" "proxy_resolve_shared_queue" (func $res (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_enqueue_shared_queue" (func $enq (param i32 i32 i32) (result i32)))
  (import "env" "proxy_dequeue_shared_queue" (func $deq (param i32 i32 i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $tick (param i32) (result i32)))
  (import "env" "proxy_get_log_level" (func $lvl (param i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 60000))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "proxy_abi_version_0_2_1"))
  (data (i32.const 100) "c_one")
  (data (i32.const 110) "g_one")
  (data (i32.const 120) "h_one")
  (data (i32.const 130) "key")
  (data (i32.const 140) "val")
  (data (i32.const 150) "q1")
  (data (i32.const 160) "vm")  ;; not this VM's id, in either host
  (data (i32.const 170) "nokey")
  (data (i32.const 180) "noq")
  (data (i32.const 2000) "R ")
  (global $o (mut i32) (i32.const 2002))
  ;; Appends a status (or small value) as a digit.
  (func $put (param $v i32)
    (i32.store8 (global.get $o) (i32.add (i32.const 48) (local.get $v)))
    (global.set $o (i32.add (global.get $o) (i32.const 1))))
  (func $sp
    (i32.store8 (global.get $o) (i32.const 32))
    (global.set $o (i32.add (global.get $o) (i32.const 1))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    ;; metrics: define c(0) g(1) h(2)
    (call $put (call $def (i32.const 0) (i32.const 100) (i32.const 5) (i32.const 0)))
    (call $put (call $def (i32.const 1) (i32.const 110) (i32.const 5) (i32.const 4)))
    (call $put (call $def (i32.const 2) (i32.const 120) (i32.const 5) (i32.const 8)))
    (call $put (call $def (i32.const 7) (i32.const 120) (i32.const 5) (i32.const 12)))
    (call $sp)
    ;; counter: inc +1, inc -1, record 5, get
    (call $put (call $inc (i32.load (i32.const 0)) (i64.const 1)))
    (call $put (call $inc (i32.load (i32.const 0)) (i64.const -1)))
    (call $put (call $rec (i32.load (i32.const 0)) (i64.const 5)))
    (call $put (call $getm (i32.load (i32.const 0)) (i32.const 20)))
    (call $put (i32.wrap_i64 (i64.load (i32.const 20))))
    (call $sp)
    ;; gauge: inc -1, record 3, get
    (call $put (call $inc (i32.load (i32.const 4)) (i64.const -1)))
    (call $put (call $rec (i32.load (i32.const 4)) (i64.const 3)))
    (call $put (call $getm (i32.load (i32.const 4)) (i32.const 20)))
    (call $put (i32.wrap_i64 (i64.load (i32.const 20))))
    (call $sp)
    ;; histogram: inc 1, record 3, get
    (call $put (call $inc (i32.load (i32.const 8)) (i64.const 1)))
    (call $put (call $rec (i32.load (i32.const 8)) (i64.const 3)))
    (call $put (call $getm (i32.load (i32.const 8)) (i32.const 20)))
    (call $sp)
    ;; unknown metric id 9999
    (call $put (call $inc (i32.const 9999) (i64.const 1)))
    (call $put (call $rec (i32.const 9999) (i64.const 1)))
    (call $put (call $getm (i32.const 9999) (i32.const 20)))
    (call $sp)
    ;; shared data: get missing, set cas 0, get, set cas wrong, set cas right
    (call $put (call $getsd (i32.const 170) (i32.const 5) (i32.const 24) (i32.const 28) (i32.const 32)))
    (call $put (call $setsd (i32.const 130) (i32.const 3) (i32.const 140) (i32.const 3) (i32.const 0)))
    (call $put (call $getsd (i32.const 130) (i32.const 3) (i32.const 24) (i32.const 28) (i32.const 32)))
    (call $put (call $setsd (i32.const 130) (i32.const 3) (i32.const 140) (i32.const 3) (i32.const 12345)))
    (call $put (call $setsd (i32.const 130) (i32.const 3) (i32.const 140) (i32.const 3) (i32.load (i32.const 32))))
    (call $sp)
    ;; queues: resolve missing, register, resolve, dequeue empty, enqueue, dequeue, enqueue bad id, dequeue bad id
    (call $put (call $res (i32.const 160) (i32.const 2) (i32.const 180) (i32.const 3) (i32.const 36)))
    (call $put (call $reg (i32.const 150) (i32.const 2) (i32.const 40)))
    (call $put (call $res (i32.const 160) (i32.const 2) (i32.const 150) (i32.const 2) (i32.const 44)))
    (call $put (call $deq (i32.load (i32.const 40)) (i32.const 48) (i32.const 52)))
    (call $put (call $enq (i32.load (i32.const 40)) (i32.const 140) (i32.const 3)))
    (call $put (call $deq (i32.load (i32.const 40)) (i32.const 48) (i32.const 52)))
    (call $put (call $enq (i32.const 777) (i32.const 140) (i32.const 3)))
    (call $put (call $deq (i32.const 777) (i32.const 48) (i32.const 52)))
    (call $sp)
    ;; tick period in a stream context; log level
    (call $put (call $tick (i32.const 1000)))
    (call $put (call $lvl (i32.const 56)))
    (call $put (i32.load (i32.const 56)))
    (drop (call $log (i32.const 2) (i32.const 2000) (i32.sub (global.get $o) (i32.const 2000))))
    (i32.const 0))
)
