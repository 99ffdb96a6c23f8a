// The threaded runtime's BatchNorm on its virtual-channel paths (assembly/bn_driver.ts): channel-first
// short runs (SHORT: x[n][c][l] as n rows of c·l virtual channels) and channels-last with fewer than
// 16 channels not a multiple of 8 (FOLD: k rows of x[m][c] as one row of k·c). Their statistics and
// backward stay on one thread (see docs/threads.md); their normalize pass, the training forward's
// and inference's, is split into slices of the virtual rows: each element reads its virtual
// channel's constants alone, so any slices give the single-threaded pass's bits.
import { MAX_PARTS, type Pool } from './pool';
import type { Kernels } from './types';

/** Paths of assembly/bn_driver.ts that take virtual channels. */
const SHORT = 1,
  FOLD = 3;
/** Rows per unit of a slice of the normalize pass (assembly/parts_bn_rows.ts's UNIT). */
const UNIT = 16;
/** Parts per thread. */
const PARTS_PER_THREAD = 4;

/** The shared-memory build's exports the virtual-channel paths read besides the kernels. */
export interface BnVirtualExports {
  bnPathOf(channelsLast: number, n: number, c: number, l: number): number;
  bnFoldRows(m: number, c: number): number;
  bnVirtualConstants(
    channelsLast: number,
    n: number,
    c: number,
    l: number,
    gamma: number,
    beta: number,
    mean: number,
    invstd: number,
    ws: number,
  ): void;
  bnVirtualRest(channelsLast: number, x: number, y: number, n: number, c: number, l: number, ws: number, relu: number): void;
}
type Exports = Kernels & BnVirtualExports;

/** How many virtual-channel normalize passes ran split, so tests can see the path run. */
export const virtualCounts = { normalize: 0 };

/**
 * The four BatchNorm kernels with a normalize pass, over `k` (the threaded kernels of the other
 * paths): on a virtual-channel path of at least `min` elements, the statistics on one thread, then
 * the normalize in parts of the virtual rows (part kernel `rowNormalize`, bnRowsNormalizePart).
 */
export function virtualBnKernels(k: Kernels, e: Exports, pool: Pool, rowNormalize: number, min: number): Partial<Kernels> {
  /** [rows, virtual channels] of a virtual path of x, or null (another path, too small, or one thread). */
  const virtual = (last: number, n: number, c: number, l: number): [number, number] | null => {
    if (pool.broken !== null || pool.size <= 1 || n * c * l < min) return null;
    const path = e.bnPathOf(last, n, c, l);
    if (path === SHORT) return [n, c * l];
    if (path !== FOLD) return null;
    const f = e.bnFoldRows(n, c);
    return [Math.floor(n / f), f * c];
  };
  /** The constants, the virtual rows' normalize in parts, and FOLD's leftover rows. */
  const normalize = (
    last: number,
    rv: [number, number],
    x: number,
    y: number,
    n: number,
    c: number,
    l: number,
    gamma: number,
    beta: number,
    mean: number,
    invstd: number,
    relu: number,
    ws: number,
  ) => {
    const [rows, v] = rv;
    virtualCounts.normalize++;
    e.bnVirtualConstants(last, n, c, l, gamma, beta, mean, invstd, ws);
    const parts = Math.max(1, Math.min(Math.ceil(rows / UNIT), PARTS_PER_THREAD * pool.size, MAX_PARTS));
    pool.run(rowNormalize, parts, [x, y, rows, v, ws, relu]);
    e.bnVirtualRest(last, x, y, n, c, l, ws, relu);
  };
  return {
    bnTrainNCL(x, y, n, c, l, gamma, beta, eps, mean, vari, invstd, relu, ws) {
      const rv = virtual(0, n, c, l);
      if (rv === null) return k.bnTrainNCL(x, y, n, c, l, gamma, beta, eps, mean, vari, invstd, relu, ws);
      e.bnStatsNCL(x, n, c, l, eps, mean, vari, invstd, ws);
      normalize(0, rv, x, y, n, c, l, gamma, beta, mean, invstd, relu, ws);
    },
    bnNormalizeNCL(x, y, n, c, l, gamma, beta, mean, invstd, relu, ws) {
      const rv = virtual(0, n, c, l);
      if (rv === null) return k.bnNormalizeNCL(x, y, n, c, l, gamma, beta, mean, invstd, relu, ws);
      normalize(0, rv, x, y, n, c, l, gamma, beta, mean, invstd, relu, ws);
    },
    bnTrainNHWC(x, y, m, c, gamma, beta, eps, mean, vari, invstd, relu, ws) {
      const rv = virtual(1, m, c, 1);
      if (rv === null) return k.bnTrainNHWC(x, y, m, c, gamma, beta, eps, mean, vari, invstd, relu, ws);
      e.bnStatsNHWC(x, m, c, eps, mean, vari, invstd, ws);
      normalize(1, rv, x, y, m, c, 1, gamma, beta, mean, invstd, relu, ws);
    },
    bnNormalizeNHWC(x, y, m, c, gamma, beta, mean, invstd, relu, ws) {
      const rv = virtual(1, m, c, 1);
      if (rv === null) return k.bnNormalizeNHWC(x, y, m, c, gamma, beta, mean, invstd, relu, ws);
      normalize(1, rv, x, y, m, c, 1, gamma, beta, mean, invstd, relu, ws);
    },
  };
}
