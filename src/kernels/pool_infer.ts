// Thin wrapper over the inference max pooling (assembly/pool_infer.ts, src/js/pool_infer.ts): the
// layouts of src/kernels/pool.ts (NCHW as n·c images of one channel).
import { runtime } from '../runtime/index';
import type { Window } from './conv';

/** y[n][oh][ow][c] = the maximum of each window, as maxPool2d gives it, with no argmax kept. */
export function maxPool2dInfer(x: number, y: number, n: number, h: number, w: number, c: number, win: Window): void {
  runtime().k.maxPool2dInfer(x, y, n, h, w, c, win.kh, win.kw, win.sh, win.sw, win.ph, win.pw, win.oh, win.ow);
}
