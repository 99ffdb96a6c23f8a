// Graph as a model: a residual CNN built as a Graph computes, differentiates and trains bit for bit
// as the same layers in a Module subclass (whose forward calls the same F ops), on every backend;
// its state dict has the dotted names (or the names a loader chose), it trains with fit, predicts
// and evaluates, folds its BatchNorms and round-trips through safetensors.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  init,
  tensor,
  F,
  noGrad,
  Module,
  Graph,
  Conv2d,
  BatchNorm2d,
  Linear,
  MaxPool2d,
  SGD,
  Generator,
  fit,
  predict,
  evaluate,
  foldBatchNorm,
  saveSafetensors,
  loadSafetensors,
  decodeSafetensors,
  type Tensor,
} from '../src/index';
import { BACKENDS, bits, values } from './helpers';
import { maxAbs, maxAbsDiff } from './reference';

// Folding changes the rounding: (x⋆W)·a vs x⋆(W·a) in f32 over ≤ 36 products per output, through
// three folded convolutions and a Linear: 1e-5 of the output scale, as test/fold.test.ts.
const TOL_FOLD = 1e-5;

/** conv-BN-ReLU stem, one residual block (two conv-BN, add, ReLU), max-pool, flatten, Linear. */
class ResNet extends Module {
  stem: Conv2d;
  bn0 = new BatchNorm2d(4);
  conv1: Conv2d;
  bn1 = new BatchNorm2d(4);
  conv2: Conv2d;
  bn2 = new BatchNorm2d(4);
  fc: Linear;
  constructor(gen: Generator) {
    super();
    this.stem = new Conv2d(1, 4, 3, { padding: 1, generator: gen });
    this.conv1 = new Conv2d(4, 4, 3, { padding: 1, bias: false, generator: gen });
    this.conv2 = new Conv2d(4, 4, 3, { padding: 1, bias: false, generator: gen });
    this.fc = new Linear(4 * 4 * 4, 3, { generator: gen });
  }
  forward(x: Tensor): Tensor {
    const h0 = F.relu(this.bn0.forward(this.stem.forward(x)));
    const h = F.relu(this.bn1.forward(this.conv1.forward(h0)));
    const r = F.relu(F.add(this.bn2.forward(this.conv2.forward(h)), h0));
    return this.fc.forward(F.flatten(F.maxPool2d(r, 2), 1));
  }
}

/** ResNet's layers as a Graph, initialised from `gen` in the same order. */
function resGraph(gen: Generator): Graph {
  const g = new Graph();
  const x = g.input('x');
  const stem = new Conv2d(1, 4, 3, { padding: 1, generator: gen });
  const h0 = g.op('relu', [g.layer('bn0', new BatchNorm2d(4), g.layer('stem', stem, x))]);
  const conv1 = new Conv2d(4, 4, 3, { padding: 1, bias: false, generator: gen });
  const h = g.op('relu', [g.layer('bn1', new BatchNorm2d(4), g.layer('conv1', conv1, h0))]);
  const conv2 = new Conv2d(4, 4, 3, { padding: 1, bias: false, generator: gen });
  const r = g.op('relu', [g.op('add', [g.layer('bn2', new BatchNorm2d(4), g.layer('conv2', conv2, h)), h0])]);
  const flat = g.op('flatten', [g.layer('pool', new MaxPool2d(2), r)], { axis: 1 });
  g.output('logits', g.layer('fc', new Linear(4 * 4 * 4, 3, { generator: gen }), flat));
  return g;
}

const stateBits = (m: Module) => Object.entries(m.stateDict()).map(([k, v]) => [k, typeof v === 'number' ? v : bits(v)]);

