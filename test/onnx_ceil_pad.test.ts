// MaxPool in ceil mode over a free height and width, and Pad on axes other than height and width:
// hand-built ONNX models loaded without input shapes and run at several sizes against
// onnxruntime-node on every backend (max and pad pick values, so the bits are the same); the `pad`
// op's gradient against finite differences of a float64 reference; what stays refused, by name.
import { beforeAll, describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { init, noGrad, tensor, Graph } from '../src/index';
import { loadOnnx, toOnnx } from '../src/onnx/index';
import { TensorProto_DataType, ValueInfoProtoSchema, type ValueInfoProto } from '../src/onnx/onnx_pb';
import { encodeProto, floatTensor, int64Tensor, modelProto, node, seededInput } from './onnx_helpers';
import { maxAbsDiff, runOrt } from './onnx_node_helpers';
import { check } from './autograd_check';
import { BACKENDS, bits } from './helpers';

/** A float32 value whose dims are numbers or free names. */
function value(name: string, dims: (number | string)[]): ValueInfoProto {
  const dim = dims.map((d) =>
    typeof d === 'number' ? { value: { case: 'dimValue' as const, value: BigInt(d) } } : { value: { case: 'dimParam' as const, value: d } },
  );
  return create(ValueInfoProtoSchema, {
    name,
    type: { value: { case: 'tensorType', value: { elemType: TensorProto_DataType.FLOAT, shape: { dim } } } },
  });
}

/**
 * x [N, 3, H, W] → Pad on the channels (0.5) → MaxPool [3, 2] / 2, pads [1, 0, 0, 1], ceil → MaxPool 2 / 2, ceil → y;
 * x → Pad on the batch and the width (−1.5) → y2; x → AveragePool in ceil mode, count_include_pad 0 and 1 → y3, y4.
 */
function model(averagesOnly = false): Uint8Array {
  const m = modelProto({
    nodes: [
      node('Pad', ['x', 'pc', 'vc'], ['p'], {}, 'pad_channels'),
      node('MaxPool', ['p'], ['m'], { kernel_shape: [3, 2], strides: [2, 2], pads: [1, 0, 0, 1], ceil_mode: 1 }, 'pool1'),
      node('MaxPool', ['m'], ['y'], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 }, 'pool2'),
      node('Pad', ['x', 'pb', 'vb'], ['y2'], {}, 'pad_batch'),
      node('AveragePool', ['x'], ['y3'], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 0, 0, 1], ceil_mode: 1 }, 'avg_exclude'),
      node(
        'AveragePool',
        ['x'],
        ['y4'],
        { kernel_shape: [2, 3], strides: [2, 2], pads: [0, 1, 1, 1], ceil_mode: 1, count_include_pad: 1 },
        'avg_include',
      ),
    ],
    initializers: [
      int64Tensor('pc', [0, 1, 0, 0, 0, 2, 0, 0]),
      floatTensor('vc', [], [0.5]),
      int64Tensor('pb', [1, 0, 0, 0, 0, 0, 0, 2]),
      floatTensor('vb', [], [-1.5]),
    ],
    inputs: [value('x', ['N', 3, 'H', 'W'])],
    outputs: [
      value('y', ['N', 6, 'h', 'w']),
      value('y2', ['n', 3, 'H', 'w2']),
      value('y3', ['N', 3, 'h3', 'w3']),
      value('y4', ['N', 3, 'h4', 'w4']),
    ],
  });
  if (averagesOnly) {
    m.graph!.node = m.graph!.node.filter((n) => n.opType === 'AveragePool');
    m.graph!.output = m.graph!.output.slice(2);
  }
  return encodeProto(m);
}

// onnxruntime's float32 average against ours (a padded sum times kh·kw / count: one more rounding) on inputs in [−1, 1]
const AVG_TOL = 1e-6;

const SIZES = [
  [2, 3, 9, 8],
  [1, 3, 10, 7],
  [3, 3, 5, 6],
];

