// The norms on the tape and at the edges, every backend: F.layerNorm/groupNorm/instanceNorm against
// central differences of a float64 reference; a Module subclass of the four layers through
// loss.backward() bit-identical to the same layers driven by hand (backward(dy)), its memory flat
// over many steps; group lengths 0…33 (every tail) against float64 and the relaxed build equal to
// SIMD bit for bit; an empty batch; how the layers print.
import { describe, expect, it } from 'vitest';
import {
  evaluate,
  F,
  fit,
  Generator,
  GhostBatchNorm1d,
  GhostBatchNorm2d,
  Linear,
  ReLU,
  SGD,
  GroupNorm,
  init,
  InstanceNorm2d,
  LayerNorm,
  memoryBytes,
  Module,
  noGrad,
  Sequential,
  tensor,
  type Tensor,
} from '../src/index';
import { BACKENDS, bits } from './helpers';
import { check } from './autograd_check';
import { countAllocations } from './alloc_count';
import { maxAbsDiff, randn } from './reference';

/** float64 y = γ[chan]·x̂ + β[chan] with x̂ per group of `per` consecutive values (a rows × per view). */
function groupRef(
  x: ArrayLike<number>,
  per: number,
  eps: number,
  gamma?: ArrayLike<number>,
  beta?: ArrayLike<number>,
  chan = (i: number) => i,
) {
  const y = new Float64Array(x.length);
  for (let r = 0; r * per < x.length; r++) {
    let m = 0,
      v = 0;
    for (let i = r * per; i < (r + 1) * per; i++) m += x[i] / per;
    for (let i = r * per; i < (r + 1) * per; i++) v += (x[i] - m) ** 2 / per;
    const inv = 1 / Math.sqrt(v + eps);
    for (let i = r * per; i < (r + 1) * per; i++) y[i] = (x[i] - m) * inv * (gamma ? gamma[chan(i)] : 1) + (beta ? beta[chan(i)] : 0);
  }
  return y;
}

/** The four layers in a Module subclass: [4, 4, 3, 3] → GroupNorm → InstanceNorm2d → Ghost BN → LayerNorm. */
class Net extends Module {
  gn = new GroupNorm(2, 4);
  inorm = new InstanceNorm2d(4, { affine: true, trackRunningStats: true });
  ghost = new GhostBatchNorm2d(4, { virtualBatchSize: 3 });
  ln = new LayerNorm([4, 3, 3]);
  forward(x: Tensor): Tensor {
    return this.ln.forward(F.relu(this.ghost.forward(this.inorm.forward(this.gn.forward(x)))));
  }
  /** The same chain driven by hand, backward(dy) layer by layer. */
  byHand(x: Tensor, dy: Tensor): Tensor {
    const hs = noGrad(() => {
      const a = this.gn.forward(x),
        b = this.inorm.forward(a),
        c = this.ghost.forward(b);
      return [a, b, c, F.relu(c)];
    });
    const y = noGrad(() => this.ln.forward(hs[3]));
    const g3 = this.ln.backward(dy);
    const c = hs[2].toArray();
    const g2 = tensor(
      g3.toArray().map((v, i) => (c[i] > 0 ? v : 0)),
      g3.shape,
    );
    const g1 = this.ghost.backward(g2),
      g0 = this.inorm.backward(g1);
    this.gn.backward(g0).dispose();
    for (const t of [...hs, g3, g2, g1, g0]) t.dispose();
    return y;
  }
}

const SHAPE = [5, 4, 3, 3];
const seedParams = (net: Net) => net.parameters().forEach((p, k) => p.view().set(randn(p.size, 60 + k, k % 2 ? 0 : 1, 0.3)));

