// The threaded runtime's BatchNorm on its virtual-channel paths (assembly/bn_driver.ts): channel-first
// short runs (SHORT: x[n][c][l] as n rows of c·l virtual channels) and channels-last with fewer than
// 16 channels not a multiple of 8 (FOLD: k rows of x[m][c] as one row of k·c). They take the ROWS
// path's part kernels over the virtual rows: the sums in the row blocks of the one-thread pass
// (added in block order after the join), the normalize and dx in slices of the virtual rows (each
// element reads its virtual channel's constants alone); the steps between run on the calling thread
// with the one-thread code (assembly/parts_bn_virtual.ts), so any thread count gives its bits.
import { MAX_PARTS, type Pool } from './pool';
import type { Kernels } from './types';

/** Paths of assembly/bn_driver.ts that take virtual channels. */
const SHORT = 1,
  FOLD = 3;
/** Rows per unit of a slice of the normalize pass (assembly/parts_bn_rows.ts's UNIT). */
const UNIT = 16;
/** Parts per thread. */
const PARTS_PER_THREAD = 4;

/** The shared-memory build's exports the virtual-channel paths read besides the kernels (assembly/parts_bn_virtual.ts). */
export interface BnVirtualExports {
  bnPathOf(channelsLast: number, n: number, c: number, l: number): number;
  bnFoldRows(m: number, c: number): number;
  bnVirtualRowBlocks(channelsLast: number, n: number, c: number, l: number): number;
  bnRowBlockBytes(c: number): number;
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
  bnVirtualStatsShifts(channelsLast: number, x: number, n: number, c: number, l: number, mean: number, ws: number, again: number): void;
  bnVirtualStatsFinish(
    channelsLast: number,
    x: number,
    n: number,
    c: number,
    l: number,
    eps: number,
    mean: number,
    vari: number,
    invstd: number,
    ws: number,
    blocks: number,
    nb: number,
  ): number;
  bnVirtualBackwardShifts(
    channelsLast: number,
    n: number,
    c: number,
    l: number,
    gamma: number,
    beta: number,
    mean: number,
    invstd: number,
    relu: number,
    ws: number,
  ): void;
  bnVirtualBackwardFinish(
    channelsLast: number,
    x: number,
    dy: number,
    n: number,
    c: number,
    l: number,
    gamma: number,
    mean: number,
    invstd: number,
    dgamma: number,
    dbeta: number,
    train: number,
    relu: number,
    ws: number,
    blocks: number,
    nb: number,
  ): void;
  bnVirtualDxRest(
    channelsLast: number,
    x: number,
    dy: number,
    dx: number,
    n: number,
    c: number,
    l: number,
    ws: number,
    train: number,
    relu: number,
  ): void;
}
type Exports = Kernels & BnVirtualExports;

/** How many virtual-channel passes ran split, so tests can see each path run. */
export const virtualCounts = { normalize: 0, sums: 0, dx: 0 };

/** The pool's indices of the ROWS path's part kernels (bnRowSumsPart, bnRowsNormalizePart, bnRowsDxPart). */
export interface RowParts {
  sums: number;
  normalize: number;
  dx: number;
}

/**
 * The BatchNorm kernels over `k` (the threaded kernels of the other paths): on a virtual-channel path
 * of at least `min` elements, every pass in parts of the virtual rows (`alloc`: the runtime's
 * checked allocator, for the row blocks' sums).
 */
