// Thin wrapper over the inference 3×3 depthwise convolution (assembly/depthwise_infer.ts,
// src/js/depthwise_infer.ts).
import { runtime } from '../runtime/index';

/** A 3×3 depthwise convolution's geometry: n NCHW images of c channels h×w, padding 1, stride s (1 or 2). */
export interface Depthwise3x3 {
  readonly n: number;
  readonly c: number;
  readonly h: number;
  readonly w: number;
  readonly s: 1 | 2;
  readonly oh: number;
  readonly ow: number;
}

/** y = clamp(x ⋆ w + b, lo, hi) per channel (b = 0: no bias); pointers. */
export function depthwise3x3Infer(x: number, wt: number, b: number, y: number, g: Depthwise3x3, lo = -Infinity, hi = Infinity): void {
  runtime().k.depthwise3x3Infer(x, wt, b, y, g.n, g.c, g.h, g.w, g.s, g.oh, g.ow, lo, hi);
}
