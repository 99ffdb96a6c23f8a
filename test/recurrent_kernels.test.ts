// The fused gate kernels of RNN, LSTM and GRU, called directly: each step forward and backward
// against float64 formulas of the cell (PyTorch's equations), and every backend's bits equal to
// the others' (SIMD = relaxed = scalar = JS: the same f32 operations in the same order) for every
// hidden size 1…33 (every SIMD tail), with saturated, NaN and ±Inf pre-activations.
import { describe, expect, it } from 'vitest';
import { init, tensor } from '../src/index';
import * as rk from '../src/kernels/recurrent';
import { BACKENDS, bits } from './helpers';
import { randn } from './reference';

// the f32 exp (Cephes expf) is within 2 ulps; sigmoid/tanh of it and the cell's few f32 products
// and sums of O(1) values stay within a few ulps of 1: 2e-6 absolute, relative to max(1, |value|)
const TOL = 2e-6;

const sig = (x: number) => 1 / (1 + Math.exp(-x));

/** Runs fn with f32 inputs copied into the active backend's memory; returns what fn reads back. */
function run(inputs: Float32Array[], fn: (p: number[]) => void): Float32Array[] {
  const ts = inputs.map((a) => tensor(a, [a.length]));
  try {
    fn(ts.map((t) => t.ptr));
    return ts.map((t) => t.toArray());
  } finally {
    for (const t of ts) t.dispose();
  }
}

/** Inputs for one step of `rows` rows and hidden size hs with `gates` gates, a few of them extreme. */
function inputs(rows: number, hs: number, gates: number, seed: number): Float32Array[] {
  const g = randn(rows * gates * hs, seed, 0, 3);
  if (g.length > 6) {
    g[0] = 90;
    g[1] = -90;
    g[2] = Infinity;
    g[3] = -Infinity;
  }
  return [g, randn(rows * gates * hs, seed + 1, 0, 2), randn(rows * hs, seed + 2), randn(rows * hs, seed + 3), randn(rows * hs, seed + 4)];
}

type Case = { name: string; gates: number; step: (a: Float32Array[], rows: number, hs: number) => Float32Array[] };

const CASES: Case[] = [
  {
    name: 'lstm',
    gates: 4,
    step: ([g, , cp, dh, dc], rows, hs) => {
      const [ga, , , c, h] = run([g, cp, cp, new Float32Array(rows * hs), new Float32Array(rows * hs)], (p) =>
        rk.lstmCellForward(p[0], p[1], p[3], p[4], rows, hs),
      );
      const back = run([ga, cp, c, dh, dc, new Float32Array(g.length)], (p) =>
        rk.lstmCellBackward(p[0], p[1], p[2], p[3], p[4], p[5], rows, hs),
      );
      return [ga, c, h, back[3], back[4], back[5]];
    },
  },
  {
    name: 'gru',
    gates: 3,
    step: ([xg, hg, hp, dh], rows, hs) => {
      const [xa, , , h] = run([xg, hg, hp, new Float32Array(rows * hs)], (p) => rk.gruCellForward(p[0], p[1], p[2], p[3], rows, hs));
      const back = run([xa, hg, hp, dh, new Float32Array(xg.length), new Float32Array(xg.length)], (p) =>
        rk.gruCellBackward(p[0], p[1], p[2], p[3], p[4], p[5], rows, hs),
      );
      return [xa, h, back[3], back[4], back[5]];
    },
  },
  ...[false, true].map(
    (relu): Case => ({
      name: relu ? 'rnn relu' : 'rnn tanh',
      gates: 1,
      step: ([pre, , , dh], rows, hs) => {
        const n = rows * hs;
        const [, h] = run([pre, new Float32Array(n)], (p) => rk.rnnCellForward(p[0], p[1], n, relu));
        const back = run([h, dh, new Float32Array(n)], (p) => rk.rnnCellBackward(p[0], p[1], p[2], n, relu));
        return [h, back[1], back[2]];
      },
    }),
  ),
  {
    name: 'lstm output gate',
    gates: 4,
    step: ([g, , z, dh], rows, hs) => {
      const [, , h] = run([g, z, new Float32Array(rows * hs)], (p) => rk.lstmOutForward(p[0], p[1], p[2], rows, hs));
      const back = run([g, z, dh, new Float32Array(g.length), new Float32Array(rows * hs)], (p) =>
        rk.lstmOutBackward(p[0], p[1], p[2], p[3], p[4], rows, hs),
      );
      expect(bits(back[0]), 'g is kept').toEqual(bits(g));
      return [h, back[3], back[4]];
    },
  },
];

