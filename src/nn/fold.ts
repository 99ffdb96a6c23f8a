// foldBatchNorm: an inference model in which every BatchNorm that follows a Linear or Conv2d is
// folded into that layer's weight and bias: W' = W·a per output, b' = (b − mean)·a + β with
// a = γ/√(running_var + eps); a fused BN+ReLU leaves a ReLU behind (Conv-BN-ReLU becomes
// Conv-ReLU). The folded model computes the same function in eval mode.
// see: Jacob et al. 2018, https://arxiv.org/abs/1712.05877 (§3.2, batch normalization folding)
import { Linear } from './linear';
import { Conv2d } from './conv';
import { ReLU } from './layers';
import { BatchNorm1d, BatchNorm2d, BatchNorm3d } from './batchnorm';
import { Sequential } from './layers';
import { Module } from './module';
import { checkOptions, describe, kindOf } from '../validate';
import { Generator } from '../random';
import { Graph } from '../graph/graph';
import { foldGraph } from '../graph/fold';

/** A layer with weight [out, …] and optional bias [out] that BN can fold into. */
interface FoldableLinear extends Module {
  weight: { shape: readonly number[]; toArray(): Float32Array };
}

function isNorm(m: Module | undefined): m is BatchNorm1d | BatchNorm2d | BatchNorm3d {
  return m instanceof BatchNorm1d || m instanceof BatchNorm2d || m instanceof BatchNorm3d;
}

/**
 * Returns a new Sequential (or Graph) for inference with each BatchNorm after a Linear/Conv folded
 * in; the other layers are shared with `model` (not copied). Needs running statistics (trackRunningStats).
 * `makeFolded(layer, weight, bias)` builds the replacement for other layer types; Linear and Conv2d are built in.
 * In a Graph, a Conv2d/Linear node whose only reader is a BatchNorm node is folded, the graph rewired.
 */
export function foldBatchNorm(model: Sequential, options?: { makeFolded?: MakeFolded }): Sequential;
export function foldBatchNorm(model: Graph, options?: { makeFolded?: MakeFolded }): Graph;
export function foldBatchNorm(model: Sequential | Graph, options: { makeFolded?: MakeFolded } = {}): Sequential | Graph {
  if (!(model instanceof Sequential || model instanceof Graph))
    throw new TypeError(`foldBatchNorm: model: expected a Sequential or a Graph, got ${describe(model)}`);
  checkOptions('foldBatchNorm', options, ['makeFolded']);
  const make = options.makeFolded;
  if (make !== undefined && typeof make !== 'function')
    throw new TypeError(`foldBatchNorm: makeFolded: expected a function, got ${describe(make)}`);
  if (model instanceof Graph) return foldGraph(model, foldBatchNorm, options);
  // the layers made here (not those shared with `model`), freed if a later fold throws
  const made: Module[] = [];
  try {
    return new Sequential(...foldLayers(model.layers, make, made)).eval();
  } catch (e) {
    for (const m of made) m.dispose();
    throw e;
  }
}

type MakeFolded = (layer: Module, weight: Float32Array, bias: Float32Array) => Module | null;

function foldLayers(layers: readonly Module[], makeFolded: MakeFolded | undefined, made: Module[]): Module[] {
  const out: Module[] = [];
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i],
      next = layers[i + 1];
    if (isNorm(next) && 'weight' in layer) {
      if (!next.trackRunningStats)
        throw new Error(`foldBatchNorm: layer ${i + 1}: a BatchNorm without running statistics cannot be folded`);
      const lin = layer as FoldableLinear;
      const outCh = lin.weight.shape[0];
      if (outCh !== next.numFeatures)
        throw new RangeError(`foldBatchNorm: layer ${i + 1}: BatchNorm has ${next.numFeatures} features, layer ${i} has ${outCh} outputs`);
      const sd = next.stateDict();
      const w = lin.weight.toArray();
      const b0 = (lin as unknown as { bias: { toArray(): Float32Array } | null }).bias?.toArray() ?? new Float32Array(outCh);
      const per = w.length / outCh;
      const bias = new Float32Array(outCh);
      for (let o = 0; o < outCh; o++) {
        const a = (next.affine ? sd.weight![o] : 1) / Math.sqrt(sd.running_var![o] + next.eps);
        for (let j = 0; j < per; j++) w[o * per + j] = w[o * per + j] * a;
        bias[o] = (b0[o] - sd.running_mean![o]) * a + (next.affine ? sd.bias![o] : 0);
      }
      const folded =
        layer instanceof Linear
          ? linearWith(layer, w, bias, made)
          : layer instanceof Conv2d
            ? convWith(layer, w, bias, made)
            : (makeFolded?.(layer, w, bias) ?? null);
      if (folded === null)
        throw new TypeError(`foldBatchNorm: layer ${i}: no way to fold into ${kindOf(layer.constructor)} (pass options.makeFolded)`);
      if (!(folded instanceof Module))
        throw new TypeError(`foldBatchNorm: layer ${i}: makeFolded: expected a Module or null, got ${describe(folded)}`);
      out.push(folded);
      if (next.activation === 'relu') out.push(new ReLU());
      i++; // the BatchNorm is gone
    } else {
      out.push(layer);
    }
  }
  return out;
}

// The folded layers' initial weights are overwritten at once: a generator of their own keeps the
// default generator's sequence where it was.
function convWith(l: Conv2d, w: Float32Array, b: Float32Array, made: Module[]): Conv2d {
  const f = new Conv2d(l.inChannels, l.outChannels, l.kernelSize as [number, number], {
    stride: l.stride as [number, number],
    padding: l.padding as [number, number],
    dilation: l.dilation as [number, number],
    groups: l.groups,
    layout: l.layout,
    generator: new Generator(0),
  });
  made.push(f);
  f.loadStateDict({ weight: w, bias: b });
  return f;
}

function linearWith(l: Linear, w: Float32Array, b: Float32Array, made: Module[]): Linear {
  const f = new Linear(l.inFeatures, l.outFeatures, { generator: new Generator(0) });
  made.push(f);
  f.loadStateDict({ weight: w, bias: b });
  return f;
}
