// Batch Renormalization: in training, BN's batch statistics corrected towards the running ones by
// r and d (clipped to rMax, dMax, held constant in the backward), so that training and eval compute
// the same function as far as the clips allow; eval is BN's eval. Separate classes on BN's base
// rather than an option of BatchNorm1d/2d: BN's hot path stays as it is, the state (PyTorch's BN
// names) is BN's, and an instance is a BatchNorm wherever one is expected (foldBatchNorm folds it).
// see: Ioffe 2017, Batch Renormalization, https://arxiv.org/abs/1702.03275 (Algorithm 1; §4: the warm-up)
import { track } from '../autograd/engine';
import { gradOf, Tensor } from '../tensor';
import { bnBackward, type Geometry, type Layout } from '../kernels/batchnorm';
import { checkBatchSize, checkInput, forwardCore, Stats, updateRunning } from './bn_core';
import { BatchNorm, type BatchNormOptions } from './batchnorm';
import { checkGradOutput } from './module';
import { recordBatchNorm } from './functional';
import { Correction, ramp, recordRenorm, renormBackward, renormForward } from './renorm_core';
import { checkOptions, checkTensor, describe, kindOf } from '../validate';

/**
 * The warm-up of rMax and dMax over training steps (the step is num_batches_tracked): rMax = 1 and
 * dMax = 0 (plain BN) up to step `hold`, then linear ramps to their final values at steps `rMaxAt`
 * and `dMaxAt`. The defaults are the paper's: 5 000, 40 000 and 25 000.
 */
export interface RenormWarmup {
  /** Steps of plain BN before the ramps start. Default 5000. */
  hold?: number;
  /** Step at which rMax reaches its final value (≥ hold). Default 40000. */
  rMaxAt?: number;
  /** Step at which dMax reaches its final value (≥ hold). Default 25000. */
  dMaxAt?: number;
}

/** Options of a Batch Renorm layer: BatchNorm's (running statistics are required) and the clips. */
export interface BatchRenormOptions<L extends Layout = Layout> extends Omit<BatchNormOptions<L>, 'trackRunningStats'> {
  /** Always true: r and d are taken against the running statistics. */
  trackRunningStats?: true;
  /** Final clip of r = σ_B/σ to [1/rMax, rMax]; ≥ 1 (Infinity: no clip). Default 3 (the paper's). */
  rMax?: number;
  /** Final clip of d = (μ_B − μ)/σ to [−dMax, dMax]; ≥ 0 (Infinity: no clip). Default 5 (the paper's). */
  dMax?: number;
  /** The warm-up schedule of the clips; null = rMax and dMax from the first step. Default: the paper's. */
  warmup?: RenormWarmup | null;
}

const KEYS = ['eps', 'momentum', 'momentumConvention', 'affine', 'trackRunningStats', 'layout', 'activation', 'rMax', 'dMax', 'warmup'];
const WARMUP: Required<RenormWarmup> = { hold: 5000, rMaxAt: 40000, dMaxAt: 25000 };

/** What a forward saved for backward(dy) when it did not record on the tape; corr null in eval. */
interface Saved {
  x: Tensor;
  g: Geometry;
  stats: Stats;
  corr: Correction | null;
}

function checkWarmup(where: string, w: unknown): Required<RenormWarmup> | null {
  if (w === undefined) return { ...WARMUP };
  if (w === null) return null;
  checkOptions(`${where}: warmup`, w as object, ['hold', 'rMaxAt', 'dMaxAt']);
  const o = w as RenormWarmup;
  const step = (name: keyof RenormWarmup, min: number): number => {
    const v = o[name] === undefined ? WARMUP[name] : o[name];
    if (!Number.isSafeInteger(v) || v! < min)
      throw new RangeError(`${where}: warmup.${name}: expected an integer ≥ ${min}, got ${describe(v)}`);
    return v!;
  };
  const hold = step('hold', 0);
  return { hold, rMaxAt: step('rMaxAt', hold), dMaxAt: step('dMaxAt', hold) };
}

/** What BatchRenorm1d, 2d and 3d share; num_batches_tracked is the step count of the warm-up. */
abstract class BatchRenorm extends BatchNorm {
  /** Final clip of r. */
  readonly rMax: number;
  /** Final clip of d. */
  readonly dMax: number;
  /** The warm-up schedule (null: none). */
  readonly warmup: Readonly<Required<RenormWarmup>> | null;
  #saved: Saved | null = null;

  constructor(numFeatures: number, options: BatchRenormOptions, layouts: readonly Layout[]) {
    const where = kindOf(new.target);
    checkOptions(where, options, KEYS);
    const { rMax = 3, dMax = 5, warmup, ...rest } = options;
    if ((rest.trackRunningStats as unknown) === false)
      throw new TypeError(
        `${where}: trackRunningStats: Batch Renormalization corrects towards the running statistics; expected true, got false`,
      );
    if (typeof rMax !== 'number' || !(rMax >= 1)) throw new RangeError(`${where}: rMax: expected a number ≥ 1, got ${describe(rMax)}`);
    if (typeof dMax !== 'number' || !(dMax >= 0)) throw new RangeError(`${where}: dMax: expected a number ≥ 0, got ${describe(dMax)}`);
    const schedule = checkWarmup(where, warmup);
    super(numFeatures, rest, layouts);
    this.rMax = rMax;
    this.dMax = dMax;
    this.warmup = schedule && Object.freeze(schedule);
  }

