// Grouped, depthwise and dilated Conv2d and F.conv2d on every backend: against PyTorch fixtures
// (test/fixtures/gen_torch_zoo.py) in both layouts, by hand and through the tape; F.conv2d's
// gradients against finite differences of a float64 grouped convolution; the direct depthwise
// kernel bit-identical across backends and layouts; state_dict names and shapes of a
// depthwise-separable model against PyTorch's; foldBatchNorm through a depthwise conv; bad arguments.
import torchZoo from './fixtures/torch_zoo.json';
import { describe, expect, it } from 'vitest';
import {
  init,
  memoryBytes,
  tensor,
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  F,
  Flatten,
  foldBatchNorm,
  Hardswish,
  Linear,
  LogSoftmax,
  ReLU6,
  Sequential,
} from '../src/index';
import { check } from './autograd_check';
import { BACKENDS, bits, throwsLike, toNCHW, toNHWC } from './helpers';
import { maxAbs, randn } from './reference';

interface ConvFixture {
  name: string;
  inChannels: number;
  outChannels: number;
  kernelSize: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
  hasBias: boolean;
  shape: number[];
  yShape: number[];
  x: number[];
  y: number[];
  dy: number[];
  dx: number[];
  weight: number[];
  dW: number[];
  bias?: number[];
  db?: number[];
}
const fixture = torchZoo as unknown as { convs: ConvFixture[]; stateDict: Record<string, number[]> };

// As test/conv.test.ts: both sides lie within (t + 3)·u·Σ|term| of the exact value, t ≤ 300 terms
// of O(1) here, so they differ by at most 2·300·u·scale ≈ 4e-5 of the scale.
const TOL_TORCH = 4e-5;

function close(at: string, got: ArrayLike<number>, want: readonly number[]): void {
  const worst = Math.max(0, ...Array.from(got, (v, i) => Math.abs(v - want[i])));
  expect(worst, at).toBeLessThanOrEqual(TOL_TORCH * Math.max(1, maxAbs(want)));
}

/** How a case runs: the layer's backward(dy), F.conv2d on the tape, or the layer recording on the tape. */
type Mode = 'by hand' | 'F.conv2d' | 'layer on the tape';

/** A fixture case run in `layout` in one mode; results in NCHW. */
function runCase(f: ConvFixture, layout: 'NCHW' | 'NHWC', mode: Mode) {
  const tape = mode !== 'by hand';
  const nhwc = layout === 'NHWC';
  const [n, c, h, w] = f.shape,
    [, o, oh, ow] = f.yShape;
  const conv = new Conv2d(c, o, f.kernelSize, {
    stride: f.stride,
    padding: f.padding,
    dilation: f.dilation,
    groups: f.groups,
    bias: f.hasBias,
    layout,
  });
  conv.loadStateDict(f.hasBias ? { weight: f.weight, bias: f.bias! } : { weight: f.weight });
  using x = tensor(nhwc ? toNHWC(f.x, f.shape) : Float32Array.from(f.x), nhwc ? [n, h, w, c] : f.shape, { requiresGrad: tape });
  using dy = tensor(nhwc ? toNHWC(f.dy, f.yShape) : Float32Array.from(f.dy), nhwc ? [n, oh, ow, o] : f.yShape);
  expect(conv.outputShape(x.shape)).toEqual(dy.shape);
  let y: Float32Array, dx: Float32Array;
  if (tape) {
    const opts = { stride: f.stride, padding: f.padding, dilation: f.dilation, groups: f.groups, layout };
    const yt = mode === 'F.conv2d' ? F.conv2d(x, conv.weight, conv.bias, opts) : conv.forward(x);
    expect(yt.shape).toEqual(dy.shape);
    y = yt.toArray();
    F.sum(F.mul(yt, dy)).backward();
    dx = x.grad!.toArray();
  } else {
    using yt = conv.forward(x);
    y = yt.toArray();
    using g = conv.backward(dy);
    dx = g.toArray();
  }
  const r = {
    y: nhwc ? toNCHW(y, [n, oh, ow, o]) : y,
    dx: nhwc ? toNCHW(dx, [n, h, w, c]) : dx,
    dW: conv.weight.grad.toArray(),
    db: conv.bias?.grad.toArray() ?? null,
  };
  conv.dispose();
  return r;
}