for (const backend of BACKENDS) {
  describe(`Graph as a model (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it('a residual CNN as a Graph: outputs, gradients and 5 SGD steps bit-identical to the Module subclass', () => {
      const net = new ResNet(new Generator(3));
      const g = resGraph(new Generator(3));
      expect(Object.keys(g.stateDict())).toEqual(Object.keys(net.stateDict()));
      expect(g.namedParameters().map(([k]) => k)).toEqual(net.namedParameters().map(([k]) => k));
      const o1 = new SGD(net.parameters(), { lr: 0.05, momentum: 0.9 }),
        o2 = new SGD(g.parameters(), { lr: 0.05, momentum: 0.9 });
      const labels = Int32Array.from({ length: 6 }, (_, i) => i % 3);
      for (let step = 0; step < 5; step++) {
        const x1 = tensor(values(6 * 64, step + 1), [6, 1, 8, 8], { requiresGrad: true });
        const x2 = tensor(values(6 * 64, step + 1), [6, 1, 8, 8], { requiresGrad: true });
        o1.zeroGrad();
        o2.zeroGrad();
        const y1 = net.forward(x1).keep(),
          y2 = g.forward(x2).keep();
        expect(bits(y2.toArray())).toEqual(bits(y1.toArray()));
        const l1 = F.crossEntropy(y1, labels),
          l2 = F.crossEntropy(y2, labels);
        l1.backward();
        l2.backward();
        expect(bits(x2.grad!.toArray())).toEqual(bits(x1.grad!.toArray()));
        expect(g.parameters().map((p) => bits(p.grad.toArray()))).toEqual(net.parameters().map((p) => bits(p.grad.toArray())));
        o1.step();
        o2.step();
        for (const t of [x1, x2, y1, y2, l1, l2]) t.dispose();
      }
      expect(stateBits(g)).toEqual(stateBits(net));
      for (const m of [net, g]) m.eval();
      const x = tensor(values(3 * 64, 9), [3, 1, 8, 8]);
      const e1 = noGrad(() => net.forward(x)),
        e2 = noGrad(() => g.forward(x));
      expect(bits(e2.toArray())).toEqual(bits(e1.toArray()));
      for (const t of [x, e1, e2]) t.dispose();
      for (const m of [net, g]) m.dispose();
      o1.dispose();
      o2.dispose();
    });

    it('fit, evaluate and predict on a Graph: the same logs, weights and predictions as the Module subclass', async () => {
      const net = new ResNet(new Generator(7));
      const g = resGraph(new Generator(7));
      const data = { x: values(24 * 64, 11), y: Int32Array.from({ length: 24 }, (_, i) => (i * 7) % 3), shape: [1, 8, 8] };
      const logs = [];
      for (const m of [net, g]) {
        const optimizer = new SGD(m.parameters(), { lr: 0.05, momentum: 0.9 });
        logs.push(await fit(m, data, { epochs: 3, batchSize: 6, optimizer, seed: 3, verbose: 0 }));
        optimizer.dispose();
      }
      expect(logs[1]).toEqual(logs[0]);
      expect(logs[1][2].loss).toBeLessThan(logs[1][0].loss);
      expect(stateBits(g)).toEqual(stateBits(net));
      expect(evaluate(g, data, { batchSize: 5 })).toEqual(evaluate(net, data, { batchSize: 5 }));
      expect(bits(predict(g, data.x, [1, 8, 8], { batchSize: 5 }))).toEqual(bits(predict(net, data.x, [1, 8, 8], { batchSize: 5 })));
      for (const m of [net, g]) m.dispose();
    });

    it('state dict names: dotted layer names as a loader gives them, stateNames, constants; loadStateDict by those names', () => {
      const gen = new Generator(5);
      const g = new Graph();
      const x = g.input('input');
      const c = g.layer('layer1.0.conv1', new Conv2d(2, 3, 1, { generator: gen }), x);
      const b = g.layer('layer1.0.bn1', new BatchNorm2d(3), c);
      const f = g.op('flatten', [b], { axis: 1 });
      // a Linear whose weight a loader names as an ONNX initializer, and a MatMul on a trained constant
      const fc = g.layer('/fc/Gemm', new Linear(12, 2, { generator: gen }), f, {
        stateNames: { weight: 'fc.weight', bias: 'onnx::Gemm_7' },
      });
      const head = g.constant('head.weight', tensor([0.5, 1, -1, 0.5], [2, 2]));
      g.output('out', g.op('matmul', [fc, head]));
      expect(Object.keys(g.stateDict())).toEqual([
        'layer1.0.conv1.weight',
        'layer1.0.conv1.bias',
        'layer1.0.bn1.weight',
        'layer1.0.bn1.bias',
        'layer1.0.bn1.running_mean',
        'layer1.0.bn1.running_var',
        'layer1.0.bn1.num_batches_tracked',
        'fc.weight',
        'onnx::Gemm_7',
        'head.weight',
      ]);
      // a constant tensor is a buffer: in the state dict, not a parameter
      expect(g.namedParameters().map(([k]) => k)).toEqual([
        'layer1.0.conv1.weight',
        'layer1.0.conv1.bias',
        'layer1.0.bn1.weight',
        'layer1.0.bn1.bias',
        'fc.weight',
        'onnx::Gemm_7',
      ]);
      const sd = g.stateDict();
      sd['onnx::Gemm_7'] = Float32Array.of(3, -4);
      sd['head.weight'] = Float32Array.of(1, 0, 0, 1);
      g.loadStateDict(sd);
      const lin = g.children().find(([k]) => k === '/fc/Gemm')![1] as Linear;
      expect(Array.from(lin.bias!.toArray())).toEqual([3, -4]);
      expect(Array.from(g.stateDict()['head.weight'] as Float32Array)).toEqual([1, 0, 0, 1]);
      // nested in a Sequential-like parent, the names take its prefix
      class Wrap extends Module {
        body = g;
        forward(t: Tensor): Tensor {
          return this.body.forward(t);
        }
      }
      expect(Object.keys(new Wrap().stateDict())).toContain('body.fc.weight');
      g.dispose();
    });

    it('foldBatchNorm on a Graph: Conv2d/Linear → BN pairs folded, the graph rewired, eval outputs equal', async () => {
      const net = resGraph(new Generator(9));
      const data = { x: values(24 * 64, 12), y: Int32Array.from({ length: 24 }, (_, i) => i % 3), shape: [1, 8, 8] };
      const optimizer = new SGD(net.parameters(), { lr: 0.05 });
      await fit(net, data, { epochs: 2, batchSize: 6, optimizer, seed: 1, verbose: 0 });
      optimizer.dispose();
      net.eval();
      const folded = foldBatchNorm(net);
      expect(folded).toBeInstanceOf(Graph);
      expect(folded.children().map(([k, m]) => `${k}:${m.constructor.name}`)).toEqual([
        'stem:Conv2d',
        'conv1:Conv2d',
        'conv2:Conv2d',
        'pool:MaxPool2d',
        'fc:Linear',
      ]);
      expect(folded.nodes.filter((n) => n.kind === 'op' && n.op === 'identity').map((n) => n.name)).toEqual(['bn0', 'bn1', 'bn2']);
      const x = tensor(values(5 * 64, 13), [5, 1, 8, 8]);
      const want = noGrad(() => net.forward(x)).toArray(),
        got = noGrad(() => folded.forward(x)).toArray();
      expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(TOL_FOLD * Math.max(1, maxAbs(want)));
      // a convolution whose output a second node also reads keeps its BatchNorm
      const g = new Graph();
      const i = g.input('x');
      const c = g.layer('c', new Conv2d(1, 2, 1), i);
      g.output('y', g.op('add', [g.layer('bn', new BatchNorm2d(2), c), c]));
      g.eval();
      const kept = foldBatchNorm(g);
      expect(kept.children().map(([, m]) => m.constructor.name)).toEqual(['Conv2d', 'BatchNorm2d']);
      const nb = new BatchNorm2d(2, { trackRunningStats: false });
      const h = new Graph();
      h.output('y', h.layer('bn', nb, h.layer('c', new Conv2d(1, 2, 1), h.input('x'))));
      expect(() => foldBatchNorm(h)).toThrow(/^foldBatchNorm: node 'bn': a BatchNorm without running statistics cannot be folded$/);
      x.dispose();
      for (const m of [net, folded.children()[0][1], folded.children()[1][1], folded.children()[2][1], g, h]) m.dispose();
    });

    it('saves and loads as safetensors under its state dict names: a fresh graph loaded from the bytes gives bit-identical outputs', () => {
      const g = resGraph(new Generator(21));
      const x = tensor(values(2 * 64, 4), [2, 1, 8, 8]);
      noGrad(() => g.forward(x)).dispose(); // moves the running statistics
      const bytes = saveSafetensors(g);
      expect(Object.keys(decodeSafetensors(bytes).tensors).sort()).toEqual(Object.keys(g.stateDict()).sort());
      const h = resGraph(new Generator(22));
      loadSafetensors(h, bytes);
      expect(stateBits(h)).toEqual(stateBits(g));
      for (const m of [g, h]) m.eval();
      const a = noGrad(() => g.forward(x)),
        b = noGrad(() => h.forward(x));
      expect(bits(b.toArray())).toEqual(bits(a.toArray()));
      for (const t of [x, a, b]) t.dispose();
      for (const m of [g, h]) m.dispose();
    });

    it('prints its nodes in order and a summary with output shapes', () => {
      const g = resGraph(new Generator(1));
      const s = g.toString();
      expect(s.split('\n').slice(0, 4)).toEqual([
        'Graph(',
        '  (x): input',
        "  (stem): Conv2d(inChannels=1, outChannels=4, kernelSize=(3, 3), stride=(1, 1), padding=(1, 1), layout='NCHW', bias=true) ← x",
        "  (bn0): BatchNorm2d(numFeatures=4, eps=0.00001, momentum=0.1, layout='NCHW') ← stem",
      ]);
      expect(s).toContain('  (flatten_5): flatten(pool, axis=1)');
      expect(s.endsWith('  (logits): output ← fc\n)')).toBe(true);
      const table = g.summary([2, 1, 8, 8]);
      expect(table).toMatch(/^fc +Linear +\[2, 3\] +195$/m);
      expect(table).toMatch(/^conv2 +Conv2d +\[2, 4, 8, 8\] +144$/m);
      expect(table).toContain('Total params: 547');
      g.dispose();
    });
  });
}
