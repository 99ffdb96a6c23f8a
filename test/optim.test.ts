// Losses, optimizers and schedulers against float64 restatements of PyTorch's formulas.
import { describe, expect, it } from 'vitest';
import { init, tensor, Adam, AdamW, CosineAnnealingLR, CrossEntropyLoss, MSELoss, Parameter, SGD, StepLR } from '../src/index';
import { BACKENDS } from './helpers';
import { maxAbsDiff, randn } from './reference';

// Losses: f64 inside, one f32 rounding of the gradient (≤ 1e-7 for |g| ≤ 1): 1e-6 absolute.
const TOL_LOSS = 1e-6;
// Optimizer steps are f32 arithmetic of O(1) values for 5 steps: 1e-5 relative.
const TOL_STEP = 1e-5;

function refCrossEntropy(z: Float32Array, labels: number[], n: number, c: number, s: number) {
  let loss = 0;
  const grad = new Float64Array(n * c);
  for (let i = 0; i < n; i++) {
    const row = Array.from(z.slice(i * c, i * c + c));
    const mx = Math.max(...row);
    const lse = mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0));
    for (let j = 0; j < c; j++) {
      const t = (j === labels[i] ? 1 - s : 0) + s / c;
      loss -= (t * (row[j] - lse)) / n;
      grad[i * c + j] = (Math.exp(row[j] - lse) - t) / n;
    }
  }
  return { loss, grad };
}

