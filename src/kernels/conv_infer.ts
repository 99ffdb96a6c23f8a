// Thin wrapper over the inference convolution (assembly/conv_infer.ts, src/js/conv_infer.ts): loops
// over the images and owns the gather workspace.
import { runtime } from '../runtime/index';

/** An inference convolution's geometry (NCHW, groups 1, dilation 1). */
export interface ConvInfer {
  readonly n: number;
  readonly c: number;
  readonly h: number;
  readonly w: number;
  readonly o: number;
  readonly kh: number;
  readonly kw: number;
  readonly sh: number;
  readonly sw: number;
  readonly ph: number;
  readonly pw: number;
  readonly oh: number;
  readonly ow: number;
}

/**
 * y = clamp(wt ⋆ x + b, lo, hi) for n NCHW images (b = 0: no bias); pointers. A 1×1 kernel with
 * stride 1 and no padding reads each image as one row of h·w pixels, so every strip of 8 is contiguous.
 */
export function convInferNCHW(x: number, wt: number, b: number, y: number, g: ConvInfer, lo = -Infinity, hi = Infinity): void {
  const rt = runtime(),
    k = rt.k;
  const flat = g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.ph === 0 && g.pw === 0;
  const [h, w, oh, ow] = flat ? [1, g.h * g.w, 1, g.oh * g.ow] : [g.h, g.w, g.oh, g.ow];
  const K = g.c * g.kh * g.kw,
    P = oh * ow;
  if (g.n === 0 || P === 0 || g.o === 0) return;
  if (rt.par?.convInferNCHW(x, wt, b, y, g.n, g.c, h, w, g.o, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, oh, ow, lo, hi)) return;
  const ws = k.alloc(k.convInferWorkspace(K, P));
  try {
    for (let i = 0; i < g.n; i++)
      k.convInferNCHW(
        x + 4 * i * g.c * g.h * g.w,
        wt,
        b,
        y + 4 * i * g.o * P,
        ws,
        g.c,
        h,
        w,
        g.o,
        g.kh,
        g.kw,
        g.sh,
        g.sw,
        g.ph,
        g.pw,
        oh,
        ow,
        lo,
        hi,
      );
  } finally {
    k.free(ws);
  }
}
