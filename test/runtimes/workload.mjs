// @ts-check
// A determinism workload for any JavaScript runtime: trains a small BatchNorm network for 50 SGD
// steps and hashes the final weights and one eval-mode output. Plain JavaScript with no imports, no
// Math.random, no transcendental functions and no crypto API, so the same file runs in Node, Deno,
// Bun and workerd. `lib` is the package's module object (whichever entry the runtime resolved).

/** @typedef {typeof import('batchnorm-wasm')} Lib */

const BATCH = 64;
const IN = 16;
const HIDDEN = 32;
const CLASSES = 4;
const STEPS = 50;

/** 64-bit FNV-1a over a byte stream, as 16 hex digits. */
class Fnv1a64 {
  #h = 0xcbf29ce484222325n;
  /** @param {ArrayLike<number>} u8 */
  bytes(u8) {
    let h = this.#h;
    for (let i = 0; i < u8.length; i++) h = BigInt.asUintN(64, (h ^ BigInt(u8[i])) * 0x100000001b3n);
    this.#h = h;
    return this;
  }
  /** @param {string} s */
  text(s) {
    const u8 = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) u8[i] = s.charCodeAt(i) & 0xff; // the names are ASCII
    return this.bytes(u8);
  }
  /**
   * The little-endian bytes of a Float32Array (built from integers: no reliance on host byte order).
   * @param {Float32Array} a
   */
  f32(a) {
    const u32 = new Uint32Array(a.length);
    new Float32Array(u32.buffer).set(a);
    const u8 = new Uint8Array(4 * a.length);
    for (let i = 0; i < a.length; i++) {
      const w = u32[i];
      u8[4 * i] = w & 0xff;
      u8[4 * i + 1] = (w >>> 8) & 0xff;
      u8[4 * i + 2] = (w >>> 16) & 0xff;
      u8[4 * i + 3] = w >>> 24;
    }
    return this.bytes(u8);
  }
  hex() {
    return this.#h.toString(16).padStart(16, '0');
  }
}

/**
 * Inputs in [-1, 1) from a 32-bit LCG (Numerical Recipes constants); 24 bits each, exact in f32.
 * @param {{ s: number }} state
 * @param {number} n
 */
function makeData(state, n) {
  const x = new Float32Array(n * IN);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < IN; j++) {
      state.s = (Math.imul(state.s, 1664525) + 1013904223) >>> 0;
      x[i * IN + j] = (state.s >>> 8) * 2 ** -23 - 1;
    }
    // the class is the largest of the first four features: learnable, and decided by comparisons only
    let best = 0;
    for (let c = 1; c < CLASSES; c++) if (x[i * IN + c] > x[i * IN + best]) best = c;
    labels[i] = best;
  }
  return { x, labels };
}

/**
 * Trains and evaluates on the active backend; returns the hashes, the final loss and the eval output.
 * @param {Lib} lib
 */
function trainOnce(lib) {
  const generator = new lib.Generator(1);
  const model = new lib.Sequential(
    new lib.Linear(IN, HIDDEN, { generator }),
    new lib.BatchNorm1d(HIDDEN),
    new lib.ReLU(),
    new lib.Linear(HIDDEN, CLASSES, { generator }),
  );
  const opt = new lib.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  const lossFn = new lib.CrossEntropyLoss();
  const data = { s: 12345 };
  let loss = NaN;
  const losses = [];
  model.train();
  for (let step = 0; step < STEPS; step++) {
    const { x, labels } = makeData(data, BATCH);
    const input = lib.tensor(x, [BATCH, IN]);
    opt.zeroGrad();
    const logits = model.forward(input);
    loss = lossFn.forward(logits, labels);
    losses.push(loss);
    const dLogits = lossFn.backward();
    const dInput = model.backward(dLogits);
    opt.step();
    for (const t of [dInput, dLogits, logits, input]) t.dispose();
  }

  model.eval();
  const test = makeData(data, BATCH);
  const input = lib.tensor(test.x, [BATCH, IN]);
  const out = model.forward(input);
  const output = out.toArray();
  let correct = 0;
  for (let i = 0; i < BATCH; i++) {
    let best = 0;
    for (let c = 1; c < CLASSES; c++) if (output[i * CLASSES + c] > output[i * CLASSES + best]) best = c;
    if (best === test.labels[i]) correct++;
  }
  out.dispose();
  input.dispose();

  const sd = model.stateDict();
  const weights = new Fnv1a64();
  for (const key of Object.keys(sd).sort()) {
    const v = sd[key];
    if (v instanceof Float32Array) weights.text(key).f32(v);
  }
  opt.dispose();
  lossFn.dispose();
  model.dispose();
  return {
    backend: lib.backend(),
    weightsHash: weights.hex(),
    outputHash: new Fnv1a64().f32(output).hex(),
    loss,
    firstLoss: losses[0],
    evalAccuracy: correct / BATCH,
    output: Array.from(output),
  };
}

