// The SIMD build's channels-last kernels pick their loops by size and stride: 16-channel blocks
// of 8–32 rows in cache (rows up to 256 bytes), rows in steps of 4 (in cache), and beyond 8 MiB
// rows two or one at a time (up to 256 bytes, or longer) with the statistics over two halves of the
// rows at once, channel tails of 4 and 1, and per mode copies (shifted or not, folded or not, ReLU
// or not); channel-first inputs with short runs, and channels-last ones with few channels, take the
// same loops over virtual channels. Each shape
// below reaches a different mix; all are checked against the float64 reference, and BN+ReLU against
// BN then ReLU bit for bit.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, tensor, ReLU } from '../src/index';
import { BACKENDS, makeLayer, shapeOf } from './helpers';
import { maxAbs, maxAbsDiff, randn, refBackward, refForwardEval, refForwardTrain, type Layout } from './reference';

// Tolerances as in batchnorm_forward.test.ts: y within 2e-5 of O(1) outputs; dx within 1e-5 of its largest
// value; dγ, dβ within 1e-5 of Σ|dy| (×4 for dγ, whose terms carry x̂).
const TOL_Y = 2e-5;
const TOL_DX_REL = 1e-5;
const TOL_SUM_REL = 1e-5;

const CASES: [string, Layout, number, number, number[]][] = [
  ['16-channel blocks, row tail', 'NHWC', 3, 32, [5, 7]],
  ['16-channel blocks of 16 rows, row tail', 'NC', 53, 16, []],
  ['16-channel blocks of 8 rows, row tail', 'NC', 45, 64, []],
  ['rows 512 bytes apart (no blocks)', 'NC', 53, 128, []],
  ['rows 2 KiB apart (no blocks)', 'NC', 37, 512, []],
  ['rows of 4, channel tails 4 + 1', 'NLC', 2, 13, [11]],
  ['rows 4 KiB apart', 'NC', 37, 1024, []],
  ['beyond 8 MiB, rows 4 KiB apart, 3 rows past the quarters', 'NC', 2051, 1024, []],
  ['beyond 8 MiB, 64 channels', 'NHWC', 1, 64, [33, 1000]],
  ['beyond 8 MiB, 64 channels (rows two at a time), 3 rows past the halves', 'NLC', 1, 64, [32_771]],
  ['beyond 8 MiB, 96 channels (rows one at a time), odd rows', 'NLC', 1, 96, [21_847]],
  ['beyond 8 MiB, channel tails 4 + 1', 'NLC', 1, 125, [16800]],
  // channel-first beyond 8 MiB: statistics over batch items b and b + n/2 side by side
  ['channel-first beyond 8 MiB, odd batch, odd runs', 'NCL', 33, 5, [13_001]],
  // channel-first runs shorter than 64 with ≥ 32 batch items: channels-last over c·l virtual channels
  ['short runs as virtual channels', 'NCHW', 32, 5, [7, 7]],
  ['short runs, virtual channel tails 4 + 3', 'NCL', 40, 3, [13]],
  // channels-last with few channels: k rows folded into k·c virtual channels, m mod k rows left over
  ['few channels: 3 (8 rows folded, 3 left over)', 'NC', 67, 3, []],
  ['few channels: 1 (16 rows folded, 8 left over)', 'NC', 1000, 1, []],
  ['few channels: 5 (8 rows folded, 3 left over)', 'NLC', 3, 5, [33]],
  ['few channels: 12 (2 rows folded)', 'NHWC', 2, 12, [5, 5]],
  ['few channels: 7, too few rows to fold', 'NLC', 1, 7, [15]],
  ['few channels beyond 8 MiB', 'NC', 2_100_001, 1, []],
];

// centered data: every shift is 0 (no subtraction, folded normalize); offset data: every shift is
// the rounded mean (x − K in every loop, y = (x − kS)·kA + kB)
const DATA: [string, number, number][] = [
  ['centered', 0, 1],
  ['offset 50', 50, 0.5],
];

