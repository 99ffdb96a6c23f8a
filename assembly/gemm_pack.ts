// The packing half of gemm.ts: op(B) copied into strips of 8 (or 4) columns contiguous in k, and
// op(A) into strips of MR rows with MR values per step of k, the layouts the register tiles read
// with constant strides. conv_infer.ts packs its weights with the same transpose.
// see: Goto & van de Geijn 2008, https://doi.org/10.1145/1356052.1356053 (packed panels)

/** Rows of the register tile (gemm.ts's MR): the height of a packed strip of A. */
export const MR: i32 = 4;
/** Columns of the register tile (gemm.ts's NR): the width of a packed strip of B. */
export const NR: i32 = 8;

/**
 * Packs op(B)[pc:pc+kc, jc:jc+nc] into ws as strips of 8 columns (kc rows of 8 floats), then a
 * strip of 4 if 4 or more columns remain, then the last 1–3 columns as a strip of 4 padded with
 * zeros. The strip of column j starts at ws + j·kc floats.
 */
export function packB(transB: i32, kc: i32, nc: i32, b: usize, ldb: i32, pc: i32, jc: i32, ws: usize): void {
  let ld = <usize>ldb << 2;
  let dst = ws;
  for (let j = 0; j < nc; ) {
    let w = nc - j >= NR ? NR : 4;
    let cols = min(w, nc - j);
    let bw = <usize>w << 2;
    if (transB) {
      // column j of op(B) is row j of B, contiguous in p
      let src = b + <usize>(jc + j) * ld + (<usize>pc << 2);
      let p = 0;
      if (ASC_FEATURE_SIMD) {
        // 4 values of k from each of 4 rows of B, transposed in registers, per half strip
        if (cols >= 4) {
          for (; p + 4 <= kc; p += 4) {
            let s = src + (<usize>p << 2), d = dst + <usize>p * bw;
            transpose4(s, ld, d, bw);
            if (cols == NR) transpose4(s + 4 * ld, ld, d + 16, bw);
          }
        }
      }
      for (; p < kc; p++) {
        let s = src + (<usize>p << 2), d = dst + <usize>p * bw;
        for (let jj = 0; jj < cols; jj++) store<f32>(d + (<usize>jj << 2), load<f32>(s + <usize>jj * ld));
        for (let jj = cols; jj < w; jj++) store<f32>(d + (<usize>jj << 2), 0);
      }
    } else {
      let src = b + <usize>pc * ld + (<usize>(jc + j) << 2);
      for (let p = 0; p < kc; p++) {
        let s = src + <usize>p * ld, d = dst + <usize>p * bw;
        if (ASC_FEATURE_SIMD) {
          if (cols == NR) {
            v128.store(d, v128.load(s));
            v128.store(d, v128.load(s, 16), 16);
            continue;
          } else if (cols == 4) {
            v128.store(d, v128.load(s));
            continue;
          }
        }
        for (let jj = 0; jj < cols; jj++) store<f32>(d + (<usize>jj << 2), load<f32>(s + (<usize>jj << 2)));
        for (let jj = cols; jj < w; jj++) store<f32>(d + (<usize>jj << 2), 0);
      }
    }
    dst += <usize>kc * bw;
    j += w;
  }
}

/** Writes the 4×4 block at s (rows ld bytes apart) transposed to d (rows dw bytes apart). */
// @ts-ignore: decorator
@inline export function transpose4(s: usize, ld: usize, d: usize, dw: usize): void {
  let r0 = v128.load(s), r1 = v128.load(s + ld), r2 = v128.load(s + 2 * ld), r3 = v128.load(s + 3 * ld);
  let t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5), t1 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
  let t2 = i32x4.shuffle(r2, r3, 0, 4, 1, 5), t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(d, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
  v128.store(d + dw, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
  v128.store(d + 2 * dw, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
  v128.store(d + 3 * dw, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
}

/** Packs op(A) = Aᵀ (A stored [kc×mc], row stride lda) into strips of MR columns of A, MR floats per k. */
export function packAT(mc: i32, kc: i32, a: usize, lda: i32, dst: usize): void {
  let ld = <usize>lda << 2;
  for (let i = 0; i < mc; i += MR) {
    let r = min(MR, mc - i);
    let src = a + (<usize>i << 2);
    for (let p = 0; p < kc; p++) {
      let s = src + <usize>p * ld, d = dst + (<usize>(p * MR) << 2);
      if (ASC_FEATURE_SIMD) {
        if (r == MR) {
          v128.store(d, v128.load(s));
          continue;
        }
      }
      for (let rr = 0; rr < r; rr++) store<f32>(d + (<usize>rr << 2), load<f32>(s + (<usize>rr << 2)));
    }
    dst += <usize>(kc * MR) << 2;
  }
}

/** Packs op(A) = A (A stored [mc×kc], row stride lda) into strips of MR rows, MR floats per k. */
export function packAN(mc: i32, kc: i32, a: usize, lda: i32, dst: usize): void {
  let ld = <usize>lda << 2;
  for (let i = 0; i < mc; i += MR) {
    let r = min(MR, mc - i);
    let src = a + <usize>i * ld;
    let p = 0;
    if (ASC_FEATURE_SIMD) {
      // 4 values of k from each of the 4 rows, transposed in registers
      if (r == MR) {
        for (; p + 4 <= kc; p += 4) transpose4(src + (<usize>p << 2), ld, dst + (<usize>(p * MR) << 2), MR << 2);
      }
    }
    for (; p < kc; p++) {
      let d = dst + (<usize>(p * MR) << 2), s = src + (<usize>p << 2);
      for (let rr = 0; rr < r; rr++) store<f32>(d + (<usize>rr << 2), load<f32>(s + <usize>rr * ld));
    }
    dst += <usize>(kc * MR) << 2;
  }
}
