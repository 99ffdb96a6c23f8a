// Ghost Batch Normalization: in training, BN's statistics per ghost batch of virtualBatchSize
// samples (the last takes the rest), and the running statistics updated from each ghost batch in
// order; eval is BN's eval. Separate classes on BN's base rather than an option of BatchNorm1d/2d:
// BN's hot path and state stay as they are, and a ghost batch is BN's kernels on a slice of the
// batch (samples are contiguous in every layout), so one ghost batch is BN bit for bit.
// see: Hoffer, Hubara & Soudry 2017, Train longer, generalize better, https://arxiv.org/abs/1705.08741 (Algorithm 1)
import { track } from '../autograd/engine';
import { gradSink, record } from '../autograd/functional';
import { checkShape, gradOf, Tensor } from '../tensor';
import { bnBackward, bnTrain, geometry, type Geometry, type Layout } from '../kernels/batchnorm';
import { checkInputShape, forwardCore, Stats, updateRunning } from './bn_core';
import { BatchNorm, type BatchNormOptions } from './batchnorm';
import { checkGradOutput } from './module';
import { addingWhenDone } from './norm_core';
import { checkOptions, checkTensor, describe, kindOf } from '../validate';

/** Options of a Ghost BatchNorm layer: BatchNorm's and the ghost batch size. */
export interface GhostBatchNormOptions<L extends Layout = Layout> extends BatchNormOptions<L> {
  /** Samples per ghost batch in training (the last ghost batch takes the rest). Required. */
  virtualBatchSize: number;
}

const KEYS = ['eps', 'momentum', 'momentumConvention', 'affine', 'trackRunningStats', 'layout', 'activation', 'virtualBatchSize'];

/** One ghost batch: its geometry, its first element and its statistics. */
interface Part {
  g: Geometry;
  offset: number;
  stats: Stats;
}

/** What a forward saved for backward(dy) when it did not record on the tape. */
interface Saved {
  x: Tensor;
  parts: Part[];
  useBatch: boolean;
}

/**
 * What GhostBatchNorm1d, 2d and 3d share. num_batches_tracked counts ghost batches (each is one
 * running update), so momentum null averages over ghost batches.
 */
abstract class GhostBatchNorm extends BatchNorm {
  /** Samples per ghost batch in training. */
  readonly virtualBatchSize: number;
  #saved: Saved | null = null;

  constructor(numFeatures: number, options: GhostBatchNormOptions, layouts: readonly Layout[]) {
    const where = kindOf(new.target);
    checkOptions(where, options, KEYS);
    const { virtualBatchSize: vbs, ...rest } = options;
    if (!Number.isInteger(vbs) || vbs < 1)
      throw new RangeError(`${where}: virtualBatchSize: expected a positive integer, got ${describe(vbs)}`);
    super(numFeatures, rest, layouts);
    this.virtualBatchSize = vbs;
  }

