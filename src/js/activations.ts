// Pure-JS activations: the same entry points as assembly/activations.ts.
import { f32 } from './memory';

/** y = max(x, 0). */
export function reluForward(x: number, y: number, n: number): void {
  const X = f32(x, n),
    Y = f32(y, n);
  for (let i = 0; i < n; i++) Y[i] = X[i] > 0 || X[i] !== X[i] ? X[i] : 0;
}

/** dx = x > 0 ? dy : 0. */
export function reluBackward(x: number, dy: number, dx: number, n: number): void {
  const X = f32(x, n),
    G = f32(dy, n),
    D = f32(dx, n);
  for (let i = 0; i < n; i++) D[i] = X[i] > 0 ? G[i] : 0;
}

/** y = 1 / (1 + e^(−x)). */
export function sigmoidForward(x: number, y: number, n: number): void {
  const X = f32(x, n),
    Y = f32(y, n);
  for (let i = 0; i < n; i++) {
    const e = Math.exp(-Math.abs(X[i]));
    Y[i] = X[i] >= 0 ? 1 / (1 + e) : e / (1 + e);
  }
}

/** dx = dy·y·(1 − y). */
export function sigmoidBackward(y: number, dy: number, dx: number, n: number): void {
  const Y = f32(y, n),
    G = f32(dy, n),
    D = f32(dx, n);
  for (let i = 0; i < n; i++) D[i] = G[i] * (Y[i] * (1 - Y[i]));
}

/** y = tanh(x). */
export function tanhForward(x: number, y: number, n: number): void {
  const X = f32(x, n),
    Y = f32(y, n);
  for (let i = 0; i < n; i++) Y[i] = Math.tanh(X[i]);
}

/** dx = dy·(1 − y²). */
export function tanhBackward(y: number, dy: number, dx: number, n: number): void {
  const Y = f32(y, n),
    G = f32(dy, n),
    D = f32(dx, n);
  for (let i = 0; i < n; i++) D[i] = G[i] * (1 - Y[i] * Y[i]);
}

/** y = a·b elementwise. */
export function mulElementwise(a: number, b: number, y: number, n: number): void {
  const A = f32(a, n),
    B = f32(b, n),
    Y = f32(y, n);
  for (let i = 0; i < n; i++) Y[i] = A[i] * B[i];
}