/** Elements whose bits differ (toEqual walks millions of elements one by one: seconds). */
function bitDiffs(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.max(a.length, b.length);
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length),
    v = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let n = 0;
  for (let i = 0; i < u.length; i++) if (u[i] !== v[i]) n++;
  return n;
}

// the scalar build and the JS backend take the same shapes (the virtual-channel path is theirs too);
// beyond 8 MiB only the SIMD build has loops of its own
for (const b of BACKENDS)
  describe(`${b}: every channels-last loop against the float64 reference`, () => {
    beforeAll(async () => {
      await init({ backend: b });
    });

    for (const [what, layout, n, c, spatial] of CASES) {
      const shape = shapeOf(layout, n, c, spatial);
      const size = shape.reduce((a, v) => a * v, 1);
      if (b !== 'wasm-simd' && size * 4 > 8 << 20) continue;
      for (const [data, mean, std] of DATA) {
        it(`${what}: ${layout} [${shape}], ${data}`, () => {
          const x = randn(size, 3 + c, mean, std),
            dy = randn(size, 5 + c);
          const gamma = randn(c, 7, 1, 0.3),
            beta = randn(c, 8);
          const bn = makeLayer(layout, c),
            fused = makeLayer(layout, c, { activation: 'relu' }),
            relu = new ReLU();
          const sd = { ...bn.stateDict(), weight: gamma, bias: beta };
          bn.loadStateDict(sd);
          fused.loadStateDict(sd);
          using xt = tensor(x, shape);
          using dyt = tensor(dy, shape);
          const absDy = Array.from(dy, Math.abs).reduce((a, v) => a + v, 0);

          // training forward and backward
          using y = bn.forward(xt);
          const ref = refForwardTrain(x, layout, shape, 1e-5, gamma, beta);
          expect(maxAbsDiff(y.toArray(), ref.y)).toBeLessThanOrEqual(TOL_Y * Math.max(1, maxAbs(ref.y)));
          using dx = bn.backward(dyt);
          const rb = refBackward(x, dy, layout, shape, 1e-5, gamma, true);
          expect(maxAbsDiff(dx.toArray(), rb.dx)).toBeLessThanOrEqual(TOL_DX_REL * maxAbs(rb.dx));
          expect(maxAbsDiff(bn.bias!.grad.toArray(), rb.dbeta)).toBeLessThanOrEqual(TOL_SUM_REL * absDy);
          expect(maxAbsDiff(bn.weight!.grad.toArray(), rb.dgamma)).toBeLessThanOrEqual(TOL_SUM_REL * absDy * 4);

          // BN+ReLU fused = BN then ReLU, bit for bit, both ways
          using yf = fused.forward(xt);
          using yr = relu.forward(y);
          expect(bitDiffs(yf.toArray(), yr.toArray())).toBe(0);
          using dxf = fused.backward(dyt);
          using dr = relu.backward(dyt);
          bn.zeroGrad();
          using dxr = bn.backward(dr);
          expect(bitDiffs(dxf.toArray(), dxr.toArray())).toBe(0);

          // eval: running statistics (after the step above), forward and backward
          bn.eval();
          const st = bn.stateDict();
          using ye = bn.forward(xt);
          const refE = refForwardEval(x, layout, shape, 1e-5, st.running_mean!, st.running_var!, gamma, beta);
          expect(maxAbsDiff(ye.toArray(), refE)).toBeLessThanOrEqual(TOL_Y * Math.max(1, maxAbs(refE)));
          using dxe = bn.backward(dyt);
          const rbe = refBackward(x, dy, layout, shape, 1e-5, gamma, false, st.running_mean!, st.running_var!);
          expect(maxAbsDiff(dxe.toArray(), rbe.dx)).toBeLessThanOrEqual(TOL_DX_REL * maxAbs(rbe.dx));
          bn.dispose();
          fused.dispose();
        });
      }
    }
  });
