// Error messages start with the public name of the class (`BatchNorm2d.forward: …`), which is API:
// they must not come from `constructor.name`, which a minifier renames. Checked with every class
// renamed in place, and in an esbuild --minify bundle of the package.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import * as api from '../src/index';
import { BACKENDS } from './helpers';
import { caught } from './alloc_count';

const { init, BatchNorm1d, BatchNorm2d, Module, Parameter, Sequential, foldBatchNorm } = api;

/** A user's layer that names itself with a static `kind`, as the package's layers do. */
class MyLayer extends Module {
  static readonly kind = 'MyLayer';
  weight = new Parameter([2, 2], 1);
  forward(x: never): never {
    return x;
  }
  backward(x: never): never {
    return x;
  }
}

/** Calls that throw, each with the exact start of its message. */
function cases(m: typeof api): [() => unknown, string][] {
  const p = () => [new m.Parameter([2], 1)];
  const sgd = () => new m.SGD(p(), { lr: 0.1 });
  const x2 = () => m.tensor([1, 2, 3, 4], [2, 2]);
  return [
    [() => new m.BatchNorm1d(3).forward(x2()), 'BatchNorm1d.forward: input: expected a rank-2 NC tensor with 3 channels'],
    [() => new m.BatchNorm2d(3).forward(x2()), 'BatchNorm2d.forward: input: expected a rank-4 NCHW tensor'],
    [() => new m.BatchNorm3d(3).forward(x2()), 'BatchNorm3d.forward: input: expected a rank-5 NCDHW tensor'],
    [() => new m.BatchNorm2d(0), 'BatchNorm2d: numFeatures: expected a positive integer, got number 0'],
    [() => new m.BatchNorm1d(2).backward(x2()), 'BatchNorm1d.backward: call forward() first'],
    [() => new m.BatchNorm2d(2).loadStateDict(null as never), 'BatchNorm2d.loadStateDict: state: expected an object, got null'],
    [
      () => {
        const l = new m.BatchNorm3d(2);
        l.dispose();
        l.zeroGrad();
      },
      'BatchNorm3d.zeroGrad: the layer was disposed',
    ],
    [
      () => {
        const l = new m.BatchNorm2d(2);
        l.dispose();
        l.stateDict();
      },
      'BatchNorm2d.stateDict: the layer was disposed',
    ],
    [() => new m.Linear(3, 2).forward(x2()), 'Linear.forward: input: expected [N, 3], got [2, 2]'],
    [() => new m.Linear(3, 2).train('yes' as never), "Linear.train: mode: expected a boolean, got 'yes'"],
    [() => new m.Conv2d(2, 2, 1).loadStateDict({}), "Conv2d.loadStateDict: missing key 'weight'"],
    [() => new m.MaxPool2d(0), 'MaxPool2d: kernelSize: expected an integer ≥ 1'],
    [() => new m.AvgPool2d(2, { padding: 2 }), 'AvgPool2d: padding: expected at most half the kernel size'],
    [() => new m.MaxPool2d(2).backward(x2()), 'MaxPool2d.backward: call forward() first'],
    [() => new m.ReLU().forward('x' as never), "ReLU.forward: input: expected a Tensor (see tensor()), got 'x'"],
    [() => new m.Sigmoid().backward(x2()), 'Sigmoid.backward: call forward() first'],
    [() => new m.Tanh().train(1 as never), 'Tanh.train: mode: expected a boolean, got number 1'],
    [() => new m.Dropout(2), 'Dropout: p: expected a number in [0, 1], got number 2'],
    [() => new m.Flatten().backward(x2()), 'Flatten.backward: call forward() first'],
    [() => new m.Sequential(new m.ReLU()).train(null as never), 'Sequential.train: mode: expected a boolean, got null'],
    [() => new m.Sequential(sgd() as never), 'Sequential: layer 0: expected a Module, got SGD'],
    [() => new m.CrossEntropyLoss().backward(), 'CrossEntropyLoss.backward: call forward() first'],
    [() => new m.MSELoss().backward(), 'MSELoss.backward: call forward() first'],
    [() => new m.SGD(null as never, { lr: 0.1 }), 'SGD: params: expected an array of Parameters'],
    [() => new m.Adam('x' as never), "Adam: params: expected an array of Parameters (model.parameters()), got 'x'"],
    [() => new m.AdamW(p(), { lr: -1 }), 'AdamW: lr: expected a finite number > 0, got number -1'],
    [
      () => {
        const o = sgd();
        o.lr = NaN;
        o.step();
      },
      'SGD.step: lr: expected a finite number ≥ 0, got number NaN',
    ],
    [
      () => {
        const o = new m.Adam(p());
        o.dispose();
        o.step();
      },
      'Adam.step: the optimizer was disposed',
    ],
    [() => new m.StepLR(null as never, { stepSize: 1 }), 'StepLR: optimizer: expected an Optimizer (SGD, Adam, AdamW), got null'],
    [() => new m.StepLR(sgd(), null as never), 'StepLR: options: expected an object, got null'],
    [
      () => new m.CosineAnnealingLR({ lr: 1 } as never, { tMax: 2 }),
      'CosineAnnealingLR: optimizer: expected an Optimizer (SGD, Adam, AdamW), got Object',
    ],
    [() => new m.CosineAnnealingLR(sgd(), { tMax: 0 }), 'CosineAnnealingLR: tMax: expected a positive integer, got number 0'],
  ];
}

