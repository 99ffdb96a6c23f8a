// @ts-check
// Node flags for the child Node processes of the tests and the bench. Node 20's V8 has relaxed SIMD
// (the opt-in 'wasm-relaxed' build) behind a flag; Node ≥ 22 has it on and rejects the flag.

/** @type {string[]} */
export const RELAXED_SIMD_FLAGS = Number(process.versions.node.split('.')[0]) < 22 ? ['--experimental-wasm-relaxed-simd'] : [];
