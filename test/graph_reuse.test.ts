// A Graph keeps the buffers of its inference runs: the first run of an input shape under noGrad
// lays out one block for its intermediates, later runs of that shape place them there; an add read
// only by a ReLU runs as one pass. The references: the same graph without either (each intermediate
// allocated and freed, the add and its ReLU apart) and a recorded run (nothing fused, nothing
// placed), bit for bit on every backend; the backend's own alloc/free calls, counted, for what a run
// allocates and what dispose frees.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  init,
  tensor,
  F,
  noGrad,
  memoryBytes,
  Graph,
  Conv2d,
  BatchNorm2d,
  Linear,
  AdaptiveAvgPool2d,
  Module,
  SGD,
  type Tensor,
} from '../src/index';
import { betweenLayers } from '../src/graph/arena';
import { setStepTimer } from '../src/graph/run';
import { BACKENDS, bits } from './helpers';
import { countAllocations } from './alloc_count';
import { runtime } from '../src/runtime/index';
import { seededInput } from './onnx_helpers';

/** A BasicBlock-style network: conv-BN-ReLU, two residual blocks (one with a strided 1×1 skip), pooling, a Linear. */
function resBlocks(extra?: Module): Graph {
  const g = new Graph();
  let h = g.input('x');
  h = g.op('relu', [g.layer('bn0', new BatchNorm2d(4), g.layer('conv0', new Conv2d(3, 4, 3, { padding: 1, bias: false }), h))]);
  const block = (p: string, x: string, cin: number, cout: number, stride: number): string => {
    let y = g.layer(`${p}.conv1`, new Conv2d(cin, cout, 3, { stride, padding: 1, bias: false }), x);
    if (extra !== undefined && p === 'b2') y = g.layer('extra', extra, y);
    y = g.op('relu', [g.layer(`${p}.bn1`, new BatchNorm2d(cout), y)]);
    y = g.layer(`${p}.bn2`, new BatchNorm2d(cout), g.layer(`${p}.conv2`, new Conv2d(cout, cout, 3, { padding: 1, bias: false }), y));
    const skip = stride === 1 ? x : g.layer(`${p}.down`, new Conv2d(cin, cout, 1, { stride, bias: false }), x);
    return g.op('relu', [g.op('add', [y, skip])]);
  };
  h = block('b1', h, 4, 4, 1);
  h = block('b2', h, 4, 6, 2);
  h = g.op('flatten', [g.layer('pool', new AdaptiveAvgPool2d(1), h)], { axis: 1 });
  g.output('y', g.layer('fc', new Linear(6, 5), h));
  // seeded state, with running statistics away from 0 and 1 so the BatchNorms do something
  g.stateEntries().forEach((e, i) => {
    if (!('tensor' in e) || e.tensor === undefined) return; // a counter
    const v = seededInput(e.tensor.shape as number[], 100 + i);
    e.tensor.set(
      /running_var$/.test(e.name)
        ? v.map((u) => 1 + 0.5 * u)
        : /running_mean$|bias$/.test(e.name)
          ? v.map((u) => 0.2 * u)
          : v.map((u) => 0.5 * u),
    );
  });
  return g.eval();
}

const input = (dims: number[], seed = 3): Tensor => tensor(seededInput(dims, seed), dims);

/** The output of one inference run, as bits; the output disposed. */
function inferBits(g: Graph, x: Tensor): number[] {
  const y = noGrad(() => g.forward(x));
  const b = bits(y.toArray())!;
  y.dispose();
  return b;
}

/** Buffers kept and add+ReLU fused (the default), or neither: each intermediate allocated and freed, each op its own kernel. */
function between(on: boolean): void {
  betweenLayers.reuse = on;
  betweenLayers.addRelu = on;
}

afterEach(() => {
  between(true);
});

