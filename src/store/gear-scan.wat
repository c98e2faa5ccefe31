;; The FastCDC gear loop of chunker.ts, compiled to the bytes in gear-scan.wasm.ts by
;; `npm run build:wasm`. Memory: the gear table (256 little-endian i32) at 0..1023, the
;; buffer being chunked from 1024 on. Indices passed in are offsets into the buffer.
(module
  (memory (export "memory") 17)
  (global $h (export "h") (mut i32) (i32.const 0))
  ;; Hashes bytes [i, endL): while i < endS a cut needs (h & maskS) == 0, after it
  ;; (h & maskL) == 0. Returns the index just past the cut, or -1 with the hash kept in $h.
  (func (export "scan")
    (param $i i32) (param $endS i32) (param $endL i32) (param $maskS i32) (param $maskL i32)
    (result i32)
    (local $h i32)
    (local.set $h (global.get $h))
    (block $small
      (loop $s
        (br_if $small (i32.ge_u (local.get $i) (local.get $endS)))
        (local.set $h
          (i32.add
            (i32.shl (local.get $h) (i32.const 1))
            (i32.load (i32.shl (i32.load8_u offset=1024 (local.get $i)) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (if (i32.eqz (i32.and (local.get $h) (local.get $maskS)))
          (then (global.set $h (i32.const 0)) (return (local.get $i))))
        (br $s)))
    (block $large
      (loop $l
        (br_if $large (i32.ge_u (local.get $i) (local.get $endL)))
        (local.set $h
          (i32.add
            (i32.shl (local.get $h) (i32.const 1))
            (i32.load (i32.shl (i32.load8_u offset=1024 (local.get $i)) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (if (i32.eqz (i32.and (local.get $h) (local.get $maskL)))
          (then (global.set $h (i32.const 0)) (return (local.get $i))))
        (br $l)))
    (global.set $h (local.get $h))
    (i32.const -1)))
