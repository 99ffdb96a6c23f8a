// GroupNorm's and InstanceNorm's paths where γ, β and the statistics are constants along a row of
// [1, N·C, L] (one channel of one sample): the affine then joins BN's own passes, as in BN.
// see: Wu & He 2018, Group Normalization, https://arxiv.org/abs/1803.08494 (§3.1, Fig. 2)
import { Tensor } from '../tensor';
import { runtime } from '../runtime/index';
import { F64Block } from '../runtime/block';
import { bnBackward, bnNormalize } from '../kernels/batchnorm';
import { groupNormBackward } from '../kernels/rownorm';
import { activationBackward } from '../kernels/activations';
import type { Stats } from './bn_core';
import type { NormGrad, NormPlan } from './norm_core';

/** γ or β (c values) repeated for each row of `fine` (row r takes channel r mod c); null stays null. */
export function perRow(p: NormPlan, t: Tensor | null): Tensor | null {
  if (t === null) return null;
  const rows = p.fine!.c,
    c = p.affine.c;
  const r = Tensor.empty([rows]);
  const v = r.view(),
    src = t.view();
  for (let i = 0; i < rows; i++) v[i] = src[i % c];
  return r;
}

/** f64 [mean, invstd] per row of `fine`: each its group's. */
function fineStats(p: NormPlan, stats: Stats): F64Block {
  const rows = p.fine!.c,
    per = p.per;
  const e = new F64Block(2 * rows);
  const rt = runtime();
  const v = e.f64(),
    mean = rt.f64(stats.mean, p.view.c),
    inv = rt.f64(stats.invstd, p.view.c);
  for (let r = 0; r < rows; r++) {
    v[r] = mean[Math.floor(r / per)];
    v[rows + r] = inv[Math.floor(r / per)];
  }
  return e;
}

/** GroupNorm's forward after its statistics: y = x̂·γ + β (then ReLU) by one normalize of `fine` with γ, β and the statistics per row. */
export function groupNormalize(p: NormPlan, x: Tensor, y: Tensor, w: Tensor | null, b: Tensor | null, stats: Stats, relu: boolean): void {
  const f = p.fine!;
  const made: { dispose(): void }[] = [];
  try {
    const e = fineStats(p, stats);
    made.push(e);
    const rw = perRow(p, w);
    if (rw) made.push(rw);
    const rb = perRow(p, b);
    if (rb) made.push(rb);
    bnNormalize(f, x.ptr, y.ptr, rw ? rw.ptr : 0, rb ? rb.ptr : 0, e.ptr, e.ptr + 8 * f.c, relu);
  } finally {
    for (const t of made) t.dispose();
  }
}

/** normBackward when each view row has one channel: BN's backward of the view with γ per row, dγ and dβ per row summed over the samples. */
export function rowBackward(a: NormGrad): void {
  const { p, x, dy, dx, w, b, stats, dw, db, relu } = a;
  const rows = p.view.c,
    c = p.affine.c;
  const made: Tensor[] = [];
  try {
    const rw = perRow(p, w);
    if (rw) made.push(rw);
    const rb = relu ? perRow(p, b) : null; // β only tells where the fused ReLU's output was positive
    if (rb) made.push(rb);
    const tw = Tensor.full([rows], 0);
    made.push(tw);
    const tb = Tensor.full([rows], 0);
    made.push(tb);
    const [gw, gb] = [dw ? tw.ptr : 0, db ? tb.ptr : 0];
    bnBackward(p.view, x.ptr, dy.ptr, dx.ptr, rw ? rw.ptr : 0, stats.mean, stats.invstd, gw, gb, true, relu, rb ? rb.ptr : 0);
    const tv = tw.view(),
      bv = tb.view();
    addOverSamples(dw, c, rows, (r) => tv[r]);
    addOverSamples(db, c, rows, (r) => bv[r]);
  } finally {
    for (const t of made) t.dispose();
  }
}

/** into[ch] (f32, c values; 0 = not wanted) += Σ of row(r) over the rows r ≡ ch mod c (one per sample), in f64. */
function addOverSamples(into: number, c: number, rows: number, row: (r: number) => number): void {
  if (into === 0) return;
  const g = runtime().f32(into, c);
  for (let ch = 0; ch < c; ch++) {
    let t = 0;
    for (let r = ch; r < rows; r += c) t += row(r);
    g[ch] += t;
  }
}

/**
 * GroupNorm's backward with its affine, in BN's two passes (kernels/rownorm.ts groupNormBackward):
 * each channel run's Σdy, Σdy·(x − mean) merged per group, then dx with per-run constants. With the
 * fused ReLU, dy is first masked (into dx) where the forward's output, made again, was positive:
 * the same sums as the norm then ReLU, bit for bit (the kernel reads each dy before it writes that dx).
 */
export function groupBackward(a: NormGrad): void {
  const { p, x, w, b, stats, dw, db, relu } = a;
  let dy = a.dy;
  const dx = a.dx;
  if (relu) {
    const y = Tensor.empty(x.shape);
    try {
      groupNormalize(p, x, y, w, b, stats, false);
      activationBackward('relu', y.ptr, dy.ptr, dx.ptr, x.size);
    } finally {
      y.dispose();
    }
    dy = dx;
  }
  groupNormBackward(x.ptr, dy.ptr, dx.ptr, p.view.c, p.affine.c, p.per, p.affine.l, w ? w.ptr : 0, stats.mean, stats.invstd, dw, db);
}
