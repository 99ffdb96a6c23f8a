// One training run of the demo's later parts: fit() with held-out accuracy at checkpoints, the final
// accuracy on the training set too (for the generalisation gap), and the time per step.
import { meanSpread } from './part';
import { evaluate, fit, noGrad, tensor, type Dataset, type Module, type Optimizer } from '../../src/index';

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  seed: number;
  /** Held-out accuracy every this many steps (and at the end). */
  evalEvery: number;
  /** Stop after this many steps (within the epochs); default: all of them. */
  maxSteps?: number;
  /** Also measure the accuracy on the training set at the end. */
  trainAccuracy?: boolean;
  /** Also measure the held-out accuracy with batch statistics at the end (see batchStatsAccuracy). */
  batchStats?: boolean;
}

export interface TrainResult {
  /** [step, held-out accuracy] at every checkpoint. */
  curve: [number, number][];
  testAccuracy: number;
  /** NaN unless asked for. */
  trainAccuracy: number;
  /** Held-out accuracy with each batch of 500 normalized by its own statistics; NaN unless asked for. */
  batchStatsAccuracy: number;
  steps: number;
  msPerStep: number;
  diverged: boolean;
}

/** Trains `model` on `train` with `optimizer` (both disposed at the end). */
export async function train(
  model: Module,
  optimizer: Optimizer,
  trainSet: Dataset,
  testSet: Dataset,
  o: TrainOptions,
): Promise<TrainResult> {
  const curve: [number, number][] = [];
  let steps = 0,
    evalMs = 0,
    diverged = false;
  const checkpoint = (step: number) => {
    const t0 = performance.now();
    curve.push([step, evaluate(model, testSet, { batchSize: 500 }).accuracy]);
    evalMs += performance.now() - t0;
  };
  const started = performance.now();
  await fit(model, trainSet, {
    epochs: o.epochs,
    batchSize: o.batchSize,
    optimizer,
    seed: o.seed,
    progress: false,
    callbacks: {
      onBatchEnd: ({ step, loss }) => {
        steps = step;
        if (!Number.isFinite(loss)) return (diverged = true); // a NaN loss stays NaN: stop here
        if (step % o.evalEvery === 0) checkpoint(step);
        return o.maxSteps !== undefined && step >= o.maxSteps;
      },
    },
  });
  const msPerStep = (performance.now() - started - evalMs) / Math.max(steps, 1);
  if (curve.length === 0 || curve[curve.length - 1][0] !== steps) checkpoint(steps);
  const trainAccuracy = o.trainAccuracy ? evaluate(model, trainSet, { batchSize: 500 }).accuracy : NaN;
  const batchStats = o.batchStats ? batchStatsAccuracy(model, testSet) : NaN;
  model.dispose();
  optimizer.dispose();
  return { curve, testAccuracy: curve[curve.length - 1][1], trainAccuracy, batchStatsAccuracy: batchStats, steps, msPerStep, diverged };
}

/**
 * Held-out accuracy of a classifier run in training mode (no gradient): every BatchNorm normalizes a
 * batch of 500 by that batch's own statistics instead of its running ones. Not a valid test score
 * (each prediction depends on the other 499 digits); its gap to the eval-mode accuracy is what the
 * running statistics cost. The running statistics move, so the model is not used after this.
 */
function batchStatsAccuracy(model: Module, data: Dataset): number {
  const per = data.shape.reduce((a, b) => a * b, 1),
    n = data.y.length;
  let right = 0;
  model.train();
  noGrad(() => {
    for (let s = 0; s < n; s += 500) {
      const m = Math.min(500, n - s);
      const x = tensor(data.x.subarray(s * per, (s + m) * per), [m, ...data.shape]);
      const y = model.forward(x);
      const v = y.toArray(),
        k = v.length / m;
      for (let i = 0; i < m; i++) {
        let best = 0;
        for (let c = 1; c < k; c++) if (v[i * k + c] > v[i * k + best]) best = c;
        if (best === data.y[s + i]) right++;
      }
      x.dispose();
      y.dispose();
    }
  });
  return right / n;
}

/** The mean over runs of held-out accuracy at each checkpoint the runs share. */
export function meanCurve(runs: TrainResult[]): [number, number][] {
  const n = Math.min(...runs.map((r) => r.curve.length));
  return runs[0].curve.slice(0, n).map(([s], i) => [s, meanSpread(runs.map((r) => r.curve[i][1])).mean]);
}