function checkAll(m: typeof api): void {
  for (const [fn, start] of cases(m)) {
    const msg = caught(fn).message;
    expect(msg.startsWith(start), `${msg}\n  should start with\n${start}`).toBe(true);
  }
}

/** Every exported class and its (unexported) base classes. */
function classes(m: typeof api): Function[] {
  const found = new Set<Function>();
  for (const v of Object.values(m)) {
    if (typeof v !== 'function' || !/^class\b/.test(Function.prototype.toString.call(v))) continue;
    for (let c: Function = v; c !== Function.prototype && c !== null; c = Object.getPrototypeOf(c)) found.add(c);
  }
  return [...found];
}

for (const b of BACKENDS) {
  describe(`${b}: error messages name the public class, whatever constructor.name says`, () => {
    beforeEach(async () => {
      await init({ backend: b });
    });

    it('with every class renamed in place (as a minifier renames them)', () => {
      const renamed = classes(api).concat(MyLayer);
      const saved = renamed.map((c) => Object.getOwnPropertyDescriptor(c, 'name')!);
      renamed.forEach((c, i) => Object.defineProperty(c, 'name', { value: `r${i}`, configurable: true }));
      try {
        expect(BatchNorm2d.name).toBe(`r${renamed.indexOf(BatchNorm2d)}`);
        checkAll(api);
        // a user's layer with its own kind is named by it too
        const model = new Sequential(new MyLayer(), new BatchNorm1d(2));
        expect(caught(() => foldBatchNorm(model)).message).toBe(
          'foldBatchNorm: layer 0: no way to fold into MyLayer (pass options.makeFolded)',
        );
      } finally {
        renamed.forEach((c, i) => Object.defineProperty(c, 'name', saved[i]));
      }
    });
  });
}