for (const b of BACKENDS) {
  describe(`${b}: norms on the tape`, () => {
    it('F.layerNorm, F.groupNorm, F.instanceNorm: gradients of x, γ, β against central differences', async () => {
      await init({ backend: b });
      const eps = 1e-3;
      check(
        [[3, 2, 5], [5], [5]],
        ([x, w, bb]) => F.layerNorm(x, 5, { weight: w, bias: bb, eps }),
        ([x, w, bb]) => groupRef(x, 5, eps, w, bb, (i) => i % 5),
        11,
      );
      check(
        [[2, 6, 4], [6], [6]],
        ([x, w, bb]) => F.groupNorm(x, 3, { weight: w, bias: bb, eps }),
        ([x, w, bb]) => groupRef(x, 8, eps, w, bb, (i) => Math.floor(i / 4) % 6),
        12,
      );
      check(
        [[2, 3, 7], [3]],
        ([x, w]) => F.instanceNorm(x, null, null, { weight: w, eps }),
        ([x, w]) => groupRef(x, 7, eps, w, undefined, (i) => Math.floor(i / 7) % 3),
        13,
      );
      check(
        [[4, 2, 3, 2]],
        ([x]) => F.layerNorm(x, [3, 2], { eps }),
        ([x]) => groupRef(x, 6, eps),
        14,
      );
    });

    it('a Module subclass through loss.backward() equals the same layers driven by hand, bit for bit; memory stays flat', async () => {
      await init({ backend: b });
      const [taped, hand] = [new Net(), new Net()];
      seedParams(taped);
      seedParams(hand);
      const size = SHAPE.reduce((p, v) => p * v, 1);
      for (let step = 0; step < 60; step++) {
        const x = randn(size, 70 + (step % 5), 0.5, 2),
          dy = randn(size, 80 + (step % 5));
        taped.zeroGrad();
        hand.zeroGrad();
        const xt = tensor(x, SHAPE),
          dyt = tensor(dy, SHAPE);
        const y = taped.forward(xt);
        const yv = y.toArray();
        F.sum(F.mul(y, dyt)).backward();
        if (step < 3) {
          const yh = hand.byHand(xt, dyt);
          expect(bits(yv), `step ${step} y`).toEqual(bits(yh.toArray()));
          yh.dispose();
          const [gt, gh] = [taped, hand].map((n) => n.parameters().map((p) => bits(p.grad.toArray())));
          expect(gt, `step ${step} gradients`).toEqual(gh);
          expect(taped.stateDict(), `step ${step} state`).toEqual(hand.stateDict());
        }
        xt.dispose();
        dyt.dispose();
      }
      // memory flat: what is live after step 20 and after step 80 of the same loop is the same
      const before = taped.stateDict();
      const count = countAllocations();
      const lives: number[] = [],
        bytes: number[] = [];
      for (let step = 0; step < 80; step++) {
        const xt = tensor(randn(size, 90 + (step % 3), 0, 1), SHAPE);
        F.sum(taped.forward(xt)).backward();
        xt.dispose();
        if (step === 19 || step === 79) {
          lives.push(count.live());
          bytes.push(memoryBytes());
        }
      }
      count.stop();
      expect(lives[1]).toBe(lives[0]);
      expect(bytes[1]).toBe(bytes[0]);
      expect(taped.stateDict()).not.toEqual(before); // the running statistics moved: the steps ran
      taped.dispose();
      hand.dispose();
    });

    it('group lengths 0…33 against float64; the relaxed build equals SIMD bit for bit', async () => {
      const outs: Record<string, Float32Array[]> = {};
      for (const backend of [b, ...(b === 'wasm-relaxed' ? (['wasm-simd'] as const) : [])]) {
        await init({ backend });
        outs[backend] = [];
        for (let l = 0; l <= 33; l++) {
          const x = randn(3 * l, l + 1, 2, 1.5),
            dy = randn(3 * l, l + 50);
          const m = new LayerNorm(Math.max(l, 1));
          if (l === 0) {
            // an empty last dim is no normalizedShape; GroupNorm takes empty groups of an empty batch
            const g = new GroupNorm(1, 2);
            using e = tensor([], [0, 2, 5]);
            using y = noGrad(() => g.forward(e));
            using dx = g.backward(e);
            expect([y.shape, dx.shape]).toEqual([
              [0, 2, 5],
              [0, 2, 5],
            ]);
            g.dispose();
            m.dispose();
            continue;
          }
          using xt = tensor(x, [3, l]);
          using y = noGrad(() => m.forward(xt));
          using dyt = tensor(dy, [3, l]);
          using dx = m.backward(dyt);
          expect(maxAbsDiff(y.toArray(), groupRef(x, l, 1e-5)), `L = ${l}`).toBeLessThanOrEqual(l === 1 ? 0 : 1e-5 * 4);
          outs[backend].push(y.toArray(), dx.toArray(), m.weight!.grad.toArray());
          m.dispose();
        }
      }
      if (b === 'wasm-relaxed') expect(outs['wasm-relaxed'].map(bits)).toEqual(outs['wasm-simd'].map(bits));
    });
  });
}

describe('training with fit', () => {
  it('a Sequential with LayerNorm, GroupNorm and Ghost BN learns four Gaussian blobs', async () => {
    await init({ backend: 'wasm-simd' });
    const blobs = (n: number, seed: number) => {
      const noise = randn(n * 12, seed, 0, 0.7);
      const y = Int32Array.from({ length: n }, (_, i) => (i * 7 + seed) % 4);
      const x = Float32Array.from(noise, (v, j) => v + ((j % 12) % 4 === y[Math.floor(j / 12)] ? 2 : 0));
      return { x, y, shape: [12] };
    };
    const gen = new Generator(5);
    const m = new Sequential(
      new Linear(12, 16, { generator: gen }),
      new LayerNorm(16),
      new ReLU(),
      new Linear(16, 16, { generator: gen }),
      new GroupNorm(4, 16),
      new ReLU(),
      new Linear(16, 16, { generator: gen }),
      new GhostBatchNorm1d(16, { virtualBatchSize: 8 }),
      new ReLU(),
      new Linear(16, 4, { generator: gen }),
    );
    const opt = new SGD(m.parameters(), { lr: 0.1, momentum: 0.9 });
    const logs = await fit(m, blobs(512, 3), { epochs: 4, batchSize: 32, optimizer: opt, seed: 1, progress: false });
    expect(logs[3].loss).toBeLessThan(logs[0].loss / 2);
    expect(evaluate(m, blobs(256, 4)).accuracy).toBeGreaterThan(0.9);
    m.dispose();
    opt.dispose();
  });
});

describe('printing', () => {
  it('each layer shows its arguments', async () => {
    await init({ backend: 'js' });
    const m = new Sequential(
      new LayerNorm([3, 4]),
      new GroupNorm(2, 4, { affine: false }),
      new InstanceNorm2d(3, { trackRunningStats: true }),
      new GhostBatchNorm2d(3, { virtualBatchSize: 8 }),
    );
    expect(String(m)).toBe(
      [
        'Sequential(',
        '  (0): LayerNorm(normalizedShape=(3, 4), eps=0.00001, elementwiseAffine=true)',
        '  (1): GroupNorm(numGroups=2, numChannels=4, eps=0.00001, affine=false)',
        '  (2): InstanceNorm2d(numFeatures=3, eps=0.00001, momentum=0.1, affine=false, trackRunningStats=true)',
        "  (3): GhostBatchNorm2d(numFeatures=3, eps=0.00001, momentum=0.1, layout='NCHW', virtualBatchSize=8)",
        ')',
      ].join('\n'),
    );
    m.dispose();
  });
});
