// Part kernels of the elementwise ops and activations (elementwise.ts, activations.ts) for the
// threaded build: part p of a call runs the single-threaded kernel on a slice of whole units of 16
// elements (or of whole rows for a broadcast over rows). Each output element reads only its own
// inputs, and no element moves between a kernel's vector body and its tail, so the bits do not
// depend on the slices.
import { ewBinary, ewScalar } from './elementwise';
import { reluForward, reluBackward, sigmoidForward, sigmoidBackward, tanhForward, tanhBackward, mulElementwise, clampForward, clampBackward, leakyReluForward, leakyReluBackward, hardswishForward, hardswishBackward, hardsigmoidForward, hardsigmoidBackward } from './activations';
import { sliceStart } from './parts';

/** Elements per unit of a slice. */
const UNIT: i32 = 16;

/** First element of slice `part` of `parts` of n elements (whole units; the last ends at n). */
// @ts-ignore: decorator
@inline function elementStart(part: i32, parts: i32, n: i32): i32 {
  return min(n, sliceStart(part, parts, (n + UNIT - 1) / UNIT) * UNIT);
}

/**
 * A one-input map y = f(x) on slice `part` of `parts` of n elements; op: 0 relu, 1 sigmoid, 2 tanh,
 * 3 clamp to [p0, p1], 4 leaky relu of slope p0, 5 hardswish, 6 hardsigmoid.
 */
export function unaryPart(part: i32, parts: i32, op: i32, x: usize, y: usize, n: i32, p0: f32, p1: f32): void {
  let i0 = elementStart(part, parts, n), i1 = elementStart(part + 1, parts, n);
  if (i1 <= i0) return;
  let o = <usize>i0 << 2, px = x + o, py = y + o, k = i1 - i0;
  if (op == 0) reluForward(px, py, k);
  else if (op == 1) sigmoidForward(px, py, k);
  else if (op == 2) tanhForward(px, py, k);
  else if (op == 3) clampForward(px, py, k, p0, p1);
  else if (op == 4) leakyReluForward(px, py, k, p0);
  else if (op == 5) hardswishForward(px, py, k);
  else hardsigmoidForward(px, py, k);
}

/**
 * A two-input map y = f(a, b) on slice `part` of `parts` of n elements: op 0–6 the backward of
 * unaryPart's op (a: x, or y for sigmoid and tanh; b: dy; y: dx), 7 the product a·b.
 */
export function binaryPart(part: i32, parts: i32, op: i32, a: usize, b: usize, y: usize, n: i32, p0: f32, p1: f32): void {
  let i0 = elementStart(part, parts, n), i1 = elementStart(part + 1, parts, n);
  if (i1 <= i0) return;
  let o = <usize>i0 << 2, pa = a + o, pb = b + o, py = y + o, k = i1 - i0;
  if (op == 0) reluBackward(pa, pb, py, k);
  else if (op == 1) sigmoidBackward(pa, pb, py, k);
  else if (op == 2) tanhBackward(pa, pb, py, k);
  else if (op == 3) clampBackward(pa, pb, py, k, p0, p1);
  else if (op == 4) leakyReluBackward(pa, pb, py, k, p0);
  else if (op == 5) hardswishBackward(pa, pb, py, k);
  else if (op == 6) hardsigmoidBackward(pa, pb, py, k);
  else mulElementwise(pa, pb, py, k);
}

/** ewScalar (same arguments) on slice `part` of `parts`. */
export function ewScalarPart(part: i32, parts: i32, op: i32, a: usize, s: f32, y: usize, n: i32, swap: i32): void {
  let i0 = elementStart(part, parts, n), i1 = elementStart(part + 1, parts, n);
  if (i1 <= i0) return;
  let o = <usize>i0 << 2;
  ewScalar(op, a + o, s, y + o, i1 - i0, swap);
}

/** ewBinary (same arguments) on slice `part` of `parts`: of the rows, or of a single row's elements. */
export function ewBinaryPart(part: i32, parts: i32, op: i32, a: usize, b: usize, y: usize, rows: i32, m: i32): void {
  if (rows == 1) {
    let j0 = elementStart(part, parts, m), j1 = elementStart(part + 1, parts, m);
    if (j1 <= j0) return;
    let o = <usize>j0 << 2;
    ewBinary(op, a + o, b + o, y + o, 1, j1 - j0);
    return;
  }
  let r0 = sliceStart(part, parts, rows), r1 = sliceStart(part + 1, parts, rows);
  if (r1 <= r0) return;
  let o = <usize>r0 * <usize>m << 2;
  ewBinary(op, a + o, b, y + o, r1 - r0, m);
}
