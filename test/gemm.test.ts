// sgemm on every backend against a float64 reference: every m, n, k tail, the four transposes,
// beta 0 and 1, with and without bias, the trainer's MLP and im2col sizes, strided operands, NaN in
// an overwritten C, determinism, and agreement between backends.
import { describe, expect, it } from 'vitest';
import { init, tensor, Tensor } from '../src/index';
import { matmul } from '../src/kernels/gemm';
import { BACKENDS } from './helpers';
import { U } from './reference';

// NOTE: a sum of t f32 terms rounded in any order is within γ_t·Σ|term| of the exact sum, γ_t ≈ t·u
// with u = 2⁻²⁴ (Higham, "Accuracy and Stability of Numerical Algorithms", §3.1). An element of C
// sums k products (each rounded once), the bias and beta·C: t = k + 3 roundings bound its error by
// (k + 3)·u·(Σₚ|a||b| + |bias| + |beta·C|). The JS backend sums in f64 and stays far inside.
const boundOf = (k: number, absSum: number) => (k + 3) * U * absSum * 1.001 + 1e-30;
// Two backends are each within the bound of the exact value, so within twice it of each other.
const BETWEEN_BACKENDS = 2;

interface Case {
  tA: 0 | 1;
  tB: 0 | 1;
  m: number;
  n: number;
  k: number;
  beta: number;
  withBias: boolean;
}

/** Uniform values in [−1, 1) from a seeded LCG (reproducible). */
function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

/** C = op(A)·op(B) + beta·C0 + bias in float64, and the same sum of absolute values. */
function reference(
  c: Case,
  A: Float32Array,
  lda: number,
  B: Float32Array,
  ldb: number,
  C0: Float32Array,
  ldc: number,
  bias: Float32Array,
): { val: Float64Array; abs: Float64Array } {
  const { tA, tB, m, n, k, beta, withBias } = c;
  const val = new Float64Array(m * n),
    abs = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0,
        t = 0;
      for (let p = 0; p < k; p++) {
        const x = (tA ? A[p * lda + i] : A[i * lda + p]) * (tB ? B[j * ldb + p] : B[p * ldb + j]);
        s += x;
        t += Math.abs(x);
      }
      if (withBias) {
        s += bias[j];
        t += Math.abs(bias[j]);
      }
      if (beta !== 0) {
        s += beta * C0[i * ldc + j];
        t += Math.abs(beta * C0[i * ldc + j]);
      }
      val[i * n + j] = s;
      abs[i * n + j] = t;
    }
  }
  return { val, abs };
}

/** Operands of a case in the active backend (contiguous unless strides are given). */
class Operands {
  A: Tensor;
  B: Tensor;
  C: Tensor;
  bias: Tensor;
  lda: number;
  ldb: number;
  ldc: number;
  a: Float32Array;
  b: Float32Array;
  c0: Float32Array;
  biasv: Float32Array;

  constructor(
    readonly c: Case,
    seed: number,
    pad = { a: 0, b: 0, c: 0 },
  ) {
    const { tA, tB, m, n, k } = c;
    this.lda = (tA ? m : k) + pad.a;
    this.ldb = (tB ? k : n) + pad.b;
    this.ldc = n + pad.c;
    this.a = rand((tA ? k : m) * this.lda, seed);
    this.b = rand((tB ? n : k) * this.ldb, seed + 1);
    this.c0 = rand(m * this.ldc, seed + 2);
    // beta = 0: C holds NaN, which must not reach the output
    if (c.beta === 0) this.c0.fill(NaN);
    this.biasv = rand(n, seed + 3);
    this.A = tensor(this.a);
    this.B = tensor(this.b);
    this.C = tensor(this.c0);
    this.bias = tensor(this.biasv);
  }

  run(): Float32Array {
    const { tA, tB, m, n, k, beta, withBias } = this.c;
    this.C.view().set(this.c0);
    matmul(this.A.ptr, this.B.ptr, this.C.ptr, m, n, k, {
      transA: tA === 1,
      transB: tB === 1,
      beta,
      bias: withBias ? this.bias.ptr : 0,
      lda: this.lda,
      ldb: this.ldb,
      ldc: this.ldc,
    });
    return this.C.toArray();
  }

