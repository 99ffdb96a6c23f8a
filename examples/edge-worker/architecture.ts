// The folded inference network as plain data (model.json), and the code that rebuilds it from the
// library's classes. The library is passed in so that Node (src/) and the Worker (build/workerd.js)
// each build the model from their own copy: layers and loadSafetensors must come from the same one.
/** What model.json holds: the layer sizes of Linear-Sigmoid-…-Linear, e.g. [784, 100, 100, 100, 10]. */
export interface Architecture {
  layers: number[];
  activation: 'sigmoid';
}

/** The classes rebuildModel needs, from whichever entry of the library the caller runs. */
export interface ModelClasses<S, L, A> {
  Sequential: new (...layers: (L | A)[]) => S;
  Linear: new (inFeatures: number, outFeatures: number) => L;
  Sigmoid: new () => A;
}

/** Throws unless `a` is a usable Architecture (model.json is data, so it is checked). */
export function checkArchitecture(a: unknown): Architecture {
  const arch = a as Architecture;
  if (
    arch === null ||
    typeof arch !== 'object' ||
    !Array.isArray(arch.layers) ||
    arch.layers.length < 2 ||
    arch.layers.some((n) => !Number.isInteger(n) || n < 1) ||
    arch.activation !== 'sigmoid'
  ) {
    throw new Error(`model.json: expected { layers: positive integers (at least 2), activation: 'sigmoid' }, got ${JSON.stringify(a)}`);
  }
  return arch;
}

/**
 * Linear(l0, l1), Sigmoid, Linear(l1, l2), …, Linear(lk-1, lk): the folded network, in eval mode.
 * Its state_dict names (`0.weight`, `0.bias`, `2.weight`, …) are those of foldBatchNorm's output.
 */
export function rebuildModel<S extends { eval(): S }, L, A>(lib: ModelClasses<S, L, A>, arch: Architecture): S {
  const layers: (L | A)[] = [];
  for (let i = 0; i + 1 < arch.layers.length; i++) {
    if (i > 0) layers.push(new lib.Sigmoid());
    layers.push(new lib.Linear(arch.layers[i]!, arch.layers[i + 1]!));
  }
  return new lib.Sequential(...layers).eval();
}

/** softmax in f64 over one row of logits. */
export function softmax(logits: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const e = Array.from({ length: logits.length }, (_, i) => Math.exp(logits[i]! - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** Index of the largest value (the first on ties). */
export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}
