// The zoo's activations (ReLU6, Hardtanh, LeakyReLU, Hardswish, Hardsigmoid), Softmax/LogSoftmax
// layers and AdaptiveAvgPool2d on every backend: against PyTorch fixtures (test/fixtures/gen_torch_zoo.py)
// through the tape and by hand, their F ops against finite differences of float64 references, the
// kernels bit-identical across backends and equal to an f32 reference, and bad arguments.
import torchZoo from './fixtures/torch_zoo.json';
import { describe, expect, it } from 'vitest';
import {
  init,
  tensor,
  AdaptiveAvgPool2d,
  F,
  Hardsigmoid,
  Hardswish,
  Hardtanh,
  LeakyReLU,
  LogSoftmax,
  ReLU6,
  Softmax,
  type Module,
  type Tensor,
} from '../src/index';
import { check } from './autograd_check';
import { BACKENDS, bits, throwsLike, toNCHW, toNHWC } from './helpers';
import { maxAbs } from './reference';

interface Case {
  name?: string;
  args?: number[];
  outputSize?: [number, number];
  shape: number[];
  yShape: number[];
  x: number[];
  y: number[];
  dy: number[];
  dx: number[];
}
const fixture = torchZoo as unknown as { activations: Case[]; pools: Case[] };

// The piecewise-linear activations round as PyTorch's CPU kernels do (one rounding per operation):
// their outputs and gradients match to the last bit except x/3 + 1/2 in Hardswish's backward, which
// PyTorch may fuse; softmax sums in another order. 1e-6 of the scale covers a few ulps.
const TOL_ACT = 1e-6;
// an adaptive bin sums ≤ 12 values in f64 here against PyTorch's f32: a few ulps of the scale
const TOL_POOL = 1e-6;

const LAYERS: Record<string, (...a: number[]) => Module> = {
  ReLU6: () => new ReLU6(),
  Hardtanh: (...a) => new Hardtanh(...(a as [])),
  LeakyReLU: (...a) => new LeakyReLU(...(a as [])),
  Hardswish: () => new Hardswish(),
  Hardsigmoid: () => new Hardsigmoid(),
  Softmax: (d) => new Softmax(d),
  LogSoftmax: (d) => new LogSoftmax(d),
};

function close(at: string, got: ArrayLike<number>, want: readonly number[], tol: number): void {
  const scale = tol * Math.max(1, maxAbs(want));
  const worst = Math.max(0, ...Array.from(got, (v, i) => Math.abs(v - want[i])));
  expect(worst, at).toBeLessThanOrEqual(scale);
}

/** y and dx of a layer, by hand (backward(dy) on an eval forward) or through the tape. */
function runLayer(
  m: Module,
  x: Float32Array,
  shape: number[],
  dy: readonly number[],
  tape: boolean,
): { y: Float32Array; dx: Float32Array } {
  using xt = tensor(x, shape, { requiresGrad: tape });
  const y = m.forward(xt);
  using dyt = tensor(Float32Array.from(dy), y.shape);
  // a recorded output belongs to the training step that backward() ends: read it first
  const yv = y.toArray();
  let dx: Float32Array;
  if (tape) {
    F.sum(F.mul(y, dyt)).backward();
    dx = xt.grad!.toArray();
  } else {
    using g = m.backward(dyt);
    dx = g.toArray();
  }
  if (!tape) y.dispose();
  return { y: yv, dx };
}

