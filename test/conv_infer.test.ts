// The inference convolution (assembly/conv_infer.ts, its JS twin) and the Graph's inference fusions
// (src/graph/fuse.ts): bit-identical to Conv2d's im2col + GEMM path on every build, for every tail
// of the register tile and several k panels; near a float64 convolution; the same bits on the
// SIMD and scalar builds; a fused activation as the unfused op gives it; which steps a Graph
// fuses; bad input refused with the layer's message. (Against onnxruntime-node: test/onnx_load.test.ts
// runs the zoo models under noGrad, which is this path.)
import { describe, expect, it } from 'vitest';
import { init, memoryBytes, noGrad, tensor, Conv2d, F, Graph, Generator, relaxedSimdSupported } from '../src/index';
import { runFusedConv } from '../src/graph/fuse';
import { planRun } from '../src/graph/run';
import { BACKENDS, bits, throwsLike, values } from './helpers';

// float32 sums of K products, each term ≤ |w|·|x|: both sides within (K + 2)·u·Σ|w·x| of the exact value
const U = 2 ** -24;

interface Case {
  name: string;
  c: number;
  o: number;
  k: [number, number];
  s: [number, number];
  p: [number, number];
  hw: [number, number];
  n: number;
  bias: boolean;
}

const CASES: Case[] = [
  // o = 13: three full tiles of 4 rows and one of 1; 5×7 = 35 pixels: 4 strips of 8 and a tail of 3
  { name: '3×3 pad 1, tails in rows and pixels', c: 3, o: 13, k: [3, 3], s: [1, 1], p: [1, 1], hw: [5, 7], n: 2, bias: true },
  // K = 30·9 = 270 taps: two k panels (256 + 14)
  { name: 'two k panels', c: 30, o: 8, k: [3, 3], s: [1, 1], p: [1, 1], hw: [6, 6], n: 1, bias: true },
  { name: '1×1 stride 1 (the image as one row of pixels)', c: 9, o: 11, k: [1, 1], s: [1, 1], p: [0, 0], hw: [5, 5], n: 2, bias: false },
  { name: '1×1 stride 2', c: 4, o: 5, k: [1, 1], s: [2, 2], p: [0, 0], hw: [9, 9], n: 1, bias: true },
  { name: '7×7 stride 2 pad 3 (a ResNet stem)', c: 3, o: 6, k: [7, 7], s: [2, 2], p: [3, 3], hw: [20, 20], n: 1, bias: false },
  { name: '5×3 stride [2, 1] pad [2, 0]', c: 2, o: 4, k: [5, 3], s: [2, 1], p: [2, 0], hw: [9, 21], n: 1, bias: true },
  {
    name: 'wide rows (strips inside one row), a tile of 3 rows',
    c: 2,
    o: 7,
    k: [3, 3],
    s: [1, 1],
    p: [1, 1],
    hw: [3, 40],
    n: 1,
    bias: true,
  },
  // ow = 7: every strip of 8 spans two output rows, with the padding at both ends of each
  { name: '3×3 stride 2 pad 1, strips across rows', c: 3, o: 5, k: [3, 3], s: [2, 2], p: [1, 1], hw: [14, 14], n: 2, bias: true },
  { name: '3×3 stride 2 pad 1, strips inside one row', c: 2, o: 4, k: [3, 3], s: [2, 2], p: [1, 1], hw: [5, 40], n: 1, bias: false },
  // ow = 3: a strip of 8 spans three output rows
  { name: '3×3 pad 1 on 4×3 (a strip over three rows)', c: 2, o: 4, k: [3, 3], s: [1, 1], p: [1, 1], hw: [4, 3], n: 2, bias: true },
  { name: 'batch 0', c: 2, o: 3, k: [3, 3], s: [1, 1], p: [1, 1], hw: [4, 4], n: 0, bias: true },
];

function layer(t: Case): Conv2d {
  return new Conv2d(t.c, t.o, t.k, { stride: t.s, padding: t.p, bias: t.bias, generator: new Generator(5) });
}

