// Models exported by torch.onnx.export (scripts/gen_onnx_fixtures.py): each parses, folds to compute
// operators only, re-encodes at opset 17, and onnxruntime-node gives the re-encoded model the outputs
// of the original. The small CNNs carry PyTorch's output for their input too; the torchvision
// topologies carry no weights and get them from a seeded generator.
import { describe, expect, it } from 'vitest';
import { COMPUTE_OPS, encodeOnnx, foldOnnx, parseOnnx, type OnnxModel } from '../src/onnx/index';
import { fillStripped, seededInput } from './onnx_helpers';
import { maxAbsDiff, readOnnxFixture, readTensorPb, runOrt } from './onnx_node_helpers';

// The re-encoded graph is the original's compute nodes with the same weights; onnxruntime may still
// fuse them differently (a Reshape where there was a Shape subgraph), so allow float32 rounding of
// outputs of order 1-10 rather than bit equality.
const REENCODE_TOL = 1e-5;
// PyTorch (float32 CPU kernels) against onnxruntime on the same small models.
const TORCH_TOL = 1e-4;

const SMALL = [
  { name: 'conv_bn_relu', opset: 11, ops: ['Conv', 'BatchNormalization', 'Relu', 'MaxPool', 'Reshape', 'Gemm'] },
  { name: 'residual', opset: 13, ops: ['Conv', 'BatchNormalization', 'Relu', 'Add', 'GlobalAveragePool', 'Flatten', 'Gemm'] },
  {
    name: 'depthwise',
    opset: 17,
    ops: [
      'Conv',
      'BatchNormalization',
      'Clip',
      'HardSwish',
      'Relu',
      'HardSigmoid',
      'Mul',
      'AveragePool',
      'GlobalAveragePool',
      'Flatten',
      'Gemm',
      'LogSoftmax',
    ],
  },
  { name: 'bn_training', opset: 15, ops: ['Conv', 'BatchNormalization', 'Relu', 'Flatten', 'Gemm'] },
];
const STRIPPED = [
  { name: 'resnet18', opset: 17, out: [1, 1000] },
  { name: 'mobilenet_v2', opset: 13, out: [1, 1000] },
  { name: 'squeezenet1_1', opset: 12, out: [1, 1000] },
];

function opsOf(m: OnnxModel): string[] {
  return [...new Set(m.nodes.map((n) => n.op))];
}

async function sameOutputs(original: Uint8Array, folded: OnnxModel, feeds: Parameters<typeof runOrt>[1]): Promise<number> {
  const [a, b] = await Promise.all([runOrt(original, feeds), runOrt(encodeOnnx(folded), feeds)]);
  let worst = 0;
  for (const o of folded.outputs) {
    expect(b[o.name].dims).toEqual(a[o.name].dims);
    worst = Math.max(worst, maxAbsDiff(a[o.name].data, b[o.name].data));
  }
  return worst;
}