describe.each(BACKENDS)('Graph buffers kept between inference runs (%s)', (backend) => {
  beforeAll(async () => {
    await init({ backend });
  });

  it('later runs place the intermediates in one kept block and give the bits of runs without it', () => {
    const g = resBlocks();
    const x = input([2, 3, 9, 9]);
    between(false);
    const want = inferBits(g, x);
    expect(g._arenaBytes).toBe(0);
    between(true);
    for (let i = 0; i < 4; i++) expect(inferBits(g, x), `run ${i}`).toEqual(want);
    expect(g._arenaBytes).toBeGreaterThan(0);
    x.dispose();
    g.dispose();
  });

  it('a later run allocates only its output, and scratch blocks freed before the next allocation', () => {
    const g = resBlocks();
    const x = input([2, 3, 9, 9]);
    inferBits(g, x);
    inferBits(g, x);
    const on = allocationTrace(() => noGrad(() => g.forward(x)));
    expect(on.heldAcross, 'blocks of the run other than the output alive at a later allocation').toBe(0);
    expect(on.kept, 'blocks alive after the run: the output').toBe(1);
    // the same measure sees the intermediates when the graph keeps no buffers
    between(false);
    const off = allocationTrace(() => noGrad(() => g.forward(x)));
    expect(off.heldAcross).toBeGreaterThan(5);
    expect(off.kept).toBe(1);
    x.dispose();
    g.dispose();
  });

  it('a new input shape lays out a new block; going back works; outputs are never the kept buffer', () => {
    const g = resBlocks();
    const a = input([2, 3, 9, 9]),
      b = input([3, 3, 12, 10], 5);
    between(false);
    const wantA = inferBits(g, a),
      wantB = inferBits(g, b);
    between(true);
    const ya = noGrad(() => g.forward(a)).keep();
    for (const [x, want] of [
      [a, wantA],
      [a, wantA],
      [b, wantB],
      [b, wantB],
      [a, wantA],
      [b, wantB],
      [a, wantA],
    ] as const)
      expect(inferBits(g, x)).toEqual(want);
    // an output of an earlier run is not written by later runs
    expect(bits(ya.toArray())).toEqual(wantA);
    ya.dispose();
    a.dispose();
    b.dispose();
    g.dispose();
  });

  it('a block per input shape for the last 4 shapes: alternating batch sizes allocate nothing but outputs, memory flat; a fifth shape drops the least recently used', () => {
    const g = resBlocks();
    const sizes = [5, 2, 4, 1, 3];
    const xs = sizes.map((n, i) => input([n, 3, 9, 9], 10 + i));
    between(false);
    const want = xs.map((x) => inferBits(g, x));
    between(true);
    const count = countAllocations();
    // predict's pattern: full batches, then the last smaller one, epoch after epoch
    const four = [0, 0, 1, 0, 2, 3];
    for (const i of four) expect(inferBits(g, xs[i]), `batch ${sizes[i]}`).toEqual(want[i]);
    const blocks = count.live(),
      bytes = memoryBytes(),
      kept = g._arenaBytes;
    expect(blocks, 'one block per shape').toBe(4);
    for (let r = 0; r < 20; r++)
      for (const i of four) {
        const on = allocationTrace(() => noGrad(() => g.forward(xs[i])));
        expect(on.heldAcross + on.kept, `batch ${sizes[i]}, round ${r}: only the output allocated`).toBe(1);
      }
    expect(count.live(), 'no block added or lost').toBe(blocks);
    expect(memoryBytes(), 'no growth').toBe(bytes);
    expect(g._arenaBytes).toBe(kept);
    // a fifth shape: the least recently used one (batch 2) is dropped
    expect(inferBits(g, xs[4])).toEqual(want[4]);
    expect(count.live(), 'still 4 blocks').toBe(4);
    for (const i of [0, 1, 2, 3, 4]) expect(inferBits(g, xs[i]), `batch ${sizes[i]} again`).toEqual(want[i]);
    g.dispose();
    expect(count.live(), 'dispose frees every block').toBe(0);
    count.stop();
    for (const x of xs) x.dispose();
  });

  it('reshape and flatten are views (no allocation); their bases outlive them in the block; outputs that are views are copies', () => {
    const g = new Graph();
    const x = g.input('x');
    const v = g.op('reshape', [g.op('relu', [x], {}, 'a')], { shape: [0, -1] }, 'v');
    const s = g.op('sigmoid', [v], {}, 's');
    g.output('y', g.op('flatten', [g.op('add', [v, s], {}, 'sum')], { axis: 1 }, 'y'));
    g.output('r', g.op('reshape', [x], { shape: [-1] }, 'r'));
    const xin = input([2, 3, 4, 5]);
    const run = () => noGrad(() => g.run({ x: xin }));
    const asBits = (o: Record<string, Tensor>) => [bits(o.y.toArray()), bits(o.r.toArray())];
    // the reference: every op on its own buffer, no block
    between(false);
    const count = countAllocations();
    const ref = run();
    // y, a view of the add's output, owns those bytes once the run has let the add's go: no copy
    expect(count.calls(), 'relu, sigmoid, add and r copied: no reshape or flatten allocates').toBe(4);
    expect(ref.r.ptr === xin.ptr, 'an output over the input is a copy').toBe(false);
    const want = asBits(ref);
    for (const t of Object.values(ref)) t.dispose();
    expect(count.live(), 'the bases went with their views').toBe(0);
    between(true);
    const kept = run(); // an earlier run's outputs are never written by later ones
    for (let i = 0; i < 4; i++) {
      const o = run();
      expect(asBits(o), `run ${i}`).toEqual(want);
      for (const t of Object.values(o)) t.dispose();
    }
    expect(asBits(kept)).toEqual(want);
    for (const t of Object.values(kept)) t.dispose();
    g.dispose();
    expect(count.live(), 'nothing left but the input').toBe(0);
    count.stop();
    xin.dispose();
  });

  it('memory stays flat over 200 runs; dispose() frees the kept block', () => {
    const count = countAllocations();
    const g = resBlocks();
    const x = input([2, 3, 9, 9]);
    const afterBuild = count.live();
    inferBits(g, x);
    inferBits(g, x);
    const held = count.live(),
      bytes = memoryBytes();
    expect(held, 'the kept block').toBe(afterBuild + 1);
    for (let i = 0; i < 200; i++) inferBits(g, x);
    expect(count.live()).toBe(held);
    expect(memoryBytes(), 'no growth').toBe(bytes);
    g.dispose();
    x.dispose();
    expect(count.live(), 'nothing left once the graph and the input are freed').toBe(0);
    count.stop();
  });

  it('a recorded run (training) neither uses nor moves the kept block: the same gradients as a graph that never ran inference', () => {
    const grads = (warm: boolean): number[][] => {
      const g = resBlocks();
      const x = input([2, 3, 9, 9]).keep();
      if (warm) {
        inferBits(g, x);
        inferBits(g, x);
      }
      const blockBytes = g._arenaBytes;
      g.train();
      const opt = new SGD(g.parameters(), { lr: 0.1 });
      for (let i = 0; i < 2; i++) {
        opt.zeroGrad();
        F.sum(g.forward(x)).backward();
        opt.step();
      }
      const out = g.parameters().map((p) => bits(p.grad.toArray())!);
      expect(g._arenaBytes, 'the block after training').toBe(blockBytes);
      g.eval();
      out.push(inferBits(g, x));
      x.dispose();
      g.dispose();
      return out;
    };
    expect(grads(true)).toEqual(grads(false));
  });

  it('a node that throws in a run that uses the block leaves nothing behind; the next run gives the same bits', () => {
    class Flaky extends Module {
      fail = false;
      forward(x: Tensor): Tensor {
        if (this.fail) throw new Error('flaky');
        return x;
      }
    }
    const flaky = new Flaky();
    const g = resBlocks(flaky);
    const x = input([2, 3, 9, 9]);
    const want = inferBits(g, x);
    inferBits(g, x);
    const count = countAllocations();
    flaky.fail = true;
    expect(() => noGrad(() => g.forward(x))).toThrow(/node 'extra'.*flaky/);
    expect(count.live()).toBe(0);
    flaky.fail = false;
    expect(inferBits(g, x)).toEqual(want);
    expect(inferBits(g, x)).toEqual(want);
    count.stop();
    x.dispose();
    g.dispose();
  });

  it('a layer whose allocations change from run to run, and one that keeps a tensor it made: right bits, nothing overwritten, memory flat', () => {
    /** Every other call makes one more temporary: runs of one shape stray from the layout in turn. */
    class Alternating extends Module {
      calls = 0;
      forward(x: Tensor): Tensor {
        if (++this.calls % 2 === 0) return F.relu(x);
        const t = F.mul(x, 2);
        const y = F.relu(F.mul(t, 0.5));
        t.dispose();
        return y;
      }
    }
    /** Keeps what its first call made (a cache), and adds it to every later input. */
    class Cached extends Module {
      cached: Tensor | null = null;
      forward(x: Tensor): Tensor {
        this.cached ??= F.mul(x, 0.25).keep();
        return F.add(x, this.cached);
      }
    }
    const cached = new Cached();
    const g = resBlocks(new Alternating());
    const g2 = new Graph();
    const xin = g2.input('x');
    g2.output('y', g2.op('relu', [g2.layer('cached', cached, g2.op('add', [xin, xin]))]));
    const x = input([2, 3, 9, 9]);
    between(false);
    const want = inferBits(g, x);
    const want2 = inferBits(g2, x);
    const cacheBits = bits(cached.cached!.toArray());
    between(true);
    const count = countAllocations();
    let held = 0;
    for (let i = 0; i < 8; i++) {
      expect(inferBits(g, x), `run ${i}`).toEqual(want);
      expect(inferBits(g2, x), `run ${i}`).toEqual(want2);
      expect(bits(cached.cached!.toArray())).toEqual(cacheBits);
      if (i === 3) held = count.live();
    }
    expect(count.live(), 'no growth from run 4 to run 8').toBe(held);
    count.stop();
    cached.cached!.dispose();
    x.dispose();
    g.dispose();
    g2.dispose();
  });

  it('add then ReLU in one pass: the bits of the two kernels for every length 0…33, with ±0, NaN, ±∞ and subnormals', () => {
    const special = [-0, 0, NaN, Infinity, -Infinity, 1e-45, -1e-45, 3.4e38, -3.4e38];
    for (let n = 0; n <= 33; n++) {
      const g = new Graph();
      g.output('y', g.op('relu', [g.op('add', [g.input('a'), g.input('b')], {}, 'sum')]));
      const va = seededInput([n], n + 1),
        vb = seededInput([n], n + 50);
      // sums of exactly −0, +0, NaN, overflow, and opposite values that cancel
      for (let i = 0; i < n; i++) {
        if (i % 3 === 0) va[i] = special[(i / 3) % special.length];
        if (i % 5 === 1) vb[i] = special[(i * 7) % special.length];
        if (i % 7 === 2) vb[i] = -va[i];
      }
      const a = tensor(va, [n]).keep(),
        b = tensor(vb, [n]).keep();
      const kinds: string[] = [];
      setStepTimer((kind) => kinds.push(kind));
      let fused: Tensor, plain: Tensor;
      try {
        fused = noGrad(() => g.run({ a, b }).y);
      } finally {
        setStepTimer(null);
      }
      plain = g.run({ a, b }).y; // recorded: the add kernel, then the ReLU kernel
      expect(kinds, `n = ${n}`).toEqual(['add+relu', 'relu (fused)']);
      expect(bits(fused.toArray()), `n = ${n}`).toEqual(bits(plain.toArray()));
      for (const t of [fused, plain, a, b]) t.dispose();
      g.dispose();
    }
  });

  it('add then ReLU with a broadcast operand, and an add read by another node too (not fused): the bits of the plain run', () => {
    const g = new Graph();
    const s = g.op('add', [g.input('a'), g.input('b')], {}, 'sum');
    g.output('y', g.op('relu', [s]));
    const g2 = new Graph();
    const s2 = g2.op('add', [g2.input('a'), g2.input('b')], {}, 'sum');
    g2.output('y', g2.op('add', [g2.op('relu', [s2]), s2]));
    const a = tensor(seededInput([3, 4, 5], 1), [3, 4, 5]).keep(),
      b = tensor(seededInput([5], 2), [5]).keep();
    for (const graph of [g, g2]) {
      const fused = noGrad(() => graph.run({ a, b }).y);
      const plain = graph.run({ a, b }).y;
      expect(bits(fused.toArray())).toEqual(bits(plain.toArray()));
      fused.dispose();
      plain.dispose();
      graph.dispose();
    }
    a.dispose();
    b.dispose();
  });
});

