// toOnnx: a Sequential and a Graph built here, written as ONNX, run by onnxruntime-node (the native
// CPU build) to this package's outputs; loadOnnx of the bytes gives the same outputs bit for bit and
// the same state names; layers with no ONNX form are refused by name. On every backend.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  init,
  noGrad,
  tensor,
  Graph,
  Sequential,
  Conv2d,
  BatchNorm2d,
  BatchNorm1d,
  ReLU,
  ReLU6,
  Hardtanh,
  LeakyReLU,
  Hardswish,
  Hardsigmoid,
  Sigmoid,
  Tanh,
  Dropout,
  Flatten,
  Linear,
  MaxPool2d,
  AvgPool2d,
  AdaptiveAvgPool2d,
  LogSoftmax,
  GroupNorm,
  Generator,
  Parameter,
  type Module,
} from '../src/index';
import { loadOnnx, toOnnx } from '../src/onnx/index';
import { maxAbsDiff, runOrt } from './onnx_node_helpers';
import { BACKENDS, bits } from './helpers';

// onnxruntime's float32 kernels against ours on outputs of order 1 through ≤ 10 layers
const ORT_TOL = 1e-5;

const X_DIMS = [4, 3, 8, 8];
const xData = () => new Generator(5).fillUniform(new Float32Array(4 * 3 * 8 * 8), -1, 1);

/** Moves the BatchNorms' running statistics away from 0 and 1 with a few training forwards, then eval. */
function settle(m: Module, x: Float32Array): void {
  m.train();
  noGrad(() => {
    for (let i = 0; i < 3; i++) {
      const xi = tensor(
        x.map((v) => v * (i + 1)),
        X_DIMS,
      );
      if (m instanceof Graph) m.run({ x: xi });
      else m.forward(xi);
    }
  });
  m.eval();
}

function forward(m: Module, x: Float32Array): Float32Array {
  return noGrad(() => m.forward(tensor(x, X_DIMS)).toArray());
}

function sequential(): Sequential {
  const gen = new Generator(1);
  return new Sequential(
    new Conv2d(3, 8, 3, { padding: 1, generator: gen }),
    new BatchNorm2d(8),
    new ReLU(),
    new MaxPool2d(2),
    new Conv2d(8, 8, 3, { padding: 1, groups: 8, bias: false, generator: gen }),
    new BatchNorm2d(8, { activation: 'relu' }),
    new AvgPool2d(2),
    new Conv2d(8, 6, 1, { generator: gen }),
    new Hardswish(),
    new Flatten(),
    new Linear(24, 16, { generator: gen }),
    new BatchNorm1d(16),
    new LeakyReLU(0.1),
    new Linear(16, 12, { generator: gen }),
    new ReLU6(),
    new Hardtanh(-0.5, 2),
    new Hardsigmoid(),
    new Sigmoid(),
    new Tanh(),
    new Dropout(0.3),
    new Linear(12, 5, { generator: gen }),
    new LogSoftmax(1),
  );
}

function graph(): Graph {
  const gen = new Generator(2);
  const g = new Graph();
  const x = g.input('x');
  const stem = g.op('relu', [
    g.layer('bn0', new BatchNorm2d(8), g.layer('conv0', new Conv2d(3, 8, 3, { padding: 1, bias: false, generator: gen }), x)),
  ]);
  let h = g.op('relu', [
    g.layer('bn1', new BatchNorm2d(8), g.layer('conv1', new Conv2d(8, 8, 3, { padding: 1, bias: false, generator: gen }), stem)),
  ]);
  h = g.layer('bn2', new BatchNorm2d(8), g.layer('conv2', new Conv2d(8, 8, 3, { padding: 1, bias: false, generator: gen }), h));
  h = g.op('relu', [g.op('add', [h, stem])]);
  const pooled = g.op('flatten', [g.layer('pool', new AdaptiveAvgPool2d(1), h)], { axis: 1 });
  const w = new Parameter([8, 4], 0);
  w.view().set(gen.fillUniform(new Float32Array(32), -0.5, 0.5));
  g.constant('proj', w);
  const both = g.op('concat', [g.op('matmul', [pooled, 'proj']), g.op('hardtanh', [pooled], { min: -0.3, max: 0.3 })], { axis: 1 });
  g.output('logits', g.layer('fc', new Linear(12, 5, { generator: gen }), both));
  g.output('features', pooled);
  return g;
}

