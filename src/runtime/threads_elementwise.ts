// The threaded runtime's elementwise kernels: activations and their backward, the elementwise
// arithmetic of autograd, the adaptive optimizers' updates, the recurrent cells' gate kernels and the
// convolution's bias gradient, each shared between the threads above a size (below it the
// single-threaded kernel runs). Their part kernels (assembly/parts_elementwise.ts, parts_optim.ts,
// parts_recurrent.ts, parts_conv.ts) run the single-threaded kernel on slices whose results do not
// depend on the slicing.
import { MAX_PARTS, type Pool } from './pool';
import type { Kernels } from './types';

/** The part kernels of this file, in the order they follow threads.ts's in PART_KERNELS. */
export const ELEMENTWISE_PART_KERNELS = [
  'unaryPart',
  'binaryPart',
  'ewScalarPart',
  'ewBinaryPart',
  'rmspropStepPart',
  'adagradStepPart',
  'adadeltaStepPart',
  'lstmCellForwardPart',
  'lstmCellBackwardPart',
  'gruCellForwardPart',
  'gruCellBackwardPart',
  'rnnCellForwardPart',
  'rnnCellBackwardPart',
  'convBiasGradNCHWPart',
] as const;

// Below these sizes a call stays on one thread (see docs/threads.md: the fork-join's cost against
// the values a thread streams in that time).
/** Elements of an elementwise op, an activation or an optimizer update below which it runs on one thread. */
export const ELEMENTWISE_MIN = 1 << 16;
/** Values (rows · hidden size) of a recurrent cell step below which it runs on one thread (a few exponentials each). */
export const CELL_MIN = 1 << 14;
/** Elements of dy below which the convolution's bias gradient runs on one thread. */
export const BIAS_GRAD_MIN = 1 << 16;

/** Parts per thread (small slices, so a thread the machine delays holds up less of the call). */
const PARTS_PER_THREAD = 4;

/** The one-input maps of unaryPart and binaryPart (assembly/parts_elementwise.ts), by code. */
const UNARY = ['relu', 'sigmoid', 'tanh', 'clamp', 'leakyRelu', 'hardswish', 'hardsigmoid'] as const;

/**
 * The kernels of this file routed through `pool` (`first` is the index of ELEMENTWISE_PART_KERNELS[0]
 * in the pool's list); `e` is the threaded build's exports.
 */
