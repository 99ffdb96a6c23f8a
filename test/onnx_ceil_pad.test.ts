// MaxPool in ceil mode over a free height and width, and Pad on axes other than height and width:
// hand-built ONNX models loaded without input shapes and run at several sizes against
// onnxruntime-node on every backend (max and pad pick values, so the bits are the same); the `pad`
// op's gradient against finite differences of a float64 reference; what stays refused, by name.
import { beforeAll, describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { init, noGrad, tensor, Graph } from '../src/index';
import { loadOnnx, parseOnnx, toOnnx } from '../src/onnx/index';
import { attrInt, attrInts } from '../src/onnx/ir';
import { AvgPool2d, MaxPool2d } from '../src/nn/pool';
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
      expect(() => toOnnx(h, { inputShapes: { x: dims } })).toThrow(
        /^toOnnx: node 'q' \(pad\): its end pads follow a ceil_mode window \[2, 2\] \/ \[2, 2\] and the input's size, which ONNX's Pad cannot hold; .* but its value is 0, not −Infinity/,
      );
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

    it('toOnnx writes a loaded MaxPool in ceil mode (a pad op and a MaxPool2d) back as that MaxPool: onnxruntime’s bits at two sizes', async () => {
      const bytes = model();
      const g = await loadOnnx(bytes);
      expect(g.nodes.filter((n) => n.kind === 'op' && n.op === 'pad' && n.attrs.window !== undefined).length).toBe(2);
      const again = toOnnx(g, { inputShapes: { x: ['N', 3, 'H', 'W'] } });
      const written = parseOnnx(again).nodes;
      const ceil = written.filter((n) => n.op === 'MaxPool').map((n) => [attrInt(n, 'ceil_mode', 0), attrInts(n, 'pads', [])]);
      expect(ceil).toEqual([
        [1, [1, 0, 0, 1]],
        [1, [0, 0, 0, 0]],
      ]);
      // the Pads left are the channel and batch pads of the file, no pad sized by a window
      expect(written.filter((n) => n.op === 'Pad').length).toBe(2);
      const back = await loadOnnx(again);
      // 9 rows reach one extra row in pool1's last window, 10 none
      for (const dims of SIZES.slice(0, 2)) {
        const x = seededInput(dims, dims[2] * dims[3]);
        const [a, b] = await Promise.all([runOrt(bytes, { x: { dims, data: x } }), runOrt(again, { x: { dims, data: x } })]);
        const xt = tensor(x, dims);
        const ours = noGrad(() => back.run({ x: xt }));
        const first = noGrad(() => g.run({ x: xt }));
        for (const k of ['y', 'y2', 'y3', 'y4']) {
          expect(b[k].dims, `${k} at [${dims.join(', ')}]`).toEqual(a[k].dims);
          expect(bits(b[k].data), `${k} at [${dims.join(', ')}]`).toEqual(bits(a[k].data));
          // loadOnnx(toOnnx(g)) runs bit for bit as g
          expect(bits(ours[k].toArray()), `${k} at [${dims.join(', ')}]`).toEqual(bits(first[k].toArray()));
          ours[k].dispose();
          first[k].dispose();
        }
        xt.dispose();
      }
      back.dispose();
      g.dispose();
    });

    it('toOnnx refuses a pad op sized by a ceil_mode window that is not before a MaxPool2d of its window, naming the node and why', () => {
      const refused = (build: (g: Graph, p: string) => void, pads: number[], value: number, why: RegExp) => {
        const g = new Graph();
        const p = g.op('pad', [g.input('x')], { pads, value, window: [3, 2, 2, 2] }, 'p');
        build(g, p);
        expect(() => toOnnx(g, { inputShapes: { x: ['N', 3, 'H', 'W'] } })).toThrow(
          /^toOnnx: node 'p' \(pad\): its end pads follow a ceil_mode window \[3, 2\] \/ \[2, 2\] and the input's size/,
        );
        expect(() => toOnnx(g, { inputShapes: { x: ['N', 3, 'H', 'W'] } })).toThrow(why);
        g.dispose();
      };
      const hw = [0, 0, 1, 0, 0, 0, 0, 1];
      const pool = (k: [number, number], s: [number, number]) => (g: Graph, p: string) =>
        g.output('y', g.layer('pool', new MaxPool2d(k, { stride: s }), p));
      refused(
        pool([3, 2], [1, 1]),
        hw,
        -Infinity,
        /but node 'pool' \(MaxPool2d\) reads it, not an unpadded channels-first MaxPool2d of that window and stride$/,
      );
      refused(
        pool([2, 2], [2, 2]),
        hw,
        -Infinity,
        /but node 'pool' \(MaxPool2d\) reads it, not an unpadded channels-first MaxPool2d of that window and stride$/,
      );
      refused(
        (g, p) => g.output('y', g.layer('pool', new MaxPool2d([3, 2], { stride: 2, padding: [1, 1] }), p)),
        hw,
        -Infinity,
        /but node 'pool' \(MaxPool2d\) reads it, not an unpadded channels-first MaxPool2d of that window and stride$/,
      );
      refused(
        (g, p) => g.output('y', g.layer('pool', new AvgPool2d([3, 2], { stride: 2 }), p)),
        hw,
        0,
        /but its value is 0, not −Infinity/,
      );
      refused(
        (g, p) => g.output('y', g.op('relu', [p], {}, 'r')),
        hw,
        -Infinity,
        /but node 'r' \(relu\) reads it, not an unpadded channels-first MaxPool2d of that window and stride$/,
      );
      refused(
        (g, p) => g.output('y', g.layer('pool', new MaxPool2d([3, 2], { stride: 2 }), g.op('pad', [p], { pads: hw.map(() => 0) }, 'q'))),
        hw,
        -Infinity,
        /but node 'q' \(pad\) reads it, not an unpadded channels-first MaxPool2d of that window and stride$/,
      );
      refused(
        pool([3, 2], [2, 2]),
        [0, 1, 1, 0, 0, 0, 0, 1],
        -Infinity,
        /but its pads \[0, 1, 1, 0, 0, 0, 0, 1\] are not those of the height and width/,
      );
      refused(
        pool([3, 2], [2, 2]),
        [0, 0, 3, 0, 0, 0, 0, 1],
        -Infinity,
        /but its pads \[0, 0, 3, 0, 0, 0, 0, 1\] are not each smaller than the window/,
      );
      refused(
        (g, p) => {
          g.output('y', g.layer('pool', new MaxPool2d([3, 2], { stride: 2 }), p));
          g.output('padded', p);
        },
        hw,
        -Infinity,
        /but it is an output of the graph$/,
      );
      // the same pair with nothing else reading the pad is written
      const g = new Graph();
      g.output(
        'y',
        g.layer(
          'pool',
          new MaxPool2d([3, 2], { stride: 2 }),
          g.op('pad', [g.input('x')], { pads: hw, value: -Infinity, window: [3, 2, 2, 2] }, 'p'),
        ),
      );
      const nodes = parseOnnx(toOnnx(g, { inputShapes: { x: ['N', 3, 'H', 'W'] } })).nodes;
      expect(nodes.map((n) => [n.op, n.inputs[0], attrInt(n, 'ceil_mode', 0), attrInts(n, 'pads', [])])).toEqual([
        ['MaxPool', 'x', 1, [1, 0, 0, 1]],
        ['Identity', 'pool', 0, []],
      ]);
      g.dispose();
    });
  });
}