describe('every constructor given null or garbage throws an error that names it and the argument', () => {
  beforeEach(async () => {
    await init({ backend: 'js' });
  });
  const m = api;
  const garbage = [null, 'x', NaN, -1, [1.5]] as const;
  const sgd = () => new m.SGD([new m.Parameter([1], 0)], { lr: 1 });
  /** [the constructor's name, a call with `g` in one argument place, the argument's name]. */
  const places: [string, (g: unknown) => unknown, string][] = [
    ['BatchNorm1d', (g) => new m.BatchNorm1d(g as never), 'numFeatures'],
    ['BatchNorm2d', (g) => new m.BatchNorm2d(2, g as never), 'options'],
    ['Linear', (g) => new m.Linear(g as never, 2), 'inFeatures'],
    ['Linear', (g) => new m.Linear(2, g as never), 'outFeatures'],
    ['Linear', (g) => new m.Linear(2, 2, g as never), 'options'],
    ['Conv2d', (g) => new m.Conv2d(g as never, 1, 1), 'inChannels'],
    ['Conv2d', (g) => new m.Conv2d(1, 1, g as never), 'kernelSize'],
    ['Conv2d', (g) => new m.Conv2d(1, 1, 1, g as never), 'options'],
    ['MaxPool2d', (g) => new m.MaxPool2d(g as never), 'kernelSize'],
    ['AvgPool2d', (g) => new m.AvgPool2d(2, g as never), 'options'],
    ['Dropout', (g) => new m.Dropout(g as never), 'p'],
    ['Dropout', (g) => new m.Dropout(0.5, g as never), 'options'],
    ['Sequential', (g) => new m.Sequential(g as never), 'layer 0'],
    ['CrossEntropyLoss', (g) => new m.CrossEntropyLoss(g as never), 'options'],
    ['Parameter', (g) => new m.Parameter(g as never, 0), 'shape'],
    ['SGD', (g) => new m.SGD(g as never, { lr: 0.1 }), 'params'],
    ['SGD', (g) => new m.SGD([], g as never), 'options'],
    ['Adam', (g) => new m.Adam(g as never), 'params'],
    ['AdamW', (g) => new m.AdamW([], g as never), 'options'],
    ['StepLR', (g) => new m.StepLR(g as never, { stepSize: 1 }), 'optimizer'],
    ['StepLR', (g) => new m.StepLR(sgd(), g as never), 'options'],
    ['CosineAnnealingLR', (g) => new m.CosineAnnealingLR(g as never, { tMax: 1 }), 'optimizer'],
    ['CosineAnnealingLR', (g) => new m.CosineAnnealingLR(sgd(), g as never), 'options'],
  ];
  for (const [name, call, arg] of places) {
    it(`${name}: ${arg}`, () => {
      for (const g of garbage) {
        const msg = caught(() => call(g)).message;
        // an argument inside a shape or pair may be named by its index: shape[0], kernelSize
        expect(msg, String(g)).toMatch(new RegExp(`^${name}: ${arg.replace(/[[\]]/g, '\\$&')}(\\[\\d\\])?: .*expected .*, got `));
      }
    });
  }
});

describe('an esbuild --minify bundle of the package', () => {
  let dir: string;
  let m: typeof api;
  beforeAll(async () => {
    const out = await build({
      entryPoints: ['src/index.ts'],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      write: false,
      external: ['cli-progress'],
      logLevel: 'error',
    });
    dir = mkdtempSync(join(tmpdir(), 'bn-minified-'));
    const file = join(dir, 'index.mjs');
    writeFileSync(file, out.outputFiles[0].text);
    m = await import(/* @vite-ignore */ pathToFileURL(file).href);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const [b, wasm] of [
    ['js', null],
    ['wasm-simd', 'batchnorm-simd.wasm'],
    ['wasm', 'batchnorm.wasm'],
  ] as const) {
    it(`${b}: classes are renamed, messages are not`, async () => {
      await m.init(wasm === null ? { backend: b } : { backend: b, module: readFileSync(join('build', wasm)) });
      expect(m.BatchNorm2d.name).not.toBe('BatchNorm2d');
      expect(m.SGD.name).not.toBe('SGD');
      checkAll(m);
    });
  }
});

describe('layers without options', () => {
  beforeEach(async () => {
    await init({ backend: 'js' });
  });
  it('ReLU, Sigmoid, Tanh and Flatten refuse arguments instead of ignoring them', () => {
    for (const [name, make] of [
      ['ReLU', (a: never) => new api.ReLU(a)],
      ['Sigmoid', (a: never) => new api.Sigmoid(a)],
      ['Tanh', (a: never) => new api.Tanh(a)],
      ['Flatten', (a: never) => new api.Flatten(a)],
    ] as const) {
      expect(() => make(true as never)).toThrow(new RegExp(`^${name}: expected no arguments, got 1$`));
      expect(() => make(undefined as never)).toThrow(new RegExp(`^${name}: expected no arguments, got 1$`));
    }
    expect(new api.ReLU().training).toBe(true);
  });
});
