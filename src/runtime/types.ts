// The kernel interface: the WASM module's exports and the pure-JS backend implement it alike.
// Every entry takes and returns scalars; pointers are byte addresses (WASM) or block handles (JS).

/** The WebAssembly builds: SIMD (the default), relaxed SIMD (opt-in: FMA in matrix products), scalar. */
export type WasmBuild = 'wasm-simd' | 'wasm-relaxed' | 'wasm';
/** A backend init() can pick: one of the WebAssembly builds, or 'js' (pure JavaScript, no WebAssembly needed). */
export type BackendName = WasmBuild | 'js';

export interface Kernels {
  alloc(bytes: number): number;
  free(ptr: number): void;
  bnTrainNCL(
    x: number,
    y: number,
    n: number,
    c: number,
    l: number,
    gamma: number,
    beta: number,
    eps: number,
    mean: number,
    vari: number,
    invstd: number,
    relu: number,
    ws: number,
  ): void;
  bnStatsNCL(x: number, n: number, c: number, l: number, eps: number, mean: number, vari: number, invstd: number, ws: number): void;
  bnNormalizeNCL(
    x: number,
    y: number,
    n: number,
    c: number,
    l: number,
    gamma: number,
    beta: number,
    mean: number,
    invstd: number,
    relu: number,
    ws: number,
  ): void;
  bnBackwardNCL(
    x: number,
    dy: number,
    dx: number,
    n: number,
    c: number,
    l: number,
    gamma: number,
    beta: number,
    mean: number,
    invstd: number,
    dgamma: number,
    dbeta: number,
    train: number,
    relu: number,
    ws: number,
  ): void;
  bnWorkspace(n: number, c: number, l: number): number;
  bnUpdateRunning(mean: number, vari: number, rm: number, rv: number, c: number, factor: number, unbias: number): void;
  bnTrainNHWC(
    x: number,
    y: number,
    m: number,
    c: number,
    gamma: number,
    beta: number,
    eps: number,
    mean: number,
    vari: number,
    invstd: number,
    relu: number,
    ws: number,
  ): void;
  bnStatsNHWC(x: number, m: number, c: number, eps: number, mean: number, vari: number, invstd: number, ws: number): void;
  bnNormalizeNHWC(
    x: number,
    y: number,
    m: number,
    c: number,
    gamma: number,
    beta: number,
    mean: number,
    invstd: number,
    relu: number,
    ws: number,
  ): void;
  bnBackwardNHWC(
    x: number,
    dy: number,
    dx: number,
    m: number,
    c: number,
    gamma: number,
    beta: number,
    mean: number,
    invstd: number,
    dgamma: number,
    dbeta: number,
    train: number,
    relu: number,
    ws: number,
  ): void;
  reluForward(x: number, y: number, n: number): void;
  reluBackward(x: number, dy: number, dx: number, n: number): void;
  sigmoidForward(x: number, y: number, n: number): void;
  sigmoidBackward(y: number, dy: number, dx: number, n: number): void;
  tanhForward(x: number, y: number, n: number): void;
  tanhBackward(y: number, dy: number, dx: number, n: number): void;
  clampForward(x: number, y: number, n: number, lo: number, hi: number): void;
  clampBackward(x: number, dy: number, dx: number, n: number, lo: number, hi: number): void;
  leakyReluForward(x: number, y: number, n: number, slope: number): void;
  leakyReluBackward(x: number, dy: number, dx: number, n: number, slope: number): void;
  hardswishForward(x: number, y: number, n: number): void;
  hardswishBackward(x: number, dy: number, dx: number, n: number): void;
  hardsigmoidForward(x: number, y: number, n: number): void;
  hardsigmoidBackward(x: number, dy: number, dx: number, n: number): void;
  mulElementwise(a: number, b: number, y: number, n: number): void;
  addColumnSums(x: number, m: number, n: number, out: number): void;
  softmaxCrossEntropy(z: number, labels: number, n: number, c: number, smoothing: number, dz: number): number;
  mseLoss(p: number, t: number, n: number, dp: number): number;
  sgdStep(
    p: number,
    g: number,
    buf: number,
    n: number,
    lr: number,
    momentum: number,
    dampening: number,
    weightDecay: number,
    nesterov: number,
    first: number,
  ): void;
  adamStep(
    p: number,
    g: number,
    m: number,
    v: number,
    n: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    decoupled: number,
    t: number,
  ): void;
  rmspropStep(
    p: number,
    g: number,
    v: number,
    avg: number,
    buf: number,
    n: number,
    lr: number,
    alpha: number,
    eps: number,
    weightDecay: number,
    momentum: number,
    centered: number,
  ): void;
  adagradStep(p: number, g: number, sum: number, n: number, lr: number, lrDecay: number, eps: number, weightDecay: number, t: number): void;
  adadeltaStep(p: number, g: number, v: number, u: number, n: number, lr: number, rho: number, eps: number, weightDecay: number): void;
  sgemm(
    transA: number,
    transB: number,
    m: number,
    n: number,
    k: number,
    a: number,
    lda: number,
    b: number,
    ldb: number,
    c: number,
    ldc: number,
    beta: number,
    bias: number,
    ws: number,
  ): void;
  sgemmWorkspace(m: number, n: number, k: number): number;
  im2colNCHW(
    x: number,
    cols: number,
    c: number,
    h: number,
    w: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    oh: number,
    ow: number,
  ): void;
  col2imNCHW(
    cols: number,
    dx: number,
    c: number,
    h: number,
    w: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    oh: number,
    ow: number,
  ): void;
  im2colNHWC(
    x: number,
    cols: number,
    n: number,
    h: number,
    w: number,
    c: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    oh: number,
    ow: number,
  ): void;
  col2imNHWC(
    cols: number,
    dx: number,
    n: number,
    h: number,
    w: number,
    c: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    oh: number,
    ow: number,
  ): void;
  im2colDilatedNCHW(
    x: number,
    cols: number,
    c: number,
    h: number,
    w: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    dh: number,
    dw: number,
    oh: number,
    ow: number,
  ): void;
  col2imDilatedNCHW(
    cols: number,
    dx: number,
    c: number,
    h: number,
    w: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    dh: number,
    dw: number,
    oh: number,
    ow: number,
  ): void;
  convBiasNCHW(y: number, n: number, c: number, l: number, bias: number): void;
  convBiasGradNCHW(dy: number, n: number, c: number, l: number, db: number): void;
  convInferWorkspace(K: number, P: number): number;
  convInferNCHW(
    x: number,
    wt: number,
    bias: number,
    y: number,
    ws: number,
    c: number,
    h: number,
    w: number,
    o: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    oh: number,
    ow: number,
    lo: number,
    hi: number,
  ): void;
  maxPool2dInfer(
    x: number,
    y: number,
    n: number,
    h: number,
    w: number,
    c: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    oh: number,
    ow: number,
  ): void;
  depthwise3x3Infer(
    x: number,
    wt: number,
    b: number,
    y: number,
    n: number,
    c: number,
    h: number,
    w: number,
    s: number,
    oh: number,
    ow: number,
    lo: number,
    hi: number,
  ): void;
  depthwiseForward(
    x: number,
    wt: number,
    b: number,
    y: number,
    n: number,
    c: number,
    h: number,
    w: number,
    mult: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    dh: number,
    dw: number,
    oh: number,
    ow: number,
    nhwc: number,
  ): void;
  depthwiseBackwardInput(
    dy: number,
    wt: number,
    dx: number,
    n: number,
    c: number,
    h: number,
    w: number,
    mult: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    dh: number,
    dw: number,
    oh: number,
    ow: number,
    nhwc: number,
  ): void;
  depthwiseBackwardWeight(
    x: number,
    dy: number,
    dwt: number,
    db: number,
    n: number,
    c: number,
    h: number,
    w: number,
    mult: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    dh: number,
    dw: number,
    oh: number,
    ow: number,
    nhwc: number,
  ): void;
  maxPool2d(
    x: number,
    y: number,
    idx: number,
    n: number,
    h: number,
    w: number,
    c: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    oh: number,
    ow: number,
  ): void;
  maxPool2dBackward(dy: number, idx: number, dx: number, n: number, hw: number, c: number, ohw: number): void;
  avgPool2d(
    x: number,
    y: number,
    n: number,
    h: number,
    w: number,
    c: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    oh: number,
    ow: number,
  ): void;
  avgPool2dBackward(
    dy: number,
    dx: number,
    n: number,
    h: number,
    w: number,
    c: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    oh: number,
    ow: number,
  ): void;
  /** avgPool2d with the padding left out of the divisor (count_include_pad = False). */
  avgPool2dExclude(
    x: number,
    y: number,
    n: number,
    h: number,
    w: number,
    c: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    oh: number,
    ow: number,
  ): void;
  /** avgPool2dBackward of avgPool2dExclude. */
  avgPool2dExcludeBackward(
    dy: number,
    dx: number,
    n: number,
    h: number,
    w: number,
    c: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    oh: number,
    ow: number,
  ): void;
  ewBinary(op: number, a: number, b: number, y: number, rows: number, m: number): void;
  ewScalar(op: number, a: number, s: number, y: number, n: number, swap: number): void;
  sumAll(x: number, n: number): number;
  softmaxForward(x: number, y: number, outer: number, c: number, inner: number, log: number): void;
  softmaxBackward(y: number, dy: number, dx: number, outer: number, c: number, inner: number, log: number): void;
  rooflineRead(src: number, bytes: number): number;
  rooflineCopy(src: number, dst: number, bytes: number): void;
  rooflineAdds(rounds: number, step: number): number;
  rooflineMulAdds(rounds: number, step: number): number;
  lstmCellForward(g: number, cPrev: number, c: number, h: number, rows: number, hs: number): void;
  lstmCellBackward(g: number, cPrev: number, c: number, dh: number, dc: number, dg: number, rows: number, hs: number): void;
  gruCellForward(xg: number, hg: number, hPrev: number, h: number, rows: number, hs: number): void;
  gruCellBackward(xg: number, hg: number, hPrev: number, dh: number, dxg: number, dhg: number, rows: number, hs: number): void;
  rnnCellForward(pre: number, h: number, n: number, relu: number): void;
  rnnCellBackward(h: number, dh: number, dpre: number, n: number, relu: number): void;
  // a normalized LSTM's output gate h = σ(o)·tanh(z) (assembly/recurrent.ts)
  lstmOutForward(g: number, z: number, h: number, rows: number, hs: number): void;
  lstmOutBackward(g: number, z: number, dh: number, dg: number, dz: number, rows: number, hs: number): void;
  rowNormWorkspace(d: number): number;
  rowNormForward(
    x: number,
    y: number,
    rows: number,
    d: number,
    gamma: number,
    beta: number,
    eps: number,
    mean: number,
    vari: number,
    invstd: number,
    relu: number,
  ): void;
  rowNormNormalize(
    x: number,
    y: number,
    rows: number,
    d: number,
    gamma: number,
    beta: number,
    mean: number,
    invstd: number,
    relu: number,
  ): void;
  rowNormBackward(
    x: number,
    dy: number,
    dx: number,
    rows: number,
    d: number,
    gamma: number,
    mean: number,
    invstd: number,
    dgamma: number,
    dbeta: number,
    ws: number,
  ): void;
  groupNormWorkspace(c: number): number;
  groupNormBackward(
    x: number,
    dy: number,
    dx: number,
    rows: number,
    c: number,
    per: number,
    l: number,
    gamma: number,
    mean: number,
    invstd: number,
    dgamma: number,
    dbeta: number,
    ws: number,
  ): void;
}