/** float64 grouped, dilated convolution of x [n, c, h, w] (NCHW) with w [o, c/g, kh, kw] (+ b). */
function convRef(
  x: Float64Array,
  w: Float64Array,
  b: Float64Array | null,
  [n, c, h, wd]: number[],
  [o, , kh, kw]: number[],
  s: number[],
  p: number[],
  d: number[],
  groups: number,
) {
  const oh = Math.floor((h + 2 * p[0] - d[0] * (kh - 1) - 1) / s[0]) + 1,
    ow = Math.floor((wd + 2 * p[1] - d[1] * (kw - 1) - 1) / s[1]) + 1;
  const cg = c / groups,
    og = o / groups;
  const y = new Float64Array(n * o * oh * ow);
  for (let q = 0; q < n; q++)
    for (let oc = 0; oc < o; oc++)
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++) {
          let acc = b ? b[oc] : 0;
          for (let ci = 0; ci < cg; ci++)
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const iy = oy * s[0] - p[0] + i * d[0],
                  ix = ox * s[1] - p[1] + j * d[1];
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                const cin = Math.floor(oc / og) * cg + ci;
                acc += x[((q * c + cin) * h + iy) * wd + ix] * w[((oc * cg + ci) * kh + i) * kw + j];
              }
          y[((q * o + oc) * oh + oy) * ow + ox] = acc;
        }
  return y;
}

/** A rank-4 array permuted in float64 (the test helpers' permutations round to f32, which finite differences cannot afford). */
function permute64(a: Float64Array, shape: number[], perm: number[]): Float64Array {
  const st = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1],
    to = perm.map((k) => shape[k]);
  const out = new Float64Array(a.length);
  let j = 0;
  for (let i0 = 0; i0 < to[0]; i0++)
    for (let i1 = 0; i1 < to[1]; i1++)
      for (let i2 = 0; i2 < to[2]; i2++)
        for (let i3 = 0; i3 < to[3]; i3++) out[j++] = a[i0 * st[perm[0]] + i1 * st[perm[1]] + i2 * st[perm[2]] + i3 * st[perm[3]]];
  return out;
}

