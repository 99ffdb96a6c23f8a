// MaxPool2d and AvgPool2d on every backend: against float64 direct pooling (reference.ts), PyTorch
// fixtures (test/fixtures/gen_torch_conv.py), each layout against the other, ties and NaN.
import torchConv from './fixtures/torch_conv.json';
import { describe, expect, it } from 'vitest';
import { init, tensor, AvgPool2d, MaxPool2d } from '../src/index';
import { BACKENDS, nchwShape, toNCHW, toNHWC } from './helpers';
import { maxAbs, poolRef, randn, size, within, type ConvCase } from './reference';

// PyTorch sums in another order: both sides are within the f32 bound of `within`, so compare with
// twice the worst bound over these sizes (≤ 300 terms of O(1)): 2·300·u·Σ|t| ≈ 4e-5·scale.
const TOL_TORCH = 4e-5;

type Arr = ArrayLike<number>;

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
  }[];
};

/** Runs a pooling layer in `layout`: y and dx in NCHW. */
function runPool(kind: 'max' | 'avg', layout: 'NCHW' | 'NHWC', c: ConvCase, x: Arr, dy: Arr) {
  const layer =
    kind === 'max' ? new MaxPool2d(c.k, { stride: c.s, padding: c.p, layout }) : new AvgPool2d(c.k, { stride: c.s, padding: c.p, layout });
  const nhwc = layout === 'NHWC',
    shape = [c.n, c.c, c.h, c.w];
  using xt = tensor(nhwc ? toNHWC(x, shape) : Float32Array.from(x), nhwc ? [c.n, c.h, c.w, c.c] : shape);
  using y = layer.forward(xt);
  const ys = nhwc ? [y.shape[0], y.shape[3], y.shape[1], y.shape[2]] : y.shape;
  using dyt = tensor(nhwc ? toNHWC(dy, ys) : Float32Array.from(dy), y.shape);
  using dx = layer.backward(dyt);
  const out = {
    y: nhwc ? toNCHW(y.toArray(), y.shape) : y.toArray(),
    dx: nhwc ? toNCHW(dx.toArray(), dx.shape) : dx.toArray(),
    shape: y.shape,
  };
  layer.dispose();
  return out;
}

const POOLS: [string, ConvCase][] = [
  ['2×2 (stride = kernel), odd width', { n: 2, c: 3, h: 6, w: 7, o: 0, k: [2, 2], s: [2, 2], p: [0, 0], bias: false }],
  ['3×3 stride 2 pad 1', { n: 2, c: 5, h: 7, w: 9, o: 0, k: [3, 3], s: [2, 2], p: [1, 1], bias: false }],
  ['2×3 stride (1, 2) pad 1, non-square', { n: 1, c: 6, h: 5, w: 8, o: 0, k: [2, 3], s: [1, 2], p: [1, 1], bias: false }],
  [
    '5×5 stride 1 pad 2 over 1…9 channels (every SIMD tail), with NaN',
    { n: 1, c: 9, h: 6, w: 5, o: 0, k: [5, 5], s: [1, 1], p: [2, 2], bias: false },
  ],
  // rows wide enough for the channel-first SIMD path (four outputs of a row at once), each stride
  ['3×3 stride 1 pad 1, wide rows, with NaN', { n: 2, c: 2, h: 5, w: 29, o: 0, k: [3, 3], s: [1, 1], p: [1, 1], bias: false }],
  ['2×2 stride 2, wide rows', { n: 1, c: 3, h: 4, w: 40, o: 0, k: [2, 2], s: [2, 2], p: [0, 0], bias: false }],
  ['3×3 stride 3, wide rows', { n: 1, c: 2, h: 7, w: 31, o: 0, k: [3, 3], s: [3, 3], p: [0, 0], bias: false }],
  ['2×4 stride (2, 3) pad (1, 2), wide rows', { n: 1, c: 2, h: 6, w: 33, o: 0, k: [2, 4], s: [2, 3], p: [1, 2], bias: false }],
];

