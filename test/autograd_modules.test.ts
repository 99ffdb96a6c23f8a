// Modules on the tape: a Module subclass that writes only forward trains through loss.backward(),
// against PyTorch (test/fixtures/gen_torch_modules.py: a residual block used twice, ModuleList
// heads) and bit for bit against the same layers driven by hand; eval and noGrad record nothing.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  init,
  tensor,
  F,
  noGrad,
  Module,
  Conv2d,
  BatchNorm2d,
  Linear,
  ReLU,
  MaxPool2d,
  Flatten,
  Sequential,
  SGD,
  CrossEntropyLoss,
  Generator,
  fit,
  type Tensor,
} from '../src/index';
import { BACKENDS, bits, values } from './helpers';
import fixture from './fixtures/torch_modules.json';

// f32 through convolutions of ≤ 36 products, two BatchNorms twice and two Linears: PyTorch computes
// in f32 too; the loss within 1e-5 relative, every tensor within 2e-4 of its largest magnitude.
const TOL_LOSS = 1e-5;
const TOL = 2e-4;

class Block extends Module {
  conv1 = new Conv2d(4, 4, 3, { padding: 1 });
  bn1 = new BatchNorm2d(4);
  conv2 = new Conv2d(4, 4, 3, { padding: 1, bias: false });
  bn2 = new BatchNorm2d(4);
  forward(x: Tensor): Tensor {
    const h = F.relu(this.bn1.forward(this.conv1.forward(x)));
    return F.relu(F.add(x, this.bn2.forward(this.conv2.forward(h))));
  }
}

class ResNet extends Module {
  stem = new Conv2d(1, 4, 3, { padding: 1 });
  block = new Block();
  heads = [new Linear(4 * 3 * 3, 5), new Linear(5, 3)];
  forward(x: Tensor): Tensor {
    const h = F.flatten(F.maxPool2d(this.block.forward(this.block.forward(this.stem.forward(x))), 2), 1);
    return this.heads[1].forward(F.tanh(this.heads[0].forward(h)));
  }
}

function near(got: Float32Array, want: number[], what: string): void {
  // a bias before a BatchNorm has no gradient in exact arithmetic: both sides hold rounding noise
  // (~1e-8), compared on the scale of the model's gradients (1e-3) rather than its own
  const scale = Math.max(1e-3, ...want.map(Math.abs));
  want.forEach((v, i) => expect(Math.abs(got[i] - v), `${what}[${i}]`).toBeLessThanOrEqual(TOL * scale));
}

/** The Net: conv → BN → ReLU → max-pool → flatten → Linear, as a Module subclass. */
class Net extends Module {
  conv1: Conv2d;
  bn1 = new BatchNorm2d(4);
  fc: Linear;
  constructor(gen: Generator) {
    super();
    this.conv1 = new Conv2d(1, 4, 3, { padding: 1, generator: gen });
    this.fc = new Linear(4 * 4 * 4, 3, { generator: gen });
  }
  forward(x: Tensor): Tensor {
    const h = F.maxPool2d(F.relu(this.bn1.forward(this.conv1.forward(x))), 2);
    return this.fc.forward(F.flatten(h, 1));
  }
}

/** Net's layers in a Sequential, initialised from `gen` in the same order. */
function netAsSequential(gen: Generator): Sequential {
  return new Sequential(
    new Conv2d(1, 4, 3, { padding: 1, generator: gen }),
    new BatchNorm2d(4),
    new ReLU(),
    new MaxPool2d(2),
    new Flatten(),
    new Linear(4 * 4 * 4, 3, { generator: gen }),
  );
}

