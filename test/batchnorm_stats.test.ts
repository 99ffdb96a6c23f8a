// bnStats (the statistics alone, what Batch Renorm needs before it can normalize) gives the bits of
// bnTrain's mean, var and invstd on every path of both layouts (runs, short runs as virtual
// channels, rows, folded rows; centred data and data far from 0, which reshifts), every backend;
// and bnStats then bnNormalize gives bnTrain's y bit for bit.
import { describe, expect, it } from 'vitest';
import { init, tensor } from '../src/index';
import { F64Block } from '../src/runtime/block';
import { bnNormalize, bnStats, bnTrain, geometry, type Layout } from '../src/kernels/batchnorm';
import { BACKENDS, bits, shapeOf } from './helpers';
import { randn } from './reference';

const CASES: [string, Layout, number, number, number[]][] = [
  ['runs', 'NCHW', 3, 4, [9, 9]],
  ['short runs as virtual channels', 'NCL', 40, 3, [13]],
  ['rows, channel tails', 'NLC', 2, 13, [11]],
  ['16-channel blocks', 'NHWC', 3, 32, [5, 7]],
  ['few channels folded, rows left over', 'NC', 67, 3, []],
  ['one element per channel run (channel-first as channels-last)', 'NCL', 9, 6, [1]],
  ['one value per channel', 'NC', 1, 5, []],
];

const f64 = (b: F64Block) => Array.from(b.f64(), (v) => (Number.isNaN(v) ? 'NaN' : Object.is(v, -0) ? '-0' : v));

for (const b of BACKENDS) {
  describe(`${b}: bnStats`, () => {
    for (const [name, layout, n, c, spatial] of CASES) {
      for (const [data, mean, std] of [
        ['centred', 0, 1],
        ['far from 0', 3e4, 0.5],
      ] as const) {
        it(`${name} [${layout}], ${data}: bnTrain's statistics and, with bnNormalize, its y`, async () => {
          await init({ backend: b });
          const shape = shapeOf(layout, n, c, spatial);
          const size = shape.reduce((p, v) => p * v, 1);
          const g = geometry(layout, shape);
          using x = tensor(randn(size, 3, mean, std), shape);
          using gamma = tensor(randn(c, 4, 1, 0.3));
          using beta = tensor(randn(c, 5));
          using y1 = tensor(new Float32Array(size), shape);
          using y2 = tensor(new Float32Array(size), shape);
          const [s1, s2] = [new F64Block(3 * c), new F64Block(3 * c)];
          bnTrain(g, x.ptr, y1.ptr, gamma.ptr, beta.ptr, 1e-5, s1.ptr, s1.ptr + 8 * c, s1.ptr + 16 * c, true);
          bnStats(g, x.ptr, 1e-5, s2.ptr, s2.ptr + 8 * c, s2.ptr + 16 * c);
          expect(f64(s2)).toEqual(f64(s1));
          bnNormalize(g, x.ptr, y2.ptr, gamma.ptr, beta.ptr, s2.ptr, s2.ptr + 16 * c, true);
          expect(bits(y2.toArray())).toEqual(bits(y1.toArray()));
          s1.dispose();
          s2.dispose();
        });
      }
    }
  });
}