/** float64 convolution and the sum of |terms| per output, NCHW. */
function reference(t: Case, x: Float32Array, w: Float32Array, b: Float32Array | null) {
  const [h, wd] = t.hw,
    oh = Math.floor((h + 2 * t.p[0] - t.k[0]) / t.s[0]) + 1,
    ow = Math.floor((wd + 2 * t.p[1] - t.k[1]) / t.s[1]) + 1;
  const y = new Float64Array(t.n * t.o * oh * ow),
    mag = new Float64Array(y.length);
  for (let i = 0; i < t.n; i++)
    for (let o = 0; o < t.o; o++)
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++) {
          let s = b ? b[o] : 0,
            m = Math.abs(s);
          for (let c = 0; c < t.c; c++)
            for (let ki = 0; ki < t.k[0]; ki++)
              for (let kj = 0; kj < t.k[1]; kj++) {
                const iy = oy * t.s[0] - t.p[0] + ki,
                  ix = ox * t.s[1] - t.p[1] + kj;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                const v = w[((o * t.c + c) * t.k[0] + ki) * t.k[1] + kj] * x[((i * t.c + c) * h + iy) * wd + ix];
                s += v;
                m += Math.abs(v);
              }
          const at = ((i * t.o + o) * oh + oy) * ow + ox;
          y[at] = s;
          mag[at] = m;
        }
  return { y, mag };
}

const runnable = BACKENDS.filter((b) => b !== 'wasm-relaxed' || relaxedSimdSupported());

describe('inference convolution', () => {
  const seen = new Map<string, number[]>();
  for (const backend of runnable) {
    describe(backend, () => {
      for (const t of CASES) {
        it(`${t.name}: the im2col path's bits, near float64`, async () => {
          await init({ backend });
          const conv = layer(t).eval();
          const x = tensor(values(t.n * t.c * t.hw[0] * t.hw[1], 3), [t.n, t.c, ...t.hw]);
          const want = noGrad(() => conv.forward(x)).toArray();
          const got = noGrad(() => runFusedConv(conv, x, null)).toArray();
          expect(bits(got)).toEqual(bits(want));
          const ref = reference(t, x.toArray(), conv.weight.toArray(), conv.bias ? conv.bias.toArray() : null);
          const K = t.c * t.k[0] * t.k[1];
          for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - ref.y[i])).toBeLessThanOrEqual((K + 2) * U * ref.mag[i]);
          // the two WASM builds sum alike; the relaxed one may fuse its multiply-adds and the JS
          // backend sums in f64, as their own im2col paths do
          if (backend === 'wasm-simd' || backend === 'wasm') {
            const other = seen.get(t.name);
            if (other === undefined) seen.set(t.name, bits(got)!);
            else expect(bits(got), 'the same bits as the first backend').toEqual(other);
          }
          x.dispose();
          conv.dispose();
        });
      }

      it('a fused ReLU6 or Hardtanh gives the clamp op’s bits; a fused ReLU its values', async () => {
        await init({ backend });
        const t = CASES[0];
        const conv = layer(t).eval();
        const x = tensor(values(t.n * t.c * t.hw[0] * t.hw[1], 4), [t.n, t.c, ...t.hw]);
        noGrad(() => {
          const y = conv.forward(x);
          expect(bits(runFusedConv(conv, x, { kind: 'clamp', lo: 0, hi: 6 }).toArray())).toEqual(bits(F.relu6(y).toArray()));
          expect(bits(runFusedConv(conv, x, { kind: 'clamp', lo: -0.5, hi: 0.25 }).toArray())).toEqual(
            bits(F.hardtanh(y, -0.5, 0.25).toArray()),
          );
          // a clamp to [0, ∞) turns −0 into +0 where the ReLU kernel keeps it: equal values
          expect(Array.from(runFusedConv(conv, x, { kind: 'relu', lo: 0, hi: Infinity }).toArray())).toEqual(
            Array.from(F.relu(y).toArray(), (v) => v + 0),
          );
        });
        x.dispose();
        conv.dispose();
      });
    });
  }

  it('bad input: the layer’s error, nothing allocated that stays', async () => {
    await init({ backend: 'wasm-simd' });
    const conv = new Conv2d(3, 4, 3, { padding: 1 });
    const x = tensor(values(2 * 4 * 5 * 5), [2, 4, 5, 5]);
    const before = memoryBytes();
    throwsLike(
      () => noGrad(() => runFusedConv(conv, x, null)),
      RangeError,
      /^Conv2d\.forward: input: expected a rank-4 NCHW tensor with 3 channels \[N, 3, H, W\], got \[2, 4, 5, 5\]$/,
    );
    expect(memoryBytes()).toBe(before);
    conv.dispose();
    const ok = tensor(values(2 * 3 * 5 * 5), [2, 3, 5, 5]);
    throwsLike(() => noGrad(() => runFusedConv(conv, ok, null)), Error, /^Conv2d\.forward: .*disposed/);
    ok.dispose();
    x.dispose();
  });
});

