// RMSprop, Adagrad and Adadelta against PyTorch, step by step (test/fixtures/gen_torch_adaptive.py),
// on every backend; their options checked by name.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, Adadelta, Adagrad, Parameter, RMSprop } from '../src/index';
import { BACKENDS } from './helpers';
import fixture from './fixtures/torch_adaptive.json';

// f32 updates as PyTorch's, in a different order of operations (and f64 in the JS backend): 12 steps
// stay within 2e-6 of PyTorch relative to the parameter's size.
const TOL = 2e-6;

const MAKE = {
  RMSprop: (p: Parameter[], o: object) => new RMSprop(p, o),
  Adagrad: (p: Parameter[], o: object) => new Adagrad(p, o),
  Adadelta: (p: Parameter[], o: object) => new Adadelta(p, o),
};

for (const backend of BACKENDS) {
  describe(`adaptive optimizers against PyTorch (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    for (const [name, c] of Object.entries(fixture.cases)) {
      it(name, () => {
        const p = new Parameter([fixture.p0.length], 0);
        p.view().set(fixture.p0);
        const opt = MAKE[name.split(' ')[0] as keyof typeof MAKE]([p], c.options);
        c.params.forEach((want, s) => {
          p.grad.view().set(fixture.grads[s]);
          opt.step();
          const got = p.toArray();
          want.forEach((v, i) => expect(Math.abs(got[i] - v), `step ${s} [${i}]`).toBeLessThanOrEqual(TOL * Math.max(1, Math.abs(v))));
        });
        opt.dispose();
        expect(() => opt.step()).toThrow(new RegExp(`^${name.split(' ')[0]}\\.step: the optimizer was disposed$`));
      });
    }

    it('rejects bad options by name', () => {
      const p = [new Parameter([2], 0)];
      expect(() => new RMSprop(p, { alpha: 2 })).toThrow(/^RMSprop: alpha: expected a number in \[0, 1\], got number 2$/);
      expect(() => new Adagrad(p, { lrDecay: -1 })).toThrow(/^Adagrad: lrDecay: expected a finite number ≥ 0, got number -1$/);
      expect(() => new Adadelta(p, { rho: 0.9, beta: 1 } as never)).toThrow(/^Adadelta: unknown option 'beta'/);
      expect(() => new RMSprop([], {})).toThrow(/^RMSprop: params: expected at least one Parameter/);
    });
  });
}
