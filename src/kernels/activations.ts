// Thin wrappers over the elementwise kernels (assembly/activations.ts, src/js/activations.ts).
import { runtime } from '../runtime/index';

/**
 * The elementwise activations with a kernel pair. 'clamp' is Hardtanh (ReLU6, ONNX Clip) and takes
 * [min, max]; 'leakyRelu' takes [slope]; the others take no parameter.
 */
export type ActivationKind = 'relu' | 'sigmoid' | 'tanh' | 'clamp' | 'leakyRelu' | 'hardswish' | 'hardsigmoid';

/** What the backward of `kind` reads: the forward's input (ReLU and the piecewise-linear ones) or its output (sigmoid, tanh). */
export const SAVES: Record<ActivationKind, 'input' | 'output'> = {
  relu: 'input',
  sigmoid: 'output',
  tanh: 'output',
  clamp: 'input',
  leakyRelu: 'input',
  hardswish: 'input',
  hardsigmoid: 'input',
};

/** y = f(x) over `n` floats; `params` are the kind's scalars (see ActivationKind). */
export function activationForward(kind: ActivationKind, x: number, y: number, n: number, params: readonly number[] = []): void {
  const k = runtime().k;
  switch (kind) {
    case 'clamp':
      return k.clampForward(x, y, n, params[0], params[1]);
    case 'leakyRelu':
      return k.leakyReluForward(x, y, n, params[0]);
    default:
      return k[`${kind}Forward`](x, y, n);
  }
}

/** dx = f′·dy over `n` floats; `saved` is what SAVES[kind] names, `params` as the forward's. */
export function activationBackward(
  kind: ActivationKind,
  saved: number,
  dy: number,
  dx: number,
  n: number,
  params: readonly number[] = [],
): void {
  const k = runtime().k;
  switch (kind) {
    case 'clamp':
      return k.clampBackward(saved, dy, dx, n, params[0], params[1]);
    case 'leakyRelu':
      return k.leakyReluBackward(saved, dy, dx, n, params[0]);
    default:
      return k[`${kind}Backward`](saved, dy, dx, n);
  }
}

/** y = a·b elementwise over `n` floats (Dropout's mask). */
export function mulElementwise(a: number, b: number, y: number, n: number): void {
  runtime().k.mulElementwise(a, b, y, n);
}