for (const backend of BACKENDS) {
  describe(`toOnnx (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it('a Sequential of every exported layer: onnxruntime-node gives its outputs; loadOnnx gives them bit for bit, with its state names', async () => {
      const m = sequential();
      const x = xData();
      settle(m, x);
      const want = forward(m, x);
      const bytes = toOnnx(m);
      const ort = await runOrt(bytes, { input: { dims: X_DIMS, data: x } });
      expect(ort.output.dims).toEqual([4, 5]);
      expect(maxAbsDiff(ort.output.data, want)).toBeLessThanOrEqual(ORT_TOL);
      // the spatial size is symbolic in the file: the loader is told it
      const back = await loadOnnx(bytes, { fold: false, inputShapes: { input: X_DIMS } });
      expect(bits(forward(back, x))).toEqual(bits(want));
      expect(Object.keys(back.stateDict()).sort()).toEqual(Object.keys(m.stateDict()).sort());
      // folded by default: the same function up to rounding
      const folded = await loadOnnx(bytes, { inputShapes: { input: X_DIMS } });
      expect(maxAbsDiff(forward(folded, x), want)).toBeLessThanOrEqual(ORT_TOL);
      for (const t of [m, back, folded]) t.dispose();
    });

    it('a Graph with a skip connection, a constant, concat and two outputs: onnxruntime-node and loadOnnx give its outputs', async () => {
      const g = graph();
      const x = xData();
      settle(g, x);
      const want = noGrad(() => {
        const o = g.run({ x: tensor(x, X_DIMS) });
        return { logits: o.logits.toArray(), features: o.features.toArray() };
      });
      // the file fixes the input's shape: the loader needs no more
      const bytes = toOnnx(g, { inputShapes: { x: ['batch', 3, 8, 8] } });
      const ort = await runOrt(bytes, { x: { dims: X_DIMS, data: x } });
      expect(maxAbsDiff(ort.logits.data, want.logits)).toBeLessThanOrEqual(ORT_TOL);
      expect(maxAbsDiff(ort.features.data, want.features)).toBeLessThanOrEqual(ORT_TOL);
      const back = await loadOnnx(bytes, { fold: false });
      expect(back.outputNames).toEqual(['logits', 'features']);
      const got = noGrad(() => {
        const o = back.run({ x: tensor(x, X_DIMS) });
        return { logits: o.logits.toArray(), features: o.features.toArray() };
      });
      expect(bits(got.logits)).toEqual(bits(want.logits));
      expect(bits(got.features)).toEqual(bits(want.features));
      expect(Object.keys(back.stateDict()).sort()).toEqual(Object.keys(g.stateDict()).sort());
      g.dispose();
      back.dispose();
    });

    it('refuses what ONNX cannot say, naming the layer', () => {
      const nhwc = new Sequential(new Conv2d(3, 4, 3, { layout: 'NHWC' }));
      expect(() => toOnnx(nhwc)).toThrow("toOnnx: layer 0 (Conv2d): layout NHWC: ONNX's operators are channels-first, export a NCHW model");
      const gn = new Sequential(new Linear(4, 4), new GroupNorm(2, 4));
      expect(() => toOnnx(gn)).toThrow('toOnnx: layer 1 (GroupNorm): no ONNX operator is written for this layer');
      const pool = new Sequential(new AdaptiveAvgPool2d(2));
      expect(() => toOnnx(pool)).toThrow(
        'toOnnx: layer 0 (AdaptiveAvgPool2d): output size [2, 2]: only 1 (global average pooling) is exported',
      );
      expect(() => toOnnx(new ReLU() as never)).toThrow('toOnnx: model: expected a Sequential or a Graph, got');
      for (const m of [nhwc, gn, pool]) m.dispose();
    });
  });
}
