// LayerNorm, GroupNorm and InstanceNorm1d/2d/3d (batched and unbatched) against PyTorch (test/fixtures/gen_torch_norms.py →
// torch_norms.json): forward, backward (dx, dγ, dβ), running statistics over several steps and the
// state_dict names, every backend, by three routes: the layer's backward(dy) after a recorded
// forward, after a forward under noGrad (the saved-state path), and the F form with loss.backward().
import fixture from './fixtures/torch_norms.json';
import { describe, expect, it } from 'vitest';
import { F, GroupNorm, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, init, LayerNorm, noGrad, tensor, type Tensor } from '../src/index';
import { BACKENDS } from './helpers';
import { maxAbs, maxAbsDiff } from './reference';

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
  kind: 'LayerNorm' | 'GroupNorm' | 'InstanceNorm1d' | 'InstanceNorm2d' | 'InstanceNorm3d';
  args: number[];
  options: Record<string, number | boolean>;
  shape: number[];
  state_keys: string[];
  weight: number[] | null;
  bias: number[] | null;
  running_mean_init: number[] | null;
  running_var_init: number[] | null;
  steps: Step[];
}
const cases = (fixture as unknown as { cases: Case[] }).cases;

// Both sides compute in f32 with different summation orders and PyTorch folds the affine into one
// multiply-add where we round x̂ first: 2e-5 of the largest |value| for outputs and gradients, 2e-6
// for the running statistics (an average of f32 statistics).
const TOL = { out: 2e-5, grad: 2e-5, run: 2e-6 };

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  expect(maxAbsDiff(actual, expected), what).toBeLessThanOrEqual(rel * Math.max(1, maxAbs(expected)));
}

type AnyNorm = LayerNorm | GroupNorm | InstanceNorm1d | InstanceNorm2d | InstanceNorm3d;
function make(fx: Case): AnyNorm {
  const [a, b] = fx.args;
  switch (fx.kind) {
    case 'LayerNorm':
      return new LayerNorm(fx.args.length === 1 ? a : fx.args, fx.options);
    case 'GroupNorm':
      return new GroupNorm(a, b, fx.options);
    case 'InstanceNorm1d':
      return new InstanceNorm1d(a, fx.options);
    case 'InstanceNorm2d':
      return new InstanceNorm2d(a, fx.options);
    case 'InstanceNorm3d':
      return new InstanceNorm3d(a, fx.options);
  }
}

function load(m: AnyNorm, fx: Case): void {
  m.loadStateDict({
    ...(fx.weight ? { weight: fx.weight, bias: fx.bias! } : {}),
    ...(fx.running_mean_init ? { running_mean: fx.running_mean_init, running_var: fx.running_var_init!, num_batches_tracked: 0 } : {}),
  });
}

function checkRunning(m: AnyNorm, s: Step, at: string): void {
  const sd = m.stateDict();
  if (s.running_mean) {
    close(sd.running_mean as Float32Array, s.running_mean, TOL.run, `${at} running_mean`);
    close(sd.running_var as Float32Array, s.running_var!, TOL.run, `${at} running_var`);
    expect(sd.num_batches_tracked, at).toBe(s.num_batches_tracked);
  } else expect(sd.running_mean, at).toBeUndefined();
}

for (const b of BACKENDS) {
  describe(`${b}: norms against PyTorch`, () => {
    for (const fx of cases) {
      for (const route of ['recorded', 'noGrad'] as const) {
        it(`${fx.kind} ${fx.name}: layer.backward(dy) after a ${route} forward`, async () => {
          await init({ backend: b });
          const m = make(fx);
          expect(Object.keys(m.stateDict())).toEqual(fx.state_keys);
          load(m, fx);
          for (const [i, s] of fx.steps.entries()) {
            const at = `step ${i}`;
            m.zeroGrad();
            m.train(s.mode === 'train');
            using x = tensor(s.x, fx.shape);
            using y = route === 'noGrad' ? noGrad(() => m.forward(x)) : m.forward(x);
            // a module whose backward(dy) ran a recorded op is driven by hand from then on (records no more)
            expect(y.gradFn !== null, at).toBe(route === 'recorded' && m.weight !== null && s.mode === 'train' && i === 0);
            using dy = tensor(s.dy, fx.shape);
            using dx = m.backward(dy);
            close(y.toArray(), s.y, TOL.out, `${at} y`);
            close(dx.toArray(), s.dx, TOL.grad, `${at} dx`);
            if (s.dweight) {
              close(m.weight!.grad.toArray(), s.dweight, TOL.grad, `${at} dweight`);
              close(m.bias!.grad.toArray(), s.dbias!, TOL.grad, `${at} dbias`);
            } else expect(m.weight, at).toBeNull();
            checkRunning(m, s, at);
          }
          m.dispose();
        });
      }

      // F.instanceNorm takes a batch, as PyTorch's F.instance_norm does: the unbatched input is the layers'
      const unbatched = fx.kind.startsWith('InstanceNorm') && fx.shape.length === Number(fx.kind.slice(-2, -1)) + 1;
      it.skipIf(unbatched)(`${fx.kind} ${fx.name}: the F form, through loss.backward()`, async () => {
        await init({ backend: b });
        // kept: the running statistics outlive each step's backward
        const rm = fx.running_mean_init ? tensor(fx.running_mean_init).keep() : null,
          rv = fx.running_var_init ? tensor(fx.running_var_init).keep() : null;
        for (const [i, s] of fx.steps.entries()) {
          const at = `step ${i}`;
          const x = tensor(s.x, fx.shape, { requiresGrad: true });
          const ws = fx.kind === 'LayerNorm' ? fx.args : [fx.kind === 'GroupNorm' ? fx.args[1] : fx.args[0]];
          const w = fx.weight ? tensor(fx.weight, ws, { requiresGrad: true }) : null,
            bb = fx.bias ? tensor(fx.bias, ws, { requiresGrad: true }) : null;
          const eps = fx.options.eps as number | undefined;
          let y: Tensor;
          if (fx.kind === 'LayerNorm') y = F.layerNorm(x, fx.args, { weight: w, bias: bb, eps });
          else if (fx.kind === 'GroupNorm') y = F.groupNorm(x, fx.args[0], { weight: w, bias: bb, eps });
          else {
            const useInputStats = s.mode === 'train' || rm === null;
            y = F.instanceNorm(x, rm, rv, { weight: w, bias: bb, eps, useInputStats, momentum: fx.options.momentum as number | undefined });
          }
          close(y.toArray(), s.y, TOL.out, `${at} y`);
          F.sum(F.mul(y, tensor(s.dy, fx.shape))).backward();
          close(x.grad!.toArray(), s.dx, TOL.grad, `${at} dx`);
          if (s.dweight) {
            close(w!.grad!.toArray(), s.dweight, TOL.grad, `${at} dweight`);
            close(bb!.grad!.toArray(), s.dbias!, TOL.grad, `${at} dbias`);
          }
          if (s.running_mean) {
            close(rm!.toArray(), s.running_mean, TOL.run, `${at} running_mean`);
            close(rv!.toArray(), s.running_var!, TOL.run, `${at} running_var`);
          }
          for (const t of [x, w, bb]) t?.dispose();
        }
        rm?.dispose();
        rv?.dispose();
      });
    }
  });
}