for (const b of BACKENDS) {
  describe(`${b}: MaxPool2d and AvgPool2d`, () => {
    for (const [name, c] of POOLS) {
      for (const kind of ['max', 'avg'] as const) {
        it(`${kind} ${name}: forward and backward against float64, both layouts`, async () => {
          await init({ backend: b });
          for (let ch = c.c === 9 ? 1 : c.c; ch <= c.c; ch++) {
            const cc = { ...c, c: ch };
            const oh = size(c.h, c.k[0], c.s[0], c.p[0]),
              ow = size(c.w, c.k[1], c.s[1], c.p[1]);
            // halves of integers: many ties, which the max must resolve to the first in window order
            const x = randn(cc.n * ch * c.h * c.w, 20 + ch).map((v) => Math.round(2 * v) / 2),
              dy = randn(cc.n * ch * oh * ow, 40 + ch);
            if (kind === 'max' && name.includes('NaN')) for (const i of [0, 7, 8, 40, 41, 100, x.length - 1]) x[i] = NaN;
            const ref = poolRef(kind, cc, x, dy),
              kk = c.k[0] * c.k[1];
            for (const layout of ['NCHW', 'NHWC'] as const) {
              const r = runPool(kind, layout, cc, x, dy);
              expect(nchwShape(r.shape, layout)).toEqual([c.n, ch, oh, ow]);
              // max: a copy of an input; avg: a sum of kk f32 terms, then one division
              if (kind === 'max') expect(Array.from(r.y)).toEqual(Array.from(ref.y, Math.fround));
              else
                within(
                  `${layout} y`,
                  r.y,
                  ref.y,
                  ref.y.map(() => maxAbs(x)),
                  kk,
                );
              // dx sums at most kk gradients (for avg, each a rounded quotient)
              within(
                `${layout} dx`,
                r.dx,
                ref.dx,
                ref.dx.map(() => kk * maxAbs(dy)),
                kk,
              );
            }
          }
        });
      }
    }

    it('max ties go to the first maximum in window order; NaN propagates and takes the gradient', async () => {
      await init({ backend: b });
      for (const layout of ['NCHW', 'NHWC'] as const) {
        // one image, one channel, 3×3 with a 2×2 window, stride 1: four overlapping windows
        const c: ConvCase = { n: 1, c: 1, h: 3, w: 3, o: 0, k: [2, 2], s: [1, 1], p: [0, 0], bias: false };
        const ties = runPool('max', layout, c, [1, 5, 5, 5, 5, 2, 0, 3, 5], [1, 10, 100, 1000]);
        expect(Array.from(ties.y)).toEqual([5, 5, 5, 5]);
        // windows (0,0),(0,1),(1,0),(1,1) choose x[1], x[1], x[3], x[4]
        expect(Array.from(ties.dx)).toEqual([0, 11, 0, 100, 1000, 0, 0, 0, 0]);
        const nan = runPool('max', layout, c, [1, NaN, 2, 3, 4, NaN, 9, 1, 0], [1, 10, 100, 1000]);
        expect(Array.from(nan.y)).toEqual([NaN, NaN, 9, NaN]);
        expect(Array.from(nan.dx)).toEqual([0, 1, 0, 0, 0, 1010, 100, 0, 0]);
      }
    });

    it('PyTorch fixtures: MaxPool2d and AvgPool2d in both layouts', async () => {
      await init({ backend: b });
      for (const f of fixture.cases.filter((f) => f.kind !== 'conv')) {
        const [n, ch, h, w] = f.shape;
        const c: ConvCase = { n, c: ch, h, w, o: 0, k: f.kernelSize, s: f.stride, p: f.padding, bias: false };
        const scale = (a: number[]) => TOL_TORCH * Math.max(1, maxAbs(a));
        // the fixture's 9 significant digits name an f32 value: fround recovers it exactly
        f.y = f.y.map(Math.fround);
        for (const layout of ['NCHW', 'NHWC'] as const) {
          const at = `${f.name} ${layout}`;
          const r = runPool(f.kind === 'maxpool' ? 'max' : 'avg', layout, c, f.x, f.dy);
          expect(nchwShape(r.shape, layout), `${at} shape`).toEqual(f.yShape);
          expect(Math.max(...r.y.map((v, i) => Math.abs(v - f.y[i]))), `${at} y`).toBeLessThanOrEqual(
            f.kind === 'maxpool' ? 0 : scale(f.y),
          );
          expect(Math.max(...r.dx.map((v, i) => Math.abs(v - f.dx[i]))), `${at} dx`).toBeLessThanOrEqual(scale(f.dx));
        }
      }
    });
  });
}
