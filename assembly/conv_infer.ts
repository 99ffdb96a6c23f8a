// Inference convolution (NCHW, groups = 1, dilation 1) as an implicit GEMM with the bias and a clamp
// fused into its write-out: the kernels of the family. The body, which the threaded build's parts
// also run on ranges of pixel blocks and output channels, is in conv_infer_blocks.ts.
import { convInferBlocks, convInferBlocksWorkspace, CONV_INFER_NC } from './conv_infer_blocks';

/** Bytes of workspace convInferNCHW needs for K taps (c·kh·kw) and P output pixels. */
export function convInferWorkspace(K: i32, P: i32): i32 {
  return convInferBlocksWorkspace(K, P);
}

/**
 * One image: y[o, oh·ow] = clamp(W[o, c·kh·kw] ⋆ x[c, h, w] + bias, lo, hi), zero padding ph, pw,
 * strides sh, sw; bias = 0: none. `ws` holds convInferWorkspace(c·kh·kw, oh·ow) bytes.
 */
export function convInferNCHW(x: usize, wt: usize, bias: usize, y: usize, ws: usize, c: i32, h: i32, w: i32, o: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, lo: f32, hi: f32): void {
  let blocks = (oh * ow + CONV_INFER_NC - 1) / CONV_INFER_NC;
  convInferBlocks(x, wt, bias, y, ws, c, h, w, o, kh, kw, sh, sw, ph, pw, oh, ow, lo, hi, 0, blocks, 0, o);
}
