// Gradient checks for autograd tests: the package's gradient of Σ w·f(inputs) against central
// differences of a float64 reference forward.
import { expect } from 'vitest';
import { tensor, F, type Tensor } from '../src/index';
import { randn } from './reference';

// The ops compute in f32 (one rounding per element, sums of ≤ 64 terms): outputs within 1e-5 of the
// f64 reference relative to their scale; gradients within 1e-4 (a backward adds one more f32 product
// chain). Central differences in f64 with h = 1e-6 are exact to ~1e-9 here.
export const TOL_OUT = 1e-5;
export const TOL_GRAD = 1e-4;
const H = 1e-6;

export type Ref = (xs: Float64Array[]) => ArrayLike<number>;

/** Loss Σ w·f(inputs) through the package, and the f64 reference's gradient by central differences. */
export function check(
  shapes: number[][],
  f: (ts: Tensor[]) => Tensor,
  ref: Ref,
  seed = 1,
  positive = false,
  inputs?: (k: number, v: number) => number,
): void {
  const xs = shapes.map((s, k) => {
    const v = randn(
      s.reduce((a, b) => a * b, 1),
      seed + k,
      0,
      1,
    );
    return Float64Array.from(v, (x) => Math.fround(inputs ? inputs(k, x) : positive ? 0.5 + Math.abs(x) : x));
  });
  const want = ref(xs);
  const w = Float64Array.from(randn(want.length, seed + 99), Math.fround);
  const ts = xs.map((x, k) => tensor(x, shapes[k], { requiresGrad: true }));
  const y = f(ts);
  expect(y.size).toBe(want.length);
  const got = y.toArray();
  const scale = Math.max(1, ...Array.from(want, Math.abs));
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(TOL_OUT * scale);
  F.sum(F.mul(y, tensor(w, y.shape))).backward();
  const loss = (vs: Float64Array[]) => {
    const o = ref(vs);
    let s = 0;
    for (let i = 0; i < o.length; i++) s += w[i] * o[i];
    return s;
  };
  xs.forEach((x, k) => {
    const g = ts[k].grad!.toArray();
    const fd = Float64Array.from(x, (_, i) => {
      const keep = x[i];
      x[i] = keep + H;
      const up = loss(xs);
      x[i] = keep - H;
      const down = loss(xs);
      x[i] = keep;
      return (up - down) / (2 * H);
    });
    const gs = Math.max(1, ...Array.from(fd, Math.abs));
    for (let i = 0; i < fd.length; i++) expect(Math.abs(g[i] - fd[i]), `input ${k}[${i}]`).toBeLessThanOrEqual(TOL_GRAD * gs);
  });
}
