// BatchNorm folded into the Conv/Gemm before it while an ONNX model is planned, so that the
// loader makes each folded layer once, from folded weights, and never allocates the unfolded
// layer and the BatchNorm beside it (a model's weights, not twice them, at the peak of a load).
// The arithmetic is foldBatchNorm's (src/nn/fold.ts), so outputs equal a fold of the unfolded graph.
// see: Jacob et al. 2018, https://arxiv.org/abs/1712.05877 (§3.2, batch normalization folding)
import { attrFloat, attrInt, type OnnxModel, type OnnxNode } from './ir';

/** What foldBatchNorm needs of one BatchNormalization node: its four vectors and eps. */
interface BnData {
  scale: Float32Array;
  bias: Float32Array;
  mean: Float32Array;
  vari: Float32Array;
  eps: number;
}

/** The float32 initializer of `name` with `c` values, or null. */
function vector(model: OnnxModel, name: string | undefined, c: number): Float32Array | null {
  const t = model.initializers.get(name ?? '');
  return t !== undefined && t.dtype === 'float32' && t.data.length === c ? (t.data as Float32Array) : null;
}

/**
 * The BatchNormalization nodes that fold into the layer before them: output name of a Conv or Gemm
 * → the BN node, where that BN is the output's only reader, the output is no graph output, and the
 * BN's four vectors are float32 initializers of the layer's output channels. Reads the model only.
 */
export function planBatchNormFolds(
  model: OnnxModel,
  readers: ReadonlyMap<string, OnnxNode[]>,
  outputs: ReadonlySet<string>,
): Map<string, OnnxNode> {
  const folds = new Map<string, OnnxNode>();
  for (const n of model.nodes) {
    if (n.op !== 'Conv' && n.op !== 'Gemm') continue;
    const y = n.outputs[0];
    const r = readers.get(y) ?? [];
    if (r.length !== 1 || r[0].op !== 'BatchNormalization' || r[0].inputs[0] !== y || outputs.has(y)) continue;
    const w = model.initializers.get(n.inputs[1] ?? '');
    if (w === undefined || w.dtype !== 'float32' || w.dims.length < 2) continue;
    // Gemm's C, when given, must be Linear's bias (a vector), or the BN would read a later add
    if (n.op === 'Gemm' && n.inputs[2] && attrFloat(n, 'beta', 1) !== 0) {
      const c = model.initializers.get(n.inputs[2]);
      if (c === undefined || c.dims.some((v, i) => v !== 1 && i !== c.dims.length - 1)) continue;
    }
    const out = n.op === 'Conv' ? w.dims[0] : attrInt(n, 'transB', 0) === 1 ? w.dims[0] : w.dims[1];
    if (r[0].inputs.slice(1, 5).every((x) => vector(model, x, out) !== null)) folds.set(y, r[0]);
  }
  return folds;
}

/** The vectors and eps of a BN node that planBatchNormFolds accepted; `eps` as the loader reads it. */
export function bnData(model: OnnxModel, bn: OnnxNode, eps: number): BnData {
  const c = model.initializers.get(bn.inputs[1])!.data.length;
  const [scale, bias, mean, vari] = [1, 2, 3, 4].map((i) => vector(model, bn.inputs[i], c)!);
  return { scale, bias, mean, vari, eps };
}

/**
 * W' = W·a per output, b' = (b − mean)·a + β with a = γ/√(var + eps), for a weight [out, …] and its
 * bias (null: zeros); new arrays. The same float64 arithmetic, rounded to float32 alike, as foldBatchNorm.
 */
export function foldInto(weight: Float32Array, bias: Float32Array | null, bn: BnData): { weight: Float32Array; bias: Float32Array } {
  const out = bn.scale.length;
  const per = weight.length / out;
  const w = new Float32Array(weight.length);
  const b = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    const a = bn.scale[o] / Math.sqrt(bn.vari[o] + bn.eps);
    for (let j = 0; j < per; j++) w[o * per + j] = weight[o * per + j] * a;
    b[o] = ((bias?.[o] ?? 0) - bn.mean[o]) * a + bn.bias[o];
  }
  return { weight: w, bias: b };
}
