// One training run of the demo's later parts: fit() with held-out accuracy at checkpoints, the final
// accuracy on the training set too (for the generalisation gap), and the time per step.
import { meanSpread } from './part';
import { evaluate, fit, type Dataset, type Module, type Optimizer } from '../../src/index';

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
}

export interface TrainResult {
  /** [step, held-out accuracy] at every checkpoint. */
  curve: [number, number][];
  testAccuracy: number;
  /** NaN unless asked for. */
  trainAccuracy: number;
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
  model.dispose();
  optimizer.dispose();
  return { curve, testAccuracy: curve[curve.length - 1][1], trainAccuracy, steps, msPerStep, diverged };
}

/** The mean over runs of held-out accuracy at each checkpoint the runs share. */
export function meanCurve(runs: TrainResult[]): [number, number][] {
  const n = Math.min(...runs.map((r) => r.curve.length));
  return runs[0].curve.slice(0, n).map(([s], i) => [s, meanSpread(runs.map((r) => r.curve[i][1])).mean]);
}