export function elementwiseKernels(e: Kernels, pool: Pool, first: number): Partial<Kernels> {
  const id = (name: (typeof ELEMENTWISE_PART_KERNELS)[number]) => first + ELEMENTWISE_PART_KERNELS.indexOf(name);
  /** Parts of a call over `units` independent units of `size` values in all (1: it stays on one thread). */
  const parts = (units: number, size: number, min: number) =>
    pool.broken !== null || pool.size <= 1 || size < min ? 1 : Math.min(units, PARTS_PER_THREAD * pool.size, MAX_PARTS);
  const slices = (n: number) => parts(Math.ceil(n / 16), n, ELEMENTWISE_MIN);
  const out: Partial<Kernels> = {};
  // activations: forward through unaryPart, backward through binaryPart, with their parameters
  UNARY.forEach((name, op) => {
    const fwd = `${name}Forward` as const,
      bwd = `${name}Backward` as const;
    const f = e[fwd] as (x: number, y: number, n: number, p0?: number, p1?: number) => void;
    const b = e[bwd] as (x: number, dy: number, dx: number, n: number, p0?: number, p1?: number) => void;
    (out as Record<string, unknown>)[fwd] = (x: number, y: number, n: number, p0 = 0, p1 = 0) => {
      const k = slices(n);
      if (k <= 1) return f(x, y, n, p0, p1);
      pool.run(id('unaryPart'), k, [op, x, y, n, p0, p1]);
    };
    (out as Record<string, unknown>)[bwd] = (x: number, dy: number, dx: number, n: number, p0 = 0, p1 = 0) => {
      const k = slices(n);
      if (k <= 1) return b(x, dy, dx, n, p0, p1);
      pool.run(id('binaryPart'), k, [op, x, dy, dx, n, p0, p1]);
    };
  });
  out.mulElementwise = (a, b, y, n) => {
    const k = slices(n);
    if (k <= 1) return e.mulElementwise(a, b, y, n);
    pool.run(id('binaryPart'), k, [UNARY.length, a, b, y, n, 0, 0]);
  };
  out.ewScalar = (op, a, s, y, n, swap) => {
    const k = slices(n);
    if (k <= 1) return e.ewScalar(op, a, s, y, n, swap);
    pool.run(id('ewScalarPart'), k, [op, a, s, y, n, swap]);
  };
  out.ewBinary = (op, a, b, y, rows, m) => {
    const k = rows === 1 ? slices(m) : parts(rows, rows * m, ELEMENTWISE_MIN);
    if (k <= 1) return e.ewBinary(op, a, b, y, rows, m);
    pool.run(id('ewBinaryPart'), k, [op, a, b, y, rows, m]);
  };
  out.rmspropStep = (p, g, v, avg, buf, n, lr, alpha, eps, wd, momentum, centered) => {
    const k = slices(n);
    if (k <= 1) return e.rmspropStep(p, g, v, avg, buf, n, lr, alpha, eps, wd, momentum, centered);
    pool.run(id('rmspropStepPart'), k, [p, g, v, avg, buf, n, lr, alpha, eps, wd, momentum, centered]);
  };
  out.adagradStep = (p, g, sum, n, lr, lrDecay, eps, wd, t) => {
    const k = slices(n);
    if (k <= 1) return e.adagradStep(p, g, sum, n, lr, lrDecay, eps, wd, t);
    pool.run(id('adagradStepPart'), k, [p, g, sum, n, lr, lrDecay, eps, wd, t]);
  };
  out.adadeltaStep = (p, g, v, u, n, lr, rho, eps, wd) => {
    const k = slices(n);
    if (k <= 1) return e.adadeltaStep(p, g, v, u, n, lr, rho, eps, wd);
    pool.run(id('adadeltaStepPart'), k, [p, g, v, u, n, lr, rho, eps, wd]);
  };
  out.lstmCellForward = (g, cPrev, c, h, rows, hs) => {
    const k = parts(rows, rows * hs, CELL_MIN);
    if (k <= 1) return e.lstmCellForward(g, cPrev, c, h, rows, hs);
    pool.run(id('lstmCellForwardPart'), k, [g, cPrev, c, h, rows, hs]);
  };
  out.lstmCellBackward = (g, cPrev, c, dh, dc, dg, rows, hs) => {
    const k = parts(rows, rows * hs, CELL_MIN);
    if (k <= 1) return e.lstmCellBackward(g, cPrev, c, dh, dc, dg, rows, hs);
    pool.run(id('lstmCellBackwardPart'), k, [g, cPrev, c, dh, dc, dg, rows, hs]);
  };
  out.gruCellForward = (xg, hg, hPrev, h, rows, hs) => {
    const k = parts(rows, rows * hs, CELL_MIN);
    if (k <= 1) return e.gruCellForward(xg, hg, hPrev, h, rows, hs);
    pool.run(id('gruCellForwardPart'), k, [xg, hg, hPrev, h, rows, hs]);
  };
  out.gruCellBackward = (xg, hg, hPrev, dh, dxg, dhg, rows, hs) => {
    const k = parts(rows, rows * hs, CELL_MIN);
    if (k <= 1) return e.gruCellBackward(xg, hg, hPrev, dh, dxg, dhg, rows, hs);
    pool.run(id('gruCellBackwardPart'), k, [xg, hg, hPrev, dh, dxg, dhg, rows, hs]);
  };
  out.rnnCellForward = (pre, h, n, relu) => {
    const k = parts(Math.ceil(n / 16), n, CELL_MIN);
    if (k <= 1) return e.rnnCellForward(pre, h, n, relu);
    pool.run(id('rnnCellForwardPart'), k, [pre, h, n, relu]);
  };
  out.rnnCellBackward = (h, dh, dpre, n, relu) => {
    const k = parts(Math.ceil(n / 16), n, CELL_MIN);
    if (k <= 1) return e.rnnCellBackward(h, dh, dpre, n, relu);
    pool.run(id('rnnCellBackwardPart'), k, [h, dh, dpre, n, relu]);
  };
  out.convBiasGradNCHW = (dy, n, c, l, db) => {
    const k = parts(c, n * c * l, BIAS_GRAD_MIN);
    if (k <= 1) return e.convBiasGradNCHW(dy, n, c, l, db);
    pool.run(id('convBiasGradNCHWPart'), k, [dy, n, c, l, db]);
  };
  return out;
}