/**
 * A short run whose kernels are large enough to be split between threads (GEMMs above 2^17
 * multiply-adds, a channel-first BatchNorm above 2^16 elements): 5 Adam steps of Conv-BN-ReLU-pool
 * and two Linear layers on [12, 1, 28, 28]. Returns the hashes of the weights (running statistics
 * included) with the losses, and of one eval output.
 * @param {Lib} lib
 */
function trainLarge(lib) {
  const generator = new lib.Generator(2);
  const model = new lib.Sequential(
    new lib.Conv2d(1, 16, 3, { padding: 1, generator }),
    new lib.BatchNorm2d(16, { activation: 'relu' }),
    new lib.MaxPool2d(2),
    new lib.Flatten(),
    new lib.Linear(16 * 14 * 14, 64, { generator }),
    new lib.ReLU(),
    new lib.Linear(64, CLASSES, { generator }),
  );
  const opt = new lib.Adam(model.parameters(), { lr: 1e-3 });
  const lossFn = new lib.CrossEntropyLoss();
  const data = { s: 777 };
  const batch = 12,
    size = 28 * 28;
  const losses = new Float32Array(5);
  /** [12, 1, 28, 28] inputs (the first IN pixels of each image from makeData, the rest from the LCG) and labels. */
  const images = () => {
    const { x, labels } = makeData(data, batch);
    const img = new Float32Array(batch * size);
    for (let i = 0; i < img.length; i++) {
      data.s = (Math.imul(data.s, 1664525) + 1013904223) >>> 0;
      img[i] = (data.s >>> 8) * 2 ** -23 - 1;
    }
    for (let i = 0; i < batch; i++) img.set(x.subarray(i * IN, (i + 1) * IN), i * size);
    return { input: lib.tensor(img, [batch, 1, 28, 28]), labels };
  };
  model.train();
  for (let step = 0; step < losses.length; step++) {
    const { input, labels } = images();
    opt.zeroGrad();
    const logits = model.forward(input);
    losses[step] = lossFn.forward(logits, labels);
    const dLogits = lossFn.backward();
    const dInput = model.backward(dLogits);
    opt.step();
    for (const t of [dInput, dLogits, logits, input]) t.dispose();
  }
  model.eval();
  const { input } = images();
  const out = model.forward(input);
  const output = out.toArray();
  out.dispose();
  input.dispose();
  const sd = model.stateDict();
  const weights = new Fnv1a64().f32(losses);
  for (const key of Object.keys(sd).sort()) {
    const v = sd[key];
    if (v instanceof Float32Array) weights.text(key).f32(v);
  }
  opt.dispose();
  lossFn.dispose();
  model.dispose();
  return { weightsHash: weights.hex(), outputHash: new Fnv1a64().f32(output).hex() };
}

/**
 * trainLarge on the default backend's single-threaded build, then with `init({ threads: 2 })`:
 * how many threads ran, why not more, and both runs' hashes (equal wherever it runs).
 * @param {Lib} lib
 */
export async function threadedRuns(lib) {
  await lib.init();
  const single = trainLarge(lib);
  await lib.init({ threads: 2 });
  const threads = lib.threads();
  const reason = lib.threadsUnavailableReason();
  const threaded = trainLarge(lib);
  lib.disposeThreads();
  return { threads, reason, single, threaded };
}

/**
 * The workload on the default backend (init() with no options).
 * @param {Lib} lib
 */
export async function workload(lib) {
  await lib.init();
  return trainOnce(lib);
}

/**
 * The same workload on the default backend, on the pure-JS backend and, where the runtime has relaxed
 * SIMD, on the opt-in 'wasm-relaxed' build (`relaxedModule` where the entry bundles none: workerd);
 * then threadedRuns.
 * @param {Lib} lib
 * @param {WebAssembly.Module} [relaxedModule]
 */
export async function workloadAll(lib, relaxedModule) {
  const t0 = Date.now();
  const wasm = await workload(lib);
  await lib.init({ backend: 'js' });
  const js = trainOnce(lib);
  let relaxed = null;
  if (lib.relaxedSimdSupported()) {
    await lib.init(relaxedModule ? { backend: 'wasm-relaxed', module: relaxedModule } : { backend: 'wasm-relaxed' });
    relaxed = trainOnce(lib);
  }
  const threaded = await threadedRuns(lib);
  await lib.init(); // leave the default backend active
  return { default: wasm, js, relaxed, threaded, ms: Date.now() - t0 };
}
