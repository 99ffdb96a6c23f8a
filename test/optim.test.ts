// Optimizers and schedulers against float64 restatements of PyTorch's formulas.
import { describe, expect, it } from 'vitest';
import { init, tensor, Adam, AdamW, CosineAnnealingLR, Parameter, SGD, StepLR } from '../src/index';
import { BACKENDS } from './helpers';
import { maxAbsDiff, randn } from './reference';

// Optimizer steps are f32 arithmetic of O(1) values for 5 steps: 1e-5 relative.
const TOL_STEP = 1e-5;

for (const b of BACKENDS) {
  describe(`${b}: optimizers`, () => {
    const run = (
      make: (ps: Parameter[]) => { step(): void; zeroGrad(): void },
      rule: (w: number, g: number, st: Record<string, number>, t: number) => number,
    ) => {
      const p = new Parameter([6], 0);
      p.view().set(randn(6, 4));
      const w0 = Array.from(p.toArray());
      const opt = make([p]);
      const states = w0.map(() => ({}) as Record<string, number>);
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
      run(
        (ps) => new SGD(ps, { lr: 0.1 }),
        (w, g) => w - 0.1 * g,
      );
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
        if (decoupled) w *= 1 - 1e-3 * wd;
        else d += wd * w;
        st.m = 0.9 * (st.m ?? 0) + 0.1 * d;
        st.v = 0.999 * (st.v ?? 0) + 0.001 * d * d;
        return w - (1e-3 / (1 - 0.9 ** t)) * (st.m / (Math.sqrt(st.v) / Math.sqrt(1 - 0.999 ** t) + 1e-8));
      };
      run((ps) => new Adam(ps), adam(false, 0));
      run((ps) => new Adam(ps, { weightDecay: 0.1 }), adam(false, 0.1));
      run((ps) => new AdamW(ps), adam(true, 0.01));
    });

    it("schedulers follow PyTorch's closed forms", async () => {
      await init({ backend: b });
      const p = new Parameter([1], 0);
      const opt = new SGD([p], { lr: 0.1 });
      const s = new StepLR(opt, { stepSize: 3, gamma: 0.5 });
      const lrs = [];
      for (let e = 0; e < 7; e++) {
        lrs.push(opt.lr);
        s.step();
      }
      expect(lrs).toEqual([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]);
      const opt2 = new SGD([p], { lr: 1 });
      const c = new CosineAnnealingLR(opt2, { tMax: 4, etaMin: 0.1 });
      const got = [];
      for (let e = 0; e < 5; e++) {
        got.push(opt2.lr);
        c.step();
      }
      const ref = [0, 1, 2, 3, 4].map((e) => 0.1 + (0.9 * (1 + Math.cos((Math.PI * e) / 4))) / 2);
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
