// Experiment (d): a small CNN with fused Conv-BN-ReLU blocks on the same MNIST split; the target
// is ≥ 98 % on the 2 000 held-out digits.
import {
  Adam,
  BatchNorm2d,
  Conv2d,
  CosineAnnealingLR,
  evaluate,
  fit,
  Flatten,
  Generator,
  Linear,
  MaxPool2d,
  Sequential,
  type Dataset,
} from '../../src/index';

export interface CnnResult {
  epochs: number;
  /** [epoch, held-out accuracy] after each epoch. */
  accuracy: [number, number][];
  finalAccuracy: number;
  msPerStep: number;
  steps: number;
}

/** Conv(1→c1, 3×3) BN ReLU, max-pool 2, Conv(c1→c2, 3×3) BN ReLU, max-pool 2, Linear(c2·7·7 → 10). */
export function cnn(seed: number, c1 = 32, c2 = 64): Sequential {
  const gen = new Generator(seed);
  return new Sequential(
    new Conv2d(1, c1, 3, { padding: 1, generator: gen }),
    new BatchNorm2d(c1, { activation: 'relu' }),
    new MaxPool2d(2),
    new Conv2d(c1, c2, 3, { padding: 1, generator: gen }),
    new BatchNorm2d(c2, { activation: 'relu' }),
    new MaxPool2d(2),
    new Flatten(),
    new Linear(c2 * 7 * 7, 10, { generator: gen }),
  );
}

/** Trains the CNN with Adam (lr 1e-3, cosine-annealed to 0 over the run), batch 60, evaluating after every epoch. */
export async function runCnn(train: Dataset, test: Dataset, epochs: number, seed: number): Promise<CnnResult> {
  const model = cnn(seed);
  const optimizer = new Adam(model.parameters());
  const schedule = new CosineAnnealingLR(optimizer, { tMax: epochs });
  const accuracy: [number, number][] = [];
  let evalMs = 0,
    steps = 0;
  const started = performance.now();
  await fit(model, train, {
    epochs,
    batchSize: 60,
    optimizer,
    seed,
    callbacks: {
      onBatchEnd: ({ step }) => {
        steps = step;
      },
      onEpochEnd: ({ epoch }) => {
        const t0 = performance.now();
        accuracy.push([epoch + 1, evaluate(model, test, { batchSize: 500 }).accuracy]);
        evalMs += performance.now() - t0;
        schedule.step();
      },
    },
  });
  const msPerStep = (performance.now() - started - evalMs) / Math.max(steps, 1);
  model.dispose();
  optimizer.dispose();
  return { epochs, accuracy, finalAccuracy: accuracy[accuracy.length - 1][1], msPerStep, steps };
}
