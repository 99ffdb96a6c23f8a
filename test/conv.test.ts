// Conv2d on every backend: against a float64 direct convolution (reference.ts), finite differences,
// PyTorch fixtures (test/fixtures/gen_torch_conv.py), each layout against the other, argument checks
// (with the pooling layers'), and memory over long loops (with pooling).
import torchConv from './fixtures/torch_conv.json';
import { describe, expect, it } from 'vitest';
import { init, memoryBytes, tensor, AvgPool2d, Conv2d, Generator, MaxPool2d } from '../src/index';
import { BACKENDS, nchwShape, toNCHW, toNHWC } from './helpers';
import { convRef, maxAbs, randn, size, within, type ConvCase } from './reference';

// Every f32 result must lie within (t + 3)·u·Σ|term| of the float64 reference (`within`).
// PyTorch sums in another order (and with FMA): both sides are within the bound, so compare with
// twice the worst bound over these sizes (≤ 300 terms of O(1)): 2·300·u·Σ|t| ≈ 4e-5·scale.
const TOL_TORCH = 4e-5;
// central differences of a function that is linear in every input: only rounding, ~1e-13
const TOL_FD = 1e-9;

type Arr = ArrayLike<number>;

/** Runs a conv case in `layout` with given weights: y, dx (both NCHW), dW and db as arrays. */
function runConv(layout: 'NCHW' | 'NHWC', c: ConvCase, x: Float32Array, W: Arr, b: Arr | null, dy: Arr, oh: number, ow: number) {
  const conv = new Conv2d(c.c, c.o, c.k, { stride: c.s, padding: c.p, bias: c.bias, layout });
  conv.loadStateDict(b ? { weight: Array.from(W), bias: Array.from(b) } : { weight: Array.from(W) });
  const nhwc = layout === 'NHWC',
    ys = [c.n, c.o, oh, ow];
  using xt = tensor(nhwc ? toNHWC(x, [c.n, c.c, c.h, c.w]) : x, nhwc ? [c.n, c.h, c.w, c.c] : [c.n, c.c, c.h, c.w]);
  using y = conv.forward(xt);
  using dyt = tensor(nhwc ? toNHWC(dy, ys) : Float32Array.from(dy), y.shape);
  using dx = conv.backward(dyt);
  const out = {
    y: nhwc ? toNCHW(y.toArray(), y.shape) : y.toArray(),
    dx: nhwc ? toNCHW(dx.toArray(), dx.shape) : dx.toArray(),
    dW: conv.weight.grad.toArray(),
    db: conv.bias ? conv.bias.grad.toArray() : null,
    shape: y.shape,
  };
  conv.dispose();
  return out;
}

const CASES: [string, ConvCase][] = [
  ['3×3 pad 1, odd sizes', { n: 2, c: 3, h: 7, w: 6, o: 4, k: [3, 3], s: [1, 1], p: [1, 1], bias: true }],
  ['3×5 stride 2 pad (1, 2), non-square', { n: 2, c: 2, h: 9, w: 8, o: 3, k: [3, 5], s: [2, 2], p: [1, 2], bias: true }],
  ['1×1 pointwise, no bias', { n: 3, c: 5, h: 4, w: 5, o: 6, k: [1, 1], s: [1, 1], p: [0, 0], bias: false }],
  ['1×1 stride 2 pad 1', { n: 2, c: 3, h: 5, w: 5, o: 2, k: [1, 1], s: [2, 2], p: [1, 1], bias: true }],
  ['5×5 stride (2, 1) pad 2', { n: 1, c: 4, h: 11, w: 10, o: 5, k: [5, 5], s: [2, 1], p: [2, 2], bias: true }],
  ['2×3 stride 3, one input channel', { n: 2, c: 1, h: 8, w: 9, o: 2, k: [2, 3], s: [3, 3], p: [0, 0], bias: true }],
  ['3×3 stride 2 pad 1, wide rows (SIMD stride-2 paths)', { n: 3, c: 6, h: 13, w: 37, o: 7, k: [3, 3], s: [2, 2], p: [1, 1], bias: true }],
  ['3×3 stride 1, rows of 40 (bulk copies)', { n: 1, c: 2, h: 6, w: 42, o: 3, k: [3, 3], s: [1, 1], p: [0, 0], bias: false }],
  ['empty batch', { n: 0, c: 2, h: 5, w: 5, o: 3, k: [3, 3], s: [1, 1], p: [1, 1], bias: true }],
];
/** NHWC im2col works in chunks of images: 460k floats of columns per image, about nine per chunk. */
const CHUNKED: ConvCase = { n: 10, c: 32, h: 40, w: 40, o: 2, k: [3, 3], s: [1, 1], p: [1, 1], bias: true };

