// Pure-JS optimizer updates: the same entry points as assembly/optim.ts.
import { f32 } from './memory';

/** SGD with momentum, dampening, weight decay and Nesterov (PyTorch's rule). */
export function sgdStep(
  p: number,
  g: number,
  buf: number,
  n: number,
  lr: number,
  momentum: number,
  dampening: number,
  weightDecay: number,
  nesterov: number,
  first: number,
): void {
  const P = f32(p, n),
    G = f32(g, n),
    B = momentum !== 0 ? f32(buf, n) : null;
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
export function adamStep(
  p: number,
  g: number,
  m: number,
  v: number,
  n: number,
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  weightDecay: number,
  decoupled: number,
  t: number,
): void {
  const P = f32(p, n),
    G = f32(g, n),
    M = f32(m, n),
    V = f32(v, n);
  const c1 = 1 - beta1 ** t,
    c2 = Math.sqrt(1 - beta2 ** t);
  for (let i = 0; i < n; i++) {
    let w = P[i],
      d = G[i];
    if (weightDecay !== 0) {
      if (decoupled) w *= 1 - lr * weightDecay;
      else d += weightDecay * w;
    }
    M[i] = beta1 * M[i] + (1 - beta1) * d;
    V[i] = beta2 * V[i] + (1 - beta2) * d * d;
    P[i] = w - (lr / c1) * (M[i] / (Math.sqrt(V[i]) / c2 + eps));
  }
}

/** RMSprop (PyTorch's rule); `avg` only when centered, `buf` only with momentum. */
export function rmspropStep(
  p: number,
  g: number,
  v: number,
  avg: number,
  buf: number,
  n: number,
  lr: number,
  alpha: number,
  eps: number,
  weightDecay: number,
  momentum: number,
  centered: number,
): void {
  const P = f32(p, n),
    G = f32(g, n),
    V = f32(v, n),
    A = centered ? f32(avg, n) : null,
    B = momentum !== 0 ? f32(buf, n) : null;
  for (let i = 0; i < n; i++) {
    let d = G[i];
    if (weightDecay !== 0) d += weightDecay * P[i];
    V[i] = alpha * V[i] + (1 - alpha) * d * d;
    let s: number;
    if (A) {
      A[i] = alpha * A[i] + (1 - alpha) * d;
      s = Math.sqrt(V[i] - A[i] * A[i]) + eps;
    } else s = Math.sqrt(V[i]) + eps;
    if (B) {
      B[i] = momentum * B[i] + d / s;
      P[i] = P[i] - lr * B[i];
    } else P[i] = P[i] - lr * (d / s);
  }
}

/** Adagrad step t ≥ 1 (PyTorch's rule). */
export function adagradStep(
  p: number,
  g: number,
  sum: number,
  n: number,
  lr: number,
  lrDecay: number,
  eps: number,
  weightDecay: number,
  t: number,
): void {
  const P = f32(p, n),
    G = f32(g, n),
    S = f32(sum, n);
  const clr = lr / (1 + (t - 1) * lrDecay);
  for (let i = 0; i < n; i++) {
    let d = G[i];
    if (weightDecay !== 0) d += weightDecay * P[i];
    S[i] = S[i] + d * d;
    P[i] = P[i] - clr * (d / (Math.sqrt(S[i]) + eps));
  }
}

/** Adadelta (PyTorch's rule). */
export function adadeltaStep(
  p: number,
  g: number,
  v: number,
  u: number,
  n: number,
  lr: number,
  rho: number,
  eps: number,
  weightDecay: number,
): void {
  const P = f32(p, n),
    G = f32(g, n),
    V = f32(v, n),
    U = f32(u, n);
  for (let i = 0; i < n; i++) {
    let d = G[i];
    if (weightDecay !== 0) d += weightDecay * P[i];
    V[i] = rho * V[i] + (1 - rho) * d * d;
    const delta = (Math.sqrt(U[i] + eps) / Math.sqrt(V[i] + eps)) * d;
    U[i] = rho * U[i] + (1 - rho) * delta * delta;
    P[i] = P[i] - lr * delta;
  }
}
