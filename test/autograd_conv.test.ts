// F.conv2d, F.maxPool2d, F.avgPool2d and F.dropout: values and gradients against float64 references
// by central differences, both layouts, on every backend.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, tensor, F, Generator } from '../src/index';
import { BACKENDS } from './helpers';
import { check } from './autograd_check';
import { refForwardEval, refForwardTrain } from './reference';

type Geo = {
  n: number;
  c: number;
  h: number;
  w: number;
  o: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
};
const outSize = (g: Geo) => [Math.floor((g.h + 2 * g.ph - g.kh) / g.sh) + 1, Math.floor((g.w + 2 * g.pw - g.kw) / g.sw) + 1];

/** Index of (n, c, y, x) in NCHW or NHWC order. */
const at = (nhwc: boolean, C: number, H: number, W: number) => (n: number, c: number, y: number, x: number) =>
  nhwc ? ((n * H + y) * W + x) * C + c : ((n * C + c) * H + y) * W + x;

function convRef(x: Float64Array, w: Float64Array, b: Float64Array | null, g: Geo, nhwc: boolean): Float64Array {
  const [oh, ow] = outSize(g);
  const y = new Float64Array(g.n * g.o * oh * ow);
  const xi = at(nhwc, g.c, g.h, g.w),
    yi = at(nhwc, g.o, oh, ow);
  for (let n = 0; n < g.n; n++)
    for (let o = 0; o < g.o; o++)
      for (let r = 0; r < oh; r++)
        for (let q = 0; q < ow; q++) {
          let s = b ? b[o] : 0;
          for (let c = 0; c < g.c; c++)
            for (let u = 0; u < g.kh; u++)
              for (let v = 0; v < g.kw; v++) {
                const iy = r * g.sh - g.ph + u,
                  ix = q * g.sw - g.pw + v;
                if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) s += x[xi(n, c, iy, ix)] * w[((o * g.c + c) * g.kh + u) * g.kw + v];
              }
          y[yi(n, o, r, q)] = s;
        }
  return y;
}

function poolRef(x: Float64Array, g: Geo, nhwc: boolean, max: boolean): Float64Array {
  const [oh, ow] = outSize(g);
  const y = new Float64Array(g.n * g.c * oh * ow);
  const xi = at(nhwc, g.c, g.h, g.w),
    yi = at(nhwc, g.c, oh, ow);
  for (let n = 0; n < g.n; n++)
    for (let c = 0; c < g.c; c++)
      for (let r = 0; r < oh; r++)
        for (let q = 0; q < ow; q++) {
          let s = max ? -Infinity : 0;
          for (let u = 0; u < g.kh; u++)
            for (let v = 0; v < g.kw; v++) {
              const iy = r * g.sh - g.ph + u,
                ix = q * g.sw - g.pw + v;
              const val = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w ? x[xi(n, c, iy, ix)] : max ? -Infinity : 0;
              s = max ? Math.max(s, val) : s + val;
            }
          y[yi(n, c, r, q)] = max ? s : s / (g.kh * g.kw);
        }
  return y;
}

const GEOS: Geo[] = [
  { n: 2, c: 3, h: 5, w: 4, o: 4, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 },
  { n: 1, c: 2, h: 6, w: 7, o: 3, kh: 2, kw: 3, sh: 2, sw: 1, ph: 0, pw: 1 },
  { n: 2, c: 3, h: 3, w: 3, o: 2, kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0 },
  { n: 2, c: 1, h: 4, w: 4, o: 3, kh: 3, kw: 2, sh: 1, sw: 2, ph: 1, pw: 0 },
];