function data(c: ConvCase, seed: number) {
  const oh = size(c.h, c.k[0], c.s[0], c.p[0]),
    ow = size(c.w, c.k[1], c.s[1], c.p[1]);
  const x = randn(c.n * c.c * c.h * c.w, seed),
    W = randn(c.o * c.c * c.k[0] * c.k[1], seed + 1, 0, 0.3);
  const b = c.bias ? randn(c.o, seed + 2) : null,
    dy = randn(c.n * c.o * oh * ow, seed + 3);
  return { x, W, b, dy, ref: convRef(c, x, W, b, dy) };
}

describe('the float64 references against finite differences', () => {
  for (const [name, c] of CASES.slice(0, 6)) {
    it(name, () => {
      const { x, W, b, dy, ref } = data(c, 3);
      const loss = (xx: Arr, ww: Arr, bb: Arr | null) => convRef(c, xx, ww, bb, dy).y.reduce((s, v, i) => s + v * dy[i], 0);
      const fd = (arr: Float64Array, i: number, f: (a: Float64Array) => number) => {
        const h = 1e-3,
          v = arr[i];
        arr[i] = v + h;
        const up = f(arr);
        arr[i] = v - h;
        const dn = f(arr);
        arr[i] = v;
        return (up - dn) / (2 * h);
      };
      const x64 = Float64Array.from(x),
        W64 = Float64Array.from(W),
        b64 = b ? Float64Array.from(b) : null;
      for (let i = 0; i < x.length; i += 3) expect(Math.abs(fd(x64, i, (a) => loss(a, W, b)) - ref.dx[i])).toBeLessThan(TOL_FD);
      for (let i = 0; i < W.length; i++) expect(Math.abs(fd(W64, i, (a) => loss(x, a, b)) - ref.dW[i])).toBeLessThan(TOL_FD);
      if (b64) for (let i = 0; i < b64.length; i++) expect(Math.abs(fd(b64, i, (a) => loss(x, W, a)) - ref.db[i])).toBeLessThan(TOL_FD);
    });
  }
});

const fixture = torchConv as unknown as {
  cases: {
    kind: 'conv' | 'maxpool' | 'avgpool';
    name: string;
    shape: number[];
    yShape: number[];
    x: number[];
    y: number[];
    dy: number[];
    dx: number[];
    kernelSize: [number, number];
    stride: [number, number];
    padding: [number, number];
    inChannels: number;
    outChannels: number;
    hasBias: boolean;
    weight: number[];
    bias?: number[];
    dW: number[];
    db?: number[];
  }[];
};

