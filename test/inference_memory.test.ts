// Inference frees as it goes: under noGrad a Sequential frees each intermediate once the next layer
// has read it (peak = the largest live set, not the sum of all activations), and a Module subclass's
// layer outputs belong to the scope, so predict/evaluate/noGrad loops stay flat. The js backend
// counts live bytes exactly, so memoryBytes() there is the reference.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  init,
  tensor,
  F,
  noGrad,
  predict,
  memoryBytes,
  Module,
  Sequential,
  Linear,
  BatchNorm1d,
  ReLU,
  Generator,
  type Tensor,
} from '../src/index';
import { values } from './helpers';

/** Records the live bytes when its forward runs (a pass-through layer). */
class Probe extends Module {
  seen: number[] = [];
  forward(x: Tensor): Tensor {
    this.seen.push(memoryBytes());
    return x;
  }
  backward(dy: Tensor): Tensor {
    return dy;
  }
}

class Net extends Module {
  fc1: Linear;
  bn = new BatchNorm1d(32);
  fc2: Linear;
  constructor(gen: Generator) {
    super();
    this.fc1 = new Linear(16, 32, { generator: gen });
    this.fc2 = new Linear(32, 4, { generator: gen });
  }
  forward(x: Tensor): Tensor {
    return this.fc2.forward(F.relu(this.bn.forward(this.fc1.forward(x))));
  }
}

describe('inference memory (js backend: live bytes)', () => {
  beforeAll(async () => {
    await init({ backend: 'js' });
  });

  it('a Sequential under noGrad holds one intermediate at a time; outside it, all of them', () => {
    const gen = new Generator(1);
    const probe = new Probe();
    const layers = Array.from({ length: 6 }, () => new Linear(64, 64, { generator: gen }));
    const model = new Sequential(...layers, probe).eval();
    const x = tensor(values(8 * 64), [8, 64]);
    const act = 8 * 64 * 4; // bytes of one activation
    const base = memoryBytes();
    noGrad(() => model.forward(x)).dispose();
    model.forward(x).dispose();
    // at the probe: the last Linear's output only under noGrad; all six outputs by the other path
    expect(probe.seen[0] - base).toBe(act);
    expect(probe.seen[1] - base).toBe(6 * act);
    x.dispose();
    model.dispose();
  });

  it('a Module subclass under noGrad, in predict and in eval: memory flat over 500 calls', () => {
    const net = new Net(new Generator(2));
    const data = values(64 * 16, 3);
    const x = tensor(data.subarray(0, 8 * 16), [8, 16]);
    noGrad(() => net.forward(x)).dispose();
    const base = memoryBytes();
    for (let i = 0; i < 500; i++) noGrad(() => net.forward(x)).dispose();
    expect(memoryBytes()).toBe(base);
    for (let i = 0; i < 50; i++) predict(net, data, [16], { batchSize: 8 });
    expect(memoryBytes()).toBe(base);
    net.eval();
    for (let i = 0; i < 500; i++) noGrad(() => net.forward(x)).dispose();
    expect(memoryBytes()).toBe(base);
    x.dispose();
    net.dispose();
  });
});

/** Six Linear + ReLU pairs written as a Module subclass, with a probe before the output. */
class Deep extends Module {
  fcs: Linear[];
  probe = new Probe();
  branch = false;
  constructor(gen: Generator) {
    super();
    this.fcs = Array.from({ length: 6 }, () => new Linear(64, 64, { generator: gen }));
  }
  forward(x: Tensor): Tensor {
    let h = x;
    for (const f of this.fcs) h = F.relu(f.forward(h));
    // a data-dependent path: another shape at this step than the plan's
    if (this.branch) h = F.concat([h, h], 1);
    return this.probe.forward(h);
  }
}

