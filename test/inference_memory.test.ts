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
