// Thin wrappers over the pooling kernels (assembly/pool.ts, src/js/pool.ts): n channels-last images
// x[n][h][w][c] (channel-first input is passed as n·c images of one channel, the same memory), the
// window as one value, spread into the scalar ABI here.
import { runtime } from '../runtime/index';
import type { Window } from './conv';

/** y[n][oh][ow][c] = the maximum of each window; idx (i32, one per output) = iy·w + ix of the chosen input. */
export function maxPool2d(x: number, y: number, idx: number, n: number, h: number, w: number, c: number, win: Window): void {
  runtime().k.maxPool2d(x, y, idx, n, h, w, c, win.kh, win.kw, win.sh, win.sw, win.ph, win.pw, win.oh, win.ow);
}

/** dx[n][h·w][c] = 0, then dy added at each output's argmax `idx`; ohw outputs per image. */
export function maxPool2dBackward(dy: number, idx: number, dx: number, n: number, hw: number, c: number, ohw: number): void {
  runtime().k.maxPool2dBackward(dy, idx, dx, n, hw, c, ohw);
}

/** y[n][oh][ow][c] = the mean of each window, the padding counted as zeros. */
export function avgPool2d(x: number, y: number, n: number, h: number, w: number, c: number, win: Window): void {
  runtime().k.avgPool2d(x, y, n, h, w, c, win.kh, win.kw, win.sh, win.sw, win.ph, win.pw, win.oh, win.ow);
}

/** dx[n][h][w][c] = 0, then each dy / (kh·kw) added over its window. */
export function avgPool2dBackward(dy: number, dx: number, n: number, h: number, w: number, c: number, win: Window): void {
  runtime().k.avgPool2dBackward(dy, dx, n, h, w, c, win.kh, win.kw, win.sh, win.sw, win.ph, win.pw, win.oh, win.ow);
}

/** avgPool2d with the padding left out: each window's sum / its pixels inside x (count_include_pad = False). */
export function avgPool2dExclude(x: number, y: number, n: number, h: number, w: number, c: number, win: Window): void {
  runtime().k.avgPool2dExclude(x, y, n, h, w, c, win.kh, win.kw, win.sh, win.sw, win.ph, win.pw, win.oh, win.ow);
}

/** dx[n][h][w][c] = 0, then each dy / its window's pixels inside x added over the window. */
export function avgPool2dExcludeBackward(dy: number, dx: number, n: number, h: number, w: number, c: number, win: Window): void {
  runtime().k.avgPool2dExcludeBackward(dy, dx, n, h, w, c, win.kh, win.kw, win.sh, win.sw, win.ph, win.pw, win.oh, win.ow);
}
