// BatchNormalization as ONNX defines it in training mode: the running variance is updated with the
// batch's population variance (÷ M), where PyTorch's layers use the unbiased one (÷ (M − 1)). The
// layers keep PyTorch's rule; an imported node gets these subclasses, which redo the variance update.
// see: https://onnx.ai/onnx/operators/onnx__BatchNormalization.html (running_var = var · (1 − momentum) + momentum · population var)
import { BatchNorm, BatchNorm1d, BatchNorm2d, type BatchNormOptions } from '../nn/batchnorm';
import type { Tensor } from '../tensor';
import { leafLayer } from '../nn/module';

/** After a training forward of PyTorch's rule, turns its unbiased variance update into ONNX's population one. */
function populationUpdate(layer: BatchNorm, x: Tensor, run: () => Tensor): Tensor {
  if (!layer.training || layer.runningVar === null || layer.momentum === null) return run();
  const before = layer.runningVar.toArray();
  const y = run();
  const m = x.size / layer.numFeatures; // values per channel
  if (m <= 1) return y;
  const f = layer.momentum;
  const rv = layer.runningVar.view();
  // rv = (1 − f)·old + f·var·M/(M − 1); ONNX keeps f·var: scale the new part by (M − 1)/M
  for (let c = 0; c < rv.length; c++) rv[c] = (1 - f) * before[c] + (rv[c] - (1 - f) * before[c]) * ((m - 1) / m);
  return y;
}

/** BatchNorm2d whose training forward updates the running variance with the population variance (ONNX's rule). */
export class OnnxBatchNorm2d extends BatchNorm2d {
  static readonly kind: string = 'BatchNorm2d';
  constructor(numFeatures: number, options: BatchNormOptions<'NCHW' | 'NHWC'> = {}) {
    super(numFeatures, options);
  }

  /** BatchNorm2d's forward, then ONNX's running-variance rule in training. */
  forward(x: Tensor): Tensor {
    return populationUpdate(this, x, () => super.forward(x));
  }
}

/** BatchNorm1d whose training forward updates the running variance with the population variance (ONNX's rule). */
export class OnnxBatchNorm1d extends BatchNorm1d {
  static readonly kind: string = 'BatchNorm1d';
  constructor(numFeatures: number, options: BatchNormOptions<'NCL' | 'NLC'> = {}) {
    super(numFeatures, options);
  }

  /** BatchNorm1d's forward, then ONNX's running-variance rule in training. */
  forward(x: Tensor): Tensor {
    return populationUpdate(this, x, () => super.forward(x));
  }
}

// one BN op each, as their bases: no child modules, no inference plan needed
for (const cls of [OnnxBatchNorm1d, OnnxBatchNorm2d]) leafLayer(cls);
