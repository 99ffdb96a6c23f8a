// Weight initialisation as PyTorch does it, from a seeded generator.
// see: He et al. 2015, https://arxiv.org/abs/1502.01852; Glorot & Bengio 2010;
//      https://pytorch.org/docs/stable/nn.init.html (kaiming_uniform_, xavier_uniform_, calculate_gain)
import type { Tensor } from '../tensor';
import { defaultGenerator, Generator } from '../random';
import { checkTensor, describe } from '../validate';

/** fan_in and fan_out of a weight [out, in, ...kernel] as PyTorch computes them. */
export function fans(shape: readonly number[]): [number, number] {
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return [(shape[1] ?? 1) * receptive, shape[0] * receptive];
}

/** Checks the arguments every initialiser takes: a live tensor and a Generator. */
function checkTarget(where: string, t: unknown, gen: unknown): Generator {
  checkTensor(where, 'tensor', t);
  if (!(gen instanceof Generator)) throw new TypeError(`${where}: generator: expected a Generator, got ${describe(gen)}`);
  return gen;
}

function checkFinite(where: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`${where}: ${name}: expected a finite number, got ${describe(v)}`);
  return v;
}

/** U(−b, b) with b = gain·√(3/fan_in), gain = √(2/(1 + a²)) (PyTorch's default for Linear/Conv is a = √5). */
export function kaimingUniform(t: Tensor, a = Math.sqrt(5), gen: Generator = defaultGenerator): Tensor {
  const g = checkTarget('kaimingUniform', t, gen);
  checkFinite('kaimingUniform', 'a', a);
  const bound = Math.sqrt(2 / (1 + a * a)) * Math.sqrt(3 / fans(t.shape)[0]);
  g.fillUniform(t.view(), -bound, bound);
  return t;
}

/** U(−b, b) with b = gain·√(6/(fan_in + fan_out)). */
export function xavierUniform(t: Tensor, gain = 1, gen: Generator = defaultGenerator): Tensor {
  const g = checkTarget('xavierUniform', t, gen);
  checkFinite('xavierUniform', 'gain', gain);
  const [fin, fout] = fans(t.shape);
  const bound = gain * Math.sqrt(6 / (fin + fout));
  g.fillUniform(t.view(), -bound, bound);
  return t;
}

/** U(low, high), low ≤ high (as PyTorch's uniform_). */
export function uniform(t: Tensor, low: number, high: number, gen: Generator = defaultGenerator): Tensor {
  const g = checkTarget('uniform', t, gen);
  checkFinite('uniform', 'low', low);
  checkFinite('uniform', 'high', high);
  if (high < low) throw new RangeError(`uniform: high: expected a number ≥ low (${low}), got ${describe(high)}`);
  g.fillUniform(t.view(), low, high);
  return t;
}
