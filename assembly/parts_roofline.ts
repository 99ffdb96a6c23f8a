// Part kernels of the memory roofline (roofline.ts) for the threaded build: each part copies or
// reads its slice of the buffer with the one-thread roof loop, so a call on n threads measures how
// fast n cores together move memory (the roof a split memory-bound kernel is judged against).
import { rooflineRead, rooflineCopy } from './roofline';
import { sliceStart } from './parts';

/** Byte offset of slice `part` of `parts` of `bytes` (whole 64-byte lines; the last ends at bytes). */
// @ts-ignore: decorator
@inline function lineStart(part: i32, parts: i32, bytes: usize): usize {
  return min(bytes, <usize>sliceStart(part, parts, <i32>(bytes >> 6)) << 6);
}

/** rooflineCopy over slice `part` of `parts` of `bytes` (a multiple of 64). */
export function rooflineCopyPart(part: i32, parts: i32, src: usize, dst: usize, bytes: usize): void {
  let o = lineStart(part, parts, bytes), e = lineStart(part + 1, parts, bytes);
  if (e > o) rooflineCopy(src + o, dst + o, e - o);
}

/** rooflineRead over slice `part` of `parts` of `bytes` (a multiple of 64); its value to out[part] (f32), so the loop is kept. */
export function rooflineReadPart(part: i32, parts: i32, src: usize, bytes: usize, out: usize): void {
  let o = lineStart(part, parts, bytes), e = lineStart(part + 1, parts, bytes);
  store<f32>(out + (<usize>part << 2), e > o ? rooflineRead(src + o, e - o) : 0);
}
