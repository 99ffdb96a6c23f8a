// A kernel touches only the bytes it is given: the workspace the facade sizes with bnWorkspace is
// enough for every path (per channel, short runs as virtual channels, few channels with rows
// folded), and nothing is written past it or past any output. Checked with guard bytes around
// every buffer, on both WASM builds.
import { beforeAll, describe, expect, it } from 'vitest';
import { init } from '../src/index';
import { runtime } from '../src/runtime/index';
import { maxAbs, maxAbsDiff, randn, refForwardTrain } from './reference';

const GUARD = 64; // bytes of a known pattern before and after each buffer
const PATTERN = 0xa5;
// y against the float64 reference, as in batchnorm_forward.test.ts: a few f32 roundings of O(1) values
const TOL_Y = 2e-5;

// [channel-first n, c, l] (l = 0: channels-last m = n rows of c channels)
const CASES: [string, number, number, number][] = [
  ['channels-last, 64 channels', 100, 64, 0],
  ['channels-last, 1024 channels (4 KiB rows)', 9, 1024, 0],
  ['few channels folded: 3', 67, 3, 0],
  ['few channels folded: 1', 1000, 1, 0],
  ['few channels folded: 12', 50, 12, 0],
  ['channel-first, long runs', 2, 3, 100],
  ['channel-first, short runs as virtual channels', 32, 5, 13],
];

for (const b of ['wasm-simd', 'wasm'] as const) {
  describe(`${b}: kernels stay inside their buffers`, () => {
    beforeAll(async () => {
      await init({ backend: b });
    });

    for (const [what, n, c, l] of CASES) {
      it(what, () => {
        const rt = runtime(),
          k = rt.k;
        const channelsLast = l === 0,
          m = channelsLast ? n : n * l,
          size = m * c;
        const wsBytes = channelsLast ? k.bnWorkspace(n, c, 1) : k.bnWorkspace(n, c, l);
        const sizes = {
          x: size * 4,
          y: size * 4,
          dy: size * 4,
          dx: size * 4,
          gamma: c * 4,
          beta: c * 4,
          dgamma: c * 4,
          dbeta: c * 4,
          mean: c * 8,
          vari: c * 8,
          invstd: c * 8,
          ws: wsBytes,
        };
        const blocks: Record<string, number> = {},
          ptr: Record<string, number> = {};
        for (const [name, bytes] of Object.entries(sizes)) {
          blocks[name] = k.alloc(bytes + 2 * GUARD);
          ptr[name] = blocks[name] + GUARD;
        }
        const u8 = () => new Uint8Array(rt.f32(0, 0).buffer);
        for (const [name, bytes] of Object.entries(sizes)) {
          u8().fill(PATTERN, blocks[name], ptr[name]);
          u8().fill(PATTERN, ptr[name] + bytes, ptr[name] + bytes + GUARD);
        }
        rt.f32(ptr.x, size).set(randn(size, 1 + c, 3, 2));
        rt.f32(ptr.dy, size).set(randn(size, 2 + c));
        const g = randn(c, 3, 1, 0.2),
          bt = randn(c, 4, 0, 0.5);
        rt.f32(ptr.gamma, c).set(g);
        rt.f32(ptr.beta, c).set(bt);
        const ref = refForwardTrain(
          rt.f32(ptr.x, size).slice(),
          channelsLast ? 'NC' : 'NCL',
          channelsLast ? [m, c] : [n, c, l],
          1e-5,
          g,
          bt,
        ).y;
        const guardsIntact = () =>
          Object.entries(sizes).every(([name, bytes]) => {
            const mem = u8();
            for (let i = blocks[name]; i < ptr[name]; i++) if (mem[i] !== PATTERN) return false;
            for (let i = ptr[name] + bytes; i < ptr[name] + bytes + GUARD; i++) if (mem[i] !== PATTERN) return false;
            return true;
          });
        const { x, y, dy, dx, gamma, beta, dgamma, dbeta, mean, vari, invstd, ws } = ptr;
        for (const relu of [0, 1]) {
          if (channelsLast) {
            k.bnTrainNHWC(x, y, m, c, gamma, beta, 1e-5, mean, vari, invstd, relu, ws);
            k.bnNormalizeNHWC(x, y, m, c, gamma, beta, mean, invstd, relu, ws);
            for (const train of [0, 1]) k.bnBackwardNHWC(x, dy, dx, m, c, gamma, beta, mean, invstd, dgamma, dbeta, train, relu, ws);
          } else {
            k.bnTrainNCL(x, y, n, c, l, gamma, beta, 1e-5, mean, vari, invstd, relu, ws);
            k.bnNormalizeNCL(x, y, n, c, l, gamma, beta, mean, invstd, relu, ws);
            for (const train of [0, 1]) k.bnBackwardNCL(x, dy, dx, n, c, l, gamma, beta, mean, invstd, dgamma, dbeta, train, relu, ws);
          }
          expect(guardsIntact()).toBe(true);
          // the kernels ran and normalized: y = γ·x̂ + β (through ReLU when fused), as the reference
          const want = relu ? ref.map((v) => Math.max(v, 0)) : ref;
          expect(maxAbsDiff(rt.f32(y, size), want)).toBeLessThanOrEqual(TOL_Y * Math.max(1, maxAbs(want)));
        }
        for (const p of Object.values(blocks)) k.free(p);
      });
    }
  });
}