  /** The ghost batches of an input of `shape` (one in eval: BN's eval), each checked. */
  #split(where: string, shape: readonly number[]): Omit<Part, 'stats'>[] {
    const layout = this.layoutFor(shape.length);
    const g = checkInputShape(where, 'input', shape, layout, this.numFeatures);
    const n = shape[0],
      per = n === 0 ? 0 : g.size / n;
    if (n === 0) return [{ g, offset: 0 }];
    const step = this.training ? this.virtualBatchSize : n;
    const useBatch = this.training || !this.trackRunningStats;
    const parts: Omit<Part, 'stats'>[] = [];
    for (let s = 0; s < n; s += step) {
      const sub = [Math.min(step, n - s), ...shape.slice(1)];
      const gs = geometry(layout, sub);
      if (useBatch && gs.m === 1)
        throw new RangeError(
          `${where}: expected more than 1 value per channel in each ghost batch when training, got a ghost batch [${sub.join(', ')}] of input [${shape.join(', ')}] (virtualBatchSize ${this.virtualBatchSize})`,
        );
      parts.push({ g: gs, offset: s * per });
    }
    return parts;
  }

  /** Normalizes `x`; in training per ghost batch (and updates the running statistics from each in order). */
  forward(x: Tensor): Tensor {
    const where = `${this.kind}.forward`;
    const t = checkTensor(where, 'input', x);
    const split = this.#split(where, t.shape);
    this.checkUsable(where);
    const useBatch = this.training || !this.trackRunningStats;
    const relu = this.activation === 'relu';
    const recording = this.records(t);
    const parts: Part[] = [];
    let y: Tensor | null = null;
    try {
      for (const p of split) parts.push({ ...p, stats: new Stats(this.numFeatures) });
      y = Tensor.empty(t.shape);
      const w = this.weight ? this.weight.ptr : 0,
        b = this.bias ? this.bias.ptr : 0;
      for (const p of parts) {
        if (p.g.size === 0) continue;
        if (!useBatch) forwardCore(p.g, t, this.weight, this.bias, false, this.eps, p.stats, this.runningMean, this.runningVar, relu, y);
        else {
          const { mean, vari, invstd } = p.stats;
          bnTrain(p.g, t.ptr + 4 * p.offset, y.ptr + 4 * p.offset, w, b, this.eps, mean, vari, invstd, relu);
        }
      }
    } catch (e) {
      y?.dispose();
      for (const p of parts) p.stats.block.dispose();
      throw e;
    }
    if (this.training && this.trackRunningStats) {
      for (const p of parts) {
        this.numBatchesTracked += 1;
        const factor = this.momentum === null ? 1 / this.numBatchesTracked : this.momentum;
        updateRunning(p.g, p.stats, factor, this.runningMean!, this.runningVar!);
      }
    }
    this.#release();
    if (recording) return this.recorded(this.#record(y, t, parts, useBatch));
    this.#saved = { x: t, parts, useBatch };
    return track(y);
  }

  /** dx (into gx) and dγ, dβ (added into gw, gb when non-zero) of a forward; adds nothing when it throws. */
  #backward(x: Tensor, dy: Tensor, gx: Tensor, parts: Part[], useBatch: boolean, gw: number, gb: number): void {
    const w = this.weight ? this.weight.ptr : 0,
      b = this.bias ? this.bias.ptr : 0,
      relu = this.activation === 'relu';
    // one ghost batch adds to the gradients directly (BN's call); several, once all of them ran
    const run = (tw: number, tb: number) => {
      for (const { g, offset, stats } of parts) {
        if (g.size === 0) continue;
        const o = 4 * offset;
        bnBackward(g, x.ptr + o, dy.ptr + o, gx.ptr + o, w, stats.mean, stats.invstd, tw, tb, useBatch, relu, b);
      }
    };
    if (parts.length === 1) run(gw, gb);
    else addingWhenDone(this.numFeatures, gw, gb, run);
  }

  /** Records the forward's backward on y; the tape owns the ghost batches' statistics. */
  #record(y: Tensor, x: Tensor, parts: Part[], useBatch: boolean): Tensor {
    const w = this.weight,
      b = this.bias;
    const inputs = [x, ...(w && b ? [w, b] : [])];
    return record(
      y,
      'ghostBatchNorm',
      inputs,
      (gy) => {
        const gx = Tensor.empty(x.shape);
        const gw = gradSink(w),
          gb = gradSink(b);
        this.#backward(x, gy, gx, parts, useBatch, gw ? gw.into.ptr : 0, gb ? gb.into.ptr : 0);
        return [gx, ...(gw && gb ? [gw.give, gb.give] : [])];
      },
      () => parts.forEach((p) => p.stats.block.dispose()),
    );
  }

  extraRepr(): string {
    return `${super.extraRepr()}, virtualBatchSize=${this.virtualBatchSize}`;
  }

  /** The input's shape; throws what forward() would throw for it. */
  outputShape(shape: readonly number[]): number[] {
    const s = checkShape(`${this.kind}.forward`, shape);
    this.#split(`${this.kind}.forward`, s);
    return s;
  }

  checkBackwardReady(): void {
    this.checkSavedReady(`${this.kind}.backward`, this.#saved?.x ?? null);
  }

  /** Gradient of the last forward (through each ghost batch's statistics in training): returns dx, adds dγ, dβ. */
  backward(dy: Tensor): Tensor {
    const where = `${this.kind}.backward`;
    const r = this.backwardRecorded(where, dy, true, 'input');
    if (r !== undefined) return r!;
    this.checkBackwardReady();
    const { x, parts, useBatch } = this.#saved!;
    const d = checkGradOutput(where, dy, x.shape, 'input');
    // the gradients are allocated at their first need (none for a frozen parameter), before dx
    const dw = gradOf(this.weight)?.ptr ?? 0,
      db = gradOf(this.bias)?.ptr ?? 0;
    const dx = Tensor.empty(x.shape);
    try {
      this.#backward(x, d, dx, parts, useBatch, dw, db);
    } catch (e) {
      dx.dispose();
      throw e;
    }
    return dx;
  }

  #release(): void {
    this.#saved?.parts.forEach((p) => p.stats.block.dispose());
    this.#saved = null;
  }

  /** Frees the layer's memory (parameters, gradients, running and saved statistics). */
  dispose(): void {
    super.dispose();
    this.#release();
  }
}

/** Ghost BatchNorm over [N, C] or [N, C, L] (layout 'NCL', default) or [N, L, C] (layout 'NLC'). */
export class GhostBatchNorm1d extends GhostBatchNorm {
  static readonly kind: string = 'GhostBatchNorm1d';
  constructor(numFeatures: number, options: GhostBatchNormOptions<'NCL' | 'NLC'>) {
    super(numFeatures, options, ['NCL', 'NLC']);
  }
  protected layoutFor(rank: number): Layout {
    return rank === 2 ? 'NC' : this.layout;
  }
}

/** Ghost BatchNorm over [N, C, H, W] (layout 'NCHW', default) or [N, H, W, C] (layout 'NHWC'). */
export class GhostBatchNorm2d extends GhostBatchNorm {
  static readonly kind: string = 'GhostBatchNorm2d';
  constructor(numFeatures: number, options: GhostBatchNormOptions<'NCHW' | 'NHWC'>) {
    super(numFeatures, options, ['NCHW', 'NHWC']);
  }
}

/** Ghost BatchNorm over [N, C, D, H, W] (layout 'NCDHW', default) or [N, D, H, W, C] (layout 'NDHWC'). */
export class GhostBatchNorm3d extends GhostBatchNorm {
  static readonly kind: string = 'GhostBatchNorm3d';
  constructor(numFeatures: number, options: GhostBatchNormOptions<'NCDHW' | 'NDHWC'>) {
    super(numFeatures, options, ['NCDHW', 'NDHWC']);
  }
}
