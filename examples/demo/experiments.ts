// The experiments of the BN paper's §4.1 on real MNIST digits: an MLP 784-100-100-100-10 with
// sigmoids, batch 60, SGD, with and without Batch Normalization, under several learning rates and
// weight-initialisation scales. Each run records held-out accuracy over steps and, for the first
// experiment, the 15th/50th/85th percentiles of one last-layer sigmoid input.
// see: Ioffe & Szegedy 2015, https://arxiv.org/abs/1502.03167 (§4.1, Fig. 1)
import {
  BatchNorm1d,
  evaluate,
  fit,
  Generator,
  Linear,
  SGD,
  Sequential,
  Sigmoid,
  tensor,
  type Dataset,
  type Module,
} from '../../src/index';

export interface RunSpec {
  name: string;
  bn: boolean;
  lr: number;
  initScale: number;
  epochs: number;
  batchSize: number;
  evalEvery: number;
  seed: number;
  /** Record percentiles of this hidden unit's sigmoid input (last hidden layer). */
  trackUnit?: number;
}

export interface RunResult {
  spec: RunSpec;
  /** [step, held-out accuracy] at every checkpoint. */
  accuracy: [number, number][];
  /** [step, training loss (mean over the steps since the last checkpoint)]. */
  loss: [number, number][];
  percentiles?: { steps: number[]; p15: number[]; p50: number[]; p85: number[] };
  finalAccuracy: number;
  diverged: boolean;
  steps: number;
  msPerStep: number;
}

/** 784-100-100-100-10 with sigmoids, optionally BN after each hidden Linear; weights × initScale. */
export function mlp(bn: boolean, initScale: number, seed: number): Sequential {
  const gen = new Generator(seed);
  const layers: Module[] = [];
  for (const [i, o] of [
    [784, 100],
    [100, 100],
    [100, 100],
  ]) {
    layers.push(new Linear(i, o, { generator: gen }));
    if (bn) layers.push(new BatchNorm1d(o));
    layers.push(new Sigmoid());
  }
  layers.push(new Linear(100, 10, { generator: gen }));
  for (const l of layers)
    if (l instanceof Linear)
      l.weight.view().forEach((v, j, a) => {
        a[j] = v * initScale;
      });
  return new Sequential(...layers);
}

/** Percentiles of unit `unit`'s input to the last hidden sigmoid over `data` (eval mode). */
function sigmoidInputPercentiles(model: Sequential, data: Dataset, unit: number): [number, number, number] {
  const last = model.layers.map((l) => l instanceof Sigmoid).lastIndexOf(true);
  const wasTraining = model.training;
  model.eval();
  const n = data.y.length;
  const values = new Float64Array(n);
  using x = tensor(data.x, [n, 784]);
  let cur = x;
  const made = [];
  for (let i = 0; i < last; i++) {
    cur = model.layers[i].forward(cur);
    made.push(cur);
  }
  const h = cur.view();
  for (let s = 0; s < n; s++) values[s] = h[s * 100 + unit];
  for (const t of made) t.dispose();
  model.train(wasTraining);
  values.sort();
  const q = (p: number) => values[Math.min(n - 1, Math.round(p * (n - 1)))];
  return [q(0.15), q(0.5), q(0.85)];
}

/** Trains one network as specified and records its curves. */
export async function run(spec: RunSpec, train: Dataset, test: Dataset): Promise<RunResult> {
  const model = mlp(spec.bn, spec.initScale, spec.seed);
  const optimizer = new SGD(model.parameters(), { lr: spec.lr });
  const accuracy: [number, number][] = [],
    loss: [number, number][] = [];
  const pct = { steps: [] as number[], p15: [] as number[], p50: [] as number[], p85: [] as number[] };
  let lossSum = 0,
    lossCount = 0,
    diverged = false,
    steps = 0,
    evalMs = 0;
  const checkpoint = (step: number) => {
    const t0 = performance.now();
    accuracy.push([step, evaluate(model, test, { batchSize: 500 }).accuracy]);
    if (lossCount > 0) loss.push([step, lossSum / lossCount]);
    lossSum = 0;
    lossCount = 0;
    if (spec.trackUnit !== undefined) {
      const [a, b, c] = sigmoidInputPercentiles(model, test, spec.trackUnit);
      pct.steps.push(step);
      pct.p15.push(a);
      pct.p50.push(b);
      pct.p85.push(c);
    }
    evalMs += performance.now() - t0;
  };
  checkpoint(0);
  const started = performance.now();
  await fit(model, train, {
    epochs: spec.epochs,
    batchSize: spec.batchSize,
    optimizer,
    seed: spec.seed,
    callbacks: {
      onBatchEnd: ({ step, loss: l }) => {
        steps = step;
        if (!Number.isFinite(l)) {
          diverged = true;
          return true; // a NaN loss stays NaN: stop here
        }
        lossSum += l;
        lossCount++;
        if (step % spec.evalEvery === 0) checkpoint(step);
        return false;
      },
    },
  });
  const ms = (performance.now() - started - evalMs) / Math.max(steps, 1);
  if (accuracy[accuracy.length - 1][0] !== steps) checkpoint(steps);
  model.dispose();
  optimizer.dispose();
  return {
    spec,
    accuracy,
    loss,
    steps,
    msPerStep: ms,
    diverged,
    percentiles: spec.trackUnit !== undefined ? pct : undefined,
    finalAccuracy: accuracy[accuracy.length - 1][1],
  };
}
