// Weight initialisation as PyTorch does it, from a seeded generator.
// see: He et al. 2015, https://arxiv.org/abs/1502.01852; Glorot & Bengio 2010;
//      https://pytorch.org/docs/stable/nn.init.html (kaiming_uniform_, xavier_uniform_, calculate_gain)
import type { Tensor } from '../tensor';
import { defaultGenerator, type Generator } from '../random';

/** fan_in and fan_out of a weight [out, in, ...kernel] as PyTorch computes them. */
export function fans(shape: readonly number[]): [number, number] {
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return [(shape[1] ?? 1) * receptive, shape[0] * receptive];
}

/** U(−b, b) with b = gain·√(3/fan_in), gain = √(2/(1 + a²)) (PyTorch's default for Linear/Conv is a = √5). */
export function kaimingUniform(t: Tensor, a = Math.sqrt(5), gen: Generator = defaultGenerator): Tensor {
  const bound = Math.sqrt(2 / (1 + a * a)) * Math.sqrt(3 / fans(t.shape)[0]);
  gen.fillUniform(t.view(), -bound, bound);
  return t;
}

/** U(−b, b) with b = gain·√(6/(fan_in + fan_out)). */
export function xavierUniform(t: Tensor, gain = 1, gen: Generator = defaultGenerator): Tensor {
  const [fin, fout] = fans(t.shape);
  const bound = gain * Math.sqrt(6 / (fin + fout));
  gen.fillUniform(t.view(), -bound, bound);
  return t;
}

/** U(low, high). */
export function uniform(t: Tensor, low: number, high: number, gen: Generator = defaultGenerator): Tensor {
  gen.fillUniform(t.view(), low, high);
  return t;
}
