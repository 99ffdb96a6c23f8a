// ZeroPad2d / ConstantPad2d and AvgPool2d(countIncludePad: false) against PyTorch fixtures
// (test/fixtures/gen_torch_pad.py): forward and backward, through the layer's own backward and
// through the tape, both layouts for the pool, every backend; F.hardsigmoid with any alpha and beta
// against a float64 reference; bad arguments refused by name.
import { beforeAll, describe, expect, it } from 'vitest';
import { AvgPool2d, ConstantPad2d, Hardsigmoid, init, noGrad, tensor, ZeroPad2d, F } from '../src/index';
import type { Size2 } from '../src/nn/conv';
import torchPad from './fixtures/torch_pad.json';
import { BACKENDS, caught, toNCHW, toNHWC, values } from './helpers';

interface Case {
  name: string;
  options: {
    kind: 'zero' | 'constant' | 'avg';
    padding: number | number[];
    value?: number;
    kernel?: number | number[];
    stride?: number | number[];
  };
  shape: number[];
  outShape: number[];
  x: number[];
  y: number[];
  gy: number[];
  gx: number[];
}
const CASES = (torchPad as unknown as { cases: Case[] }).cases;

// A pad is a copy: exact. The average sums ≤ 9 values in window order in f32 and divides once, as
// PyTorch's CPU kernel does; its backward adds ≤ 9 quotients per input in another order than
// PyTorch's: a few f32 roundings of values of order 1.
const PAD_TOL = 0;
const AVG_TOL = 2e-6;

// the fixture's 9 significant digits name an f32 value: fround recovers it exactly
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - Math.fround(b[i]))), 0);

function make(c: Case) {
  const o = c.options;
  if (o.kind === 'zero') return new ZeroPad2d(o.padding);
  if (o.kind === 'constant') return new ConstantPad2d(o.padding, o.value!);
  return null;
}