/** An initialised backend: its kernels and the views over its memory. */
export interface Runtime {
  readonly name: BackendName;
  readonly k: Kernels;
  /** A fresh Float32Array over `len` floats at `ptr`; valid until the next call that may allocate. */
  f32(ptr: number, len: number): Float32Array;
  /** A fresh Float64Array over `len` doubles at `ptr`; valid until the next call that may allocate. */
  f64(ptr: number, len: number): Float64Array;
  /** A fresh Int32Array over `len` integers at `ptr`; valid until the next call that may allocate. */
  i32(ptr: number, len: number): Int32Array;
  /** Bytes of memory the backend holds (WASM: linear memory size). */
  memoryBytes(): number;
  /** Loops of several kernel calls that threads share (only on `init({ threads })` with more than one). */
  readonly par?: ParallelKernels;
}

/**
 * Whole per-image loops run by the threaded runtime's pool, each with the bits of the loop it
 * replaces. Each returns false, having done nothing, when the call stays on one thread (too small).
 */
export interface ParallelKernels {
  /** y[n][o][oh·ow] = w ⋆ x[n][c][h][wd] (+ bias[o] when bias ≠ 0), im2col + GEMM per image. */
  convForwardNCHW(
    x: number,
    w: number,
    y: number,
    bias: number,
    n: number,
    c: number,
    h: number,
    wd: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    oh: number,
    ow: number,
    o: number,
  ): boolean;
  /** dw += Σ dy[i]·im2col(x[i])ᵀ in image order, and dx[i] = col2im(wᵀ·dy[i]) when dx ≠ 0. */
  convBackwardNCHW(
    x: number,
    w: number,
    dy: number,
    dx: number,
    dw: number,
    n: number,
    c: number,
    h: number,
    wd: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    oh: number,
    ow: number,
    o: number,
  ): boolean;
}

// The few platform types the public declarations name, declared so that they compile with only the
// ES2022 library (no DOM or Node types): each merges with the platform's fuller declaration when present.
// see: https://www.typescriptlang.org/docs/handbook/declaration-merging.html
declare global {
  interface SymbolConstructor {
    readonly dispose: unique symbol;
  }
  interface URL {
    href: string;
  }
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace WebAssembly {
    interface Module {}
  }
}