for (const b of BACKENDS) {
  describe(`${b}: grouped, depthwise and dilated Conv2d`, () => {
    it('PyTorch fixtures: both layouts, the layer by hand and on the tape, and F.conv2d', async () => {
      await init({ backend: b });
      for (const f of fixture.convs) {
        for (const layout of ['NCHW', 'NHWC'] as const) {
          for (const mode of ['by hand', 'F.conv2d', 'layer on the tape'] as const) {
            const at = `${f.name} ${layout} ${mode}`;
            const r = runCase(f, layout, mode);
            close(`${at} y`, r.y, f.y);
            close(`${at} dx`, r.dx, f.dx);
            close(`${at} dW`, r.dW, f.dW);
            if (f.hasBias) close(`${at} db`, r.db!, f.db!);
          }
        }
      }
    });

    it('F.conv2d: gradients against finite differences of a float64 grouped convolution', async () => {
      await init({ backend: b });
      type P2 = [number, number];
      const cases: [number[], number[], P2, P2, P2, number, 'NCHW' | 'NHWC'][] = [
        // x, w, stride, padding, dilation, groups, layout
        [[2, 3, 6, 5], [6, 1, 3, 3], [2, 1], [1, 1], [1, 2], 3, 'NCHW'], // depthwise, multiplier 2
        [[1, 4, 5, 6], [4, 1, 3, 2], [1, 1], [2, 1], [2, 1], 4, 'NHWC'], // depthwise, dilated
        [[2, 4, 5, 5], [6, 2, 3, 3], [1, 2], [1, 0], [1, 1], 2, 'NCHW'], // grouped
        [[1, 6, 7, 6], [3, 2, 2, 3], [1, 1], [1, 1], [2, 2], 3, 'NHWC'], // grouped, dilated
        [[2, 2, 7, 7], [3, 2, 3, 3], [2, 2], [2, 2], [2, 2], 1, 'NCHW'], // dilated
      ];
      cases.forEach(([xs, ws, s, p, d, groups, layout], k) => {
        const nhwc = layout === 'NHWC';
        const xShape = nhwc ? [xs[0], xs[2], xs[3], xs[1]] : xs;
        check(
          [xShape, ws, [ws[0]]],
          ([x, w, bias]) => {
            const y = F.conv2d(x, w, bias, { stride: s, padding: p, dilation: d, groups, layout });
            return nhwc ? F.reshape(y, [-1]) : y;
          },
          ([x, w, bias]) => {
            const xn = nhwc ? permute64(x, xShape, [0, 3, 1, 2]) : x;
            const y = convRef(xn, w, bias, xs, ws, s, p, d, groups);
            if (!nhwc) return y;
            const [n, o] = [xs[0], ws[0]],
              P = y.length / (n * o);
            const oh = Math.floor((xs[2] + 2 * p[0] - d[0] * (ws[2] - 1) - 1) / s[0]) + 1;
            return permute64(y, [n, o, oh, P / oh], [0, 2, 3, 1]);
          },
          20 + k,
        );
      });
    });

    it('the depthwise kernel gives the same bits on every backend and in both layouts', async () => {
      // stride 2 with two filters per channel (scalar everywhere); stride 1 on rows of 23 with one
      // filter per channel (NCHW's four-wide interior and its edges, NHWC's four channels and a fifth);
      // stride 2 on rows of 41 (NCHW's four-wide interior from even lanes)
      const configs = [
        { h: 9, w: 8, o: 10, stride: 2, padding: [1, 2] as [number, number], dilation: [2, 1] as [number, number] },
        { h: 6, w: 23, o: 5, stride: 1, padding: [1, 2] as [number, number], dilation: [1, 2] as [number, number] },
        { h: 7, w: 41, o: 5, stride: 2, padding: [1, 1] as [number, number], dilation: [1, 1] as [number, number] },
      ];
      for (const { h, w, o, stride, padding, dilation } of configs) {
        const n = 2,
          c = 5;
        const x = randn(n * c * h * w, 31),
          wt = randn(o * 3 * 3, 32, 0, 0.3),
          bias = randn(o, 33);
        const run = async (backend: (typeof BACKENDS)[number], layout: 'NCHW' | 'NHWC') => {
          await init({ backend });
          const nhwc = layout === 'NHWC';
          const conv = new Conv2d(c, o, 3, { stride, padding, dilation, groups: c, layout });
          conv.loadStateDict({ weight: wt, bias });
          using xt = tensor(nhwc ? toNHWC(x, [n, c, h, w]) : x, nhwc ? [n, h, w, c] : [n, c, h, w]);
          using y = conv.forward(xt);
          const ys = [n, o, y.shape[nhwc ? 1 : 2], y.shape[nhwc ? 2 : 3]];
          const dy = randn(y.size, 34);
          using dyt = tensor(nhwc ? toNHWC(dy, ys) : dy, y.shape);
          using dx = conv.backward(dyt);
          const r = {
            y: bits(nhwc ? toNCHW(y.toArray(), y.shape) : y.toArray()),
            dx: bits(nhwc ? toNCHW(dx.toArray(), dx.shape) : dx.toArray()),
            dW: bits(conv.weight.grad.toArray()),
            db: bits(conv.bias!.grad.toArray()),
          };
          conv.dispose();
          return r;
        };
        const want = await run('js', 'NCHW');
        expect(want.y!.length).toBeGreaterThan(n * o * 4);
        expect(await run(b, 'NCHW')).toEqual(want);
        expect(await run(b, 'NHWC')).toEqual(want);
      }
    });

    it("state_dict names and shapes of a depthwise-separable model are PyTorch's; foldBatchNorm folds into a depthwise conv", async () => {
      await init({ backend: b });
      const model = new Sequential(
        new Conv2d(4, 4, 3, { padding: 1, groups: 4, bias: false }),
        new BatchNorm2d(4),
        new ReLU6(),
        new Conv2d(4, 8, 1),
        new Hardswish(),
        new AdaptiveAvgPool2d(1),
        new Flatten(),
        new Linear(8, 3),
        new LogSoftmax(1),
      );
      expect(Object.keys(model.stateDict()).sort()).toEqual(Object.keys(fixture.stateDict).sort());
      const printed = String(model);
      expect(printed).toContain(
        "(0): Conv2d(inChannels=4, outChannels=4, kernelSize=(3, 3), stride=(1, 1), padding=(1, 1), layout='NCHW', bias=false, groups=4)",
      );
      for (const line of ['(2): ReLU6()', "(5): AdaptiveAvgPool2d(outputSize=(1, 1), layout='NCHW')", '(8): LogSoftmax(dim=1)'])
        expect(printed).toContain(line);
      expect(String(new Conv2d(2, 2, 3, { dilation: [2, 1] }))).toMatch(/, dilation=\(2, 1\)\)$/);
      for (const e of model.stateEntries()) if ('tensor' in e) expect(e.tensor.shape, e.name).toEqual(fixture.stateDict[e.name]);
      // a few training steps move the running statistics; then eval, fold, and compare
      using x = tensor(randn(2 * 4 * 6 * 5, 41), [2, 4, 6, 5]);
      for (let i = 0; i < 2; i++) model.forward(x).dispose();
      model.eval();
      using y = model.forward(x);
      const folded = foldBatchNorm(model);
      using yf = folded.forward(x);
      close('folded', yf.toArray(), Array.from(y.toArray()));
      folded.dispose();
      model.dispose();
    });

    it('memory stays flat over 500 steps by hand and on the tape, both layouts', async () => {
      await init({ backend: b });
      for (const layout of ['NCHW', 'NHWC'] as const) {
        // a layer driven by hand records no more, so the tape has its own pair
        const make = () => [
          new Conv2d(4, 8, 3, { padding: 1, groups: 4, layout }),
          new Conv2d(4, 6, 3, { padding: 2, dilation: 2, groups: 2, layout }),
        ];
        const layers = make(),
          taped = make();
        // kept: after a backward(), what is made outside a scope belongs to that training step
        using x = tensor(randn(2 * 4 * 7 * 6, 51), layout === 'NCHW' ? [2, 4, 7, 6] : [2, 7, 6, 4]).keep();
        using xg = tensor(randn(2 * 4 * 7 * 6, 52), x.shape, { requiresGrad: true }).keep();
        let after1 = 0;
        for (let step = 1; step <= 500; step++) {
          if (step === 2) after1 = memoryBytes();
          for (const conv of layers) {
            using y = conv.forward(x);
            using g = tensor(new Float32Array(y.size).fill(1), y.shape);
            conv.backward(g).dispose();
          }
          for (const conv of taped) F.sum(conv.forward(xg)).backward();
        }
        expect(memoryBytes()).toBe(after1);
        [...layers, ...taped].forEach((l) => l.dispose());
      }
    });

    it('bad arguments throw naming the argument, and change nothing', async () => {
      await init({ backend: b });
      throwsLike(
        () => new Conv2d(4, 6, 3, { groups: 4 }),
        RangeError,
        /^Conv2d: groups: expected a divisor of the output channels \(6\), got 4$/,
      );
      throwsLike(
        () => new Conv2d(6, 4, 3, { groups: 4 }),
        RangeError,
        /^Conv2d: groups: expected a divisor of the input channels \(6\), got 4$/,
      );
      throwsLike(() => new Conv2d(4, 4, 3, { groups: 0 }), RangeError, /^Conv2d: groups: expected a positive integer, got number 0$/);
      throwsLike(() => new Conv2d(4, 4, 3, { groups: '2' as never }), TypeError, /^Conv2d: groups: expected a positive integer, got '2'$/);
      throwsLike(
        () => new Conv2d(4, 4, 3, { dilation: 0 }),
        RangeError,
        /^Conv2d: dilation: expected an integer ≥ 1 or a pair \[h, w\] of them, got number 0$/,
      );
      const conv = new Conv2d(4, 4, 3, { groups: 4, dilation: 3 });
      using small = tensor(new Float32Array(4 * 5 * 5), [1, 4, 5, 5]);
      // the dilated 3×3 kernel spans 7×7
      throwsLike(() => conv.forward(small), RangeError, /^Conv2d\.forward: input: expected a padded size .* of at least the kernel 7×7/);
      throwsLike(() => conv.backward(small), Error, /^Conv2d\.backward: call forward\(\) first$/);
      using x = tensor(new Float32Array(2 * 4 * 9 * 9), [2, 4, 9, 9]);
      using w = tensor(new Float32Array(6 * 2 * 3 * 3), [6, 2, 3, 3]);
      throwsLike(
        () => F.conv2d(x, w, null, { groups: 4 }),
        RangeError,
        /^F\.conv2d: groups: expected a divisor of the output channels \(6\), got 4$/,
      );
      throwsLike(() => F.conv2d(x, w, null, { groups: 3 }), RangeError, /^F\.conv2d: input: expected a rank-4 NCHW tensor with 6 channels/);
      throwsLike(() => F.conv2d(x, w, null, { groups: 2, dilation: [1, 0] }), RangeError, /^F\.conv2d: dilation: expected an integer ≥ 1/);
      throwsLike(() => F.conv2d(x, w, null, { group: 2 } as never), TypeError, /^F\.conv2d: unknown option 'group'/);
      // padding 'same' spreads with the dilation: (k − 1)/2 · d on each side keeps the size
      using ws = tensor(randn(4 * 1 * 3 * 5, 61), [4, 1, 3, 5]);
      using same = F.conv2d(x, ws, null, { padding: 'same', dilation: [3, 2], groups: 4 });
      expect(same.shape).toEqual(x.shape);
      const before = conv.weight.toArray();
      expect(conv.weight.grad.toArray().every((v) => v === 0)).toBe(true);
      expect(conv.weight.toArray()).toEqual(before);
      conv.dispose();
    });
  });
}
