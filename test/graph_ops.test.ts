// A Graph's functional nodes as ONNX defines them: NumPy broadcasting for add/sub/mul/div (also
// where F's rule — one shape ending the other — does not cover it), Reshape's 0 and −1,
// Flatten(axis), Transpose(perm): outputs and gradients against central differences of float64
// references, on every backend; the broadcast copies leave no byte behind.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, tensor, noGrad, memoryBytes, Graph, GRAPH_OPS, type GraphOp, type GraphOpAttrs, type Tensor } from '../src/index';
import { check } from './autograd_check';
import { BACKENDS, throwsLike } from './helpers';

/** A graph running one op on inputs x0, x1, … */
function opGraph<K extends GraphOp>(op: K, n: number, attrs?: GraphOpAttrs[K]): Graph {
  const g = new Graph();
  const ins = Array.from({ length: n }, (_, i) => g.input(`x${i}`));
  g.output('y', g.op(op, ins, attrs));
  return g;
}
const runOn = (g: Graph) => (ts: Tensor[]) => g.run(Object.fromEntries(ts.map((t, i) => [`x${i}`, t]))).y;

/** NumPy broadcasting in f64: f applied to a and b of their shapes, over the broadcast shape. */
function broadcastRef(sa: number[], sb: number[], f: (x: number, y: number) => number) {
  const r = Math.max(sa.length, sb.length);
  const pa = [...Array<number>(r - sa.length).fill(1), ...sa],
    pb = [...Array<number>(r - sb.length).fill(1), ...sb];
  const s = pa.map((d, i) => Math.max(d, pb[i]));
  const size = s.reduce((p, d) => p * d, 1);
  const at = (shape: number[], idx: number[]) => idx.reduce((o, v, k) => o * shape[k] + (shape[k] === 1 ? 0 : v), 0);
  return ([a, b]: Float64Array[]) =>
    Float64Array.from({ length: size }, (_, i) => {
      const idx: number[] = [];
      let rest = i;
      for (let k = r - 1; k >= 0; k--) {
        idx[k] = rest % s[k];
        rest = Math.floor(rest / s[k]);
      }
      return f(a[at(pa, idx)], b[at(pb, idx)]);
    });
}