export function virtualBnKernels(
  k: Kernels,
  e: Exports,
  alloc: (bytes: number) => number,
  pool: Pool,
  parts: RowParts,
  min: number,
): Partial<Kernels> {
  /** [rows, virtual channels] of a virtual path of x, or null (another path, too small, or one thread). */
  const virtual = (last: number, n: number, c: number, l: number): [number, number] | null => {
    if (pool.broken !== null || pool.size <= 1 || n * c * l < min) return null;
    const path = e.bnPathOf(last, n, c, l);
    if (path === SHORT) return [n, c * l];
    if (path !== FOLD) return null;
    const f = e.bnFoldRows(n, c);
    return [Math.floor(n / f), f * c];
  };
  /** Slices of the virtual rows for the normalize and dx parts. */
  const slices = (rows: number) => Math.max(1, Math.min(Math.ceil(rows / UNIT), PARTS_PER_THREAD * pool.size, MAX_PARTS));
  /** The statistics: the virtual rows' blocks summed in parts, RESHIFT decided on all channels after the join (as on one thread). */
  const stats = (
    last: number,
    rv: [number, number],
    x: number,
    n: number,
    c: number,
    l: number,
    eps: number,
    out: number[],
    ws: number,
  ) => {
    const [rows, v] = rv;
    const [mean, vari, invstd] = out;
    const nb = e.bnVirtualRowBlocks(last, n, c, l);
    const blocks = alloc(nb * e.bnRowBlockBytes(v));
    try {
      for (let again = 0; again < 2; again++) {
        virtualCounts.sums++;
        e.bnVirtualStatsShifts(last, x, n, c, l, mean, ws, again);
        pool.run(parts.sums, nb, [x, 0, rows, v, ws, blocks, 0, 0]);
        if (e.bnVirtualStatsFinish(last, x, n, c, l, eps, mean, vari, invstd, ws, blocks, nb) === 0) break;
      }
    } finally {
      e.free(blocks);
    }
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
    p: number[],
    relu: number,
    ws: number,
  ) => {
    const [rows, v] = rv;
    const [gamma, beta, mean, invstd] = p;
    virtualCounts.normalize++;
    e.bnVirtualConstants(last, n, c, l, gamma, beta, mean, invstd, ws);
    pool.run(parts.normalize, slices(rows), [x, y, rows, v, ws, relu]);
    e.bnVirtualRest(last, x, y, n, c, l, ws, relu);
  };
  /** The backward: its sums in the virtual rows' blocks, the constants, dx in slices, FOLD's leftover rows. */
  const backward = (last: number, rv: [number, number], a: Parameters<Kernels['bnBackwardNCL']>) => {
    const [rows, v] = rv;
    const [x, dy, dx, n, c, l, gamma, beta, mean, invstd, dgamma, dbeta, train, relu, ws] = a;
    e.bnVirtualBackwardShifts(last, n, c, l, gamma, beta, mean, invstd, relu, ws);
    const nb = e.bnVirtualRowBlocks(last, n, c, l);
    const blocks = alloc(nb * e.bnRowBlockBytes(v));
    try {
      virtualCounts.sums++;
      pool.run(parts.sums, nb, [x, dy, rows, v, ws, blocks, 1, relu]);
      e.bnVirtualBackwardFinish(last, x, dy, n, c, l, gamma, mean, invstd, dgamma, dbeta, train, relu, ws, blocks, nb);
    } finally {
      e.free(blocks);
    }
    virtualCounts.dx++;
    pool.run(parts.dx, slices(rows), [x, dy, dx, rows, v, ws, train, relu]);
    e.bnVirtualDxRest(last, x, dy, dx, n, c, l, ws, train, relu);
  };
  return {
    bnTrainNCL(x, y, n, c, l, gamma, beta, eps, mean, vari, invstd, relu, ws) {
      const rv = virtual(0, n, c, l);
      if (rv === null) return k.bnTrainNCL(x, y, n, c, l, gamma, beta, eps, mean, vari, invstd, relu, ws);
      stats(0, rv, x, n, c, l, eps, [mean, vari, invstd], ws);
      normalize(0, rv, x, y, n, c, l, [gamma, beta, mean, invstd], relu, ws);
    },
    bnStatsNCL(x, n, c, l, eps, mean, vari, invstd, ws) {
      const rv = virtual(0, n, c, l);
      if (rv === null) return k.bnStatsNCL(x, n, c, l, eps, mean, vari, invstd, ws);
      stats(0, rv, x, n, c, l, eps, [mean, vari, invstd], ws);
    },
    bnNormalizeNCL(x, y, n, c, l, gamma, beta, mean, invstd, relu, ws) {
      const rv = virtual(0, n, c, l);
      if (rv === null) return k.bnNormalizeNCL(x, y, n, c, l, gamma, beta, mean, invstd, relu, ws);
      normalize(0, rv, x, y, n, c, l, [gamma, beta, mean, invstd], relu, ws);
    },
    bnBackwardNCL(...a) {
      const rv = virtual(0, a[3], a[4], a[5]);
      if (rv === null) return k.bnBackwardNCL(...a);
      backward(0, rv, a);
    },
    bnTrainNHWC(x, y, m, c, gamma, beta, eps, mean, vari, invstd, relu, ws) {
      const rv = virtual(1, m, c, 1);
      if (rv === null) return k.bnTrainNHWC(x, y, m, c, gamma, beta, eps, mean, vari, invstd, relu, ws);
      stats(1, rv, x, m, c, 1, eps, [mean, vari, invstd], ws);
      normalize(1, rv, x, y, m, c, 1, [gamma, beta, mean, invstd], relu, ws);
    },
    bnStatsNHWC(x, m, c, eps, mean, vari, invstd, ws) {
      const rv = virtual(1, m, c, 1);
      if (rv === null) return k.bnStatsNHWC(x, m, c, eps, mean, vari, invstd, ws);
      stats(1, rv, x, m, c, 1, eps, [mean, vari, invstd], ws);
    },
    bnNormalizeNHWC(x, y, m, c, gamma, beta, mean, invstd, relu, ws) {
      const rv = virtual(1, m, c, 1);
      if (rv === null) return k.bnNormalizeNHWC(x, y, m, c, gamma, beta, mean, invstd, relu, ws);
      normalize(1, rv, x, y, m, c, 1, [gamma, beta, mean, invstd], relu, ws);
    },
    bnBackwardNHWC(x, dy, dx, m, c, gamma, beta, mean, invstd, dgamma, dbeta, train, relu, ws) {
      const rv = virtual(1, m, c, 1);
      if (rv === null) return k.bnBackwardNHWC(x, dy, dx, m, c, gamma, beta, mean, invstd, dgamma, dbeta, train, relu, ws);
      backward(1, rv, [x, dy, dx, m, c, 1, gamma, beta, mean, invstd, dgamma, dbeta, train, relu, ws]);
    },
  };
}
