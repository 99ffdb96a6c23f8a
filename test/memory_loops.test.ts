// Memory that takes care of itself, over long runs: the README's training loop exactly as printed,
// a PyTorch-style loop with a Module subclass that makes a new input tensor every step and disposes
// nothing, and fit() (a Module subclass through the tape, a Sequential through its own backward),
// each 20 000 steps with memoryBytes() the same at step 100 and every 1000th step after, on every
// backend. memoryBytes() is the WASM memory's size (it only grows) or, on the JS backend, the live
// bytes, so each is sampled where no evaluation's output is alive.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  init,
  memoryBytes,
  tensor,
  F,
  BatchNorm1d,
  evaluate,
  fit,
  Generator,
  Linear,
  Module,
  noGrad,
  ReLU,
  Sequential,
  SGD,
  type Tensor,
} from '../src/index';
import { BACKENDS } from './helpers';
import { freshEachRun, loopSteps, quickStart, runSnippet } from './readme_snippet';

const STEPS = 20_000;
const SETTLED = 100; // memory may grow while the first steps allocate what later steps reuse

/** A toy task: 4 classes by the sign pattern of two of 8 features. */
function toyData(n: number, seed: number): { x: Float32Array; y: Int32Array } {
  const gen = new Generator(seed);
  const x = Float32Array.from({ length: n * 8 }, () => gen.uniform() * 2 - 1);
  const y = Int32Array.from({ length: n }, (_, i) => (x[8 * i] > 0 ? 1 : 0) + (x[8 * i + 1] > 0 ? 2 : 0));
  return { x, y };
}

/** Linear + BatchNorm1d + ReLU + Linear, written as in PyTorch: layers as fields, only forward. */
class Net extends Module {
  fc1: Linear;
  bn = new BatchNorm1d(16);
  act = new ReLU();
  fc2: Linear;
  constructor(gen: Generator) {
    super();
    this.fc1 = new Linear(8, 16, { generator: gen });
    this.fc2 = new Linear(16, 4, { generator: gen });
  }
  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.act.forward(this.bn.forward(this.fc1.forward(x))));
  }
}

describe('the README loop', () => {
  it('prints a step count of 100 that the test below raises', () => {
    expect(loopSteps(quickStart())).toBe(100);
  });
});