  /** rMax and dMax in force at training step `step` (default: the next step, num_batches_tracked). */
  limitsAt(step: number = this.numBatchesTracked): { rMax: number; dMax: number } {
    if (!Number.isSafeInteger(step) || step < 0)
      throw new RangeError(`${this.kind}.limitsAt: step: expected a non-negative integer, got ${describe(step)}`);
    const w = this.warmup;
    if (w === null) return { rMax: this.rMax, dMax: this.dMax };
    return { rMax: ramp(step, w.hold, w.rMaxAt, 1, this.rMax), dMax: ramp(step, w.hold, w.dMaxAt, 0, this.dMax) };
  }

  /** Normalizes `x`; in training with the batch statistics corrected by r and d (and updates the running ones). */
  forward(x: Tensor): Tensor {
    const where = `${this.kind}.forward`;
    const t = checkTensor(where, 'input', x);
    const g = checkInput(where, 'input', t, this.layoutFor(t.shape.length), this.numFeatures);
    const train = this.training;
    if (train) checkBatchSize(where, g, t.shape);
    this.checkUsable(where);
    const relu = this.activation === 'relu';
    const recording = this.records(t);
    const w = this.weight,
      b = this.bias;
    let stats: Stats | null = null,
      corr: Correction | null = null,
      y: Tensor | null = null;
    try {
      stats = new Stats(this.numFeatures);
      if (train) corr = new Correction(this.numFeatures);
      y = Tensor.empty(t.shape);
      if (corr) {
        const { rMax, dMax } = this.limitsAt();
        renormForward(g, t, y, w, b, this.eps, stats, this.runningMean!, this.runningVar!, rMax, dMax, corr, relu);
      } else forwardCore(g, t, w, b, false, this.eps, stats, this.runningMean, this.runningVar, relu, y);
    } catch (e) {
      y?.dispose();
      stats?.block.dispose();
      corr?.dispose();
      throw e;
    }
    if (train) {
      // after r and d: they are taken against the running statistics before this batch's update
      this.numBatchesTracked += 1;
      const factor = this.momentum === null ? 1 / this.numBatchesTracked : this.momentum;
      updateRunning(g, stats, factor, this.runningMean!, this.runningVar!);
    }
    this.#release();
    if (recording)
      return this.recorded(corr ? recordRenorm(y, t, g, stats, corr, w, b, relu) : recordBatchNorm(y, t, g, stats, w, b, false, relu));
    this.#saved = { x: t, g, stats, corr };
    return track(y);
  }

  checkBackwardReady(): void {
    this.checkSavedReady(`${this.kind}.backward`, this.#saved?.x ?? null);
  }

  /** Gradient of the last forward (r and d as constants in training): returns dx, adds dγ, dβ. */
  backward(dy: Tensor): Tensor {
    const where = `${this.kind}.backward`;
    const r = this.backwardRecorded(where, dy, true, 'input');
    if (r !== undefined) return r!;
    this.checkBackwardReady();
    const { x, g, stats, corr } = this.#saved!;
    const d = checkGradOutput(where, dy, x.shape, 'input');
    const w = this.weight,
      b = this.bias,
      relu = this.activation === 'relu';
    // allocated at their first need (none for a frozen parameter), before dx
    const dw = gradOf(w)?.ptr ?? 0,
      db = gradOf(b)?.ptr ?? 0;
    const dx = Tensor.empty(x.shape);
    try {
      if (corr) renormBackward(g, x, d, dx, w, b, stats, corr, dw, db, relu);
      else if (g.size > 0) bnBackward(g, x.ptr, d.ptr, dx.ptr, w ? w.ptr : 0, stats.mean, stats.invstd, dw, db, false, relu, b ? b.ptr : 0);
    } catch (e) {
      dx.dispose();
      throw e;
    }
    return dx;
  }

  extraRepr(): string {
    const w = this.warmup;
    const ramp = w ? `warmup=(hold=${w.hold}, rMaxAt=${w.rMaxAt}, dMaxAt=${w.dMaxAt})` : 'warmup=None';
    return `${super.extraRepr()}, rMax=${this.rMax}, dMax=${this.dMax}, ${ramp}`;
  }

  #release(): void {
    if (this.#saved === null) return;
    this.#saved.stats.block.dispose();
    this.#saved.corr?.dispose();
    this.#saved = null;
  }

  /** Frees the layer's memory (parameters, gradients, running and saved statistics). */
  dispose(): void {
    super.dispose();
    this.#release();
  }
}

/** Batch Renorm over [N, C] or [N, C, L] (layout 'NCL', default) or [N, L, C] (layout 'NLC'). */
export class BatchRenorm1d extends BatchRenorm {
  static readonly kind: string = 'BatchRenorm1d';
  constructor(numFeatures: number, options: BatchRenormOptions<'NCL' | 'NLC'> = {}) {
    super(numFeatures, options, ['NCL', 'NLC']);
  }
  protected layoutFor(rank: number): Layout {
    return rank === 2 ? 'NC' : this.layout;
  }
}

/** Batch Renorm over [N, C, H, W] (layout 'NCHW', default) or [N, H, W, C] (layout 'NHWC'). */
export class BatchRenorm2d extends BatchRenorm {
  static readonly kind: string = 'BatchRenorm2d';
  constructor(numFeatures: number, options: BatchRenormOptions<'NCHW' | 'NHWC'> = {}) {
    super(numFeatures, options, ['NCHW', 'NHWC']);
  }
}

/** Batch Renorm over [N, C, D, H, W] (layout 'NCDHW', default) or [N, D, H, W, C] (layout 'NDHWC'). */
export class BatchRenorm3d extends BatchRenorm {
  static readonly kind: string = 'BatchRenorm3d';
  constructor(numFeatures: number, options: BatchRenormOptions<'NCDHW' | 'NDHWC'> = {}) {
    super(numFeatures, options, ['NCDHW', 'NDHWC']);
  }
}
