// Gradients through a Graph come from the tape: a graph of two inputs and two outputs, with a
// concat and a tensor that feeds three nodes (its gradients summed) and a trained constant, against
// central differences of a float64 reference of the same function, on every backend.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, tensor, F, Graph, Parameter, type Tensor } from '../src/index';
import { TOL_GRAD, TOL_OUT } from './autograd_check';
import { BACKENDS } from './helpers';
import { randn } from './reference';

const H = 1e-6; // central differences in f64: exact to ~1e-9 for these smooth functions
const R = 2,
  C = 3;

/** s = tanh(a) read by three nodes; y1 = softmax(concat([s, s·b], 1), 1); y2 = sigmoid(s + w) + transpose-back of (s·b)ᵀ. */
function build(w: Parameter): Graph {
  const g = new Graph();
  const a = g.input('a'),
    b = g.input('b');
  g.constant('w', w);
  const s = g.op('tanh', [a], {}, 's');
  const m = g.op('mul', [s, b], {}, 'm');
  const c = g.op('concat', [s, m], { axis: 1 }, 'c');
  const t = g.op('add', [s, 'w'], {}, 't');
  const back = g.op('transpose', [g.op('transpose', [m], { perm: [1, 0] })], { perm: [1, 0] });
  g.output('y1', g.op('softmax', [c], { axis: 1 }));
  g.output('y2', g.op('add', [g.op('sigmoid', [t]), back]));
  return g;
}

/** The same function in f64: [y1 (R × 2C), y2 (R × C)]. */
function ref(a: Float64Array, b: Float64Array, w: Float64Array): [Float64Array, Float64Array] {
  const y1 = new Float64Array(R * 2 * C),
    y2 = new Float64Array(R * C);
  for (let r = 0; r < R; r++) {
    const row: number[] = [];
    for (let j = 0; j < C; j++) row.push(Math.tanh(a[r * C + j]));
    for (let j = 0; j < C; j++) row.push(row[j] * b[r * C + j]);
    const mx = Math.max(...row);
    const e = row.map((v) => Math.exp(v - mx));
    const z = e.reduce((p, v) => p + v, 0);
    e.forEach((v, j) => (y1[r * 2 * C + j] = v / z));
    for (let j = 0; j < C; j++) y2[r * C + j] = 1 / (1 + Math.exp(-(row[j] + w[j]))) + row[C + j];
  }
  return [y1, y2];
}

for (const backend of BACKENDS) {
  describe(`Graph gradients (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it('two inputs, two outputs, a concat and a tensor read by three nodes: outputs and every gradient against finite differences', () => {
      const f32 = (n: number, seed: number) => Float64Array.from(randn(n, seed), Math.fround);
      const a = f32(R * C, 1),
        b = f32(R * C, 2),
        wv = f32(C, 3);
      const k1 = f32(R * 2 * C, 4),
        k2 = f32(R * C, 5); // loss weights: L = Σ k1·y1 + Σ k2·y2
      const w = new Parameter([C], 0);
      w.set(wv);
      const g = build(w);
      const ta = tensor(a, [R, C], { requiresGrad: true }),
        tb = tensor(b, [R, C], { requiresGrad: true });
      const { y1, y2 } = g.run({ a: ta, b: tb });
      const [r1, r2] = ref(a, b, wv);
      for (const [got, want] of [
        [y1, r1],
        [y2, r2],
      ] as [Tensor, Float64Array][]) {
        const v = got.toArray();
        want.forEach((x, i) => expect(Math.abs(v[i] - x)).toBeLessThanOrEqual(TOL_OUT * Math.max(1, Math.abs(x))));
      }
      F.add(F.sum(F.mul(y1, tensor(k1, [R, 2 * C]))), F.sum(F.mul(y2, tensor(k2, [R, C])))).backward();
      const loss = (xa: Float64Array, xb: Float64Array, xw: Float64Array) => {
        const [o1, o2] = ref(xa, xb, xw);
        return o1.reduce((p, v, i) => p + k1[i] * v, 0) + o2.reduce((p, v, i) => p + k2[i] * v, 0);
      };
      const grads: [string, Float64Array, Float32Array][] = [
        ['a', a, ta.grad!.toArray()],
        ['b', b, tb.grad!.toArray()],
        ['w', wv, w.grad.toArray()],
      ];
      for (const [name, x, got] of grads) {
        const fd = Float64Array.from(x, (_, i) => {
          const keep = x[i];
          x[i] = keep + H;
          const up = loss(a, b, wv);
          x[i] = keep - H;
          const down = loss(a, b, wv);
          x[i] = keep;
          return (up - down) / (2 * H);
        });
        const scale = Math.max(1, ...Array.from(fd, Math.abs));
        fd.forEach((v, i) => expect(Math.abs(got[i] - v), `${name}[${i}]`).toBeLessThanOrEqual(TOL_GRAD * scale));
      }
      for (const t of [ta, tb, y1, y2]) t.dispose();
      g.dispose();
    });

    it('two runs before one backward (a siamese use): each run keeps what its recorded outputs need, the gradients add up', () => {
      const w = new Parameter([C], 0.25);
      const g = build(w);
      const a = Float64Array.from(randn(R * C, 7), Math.fround),
        b = Float64Array.from(randn(R * C, 8), Math.fround);
      const grads = (runs: number) => {
        w.grad.view().fill(0);
        const ta = tensor(a, [R, C], { requiresGrad: true }),
          tb = tensor(b, [R, C], { requiresGrad: true });
        const outs = Array.from({ length: runs }, () => g.run({ a: ta, b: tb }));
        outs
          .map(({ y1, y2 }) => F.add(F.sum(y1), F.sum(F.mul(y2, y2))))
          .reduce((p, l) => F.add(p, l))
          .backward();
        const out = [ta.grad!.toArray(), tb.grad!.toArray(), w.grad.toArray()];
        for (const t of [ta, tb, ...outs.flatMap((o) => [o.y1, o.y2])]) t.dispose();
        return out;
      };
      const once = grads(1),
        twice = grads(2);
      // x + x is exact in f32: twice the gradient, bit for bit
      twice.forEach((gr, k) => expect(Array.from(gr)).toEqual(Array.from(once[k], (v) => v * 2)));
      expect(once[0].some((v) => v !== 0)).toBe(true);
      g.dispose();
    });
  });
}