describe('Graph inference fusions', () => {
  /** conv1 → relu; conv2 → identity → relu6; a depthwise conv3 → relu6; conv4 read by an output and a relu; conv5 read twice. */
  function model(): Graph {
    const g = new Graph();
    const gen = new Generator(9);
    let h = g.input('x');
    h = g.op('relu', [g.layer('conv1', new Conv2d(3, 8, 3, { padding: 1, generator: gen }), h)], {}, 'r1');
    h = g.op('relu6', [g.op('identity', [g.layer('conv2', new Conv2d(8, 8, 1, { generator: gen }), h)], {}, 'id2')], {}, 'r2');
    h = g.op('relu6', [g.layer('conv3', new Conv2d(8, 8, 3, { padding: 1, groups: 8, generator: gen }), h)], {}, 'r3');
    const c4 = g.layer('conv4', new Conv2d(8, 8, 3, { padding: 1, generator: gen }), h);
    g.output('raw', c4);
    h = g.op('relu', [c4], {}, 'r4');
    const c5 = g.layer('conv5', new Conv2d(8, 8, 3, { stride: 2, padding: 1, generator: gen }), h);
    g.output('y', g.op('add', [g.op('relu', [c5], {}, 'r5'), c5]));
    return g.eval();
  }

  it('fuses an activation that alone reads a convolution (through identities), and no other', async () => {
    await init({ backend: 'wasm-simd' });
    const g = model();
    const plan = planRun(
      g.nodes,
      g.outputNames.map((o) => [o, g.outputSource(o)]),
    );
    expect(Object.fromEntries(plan.fusions.convs)).toEqual({
      conv1: { kind: 'relu', lo: 0, hi: Infinity },
      conv2: { kind: 'clamp', lo: 0, hi: 6 },
      conv3: { kind: 'clamp', lo: 0, hi: 6 },
      conv4: null,
      conv5: null,
    });
    expect([...plan.fusions.absorbed].sort()).toEqual(['r1', 'r2', 'r3']);
    g.dispose();
  });

  for (const backend of runnable) {
    it(`${backend}: an inference run gives the recorded (unfused) run's outputs`, async () => {
      await init({ backend });
      const g = model();
      const x = tensor(values(2 * 3 * 9 * 9, 6), [2, 3, 9, 9]);
      const taped = g.run({ x });
      const want = { raw: taped.raw.toArray(), y: taped.y.toArray() };
      taped.raw.dispose();
      taped.y.dispose();
      const got = noGrad(() => {
        const r = g.run({ x });
        return { raw: r.raw.toArray(), y: r.y.toArray() };
      });
      // the same values (a fused ReLU may give +0 for −0)
      expect(Array.from(got.raw)).toEqual(Array.from(want.raw));
      expect(Array.from(got.y, (v) => v + 0)).toEqual(Array.from(want.y, (v) => v + 0));
      x.dispose();
      g.dispose();
    });
  }

  it('a bad input is refused naming the fused node', async () => {
    await init({ backend: 'wasm-simd' });
    const g = model();
    const x = tensor(values(2 * 4 * 9 * 9), [2, 4, 9, 9]);
    throwsLike(() => noGrad(() => g.run({ x })), RangeError, /^Graph\.run: node 'conv1' \(Conv2d\): Conv2d\.forward: input: expected/);
    x.dispose();
    g.dispose();
  });
});