for (const b of BACKENDS) {
  describe(`${b}: zoo activations`, () => {
    it('PyTorch fixtures: each layer by hand and through the tape', async () => {
      await init({ backend: b });
      for (const f of fixture.activations) {
        for (const tape of [false, true]) {
          const at = `${f.name}(${f.args!.join(', ')}) ${tape ? 'tape' : 'by hand'}`;
          const m = LAYERS[f.name!](...f.args!);
          const r = runLayer(m, Float32Array.from(f.x), f.shape, f.dy, tape);
          close(`${at} y`, r.y, f.y, TOL_ACT);
          close(`${at} dx`, r.dx, f.dx, TOL_ACT);
          m.dispose();
        }
      }
    });

    it('AdaptiveAvgPool2d: PyTorch fixtures in both layouts, by hand and through the tape', async () => {
      await init({ backend: b });
      for (const f of fixture.pools) {
        for (const layout of ['NCHW', 'NHWC'] as const) {
          for (const tape of [false, true]) {
            const at = `${f.shape.join('×')} → ${f.outputSize!.join('×')} ${layout} ${tape ? 'tape' : 'by hand'}`;
            const nhwc = layout === 'NHWC';
            const [n, c, h, w] = f.shape,
              [, , oh, ow] = f.yShape;
            const m = new AdaptiveAvgPool2d(f.outputSize!, { layout });
            const x = nhwc ? toNHWC(f.x, f.shape) : Float32Array.from(f.x);
            const dy = nhwc ? Array.from(toNHWC(f.dy, f.yShape)) : f.dy;
            expect(m.outputShape(nhwc ? [n, h, w, c] : f.shape)).toEqual(nhwc ? [n, oh, ow, c] : f.yShape);
            const r = runLayer(m, x, nhwc ? [n, h, w, c] : f.shape, dy, tape);
            close(`${at} y`, nhwc ? toNCHW(r.y, [n, oh, ow, c]) : r.y, f.y, TOL_POOL);
            close(`${at} dx`, nhwc ? toNCHW(r.dx, [n, h, w, c]) : r.dx, f.dx, TOL_POOL);
          }
        }
      }
    });

    it('the kernels give the f32 reference to the bit, for every SIMD tail (lengths 0…33)', async () => {
      await init({ backend: b });
      const f = Math.fround;
      const refs: [string, (x: Tensor) => Tensor, (v: number) => number][] = [
        ['relu6', F.relu6, (v) => Math.min(Math.max(v, 0), 6)],
        ['hardtanh', (x) => F.hardtanh(x, -0.5, 1.5), (v) => Math.min(Math.max(v, -0.5), 1.5)],
        ['leakyRelu', (x) => F.leakyRelu(x, 0.1), (v) => (v > 0 ? v : f(v * f(0.1)))],
        ['hardswish', F.hardswish, (v) => f(f(v * Math.min(Math.max(f(v + 3), 0), 6)) / 6)],
        ['hardsigmoid', F.hardsigmoid, (v) => f(Math.min(Math.max(f(v + 3), 0), 6) / 6)],
        ['clip max only', (x) => F.clip(x, -Infinity, 0.5), (v) => Math.min(v, 0.5)],
        ['clip min only', (x) => F.clip(x, -1.25), (v) => Math.max(v, -1.25)],
        // ONNX Clip: min > max sets every value to max
        ['clip min > max', (x) => F.clip(x, 2, -3), () => -3],
      ];
      for (let n = 0; n <= 33; n++) {
        const x = Float32Array.from({ length: n }, (_, i) => f(((i * 7919) % 97) / 6 - 8));
        using xt = tensor(x, [n]);
        for (const [name, op, ref] of refs) {
          using y = op(xt);
          expect(bits(y.toArray()), `${name} n=${n}`).toEqual(bits(Float32Array.from(x, ref)));
        }
      }
    });

    it('F ops: gradients against finite differences of float64 references', async () => {
      await init({ backend: b });
      // inputs kept 0.05 away from every kink, where the derivative is one-sided
      const away = (_: number, v: number) => {
        const s = v * 4;
        for (const k of [-3, -1, 0, 1, 3, 6]) if (Math.abs(s - k) < 0.05) return k + 0.05;
        return s;
      };
      const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
      check(
        [[3, 11]],
        ([x]) => F.relu6(x),
        ([x]) => x.map((v) => clamp(v, 0, 6)),
        1,
        false,
        away,
      );
      check(
        [[3, 11]],
        ([x]) => F.hardtanh(x, -1, 3),
        ([x]) => x.map((v) => clamp(v, -1, 3)),
        2,
        false,
        away,
      );
      check(
        [[3, 11]],
        ([x]) => F.clip(x, -Infinity, 1),
        ([x]) => x.map((v) => Math.min(v, 1)),
        8,
        false,
        away,
      );
      check(
        [[3, 11]],
        ([x]) => F.leakyRelu(x, 0.3),
        ([x]) => x.map((v) => (v > 0 ? v : 0.3 * v)),
        3,
        false,
        away,
      );
      check(
        [[3, 11]],
        ([x]) => F.hardswish(x),
        ([x]) => x.map((v) => (v * clamp(v + 3, 0, 6)) / 6),
        4,
        false,
        away,
      );
      check(
        [[3, 11]],
        ([x]) => F.hardsigmoid(x),
        ([x]) => x.map((v) => clamp(v + 3, 0, 6) / 6),
        5,
        false,
        away,
      );
      // adaptive pooling 5×7 → 3×4 (overlapping bins) in NCHW, and to 1×1 in NHWC
      const bins = (i: number, size: number, o: number) => [Math.floor((i * size) / o), Math.ceil(((i + 1) * size) / o)];
      const poolRef = (x: Float64Array, n: number, c: number, h: number, w: number, oh: number, ow: number, nhwc: boolean) => {
        const at = (q: number, ch: number, a: number, bb: number, hh: number, ww: number) =>
          nhwc ? ((q * hh + a) * ww + bb) * c + ch : ((q * c + ch) * hh + a) * ww + bb;
        const y = new Float64Array(n * c * oh * ow);
        for (let q = 0; q < n; q++)
          for (let ch = 0; ch < c; ch++)
            for (let i = 0; i < oh; i++)
              for (let j = 0; j < ow; j++) {
                const [h0, h1] = bins(i, h, oh),
                  [w0, w1] = bins(j, w, ow);
                let s = 0;
                for (let a = h0; a < h1; a++) for (let bb = w0; bb < w1; bb++) s += x[at(q, ch, a, bb, h, w)];
                y[at(q, ch, i, j, oh, ow)] = s / ((h1 - h0) * (w1 - w0));
              }
        return y;
      };
      check(
        [[2, 3, 5, 7]],
        ([x]) => F.adaptiveAvgPool2d(x, [3, 4]),
        ([x]) => poolRef(x, 2, 3, 5, 7, 3, 4, false),
        6,
      );
      check(
        [[2, 4, 3, 2]],
        ([x]) => F.adaptiveAvgPool2d(x, 1, { layout: 'NHWC' }),
        ([x]) => poolRef(x, 2, 2, 4, 3, 1, 1, true),
        7,
      );
    });

    it('bad arguments throw naming the argument, and allocate nothing', async () => {
      await init({ backend: b });
      throwsLike(() => new Hardtanh(2, 1), RangeError, /^Hardtanh: min: expected at most max \(1\), got 2$/);
      throwsLike(() => new Hardtanh(NaN), TypeError, /^Hardtanh: min: expected a number or ±Infinity, got number NaN$/);
      throwsLike(() => new LeakyReLU('0.1' as never), TypeError, /^LeakyReLU: negativeSlope: expected a finite number, got '0.1'$/);
      throwsLike(() => new ReLU6(true as never), TypeError, /^ReLU6: expected no arguments, got 1$/);
      throwsLike(() => new Hardswish(true as never), TypeError, /^Hardswish: expected no arguments, got 1$/);
      throwsLike(() => new Softmax(0.5), TypeError, /^Softmax: dim: expected an integer, got number 0.5$/);
      throwsLike(() => new AdaptiveAvgPool2d(0), RangeError, /^AdaptiveAvgPool2d: outputSize: expected an integer ≥ 1/);
      throwsLike(() => new AdaptiveAvgPool2d(2, { layout: 'NCWH' as never }), TypeError, /^AdaptiveAvgPool2d: layout: expected one of/);
      using x = tensor(new Float32Array(24), [2, 3, 4]);
      const before = x.toArray();
      throwsLike(() => F.clip(x, 0, '1' as never), TypeError, /^F\.clip: max: expected a number or ±Infinity, got '1'$/);
      throwsLike(() => F.hardtanh(x, 1, -1), RangeError, /^F\.hardtanh: min: expected at most max \(-1\), got 1$/);
      throwsLike(() => F.leakyRelu(x, Infinity), TypeError, /^F\.leakyRelu: slope: expected a finite number, got number Infinity$/);
      throwsLike(() => F.adaptiveAvgPool2d(x, 2), RangeError, /^F\.adaptiveAvgPool2d: input: expected a rank-4 NCHW tensor/);
      throwsLike(
        () => new Softmax(3).forward(x),
        RangeError,
        /^Softmax\.forward: dim: expected an integer in \[-3, 3\) for shape \[2, 3, 4\], got 3$/,
      );
      const pool = new AdaptiveAvgPool2d(1);
      throwsLike(() => pool.backward(x), Error, /^AdaptiveAvgPool2d\.backward: call forward\(\) first$/);
      const sm = new LogSoftmax(1);
      throwsLike(() => sm.backward(x), Error, /^LogSoftmax\.backward: call forward\(\) first$/);
      const y = sm.forward(x);
      using bad = tensor(new Float32Array(6), [2, 3]);
      throwsLike(() => sm.backward(bad), RangeError, /^LogSoftmax\.backward: gradOutput: expected shape \[2, 3, 4\]/);
      y.dispose();
      throwsLike(() => sm.backward(x), Error, /^LogSoftmax\.backward: the output of the last forward\(\) was disposed; backward needs it$/);
      expect(x.toArray()).toEqual(before);
    });
  });
}
