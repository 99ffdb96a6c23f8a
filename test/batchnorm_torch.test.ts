// PyTorch golden vectors (test/fixtures/gen_torch.py → torch_bn.json): forward, backward and the
// running statistics over several steps, for every layout and option the fixtures cover.
import torchBn from './fixtures/torch_bn.json';
import { describe, expect, it } from 'vitest';
import { init, tensor } from '../src/index';
import { BACKENDS, makeLayer } from './helpers';
import { maxAbs, maxAbsDiff, type Layout } from './reference';

interface Step {
  mode: 'train' | 'eval';
  x: number[];
  dy: number[];
  y: number[];
  dx: number[];
  dweight: number[] | null;
  dbias: number[] | null;
  running_mean: number[] | null;
  running_var: number[] | null;
  num_batches_tracked: number | null;
}
interface Case {
  name: string;
  layout: Layout;
  shape: number[];
  reference: 'float32' | 'float64';
  options: { eps: number; momentum: number | null; affine: boolean; trackRunningStats: boolean };
  weight: number[] | null;
  bias: number[] | null;
  running_mean_init: number[] | null;
  running_var_init: number[] | null;
  steps: Step[];
}

const fixtures = torchBn as unknown as { cases: Case[] };

// Tolerances. Against torch's float32 results both sides round differently (torch folds
// y = x·a + b; its channels-last and channel-first paths already differ by ~1e-5 on dweight):
// 2e-5 of the largest |value|. Against the float64 reference (large offsets): the 2e-4 bound
// the kernels promise; running statistics to 1e-5 relative (var) and f32 rounding (mean).
const TOL = { float32: { out: 2e-5, grad: 2e-5, run: 2e-6 }, float64: { out: 2e-4, grad: 2e-4, run: 1e-5 } };

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  expect(maxAbsDiff(actual, expected), what).toBeLessThanOrEqual(rel * Math.max(1, maxAbs(expected)));
}

for (const b of BACKENDS) {
  describe(`${b}: PyTorch fixtures`, () => {
    for (const fx of fixtures.cases) {
      it(`${fx.name} (${fx.layout} [${fx.shape}], ${fx.steps.length} steps)`, async () => {
        await init({ backend: b });
        const tol = TOL[fx.reference];
        const c = fx.layout === 'NC' || fx.layout.startsWith('NC') ? fx.shape[1] : fx.shape[fx.shape.length - 1];
        const bn = makeLayer(fx.layout, c, fx.options);
        bn.loadStateDict({
          ...(fx.weight ? { weight: fx.weight, bias: fx.bias! } : {}),
          ...(fx.running_mean_init
            ? { running_mean: fx.running_mean_init, running_var: fx.running_var_init!, num_batches_tracked: 0 }
            : {}),
        } as never);
        for (const [i, s] of fx.steps.entries()) {
          bn.zeroGrad();
          bn.train(s.mode === 'train');
          using x = tensor(s.x, fx.shape);
          using y = bn.forward(x);
          using dy = tensor(s.dy, fx.shape);
          using dx = bn.backward(dy);
          const at = `step ${i}`;
          close(y.toArray(), s.y, tol.out, `${at} y`);
          close(dx.toArray(), s.dx, tol.grad, `${at} dx`);
          if (s.dweight) close(bn.weight!.grad.toArray(), s.dweight, tol.grad, `${at} dweight`);
          if (s.dbias) close(bn.bias!.grad.toArray(), s.dbias, tol.grad, `${at} dbias`);
          if (s.running_mean) {
            const sd = bn.stateDict();
            close(sd.running_mean!, s.running_mean, tol.run, `${at} running_mean`);
            close(sd.running_var!, s.running_var!, tol.run, `${at} running_var`);
            expect(sd.num_batches_tracked, at).toBe(s.num_batches_tracked);
          } else {
            expect(bn.runningMean).toBeNull();
          }
        }
        bn.dispose();
      });
    }
  });
}
