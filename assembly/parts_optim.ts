// Part kernels of the optimizer updates (optim.ts) for the threaded build: part p of a call updates
// a slice of the parameter (and its gradient and state) with the single-threaded kernel; each
// element's update reads only that element, so the bits do not depend on the slices. Slices start
// at multiples of 16 elements, so no element moves between a kernel's vector body and its tail.
import { sgdStep, adamStep, rmspropStep, adagradStep, adadeltaStep } from './optim';
import { sliceStart } from './parts';

/** Elements per unit of a slice. */
const UNIT: i32 = 16;

/** First element of slice `part` of `parts` of n elements (whole units; the last ends at n). */
// @ts-ignore: decorator
@inline function elementStart(part: i32, parts: i32, n: i32): i32 {
  return min(n, sliceStart(part, parts, (n + UNIT - 1) / UNIT) * UNIT);
}

/** sgdStep (same arguments) on slice `part` of `parts`. */
export function sgdStepPart(part: i32, parts: i32, p: usize, g: usize, buf: usize, n: i32, lr: f32, momentum: f32, dampening: f32, weightDecay: f32, nesterov: i32, first: i32): void {
  let i0 = elementStart(part, parts, n), i1 = elementStart(part + 1, parts, n);
  if (i1 <= i0) return;
  let o = <usize>i0 << 2;
  sgdStep(p + o, g + o, buf != 0 ? buf + o : 0, i1 - i0, lr, momentum, dampening, weightDecay, nesterov, first);
}

/** adamStep (same arguments) on slice `part` of `parts`. */
export function adamStepPart(part: i32, parts: i32, p: usize, g: usize, m: usize, v: usize, n: i32, lr: f32, beta1: f32, beta2: f32, eps: f32, weightDecay: f32, decoupled: i32, t: i32): void {
  let i0 = elementStart(part, parts, n), i1 = elementStart(part + 1, parts, n);
  if (i1 <= i0) return;
  let o = <usize>i0 << 2;
  adamStep(p + o, g + o, m + o, v + o, i1 - i0, lr, beta1, beta2, eps, weightDecay, decoupled, t);
}

/** rmspropStep (same arguments) on slice `part` of `parts`. */
export function rmspropStepPart(part: i32, parts: i32, p: usize, g: usize, v: usize, avg: usize, buf: usize, n: i32, lr: f32, alpha: f32, eps: f32, weightDecay: f32, momentum: f32, centered: i32): void {
  let i0 = elementStart(part, parts, n), i1 = elementStart(part + 1, parts, n);
  if (i1 <= i0) return;
  let o = <usize>i0 << 2;
  rmspropStep(p + o, g + o, v + o, avg != 0 ? avg + o : 0, buf != 0 ? buf + o : 0, i1 - i0, lr, alpha, eps, weightDecay, momentum, centered);
}

/** adagradStep (same arguments) on slice `part` of `parts`. */
export function adagradStepPart(part: i32, parts: i32, p: usize, g: usize, sum: usize, n: i32, lr: f32, lrDecay: f32, eps: f32, weightDecay: f32, t: i32): void {
  let i0 = elementStart(part, parts, n), i1 = elementStart(part + 1, parts, n);
  if (i1 <= i0) return;
  let o = <usize>i0 << 2;
  adagradStep(p + o, g + o, sum + o, i1 - i0, lr, lrDecay, eps, weightDecay, t);
}

/** adadeltaStep (same arguments) on slice `part` of `parts`. */
export function adadeltaStepPart(part: i32, parts: i32, p: usize, g: usize, v: usize, u: usize, n: i32, lr: f32, rho: f32, eps: f32, weightDecay: f32): void {
  let i0 = elementStart(part, parts, n), i1 = elementStart(part + 1, parts, n);
  if (i1 <= i0) return;
  let o = <usize>i0 << 2;
  adadeltaStep(p + o, g + o, v + o, u + o, i1 - i0, lr, rho, eps, weightDecay);
}
