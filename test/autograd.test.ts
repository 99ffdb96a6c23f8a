// Autograd: every functional op's gradient against central differences of a float64 reference
// forward, on every backend; gradient summing where a tensor feeds several ops; the tape's errors.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, tensor, F, noGrad } from '../src/index';
import { BACKENDS } from './helpers';
import { countAllocations } from './alloc_count';
import { check, type Ref } from './autograd_check';

const map = (x: Float64Array, f: (v: number) => number) => Float64Array.from(x, f);
/** b (m values) spread over the rows of a. */
const rowwise = (a: Float64Array, b: Float64Array, f: (p: number, q: number) => number) =>
  Float64Array.from(a, (v, i) => f(v, b[i % b.length]));
function matmulRef(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let q = 0; q < k; q++) y[i * n + j] += a[i * k + q] * b[q * n + j];
  return y;
}
function linearRef(x: Float64Array, w: Float64Array, b: Float64Array | null, rows: number, i: number, o: number): Float64Array {
  const y = new Float64Array(rows * o);
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < o; j++) {
      let s = b ? b[j] : 0;
      for (let q = 0; q < i; q++) s += x[r * i + q] * w[j * i + q];
      y[r * o + j] = s;
    }
  return y;
}

for (const backend of BACKENDS) {
  describe(`autograd (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    describe('elementwise, with broadcasting over leading axes', () => {
      const ops = {
        add: (p: number, q: number) => p + q,
        sub: (p: number, q: number) => p - q,
        mul: (p: number, q: number) => p * q,
        div: (p: number, q: number) => p / q,
      } as const;
      for (const [name, op] of Object.entries(ops) as [keyof typeof ops, (p: number, q: number) => number][]) {
        it(`${name}: same shape, rows of b, one value, numbers on either side`, () => {
          const pos = name === 'div';
          check(
            [
              [3, 5],
              [3, 5],
            ],
            ([a, b]) => F[name](a, b),
            ([a, b]) => rowwise(a, b, op),
            3,
            pos,
          );
          check(
            [[2, 3, 5], [5]],
            ([a, b]) => F[name](a, b),
            ([a, b]) => rowwise(a, b, op),
            5,
            pos,
          );
          if (name === 'div')
            expect(() => F.div(tensor([1, 2], [2]), tensor([1, 2, 3, 4], [2, 2]))).toThrow(
              /^F\.div: shapes \[2\] and \[2, 2\] do not broadcast/,
            );
          else
            check(
              [
                [4, 6],
                [3, 4, 6],
              ],
              ([a, b]) => F[name](a, b),
              ([a, b]) => rowwise(b, a, (q, p) => op(p, q)),
              6,
              pos,
            );
          check(
            [[7], [1]],
            ([a, b]) => F[name](a, b),
            ([a, b]) => map(a, (v) => op(v, b[0])),
            7,
            pos,
          );
          check(
            [[9]],
            ([a]) => F[name](a, 1.5),
            ([a]) => map(a, (v) => op(v, 1.5)),
            8,
            pos,
          );
          check(
            [[9]],
            ([a]) => F[name](-2.5, a),
            ([a]) => map(a, (v) => op(-2.5, v)),
            9,
            pos,
          );
        });
      }
      it('neg', () =>
        check(
          [[10]],
          ([a]) => F.neg(a),
          ([a]) => map(a, (v) => -v),
        ));
    });

    it('sum and mean', () => {
      check(
        [[4, 7]],
        ([a]) => F.sum(a),
        ([a]) => [a.reduce((p, v) => p + v, 0)],
      );
      check(
        [[4, 7]],
        ([a]) => F.mean(a),
        ([a]) => [a.reduce((p, v) => p + v, 0) / a.length],
      );
    });

    it('reshape, view and flatten keep the values and route the gradient back', () => {
      check(
        [[2, 3, 4]],
        ([a]) => F.reshape(a, [4, -1]),
        ([a]) => a,
      );
      check(
        [[2, 3, 4]],
        ([a]) => F.view(a, [24]),
        ([a]) => a,
      );
      check(
        [[2, 3, 4]],
        ([a]) => F.flatten(a),
        ([a]) => a,
      );
      const t = tensor(new Float32Array(24), [2, 3, 4]);
      expect(F.flatten(t).shape).toEqual([2, 12]);
      expect(F.flatten(t, 0, 1).shape).toEqual([6, 4]);
      expect(F.reshape(t, [-1, 2]).shape).toEqual([12, 2]);
    });

    it('a reshape is a view: no allocation, its bytes kept alive after its input is disposed, freed with the last of them', () => {
      const count = countAllocations();
      const x = tensor(
        Float32Array.from({ length: 12 }, (_, i) => i - 5.5),
        [3, 4],
      );
      const made = count.calls();
      const v = F.reshape(x, [2, 6]);
      const u = F.reshape(v, [2, 3, 2]);
      const w = F.flatten(u);
      expect(count.calls(), 'no allocation').toBe(made);
      expect([v.ptr, u.ptr, w.ptr]).toEqual([x.ptr, x.ptr, x.ptr]);
      u.dispose();
      x.dispose();
      expect(count.live(), 'the bytes live on in the views').toBe(1);
      expect(Array.from(w.toArray())).toEqual(Array.from({ length: 12 }, (_, i) => i - 5.5));
      v.dispose();
      expect(count.live()).toBe(1);
      w.dispose();
      expect(count.live(), 'freed with the last view').toBe(0);
      count.stop();
    });

    it('a view feeding two consumers: the gradients of both reach the input (finite differences)', () => {
      // y = [tanh(v) · v, sigmoid(v)] for v = reshape(a, [3, 4]) of a [2, 6]: v read by three ops, then its input's gradient
      check(
        [[2, 6]],
        ([a]) => {
          const v = F.reshape(a, [3, 4]);
          return F.concat([F.mul(F.tanh(v), v), F.sigmoid(v)], 0);
        },
        ([a]) => [...Array.from(a, (t) => Math.tanh(t) * t), ...Array.from(a, (t) => 1 / (1 + Math.exp(-t)))],
      );
    });

    it('concat along the first, a middle and the last axis', () => {
      const cat = (parts: Float64Array[], shapes: number[][], d: number) => {
        const outer = shapes[0].slice(0, d).reduce((p, v) => p * v, 1),
          inner = shapes[0].slice(d + 1).reduce((p, v) => p * v, 1);
        const res: number[] = [];
        for (let o = 0; o < outer; o++)
          parts.forEach((p, i) => res.push(...p.subarray(o * shapes[i][d] * inner, (o + 1) * shapes[i][d] * inner)));
        return res;
      };
      for (const [shapes, d] of [
        [
          [
            [2, 3],
            [1, 3],
            [4, 3],
          ],
          0,
        ],
        [
          [
            [2, 1, 3],
            [2, 2, 3],
          ],
          1,
        ],
        [
          [
            [3, 2],
            [3, 1],
          ],
          -1,
        ],
      ] as [number[][], number][]) {
        check(
          shapes,
          (ts) => F.concat(ts, d),
          (xs) => cat(xs, shapes, d < 0 ? d + shapes[0].length : d),
        );
      }
      expect(() => F.concat([tensor([1, 2], [1, 2]), tensor([1, 2, 3], [1, 3])])).toThrow(
        /^F\.concat: tensors\[1\]: expected shape \[\*, 2\], got \[1, 3\]$/,
      );
    });

    it('relu, sigmoid and tanh', () => {
      check(
        [[5, 9]],
        ([a]) => F.relu(a),
        ([a]) => map(a, (v) => Math.max(v, 0)),
      );
      check(
        [[5, 9]],
        ([a]) => F.sigmoid(a),
        ([a]) => map(a, (v) => 1 / (1 + Math.exp(-v))),
      );
      check(
        [[5, 9]],
        ([a]) => F.tanh(a),
        ([a]) => map(a, Math.tanh),
      );
    });

    it('matmul and linear (with and without bias, batched leading axes)', () => {
      check(
        [
          [3, 4],
          [4, 5],
        ],
        ([a, b]) => F.matmul(a, b),
        ([a, b]) => matmulRef(a, b, 3, 4, 5),
      );
      check(
        [[6, 4], [3, 4], [3]],
        ([x, w, b]) => F.linear(x, w, b),
        ([x, w, b]) => linearRef(x, w, b, 6, 4, 3),
      );
      check(
        [
          [6, 4],
          [3, 4],
        ],
        ([x, w]) => F.linear(x, w),
        ([x, w]) => linearRef(x, w, null, 6, 4, 3),
      );
      check(
        [[2, 3, 4], [5, 4], [5]],
        ([x, w, b]) => F.linear(x, w, b),
        ([x, w, b]) => linearRef(x, w, b, 6, 4, 5),
      );
    });

    it('crossEntropy (with label smoothing) and mseLoss', () => {
      const labels = [2, 0, 3, 1, 3];
      const ce = (z: Float64Array, s: number) => {
        let total = 0;
        for (let r = 0; r < 5; r++) {
          const row = z.subarray(r * 4, r * 4 + 4);
          const mx = Math.max(...row);
          const lse = mx + Math.log(row.reduce((p, v) => p + Math.exp(v - mx), 0));
          row.forEach((v, j) => (total -= ((j === labels[r] ? 1 - s : 0) + s / 4) * (v - lse)));
        }
        return [total / 5];
      };
      check(
        [[5, 4]],
        ([z]) => F.crossEntropy(z, Int32Array.from(labels)),
        ([z]) => ce(z, 0),
      );
      check(
        [[5, 4]],
        ([z]) => F.crossEntropy(z, labels, { labelSmoothing: 0.2 }),
        ([z]) => ce(z, 0.2),
      );
      check(
        [
          [3, 4],
          [3, 4],
        ],
        ([p, t]) => F.mseLoss(p, t),
        ([p, t]) => [p.reduce((s, v, i) => s + (v - t[i]) ** 2, 0) / 12],
      );
    });

    it('sums gradients where a tensor feeds several ops: a residual block with a shared weight', () => {
      // z = relu(x·wᵀ + b) + x; out = z·wᵀ + b (w and b used twice, x used twice)
      const ref: Ref = ([x, w, b]) => {
        const h = map(linearRef(x, w, b, 3, 4, 4), (v) => Math.max(v, 0));
        return linearRef(
          Float64Array.from(h, (v, i) => v + x[i]),
          w,
          b,
          3,
          4,
          4,
        );
      };
      check([[3, 4], [4, 4], [4]], ([x, w, b]) => F.linear(F.add(F.relu(F.linear(x, w, b)), x), w, b), ref, 11);
    });

    it('accumulates into .grad over two backward passes, as PyTorch does', () => {
      const x = tensor([1, 2, 3], [3], { requiresGrad: true });
      F.sum(F.mul(x, x)).backward();
      F.sum(F.mul(x, 3)).backward();
      expect(Array.from(x.grad!.toArray())).toEqual([2 + 3, 4 + 3, 6 + 3]);
    });

    it('records nothing under noGrad, and where no input requires a gradient', () => {
      const x = tensor([1, -2], [2], { requiresGrad: true });
      const y = noGrad(() => F.relu(x));
      expect(y.requiresGrad).toBe(false);
      expect(y.gradFn).toBe(null);
      expect(F.relu(tensor([1, 2])).requiresGrad).toBe(false);
      expect(F.relu(x).gradFn?.name).toBe('relu');
    });

    it('item, detach, toString', () => {
      const x = tensor([1.5, -2, 3], [3], { requiresGrad: true });
      const s = F.sum(x);
      expect(s.item()).toBe(2.5);
      expect(s.shape).toEqual([]);
      expect(() => x.item()).toThrow(/^Tensor\.item: expected a tensor with one element, got shape \[3\]/);
      const d = F.mul(x, 2).detach();
      expect(d.requiresGrad).toBe(false);
      expect(Array.from(d.toArray())).toEqual([3, -4, 6]);
      expect(String(F.mul(x, 2))).toBe(`Tensor([3], f32, ${backend}, [3, -4, 6], gradFn=mul)`);
      expect(String(x)).toBe(`Tensor([3], f32, ${backend}, [1.5, -2, 3], requiresGrad)`);
    });

    it('throws named errors for misuse', () => {
      const x = tensor([1, 2], [2], { requiresGrad: true });
      expect(() => F.relu(tensor([1])).backward()).toThrow(/^Tensor\.backward: this tensor does not require a gradient/);
      expect(() => F.mul(x, 2).backward()).toThrow(/^Tensor\.backward: a gradient is needed for a tensor of 2 elements/);
      const s = F.sum(F.mul(x, 2));
      s.backward();
      expect(() => s.backward()).toThrow(/^Tensor\.backward: the graph was already freed by an earlier backward\(\)/);
      expect(() => F.add(tensor([1, 2, 3], [3]), tensor([1, 2], [2]))).toThrow(/^F\.add: shapes \[3\] and \[2\] do not broadcast/);
      expect(() => F.matmul(tensor([1, 2], [1, 2]), tensor([1, 2], [1, 2]))).toThrow(
        /^F\.matmul: expected a \[m, k\] and b \[k, n\], got \[1, 2\] and \[1, 2\]/,
      );
      expect(() => F.crossEntropy(tensor([1, 2], [1, 2]), [2])).toThrow(
        /^F\.crossEntropy: target\[0\]: expected an integer class index in \[0, 2\), got number 2/,
      );
      expect(() => F.reshape(tensor([1, 2, 3]), [2, -1])).toThrow(/^F\.reshape: shape \[2, -1\] does not fit 3 values/);
      expect(() => tensor([1], [1], { requiresGrad: 1 as never })).toThrow(/^tensor: requiresGrad: expected a boolean, got number 1$/);
    });
  });
}
