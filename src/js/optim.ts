// Pure-JS optimizer updates: the same entry points as assembly/optim.ts.
import { f32 } from './memory';

/** SGD with momentum, dampening, weight decay and Nesterov (PyTorch's rule). */
export function sgdStep(p: number, g: number, buf: number, n: number, lr: number, momentum: number, dampening: number, weightDecay: number, nesterov: number, first: number): void {
  const P = f32(p, n), G = f32(g, n), B = momentum !== 0 ? f32(buf, n) : null;
  for (let i = 0; i < n; i++) {
    let d = G[i];
    if (weightDecay !== 0) d += weightDecay * P[i];
    if (B) {
      const b = first ? d : momentum * B[i] + (1 - dampening) * d;
      B[i] = b;
      d = nesterov ? d + momentum * b : b;
    }
    P[i] = P[i] - lr * d;
  }
}

/** Adam / AdamW step t ≥ 1 (PyTorch's rule). */
export function adamStep(p: number, g: number, m: number, v: number, n: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, decoupled: number, t: number): void {
  const P = f32(p, n), G = f32(g, n), M = f32(m, n), V = f32(v, n);
  const c1 = 1 - beta1 ** t, c2 = Math.sqrt(1 - beta2 ** t);
  for (let i = 0; i < n; i++) {
    let w = P[i], d = G[i];
    if (weightDecay !== 0) {
      if (decoupled) w *= 1 - lr * weightDecay;
      else d += weightDecay * w;
    }
    M[i] = beta1 * M[i] + (1 - beta1) * d;
    V[i] = beta2 * V[i] + (1 - beta2) * d * d;
    P[i] = w - (lr / c1) * (M[i] / (Math.sqrt(V[i]) / c2 + eps));
  }
}
