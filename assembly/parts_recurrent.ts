// Part kernels of the recurrent layers' gate kernels (recurrent.ts) for the threaded build: part p
// of a step takes a block of batch rows (each row's gates read only that row), or for the Elman
// cell, whose values are independent, a slice of whole units of 16 values. The same kernel runs on
// fewer rows, so the bits do not depend on the blocks.
import { lstmCellForward, lstmCellBackward, gruCellForward, gruCellBackward, rnnCellForward, rnnCellBackward } from './recurrent';
import { sliceStart } from './parts';

/** lstmCellForward (same arguments) on block `part` of `parts` of the rows. */
export function lstmCellForwardPart(part: i32, parts: i32, g: usize, cPrev: usize, c: usize, h: usize, rows: i32, hs: i32): void {
  let r0 = sliceStart(part, parts, rows), r1 = sliceStart(part + 1, parts, rows);
  if (r1 <= r0) return;
  let o = <usize>r0 * <usize>hs << 2;
  lstmCellForward(g + 4 * o, cPrev + o, c + o, h + o, r1 - r0, hs);
}

/** lstmCellBackward (same arguments) on block `part` of `parts` of the rows. */
export function lstmCellBackwardPart(part: i32, parts: i32, g: usize, cPrev: usize, c: usize, dh: usize, dc: usize, dg: usize, rows: i32, hs: i32): void {
  let r0 = sliceStart(part, parts, rows), r1 = sliceStart(part + 1, parts, rows);
  if (r1 <= r0) return;
  let o = <usize>r0 * <usize>hs << 2;
  lstmCellBackward(g + 4 * o, cPrev + o, c + o, dh + o, dc + o, dg + 4 * o, r1 - r0, hs);
}

/** gruCellForward (same arguments) on block `part` of `parts` of the rows. */
export function gruCellForwardPart(part: i32, parts: i32, xg: usize, hg: usize, hPrev: usize, h: usize, rows: i32, hs: i32): void {
  let r0 = sliceStart(part, parts, rows), r1 = sliceStart(part + 1, parts, rows);
  if (r1 <= r0) return;
  let o = <usize>r0 * <usize>hs << 2;
  gruCellForward(xg + 3 * o, hg + 3 * o, hPrev + o, h + o, r1 - r0, hs);
}

/** gruCellBackward (same arguments) on block `part` of `parts` of the rows. */
export function gruCellBackwardPart(part: i32, parts: i32, xg: usize, hg: usize, hPrev: usize, dh: usize, dxg: usize, dhg: usize, rows: i32, hs: i32): void {
  let r0 = sliceStart(part, parts, rows), r1 = sliceStart(part + 1, parts, rows);
  if (r1 <= r0) return;
  let o = <usize>r0 * <usize>hs << 2;
  gruCellBackward(xg + 3 * o, hg + 3 * o, hPrev + o, dh + o, dxg + 3 * o, dhg + 3 * o, r1 - r0, hs);
}

/** First value of slice `part` of `parts` of n (whole units of 16, so no value moves between a vector body and its tail). */
// @ts-ignore: decorator
@inline function valueStart(part: i32, parts: i32, n: i32): i32 {
  return min(n, sliceStart(part, parts, (n + 15) >> 4) << 4);
}

/** rnnCellForward (same arguments) on slice `part` of `parts`. */
export function rnnCellForwardPart(part: i32, parts: i32, pre: usize, h: usize, n: i32, relu: i32): void {
  let i0 = valueStart(part, parts, n), i1 = valueStart(part + 1, parts, n);
  if (i1 <= i0) return;
  let o = <usize>i0 << 2;
  rnnCellForward(pre + o, h + o, i1 - i0, relu);
}

/** rnnCellBackward (same arguments) on slice `part` of `parts`. */
export function rnnCellBackwardPart(part: i32, parts: i32, h: usize, dh: usize, dpre: usize, n: i32, relu: i32): void {
  let i0 = valueStart(part, parts, n), i1 = valueStart(part + 1, parts, n);
  if (i1 <= i0) return;
  let o = <usize>i0 << 2;
  rnnCellBackward(h + o, dh + o, dpre + o, i1 - i0, relu);
}
