// LayerNorm { bias: false } (PyTorch 2.1's option, which Debian's torch 1.13 lacks): γ alone,
// against a float64 reference, every backend, by backward(dy) and on the tape, with and without
// the fused ReLU; its state_dict holds weight alone, as PyTorch's does.
import { describe, expect, it } from 'vitest';
import { F, init, LayerNorm, noGrad, tensor } from '../src/index';
import { BACKENDS, throwsLike } from './helpers';
import { maxAbs, maxAbsDiff, randn } from './reference';

// f32 kernels against f64 equations on O(1) data: 1e-5 of the largest |value| (as the other norms' tests)
const TOL = 1e-5;
const EPS = 1e-5;

/** y = γ·(x − μ)/√(σ² + ε) over rows of d values, then ReLU when `relu`; dx and dγ of Σ dy·y. */
function reference(x: Float32Array, dy: Float32Array, gamma: Float32Array, relu: boolean) {
  const d = gamma.length,
    rows = x.length / d;
  const y = new Float64Array(x.length),
    dx = new Float64Array(x.length),
    dgamma = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let mu = 0;
    for (let j = 0; j < d; j++) mu += x[o + j] / d;
    let v = 0;
    for (let j = 0; j < d; j++) v += (x[o + j] - mu) ** 2 / d;
    const inv = 1 / Math.sqrt(v + EPS);
    const g = new Float64Array(d),
      xh = new Float64Array(d);
    let sg = 0,
      sgx = 0;
    for (let j = 0; j < d; j++) {
      xh[j] = (x[o + j] - mu) * inv;
      const out = gamma[j] * xh[j];
      y[o + j] = relu ? Math.max(out, 0) : out;
      const gy = relu && !(out > 0) ? 0 : dy[o + j];
      dgamma[j] += gy * xh[j];
      g[j] = gy * gamma[j];
      sg += g[j];
      sgx += g[j] * xh[j];
    }
    for (let j = 0; j < d; j++) dx[o + j] = inv * (g[j] - sg / d - (xh[j] * sgx) / d);
  }
  return { y, dx, dgamma };
}

for (const b of BACKENDS) {
  describe(`${b}: LayerNorm without bias`, () => {
    for (const relu of [false, true]) {
      it(`[4, 3, 10] over the last two dims${relu ? ', fused ReLU' : ''}: the reference, by backward(dy) and on the tape`, async () => {
        await init({ backend: b });
        const shape = [4, 3, 10],
          ns = [3, 10];
        const m = new LayerNorm(ns, { bias: false, activation: relu ? 'relu' : null });
        expect(m.bias).toBeNull();
        expect(Object.keys(m.stateDict())).toEqual(['weight']);
        expect(m.parameters().length).toBe(1);
        const gamma = randn(30, 3, 1, 0.4);
        m.loadStateDict({ weight: gamma });
        const x = randn(120, 4, 2, 3),
          dy = randn(120, 5);
        const ref = reference(x, dy, gamma, relu);
        const absDy = dy.reduce((p, v) => p + Math.abs(v), 0);
        // backward(dy) after a forward under noGrad
        using xt = tensor(x, shape);
        using y = noGrad(() => m.forward(xt));
        using dyt = tensor(dy, shape);
        using dx = m.backward(dyt);
        expect(maxAbsDiff(y.toArray(), ref.y), 'y').toBeLessThanOrEqual(TOL * maxAbs(ref.y));
        expect(maxAbsDiff(dx.toArray(), ref.dx), 'dx').toBeLessThanOrEqual(TOL * maxAbs(ref.dx));
        expect(maxAbsDiff(m.weight!.grad.toArray(), ref.dgamma), 'dγ').toBeLessThanOrEqual(TOL * absDy);
        // on the tape, through loss.backward()
        m.zeroGrad();
        const xr = tensor(x, shape, { requiresGrad: true });
        const yr = m.forward(xr);
        expect(maxAbsDiff(yr.toArray(), ref.y), 'taped y').toBeLessThanOrEqual(TOL * maxAbs(ref.y));
        F.sum(F.mul(yr, tensor(dy, shape))).backward();
        expect(maxAbsDiff(xr.grad!.toArray(), ref.dx), 'taped dx').toBeLessThanOrEqual(TOL * maxAbs(ref.dx));
        expect(maxAbsDiff(m.weight!.grad.toArray(), ref.dgamma), 'taped dγ').toBeLessThanOrEqual(TOL * absDy);
        xr.dispose();
        m.dispose();
      });
    }

    it('a state_dict with a bias is refused (strict) and the options are checked', async () => {
      await init({ backend: b });
      const m = new LayerNorm(4, { bias: false });
      expect(() => m.loadStateDict({ weight: [1, 2, 3, 4], bias: [0, 0, 0, 0] })).toThrow(/bias/);
      expect(Array.from(m.weight!.toArray())).toEqual([1, 1, 1, 1]); // nothing written
      expect(m.toString()).toContain('bias=false');
      throwsLike(() => new LayerNorm(4, { bias: 0 as never }), TypeError, /^LayerNorm: bias: expected a boolean, got number 0$/);
      const none = new LayerNorm(4, { elementwiseAffine: false, bias: false });
      expect(Object.keys(none.stateDict())).toEqual([]);
      none.dispose();
      m.dispose();
    });
  });
}
