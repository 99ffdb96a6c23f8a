// The opt-in relaxed SIMD build ('wasm-relaxed'): the SIMD build with relaxed_madd in the GEMM
// tile. Its BatchNorm kernels are the SIMD build's, so they must match it bit for bit; its matrix
// products (Linear, Conv2d) may round differently (fused where the CPU has FMA) and are held to the
// f32 error bound in gemm.test.ts, and here to tolerances against the SIMD build over whole layers
// and training steps. Every numeric test file runs it too (test/helpers.ts BACKENDS).
import { describe, expect, it } from 'vitest';
import {
  init,
  backend,
  relaxedSimdSupported,
  tensor,
  BatchNorm1d,
  BatchNorm2d,
  Conv2d,
  CrossEntropyLoss,
  Generator,
  Linear,
  ReLU,
  Flatten,
  SGD,
  Sequential,
  type BackendName,
  type Layout,
} from '../src/index';
import { bits, makeLayer } from './helpers';
import { maxAbs, maxAbsDiff, randn } from './reference';

/** Forward (train), backward and eval forward of a BN layer on `backend`: every output and state. */
async function bnOutputs(b: BackendName, layout: Layout, shape: number[], seed: number): Promise<Float32Array[]> {
  await init({ backend: b });
  const c = layout === 'NC' || layout.startsWith('NC') ? shape[1] : shape[shape.length - 1];
  const size = shape.reduce((p, q) => p * q, 1);
  // channels far from mean 0 (shifted statistics) next to centred ones
  const x = Float32Array.from(randn(size, seed), (v, i) => v + (i % 7 === 0 ? 300 : 0));
  const dy = randn(size, seed + 1);
  const bn = makeLayer(layout, c);
  const xt = tensor(x, shape),
    dyt = tensor(dy, shape);
  const y = bn.forward(xt),
    dx = bn.backward(dyt);
  bn.eval();
  const ye = bn.forward(xt);
  const sd = bn.stateDict();
  const out = [
    y.toArray(),
    dx.toArray(),
    ye.toArray(),
    bn.weight!.grad!.toArray(),
    bn.bias!.grad!.toArray(),
    sd.running_mean!,
    sd.running_var!,
  ];
  for (const t of [xt, dyt, y, dx, ye]) t.dispose();
  bn.dispose();
  return out;
}

/** A small CNN (Conv2d, BN, ReLU, Linear) trained `steps` SGD steps: the losses and the final weights. */
async function trainCnn(b: BackendName, steps: number): Promise<{ losses: number[]; weights: Float32Array[] }> {
  await init({ backend: b });
  const gen = new Generator(3);
  const model = new Sequential(
    new Conv2d(2, 8, 3, { padding: 1, generator: gen }),
    new BatchNorm2d(8),
    new ReLU(),
    new Flatten(),
    new Linear(8 * 6 * 6, 16, { generator: gen }),
    new BatchNorm1d(16),
    new ReLU(),
    new Linear(16, 4, { generator: gen }),
  );
  const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const lossFn = new CrossEntropyLoss();
  const x = randn(16 * 2 * 6 * 6, 9),
    labels = Int32Array.from({ length: 16 }, (_, i) => i % 4);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    opt.zeroGrad();
    using xt = tensor(x, [16, 2, 6, 6]);
    using logits = model.forward(xt);
    losses.push(lossFn.forward(logits, labels));
    using g = lossFn.backward();
    model.backward(g).dispose();
    opt.step();
  }
  const weights = model.parameters().map((p) => p.toArray());
  model.dispose();
  opt.dispose();
  lossFn.dispose();
  return { losses, weights };
}

describe('wasm-relaxed: the opt-in relaxed SIMD build', () => {
  it('runs here (Node 20 with --experimental-wasm-relaxed-simd, see vitest.config.ts; Chromium natively)', async () => {
    expect(relaxedSimdSupported()).toBe(true);
    expect(await init({ backend: 'wasm-relaxed' })).toBe('wasm-relaxed');
    expect(backend()).toBe('wasm-relaxed');
  });

  it('a module handed to init() names its own build; a relaxed module asked for as another build is refused', async () => {
    const url = new URL('../build/batchnorm-relaxed.wasm', import.meta.url);
    expect(await init({ module: url })).toBe('wasm-relaxed');
    await expect(init({ backend: 'wasm-simd', module: url })).rejects.toThrow(
      /^init: options\.module: this is the 'wasm-relaxed' build, but backend 'wasm-simd' was asked for$/,
    );
    await expect(init({ backend: 'wasm-relaxed', module: new URL('../build/batchnorm-simd.wasm', import.meta.url) })).rejects.toThrow(
      /^init: options\.module: this is the 'wasm-simd' build, but backend 'wasm-relaxed' was asked for$/,
    );
    expect(backend()).toBe('wasm-relaxed');
  });

  // shapes through every kind of pass: channels-last rows and folded rows, channel-first runs and short runs
  const CASES: [Layout, number[]][] = [
    ['NC', [33, 17]],
    ['NC', [64, 3]],
    ['NHWC', [4, 5, 6, 24]],
    ['NCHW', [3, 5, 7, 9]],
    ['NCHW', [40, 4, 3, 3]],
    ['NCL', [2, 6, 100]],
  ];
  it.each(CASES)('BatchNorm %s %j: forward, backward, eval and running statistics bit-identical to wasm-simd', async (layout, shape) => {
    const simd = await bnOutputs('wasm-simd', layout, shape, 4);
    const relaxed = await bnOutputs('wasm-relaxed', layout, shape, 4);
    relaxed.forEach((a, i) => expect(bits(a), `output ${i}`).toEqual(bits(simd[i])));
  });

  it('a CNN trained 20 SGD steps follows wasm-simd: losses within 1e-6, weights within 1e-5 of their scale', async () => {
    const simd = await trainCnn('wasm-simd', 20);
    const relaxed = await trainCnn('wasm-relaxed', 20);
    // products rounded once instead of twice differ by ~1e-7 relative; over these 20 steps (loss
    // 1.49 → 0.03) measured: losses ≤ 3e-8 apart, weights ≤ 2.1e-7 of their largest value; the
    // tolerances leave ~50× room for other CPUs' rounding
    for (let s = 0; s < 20; s++) expect(Math.abs(relaxed.losses[s] - simd.losses[s]), `step ${s}`).toBeLessThan(1e-6);
    expect(relaxed.losses[19]).toBeLessThan(0.1 * relaxed.losses[0]);
    relaxed.weights.forEach((w, i) =>
      expect(maxAbsDiff(w, simd.weights[i]), `parameter ${i}`).toBeLessThan(1e-5 * maxAbs(simd.weights[i])),
    );
  });
});
