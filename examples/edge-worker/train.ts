// Trains the MNIST MLP of the BN paper's §4.1 (784-100-100-100-10, sigmoids, BatchNorm after each
// hidden Linear; SGD lr 0.5, batch 60) on the training part of the `mnist` package split, folds the
// BatchNorms into the Linears and writes the inference model for the Worker:
//   model.safetensors  the folded weights under their state_dict names (0.weight, 0.bias, 2.weight, …)
//   model.json         the layer sizes, so the Worker (and the test) can rebuild the network
// Regenerate both with `npm run build && node examples/edge-worker/build.mjs --train` (a few seconds;
// the same seed gives the same file on every machine with the same backend).
import { writeFileSync } from 'node:fs';
import { evaluate, fit, foldBatchNorm, init, backend, predict, saveSafetensors, SGD } from '../../src/index';
import { mlp } from '../demo/experiments';
import { loadMnist, PIXELS } from '../mnist/data';
import { argmax, type Architecture } from './architecture';

const EPOCHS = 10,
  SEED = 1,
  LR = 0.5,
  BATCH = 60;
const outDir = new URL('./', import.meta.url); // the bundle runs from examples/edge-worker/dist/
const target = (name: string) => new URL(`../${name}`, outDir);

await init();
const { train, test } = loadMnist(); // default seed: 8 000 training digits, 2 000 held out
const model = mlp(true, 1, SEED);
const optimizer = new SGD(model.parameters(), { lr: LR });
const started = performance.now();
const logs = await fit(
  model,
  { x: train.x, y: train.y, shape: [PIXELS] },
  {
    epochs: EPOCHS,
    batchSize: BATCH,
    optimizer,
    seed: SEED,
    progress: false,
    validation: { x: test.x, y: test.y, shape: [PIXELS] },
  },
);
for (const l of logs)
  console.log(`epoch ${l.epoch + 1}: loss ${l.loss.toFixed(4)}, held-out accuracy ${(100 * l.valAccuracy!).toFixed(1)} %`);
console.log(`trained in ${((performance.now() - started) / 1000).toFixed(1)} s on ${backend()}`);

const folded = foldBatchNorm(model);
const testSet = { x: test.x, y: test.y, shape: [PIXELS] };
const accBn = evaluate(model, testSet).accuracy,
  accFolded = evaluate(folded, testSet).accuracy;
// the folded network computes the same function: the classes agree on (almost) every digit
const a = predict(model, test.x, [PIXELS]),
  b = predict(folded, test.x, [PIXELS]);
let same = 0,
  maxDiff = 0;
for (let i = 0; i < test.n; i++) {
  if (argmax(a.subarray(i * 10, i * 10 + 10)) === argmax(b.subarray(i * 10, i * 10 + 10))) same++;
  for (let j = 0; j < 10; j++) maxDiff = Math.max(maxDiff, Math.abs(a[i * 10 + j]! - b[i * 10 + j]!));
}
console.log(
  `held-out accuracy: ${(100 * accBn).toFixed(2)} % with BN, ${(100 * accFolded).toFixed(2)} % folded; ` +
    `same class on ${same}/${test.n}, largest logit difference ${maxDiff.toExponential(2)}`,
);
if (same < test.n * 0.999) throw new Error('train: the folded model disagrees with the BN model');

const arch: Architecture = { layers: [PIXELS, 100, 100, 100, 10], activation: 'sigmoid' };
const bytes = saveSafetensors(folded, { format: 'pt', architecture: JSON.stringify(arch.layers) });
writeFileSync(target('model.safetensors'), bytes);
writeFileSync(
  target('model.json'),
  `${JSON.stringify(
    {
      ...arch,
      trained: {
        data: 'mnist package, loadMnist() default split',
        epochs: EPOCHS,
        lr: LR,
        batchSize: BATCH,
        seed: SEED,
        heldOutAccuracy: Number(accFolded.toFixed(4)),
      },
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote model.safetensors (${bytes.length} bytes) and model.json`);
