// A float64 BN-LSTM and LN-LSTM written from the papers' equations, not from the package's code:
// Cooijmans et al. 2016 eq. 6–8 (BN of W_h·h_{t−1} and of W_x·x_t with γ only, of c_t with γ and β,
// statistics per time step: biased variance to normalize, unbiased into the running update, as
// PyTorch's BatchNorm), and Ba et al. 2016 §3.1 (LayerNorm at the same three places). Gate order i, f,
// g, o and the two biases as PyTorch's LSTM.
// see: https://arxiv.org/abs/1603.09025; https://arxiv.org/abs/1607.06450
export const EPS = 1e-5;
export const MOMENTUM = 0.1;

const sig = (v: number) => 1 / (1 + Math.exp(-v));

export interface RefConfig {
  norm: 'recurrent-bn' | 'layer';
  T: number;
  N: number;
  I: number;
  H: number;
  L: number;
  lengths: readonly number[] | null;
  training: boolean;
  /** Rows of running statistics per norm (recurrent-bn). */
  tMax: number;
}

/** Running statistics [tMax·C] by the module's state names (`bn_ih_l0.running_mean`, …); updated in place in training. */
export type Running = Record<string, Float64Array>;

/** Fresh running statistics (mean 0, variance 1) for every BN of the stack. */
export function freshRunning(c: RefConfig): Running {
  const r: Running = {};
  for (let l = 0; l < c.L; l++)
    for (const [k, C] of [
      ['ih', 4 * c.H],
      ['hh', 4 * c.H],
      ['c', c.H],
    ] as const) {
      r[`bn_${k}_l${l}.running_mean`] = new Float64Array(c.tMax * C);
      r[`bn_${k}_l${l}.running_var`] = new Float64Array(c.tMax * C).fill(1);
    }
  return r;
}

/**
 * BN (training: the batch rows' statistics; eval: row min(t, tMax − 1) of the running ones) or LN of
 * rows v[M][C], then γ and β (β may be null).
 */
function normalize(
  c: RefConfig,
  v: Float64Array[],
  g: Float64Array,
  b: Float64Array | null,
  stem: string,
  t: number,
  run: Running,
): Float64Array[] {
  const C = g.length,
    M = v.length;
  if (c.norm === 'layer') {
    return v.map((row) => {
      let m = 0;
      for (const x of row) m += x;
      m /= C;
      let s = 0;
      for (const x of row) s += (x - m) ** 2;
      const inv = 1 / Math.sqrt(s / C + EPS);
      return row.map((x, j) => (x - m) * inv * g[j] + (b ? b[j] : 0));
    });
  }
  const rm = run[`${stem}.running_mean`],
    rv = run[`${stem}.running_var`];
  const r = Math.min(t, c.tMax - 1);
  const mean = new Float64Array(C),
    vr = new Float64Array(C);
  if (c.training) {
    for (let j = 0; j < C; j++) {
      let m = 0;
      for (let i = 0; i < M; i++) m += v[i][j];
      m /= M;
      let s = 0;
      for (let i = 0; i < M; i++) s += (v[i][j] - m) ** 2;
      mean[j] = m;
      vr[j] = s / M;
      if (t < c.tMax) {
        rm[r * C + j] = (1 - MOMENTUM) * rm[r * C + j] + MOMENTUM * m;
        rv[r * C + j] = (1 - MOMENTUM) * rv[r * C + j] + (MOMENTUM * s) / (M - 1);
      }
    }
  } else {
    for (let j = 0; j < C; j++) {
      mean[j] = rm[r * C + j];
      vr[j] = rv[r * C + j];
    }
  }
  return v.map((row) => row.map((x, j) => ((x - mean[j]) / Math.sqrt(vr[j] + EPS)) * g[j] + (b ? b[j] : 0)));
}

/**
 * The stack over x [T, N, I] (time-first) from h0, c0 [L, N, H]: output [T, N, H] (zero past a
 * length), hN, cN, and loss Σ out·w0 + Σ hN·w1 + Σ cN·w2. `p`: every parameter by its state name.
 */
export function referenceNormLSTM(
  c: RefConfig,
  p: Record<string, Float64Array>,
  x: Float64Array,
  h0: Float64Array,
  c0: Float64Array,
  w: Float64Array[],
  run: Running,
) {
  const { T, N, H, L } = c;
  const stem = c.norm === 'layer' ? 'ln' : 'bn';
  let inp = x,
    inF = c.I;
  const hN = new Float64Array(L * N * H),
    cN = new Float64Array(L * N * H);
  for (let l = 0; l < L; l++) {
    const wih = p[`weight_ih_l${l}`],
      whh = p[`weight_hh_l${l}`],
      bih = p[`bias_ih_l${l}`],
      bhh = p[`bias_hh_l${l}`];
    const P = (k: string, q: string) => p[`${stem}_${k}_l${l}.${q}`] ?? null;
    const h = h0.slice(l * N * H, (l + 1) * N * H),
      cc = c0.slice(l * N * H, (l + 1) * N * H);
    const next = new Float64Array(T * N * H);
    for (let t = 0; t < T; t++) {
      const rows: number[] = [];
      for (let n = 0; n < N; n++) if (c.lengths === null || t < c.lengths[n]) rows.push(n);
      const xp = rows.map((n) => {
        const o = new Float64Array(4 * H);
        for (let q = 0; q < 4 * H; q++) for (let k = 0; k < inF; k++) o[q] += wih[q * inF + k] * inp[(t * N + n) * inF + k];
        return o;
      });
      const hp = rows.map((n) => {
        const o = new Float64Array(4 * H);
        for (let q = 0; q < 4 * H; q++) for (let k = 0; k < H; k++) o[q] += whh[q * H + k] * h[n * H + k];
        return o;
      });
      const xn = normalize(c, xp, P('ih', 'weight'), P('ih', 'bias'), `${stem}_ih_l${l}`, t, run);
      const hn = normalize(c, hp, P('hh', 'weight'), P('hh', 'bias'), `${stem}_hh_l${l}`, t, run);
      const cs = rows.map((n, i) => {
        const o = new Float64Array(H);
        const pre = (q: number) => xn[i][q] + hn[i][q] + bih[q] + bhh[q];
        for (let j = 0; j < H; j++) o[j] = sig(pre(H + j)) * cc[n * H + j] + sig(pre(j)) * Math.tanh(pre(2 * H + j));
        return o;
      });
      const cn = normalize(c, cs, P('c', 'weight'), P('c', 'bias'), `${stem}_c_l${l}`, t, run);
      rows.forEach((n, i) => {
        for (let j = 0; j < H; j++) {
          const o = sig(xn[i][3 * H + j] + hn[i][3 * H + j] + bih[3 * H + j] + bhh[3 * H + j]);
          h[n * H + j] = o * Math.tanh(cn[i][j]);
          cc[n * H + j] = cs[i][j];
          next[(t * N + n) * H + j] = h[n * H + j];
        }
      });
    }
    hN.set(h, l * N * H);
    cN.set(cc, l * N * H);
    inp = next;
    inF = H;
  }
  let loss = 0;
  inp.forEach((v, i) => (loss += v * w[0][i]));
  hN.forEach((v, i) => (loss += v * w[1][i]));
  cN.forEach((v, i) => (loss += v * w[2][i]));
  return { loss, out: inp, hN, cN };
}