for (const backend of BACKENDS) {
  describe(`modules on the tape (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it('a residual block used twice and ModuleList heads: names, loss, every gradient and running statistic as PyTorch', () => {
      const net = new ResNet();
      expect(Object.keys(net.stateDict())).toEqual(fixture.keys);
      net.loadStateDict(fixture.state as Record<string, number[]>, { strict: false });
      const x = tensor(fixture.x, [4, 1, 6, 6], { requiresGrad: true });
      const logits = net.forward(x);
      near(logits.toArray(), fixture.logits, 'logits');
      const loss = F.crossEntropy(logits, fixture.labels);
      expect(Math.abs(loss.item() - fixture.loss)).toBeLessThanOrEqual(TOL_LOSS * Math.abs(fixture.loss));
      loss.backward();
      const grads = Object.fromEntries(net.namedParameters().map(([k, p]) => [k, p.grad.toArray()]));
      expect(Object.keys(grads)).toEqual(Object.keys(fixture.grads));
      for (const [k, want] of Object.entries(fixture.grads)) near(grads[k], want, k);
      near(x.grad!.toArray(), fixture.xGrad, 'x.grad');
      const sd = net.stateDict();
      for (const [k, want] of Object.entries(fixture.after)) near(sd[k] as Float32Array, want, k);
      for (const [k, want] of Object.entries(fixture.tracked)) expect(sd[k]).toBe(want);
      loss.dispose();
      x.dispose();
      net.dispose();
    });

    it('a Module subclass trained by loss.backward() equals the same layers driven by backwardParams, bit for bit', () => {
      const net = new Net(new Generator(3));
      const seq = netAsSequential(new Generator(3));
      expect(net.parameters().map((p) => bits(p.toArray()))).toEqual(seq.parameters().map((p) => bits(p.toArray())));
      const o1 = new SGD(net.parameters(), { lr: 0.1, momentum: 0.9 }),
        o2 = new SGD(seq.parameters(), { lr: 0.1, momentum: 0.9 });
      const lossFn = new CrossEntropyLoss();
      const labels = Int32Array.from({ length: 6 }, (_, i) => i % 3);
      for (let step = 0; step < 5; step++) {
        const x = tensor(values(6 * 64, step + 1), [6, 1, 8, 8]);
        o1.zeroGrad();
        const loss = F.crossEntropy(net.forward(x), labels);
        loss.backward();
        o1.step();
        o2.zeroGrad();
        const out = seq.forward(x);
        const l2 = lossFn.forward(out, labels);
        const g = lossFn.backward();
        seq.backwardParams(g);
        o2.step();
        expect(loss.item()).toBe(Math.fround(l2)); // the loss class returns the f64 sum unrounded
        for (const t of [out, g, x, loss]) t.dispose();
      }
      expect(net.stateDict()).toEqual(
        Object.fromEntries(
          Object.entries(seq.stateDict()).map(([k, v]) => [k.replace(/^0\./, 'conv1.').replace(/^1\./, 'bn1.').replace(/^5\./, 'fc.'), v]),
        ),
      );
      for (const m of [net, seq]) m.dispose();
      o1.dispose();
      o2.dispose();
    });

    it('fit trains a Module subclass through the tape to the same weights as the same layers in a Sequential', async () => {
      const net = new Net(new Generator(7));
      const seq = netAsSequential(new Generator(7));
      const data = { x: values(24 * 64, 11), y: Int32Array.from({ length: 24 }, (_, i) => (i * 7) % 3), shape: [1, 8, 8] };
      const logs = [];
      for (const m of [net, seq]) {
        const optimizer = new SGD(m.parameters(), { lr: 0.05, momentum: 0.9 });
        logs.push(await fit(m, data, { epochs: 3, batchSize: 6, optimizer, seed: 3, verbose: 0 }));
        optimizer.dispose();
      }
      expect(logs[0]).toEqual(logs[1]);
      expect(logs[0][2].loss).toBeLessThan(logs[0][0].loss);
      expect(net.parameters().map((p) => bits(p.toArray()))).toEqual(seq.parameters().map((p) => bits(p.toArray())));
      for (const m of [net, seq]) m.dispose();
    });

    it('eval mode and noGrad record nothing; a training forward under noGrad still moves the running statistics, as PyTorch', () => {
      const net = new Net(new Generator(4));
      const x = tensor(values(2 * 64, 9), [2, 1, 8, 8]);
      const y = net.forward(x);
      expect(y.requiresGrad).toBe(true);
      expect(y.gradFn).not.toBeNull();
      y.dispose();
      const before = net.stateDict()['bn1.running_mean'] as Float32Array;
      const y2 = noGrad(() => net.forward(x));
      expect([y2.requiresGrad, y2.gradFn]).toEqual([false, null]);
      expect(net.stateDict()['bn1.num_batches_tracked']).toBe(2);
      expect(bits(net.stateDict()['bn1.running_mean'] as Float32Array)).not.toEqual(bits(before));
      net.eval();
      const y3 = net.forward(x);
      expect([y3.requiresGrad, y3.gradFn]).toEqual([false, null]);
      expect(net.stateDict()['bn1.num_batches_tracked']).toBe(2);
      // an eval-mode layer whose input comes from the tape passes gradients on (fine-tuning with BN frozen)
      const xg = tensor(values(2 * 64, 9), [2, 1, 8, 8], { requiresGrad: true });
      const y4 = net.forward(xg);
      expect(y4.gradFn).not.toBeNull();
      F.sum(y4).backward();
      expect(xg.grad!.toArray().some((v) => v !== 0)).toBe(true);
      for (const t of [x, y2, y3, xg]) t.dispose();
      net.dispose();
    });

    it('a parameter with requiresGrad false gets no gradient; the others do', () => {
      const net = new Net(new Generator(5));
      net.conv1.weight.requiresGrad = false;
      const x = tensor(values(2 * 64, 2), [2, 1, 8, 8]);
      F.crossEntropy(net.forward(x), [0, 1]).backward();
      expect(net.conv1.weight.grad.toArray().every((v) => v === 0)).toBe(true);
      for (const p of [net.conv1.bias!, net.bn1.weight!, net.fc.weight]) expect(p.grad.toArray().some((v) => v !== 0)).toBe(true);
      x.dispose();
      net.dispose();
    });

    it("a layer's backward(dy) after a recording forward runs the recorded op, and again after its own path", () => {
      const lin = new Linear(5, 3, { generator: new Generator(6) });
      const x = tensor(values(4 * 5, 3), [4, 5]);
      const dy = tensor(values(4 * 3, 4), [4, 3]);
      const y1 = lin.forward(x);
      expect(y1.gradFn).not.toBeNull(); // training, the weight requires a gradient: recorded
      const dx1 = lin.backward(dy);
      const g1 = lin.weight.grad.toArray();
      lin.zeroGrad();
      const y2 = lin.forward(x);
      expect(y2.gradFn).toBeNull(); // driven by backward(dy): its own saved-state path from now on
      const dx2 = lin.backward(dy);
      expect(bits(dx2.toArray())).toEqual(bits(dx1.toArray()));
      expect(bits(lin.weight.grad.toArray())).toEqual(bits(g1));
      for (const t of [x, dy, y1, y2, dx1, dx2]) t.dispose();
      lin.dispose();
    });
  });
}
