// Learning-rate schedulers against PyTorch's, step by step (test/fixtures/gen_torch_schedulers.py).
import { beforeAll, describe, expect, it } from 'vitest';
import { init, ExponentialLR, LinearLR, MultiStepLR, OneCycleLR, Parameter, ReduceLROnPlateau, SGD } from '../src/index';
import fixture from './fixtures/torch_schedulers.json';

// PyTorch updates some schedules recursively (lr·factor each step), ours in closed form: the two
// differ by a few f64 roundings over 30 steps.
const TOL = 1e-12;

type Case = { options: Record<string, unknown>; metrics?: number[]; lrs: number[] };
const MAKE: Record<string, (o: SGD, opts: never) => { step(m?: number): void }> = {
  MultiStepLR: (o, opts) => new MultiStepLR(o, opts),
  ExponentialLR: (o, opts) => new ExponentialLR(o, opts),
  LinearLR: (o, opts) => new LinearLR(o, opts),
  OneCycleLR: (o, opts) => new OneCycleLR(o, opts),
  ReduceLROnPlateau: (o, opts) => new ReduceLROnPlateau(o, opts),
};

describe('schedulers against PyTorch', () => {
  beforeAll(async () => {
    await init({ backend: 'js' });
  });

  for (const [name, c] of Object.entries(fixture.cases as Record<string, Case>)) {
    it(name, () => {
      const opt = new SGD([new Parameter([1], 0)], { lr: fixture.baseLr });
      const sched = MAKE[name.split(' ')[0]](opt, c.options as never);
      const lrs = [opt.lr];
      for (let i = 0; i < c.lrs.length - 1; i++) {
        sched.step(c.metrics?.[i]);
        lrs.push(opt.lr);
      }
      lrs.forEach((lr, i) =>
        expect(Math.abs(lr - c.lrs[i]), `step ${i}: ${lr} vs ${c.lrs[i]}`).toBeLessThanOrEqual(TOL * Math.max(1, c.lrs[i])),
      );
    });
  }

  it('rejects bad options by name', () => {
    const opt = new SGD([new Parameter([1], 0)], { lr: 0.1 });
    expect(() => new MultiStepLR(opt, { milestones: [3, 2] })).toThrow(
      /^MultiStepLR: milestones: expected increasing positive integers, got array\(2\)$/,
    );
    expect(() => new OneCycleLR(opt, { maxLr: 1, totalSteps: 1 })).toThrow(
      /^OneCycleLR: totalSteps: expected an integer ≥ 2, got number 1$/,
    );
    expect(() => new ReduceLROnPlateau(opt, { factor: 1 })).toThrow(
      /^ReduceLROnPlateau: factor: expected a number in \(0, 1\), got number 1$/,
    );
    expect(() => new ReduceLROnPlateau(opt).step(NaN)).toThrow(/^ReduceLROnPlateau\.step: metric: expected a number, got number NaN$/);
    const one = new OneCycleLR(opt, { maxLr: 1, totalSteps: 2 });
    one.step();
    expect(() => one.step()).toThrow(/^OneCycleLR\.step: stepped 2 times, more than totalSteps − 1 = 1$/);
  });
});