describe('ONNX fixtures from torch.onnx.export', () => {
  for (const f of SMALL) {
    it(`${f.name} (opset ${f.opset}): folds to compute operators; onnxruntime runs original and re-encoded alike, near PyTorch`, async () => {
      const bytes = readOnnxFixture(`${f.name}.onnx`);
      const x = readTensorPb(`${f.name}.input.pb`);
      const want = readTensorPb(`${f.name}.output.pb`);
      const model = parseOnnx(bytes);
      expect(model.opset).toBe(f.opset);
      expect(model.producer).toBe('pytorch');
      const folded = foldOnnx(model, { input: x.dims });
      expect(opsOf(folded).sort()).toEqual([...f.ops].sort());
      expect(folded.nodes.every((n) => COMPUTE_OPS.has(n.op))).toBe(true);
      expect(folded.shapes.get('output')).toEqual(want.dims);
      const feeds = { input: x };
      expect(await sameOutputs(bytes, folded, feeds)).toBeLessThanOrEqual(REENCODE_TOL);
      const ort = await runOrt(bytes, feeds);
      expect(maxAbsDiff(ort.output.data, want.data as Float32Array)).toBeLessThanOrEqual(TORCH_TOL);
    });
  }

  it('conv_bn_relu: x.view(x.size(0), -1) folds to Reshape [0, -1] for a symbolic batch and [N, -1] for a given one', () => {
    const model = parseOnnx(readOnnxFixture('conv_bn_relu.onnx'));
    expect(model.inputs[0].shape).toEqual(['batch', 1, 12, 12]);
    expect(model.nodes.map((n) => n.op)).toEqual(expect.arrayContaining(['Shape', 'Gather', 'Unsqueeze', 'Concat']));
    const symbolic = foldOnnx(model);
    const reshape = (m: OnnxModel) => m.nodes.find((n) => n.op === 'Reshape')!;
    expect(reshape(symbolic).attrs.shape).toEqual({ type: 'ints', value: [0, -1] });
    expect(reshape(symbolic).inputs).toHaveLength(1);
    expect(symbolic.shapes.get('output')).toEqual(['batch', 10]);
    const five = foldOnnx(model, { input: [5, 1, 12, 12] });
    expect(reshape(five).attrs.shape).toEqual({ type: 'ints', value: [5, -1] });
    expect(five.shapes.get('output')).toEqual([5, 10]);
    // the shape subgraph's int64 constants are gone; the weights remain
    expect([...five.initializers.values()].every((t) => t.dtype === 'float32')).toBe(true);
  });

  it('conv_bn_relu folded for a symbolic batch runs in onnxruntime at any batch, like the original', async () => {
    const bytes = readOnnxFixture('conv_bn_relu.onnx');
    const encoded = encodeOnnx(foldOnnx(parseOnnx(bytes)));
    for (const n of [1, 5]) {
      const feeds = { input: { dims: [n, 1, 12, 12], data: seededInput([n, 1, 12, 12], n) } };
      const [a, b] = await Promise.all([runOrt(bytes, feeds), runOrt(encoded, feeds)]);
      expect(b.output.dims).toEqual([n, 10]);
      expect(maxAbsDiff(a.output.data, b.output.data)).toBeLessThanOrEqual(REENCODE_TOL);
    }
  });

  it('bn_training: BatchNormalization keeps training_mode = 1 and its running-statistics outputs', () => {
    const folded = foldOnnx(parseOnnx(readOnnxFixture('bn_training.onnx')));
    const bn = folded.nodes.find((n) => n.op === 'BatchNormalization')!;
    expect(bn.attrs.training_mode).toEqual({ type: 'int', value: 1 });
    expect(bn.outputs.filter((o) => o !== '')).toHaveLength(3);
    expect(folded.shapes.get(bn.outputs[1])).toEqual([4]);
  });

  for (const f of STRIPPED) {
    it(`${f.name} (opset ${f.opset}, weights stripped): refused as it is; filled, it folds and re-encodes to the same outputs`, async () => {
      const stripped = readOnnxFixture(`${f.name}.onnx`);
      expect(stripped.length).toBeLessThan(64 * 1024);
      expect(() => parseOnnx(stripped)).toThrow(
        /^parseOnnx: initializer '.*': expected \d+ float32 elements for dims \[.*\], got 0 listed elements$/,
      );
      const bytes = fillStripped(stripped, 7);
      const folded = foldOnnx(parseOnnx(bytes));
      expect(folded.nodes.every((n) => COMPUTE_OPS.has(n.op))).toBe(true);
      expect(folded.shapes.get(folded.outputs[0].name)).toEqual(f.out);
      const x = { dims: [1, 3, 224, 224], data: seededInput([1, 3, 224, 224], 3) };
      expect(await sameOutputs(bytes, folded, { [folded.inputs[0].name]: x })).toBeLessThanOrEqual(REENCODE_TOL);
    });
  }
});
