// Batch Renorm inside models, every backend: a Module subclass through loss.backward() equals the
// same layers driven by hand bit for bit and its memory stays flat over a long loop; an empty batch;
// fit learns with it; it prints its clips and warm-up, and its state_dict is BN's.
import { describe, expect, it } from 'vitest';
import {
  BatchRenorm1d,
  BatchRenorm2d,
  evaluate,
  F,
  fit,
  Generator,
  init,
  Linear,
  memoryBytes,
  Module,
  noGrad,
  ReLU,
  SGD,
  Sequential,
  tensor,
  type Tensor,
} from '../src/index';
import { BACKENDS, bits } from './helpers';
import { countAllocations } from './alloc_count';
import { randn } from './reference';

/** [N, 3, 2, 2] → Batch Renorm (r, d binding after step 1) → ReLU → Batch Renorm with a fused ReLU. */
class Net extends Module {
  a = new BatchRenorm2d(3, { rMax: 1.4, dMax: 0.3, warmup: { hold: 1, rMaxAt: 3, dMaxAt: 2 } });
  b = new BatchRenorm2d(3, { rMax: 1.2, dMax: 0.2, warmup: null, activation: 'relu' });
  forward(x: Tensor): Tensor {
    return this.b.forward(F.relu(this.a.forward(x)));
  }
  /** The same chain driven by hand, backward(dy) layer by layer. */
  byHand(x: Tensor, dy: Tensor): Tensor {
    const h = noGrad(() => this.a.forward(x));
    const r = noGrad(() => F.relu(h));
    const y = noGrad(() => this.b.forward(r));
    const g1 = this.b.backward(dy);
    const hv = h.toArray();
    const g0 = tensor(
      g1.toArray().map((v, i) => (hv[i] > 0 ? v : 0)),
      g1.shape,
    );
    this.a.backward(g0).dispose();
    for (const t of [h, r, g1, g0]) t.dispose();
    return y;
  }
}

const SHAPE = [6, 3, 2, 2],
  SIZE = 72;
const seed = (net: Net) => net.parameters().forEach((p, k) => p.view().set(randn(p.size, 60 + k, k % 2 ? 0 : 1, 0.3)));

for (const b of BACKENDS) {
  describe(`${b}: Batch Renorm in models`, () => {
    it('a Module subclass through loss.backward() equals the layers driven by hand, bit for bit; memory stays flat', async () => {
      await init({ backend: b });
      const [taped, hand] = [new Net(), new Net()];
      seed(taped);
      seed(hand);
      for (let step = 0; step < 4; step++) {
        const x = randn(SIZE, 70 + step, step - 1, 1 + step),
          dy = randn(SIZE, 80 + step);
        taped.zeroGrad();
        hand.zeroGrad();
        const xt = tensor(x, SHAPE),
          dyt = tensor(dy, SHAPE);
        const y = taped.forward(xt);
        const yv = y.toArray();
        F.sum(F.mul(y, dyt)).backward();
        const yh = hand.byHand(xt, dyt);
        expect(bits(yv), `step ${step} y`).toEqual(bits(yh.toArray()));
        yh.dispose();
        const [gt, gh] = [taped, hand].map((n) => n.parameters().map((p) => bits(p.grad.toArray())));
        expect(gt, `step ${step} gradients`).toEqual(gh);
        expect(taped.stateDict(), `step ${step} state`).toEqual(hand.stateDict());
        xt.dispose();
        dyt.dispose();
      }
      // memory flat: what is live after step 20 and after step 300 of the same loop is the same
      const count = countAllocations();
      const lives: number[] = [],
        bytes: number[] = [];
      for (let step = 0; step < 300; step++) {
        const xt = tensor(randn(SIZE, 90 + (step % 3), 0, 1), SHAPE);
        if (step % 2) F.sum(taped.forward(xt)).backward();
        else {
          const dy = tensor(randn(SIZE, 5), SHAPE);
          hand.byHand(xt, dy).dispose();
          dy.dispose();
        }
        xt.dispose();
        if (step === 19 || step === 299) {
          lives.push(count.live());
          bytes.push(memoryBytes());
        }
      }
      count.stop();
      expect(lives[1]).toBe(lives[0]);
      expect(bytes[1]).toBe(bytes[0]);
      expect(taped.a.numBatchesTracked).toBe(154);
      taped.dispose();
      hand.dispose();
    });

    it('an empty batch: an empty output and gradient, as BN', async () => {
      await init({ backend: b });
      const m = new BatchRenorm1d(4, { warmup: null });
      using e = tensor([], [0, 4]);
      using y = noGrad(() => m.forward(e));
      using dx = m.backward(e);
      expect([y.shape, dx.shape]).toEqual([
        [0, 4],
        [0, 4],
      ]);
      m.dispose();
    });
  });
}

describe('Batch Renorm with fit', () => {
  it('a Sequential with Batch Renorm learns four Gaussian blobs', async () => {
    await init({ backend: 'wasm-simd' });
    const blobs = (n: number, s: number) => {
      const noise = randn(n * 12, s, 0, 0.7);
      const y = Int32Array.from({ length: n }, (_, i) => (i * 7 + s) % 4);
      const x = Float32Array.from(noise, (v, j) => v + ((j % 12) % 4 === y[Math.floor(j / 12)] ? 2 : 0));
      return { x, y, shape: [12] };
    };
    const gen = new Generator(5);
    const warmup = { hold: 10, rMaxAt: 40, dMaxAt: 30 };
    const m = new Sequential(
      new Linear(12, 16, { generator: gen }),
      new BatchRenorm1d(16, { warmup, activation: 'relu' }),
      new Linear(16, 16, { generator: gen }),
      new BatchRenorm1d(16, { warmup }),
      new ReLU(),
      new Linear(16, 4, { generator: gen }),
    );
    const opt = new SGD(m.parameters(), { lr: 0.1, momentum: 0.9 });
    const logs = await fit(m, blobs(512, 3), { epochs: 4, batchSize: 16, optimizer: opt, seed: 1, progress: false });
    expect(logs[3].loss).toBeLessThan(logs[0].loss / 2);
    expect(evaluate(m, blobs(256, 4)).accuracy).toBeGreaterThan(0.9);
    expect((m.layers[1] as BatchRenorm1d).limitsAt()).toEqual({ rMax: 3, dMax: 5 }); // 128 steps: past the warm-up
    m.dispose();
    opt.dispose();
  });

  it('prints its clips and warm-up; its state_dict has BN names', async () => {
    await init({ backend: 'js' });
    const m = new Sequential(new BatchRenorm2d(3), new BatchRenorm1d(2, { rMax: 2, dMax: 1, warmup: null }));
    expect(String(m)).toBe(
      [
        'Sequential(',
        "  (0): BatchRenorm2d(numFeatures=3, eps=0.00001, momentum=0.1, layout='NCHW', rMax=3, dMax=5, warmup=(hold=5000, rMaxAt=40000, dMaxAt=25000))",
        "  (1): BatchRenorm1d(numFeatures=2, eps=0.00001, momentum=0.1, layout='NCL', rMax=2, dMax=1, warmup=None)",
        ')',
      ].join('\n'),
    );
    expect(Object.keys(m.stateDict())).toEqual([
      '0.weight',
      '0.bias',
      '0.running_mean',
      '0.running_var',
      '0.num_batches_tracked',
      '1.weight',
      '1.bias',
      '1.running_mean',
      '1.running_var',
      '1.num_batches_tracked',
    ]);
    m.dispose();
  });
});
