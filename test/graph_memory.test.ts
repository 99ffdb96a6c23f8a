// A Graph frees as it runs: under noGrad each intermediate goes once its last reader has run, so
// peak memory is the largest live set, not the sum of all activations; outputs are never freed;
// predict, evaluate, training steps and multi-output runs stay flat over many calls. The js backend
// counts live bytes exactly (WebAssembly memory only grows), so memoryBytes() there is the reference.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  init,
  tensor,
  F,
  noGrad,
  predict,
  evaluate,
  memoryBytes,
  Graph,
  Module,
  Linear,
  BatchNorm1d,
  SGD,
  Generator,
  type Tensor,
} from '../src/index';
import { values } from './helpers';

/** Records the live bytes when its forward runs; passes its input on (the same tensor). */
class Probe extends Module {
  seen: number[] = [];
  forward(x: Tensor): Tensor {
    this.seen.push(memoryBytes());
    return x;
  }
}

const N = 8, // residual blocks
  B = 4,
  W = 16;
const ACT = B * W * 4; // bytes of one activation

/** N blocks h ← fc_i(h) + h, a probe between each fc and its add. */
function deep(gen: Generator): { g: Graph; probes: Probe[] } {
  const g = new Graph();
  let h = g.input('x');
  const probes: Probe[] = [];
  for (let i = 0; i < N; i++) {
    const p = new Probe();
    probes.push(p);
    const f = g.layer(`probe${i}`, p, g.layer(`fc${i}`, new Linear(W, W, { generator: gen }), h));
    h = g.op('add', [f, h], {}, `h${i}`);
  }
  g.output('y', h);
  return { g, probes };
}

describe('Graph memory (js backend: live bytes)', () => {
  beforeAll(async () => {
    await init({ backend: 'js' });
  });

  it('under noGrad the live set at each fc is its input and output; outside it, every activation so far', () => {
    const { g, probes } = deep(new Generator(1));
    g.eval();
    const x = tensor(values(B * W), [B, W]);
    const base = memoryBytes();
    const y = noGrad(() => g.forward(x));
    const peakNoGrad = probes.map((p) => p.seen[0] - base);
    // block 0 reads the caller's x; every later block holds h(i−1) and fc_i's output
    expect(peakNoGrad).toEqual(probes.map((_, i) => (i === 0 ? ACT : 2 * ACT)));
    // the output, and the block the graph keeps for the intermediates of its later runs: the largest
    // live set, three activations at each add (its two inputs and its output), each with a cache line after it
    const kept = g._arenaBytes;
    expect(kept).toBe(3 * (ACT + 64));
    expect(memoryBytes() - base).toBe(ACT + kept);
    y.dispose();
    // an eval forward outside noGrad records nothing either, but frees its intermediates only at its end
    const y2 = g.forward(x);
    const held = probes.map((p) => p.seen[1] - base);
    expect(held).toEqual(probes.map((_, i) => (2 * i + 1) * ACT + kept));
    expect(memoryBytes() - base).toBe(ACT + kept);
    y2.dispose();
    expect(memoryBytes()).toBe(base + kept);
    // the peak against the sum of all activations (2N of them): 2 of 16
    expect(Math.max(...peakNoGrad)).toBe(2 * ACT);
    expect(Math.max(...held)).toBe((2 * N - 1) * ACT + kept);
    x.dispose();
    g.dispose();
  });

  it('predict, evaluate and noGrad loops stay flat; so do training steps through the tape, and multi-output runs', () => {
    const { g } = deep(new Generator(2));
    const data = { x: values(24 * W, 3), y: Int32Array.from({ length: 24 }, (_, i) => i % W), shape: [W] };
    const x = tensor(data.x.subarray(0, B * W), [B, W]);
    g.eval();
    noGrad(() => g.forward(x)).dispose();
    predict(g, data.x, [W], { batchSize: 8 });
    evaluate(g, data, { batchSize: 8 });
    const base = memoryBytes();
    for (let i = 0; i < 50; i++) noGrad(() => g.forward(x)).dispose();
    for (let i = 0; i < 10; i++) predict(g, data.x, [W], { batchSize: 8 });
    for (let i = 0; i < 10; i++) evaluate(g, data, { batchSize: 8 });
    expect(memoryBytes()).toBe(base);
    g.train();
    const opt = new SGD(g.parameters(), { lr: 0.01 });
    const step = () => {
      opt.zeroGrad();
      F.crossEntropy(g.forward(x), [0, 1, 2, 3]).backward();
      opt.step();
    };
    for (let i = 0; i < 3; i++) step();
    const trained = memoryBytes();
    for (let i = 0; i < 20; i++) step();
    expect(memoryBytes()).toBe(trained);
    opt.dispose();
    // two outputs read from the tape: the intermediates go once both outputs' ops are done
    const two = new Graph();
    const i0 = two.input('x');
    const bn = two.layer('bn', new BatchNorm1d(W), i0);
    two.output('a', two.op('relu', [bn]));
    two.output('b', two.op('tanh', [two.op('mul', [bn, i0])]));
    const run = () => {
      const { a, b } = two.run({ x });
      F.add(F.sum(a), F.sum(b)).backward();
      a.dispose();
      b.dispose();
    };
    for (let i = 0; i < 3; i++) run();
    const before = memoryBytes();
    for (let i = 0; i < 20; i++) run();
    expect(memoryBytes()).toBe(before);
    x.dispose();
    two.dispose();
    g.dispose();
  });
});