for (const backend of BACKENDS) {
  describe(`memory over ${STEPS} steps (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    // in the browser suite, the first backend only: one fresh package per test file there (readme_snippet.ts)
    it.runIf(freshEachRun || backend === BACKENDS[0])("the README's Quick start, exactly as printed but for its step count", async () => {
      const printed = await runSnippet(quickStart(), backend, STEPS);
      // the loop prints every 25 steps: [step, loss] with memoryBytes() at that moment
      const loop = printed.filter((p) => p.args.length === 2 && typeof p.args[0] === 'number');
      expect(loop.length).toBe(STEPS / 25);
      const at = (step: number) => loop.find((p) => p.args[0] === step)!;
      const settled = at(SETTLED).memory;
      expect(Math.max(...loop.filter((p) => (p.args[0] as number) >= SETTLED).map((p) => p.memory))).toBe(settled);
      expect(at(STEPS).memory).toBe(settled);
      expect(Number(at(STEPS).args[1])).toBeLessThan(Number(at(25).args[1])); // it trained on
    });

    /**
     * A PyTorch-style loop over `net`: a new input tensor() every step, nothing disposed; with
     * `evalEvery`, a held-out accuracy by hand (eval mode, noGrad, a new input) and evaluate() at
     * steps 50, 50 + evalEvery, …. Returns memoryBytes() at steps 100, 1000, 2000, …, STEPS (no
     * evaluation runs at those steps) and the held-out accuracy.
     */
    function pytorchLoop(evalEvery: number | null): { samples: number[]; first: number; last: number; accuracy: number } {
      const gen = new Generator(5);
      const net = new Net(gen);
      const opt = new SGD(net.parameters(), { lr: 0.05, momentum: 0.9 });
      const train = toyData(256, 6),
        held = toyData(64, 7);
      const batch = 16,
        per = train.y.length / batch;
      const samples: number[] = [];
      let first = NaN,
        last = NaN,
        accuracy = NaN;
      for (let step = 1; step <= STEPS; step++) {
        const k = (step - 1) % per;
        const x = tensor(train.x.subarray(k * batch * 8, (k + 1) * batch * 8), [batch, 8]);
        opt.zeroGrad();
        const loss = F.crossEntropy(net.forward(x), train.y.subarray(k * batch, (k + 1) * batch));
        loss.backward();
        opt.step();
        last = loss.item();
        if (step === 1) first = last;
        if (evalEvery !== null && step % evalEvery === 50) {
          net.eval();
          const out = noGrad(() => net.forward(tensor(held.x, [held.y.length, 8]))).toArray();
          net.train();
          let right = 0;
          for (let i = 0; i < held.y.length; i++) {
            const row = Array.from(out.subarray(4 * i, 4 * i + 4));
            if (row.indexOf(Math.max(...row)) === held.y[i]) right++;
          }
          accuracy = right / held.y.length;
          expect(evaluate(net, { ...held, shape: [8] }).accuracy).toBe(accuracy);
        }
        if (step === SETTLED || step % 1000 === 0) samples.push(memoryBytes());
      }
      return { samples, first, last, accuracy };
    }

    it('a PyTorch-style loop with a Module subclass: a new tensor() every step, nothing disposed', () => {
      const { samples, first, last } = pytorchLoop(null);
      expect(samples).toEqual(samples.map(() => samples[0]));
      expect(last).toBeLessThan(first * 0.5);
    });

    it('the same loop with a held-out evaluation every 1000 steps (noGrad by hand, and evaluate())', () => {
      const { samples, first, last, accuracy } = pytorchLoop(1000);
      expect(samples).toEqual(samples.map(() => samples[0]));
      expect(last).toBeLessThan(first * 0.5);
      expect(accuracy).toBeGreaterThan(0.9);
    });

    const MODELS = {
      'Module subclass (through the tape)': (g: Generator) => new Net(g),
      'Sequential (its own backward)': (g: Generator) =>
        new Sequential(new Linear(8, 16, { generator: g }), new BatchNorm1d(16), new ReLU(), new Linear(16, 4, { generator: g })),
    };

    /** fit() for STEPS steps of 8 samples over many small epochs; memoryBytes() at steps 100, 1000, 2000, …. */
    async function fitLoop(make: (g: Generator) => Module, withValidation: boolean) {
      const gen = new Generator(8);
      const model = make(gen);
      const optimizer = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
      const data = toyData(64, 9);
      const samples: number[] = [];
      let steps = 0;
      const logs = await fit(
        model,
        { ...data, shape: [8] },
        {
          epochs: STEPS / 8,
          batchSize: 8,
          optimizer,
          validation: withValidation ? { ...toyData(16, 10), shape: [8] } : undefined,
          verbose: 0,
          callbacks: {
            onBatchEnd: ({ step }) => {
              steps = step;
              if (step === SETTLED || step % 1000 === 0) samples.push(memoryBytes());
            },
          },
        },
      );
      expect(steps).toBe(STEPS);
      expect(logs[logs.length - 1].loss).toBeLessThan(logs[0].loss * 0.5);
      return samples;
    }

    for (const [kind, make] of Object.entries(MODELS)) {
      it(`fit, a ${kind}: ${STEPS} steps over ${STEPS / 8} small epochs`, async () => {
        const samples = await fitLoop(make, false);
        expect(samples).toEqual(samples.map(() => samples[0]));
      });
    }

    it('fit, a Sequential, with validation after every epoch', async () => {
      const samples = await fitLoop(MODELS['Sequential (its own backward)'], true);
      expect(samples).toEqual(samples.map(() => samples[0]));
    });

    it('fit, a Module subclass, with validation after every epoch', async () => {
      const samples = await fitLoop(MODELS['Module subclass (through the tape)'], true);
      expect(samples).toEqual(samples.map(() => samples[0]));
    });

    it('a tensor disposed after training began is held by nothing (predict in a loop after fit)', async () => {
      const gc = (globalThis as { gc?: () => void }).gc;
      expect(gc, 'gc() (run with --expose-gc)').toBeTypeOf('function');
      // step ownership starts at the first backward(); from then on new tensors belong to a step
      const w = tensor([1, 2, 3], [3], { requiresGrad: true });
      F.sum(F.mul(w, 2)).backward();
      // made in a function of its own: a suspended async function's frame may still hold its last locals
      const disposed = () => {
        const t = tensor([1, 2], [2]);
        t.dispose();
        return new WeakRef(t);
      };
      const refs = Array.from({ length: 10 }, disposed);
      // WeakRefs hold their targets until the job ends; finalizers run in a later task
      for (let i = 0; i < 2; i++) {
        await new Promise((r) => setTimeout(r, 0));
        gc!();
      }
      expect(refs.filter((r) => r.deref() !== undefined).length).toBe(0);
      w.dispose();
    });
  });
}
