// Thin wrappers over the direct depthwise convolution kernels (assembly/depthwise.ts,
// src/js/depthwise.ts): the geometry travels as one `Depthwise` here and is spread into the scalar ABI.
import { runtime } from '../runtime/index';

/** A depthwise convolution's geometry: n images of c channels h×w, `mult` filters per channel. */
export interface Depthwise {
  readonly n: number;
  readonly c: number;
  readonly h: number;
  readonly w: number;
  readonly mult: number;
  readonly kh: number;
  readonly kw: number;
  readonly sh: number;
  readonly sw: number;
  readonly ph: number;
  readonly pw: number;
  readonly dh: number;
  readonly dw: number;
  readonly oh: number;
  readonly ow: number;
  readonly nhwc: boolean;
}

const spread = (g: Depthwise) =>
  [g.n, g.c, g.h, g.w, g.mult, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.oh, g.ow, g.nhwc ? 1 : 0] as const;

/** y = x ⋆ w (+ b, when b ≠ 0) per channel. */
export function depthwiseForward(x: number, wt: number, b: number, y: number, g: Depthwise): void {
  runtime().k.depthwiseForward(x, wt, b, y, ...spread(g));
}

/** dx (overwritten) from dy. */
export function depthwiseBackwardInput(dy: number, wt: number, dx: number, g: Depthwise): void {
  runtime().k.depthwiseBackwardInput(dy, wt, dx, ...spread(g));
}

/** dwt += ∂L/∂w and db += ∂L/∂b (db = 0: no bias). */
export function depthwiseBackwardWeight(x: number, dy: number, dwt: number, db: number, g: Depthwise): void {
  runtime().k.depthwiseBackwardWeight(x, dy, dwt, db, ...spread(g));
}