for (const b of BACKENDS) {
  describe(`${b}: Conv2d`, () => {
    for (const [name, c] of [...CASES, ['more than one NHWC chunk', CHUNKED] as [string, ConvCase]]) {
      it(`${name}: forward and backward against float64, both layouts`, async () => {
        await init({ backend: b });
        const { x, W, b: bias, dy, ref } = data(c, 7);
        const runs = (['NCHW', 'NHWC'] as const).map((layout) => runConv(layout, c, x, W, bias, dy, ref.oh, ref.ow));
        const K = c.c * c.k[0] * c.k[1],
          P = ref.oh * ref.ow;
        for (const [i, r] of runs.entries()) {
          const at = i === 0 ? 'NCHW' : 'NHWC';
          expect(nchwShape(r.shape, at)).toEqual([c.n, c.o, ref.oh, ref.ow]);
          within(`${at} y`, r.y, ref.y, ref.ya, K);
          within(`${at} dx`, r.dx, ref.dx, ref.dxa, c.o + c.k[0] * c.k[1]);
          within(`${at} dW`, r.dW, ref.dW, ref.dWa, c.n * P + 1);
          if (r.db) within(`${at} db`, r.db, ref.db, ref.dba, c.n * P);
        }
        // each layout is within the bound of the exact value, so within twice it of the other
        within('NHWC vs NCHW y', runs[1].y, runs[0].y, ref.ya, 2 * K + 3);
        within('NHWC vs NCHW dx', runs[1].dx, runs[0].dx, ref.dxa, 2 * (c.o + c.k[0] * c.k[1]) + 3);
      });
    }

    it('backward against finite differences of the float64 reference; gradients accumulate', async () => {
      await init({ backend: b });
      const c = CASES[1][1],
        { x, W, b: bias, dy, ref } = data(c, 5),
        P = ref.oh * ref.ow;
      const loss = (xx: Arr, ww: Arr, bb: Arr | null) => convRef(c, xx, ww, bb!, dy).y.reduce((s, v, i) => s + v * dy[i], 0);
      const fd = (arr: Float32Array, i: number, f: (a: Float64Array) => number) => {
        const a = Float64Array.from(arr),
          h = 1e-3;
        a[i] += h;
        const up = f(a);
        a[i] -= 2 * h;
        return (up - f(a)) / (2 * h);
      };
      for (const layout of ['NCHW', 'NHWC'] as const) {
        const r = runConv(layout, c, x, W, bias, dy, ref.oh, ref.ow);
        for (let i = 0; i < x.length; i += 5)
          within(`${layout} dx vs FD`, [r.dx[i]], [fd(x, i, (a) => loss(a, W, bias))], [ref.dxa[i]], c.o + 15, TOL_FD);
        for (let i = 0; i < W.length; i++)
          within(`${layout} dW vs FD`, [r.dW[i]], [fd(W, i, (a) => loss(x, a, bias))], [ref.dWa[i]], c.n * P + 1, TOL_FD);
        for (let i = 0; i < c.o; i++)
          within(`${layout} db vs FD`, [r.db![i]], [fd(bias!, i, (a) => loss(x, W, a))], [ref.dba[i]], c.n * P, TOL_FD);
      }
      const conv = new Conv2d(2, 3, [3, 5], { stride: 2, padding: [1, 2] });
      using xt = tensor(x, [c.n, c.c, c.h, c.w]);
      using dyt = tensor(dy, [c.n, c.o, ref.oh, ref.ow]);
      conv.forward(xt).dispose();
      conv.backward(dyt).dispose();
      const once = [conv.weight.grad.toArray(), conv.bias!.grad.toArray()];
      conv.backward(dyt).dispose();
      // the second sum is added term by term onto the first, so not bit-exactly twice it
      within(
        'dW twice',
        conv.weight.grad.toArray(),
        once[0].map((v) => 2 * v),
        ref.dWa.map((v) => 2 * v),
        c.n * P + 1,
      );
      within(
        'db twice',
        conv.bias!.grad.toArray(),
        once[1].map((v) => 2 * v),
        ref.dba.map((v) => 2 * v),
        c.n * P,
      );
      conv.dispose();
    });

    it('PyTorch fixtures: Conv2d in both layouts', async () => {
      await init({ backend: b });
      for (const f of fixture.cases.filter((f) => f.kind === 'conv')) {
        const [n, ch, h, w] = f.shape;
        const c: ConvCase = { n, c: ch, h, w, o: f.outChannels, k: f.kernelSize, s: f.stride, p: f.padding, bias: f.hasBias };
        const scale = (a: number[]) => TOL_TORCH * Math.max(1, maxAbs(a));
        for (const layout of ['NCHW', 'NHWC'] as const) {
          const at = `${f.name} ${layout}`;
          const r = runConv(layout, c, Float32Array.from(f.x), f.weight, f.bias ?? null, f.dy, f.yShape[2], f.yShape[3]);
          expect(nchwShape(r.shape, layout), `${at} shape`).toEqual(f.yShape);
          expect(Math.max(...r.y.map((v, i) => Math.abs(v - f.y[i]))), `${at} y`).toBeLessThanOrEqual(scale(f.y));
          expect(Math.max(...r.dx.map((v, i) => Math.abs(v - f.dx[i]))), `${at} dx`).toBeLessThanOrEqual(scale(f.dx));
          expect(Math.max(...r.dW.map((v, i) => Math.abs(v - f.dW[i]))), `${at} dW`).toBeLessThanOrEqual(scale(f.dW));
          if (r.db) expect(Math.max(...r.db.map((v, i) => Math.abs(v - f.db![i]))), `${at} db`).toBeLessThanOrEqual(scale(f.db!));
        }
      }
    });
  });

  describe(`${b}: checks and memory`, () => {
    it('bad arguments throw errors naming the argument, and change nothing', async () => {
      await init({ backend: b });
      const throws = (f: () => unknown, cls: new (...a: never[]) => Error, re: RegExp) => {
        let e: unknown;
        try {
          f();
        } catch (err) {
          e = err;
        }
        expect(e, String(re)).toBeInstanceOf(cls);
        expect((e as Error).message).toMatch(re);
      };
      throws(() => new Conv2d(0, 4, 3), RangeError, /^Conv2d: inChannels: expected a positive integer, got number 0$/);
      throws(
        () => new Conv2d(3, 4, [3] as never),
        RangeError,
        /^Conv2d: kernelSize: expected an integer ≥ 1 or a pair \[h, w\] of them, got \[number 3\]$/,
      );
      throws(() => new Conv2d(3, 4, '3' as never), TypeError, /^Conv2d: kernelSize: .* got '3'$/);
      throws(() => new Conv2d(3, 4, 3, { stride: 0 }), RangeError, /^Conv2d: stride: expected an integer ≥ 1 .* got number 0$/);
      throws(
        () => new Conv2d(3, 4, 3, { padding: [1, -1] }),
        RangeError,
        /^Conv2d: padding: expected an integer ≥ 0 .* got \[number 1, number -1\]$/,
      );
      throws(() => new Conv2d(3, 4, 3, { bias: 1 as never }), TypeError, /^Conv2d: bias: expected a boolean, got number 1$/);
      throws(
        () => new Conv2d(3, 4, 3, { layout: 'NCWH' as never }),
        TypeError,
        /^Conv2d: layout: expected one of 'NCHW', 'NHWC', got 'NCWH'$/,
      );
      throws(() => new Conv2d(3, 4, 3, { generator: {} as never }), TypeError, /^Conv2d: generator: expected a Generator, got Object$/);
      throws(() => new Conv2d(3, 4, 3, { dilations: 2 } as never), TypeError, /^Conv2d: unknown option 'dilations'/);
      throws(
        () => new MaxPool2d(3, { padding: 2 }),
        RangeError,
        /^MaxPool2d: padding: expected at most half the kernel size 3×3 \(≤ \[1, 1\]\), got \[2, 2\]$/,
      );
      throws(
        () => new AvgPool2d([2, 2], { layout: 'NCL' as never }),
        TypeError,
        /^AvgPool2d: layout: expected one of 'NCHW', 'NHWC', got 'NCL'$/,
      );

      const conv = new Conv2d(3, 4, 3, { padding: 1, layout: 'NHWC' }),
        pool = new MaxPool2d(2);
      throws(() => conv.backward(tensor(new Float32Array(4), [1, 1, 1, 4])), Error, /^Conv2d.backward: call forward\(\) first$/);
      using x = tensor(randn(2 * 5 * 6 * 3, 1), [2, 5, 6, 3]);
      throws(
        () => conv.forward(tensor(new Float32Array(90), [5, 6, 3])),
        RangeError,
        /^Conv2d.forward: input: expected a rank-4 NHWC tensor \[N, H, W, 3\], got \[5, 6, 3\]$/,
      );
      throws(
        () => conv.forward(tensor(new Float32Array(80), [2, 5, 4, 2])),
        RangeError,
        /^Conv2d.forward: input: expected a rank-4 NHWC tensor with 3 channels \[N, H, W, 3\], got \[2, 5, 4, 2\]$/,
      );
      throws(() => conv.forward([1, 2] as never), TypeError, /^Conv2d.forward: input: expected a Tensor/);
      throws(
        () => pool.forward(tensor(new Float32Array(3), [1, 3, 1, 1])),
        RangeError,
        /^MaxPool2d.forward: input: expected a padded size \(H \+ 2·0\) × \(W \+ 2·0\) of at least the kernel 2×2, got \[1, 3, 1, 1\] \(padded 1×1\)$/,
      );
      throws(
        () => new Conv2d(1, 1, 5, { padding: 1 }).forward(tensor(new Float32Array(4), [1, 1, 2, 2])),
        RangeError,
        /kernel 5×5, got \[1, 1, 2, 2\] \(padded 4×4\)$/,
      );
      throws(() => pool.backward(tensor([1], [1, 1, 1, 1])), Error, /^MaxPool2d.backward: call forward\(\) first$/);
      throws(
        () => conv.forward(tensor([], [2, 0, 6, 3])),
        RangeError,
        /^Conv2d.forward: input: expected non-zero channel, height and width in \[N, H, W, 3\], got \[2, 0, 6, 3\]$/,
      );
      // an empty batch is allowed, as in PyTorch
      using empty = pool.forward(tensor([], [0, 3, 4, 5]));
      expect(empty.shape).toEqual([0, 3, 2, 2]);
      expect(pool.backward(empty).shape).toEqual([0, 3, 4, 5]);

      using dy = tensor(randn(2 * 5 * 6 * 4, 2), [2, 5, 6, 4]);
      conv.forward(x).dispose();
      conv.backward(dy).dispose();
      const before = [conv.weight.grad.toArray(), conv.bias!.grad.toArray()];
      using badDy = tensor(new Float32Array(240), [2, 6, 5, 4]);
      using badX = tensor(new Float32Array(24), [1, 2, 3, 4]);
      const held = memoryBytes();
      throws(
        () => conv.backward(badDy),
        RangeError,
        /^Conv2d.backward: gradOutput: expected shape \[2, 5, 6, 4\] \(the last output's\), got \[2, 6, 5, 4\]$/,
      );
      throws(() => conv.forward(badX), RangeError, /with 3 channels/);
      expect(conv.weight.grad.toArray()).toEqual(before[0]);
      expect(conv.bias!.grad.toArray()).toEqual(before[1]);
      expect(memoryBytes()).toBe(held);
      // the last good forward is still the one backward uses
      conv.zeroGrad();
      conv.backward(dy).dispose();
      const again = conv.weight.grad.toArray();
      expect(again).toEqual(before[0]);
      conv.dispose();
      throws(() => conv.forward(x), Error, /^Conv2d.forward: the layer was disposed$/);
    });

    it('default init as PyTorch: U(±1/√fan_in) for weight and bias, reproducible with a seed', async () => {
      await init({ backend: b });
      const a = new Conv2d(4, 6, [3, 2], { generator: new Generator(3) }),
        c = new Conv2d(4, 6, [3, 2], { generator: new Generator(3) });
      const bound = 1 / Math.sqrt(4 * 3 * 2),
        w = a.weight.toArray();
      expect(a.weight.shape).toEqual([6, 4, 3, 2]);
      expect(maxAbs(w)).toBeLessThanOrEqual(bound);
      expect(maxAbs(w)).toBeGreaterThan(0.9 * bound);
      expect(maxAbs(a.bias!.toArray())).toBeLessThanOrEqual(bound);
      expect(a.stateDict()).toEqual(c.stateDict());
      expect(Object.keys(a.stateDict())).toEqual(['weight', 'bias']);
      a.dispose();
      c.dispose();
    });

    it('memory stays flat over 2000 forward + backward steps, both layouts', async () => {
      await init({ backend: b });
      for (const layout of ['NCHW', 'NHWC'] as const) {
        const conv = new Conv2d(2, 3, 3, { padding: 1, layout }),
          mp = new MaxPool2d(2, { layout }),
          ap = new AvgPool2d(3, { stride: 1, padding: 1, layout });
        const shape = layout === 'NCHW' ? [2, 2, 8, 8] : [2, 8, 8, 2];
        using x = tensor(randn(256, 9), shape);
        let after1 = 0;
        for (let step = 1; step <= 2000; step++) {
          if (step === 2) after1 = memoryBytes();
          using y1 = conv.forward(x);
          using y2 = mp.forward(y1);
          using y3 = ap.forward(y2);
          using g3 = tensor(new Float32Array(y3.size).fill(1), y3.shape);
          using g2 = ap.backward(g3);
          using g1 = mp.backward(g2);
          conv.backward(g1).dispose();
        }
        expect(memoryBytes()).toBe(after1);
        conv.dispose();
        mp.dispose();
        ap.dispose();
      }
    });
  });
}