for (const backend of BACKENDS) {
  describe(`F convolution and pooling (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    for (const layout of ['NCHW', 'NHWC'] as const) {
      const nhwc = layout === 'NHWC';
      it(`conv2d ${layout}: strides, paddings, 1×1, with and without bias`, () => {
        for (const g of GEOS) {
          const xs = nhwc ? [g.n, g.h, g.w, g.c] : [g.n, g.c, g.h, g.w];
          const opts = { stride: [g.sh, g.sw] as [number, number], padding: [g.ph, g.pw] as [number, number], layout };
          check(
            [xs, [g.o, g.c, g.kh, g.kw], [g.o]],
            ([x, w, b]) => F.conv2d(x, w, b, opts),
            ([x, w, b]) => convRef(x, w, b, g, nhwc),
            21,
          );
          check(
            [xs, [g.o, g.c, g.kh, g.kw]],
            ([x, w]) => F.conv2d(x, w, null, opts),
            ([x, w]) => convRef(x, w, null, g, nhwc),
            22,
          );
        }
      });

      it(`maxPool2d and avgPool2d ${layout}`, () => {
        for (const g of [
          { ...GEOS[0], kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0 },
          { ...GEOS[1], kh: 3, kw: 3, sh: 2, sw: 1, ph: 1, pw: 1 },
        ]) {
          const xs = nhwc ? [g.n, g.h, g.w, g.c] : [g.n, g.c, g.h, g.w];
          const opts = { stride: [g.sh, g.sw] as [number, number], padding: [g.ph, g.pw] as [number, number], layout };
          check(
            [xs],
            ([x]) => F.maxPool2d(x, [g.kh, g.kw], opts),
            ([x]) => poolRef(x, g, nhwc, true),
            23,
          );
          check(
            [xs],
            ([x]) => F.avgPool2d(x, [g.kh, g.kw], opts),
            ([x]) => poolRef(x, g, nhwc, false),
            24,
          );
        }
      });
    }

    it("conv2d padding 'same' keeps the size; bad arguments are named", () => {
      const x = tensor(new Float32Array(2 * 3 * 5 * 5), [2, 3, 5, 5]);
      expect(F.conv2d(x, tensor(new Float32Array(4 * 3 * 3 * 3), [4, 3, 3, 3]), null, { padding: 'same' }).shape).toEqual([2, 4, 5, 5]);
      expect(() => F.conv2d(x, tensor(new Float32Array(4 * 3 * 2 * 2), [4, 3, 2, 2]), null, { padding: 'same' })).toThrow(
        /^F\.conv2d: padding 'same' needs an odd kernel here, got 2×2$/,
      );
      expect(() => F.conv2d(x, tensor(new Float32Array(8), [2, 4, 1, 1]))).toThrow(
        /^F\.conv2d: input: expected a rank-4 NCHW tensor with 4 channels/,
      );
      expect(() => F.maxPool2d(x, 2, { padding: 2 })).toThrow(/^F\.maxPool2d: padding: expected at most half the kernel size 2×2/);
    });

    it('dropout: a seeded mask, scaled by 1/(1 − p), the same mask in the backward; identity when not training', () => {
      const x = tensor(
        Float32Array.from({ length: 400 }, (_, i) => 1 + (i % 7)),
        [400],
        { requiresGrad: true },
      );
      const y = F.dropout(x, 0.25, { generator: new Generator(5) });
      const again = F.dropout(x, 0.25, { generator: new Generator(5) }).toArray();
      const yv = y.toArray(),
        xv = x.toArray();
      expect(Array.from(again)).toEqual(Array.from(yv));
      const kept = yv.filter((v) => v !== 0).length;
      expect(kept).toBeGreaterThan(250); // 300 expected; a binomial (400, 0.75) is within 250..350 with p > 0.9999
      expect(kept).toBeLessThan(350);
      yv.forEach((v, i) => expect(v === 0 || v === Math.fround(xv[i] * Math.fround(1 / 0.75))).toBe(true));
      F.sum(y).backward();
      const g = x.grad!.toArray();
      yv.forEach((v, i) => expect(g[i]).toBe(v === 0 ? 0 : Math.fround(1 / 0.75)));
      expect(Array.from(F.dropout(x, 0.5, { training: false }).toArray())).toEqual(Array.from(xv));
    });
  });
}

describe('F.batchNorm gradients', () => {
  for (const backend of BACKENDS) {
    it(`${backend}: training (through the batch statistics) and eval, channel-first and channels-last`, async () => {
      await init({ backend });
      const eps = 1e-3;
      for (const [layout, shape] of [
        ['NCHW', [3, 2, 2, 3]],
        ['NHWC', [2, 3, 2, 4]],
        ['NC', [5, 3]],
      ] as const) {
        const c = layout === 'NCHW' ? shape[1] : shape[shape.length - 1];
        check(
          [[...shape], [c], [c]],
          ([x, w, b]) => F.batchNorm(x, null, null, { weight: w, bias: b, training: true, eps, layout }),
          ([x, w, b]) => refForwardTrain(Array.from(x), layout, [...shape], eps, Array.from(w), Array.from(b)).y,
          31,
        );
        const rm = [0.3, -0.2, 0.1, 0.5].slice(0, c),
          rv = [1.5, 0.7, 2, 0.9].slice(0, c);
        check(
          [[...shape], [c]],
          ([x, w]) => F.batchNorm(x, tensor(rm), tensor(rv), { weight: w, eps, layout }),
          ([x, w]) => refForwardEval(Array.from(x), layout, [...shape], eps, rm, rv, Array.from(w), new Array(c).fill(0)),
          32,
        );
      }
    });
  }
});
