// Thin wrappers over the loss kernels (assembly/loss.ts, src/js/loss.ts).
import { runtime } from '../runtime/index';
import { I32Block } from '../runtime/block';

/**
 * Mean softmax cross-entropy of logits z[n×c] against integer `labels` (checked by the caller), with
 * label smoothing; writes dL/dz into dz. The labels are copied into the backend for the call.
 */
export function softmaxCrossEntropy(z: number, labels: ArrayLike<number>, n: number, c: number, smoothing: number, dz: number): number {
  const lab = new I32Block(n);
  try {
    lab.i32().set(labels);
    return runtime().k.softmaxCrossEntropy(z, lab.ptr, n, c, smoothing, dz);
  } finally {
    lab.dispose();
  }
}

/** Mean squared error of `n` floats p against t; writes dL/dp into dp. */
export function mseLoss(p: number, t: number, n: number, dp: number): number {
  return runtime().k.mseLoss(p, t, n, dp);
}