for (const backend of BACKENDS) {
  describe(`padding layers and AvgPool2d countIncludePad: false (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    for (const c of CASES.filter((k) => k.options.kind !== 'avg')) {
      it(`PyTorch: ${c.name}, forward and backward, layer and tape`, () => {
        const m = make(c)!;
        const y = noGrad(() => m.forward(tensor(c.x, c.shape)));
        expect(y.shape).toEqual(c.outShape);
        expect(maxDiff(y.toArray(), c.y)).toBeLessThanOrEqual(PAD_TOL);
        const dx = m.backward(tensor(c.gy, c.outShape));
        expect(maxDiff(dx.toArray(), c.gx)).toBeLessThanOrEqual(PAD_TOL);
        // the tape: x requires a gradient, the op records
        const m2 = make(c)!;
        const x = tensor(c.x, c.shape, { requiresGrad: true });
        const y2 = m2.forward(x);
        expect(maxDiff(y2.toArray(), c.y)).toBeLessThanOrEqual(PAD_TOL);
        F.sum(F.mul(y2, tensor(c.gy, c.outShape))).backward();
        expect(maxDiff(x.grad!.toArray(), c.gx)).toBeLessThanOrEqual(PAD_TOL);
      });
    }

    for (const c of CASES.filter((k) => k.options.kind === 'avg')) {
      for (const layout of ['NCHW', 'NHWC'] as const) {
        it(`PyTorch: ${c.name} (${layout}), forward and backward, layer and tape`, () => {
          const o = c.options;
          const opts = { stride: o.stride as Size2, padding: o.padding as Size2, layout, countIncludePad: false };
          const inShape = layout === 'NCHW' ? c.shape : [c.shape[0], c.shape[2], c.shape[3], c.shape[1]];
          const outShape = layout === 'NCHW' ? c.outShape : [c.outShape[0], c.outShape[2], c.outShape[3], c.outShape[1]];
          const lay = (a: number[], s: number[]) => (layout === 'NCHW' ? Float32Array.from(a) : toNHWC(a, s));
          const back = (a: Float32Array, s: number[]) => (layout === 'NCHW' ? a : toNCHW(a, s));
          const m = new AvgPool2d(o.kernel as Size2, opts);
          expect(m.countIncludePad).toBe(false);
          const y = noGrad(() => m.forward(tensor(lay(c.x, c.shape), inShape)));
          expect(y.shape).toEqual(outShape);
          expect(maxDiff(back(y.toArray(), outShape), c.y)).toBeLessThanOrEqual(AVG_TOL);
          const dx = m.backward(tensor(lay(c.gy, c.outShape), outShape));
          expect(maxDiff(back(dx.toArray(), inShape), c.gx)).toBeLessThanOrEqual(AVG_TOL);
          const x = tensor(lay(c.x, c.shape), inShape, { requiresGrad: true });
          const y2 = F.avgPool2d(x, o.kernel as Size2, opts);
          F.sum(F.mul(y2, tensor(lay(c.gy, c.outShape), outShape))).backward();
          expect(maxDiff(back(x.grad!.toArray(), inShape), c.gx)).toBeLessThanOrEqual(AVG_TOL);
        });
      }
    }

    it('countIncludePad: true (the default) still divides by the whole window', () => {
      const x = tensor([1, 2, 3, 4], [1, 1, 2, 2]);
      const y = noGrad(() => new AvgPool2d(2, { padding: 1 }).forward(x)).toArray();
      const z = noGrad(() => new AvgPool2d(2, { padding: 1, countIncludePad: false }).forward(x)).toArray();
      expect(Array.from(y)).toEqual([0.25, 0.5, 0.75, 1]);
      expect(Array.from(z)).toEqual([1, 2, 3, 4]);
    });

    it('F.hardsigmoid with alpha and beta: max(0, min(1, alpha·x + beta)) and its gradient, against float64', () => {
      const xs = values(37, 3).map((v) => v * 2);
      xs[0] = -0.6 / 0.5; // alpha·x + beta = 0 exactly: the gradient does not pass at the edge
      for (const [alpha, beta] of [
        [0.2, 0.5],
        [0.5, 0.6],
        [-1.5, 0.25],
      ]) {
        const x = tensor(xs, [37], { requiresGrad: true });
        const y = F.hardsigmoid(x, alpha, beta);
        const got = y.toArray();
        F.sum(y).backward();
        const g = x.grad!.toArray();
        xs.forEach((v, i) => {
          const t = Math.fround(Math.fround(alpha) * v) + beta;
          expect(got[i]).toBeCloseTo(Math.max(0, Math.min(1, t)), 6);
          const inside = Math.fround(Math.fround(Math.fround(alpha) * v) + beta);
          expect(g[i]).toBeCloseTo(inside > 0 && inside < 1 ? alpha : 0, 6);
        });
      }
      // PyTorch's defaults take the layer's kernel: the same bits as the layer
      const x = tensor(xs, [37]);
      const a = noGrad(() => F.hardsigmoid(x).toArray());
      const b = noGrad(() => new Hardsigmoid().forward(x).toArray());
      expect(Array.from(a)).toEqual(Array.from(b));
      expect(new Hardsigmoid().alpha).toBe(1 / 6);
    });

    it('bad arguments, named', () => {
      expect(caught(() => new ZeroPad2d(-1)).message).toBe(
        'ZeroPad2d: padding: expected an integer ≥ 0 or [left, right, top, bottom] of them, got number -1',
      );
      expect(caught(() => new ZeroPad2d([1, 2, 3])).message).toBe(
        'ZeroPad2d: padding: expected an integer ≥ 0 or [left, right, top, bottom] of them, got [1, 2, 3]',
      );
      expect(caught(() => new ConstantPad2d([1, 0, -2, 0], 0)).message).toBe(
        'ConstantPad2d: padding: expected an integer ≥ 0 or [left, right, top, bottom] of them, got [1, 0, -2, 0]',
      );
      expect(caught(() => new ConstantPad2d(1, NaN)).message).toBe('ConstantPad2d: value: expected a number, got number NaN');
      expect(caught(() => new ZeroPad2d(1).forward(tensor([1, 2], [2]))).message).toBe(
        'ZeroPad2d.forward: input: expected rank ≥ 2 ([…, H, W]), got [2]',
      );
      expect(caught(() => new ZeroPad2d(1).backward(tensor([1], [1, 1]))).message).toBe('ZeroPad2d.backward: call forward() first');
      expect(caught(() => new AvgPool2d(2, { countIncludePad: 1 as never })).message).toMatch(
        /^AvgPool2d: countIncludePad: expected a boolean/,
      );
      expect(caught(() => F.hardsigmoid(tensor([1], [1]), NaN)).message).toBe(
        'F.hardsigmoid: alpha: expected a finite number, got number NaN',
      );
      const m = new ZeroPad2d([1, 0, 0, 0]);
      noGrad(() => m.forward(tensor([1, 2, 3, 4], [1, 1, 2, 2])));
      expect(caught(() => m.backward(tensor([1, 2, 3, 4], [1, 1, 2, 2]))).message).toMatch(
        /^ZeroPad2d\.backward: gradOutput: expected shape \[1, 1, 2, 3\]/,
      );
    });
  });
}