/**
 * Runs `fn` (which returns a tensor, disposed after) with the backend's alloc/free traced: `heldAcross`
 * counts the blocks allocated in the run, not returned, and still alive when a later allocation is
 * made; `kept` the blocks alive when fn returns.
 */
function allocationTrace(fn: () => Tensor): { heldAcross: number; kept: number } {
  const k = runtime().k as { alloc: (b: number) => number; free: (p: number) => void };
  const alloc = k.alloc,
    free = k.free;
  // by block, not by address: a freed address may be handed out again in the same run
  const live = new Map<number, { across: boolean }>(),
    blocks: { across: boolean }[] = [];
  k.alloc = (b) => {
    for (const e of live.values()) e.across = true;
    const p = alloc(b);
    const e = { across: false };
    live.set(p, e);
    blocks.push(e);
    return p;
  };
  k.free = (p) => {
    live.delete(p);
    free(p);
  };
  let y: Tensor;
  try {
    y = fn();
  } finally {
    k.alloc = alloc;
    k.free = free;
  }
  const kept = live.size;
  live.get(y.ptr)!.across = false; // the output
  y.dispose();
  return { heldAcross: blocks.filter((e) => e.across).length, kept };
}

describe('add then ReLU on threads', () => {
  afterAll(async () => {
    await init();
  });

  it('split between 2 threads (a tail in the last part): the bits of the add and the ReLU, and of one thread', async () => {
    const n = (1 << 17) + 3; // above the size an elementwise call is split at
    const va = seededInput([n], 1),
      vb = seededInput([n], 2);
    for (let i = 0; i < n; i += 7) vb[i] = -va[i]; // sums of ±0
    const results: number[][][] = [];
    for (const threads of [1, 2]) {
      await init({ threads });
      const g = new Graph();
      g.output('y', g.op('relu', [g.op('add', [g.input('a'), g.input('b')])]));
      const a = tensor(va, [n]).keep(),
        b = tensor(vb, [n]).keep();
      const fused = noGrad(() => g.run({ a, b }).y),
        plain = g.run({ a, b }).y;
      results.push([bits(fused.toArray())!, bits(plain.toArray())!]);
      for (const t of [fused, plain, a, b]) t.dispose();
      g.dispose();
    }
    expect(results[1][0]).toEqual(results[1][1]);
    expect(results[1][0]).toEqual(results[0][0]);
  });
});
