// Padding and HardSigmoid through ONNX, on every backend: a model of uneven Conv and pool pads
// (auto_pad SAME with even kernels), AveragePool with count_include_pad = 0, HardSigmoid with its
// own alpha and beta, loaded and compared with onnxruntime-node; a Sequential of the padding layers,
// AvgPool2d(countIncludePad: false) and Hardsigmoid exported, run by onnxruntime-node, and loaded
// back bit for bit.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AvgPool2d,
  ConstantPad2d,
  Conv2d,
  Generator,
  Hardsigmoid,
  init,
  MaxPool2d,
  noGrad,
  ReLU,
  Sequential,
  tensor,
  ZeroPad2d,
  type Graph,
} from '../src/index';
import { loadOnnx, toOnnx } from '../src/onnx/index';
import { encodeProto, floatTensor, floatValue, modelProto, node, seededInput } from './onnx_helpers';
import { maxAbsDiff, readOnnxFixture, readTensorPb, runOrt } from './onnx_node_helpers';
import { BACKENDS, bits } from './helpers';

// onnxruntime's (and PyTorch's) float32 kernels against ours on outputs of order 1 through a few layers; the
// count_include_pad = 0 correction multiplies the zero-padded mean by kh·kw/count (one more rounding)
const ORT_TOL = 1e-5;

const X = [2, 3, 9, 8];

/** Conv (SAME_UPPER, even kernel) → HardSigmoid(0.3, 0.4) → AveragePool (SAME_UPPER, exclude) → MaxPool (SAME_LOWER) → Conv (pads [1, 0, 2, 1]). */
function model(): Uint8Array {
  const g = new Generator(4);
  const w = (dims: number[]) =>
    floatTensor(`w${dims.join('x')}`, dims, g.fillUniform(new Float32Array(dims.reduce((a, b) => a * b, 1)), -0.4, 0.4));
  return encodeProto(
    modelProto({
      nodes: [
        node('Conv', ['x', 'w6x3x2x2', 'b6'], ['c1'], { kernel_shape: [2, 2], auto_pad: 'SAME_UPPER' }, 'conv1'),
        node('HardSigmoid', ['c1'], ['h'], { alpha: 0.3, beta: 0.4 }, 'gate'),
        node('AveragePool', ['h'], ['a'], { kernel_shape: [2, 3], strides: [2, 1], auto_pad: 'SAME_UPPER' }, 'avg'),
        node('MaxPool', ['a'], ['m'], { kernel_shape: [2, 2], auto_pad: 'SAME_LOWER' }, 'max'),
        node('Conv', ['m', 'w4x6x3x3'], ['y'], { kernel_shape: [3, 3], pads: [1, 0, 2, 1], strides: [1, 2] }, 'conv2'),
      ],
      initializers: [w([6, 3, 2, 2]), floatTensor('b6', [6], g.fillUniform(new Float32Array(6), -0.2, 0.2)), w([4, 6, 3, 3])],
      inputs: [floatValue('x', X)],
      outputs: [floatValue('y', [])],
    }),
  );
}

function sequential(): Sequential {
  const gen = new Generator(7);
  return new Sequential(
    new ZeroPad2d([1, 0, 2, 1]),
    new Conv2d(3, 5, 3, { generator: gen }),
    new ReLU(),
    new ConstantPad2d([0, 1, 1, 0], -1.5),
    new MaxPool2d(2, { stride: 1 }),
    new AvgPool2d(3, { padding: 1, countIncludePad: false }),
    new AvgPool2d([2, 3], { stride: 1, padding: [1, 1] }),
    new Hardsigmoid(),
  );
}

const run = (g: Graph | Sequential, x: Float32Array) => noGrad(() => g.forward(tensor(x, X)).toArray());

