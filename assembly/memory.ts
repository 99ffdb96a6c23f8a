// Linear-memory allocation for the TypeScript runtime. TLSF (the "minimal" runtime's heap) reuses
// freed blocks, so a training loop that frees what it allocates keeps memory flat.
// see: http://www.gii.upv.es/tlsf/ (Two-Level Segregated Fit)

/** Allocates `bytes` of linear memory (16-byte aligned); returns its address. */
export function alloc(bytes: usize): usize {
  return heap.alloc(bytes);
}

/** Frees a block returned by `alloc`. */
export function free(ptr: usize): void {
  heap.free(ptr);
}

/** 1 in the SIMD build, 2 in the relaxed SIMD build, 0 in the scalar build (so a module handed to init() is named correctly). */
export function simdBuild(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 2 : ASC_FEATURE_SIMD ? 1 : 0;
}