for (const b of BACKENDS) {
  describe(`${b}: losses`, () => {
    it('CrossEntropyLoss with and without label smoothing, large logits', async () => {
      await init({ backend: b });
      for (const s of [0, 0.1]) {
        const n = 7, c = 10;
        const z = randn(n * c, 3, 0, 4);
        z[5] = 500; z[17] = -400; // log-sum-exp keeps these finite
        const labels = [0, 3, 9, 5, 5, 1, 7];
        const lossFn = new CrossEntropyLoss({ labelSmoothing: s });
        using zt = tensor(z, [n, c]);
        const loss = lossFn.forward(zt, labels);
        const ref = refCrossEntropy(z, labels, n, c, s);
        expect(Math.abs(loss - ref.loss)).toBeLessThanOrEqual(TOL_LOSS * Math.max(1, Math.abs(ref.loss)));
        using g = lossFn.backward();
        expect(maxAbsDiff(g.toArray(), ref.grad)).toBeLessThanOrEqual(TOL_LOSS);
        expect(() => lossFn.backward()).toThrow(/^CrossEntropyLoss\.backward: call forward\(\) first/);
      }
    });

    it('CrossEntropyLoss rejects bad labels and shapes', async () => {
      await init({ backend: b });
      using z = tensor(randn(6, 1), [2, 3]);
      const lossFn = new CrossEntropyLoss();
      expect(() => lossFn.forward(z, [0])).toThrow(/^CrossEntropyLoss\.forward: labels: expected 2 labels \(one per row of logits\), got 1$/);
      expect(() => lossFn.forward(z, [0, 3])).toThrow(/^CrossEntropyLoss\.forward: labels\[1\]: expected an integer class in \[0, 3\), got number 3$/);
      expect(() => lossFn.forward(z, [0, 1.5])).toThrow(/labels\[1\]: expected an integer class/);
      using z1 = tensor([1, 2, 3]);
      expect(() => lossFn.forward(z1, [0])).toThrow(/^CrossEntropyLoss\.forward: logits: expected rank 2 \[N, C\], got \[3\]$/);
      expect(() => new CrossEntropyLoss({ labelSmoothing: 2 })).toThrow(/labelSmoothing: expected a number in \[0, 1\], got number 2/);
    });

    it('MSELoss', async () => {
      await init({ backend: b });
      const p = randn(9, 1), t = randn(9, 2);
      using pt = tensor(p, [3, 3]);
      using tt = tensor(t, [3, 3]);
      const lossFn = new MSELoss();
      const loss = lossFn.forward(pt, tt);
      const ref = p.reduce((a, v, i) => a + (v - t[i]) ** 2, 0) / 9;
      expect(Math.abs(loss - ref)).toBeLessThanOrEqual(TOL_LOSS);
      using g = lossFn.backward();
      expect(maxAbsDiff(g.toArray(), Array.from(p, (v, i) => (2 * (v - t[i])) / 9))).toBeLessThanOrEqual(TOL_LOSS);
    });
  });

  describe(`${b}: optimizers`, () => {
    const run = (make: (ps: Parameter[]) => { step(): void; zeroGrad(): void }, rule: (w: number, g: number, st: Record<string, number>, t: number) => number) => {
      const p = new Parameter([6], 0);
      p.view().set(randn(6, 4));
      const w0 = Array.from(p.toArray());
      const opt = make([p]);
      const states = w0.map(() => ({} as Record<string, number>));
      const ref = [...w0];
      for (let t = 1; t <= 5; t++) {
        const g = randn(6, 10 + t);
        opt.zeroGrad();
        p.grad.view().set(g);
        opt.step();
        for (let i = 0; i < 6; i++) ref[i] = rule(ref[i], g[i], states[i], t);
      }
      const got = p.toArray();
      for (let i = 0; i < 6; i++) expect(Math.abs(got[i] - ref[i])).toBeLessThanOrEqual(TOL_STEP * Math.max(1, Math.abs(ref[i])));
      p.dispose();
    };

    it('SGD plain, momentum + weight decay, Nesterov', async () => {
      await init({ backend: b });
      run((ps) => new SGD(ps, { lr: 0.1 }), (w, g) => w - 0.1 * g);
      const mom = (nesterov: boolean, damp: number) => (w: number, g: number, st: Record<string, number>, t: number) => {
        const d = g + 0.01 * w;
        st.buf = t === 1 ? d : 0.9 * st.buf + (1 - damp) * d;
        return w - 0.05 * (nesterov ? d + 0.9 * st.buf : st.buf);
      };
      run((ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, weightDecay: 0.01 }), mom(false, 0));
      run((ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, weightDecay: 0.01, dampening: 0.3 }), mom(false, 0.3));
      run((ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, weightDecay: 0.01, nesterov: true }), mom(true, 0));
    });

    it('Adam and AdamW with PyTorch defaults', async () => {
      await init({ backend: b });
      const adam = (decoupled: boolean, wd: number) => (w: number, g: number, st: Record<string, number>, t: number) => {
        let d = g;
        if (decoupled) w *= 1 - 1e-3 * wd; else d += wd * w;
        st.m = 0.9 * (st.m ?? 0) + 0.1 * d;
        st.v = 0.999 * (st.v ?? 0) + 0.001 * d * d;
        return w - (1e-3 / (1 - 0.9 ** t)) * (st.m / (Math.sqrt(st.v) / Math.sqrt(1 - 0.999 ** t) + 1e-8));
      };
      run((ps) => new Adam(ps), adam(false, 0));
      run((ps) => new Adam(ps, { weightDecay: 0.1 }), adam(false, 0.1));
      run((ps) => new AdamW(ps), adam(true, 0.01));
    });

    it('schedulers follow PyTorch\'s closed forms', async () => {
      await init({ backend: b });
      const p = new Parameter([1], 0);
      const opt = new SGD([p], { lr: 0.1 });
      const s = new StepLR(opt, { stepSize: 3, gamma: 0.5 });
      const lrs = [];
      for (let e = 0; e < 7; e++) { lrs.push(opt.lr); s.step(); }
      expect(lrs).toEqual([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]);
      const opt2 = new SGD([p], { lr: 1 });
      const c = new CosineAnnealingLR(opt2, { tMax: 4, etaMin: 0.1 });
      const got = [];
      for (let e = 0; e < 5; e++) { got.push(opt2.lr); c.step(); }
      const ref = [0, 1, 2, 3, 4].map((e) => 0.1 + 0.9 * (1 + Math.cos((Math.PI * e) / 4)) / 2);
      expect(maxAbsDiff(got, ref)).toBeLessThan(1e-15);
      p.dispose();
    });

    it('rejects bad options', async () => {
      await init({ backend: b });
      const p = new Parameter([2], 0);
      expect(() => new SGD([p], { lr: -1 })).toThrow(/^SGD: lr: expected a finite number > 0, got number -1$/);
      expect(() => new SGD([p, p], { lr: 1 })).toThrow(/^SGD: params: a parameter appears more than once$/);
      expect(() => new SGD([p], { lr: 1, nesterov: true })).toThrow(/^SGD: nesterov: needs momentum > 0 and dampening 0$/);
      expect(() => new Adam([p], { betas: [0.9, 1] })).toThrow(/^Adam: betas: expected two numbers in \[0, 1\)/);
      expect(() => new SGD([{}] as never, { lr: 1 })).toThrow(/^SGD: params\[0\]: expected a Parameter, got Object$/);
      expect(() => new SGD([p], { lr: 1, momentun: 0.9 } as never)).toThrow(/^SGD: unknown option 'momentun'/);
      p.dispose();
    });
  });
}