for (const backend of BACKENDS) {
  describe(`ONNX padding and HardSigmoid (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it('uneven pads, count_include_pad = 0 and HardSigmoid(0.3, 0.4): onnxruntime-node gives the loaded graph’s outputs', async () => {
      const bytes = model();
      const x = seededInput(X, 11);
      const want = (await runOrt(bytes, { x: { dims: X, data: x } })).y;
      const g = await loadOnnx(bytes);
      const got = noGrad(() => g.forward(tensor(x, X)));
      expect(got.shape).toEqual(want.dims);
      expect(maxAbsDiff(got.toArray(), want.data)).toBeLessThanOrEqual(ORT_TOL);
      // written back and loaded again: the same function, bit for bit
      const again = await loadOnnx(toOnnx(g, { inputShapes: { x: X } }));
      expect(bits(run(again, x))).toEqual(bits(got.toArray()));
      g.dispose();
      again.dispose();
    });

    it('ceil_mode = 1 (MaxPool, AveragePool counting its pads or not): onnxruntime-node gives the loaded graph’s outputs', async () => {
      const pool = (op: string, attrs: Record<string, number | number[]>) =>
        encodeProto(
          modelProto({
            nodes: [node(op, ['x'], ['y'], { ceil_mode: 1, ...attrs }, 'pool')],
            initializers: [],
            inputs: [floatValue('x', X)],
            outputs: [floatValue('y', [])],
          }),
        );
      const cases: [string, Record<string, number | number[]>][] = [
        ['MaxPool', { kernel_shape: [3, 3], strides: [2, 2] }], // squeezenet's pools: 9×8 → 4×4 (floor: 4×3)
        ['MaxPool', { kernel_shape: [2, 3], strides: [2, 2], pads: [1, 0, 0, 1] }],
        ['AveragePool', { kernel_shape: [2, 2], strides: [2, 2], count_include_pad: 0 }],
        ['AveragePool', { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 }],
        ['AveragePool', { kernel_shape: [3, 2], strides: [2, 3], pads: [1, 0, 1, 1], count_include_pad: 0 }],
      ];
      const x = seededInput(X, 13);
      for (const [op, attrs] of cases) {
        const bytes = pool(op, attrs);
        const want = (await runOrt(bytes, { x: { dims: X, data: x } })).y;
        const g = await loadOnnx(bytes);
        const got = noGrad(() => g.forward(tensor(x, X)));
        expect(got.shape, `${op} ${JSON.stringify(attrs)}`).toEqual(want.dims);
        expect(maxAbsDiff(got.toArray(), want.data), `${op} ${JSON.stringify(attrs)}`).toBeLessThanOrEqual(ORT_TOL);
        g.dispose();
      }
    });

    it("a PyTorch export (ZeroPad2d, ConstantPad2d as Pad with a shape subgraph, count_include_pad=False): PyTorch's outputs", async () => {
      const x = readTensorPb('torch_pads.input.pb');
      const want = readTensorPb('torch_pads.output.pb');
      const g = await loadOnnx(readOnnxFixture('torch_pads.onnx'));
      const y = noGrad(() => g.forward(tensor(x.data as Float32Array, x.dims)));
      expect(y.shape).toEqual(want.dims);
      expect(maxAbsDiff(y.toArray(), want.data as Float32Array)).toBeLessThanOrEqual(ORT_TOL);
      g.dispose();
    });

    it('a Sequential of ZeroPad2d, ConstantPad2d, AvgPool2d(countIncludePad: false) and Hardsigmoid: exported, run by onnxruntime-node, loaded back bit for bit', async () => {
      const m = sequential().eval();
      const x = seededInput(X, 12);
      const mine = run(m, x);
      const bytes = toOnnx(m); // input shape from the Conv after the padding layer
      const ort = (await runOrt(bytes, { input: { dims: X, data: x } })).output;
      expect(maxAbsDiff(ort.data, mine)).toBeLessThanOrEqual(ORT_TOL);
      const g = await loadOnnx(bytes);
      expect(bits(run(g, x))).toEqual(bits(mine));
      g.dispose();
      m.dispose();
    });
  });
}
