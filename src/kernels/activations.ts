// Thin wrappers over the elementwise kernels (assembly/activations.ts, src/js/activations.ts).
import { runtime } from '../runtime/index';

/** The elementwise activations with a kernel pair. */
export type ActivationKind = 'relu' | 'sigmoid' | 'tanh';

const FORWARD = { relu: 'reluForward', sigmoid: 'sigmoidForward', tanh: 'tanhForward' } as const;
const BACKWARD = { relu: 'reluBackward', sigmoid: 'sigmoidBackward', tanh: 'tanhBackward' } as const;

/** What the backward of `kind` reads: the forward's input (ReLU) or its output (sigmoid, tanh). */
export const SAVES: Record<ActivationKind, 'input' | 'output'> = { relu: 'input', sigmoid: 'output', tanh: 'output' };

/** y = f(x) over `n` floats. */
export function activationForward(kind: ActivationKind, x: number, y: number, n: number): void {
  runtime().k[FORWARD[kind]](x, y, n);
}

/** dx = f′·dy over `n` floats; `saved` is what SAVES[kind] names. */
export function activationBackward(kind: ActivationKind, saved: number, dy: number, dx: number, n: number): void {
  runtime().k[BACKWARD[kind]](saved, dy, dx, n);
}

/** y = a·b elementwise over `n` floats (Dropout's mask). */
export function mulElementwise(a: number, b: number, y: number, n: number): void {
  runtime().k.mulElementwise(a, b, y, n);
}
