// ONNX pools in ceil_mode over a free height and width, loaded for training: the input's gradient
// through the `pad` op + MaxPool2d and through OnnxAvgPoolCeil against central differences of a
// float64 reference of ONNX's pooling, at two sizes whose ceil-mode extra rows differ; a CNN with
// both pools fine-tuned with fit (its convolution's gradient against central differences at both
// sizes); a training step leaves no memory behind; the bad arguments of the layer and of the op.
import { beforeAll, describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { init, fit, memoryBytes, noGrad, tensor, Adam, F, Graph, MaxPool2d } from '../src/index';
import { loadOnnx } from '../src/onnx/index';
import { OnnxAvgPoolCeil } from '../src/onnx/pool_onnx';
import { TensorProto_DataType, ValueInfoProtoSchema, type ValueInfoProto } from '../src/onnx/onnx_pb';
import { encodeProto, floatTensor, modelProto, node, seededInput } from './onnx_helpers';
import { check } from './autograd_check';
import { runOrt } from './onnx_node_helpers';
import { countAllocations } from './alloc_count';
import { BACKENDS } from './helpers';

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

type Kind = 'max' | 'avg_exclude' | 'avg_include';

/** The window of every case: [3, 3] by [2, 2], pads [top 1, left 0, bottom 0, right 1]. */
const K = [3, 3],
  S = [2, 2],
  P = [1, 0, 0, 1];

/** x [N, 2, H, W] (H and W free) → one pool in ceil mode → y. */
function poolModel(kind: Kind): Uint8Array {
  const attrs: Record<string, number | number[]> = { kernel_shape: K, strides: S, pads: P, ceil_mode: 1 };
  if (kind === 'avg_include') attrs.count_include_pad = 1;
  return encodeProto(
    modelProto({
      nodes: [node(kind === 'max' ? 'MaxPool' : 'AveragePool', ['x'], ['y'], attrs, 'pool')],
      initializers: [],
      inputs: [value('x', ['N', 2, 'H', 'W'])],
      outputs: [value('y', ['N', 2, 'h', 'w'])],
    }),
  );
}

/** ONNX's ceil-mode output length: a window that would start in the end padding is dropped. */
function outLength(size: number, lo: number, hi: number, k: number, s: number): number {
  let n = Math.ceil((size + lo + hi - k) / s) + 1;
  if ((n - 1) * s >= size + lo) n--;
  return n;
}

/** The rows past the input and its end pad that the last window reaches (ceil mode's extra). */
function extraOf(size: number, lo: number, hi: number, k: number, s: number): number {
  return Math.max((outLength(size, lo, hi, k, s) - 1) * s + k - (size + lo + hi), 0);
}

/**
 * float64 ONNX MaxPool / AveragePool over [N, C, H, W] as its spec and onnxruntime define them: each
 * window clipped to the input for the max and the sum; the divisor counts the window's pixels in the
 * input (count_include_pad 0) or in the input and its given pads, never ceil mode's extra (1).
 * see: https://onnx.ai/onnx/operators/onnx__AveragePool.html
 */
function refPool(kind: Kind, x: Float64Array, dims: number[]): Float64Array {
  const [n, c, h, w] = dims;
  const oh = outLength(h, P[0], P[2], K[0], S[0]),
    ow = outLength(w, P[1], P[3], K[1], S[1]);
  const y = new Float64Array(n * c * oh * ow);
  for (let pl = 0; pl < n * c; pl++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++) {
        const y0 = i * S[0] - P[0],
          x0 = j * S[1] - P[1];
        let sum = 0,
          max = -Infinity,
          count = 0;
        for (let a = Math.max(y0, 0); a < Math.min(y0 + K[0], h); a++)
          for (let b = Math.max(x0, 0); b < Math.min(x0 + K[1], w); b++) {
            const v = x[(pl * h + a) * w + b];
            sum += v;
            max = Math.max(max, v);
            count++;
          }
        const padded = (Math.min(y0 + K[0], h + P[2]) - y0) * (Math.min(x0 + K[1], w + P[3]) - x0);
        y[(pl * oh + i) * ow + j] = kind === 'max' ? max : sum / (kind === 'avg_include' ? padded : count);
      }
  return y;
}

/** x [N, 1, H, W] → Conv 3×3 (4 channels, pads 1) → Relu → both pools in ceil mode → GlobalAveragePool → Flatten → Gemm → 3 logits. */
function cnnModel(): Uint8Array {
  const pool = { kernel_shape: K, strides: S, pads: P, ceil_mode: 1 };
  return encodeProto(
    modelProto({
      nodes: [
        node('Conv', ['x', 'conv.weight', 'conv.bias'], ['c'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv'),
        node('Relu', ['c'], ['r'], {}, 'relu'),
        node('MaxPool', ['r'], ['m'], pool, 'max'),
        node('AveragePool', ['m'], ['a'], { ...pool, pads: [0, 0, 0, 0] }, 'avg'),
        node('GlobalAveragePool', ['a'], ['gp'], {}, 'gap'),
        node('Flatten', ['gp'], ['f'], {}, 'flatten'),
        node('Gemm', ['f', 'fc.weight', 'fc.bias'], ['y'], { transB: 1 }, 'fc'),
      ],
      initializers: [
        floatTensor('conv.weight', [4, 1, 3, 3], seededInput([36], 5)),
        floatTensor('conv.bias', [4], seededInput([4], 6)),
        floatTensor('fc.weight', [3, 4], seededInput([12], 7)),
        floatTensor('fc.bias', [3], new Float32Array(3)),
      ],
      inputs: [value('x', ['N', 1, 'H', 'W'])],
      outputs: [value('y', ['N', 3])],
    }),
  );
}

// central differences with step 1e-3 of a float64 loss on float32 logits: their rounding (~1e-7
// relative) leaves ~5e-5 per weight, and a ReLU or a max that changes side within ±h a few 1e-4 on
// some weights; over the 36 weights (gradient norm 0.4–0.6) that is 5e-4–6e-4 of the norm, where a
// backward that drops or double-counts the edge windows (half the average pool's here) moves percents
const FD_H = 1e-3,
  FD_REL = 1e-2;

// extra rows [bottom, right]: [1, 0] at 9 × 8, [0, 1] at 8 × 7
const SIZES = [
  [2, 2, 9, 8],
  [1, 2, 8, 7],
];

for (const backend of BACKENDS) {
  describe(`ONNX ceil_mode pools loaded for training: gradients and bad arguments (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it('the two sizes differ in ceil mode’s extra rows and columns', () => {
      const extras = SIZES.map(([, , h, w]) => [extraOf(h, P[0], P[2], K[0], S[0]), extraOf(w, P[1], P[3], K[1], S[1])]);
      expect(extras).toEqual([
        [1, 0],
        [0, 1],
      ]);
    });

    for (const kind of ['max', 'avg_exclude', 'avg_include'] as const)
      it(`${kind}: dx of a loaded training graph against finite differences at both sizes`, async () => {
        const g = await loadOnnx(poolModel(kind), { training: true });
        expect(g.training).toBe(true);
        // what the loader made of it: a pad op before a MaxPool2d, or the layer that pads per input
        const ops = g.nodes.filter((n) => n.kind === 'op').map((n) => (n as { op: string }).op);
        const layers = g.nodes.filter((n) => n.kind === 'layer').map((n) => (n as { module: object }).module);
        if (kind === 'max') expect(ops).toEqual(['pad']);
        else expect(layers.length === 1 && layers[0] instanceof OnnxAvgPoolCeil).toBe(true);
        // seeds differ per size so that no two inputs tie in a max window (a tie has no derivative)
        for (const dims of SIZES)
          check(
            [dims],
            ([x]) => g.forward(x),
            ([x]) => refPool(kind, x, dims),
            dims[2] * 10 + dims[3],
          );
        g.dispose();
      });

    it('a loaded CNN with both pools fine-tuned with fit: the loss falls, and the convolution’s gradient matches finite differences at both sizes', async () => {
      const g = await loadOnnx(cnnModel(), { training: true });
      // dL/dW of the convolution before both pools, against central differences of the float32 loss
      const w = g.namedParameters().find(([k]) => k === 'conv.weight')![1];
      for (const size of SIZES.map(([n, , h, w]) => [2 * n, 1, h, w])) {
        const xb = tensor(seededInput(size, size[2]), size);
        const yb = Int32Array.from({ length: size[0] }, (_, i) => i % 3);
        // the mean cross-entropy in float64 from the float32 logits: only the logits' rounding is left in the differences
        const lossOf = () => {
          const z = noGrad(() => g.forward(xb).toArray());
          let l = 0;
          for (let r = 0; r < yb.length; r++) {
            const row = Array.from(z.subarray(3 * r, 3 * r + 3));
            const top = Math.max(...row);
            l += top + Math.log(row.reduce((e, v) => e + Math.exp(v - top), 0)) - row[yb[r]];
          }
          return l / yb.length;
        };
        w.grad.view().fill(0);
        F.crossEntropy(g.forward(xb), yb).backward();
        const grad = w.grad.toArray();
        const fd = grad.map((_, i) => {
          const v = w.view()[i];
          w.view()[i] = v + FD_H;
          const up = lossOf();
          w.view()[i] = v - FD_H;
          const down = lossOf();
          w.view()[i] = v;
          return (up - down) / (2 * FD_H);
        });
        const norm = (a: ArrayLike<number>) => Math.hypot(...Array.from(a));
        expect(norm(grad.map((d, i) => d - fd[i])) / norm(fd), `conv.weight at [${size.join(', ')}]`).toBeLessThanOrEqual(FD_REL);
        xb.dispose();
      }
      const n = 96,
        dims = [n, 1, 9, 8];
      const x = seededInput(dims, 21);
      // the class: which third of the rows holds the largest sum (something the pools keep)
      const y = Int32Array.from({ length: n }, (_, i) => {
        const sums = [0, 0, 0];
        for (let r = 0; r < 9; r++) for (let c = 0; c < 8; c++) sums[Math.floor(r / 3)] += x[(i * 9 + r) * 8 + c];
        return sums.indexOf(Math.max(...sums));
      });
      const logs = await fit(
        g,
        { x, y, shape: dims.slice(1) },
        { epochs: 6, batchSize: 16, optimizer: new Adam(g.parameters(), { lr: 0.02 }), loss: 'crossEntropy', verbose: 0 },
      );
      expect(logs[5].loss).toBeLessThan(0.9 * logs[0].loss);
      g.dispose();
    });

    if (backend === 'js')
      it('training steps through both leave no memory behind', async () => {
        const gs = [await loadOnnx(poolModel('max'), { training: true }), await loadOnnx(poolModel('avg_include'), { training: true })];
        const x = tensor(seededInput(SIZES[0], 3), SIZES[0], { requiresGrad: true }).keep();
        const step = () => {
          for (const g of gs) {
            const y = g.forward(x);
            F.sum(F.mul(y, y)).backward();
          }
        };
        // two steps first: each step's backward frees what the step before it recorded
        step();
        step();
        const base = memoryBytes();
        for (let i = 0; i < 5; i++) step();
        expect(memoryBytes()).toBe(base);
        for (const g of gs) g.dispose();
        x.dispose();
      });

    it('OnnxAvgPoolCeil.forward refuses a non-tensor, a rank other than 4, no channels and an input smaller than its window, allocating nothing; an empty batch runs', async () => {
      const g = await loadOnnx(poolModel('avg_exclude'));
      const pool = g.nodes.map((n) => (n.kind === 'layer' ? n.module : null)).find((m) => m instanceof OnnxAvgPoolCeil)!;
      expect(pool).toBeInstanceOf(OnnxAvgPoolCeil);
      const flat = tensor(seededInput([2, 9, 8], 1), [2, 9, 8]);
      // 1 × 1 + pads [1, 0, 0, 1] is 2 × 2, smaller than the 3 × 3 window
      const small = tensor(seededInput([1, 2, 1, 1], 1), [1, 2, 1, 1]);
      const none = tensor(new Float32Array(0), [1, 0, 9, 8]);
      const counter = countAllocations();
      try {
        expect(() => pool.forward('x' as never)).toThrow("AvgPool2d.forward: input: expected a Tensor (see tensor()), got 'x'");
        expect(() => pool.forward(flat)).toThrow('AvgPool2d.forward: input: expected [N, C, H, W], got [2, 9, 8]');
        expect(() => noGrad(() => g.forward(small))).toThrow(
          'AvgPool2d.forward: input: expected a height and width of at least the window [3, 3] less the pads (≥ [2, 2]), got [1, 2, 1, 1]',
        );
        expect(() => noGrad(() => pool.forward(none))).toThrow(
          'AvgPool2d.forward: input: expected non-zero channel, height and width in [N, C, H, W], got [1, 0, 9, 8]',
        );
        expect(counter.calls()).toBe(0);
      } finally {
        counter.stop();
      }
      // an empty batch gives an empty output of ceil mode's shape, as the MaxPool and onnxruntime do
      const empty = noGrad(() => g.forward(tensor(new Float32Array(0), [0, 2, 9, 8])));
      expect(empty.shape).toEqual([0, 2, outLength(9, P[0], P[2], K[0], S[0]), outLength(8, P[1], P[3], K[1], S[1])]);
      const max = await loadOnnx(poolModel('max'));
      const emptyMax = noGrad(() => max.forward(tensor(new Float32Array(0), [0, 2, 9, 8])));
      expect(emptyMax.shape).toEqual(empty.shape);
      const ort = await runOrt(poolModel('avg_exclude'), { x: { dims: [0, 2, 9, 8], data: new Float32Array(0) } });
      expect(empty.shape).toEqual(ort.y.dims);
      for (const t of [empty, emptyMax]) t.dispose();
      max.dispose();
      // the smallest input it takes runs: 2 × 2 padded to 3 × 3, one window
      const least = tensor(seededInput([1, 2, 2, 2], 2), [1, 2, 2, 2]);
      const y = noGrad(() => g.forward(least));
      expect(y.shape).toEqual([1, 2, 1, 1]);
      for (const t of [flat, small, none, least, y]) t.dispose();
      g.dispose();
    });

    it('the pad op refuses bad pads, a bad window and an input smaller than its window, by name, allocating nothing', () => {
      const x = tensor(seededInput([1, 2, 3, 3], 4), [1, 2, 3, 3]);
      const graph = (attrs: { pads: number[]; value?: number; window?: number[] }) => {
        const g = new Graph();
        g.output('y', g.op('pad', [g.input('x')], attrs, 'p'));
        return g;
      };
      const refused = (attrs: { pads: number[]; value?: number; window?: number[] }, message: string) => {
        const g = graph(attrs);
        const counter = countAllocations();
        try {
          expect(() => noGrad(() => g.forward(x))).toThrow(message);
          g.dispose();
          expect(counter.live()).toBe(0);
        } finally {
          counter.stop();
        }
      };
      refused({ pads: [0, 0, 1, 1] }, 'pad: pads: expected 8 values (a begin and an end per axis of [1, 2, 3, 3]), got 4');
      refused({ pads: [0, 0, -1, 0, 0, 0, 0, 0] }, 'pad: pads [0, 0, -1, 0, 0, 0, 0, 0]: expected values ≥ 0 (no cropping)');
      const none = [0, 0, 0, 0, 0, 0, 0, 0];
      refused(
        { pads: none, window: [3, 3, 2] },
        'pad: window: expected [kh, kw, sh, sw] ≥ 1 over the last two axes, got [3, 3, 2] for rank 4',
      );
      refused(
        { pads: none, window: [3, 3, 0, 2] },
        'pad: window: expected [kh, kw, sh, sw] ≥ 1 over the last two axes, got [3, 3, 0, 2] for rank 4',
      );
      // 3 × 3 with one more row on top is 4 × 3: a 5 × 3 window does not fit
      refused(
        { pads: [0, 0, 1, 0, 0, 0, 0, 0], window: [5, 3, 1, 1] },
        'pad: x: expected its last two axes with their pads to hold the window 5 × 3, got [1, 2, 3, 3] (4 × 3 padded)',
      );
      // no channels: the pool after the pad refuses it, and the pad's output is freed
      const pooled = new Graph();
      pooled.output(
        'y',
        pooled.layer(
          'pool',
          new MaxPool2d([3, 3], { stride: 2 }),
          pooled.op('pad', [pooled.input('x')], { pads: [0, 0, 1, 0, 0, 0, 0, 1], value: -Infinity, window: [3, 3, 2, 2] }, 'p'),
        ),
      );
      const empty = tensor(new Float32Array(0), [1, 0, 9, 8]);
      const counter = countAllocations();
      try {
        expect(() => noGrad(() => pooled.forward(empty))).toThrow(
          "Graph.forward: node 'pool' (MaxPool2d): MaxPool2d.forward: input: expected non-zero channel, height and width in [N, C, H, W], got [1, 0, 11, 9]",
        );
        expect(counter.live()).toBe(0);
      } finally {
        counter.stop();
      }
      empty.dispose();
      pooled.dispose();
      // the attributes' types are checked when the node is added
      const g = new Graph();
      const i = g.input('x');
      expect(() => g.op('pad', [i], { pads: [0.5] } as never)).toThrow(/pads: expected an array of integers, got/);
      expect(() => g.op('pad', [i], { pads: none, window: 'k' } as never)).toThrow(/window: expected an array of integers, got 'k'/);
      expect(() => g.op('pad', [i], { pads: none, value: Number.NaN })).toThrow('Graph.op: pad: value: expected a number, got number NaN');
      expect(() => g.op('pad', [i], {} as never)).toThrow(/pads/);
      g.dispose();
      // the same window over 4 × 3 runs: the edge of the check
      const ok = graph({ pads: [0, 0, 1, 0, 0, 0, 0, 0], value: -1, window: [4, 3, 1, 1] });
      const y = noGrad(() => ok.forward(x));
      expect(y.shape).toEqual([1, 2, 4, 3]);
      y.dispose();
      ok.dispose();
      x.dispose();
    });
  });
}
