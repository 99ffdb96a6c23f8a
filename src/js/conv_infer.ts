// Pure-JS twin of assembly/conv_infer.ts: the inference convolution summed as this backend's own
// im2col + sgemm + convBiasNCHW sum (src/js/gemm.ts: in f64 in k order, rounded to f32 once; then
// the bias in f32), then the clamp, so it is bit-identical to the JS backend's Conv2d.
import { f32 } from './memory';

/** Bytes of workspace the WASM kernel needs (the JS one uses none; same value, so callers agree). */
export function convInferWorkspace(K: number, P: number): number {
  return (Math.min(K, 256) * (((Math.min(P, 256) + 7) & ~7) + 4)) << 2;
}

/** One image: y[o, oh·ow] = clamp(W[o, c·kh·kw] ⋆ x[c, h, w] + bias, lo, hi); bias = 0: none. */
export function convInferNCHW(
  x: number,
  wt: number,
  bias: number,
  y: number,
  _ws: number,
  c: number,
  h: number,
  w: number,
  o: number,
  kh: number,
  kw: number,
  sh: number,
  sw: number,
  ph: number,
  pw: number,
  oh: number,
  ow: number,
  lo: number,
  hi: number,
): void {
  const K = c * kh * kw,
    P = oh * ow,
    kk = kh * kw;
  if (o <= 0 || P <= 0) return;
  const X = f32(x, c * h * w),
    W = f32(wt, o * K),
    Y = f32(y, o * P),
    B = bias !== 0 ? f32(bias, o) : null;
  const col = new Float32Array(K);
  const fr = Math.fround;
  for (let q = 0; q < P; q++) {
    const oy = Math.floor(q / ow),
      ox = q % ow;
    // the column of pixel q: its window over x, tap order (c, ki, kj), zeros in the padding
    for (let r = 0; r < K; r++) {
      const ci = Math.floor(r / kk),
        ki = Math.floor((r % kk) / kw),
        kj = r % kw;
      const iy = oy * sh - ph + ki,
        ix = ox * sw - pw + kj;
      col[r] = iy >= 0 && iy < h && ix >= 0 && ix < w ? X[(ci * h + iy) * w + ix] : 0;
    }
    for (let i = 0; i < o; i++) {
      let s = 0;
      for (let p = 0; p < K; p++) s += W[i * K + p] * col[p];
      let total = fr(s);
      if (B !== null) total = fr(total + B[i]);
      Y[i * P + q] = Math.min(Math.max(total, lo), hi);
    }
  }
}
