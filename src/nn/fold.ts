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
import { describe } from '../validate';

/** A layer with weight [out, …] and optional bias [out] that BN can fold into. */
interface FoldableLinear extends Module {
  weight: { shape: readonly number[]; toArray(): Float32Array };
}

function isNorm(m: Module | undefined): m is BatchNorm1d | BatchNorm2d | BatchNorm3d {
  return m instanceof BatchNorm1d || m instanceof BatchNorm2d || m instanceof BatchNorm3d;
}

/**
 * Returns a new Sequential for inference with each BatchNorm after a Linear/Conv folded in; the
 * other layers are shared with `model` (not copied). Needs running statistics (trackRunningStats).
 * `makeFolded(layer, weight, bias)` builds the replacement for other layer types; Linear and Conv2d are built in.
 */
export function foldBatchNorm(model: Sequential, options: { makeFolded?: (layer: Module, weight: Float32Array, bias: Float32Array) => Module | null } = {}): Sequential {
  if (!(model instanceof Sequential)) throw new TypeError(`foldBatchNorm: model: expected a Sequential, got ${describe(model)}`);
  const out: Module[] = [];
  const layers = model.layers;
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i], next = layers[i + 1];
    if (isNorm(next) && 'weight' in layer) {
      if (!next.trackRunningStats) throw new Error(`foldBatchNorm: layer ${i + 1}: a BatchNorm without running statistics cannot be folded`);
      const lin = layer as FoldableLinear;
      const outCh = lin.weight.shape[0];
      if (outCh !== next.numFeatures) throw new RangeError(`foldBatchNorm: layer ${i + 1}: BatchNorm has ${next.numFeatures} features, layer ${i} has ${outCh} outputs`);
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
      const folded = layer instanceof Linear ? linearWith(layer, w, bias)
        : layer instanceof Conv2d ? convWith(layer, w, bias)
          : options.makeFolded?.(layer, w, bias) ?? null;
      if (folded === null) throw new TypeError(`foldBatchNorm: layer ${i}: no way to fold into ${layer.constructor.name} (pass options.makeFolded)`);
      out.push(folded);
      if (next.activation === 'relu') out.push(new ReLU());
      i++; // the BatchNorm is gone
    } else {
      out.push(layer);
    }
  }
  return new Sequential(...out).eval();
}

function convWith(l: Conv2d, w: Float32Array, b: Float32Array): Conv2d {
  const f = new Conv2d(l.inChannels, l.outChannels, l.kernelSize as [number, number], { stride: l.stride as [number, number], padding: l.padding as [number, number], layout: l.layout });
  f.loadStateDict({ weight: w, bias: b });
  return f;
}

function linearWith(l: Linear, w: Float32Array, b: Float32Array): Linear {
  const f = new Linear(l.inFeatures, l.outFeatures);
  f.loadStateDict({ weight: w, bias: b });
  return f;
}
