// The inference 3×3 depthwise convolution (assembly/depthwise_infer.ts, its JS twin) that a Graph
// runs under noGrad for MobileNet's depthwise layers: bit-identical to the training path's direct
// depthwise kernel followed by the clamp, on every build, for every width (each tail of the
// 8- and 4-wide interiors, and rows too short to have one), both strides, with and without bias;
// near a float64 convolution; bad input refused with the layer's message. (Against onnxruntime-node:
// mobilenet_v2 in test/onnx_load.test.ts runs under noGrad, which is this path.)
import { describe, expect, it } from 'vitest';
import { init, memoryBytes, noGrad, tensor, Conv2d, F, Generator, relaxedSimdSupported } from '../src/index';
import { runFusedConv, type FusedActivation } from '../src/graph/fuse';
import { BACKENDS, bits, throwsLike, values } from './helpers';

// float32 sums of ≤ 9 products and a bias, each term ≤ |w|·|x|: within (9 + 2)·u·Σ|terms| of the exact value
const U = 2 ** -24;
const TERMS_TOL = 11 * U;

const runnable = BACKENDS.filter((b) => b !== 'wasm-relaxed' || relaxedSimdSupported());

interface Case {
  c: number;
  h: number;
  w: number;
  s: 1 | 2;
  n: number;
  bias: boolean;
}

// widths 1…21 cover rows with no interior, the 4-wide tail and the 8-wide body at both strides
const CASES: Case[] = [];
for (const s of [1, 2] as const)
  for (let w = 1; w <= 21; w++) CASES.push({ c: 3, h: w % 5 === 0 ? 1 : 4 + (w % 3), w, s, n: w % 4 === 0 ? 2 : 1, bias: w % 2 === 0 });
CASES.push({ c: 2, h: 6, w: 6, s: 1, n: 0, bias: true }); // batch 0

const ACTS: (FusedActivation | null)[] = [
  null,
  { kind: 'relu', lo: 0, hi: Infinity },
  { kind: 'clamp', lo: 0, hi: 6 },
  { kind: 'clamp', lo: -0.5, hi: 0.25 },
];

function layer(t: Case): Conv2d {
  return new Conv2d(t.c, t.c, 3, { stride: t.s, padding: 1, groups: t.c, bias: t.bias, generator: new Generator(5) }).eval();
}

/** float64 depthwise convolution (+ bias) and Σ|terms| per output. */
function reference(t: Case, x: Float32Array, w: Float32Array, b: Float32Array | null) {
  const oh = Math.floor((t.h - 1) / t.s) + 1,
    ow = Math.floor((t.w - 1) / t.s) + 1;
  const y = new Float64Array(t.n * t.c * oh * ow),
    mag = new Float64Array(y.length);
  for (let i = 0; i < t.n; i++)
    for (let c = 0; c < t.c; c++)
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++) {
          let s = b ? b[c] : 0,
            m = Math.abs(s);
          for (let ki = 0; ki < 3; ki++)
            for (let kj = 0; kj < 3; kj++) {
              const iy = oy * t.s - 1 + ki,
                ix = ox * t.s - 1 + kj;
              if (iy < 0 || iy >= t.h || ix < 0 || ix >= t.w) continue;
              const v = w[c * 9 + ki * 3 + kj] * x[((i * t.c + c) * t.h + iy) * t.w + ix];
              s += v;
              m += Math.abs(v);
            }
          const at = ((i * t.c + c) * oh + oy) * ow + ox;
          y[at] = s;
          mag[at] = m;
        }
  return { y, mag };
}

describe('inference 3×3 depthwise convolution', () => {
  const first = new Map<string, number[]>();
  for (const backend of runnable) {
    it(`${backend}: the training path's bits then the clamp, near float64, the same bits on every build`, async () => {
      await init({ backend });
      for (const t of CASES) {
        const name = `${t.n}×${t.c}×${t.h}×${t.w} s${t.s}${t.bias ? ' bias' : ''}`;
        const conv = layer(t);
        const x = tensor(values(t.n * t.c * t.h * t.w, t.w + 3), [t.n, t.c, t.h, t.w]);
        const y = noGrad(() => conv.forward(x)); // assembly/depthwise.ts
        const ref = reference(t, x.toArray(), conv.weight.toArray(), conv.bias ? conv.bias.toArray() : null);
        for (const act of ACTS) {
          const got = noGrad(() => runFusedConv(conv, x, act));
          const want =
            act === null
              ? y.toArray()
              : act.kind === 'relu'
                ? Float32Array.from(F.relu(y).toArray(), (v) => v + 0) // a clamp to [0, ∞) gives +0 for −0
                : F.hardtanh(y, act.lo, act.hi).toArray();
          const a = got.toArray();
          expect(bits(a), `${name} ${act?.kind ?? 'none'} ${act?.hi ?? ''}`).toEqual(bits(want));
          const key = `${name} ${JSON.stringify(act)}`;
          if (!first.has(key)) first.set(key, bits(a)!);
          else expect(bits(a), `${key}: the first backend's bits`).toEqual(first.get(key));
          if (act === null)
            for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - ref.y[i])).toBeLessThanOrEqual(TERMS_TOL * ref.mag[i]);
          got.dispose();
        }
        y.dispose();
        x.dispose();
        conv.dispose();
      }
    });
  }

  it('bad input: the layer’s error, nothing allocated that stays', async () => {
    await init({ backend: 'wasm-simd' });
    const conv = new Conv2d(4, 4, 3, { padding: 1, groups: 4 });
    const x = tensor(values(2 * 3 * 5 * 5), [2, 3, 5, 5]);
    const before = memoryBytes();
    throwsLike(
      () => noGrad(() => runFusedConv(conv, x, null)),
      RangeError,
      /^Conv2d\.forward: input: expected a rank-4 NCHW tensor with 4 channels \[N, 4, H, W\], got \[2, 3, 5, 5\]$/,
    );
    expect(memoryBytes()).toBe(before);
    conv.dispose();
    const ok = tensor(values(2 * 4 * 5 * 5), [2, 4, 5, 5]);
    throwsLike(() => noGrad(() => runFusedConv(conv, ok, null)), Error, /^Conv2d\.forward: .*disposed/);
    ok.dispose();
    x.dispose();
  });
});
