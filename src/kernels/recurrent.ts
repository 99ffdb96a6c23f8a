// Thin wrappers over the recurrent gate kernels (assembly/recurrent.ts, src/js/recurrent.ts).
// Pointers are the active backend's; nothing is checked: callers pass consistent sizes.
import { runtime } from '../runtime/index';

/** One LSTM step over `rows` rows: pre-activation gates g [rows, 4H] → activated; writes c and h [rows, H]. */
export function lstmCellForward(g: number, cPrev: number, c: number, h: number, rows: number, hs: number): void {
  if (rows > 0 && hs > 0) runtime().k.lstmCellForward(g, cPrev, c, h, rows, hs);
}

/** LSTM step backward: dg [rows, 4H] from dh and dc; dc becomes dL/dcPrev, dh becomes 0. */
export function lstmCellBackward(g: number, cPrev: number, c: number, dh: number, dc: number, dg: number, rows: number, hs: number): void {
  if (rows > 0 && hs > 0) runtime().k.lstmCellBackward(g, cPrev, c, dh, dc, dg, rows, hs);
}

/** One GRU step over `rows` rows: xg [rows, 3H] → r, z, n; hg [rows, 3H] kept; writes h [rows, H]. */
export function gruCellForward(xg: number, hg: number, hPrev: number, h: number, rows: number, hs: number): void {
  if (rows > 0 && hs > 0) runtime().k.gruCellForward(xg, hg, hPrev, h, rows, hs);
}

/** GRU step backward: dxg and dhg [rows, 3H] from dh; dh becomes its direct part z·dh. */
export function gruCellBackward(
  xg: number,
  hg: number,
  hPrev: number,
  dh: number,
  dxg: number,
  dhg: number,
  rows: number,
  hs: number,
): void {
  if (rows > 0 && hs > 0) runtime().k.gruCellBackward(xg, hg, hPrev, dh, dxg, dhg, rows, hs);
}

/** One Elman RNN step over n values: h = tanh(pre) or relu(pre). */
export function rnnCellForward(pre: number, h: number, n: number, relu: boolean): void {
  if (n > 0) runtime().k.rnnCellForward(pre, h, n, relu ? 1 : 0);
}

/** Elman RNN step backward from its output h: dpre = dh·f′; dh becomes 0. */
export function rnnCellBackward(h: number, dh: number, dpre: number, n: number, relu: boolean): void {
  if (n > 0) runtime().k.rnnCellBackward(h, dh, dpre, n, relu ? 1 : 0);
}

/** A normalized LSTM step's output gate: h [rows, H] = σ(o)·tanh(z), o from g [rows, 4H] (kept), z [rows, H]. */
export function lstmOutForward(g: number, z: number, h: number, rows: number, hs: number): void {
  if (rows > 0 && hs > 0) runtime().k.lstmOutForward(g, z, h, rows, hs);
}

/** Its backward: dg [rows, 4H] (o's columns; the others 0) and dz [rows, H] from dh. */
export function lstmOutBackward(g: number, z: number, dh: number, dg: number, dz: number, rows: number, hs: number): void {
  if (rows > 0 && hs > 0) runtime().k.lstmOutBackward(g, z, dh, dg, dz, rows, hs);
}
