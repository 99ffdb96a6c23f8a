// Part of `npm run bench -- --train` (bench/train.ts and bench/cnn.ts run these): the MLP and the CNN
// of those benches written in the Module + autograd style (a Module subclass with its layers as
// fields and a `forward` calling them, F.crossEntropy, loss.backward(), opt.step()), to be timed
// beside the same network as a Sequential trained with backwardParams. Built from the same seed in
// the same order, both start from the same weights and run the same kernels, so after a few steps
// their state (weights, running statistics) must be bit-identical: sameState checks it.
// see: https://github.com/pytorch/examples/blob/main/mnist/main.py (the style: Net(nn.Module))
import { BatchNorm1d, BatchNorm2d, Conv2d, F, Generator, Linear, Module, type Optimizer, type Tensor } from '../src/index';

/** How our model is written and trained: a Sequential with backwardParams, or a Module subclass with loss.backward(). */
export type Style = 'Sequential' | 'Module + autograd';
/** The target: a Module + autograd step takes at most this many times a Sequential step. */
export const AUTOGRAD_RATIO = 1.1;

/** The BN paper's MLP (784-100-100-100-10, sigmoids, BN after each hidden Linear when `bn`), as mlp() builds it. */
export class MlpNet extends Module {
  fc1: Linear;
  bn1: BatchNorm1d | null;
  fc2: Linear;
  bn2: BatchNorm1d | null;
  fc3: Linear;
  bn3: BatchNorm1d | null;
  fc4: Linear;

  constructor(bn: boolean, seed: number) {
    super();
    // the Linears draw their weights from one generator in mlp()'s order
    const gen = new Generator(seed);
    const norm = () => (bn ? new BatchNorm1d(100) : null);
    this.fc1 = new Linear(784, 100, { generator: gen });
    this.bn1 = norm();
    this.fc2 = new Linear(100, 100, { generator: gen });
    this.bn2 = norm();
    this.fc3 = new Linear(100, 100, { generator: gen });
    this.bn3 = norm();
    this.fc4 = new Linear(100, 10, { generator: gen });
  }

  forward(x: Tensor): Tensor {
    const block = (fc: Linear, bn: BatchNorm1d | null, h: Tensor) => {
      const z = fc.forward(h);
      return F.sigmoid(bn === null ? z : bn.forward(z));
    };
    return this.fc4.forward(block(this.fc3, this.bn3, block(this.fc2, this.bn2, block(this.fc1, this.bn1, x))));
  }
}

/** The demo CNN (examples/demo/cnn.ts: Conv BN+ReLU fused, max-pool 2, twice, then a Linear), as cnn() builds it. */
export class CnnNet extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  conv2: Conv2d;
  bn2: BatchNorm2d;
  fc: Linear;

  constructor(seed: number, c1: number, c2: number) {
    super();
    const gen = new Generator(seed);
    this.conv1 = new Conv2d(1, c1, 3, { padding: 1, generator: gen });
    this.bn1 = new BatchNorm2d(c1, { activation: 'relu' });
    this.conv2 = new Conv2d(c1, c2, 3, { padding: 1, generator: gen });
    this.bn2 = new BatchNorm2d(c2, { activation: 'relu' });
    this.fc = new Linear(c2 * 7 * 7, 10, { generator: gen });
  }

  forward(x: Tensor): Tensor {
    const h = F.maxPool2d(this.bn1.forward(this.conv1.forward(x)), 2);
    const h2 = F.maxPool2d(this.bn2.forward(this.conv2.forward(h)), 2);
    return this.fc.forward(F.flatten(h2));
  }
}

/** One training step of `model` on fixed inputs with `opt`: F.crossEntropy, loss.backward(), opt.step(); returns the loss. */
export function autogradTrainer(model: Module, x: Tensor, labels: Int32Array, opt: Optimizer) {
  model.train();
  const step = (): number => {
    opt.zeroGrad();
    const loss = F.crossEntropy(model.forward(x), labels);
    loss.backward();
    opt.step();
    // the step's tensors (loss, logits) are freed by the next step's backward()
    return loss.item();
  };
  return { step, dispose: () => opt.dispose() };
}

/** Names of the state entries (parameters, running statistics, counters) whose bits differ between `a` and `b`. */
export function stateDiffers(a: Module, b: Module): string[] {
  const sa = a.stateDict(),
    sb = b.stateDict();
  const na = Object.keys(sa),
    nb = Object.keys(sb);
  if (na.length !== nb.length) return [`${na.length} entries against ${nb.length}`];
  // the two models name their layers differently ('0.weight', 'fc1.weight'): compare in state_dict order
  return na.flatMap((k, i) => {
    const u = sa[k],
      v = sb[nb[i]];
    if (typeof u === 'number' || typeof v === 'number') return u === v ? [] : [k];
    const bu = new Uint32Array(u.buffer, u.byteOffset, u.length),
      bv = new Uint32Array(v.buffer, v.byteOffset, v.length);
    return bu.length === bv.length && bu.every((w, j) => w === bv[j]) ? [] : [`${k} (${nb[i]})`];
  });
}