describe('predict and evaluate free at last use in any forward (js backend: live bytes)', () => {
  beforeAll(async () => {
    await init({ backend: 'js' });
  });

  it('from the second batch of a shape on, a Module subclass holds the largest live set, not every activation', () => {
    const net = new Deep(new Generator(3));
    const data = values(8 * 64 * 4, 5);
    const act = 8 * 64 * 4;
    const base = memoryBytes();
    const out = predict(net, data, [64], { batchSize: 8 });
    // the first batch learns the plan: the input and 12 intermediates; then the input and the last two
    expect(net.probe.seen.map((v) => (v - base) / act)).toEqual([13, 3, 3, 3]);
    // the same values as a plain forward under noGrad, batch by batch
    for (let b = 0; b < 4; b++) {
      const x = tensor(data.subarray(b * 8 * 64, (b + 1) * 8 * 64), [8, 64]);
      const y = noGrad(() => net.forward(x));
      expect(out.subarray(b * 8 * 64, (b + 1) * 8 * 64)).toEqual(y.toArray());
      for (const t of [x, y]) t.dispose();
    }
    expect(memoryBytes()).toBe(base);
    net.dispose();
  });

  it('a forward that takes another path than its plan stops freeing early where it leaves it, and relearns', () => {
    const net = new Deep(new Generator(4));
    const data = values(8 * 64 * 3, 6);
    const base = memoryBytes();
    const plain = predict(net, data, [64], { batchSize: 8 });
    net.branch = true;
    net.probe.seen = [];
    const branched = predict(net, data, [64], { batchSize: 8 });
    // the first run of the new path follows the plan up to the step where its shapes leave it (then
    // frees nothing more early), the second relearns (everything live), the third follows the new plan
    expect(net.probe.seen.map((v) => (v - base) / (8 * 64 * 4))).toEqual([1 + 1 + 1 + 2, 1 + 12 + 2, 1 + 1 + 2]);
    for (let i = 0; i < plain.length / 64; i++)
      expect(branched.subarray(i * 128, i * 128 + 64)).toEqual(plain.subarray(i * 64, i * 64 + 64));
    expect(memoryBytes()).toBe(base);
    net.dispose();
  });
});

/** Keeps a feature map in a field (read after the forward) and can add an earlier activation back at the end. */
class Keeper extends Module {
  fcs: Linear[];
  feature: Tensor | null = null;
  skip = false;
  constructor(gen: Generator) {
    super();
    this.fcs = Array.from({ length: 3 }, () => new Linear(64, 64, { generator: gen }));
  }
  forward(x: Tensor): Tensor {
    const a = F.relu(this.fcs[0].forward(x));
    this.feature = F.relu(this.fcs[1].forward(a));
    const b = this.fcs[2].forward(this.feature);
    // same shapes either way: a plan learnt without the skip frees `a` before this read
    return this.skip ? F.add(b, a) : b;
  }
}

class Unplanned extends Keeper {
  static planInference = false;
}

describe('a Module subclass called under noGrad frees at last use (js backend: live bytes)', () => {
  beforeAll(async () => {
    await init({ backend: 'js' });
  });

  it('from its second call per shape it holds the largest live set, with the values of the first call', () => {
    const net = new Deep(new Generator(7));
    const x = tensor(values(8 * 64, 8), [8, 64]);
    const act = 8 * 64 * 4;
    const base = memoryBytes();
    const ys = [0, 1, 2].map(() => noGrad(() => net.forward(x)));
    // x is the caller's (in base): the first call holds the 12 intermediates, later ones the last two
    expect(net.probe.seen.map((v) => (v - base) / act)).toEqual([12, 2 + 1, 2 + 2]);
    expect(ys[1].toArray()).toEqual(ys[0].toArray());
    expect(ys[2].toArray()).toEqual(ys[0].toArray());
    for (const y of ys) y.dispose();
    expect(memoryBytes()).toBe(base);
    x.dispose();
    net.dispose();
  });

  it('a tensor left in a field survives the call; a path the plan did not see is named in the error; planInference = false opts out', () => {
    const x = tensor(values(8 * 64, 9), [8, 64]);
    const net = new Keeper(new Generator(10));
    for (let i = 0; i < 3; i++) {
      noGrad(() => {
        const y = net.forward(x);
        expect(net.feature!.disposed).toBe(false);
        expect(y.toArray().length).toBe(8 * 64);
      });
    }
    net.skip = true;
    expect(() => noGrad(() => net.forward(x))).toThrow(/freed at its last use in the first call of this forward.*planInference = false/);
    const un = new Unplanned(new Generator(10));
    un.skip = true;
    const want = noGrad(() => {
      const a = F.relu(un.fcs[0].forward(x));
      return F.add(un.fcs[2].forward(F.relu(un.fcs[1].forward(a))), a).toArray();
    });
    for (let i = 0; i < 3; i++) expect(noGrad(() => un.forward(x).toArray())).toEqual(want);
    x.dispose();
    net.dispose();
    un.dispose();
  });
});
