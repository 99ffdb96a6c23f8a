// loadOnnx on the models torch.onnx.export wrote (test/fixtures/onnx): the small BN CNNs against the
// PyTorch outputs stored with them and against onnxruntime-node, folded and unfolded; the
// torchvision topologies (weights from a seeded generator) against onnxruntime-node; on every backend.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, memoryBytes, noGrad, tensor, BatchNorm2d, Conv2d, Linear, type Graph } from '../src/index';
import { loadOnnx } from '../src/onnx/index';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from '../src/onnx/onnx_pb';
import { fillStripped, seededInput } from './onnx_helpers';
import { maxAbsDiff, readOnnxFixture, readTensorPb, runOrt } from './onnx_node_helpers';
import { BACKENDS } from './helpers';

// PyTorch's and onnxruntime's float32 kernels against ours on outputs of order 1: summation order
// differs (im2col GEMM, folded weights), so a few float32 ulps per layer, through ≤ 8 layers.
const SMALL_TOL = 1e-4;
// resnet18 (21 convolutions), mobilenet_v2 (52), squeezenet (26) with seeded weights: the rounding of
// deep stacks of float32 convolutions, relative to the largest output.
const DEEP_REL_TOL = 2e-4;

// bn_training's BatchNormalization nodes have training_mode = 1: its outputs come from batch statistics
const SMALL = [
  { name: 'conv_bn_relu', training: false },
  { name: 'residual', training: false },
  { name: 'depthwise', training: false },
  { name: 'bn_training', training: true },
];
const DEEP = ['resnet18', 'mobilenet_v2', 'squeezenet1_1'];
// 64×64 keeps the deep models quick on the JS backend; every layer's geometry is the one of 224×224
const DEEP_INPUT = [1, 3, 64, 64];

function run(g: Graph, dims: number[], data: Float32Array): Float32Array {
  return noGrad(() => {
    const y = g.forward(tensor(data, dims));
    return y.toArray();
  });
}

/** The model with its input's dims set to `dims` (the exporter fixed 224×224), for onnxruntime. */
function withInputDims(bytes: Uint8Array, dims: number[]): Uint8Array {
  const m = fromBinary(ModelProtoSchema, bytes);
  const t = m.graph!.input[0].type!.value;
  if (t.case !== 'tensorType') throw new Error('withInputDims: expected a tensor input');
  t.value.shape!.dim.forEach((d, i) => (d.value = { case: 'dimValue', value: BigInt(dims[i]) }));
  m.graph!.valueInfo.length = 0; // intermediate shapes recorded for 224×224
  return toBinary(ModelProtoSchema, m);
}

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

for (const backend of BACKENDS) {
  describe(`loadOnnx on torch.onnx.export's models (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    for (const { name, training } of SMALL) {
      it(`${name}: ${training ? 'in training mode' : 'folded and unfolded'}, the outputs of PyTorch and of onnxruntime-node`, async () => {
        const bytes = readOnnxFixture(`${name}.onnx`);
        const x = readTensorPb(`${name}.input.pb`);
        const want = readTensorPb(`${name}.output.pb`).data as Float32Array;
        const ort = (await runOrt(bytes, { input: x })).output.data;
        for (const fold of training ? [false] : [true, false]) {
          const g = await loadOnnx(bytes, { fold, training });
          const y = run(g, x.dims, x.data as Float32Array);
          expect(maxAbsDiff(y, want)).toBeLessThanOrEqual(SMALL_TOL);
          expect(maxAbsDiff(y, ort)).toBeLessThanOrEqual(SMALL_TOL);
          g.dispose();
        }
      });
    }

    for (const name of DEEP) {
      it(`${name} topology, seeded weights: onnxruntime-node's output`, async () => {
        const bytes = withInputDims(fillStripped(readOnnxFixture(`${name}.onnx`), 7), DEEP_INPUT);
        const x = seededInput(DEEP_INPUT, 11);
        const ort = (await runOrt(bytes, { input: { dims: DEEP_INPUT, data: x } })).output.data;
        const g = await loadOnnx(bytes, { inputShapes: { input: DEEP_INPUT } });
        const y = run(g, DEEP_INPUT, x);
        expect(y.length).toBe(1000);
        expect(maxAbsDiff(y, ort)).toBeLessThanOrEqual(DEEP_REL_TOL * maxAbs(ort));
        g.dispose();
      });
    }

    it("the unfolded graph's state is the file's initializers under PyTorch's names; folding leaves Conv2d and Linear only", async () => {
      const bytes = readOnnxFixture('residual.onnx');
      const g = await loadOnnx(bytes, { fold: false });
      const sd = g.stateDict();
      expect(Object.keys(sd)).toContain('stem.0.weight');
      expect(Object.keys(sd)).toContain('stem.1.running_var');
      expect(Object.keys(sd)).toContain('stem.1.num_batches_tracked');
      expect(Object.keys(sd)).toContain('fc.bias');
      const bn = g.children().find(([, m]) => m instanceof BatchNorm2d)![1] as BatchNorm2d;
      // PyTorch's eps 1e-5 and momentum 0.1, written as float32 0.9 (ONNX's complement) and read back
      expect([bn.eps, bn.momentum]).toEqual([1e-5, 0.1]);
      const f = await loadOnnx(bytes);
      expect(f.children().some(([, m]) => m instanceof BatchNorm2d)).toBe(false);
      expect(f.children().filter(([, m]) => m instanceof Conv2d || m instanceof Linear).length).toBe(
        g.children().filter(([, m]) => m instanceof Conv2d || m instanceof Linear).length,
      );
      // a BN followed by its only reader, a ReLU, runs as the fused kernel in the unfolded graph
      expect(g.children().filter(([, m]) => m instanceof BatchNorm2d && m.activation === 'relu').length).toBeGreaterThan(0);
      g.dispose();
      f.dispose();
    });

    it('loading then disposing leaves the memory as it was (folding frees the layers it replaced)', async () => {
      const bytes = readOnnxFixture('depthwise.onnx');
      (await loadOnnx(bytes)).dispose(); // the allocator's first growth
      const before = memoryBytes();
      for (let i = 0; i < 3; i++) (await loadOnnx(bytes)).dispose();
      expect(memoryBytes()).toBe(before);
    });
  });
}