  /** Largest error ÷ bound over C; untouched padding columns must keep their values. */
  check(out: Float32Array): number {
    const { m, n, k } = this.c;
    const r = reference(this.c, this.a, this.lda, this.b, this.ldb, this.c0, this.ldc, this.biasv);
    let worst = 0;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const e = Math.abs(out[i * this.ldc + j] - r.val[i * n + j]) / boundOf(k, r.abs[i * n + j]);
        if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
      }
      for (let j = n; j < this.ldc; j++) if (!Object.is(out[i * this.ldc + j], this.c0[i * this.ldc + j])) worst = Infinity;
    }
    return worst;
  }

  dispose(): void {
    for (const t of [this.A, this.B, this.C, this.bias]) t.dispose();
  }
}

const name = (c: Case) =>
  `${c.tA ? 'Aᵀ' : 'A'}·${c.tB ? 'Bᵀ' : 'B'} m=${c.m} n=${c.n} k=${c.k} beta=${c.beta}${c.withBias ? ' +bias' : ''}`;
const TRANSPOSES = [
  [0, 0],
  [1, 0],
  [0, 1],
  [1, 1],
] as const;

// [m, n, k]: the MLP's forward, dW = Xᵀ·dY and dX = dY·Wᵀ; conv im2col products; cubes
const SIZES: [number, number, number, 0 | 1, 0 | 1][] = [
  [60, 100, 784, 0, 0],
  [60, 100, 100, 0, 0],
  [60, 10, 100, 0, 0],
  [784, 100, 60, 1, 0],
  [100, 100, 60, 1, 0],
  [100, 10, 60, 1, 0],
  [60, 784, 100, 0, 1],
  [60, 100, 100, 0, 1],
  [60, 100, 10, 0, 1],
  [32 * 28 * 28, 16, 9, 0, 0],
  [32 * 14 * 14, 32, 144, 0, 0],
  [9, 16, 32 * 28 * 28, 1, 0],
  [32 * 14 * 14, 144, 32, 0, 1],
  [64, 64, 64, 0, 0],
  [64, 64, 64, 1, 1],
  [256, 256, 256, 0, 0],
  [256, 256, 256, 1, 0],
  [256, 256, 256, 0, 1],
  // Aᵀ with rows 4 KiB apart (A packed), n beyond one B panel, k beyond one k panel
  [1024, 20, 50, 1, 0],
  [3, 600, 300, 0, 0],
  [37, 530, 531, 1, 1],
  // at most 4 rows: B read in place, its last 1–3 columns of each panel packed
  [1, 100, 784, 0, 0],
  [2, 530, 300, 0, 0],
  [4, 7, 5, 0, 0],
];

