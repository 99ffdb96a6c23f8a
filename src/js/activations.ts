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

// The piecewise-linear activations, rounded to f32 after each operation as the WASM kernels round.

/** y = min(max(x, lo), hi). */
export function clampForward(x: number, y: number, n: number, lo: number, hi: number): void {
  const X = f32(x, n),
    Y = f32(y, n),
    l = Math.fround(lo),
    h = Math.fround(hi);
  for (let i = 0; i < n; i++) Y[i] = Math.min(Math.max(X[i], l), h);
}

/** dx = lo < x < hi ? dy : 0. */
export function clampBackward(x: number, dy: number, dx: number, n: number, lo: number, hi: number): void {
  const X = f32(x, n),
    G = f32(dy, n),
    D = f32(dx, n),
    l = Math.fround(lo),
    h = Math.fround(hi);
  for (let i = 0; i < n; i++) D[i] = X[i] > l && X[i] < h ? G[i] : 0;
}

/** y = x > 0 ? x : slope·x. */
export function leakyReluForward(x: number, y: number, n: number, slope: number): void {
  const X = f32(x, n),
    Y = f32(y, n),
    s = Math.fround(slope);
  for (let i = 0; i < n; i++) Y[i] = X[i] > 0 ? X[i] : X[i] * s;
}

/** dx = x > 0 ? dy : slope·dy. */
export function leakyReluBackward(x: number, dy: number, dx: number, n: number, slope: number): void {
  const X = f32(x, n),
    G = f32(dy, n),
    D = f32(dx, n),
    s = Math.fround(slope);
  for (let i = 0; i < n; i++) D[i] = X[i] > 0 ? G[i] : G[i] * s;
}

/** y = x·min(max(x + 3, 0), 6) / 6. */
export function hardswishForward(x: number, y: number, n: number): void {
  const X = f32(x, n),
    Y = f32(y, n);
  for (let i = 0; i < n; i++) {
    const v = X[i];
    Y[i] = Math.fround(v * Math.min(Math.max(Math.fround(v + 3), 0), 6)) / 6;
  }
}

/** dx = dy·(x < −3 ? 0 : x < 3 ? x/3 + 1/2 : 1) (at 3, PyTorch's vectorized rule). */
export function hardswishBackward(x: number, dy: number, dx: number, n: number): void {
  const X = f32(x, n),
    G = f32(dy, n),
    D = f32(dx, n);
  for (let i = 0; i < n; i++) {
    const v = X[i];
    D[i] = v < -3 ? 0 : v < 3 ? G[i] * Math.fround(Math.fround(v / 3) + 0.5) : G[i];
  }
}

/** y = min(max(x + 3, 0), 6) / 6. */
export function hardsigmoidForward(x: number, y: number, n: number): void {
  const X = f32(x, n),
    Y = f32(y, n);
  for (let i = 0; i < n; i++) Y[i] = Math.min(Math.max(Math.fround(X[i] + 3), 0), 6) / 6;
}

const SIXTH = Math.fround(1 / 6);

/** dx = −3 < x < 3 ? dy/6 : 0. */
export function hardsigmoidBackward(x: number, dy: number, dx: number, n: number): void {
  const X = f32(x, n),
    G = f32(dy, n),
    D = f32(dx, n);
  for (let i = 0; i < n; i++) D[i] = X[i] > -3 && X[i] < 3 ? G[i] * SIXTH : 0;
}