/** float64 LSTM step of PyTorch's equations: activated gates, c, h, dh (0), dcPrev, dg. */
function lstmRef([g, , cp, dh, dc]: Float32Array[], rows: number, hs: number): number[][] {
  const ga: number[] = [],
    c: number[] = [],
    h: number[] = [],
    dcp: number[] = [],
    dg: number[] = [];
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < hs; j++) {
      const at = (q: number) => g[r * 4 * hs + q * hs + j];
      const i = sig(at(0)),
        f = sig(at(1)),
        gg = Math.tanh(at(2)),
        o = sig(at(3));
      const k = r * hs + j;
      c[k] = f * cp[k] + i * gg;
      const tc = Math.tanh(c[k]);
      h[k] = o * tc;
      const dcv = dc[k] + dh[k] * o * (1 - tc * tc);
      dcp[k] = dcv * f;
      const put = (q: number, v: number, a: number) => {
        ga[r * 4 * hs + q * hs + j] = a;
        dg[r * 4 * hs + q * hs + j] = v;
      };
      put(0, dcv * gg * i * (1 - i), i);
      put(1, dcv * cp[k] * f * (1 - f), f);
      put(2, dcv * i * (1 - gg * gg), gg);
      put(3, dh[k] * tc * o * (1 - o), o);
    }
  return [ga, c, h, new Array(rows * hs).fill(0), dcp, dg];
}

function close(got: Float32Array, want: number[], what: string): void {
  for (let i = 0; i < want.length; i++) {
    const w = want[i],
      v = got[i];
    if (Number.isNaN(w)) expect(v, `${what}[${i}]`).toBeNaN();
    else expect(Math.abs(v - w), `${what}[${i}] = ${v}, want ${w}`).toBeLessThanOrEqual(TOL * Math.max(1, Math.abs(w)));
  }
}

