// The pooling window loop that the pure-JS pool twins share (pool.ts, pool_infer.ts). Not a kernel
// family: it exports no kernel, as assembly/'s helper modules (gemm_pack.ts, nhwc_passes.ts) export none.

/** A pooling kernel's sizes: n images h × w, windows kh × kw at strides sh, sw with padding ph, pw, outputs oh × ow. */
export type PoolGeometry = Record<'n' | 'h' | 'w' | 'kh' | 'kw' | 'sh' | 'sw' | 'ph' | 'pw' | 'oh' | 'ow', number>;

/**
 * Calls `f(p, img, y0, y1, x0, x1)` for each pooling window over images [n, h, w, ·], in output
 * order: p = (img·oh + oy)·ow + ox is the output pixel; rows y0…y1 and columns x0…x1 (ends
 * excluded) are its window clipped to the image.
 */
export function forEachWindow(g: PoolGeometry, f: (p: number, img: number, y0: number, y1: number, x0: number, x1: number) => void): void {
  const { n, h, w, kh, kw, sh, sw, ph, pw, oh, ow } = g;
  for (let img = 0, p = 0; img < n; img++) {
    for (let oy = 0; oy < oh; oy++) {
      const y0 = Math.max(oy * sh - ph, 0),
        y1 = Math.min(oy * sh - ph + kh, h);
      for (let ox = 0; ox < ow; ox++, p++) f(p, img, y0, y1, Math.max(ox * sw - pw, 0), Math.min(ox * sw - pw + kw, w));
    }
  }
}

/**
 * Pixel iy·w + ix of the maximum of one channel in a window (rows y0…y1, columns x0…x1) of
 * channels-last data X whose pixel (iy, ix) holds the channel at `first` + (iy·w + ix)·c: the first
 * maximum in window order (−0 and +0 compare equal) or the last NaN, as assembly/pool.ts chooses; −1
 * for an empty window.
 */
export function windowArgmax(X: Float32Array, first: number, w: number, c: number, y0: number, y1: number, x0: number, x1: number): number {
  let best = -Infinity,
    bi = -1;
  for (let iy = y0; iy < y1; iy++) {
    for (let ix = x0; ix < x1; ix++) {
      const v = X[first + (iy * w + ix) * c];
      if (v > best || v !== v || bi < 0) {
        best = v;
        bi = iy * w + ix;
      }
    }
  }
  return bi;
}
