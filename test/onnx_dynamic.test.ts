// Files whose height and width are free (a PyTorch export with dynamic axes, or toOnnx without
// inputShapes) load without inputShapes and run at any size: against the module they came from
// (bit for bit, unfolded) and onnxruntime-node on the same file at each size. On every backend.
import { beforeAll, describe, expect, it } from 'vitest';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  init,
  noGrad,
  tensor,
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  Flatten,
  Generator,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
  type Module,
} from '../src/index';
import { loadOnnx } from '../src/onnx/index';
import { toOnnx } from '../src/onnx/index';
import { ModelProtoSchema } from '../src/onnx/onnx_pb';
import { seededInput } from './onnx_helpers';
import { maxAbsDiff, readOnnxFixture, runOrt } from './onnx_node_helpers';
import { BACKENDS, bits } from './helpers';

// onnxruntime's float32 kernels against ours on outputs of order 1 through ≤ 10 layers
const ORT_TOL = 1e-4;
const SIZES = [
  [1, 3, 16, 16],
  [2, 3, 21, 13], // odd sizes: the strided layers' floor rounding
];

const forward = (m: Module, dims: number[], x: Float32Array) => noGrad(() => m.forward(tensor(x, dims)).toArray());

/** The file with every dim of its first input made symbolic (batch, h, w free) and no recorded intermediate shapes. */
function freeInput(bytes: Uint8Array): Uint8Array {
  const m = fromBinary(ModelProtoSchema, bytes);
  const t = m.graph!.input[0].type!.value;
  if (t.case !== 'tensorType') throw new Error('freeInput: expected a tensor input');
  const names = ['batch', 'channels', 'height', 'width'];
  t.value.shape!.dim.forEach((d, i) => {
    if (i !== 1) d.value = { case: 'dimParam', value: names[i] };
  });
  m.graph!.valueInfo.length = 0;
  for (const o of m.graph!.output) if (o.type?.value.case === 'tensorType') o.type.value.value.shape = undefined;
  return toBinary(ModelProtoSchema, m);
}

for (const backend of BACKENDS) {
  describe(`ONNX files with a free height and width (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it("toOnnx without inputShapes, loadOnnx without inputShapes: the module's outputs at every size", async () => {
      const gen = new Generator(3);
      const m = new Sequential(
        new Conv2d(3, 4, 3, { padding: 1, generator: gen }),
        new BatchNorm2d(4),
        new ReLU(),
        new MaxPool2d(2),
        new Conv2d(4, 6, 3, { stride: 2, padding: 1, generator: gen }),
        new BatchNorm2d(6),
        new ReLU(),
        new AdaptiveAvgPool2d(1),
        new Flatten(),
        new Linear(6, 3, { generator: gen }),
      );
      m.train();
      noGrad(() => m.forward(tensor(seededInput(SIZES[0], 1), SIZES[0])));
      m.eval();
      const bytes = toOnnx(m);
      const back = await loadOnnx(bytes, { fold: false });
      const folded = await loadOnnx(bytes);
      for (const dims of SIZES) {
        const x = seededInput(dims, 2);
        const want = forward(m, dims, x);
        expect(bits(forward(back, dims, x))).toEqual(bits(want));
        expect(maxAbsDiff(forward(folded, dims, x), want)).toBeLessThanOrEqual(ORT_TOL);
        const ort = await runOrt(bytes, { input: { dims, data: x } });
        expect(maxAbsDiff(ort.output.data, want)).toBeLessThanOrEqual(ORT_TOL);
      }
      for (const t of [m, back, folded]) t.dispose();
    });

    it("PyTorch's residual export with its height and width made free: onnxruntime-node's outputs at every size", async () => {
      const bytes = freeInput(readOnnxFixture('residual.onnx'));
      const g = await loadOnnx(bytes);
      for (const dims of SIZES) {
        const x = seededInput(dims, 4);
        const ort = await runOrt(bytes, { input: { dims, data: x } });
        const y = forward(g, dims, x);
        expect(y.length).toBe(dims[0] * 5);
        expect(maxAbsDiff(y, ort.output.data)).toBeLessThanOrEqual(ORT_TOL);
      }
      g.dispose();
    });
  });
}