describe('recurrent gate kernels', () => {
  it('every backend gives the same bits for every hidden size 1…33', async () => {
    const results = new Map<string, number[][]>();
    for (const b of BACKENDS) {
      await init({ backend: b });
      const all: number[][] = [];
      for (const c of CASES)
        for (let hs = 1; hs <= 33; hs++) for (const out of c.step(inputs(2, hs, c.gates, hs), 2, hs)) all.push(bits(out)!);
      results.set(b, all);
    }
    const ref = results.get('js')!;
    for (const b of BACKENDS) expect(results.get(b), b).toEqual(ref);
  });

  for (const b of BACKENDS) {
    it(`${b}: the LSTM step against float64 (finite pre-activations)`, async () => {
      await init({ backend: b });
      for (const hs of [1, 4, 7, 16]) {
        const a = inputs(3, hs, 4, 40 + hs);
        a[0] = randn(a[0].length, 70 + hs, 0, 3);
        a[0][0] = 30;
        a[0][1] = -30;
        const got = CASES[0].step(a, 3, hs);
        const want = lstmRef(a, 3, hs);
        ['gates', 'c', 'h', 'dh', 'dcPrev', 'dg'].forEach((n, i) => close(got[i], want[i], n));
      }
    });

    it(`${b}: the GRU and RNN steps against float64`, async () => {
      await init({ backend: b });
      const rows = 2,
        hs = 9;
      const [xg, hg, hp, dh] = inputs(rows, hs, 3, 5);
      xg.set(randn(xg.length, 6, 0, 3));
      const [xa, h, dhOut, dxg, dhg] = CASES[1].step([xg, hg, hp, dh], rows, hs);
      for (let r = 0; r < rows; r++)
        for (let j = 0; j < hs; j++) {
          const at = (a: Float32Array, q: number) => a[r * 3 * hs + q * hs + j];
          const k = r * hs + j;
          const rr = sig(at(xg, 0) + at(hg, 0)),
            z = sig(at(xg, 1) + at(hg, 1)),
            n = Math.tanh(at(xg, 2) + rr * at(hg, 2));
          close(h.subarray(k, k + 1), [(1 - z) * n + z * hp[k]], 'h');
          close(new Float32Array([at(xa, 0), at(xa, 1), at(xa, 2)]), [rr, z, n], 'rzn');
          const dn = dh[k] * (1 - z) * (1 - n * n),
            dz = dh[k] * (hp[k] - n) * z * (1 - z),
            dr = dn * at(hg, 2) * rr * (1 - rr);
          close(new Float32Array([at(dxg, 0), at(dxg, 1), at(dxg, 2)]), [dr, dz, dn], 'dxg');
          close(new Float32Array([at(dhg, 0), at(dhg, 1), at(dhg, 2)]), [dr, dz, dn * rr], 'dhg');
          close(dhOut.subarray(k, k + 1), [dh[k] * z], 'dh');
        }
      for (const [ci, f, df] of [
        [2, Math.tanh, (y: number) => 1 - y * y],
        [3, (x: number) => Math.max(x, 0), (y: number) => (y > 0 ? 1 : 0)],
      ] as const) {
        const pre = randn(40, 8 + ci, 0, 3),
          d = randn(40, 9);
        const [y, dh2, dpre] = CASES[ci].step([pre, pre, pre, d], 5, 8);
        close(
          y,
          Array.from(pre, (v) => f(v)),
          'h',
        );
        close(
          dpre,
          Array.from(d, (v, i) => v * df(f(pre[i]))),
          'dpre',
        );
        close(dh2, new Array(40).fill(0), 'dh');
      }
    });

    it(`${b}: the normalized LSTM's output gate against float64`, async () => {
      await init({ backend: b });
      const rows = 3,
        hs = 7;
      const g = randn(rows * 4 * hs, 80, 0, 3),
        z = randn(rows * hs, 81, 0, 2),
        dh = randn(rows * hs, 82);
      g[3 * hs] = 30;
      g[3 * hs + 1] = -30;
      const [h, dg, dz] = CASES[4].step([g, g, z, dh], rows, hs);
      const wantH: number[] = [],
        wantDg: number[] = new Array(g.length).fill(0),
        wantDz: number[] = [];
      for (let r = 0; r < rows; r++)
        for (let j = 0; j < hs; j++) {
          const k = r * hs + j,
            o = sig(g[r * 4 * hs + 3 * hs + j]),
            tz = Math.tanh(z[k]);
          wantH[k] = o * tz;
          wantDg[r * 4 * hs + 3 * hs + j] = dh[k] * tz * o * (1 - o);
          wantDz[k] = dh[k] * o * (1 - tz * tz);
        }
      close(h, wantH, 'h');
      close(dg, wantDg, 'dg');
      close(dz, wantDz, 'dz');
    });

    it(`${b}: saturated and non-finite pre-activations give no NaN but from NaN`, async () => {
      await init({ backend: b });
      const g = new Float32Array([90, -90, Infinity, -Infinity, NaN, 0, -0, 1e-30]);
      const [, y] = run([g, new Float32Array(8)], (p) => rk.rnnCellForward(p[0], p[1], 8, false));
      expect(Array.from(y.subarray(0, 5))).toEqual([1, -1, 1, -1, NaN]);
      expect(Math.abs(y[5]) + Math.abs(y[6]) + Math.abs(y[7])).toBeLessThan(1e-6);
    });
  }
});
