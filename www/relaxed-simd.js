// relaxed-simd.js — its one job: say whether this browser runs WebAssembly relaxed SIMD, so
// that the page (wasm-build.js) and its service worker (sw.js, which stores only the wasm
// files the page will load) agree. Both a classic script and a module: it sets one global.

/** Whether a module using `i32x4.relaxed_dot_i8x16_i7x16_add_s` (the instruction the relaxed
 * builds multiply with) validates here: `() -> v128` of three i8x16 splats and that dot. */
self.PLOTGENRE_RELAXED_SIMD = WebAssembly.validate(new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // types: () -> v128
  0x03, 0x02, 0x01, 0x00, // functions: one of type 0
  0x0a, 0x13, 0x01, 0x11, 0x00, // code: one body of 17 bytes, no locals
  0x41, 0x01, 0xfd, 0x0f, 0x41, 0x02, 0xfd, 0x0f, 0x41, 0x03, 0xfd, 0x0f, // 3 x i8x16.splat
  0xfd, 0x93, 0x02, 0x0b, // i32x4.relaxed_dot_i8x16_i7x16_add_s, end
]));
