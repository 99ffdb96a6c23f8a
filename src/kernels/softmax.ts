// Thin wrapper over the softmax kernels (assembly/softmax.ts, src/js/softmax.ts).
import { runtime } from '../runtime/index';

/** The tensor seen as [outer][c][inner] around axis `dim` of `shape`. */
export function around(shape: readonly number[], dim: number): { outer: number; c: number; inner: number } {
  const prod = (a: readonly number[]) => a.reduce((p, d) => p * d, 1);
  return { outer: prod(shape.slice(0, dim)), c: shape[dim], inner: prod(shape.slice(dim + 1)) };
}

/** y = (log) softmax(x) along the middle axis of [outer][c][inner]. */
export function softmax(x: number, y: number, outer: number, c: number, inner: number, log: boolean): void {
  if (outer * c * inner > 0) runtime().k.softmaxForward(x, y, outer, c, inner, log ? 1 : 0);
}

/** dx from dy and the forward's output y. */
export function softmaxBackward(y: number, dy: number, dx: number, outer: number, c: number, inner: number, log: boolean): void {
  if (outer * c * inner > 0) runtime().k.softmaxBackward(y, dy, dx, outer, c, inner, log ? 1 : 0);
}