for (const backend of BACKENDS) {
  describe(`ONNX ceil_mode on a free height and width, Pad on any axis (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it('loaded without input shapes: onnxruntime-node’s outputs, bit for bit, at every size and back again', async () => {
      const bytes = model();
      const g = await loadOnnx(bytes);
      for (const dims of [...SIZES, ...SIZES]) {
        const x = seededInput(dims, dims[2] + dims[3]);
        const want = await runOrt(bytes, { x: { dims, data: x } });
        const xt = tensor(x, dims);
        const got = noGrad(() => g.run({ x: xt }));
        for (const k of ['y', 'y2', 'y3', 'y4']) {
          expect(got[k].shape, `${k} at [${dims.join(', ')}]`).toEqual(want[k].dims);
          // max and pad pick values: the same bits; an average sums in another order than onnxruntime's, then scales
          if (k === 'y' || k === 'y2') expect(bits(got[k].toArray()), `${k} at [${dims.join(', ')}]`).toEqual(bits(want[k].data));
          else expect(maxAbsDiff(got[k].toArray(), want[k].data), `${k} at [${dims.join(', ')}]`).toBeLessThan(AVG_TOL);
          got[k].dispose();
        }
        xt.dispose();
      }
      g.dispose();
    });

    it('the pad op: its gradient is the input region’s (finite differences), with and without a ceil_mode window', () => {
      const pads = [0, 1, 2, 0, 1, 0, 1, 1];
      const dims = [2, 2, 5, 4];
      for (const window of [undefined, [3, 2, 2, 2]]) {
        // the window adds end rows: 5 rows padded 2 + 1 with k 3, s 2 reach one more (ceil mode); 4 columns padded 0 + 1 with k 2, s 2 none
        const out = dims.map((d, i) => d + pads[i] + pads[4 + i] + (window !== undefined && i === 2 ? 1 : 0));
        check(
          [dims],
          ([a]) => {
            const g = new Graph();
            g.output('y', g.op('pad', [g.input('a')], window ? { pads, value: 0.25, window } : { pads, value: 0.25 }));
            const y = g.forward(a);
            expect(y.shape).toEqual(out);
            return y;
          },
          ([a]) => {
            const y = new Float64Array(out.reduce((p, d) => p * d, 1)).fill(0.25);
            for (let i = 0; i < a.length; i++) {
              let r = i,
                o = 0;
              for (let d = 3, st = 1; d >= 0; st *= out[d], d--) {
                o += ((r % dims[d]) + pads[d]) * st;
                r = Math.floor(r / dims[d]);
              }
              y[o] = a[i];
            }
            return y;
          },
        );
      }
    });

    it('what stays refused names the node, the op, the attribute and why', async () => {
      const refused = async (n: ReturnType<typeof node>, extra: Parameters<typeof modelProto>[0]['initializers'] = []) =>
        loadOnnx(
          encodeProto(modelProto({ nodes: [n], initializers: extra, inputs: [value('x', ['N', 3, 'H', 'W'])], outputs: [value('y', [])] })),
        );
      await expect(
        refused(node('Pad', ['x', 'p'], ['y'], { mode: 'reflect' }, 'mirror'), [int64Tensor('p', [0, 0, 1, 1, 0, 0, 1, 1])]),
      ).rejects.toThrow(
        /^loadOnnx: node 'mirror' \(Pad\): mode 'reflect': only 'constant' is supported \(the package has no reflect, edge or wrap padding kernel\)/,
      );
      await expect(refused(node('MaxPool', ['x'], ['y'], { kernel_shape: [2, 2], pads: [2, 0, 0, 0] }, 'wide'))).rejects.toThrow(
        /^loadOnnx: node 'wide' \(MaxPool\): pads \[2, 0, 0, 0\]: expected each smaller than the window \[2, 2\]/,
      );
    });

    it('toOnnx writes a fixed pad op as Pad and refuses one sized by a ceil_mode window, by name', async () => {
      const g = new Graph();
      g.output('y', g.op('pad', [g.input('x')], { pads: [0, 1, 0, 0, 1, 0, 0, 2], value: -2 }, 'p'));
      const dims = [1, 2, 3, 4];
      const x = seededInput(dims, 5);
      const want = noGrad(() => g.forward(tensor(x, dims)).toArray());
      const got = await runOrt(toOnnx(g, { inputShapes: { x: dims } }), { x: { dims, data: x } });
      expect(bits(got.y.data)).toEqual(bits(want));
      const h = new Graph();
      h.output('y', h.op('pad', [h.input('x')], { pads: [0, 0, 0, 0, 0, 0, 0, 0], window: [2, 2, 2, 2] }, 'q'));
      expect(() => toOnnx(h, { inputShapes: { x: dims } })).toThrow(/node 'q' \(pad\): its end pads follow a ceil_mode window/);
      // a loaded AveragePool in ceil mode over a free size is written back as it was: onnxruntime gives the same outputs
      const loaded = await loadOnnx(model(true));
      const again = toOnnx(loaded, { inputShapes: { x: ['N', 3, 'H', 'W'] } });
      const big = [1, 3, 11, 9];
      const xb = seededInput(big, 8);
      const [a, b] = await Promise.all([
        runOrt(model(true), { x: { dims: big, data: xb } }),
        runOrt(again, { x: { dims: big, data: xb } }),
      ]);
      for (const k of ['y3', 'y4']) expect(bits(b[k].data), k).toEqual(bits(a[k].data));
      loaded.dispose();
      g.dispose();
      h.dispose();
    });
  });
}
