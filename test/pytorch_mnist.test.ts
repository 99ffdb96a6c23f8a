// The PyTorch MNIST port (examples/pytorch-mnist/main.ts): its Net carries PyTorch's state_dict names,
// trains on a few batches of digits through the tape (every parameter gets its gradient, checked
// against finite differences), prints PyTorch's lines, and keeps memory flat from epoch to epoch.
import { readFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { init, manualSeed, memoryBytes, tensor, F, Adadelta, noGrad } from '../src/index';
import { Net, test as testEpoch, train } from '../examples/pytorch-mnist/main';
import { dataLoader, format0, normalize, type Args, type Loader } from '../examples/pytorch-mnist/shims';
import { countAllocations } from './alloc_count';
import { loadMnist } from '../examples/mnist/data';

// PyTorch's Net().state_dict() keys and shapes, from test/fixtures/gen_torch_mnist_keys.py
const torchKeys = JSON.parse(readFileSync(new URL('./fixtures/torch_mnist_keys.json', import.meta.url), 'utf8')) as {
  parameters: string[];
  state_dict: Record<string, number[]>;
};

const N = 128; // digits: 4 batches of 32
const args: Args = {
  batchSize: 32,
  testBatchSize: 64,
  epochs: 3,
  lr: 1,
  gamma: 0.7,
  dryRun: false,
  seed: 1,
  logInterval: 1,
  saveModel: false,
};

let trainLoader: Loader, testLoader: Loader;
beforeAll(async () => {
  await init();
  const { train: d1, test: d2 } = loadMnist({ trainSize: N, testSize: 64 });
  trainLoader = dataLoader({ x: normalize(d1.x, 0.1307, 0.3081), y: d1.y, shape: [1, 28, 28] }, { batchSize: args.batchSize });
  testLoader = dataLoader({ x: normalize(d2.x, 0.1307, 0.3081), y: d2.y, shape: [1, 28, 28] }, { batchSize: args.testBatchSize });
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** The lines train() and test() print, with console.log silenced. */
function captured(fn: () => void): string[] {
  const lines: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  fn();
  vi.restoreAllMocks();
  return lines;
}

describe('PyTorch MNIST port', () => {
  it("has PyTorch's state_dict keys, in order, with PyTorch's sizes", () => {
    manualSeed(1);
    const net = new Net();
    const sd = net.stateDict();
    expect(Object.keys(sd)).toEqual(Object.keys(torchKeys.state_dict));
    for (const [k, shape] of Object.entries(torchKeys.state_dict)) {
      const v = sd[k];
      if (k.endsWith('num_batches_tracked')) expect(v).toBe(0);
      else expect((v as Float32Array).length, k).toBe(shape.reduce((a, b) => a * b, 1));
    }
    expect(net.namedParameters().map(([n]) => n)).toEqual(torchKeys.parameters);
    net.dispose();
  });

  it('trains: the loss drops over 3 epochs of 4 batches, and each epoch (train + test) leaves memory as it was', () => {
    manualSeed(args.seed);
    const model = new Net();
    const optimizer = new Adadelta(model.parameters(), { lr: args.lr });
    const losses: number[][] = [];
    const memory: number[] = [];
    const live: number[] = [];
    const counter = countAllocations();
    try {
      for (let epoch = 1; epoch <= args.epochs; epoch++) {
        const lines = captured(() => train(args, model, trainLoader, optimizer, epoch));
        // logInterval 1: one line per batch, as PyTorch prints it
        const logged = lines.filter((l) => l.startsWith('Train Epoch:'));
        expect(logged).toHaveLength(N / args.batchSize);
        expect(logged[1]).toMatch(new RegExp(`^Train Epoch: ${epoch} \\[32/${N} \\(25%\\)\\]\\tLoss: \\d+\\.\\d{6}$`));
        losses.push(logged.map((l) => Number(l.split('Loss: ')[1])));
        // the eval forwards under noGrad free every layer's output (they used to stay, ~0.5 GB per 1000 digits)
        captured(() => testEpoch(model, testLoader));
        memory.push(memoryBytes());
        live.push(counter.live());
      }
    } finally {
      counter.stop();
    }
    expect(live[2]).toBe(live[1]);
    expect(memory[2]).toBe(memory[1]);
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    // untrained, the loss is near ln 10 = 2.30; Adadelta at lr 1 halves it within 12 steps on these digits
    expect(mean(losses[0]!)).toBeGreaterThan(1.5);
    expect(mean(losses[2]!)).toBeLessThan(0.5 * mean(losses[0]!));

    // every parameter's gradient from the last step is finite, and all but the conv biases are non-zero
    for (const [name, p] of model.namedParameters()) {
      const g = p.grad.toArray();
      expect(g.every(Number.isFinite), name).toBe(true);
      const max = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      // NOTE: a conv bias followed by training-mode BatchNorm has a zero gradient (BN subtracts the
      // per-channel mean, bias included), as in PyTorch; rounding leaves it near 0, not exactly 0
      if (name === 'conv1.bias' || name === 'conv2.bias') expect(max, name).toBeLessThan(1e-4);
      else expect(max, name).toBeGreaterThan(1e-6);
    }

    const printed = captured(() => testEpoch(model, testLoader)).join('\n');
    const m = /Test set: Average loss: (\d+\.\d{4}), Accuracy: (\d+)\/64 \((\d+)%\)/.exec(printed);
    expect(m).not.toBeNull();
    expect(m![3]).toBe(format0((100 * Number(m![2])) / 64));
    model.dispose();
    optimizer.dispose();
  });

  it("prints percentages as Python's '{:.0f}' does (ties to even)", () => {
    // Python 3: ' '.join('{:.0f}'.format(x) for x in [12.5, 96.5, 97.5, 0.5, 2.4, 2.6, 100*5/64])
    expect([12.5, 96.5, 97.5, 0.5, 2.4, 2.6, (100 * 5) / 64].map(format0).join(' ')).toBe('12 96 98 0 2 3 8');
  });

  it('--dry-run stops after the first logged batch', () => {
    manualSeed(1);
    const model = new Net();
    const optimizer = new Adadelta(model.parameters(), { lr: 1 });
    const lines = captured(() => train({ ...args, dryRun: true, logInterval: 10 }, model, trainLoader, optimizer, 1));
    expect(lines[0]).toMatch(/^Train Epoch: 1 \[0\/128 \(0%\)\]\tLoss: \d\.\d{6}$/);
    expect(lines.filter((l) => l.startsWith('Train Epoch:'))).toHaveLength(1);
    expect(lines[1]).toMatch(/\(1 steps\)/);
    model.dispose();
    optimizer.dispose();
  });

  it("the tape's gradients match central differences for every parameter (eval mode, 4 digits)", () => {
    manualSeed(2);
    const net = new Net().eval(); // eval: dropout off and BN on running statistics, so the loss is a fixed function
    const { train: d } = loadMnist({ trainSize: 4, testSize: 0 });
    const xs = normalize(d.x, 0.1307, 0.3081);
    const lossAt = (): number => noGrad(() => F.nllLoss(net.forward(tensor(xs, [4, 1, 28, 28])), d.y).item());
    // an input that requires a gradient makes the eval forward record, so backward reaches the parameters
    const x = tensor(xs, [4, 1, 28, 28], { requiresGrad: true });
    F.nllLoss(net.forward(x), d.y).backward();
    const h = 1e-2; // a step of length h along a unit direction
    for (const [name, p] of net.namedParameters()) {
      const g = p.grad.toArray();
      // a unit direction of ±1/√size over the whole parameter, seeded per name: one directional derivative each
      let s = name.length * 2654435761;
      const unit = 1 / Math.sqrt(p.size);
      const dir = Float32Array.from({ length: p.size }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) & 0x10000 ? unit : -unit));
      const p0 = p.toArray();
      const shift = (t: number) => p.set(p0.map((v, i) => v + t * dir[i]!));
      shift(h);
      const up = lossAt();
      shift(-h);
      const down = lossAt();
      p.set(p0);
      const fd = (up - down) / (2 * h);
      const exact = g.reduce((a, v, i) => a + v * dir[i]!, 0);
      // NOTE: ReLU and max-pool kinks crossed within ±h and the f32 loss's rounding (~1e-6 / h) put the
      // difference quotient up to ~3e-4 off here (seen from h = 3e-3 to 1e-1); the slopes are 2e-3…7e-2
      expect(Math.abs(fd - exact), `${name}: finite difference ${fd}, tape ${exact}`).toBeLessThan(5e-4 + 0.03 * Math.abs(exact));
    }
    net.dispose();
  });
});