for (const backend of BACKENDS) {
  describe(`Graph ops (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it('add, sub, mul, div broadcast as NumPy: outputs and gradients of both operands against finite differences', () => {
      const cases: [GraphOp & ('add' | 'sub' | 'mul' | 'div'), number[], number[], (x: number, y: number) => number][] = [
        ['add', [2, 3, 4, 5], [3, 1, 1], (x, y) => x + y], // a per-channel bias: only b expanded
        ['mul', [2, 1, 4], [3, 1], (x, y) => x * y], // both operands expanded
        ['div', [3], [2, 3], (x, y) => x / y], // a smaller first operand of div
        ['sub', [4], [2, 4], (x, y) => x - y], // F's own rule after a swap
        ['mul', [2, 3], [1, 3], (x, y) => x * y], // leading 1
        ['add', [2, 3], [2, 3], (x, y) => x + y],
      ];
      cases.forEach(([op, sa, sb, f], k) => {
        const g = opGraph(op, 2);
        // inputs kept away from 0 for div's second operand
        check([sa, sb], runOn(g), broadcastRef(sa, sb, f), 10 + k, op === 'div');
        g.dispose();
      });
      const g = opGraph('add', 2);
      using a = tensor(new Float32Array(6), [2, 3]),
        b = tensor(new Float32Array(2), [2]);
      throwsLike(
        () => g.run({ x0: a, x1: b }),
        RangeError,
        /^Graph\.run: node 'add_1' \(add\): add: shapes \[2, 3\] and \[2\] do not broadcast$/,
      );
      g.dispose();
    });

    it('reshape (0 copies a dimension, −1 is inferred), flatten(axis), transpose(perm): values and gradients', () => {
      const id = ([x]: Float64Array[]) => x;
      const r = opGraph('reshape', 1, { shape: [0, -1] });
      check(
        [[2, 3, 4]],
        (ts) => {
          const y = runOn(r)(ts);
          expect(y.shape).toEqual([2, 12]);
          return y;
        },
        id,
      );
      const f = opGraph('flatten', 1, { axis: 2 });
      check(
        [[2, 3, 4]],
        (ts) => {
          const y = runOn(f)(ts);
          expect(y.shape).toEqual([6, 4]);
          return y;
        },
        id,
      );
      const t = opGraph('transpose', 1, { perm: [2, 0, 1] });
      check(
        [[2, 3, 4]],
        (ts) => {
          const y = runOn(t)(ts);
          expect(y.shape).toEqual([4, 2, 3]);
          return y;
        },
        ([x]) => Float64Array.from({ length: 24 }, (_, i) => x[Math.floor(i / 6) + 4 * (i % 6)]), // y[k, i, j] = x[i, j, k]
      );
      for (const g of [r, f, t]) g.dispose();
    });

    it('matmul folds the leading dimensions of a [..., m, k] into m: values and gradients of both operands', () => {
      const g = opGraph('matmul', 2);
      check(
        [
          [2, 3, 4],
          [4, 5],
        ],
        (ts) => {
          const y = runOn(g)(ts);
          expect(y.shape).toEqual([2, 3, 5]);
          return y;
        },
        ([a, b]) =>
          Float64Array.from({ length: 30 }, (_, i) => {
            const row = Math.floor(i / 5),
              col = i % 5;
            let s = 0;
            for (let k = 0; k < 4; k++) s += a[row * 4 + k] * b[k * 5 + col];
            return s;
          }),
      );
      using a = tensor(new Float32Array(24), [2, 3, 4]),
        b = tensor(new Float32Array(15), [3, 5]);
      throwsLike(
        () => g.run({ x0: a, x1: b }),
        RangeError,
        /^Graph\.run: node 'matmul_1' \(matmul\): matmul: expected a \[\.\.\., m, k\] and b \[k, n\], got \[2, 3, 4\] and \[3, 5\]$/,
      );
      g.dispose();
    });

    it('every op named in GRAPH_OPS runs in a graph', () => {
      expect([...GRAPH_OPS].sort()).toEqual(
        [
          'add',
          'clip',
          'concat',
          'div',
          'flatten',
          'hardsigmoid',
          'hardswish',
          'hardtanh',
          'identity',
          'leakyRelu',
          'logSoftmax',
          'matmul',
          'mul',
          'pad',
          'relu',
          'relu6',
          'reshape',
          'sigmoid',
          'softmax',
          'sub',
          'tanh',
          'transpose',
        ].sort(),
      );
      using x = tensor([-2, -0.5, 0.5, 4], [2, 2]);
      const attrs: Partial<Record<GraphOp, object>> = {
        concat: { axis: 0 },
        reshape: { shape: [4] },
        transpose: { perm: [1, 0] },
        pad: { pads: [0, 0, 0, 0] },
      };
      for (const op of GRAPH_OPS) {
        const n = op === 'add' || op === 'sub' || op === 'mul' || op === 'div' || op === 'matmul' ? 2 : 1;
        const g = opGraph(op, n, attrs[op] as never);
        const y = noGrad(() => g.run(n === 2 ? { x0: x, x1: x } : { x0: x }).y);
        expect(y.size, op).toBe(4);
        y.dispose();
        g.dispose();
      }
    });

    if (backend === 'js')
      it('the broadcast copies are freed: after a noGrad run, and after a backward or a dispose of a recorded output', () => {
        const g = opGraph('mul', 2);
        const a = tensor(new Float32Array(8).fill(2), [2, 1, 4]).keep(),
          b = tensor(new Float32Array(3).fill(3), [3, 1], { requiresGrad: true }).keep(),
          gy = tensor(new Float32Array(24).fill(1), [2, 3, 4]).keep();
        const step = () => {
          const y = g.run({ x0: a, x1: b }).y;
          y.backward(gy);
          y.dispose();
        };
        // two backward steps first: each ends a training step, which frees what the one before it made
        step();
        step();
        expect(Array.from(b.grad!.toArray())).toEqual([32, 32, 32]); // 2 steps × Σ of a over the 8 places each b value meets
        const base = memoryBytes();
        noGrad(() => g.run({ x0: a, x1: b }).y).dispose();
        // what stays is the block the graph keeps for the intermediates of its later noGrad runs
        const kept = g._arenaBytes;
        expect(kept).toBeGreaterThan(0);
        expect(memoryBytes()).toBe(base + kept);
        noGrad(() => g.run({ x0: a, x1: b }).y).dispose();
        expect(memoryBytes()).toBe(base + kept);
        g.run({ x0: a, x1: b }).y.dispose();
        expect(memoryBytes()).toBe(base + kept);
        step();
        expect(memoryBytes()).toBe(base + kept);
        for (const t of [a, b, gy]) t.dispose();
        g.dispose();
      });
  });
}