for (const b of BACKENDS) {
  describe(`${b}: sgemm`, () => {
    it('every m, n, k in 0..17 × four transposes × beta 0/1 × bias: within the f32 bound', async () => {
      await init({ backend: b });
      let worst = 0,
        where = '';
      for (const [tA, tB] of TRANSPOSES) {
        for (let m = 0; m <= 17; m++) {
          for (let n = 0; n <= 17; n++) {
            for (let k = 0; k <= 17; k++) {
              for (const beta of [0, 1]) {
                for (const withBias of [false, true]) {
                  const c: Case = { tA, tB, m, n, k, beta, withBias };
                  const o = new Operands(c, m * 1000 + n * 37 + k);
                  const e = o.check(o.run());
                  o.dispose();
                  if (e > worst) {
                    worst = e;
                    where = name(c);
                  }
                }
              }
            }
          }
        }
      }
      expect(worst, where).toBeLessThanOrEqual(1);
    });

    it('packed A (more than two column strips): m 1..9 × n 17..25 × k 1..9 and 255..257, strided: within the f32 bound', async () => {
      await init({ backend: b });
      let worst = 0,
        where = '';
      for (const [tA, tB] of TRANSPOSES) {
        for (let m = 1; m <= 9; m++) {
          for (let n = 17; n <= 25; n++) {
            for (const k of [1, 2, 3, 4, 5, 6, 7, 8, 9, 255, 256, 257]) {
              const c: Case = { tA, tB, m, n, k, beta: (m + n) % 2, withBias: (m + k) % 2 === 0 };
              const o = new Operands(c, m * 1000 + n * 37 + k, { a: m % 3, b: n % 2, c: k % 3 });
              const e = o.check(o.run());
              o.dispose();
              if (e > worst) {
                worst = e;
                where = name(c);
              }
            }
          }
        }
      }
      expect(worst, where).toBeLessThanOrEqual(1);
    });

    it.each(SIZES)('m=%i n=%i k=%i (transA %i, transB %i), beta 0 and 1, bias: within the f32 bound', async (m, n, k, tA, tB) => {
      await init({ backend: b });
      for (const [beta, withBias] of [
        [0, true],
        [1, false],
        [1, true],
      ] as const) {
        const o = new Operands({ tA, tB, m, n, k, beta, withBias }, m + n + k);
        expect(o.check(o.run()), `beta ${beta} bias ${withBias}`).toBeLessThanOrEqual(1);
        o.dispose();
      }
    });

    it('strided operands: only the m×n block of C is written', async () => {
      await init({ backend: b });
      for (const [tA, tB] of TRANSPOSES) {
        for (const [m, n, k] of [
          [13, 11, 19],
          [70, 45, 300],
          [5, 9, 3],
        ]) {
          for (const beta of [0, 1]) {
            const o = new Operands({ tA, tB, m, n, k, beta, withBias: true }, 7, { a: 3, b: 5, c: 6 });
            expect(o.check(o.run()), name(o.c)).toBeLessThanOrEqual(1);
            o.dispose();
          }
        }
      }
    });

    it('beta = 0 never reads C: NaN and Inf there do not reach the output', async () => {
      await init({ backend: b });
      for (const [m, n, k] of [
        [60, 100, 784],
        [17, 13, 5],
        [5, 3, 0],
        [1, 1, 1],
      ]) {
        const o = new Operands({ tA: 0, tB: 0, m, n, k, beta: 0, withBias: false }, 3);
        o.c0.forEach((_, i) => {
          o.c0[i] = i % 2 ? NaN : -Infinity;
        });
        const out = o.run();
        expect(out.every(Number.isFinite), `${m}×${n}×${k}`).toBe(true);
        o.dispose();
      }
    });

    it('the same inputs give bit-identical outputs', async () => {
      await init({ backend: b });
      for (const [m, n, k, tA, tB] of [
        [60, 100, 784, 0, 0],
        [784, 100, 60, 1, 0],
        [60, 784, 100, 0, 1],
        [13, 7, 17, 1, 1],
      ] as const) {
        const o = new Operands({ tA, tB, m, n, k, beta: 1, withBias: true }, 11);
        const first = o.run(),
          second = o.run();
        expect(Buffer.from(second.buffer).equals(Buffer.from(first.buffer))).toBe(true);
        o.dispose();
      }
    });
  });
}

describe('sgemm: SIMD, scalar WASM and JS agree', () => {
  it.each([
    [60, 100, 784, 0, 0],
    [784, 100, 60, 1, 0],
    [60, 784, 100, 0, 1],
    [17, 15, 13, 1, 1],
    [6272, 32, 144, 0, 0],
    // packed A and its tile remainders: 9 rows (4 + 4 + 1), 25 columns (8 + 8 + 8 + 1), k past a panel
    [9, 25, 257, 0, 0],
    [9, 25, 257, 1, 1],
    [70, 45, 300, 1, 0],
    [70, 45, 300, 0, 1],
  ] as const)('m=%i n=%i k=%i (transA %i, transB %i)', async (m, n, k, tA, tB) => {
    const c: Case = { tA, tB, m, n, k, beta: 1, withBias: true };
    const outs: Record<string, Float32Array> = {};
    let probe: Operands | null = null;
    for (const b of BACKENDS) {
      await init({ backend: b });
      const o = new Operands(c, 5);
      outs[b] = o.run();
      o.dispose();
      probe = o;
    }
    // the SIMD and scalar builds sum every element in the same order (mul, then add, in k order)
    expect(Buffer.from(outs.wasm.buffer).equals(Buffer.from(outs['wasm-simd'].buffer)), 'wasm = wasm-simd, bit for bit').toBe(true);
    const r = reference(c, probe!.a, probe!.lda, probe!.b, probe!.ldb, probe!.c0, probe!.ldc, probe!.biasv);
    for (const [x, y] of [
      ['wasm', 'wasm-simd'],
      ['js', 'wasm-simd'],
      ['js', 'wasm'],
    ]) {
      let worst = 0;
      for (let i = 0; i < m * n; i++) worst = Math.max(worst, Math.abs(outs[x][i] - outs[y][i]) / boundOf(k, r.abs[i]));
      expect(worst, `${x} vs ${y}`).toBeLessThanOrEqual(BETWEEN_BACKENDS);
    }
  });
});
