// How each ONNX compute operator becomes Graph nodes. plan() checks a node completely and returns
// a thunk that makes its layer (allocating) later, so an unsupported node is refused before
// anything of the model is allocated.
// see: https://onnx.ai/onnx/operators/ (attribute names and defaults)
import { Conv2d } from '../nn/conv';
import { Linear } from '../nn/linear';
import { AvgPool2d, MaxPool2d } from '../nn/pool';
import { AdaptiveAvgPool2d } from '../nn/adaptive_pool';
import { countCorrection, padBefore, pads2d, planPad, symmetric, window2d } from './load_window';
import { Generator } from '../random';
import type { Module } from '../nn/module';
import type { GraphNodeSpec } from '../graph/spec';
import type { GraphOp } from '../graph/ops';
import { OnnxBatchNorm1d, OnnxBatchNorm2d } from './batchnorm_onnx';
import { OnnxAvgPoolCeil } from './pool_onnx';
import { bnData, foldInto } from './fold_bn';
import { attrFloat, attrInt, attrInts, nodeError, type OnnxDim, type OnnxModel, type OnnxNode, type OnnxTensor } from './ir';

/** What the planner knows of the whole model. */
export interface PlanContext {
  model: OnnxModel;
  /** Value name → the nodes that read it. */
  readers: Map<string, OnnxNode[]>;
  /** Names of the graph's outputs. */
  outputs: Set<string>;
  /** Values that a fused BN+ReLU makes: the Relu node reading them becomes an identity. */
  fusedRelu: Set<string>;
  /** Initializers read as data (by an op node): each becomes a constant node; true: a trained Parameter. */
  constants: Map<string, boolean>;
  /** Conv/Gemm output → the BatchNormalization node folded into that layer (empty unless folding). */
  folds: ReadonlyMap<string, OnnxNode>;
}

/** Makes a node's modules and returns its specs; may allocate. */
export type Make = (made: Module[]) => GraphNodeSpec[];

const FN = 'loadOnnx';

function fail(node: OnnxNode, why: string): Error {
  return nodeError(FN, node, why);
}

/** The shortest decimal that rounds to the same float32: the value the exporter wrote (1e-5, not 9.99999975e-6). */
export function float32Decimal(x: number): number {
  for (let p = 1; p <= 9; p++) {
    const d = Number(x.toPrecision(p));
    if (Math.fround(d) === Math.fround(x)) return d;
  }
  return x;
}

function init(ctx: PlanContext, node: OnnxNode, i: number, what: string): OnnxTensor {
  const t = ctx.model.initializers.get(node.inputs[i] ?? '');
  if (t === undefined || t.dtype !== 'float32')
    throw fail(node, `${what} '${node.inputs[i]}': expected a float32 initializer (a weight given at run time is not supported)`);
  return t;
}

function shapeOf(ctx: PlanContext, name: string): OnnxDim[] | undefined {
  return ctx.model.shapes.get(name);
}

/** Rank of a value, or throws naming the node when foldOnnx could not tell it. */
function rankOf(ctx: PlanContext, node: OnnxNode, name: string): number {
  const s = shapeOf(ctx, name);
  if (s === undefined) throw fail(node, `the rank of input '${name}' is unknown`);
  return s.length;
}

/** No reader and no graph output for a node's optional outputs past the first (BN's running statistics, Dropout's mask). */
function firstOutputOnly(ctx: PlanContext, node: OnnxNode): void {
  for (const o of node.outputs.slice(1)) {
    if (o !== '' && ((ctx.readers.get(o)?.length ?? 0) > 0 || ctx.outputs.has(o)))
      throw fail(node, `output '${o}' is read, only the first output is supported`);
  }
}

const gen = (): Generator => new Generator(0); // initial weights are overwritten: keep the global stream untouched

function conv(ctx: PlanContext, node: OnnxNode): Make {
  const w = init(ctx, node, 1, 'weight');
  if (w.dims.length !== 4) throw fail(node, `weight of dims [${w.dims.join(', ')}]: only 2-D convolutions are supported`);
  const b = node.inputs[2] ? init(ctx, node, 2, 'bias') : null;
  const groups = attrInt(node, 'group', 1);
  const k = attrInts(node, 'kernel_shape', w.dims.slice(2));
  const s = attrInts(node, 'strides', [1, 1]);
  const d = attrInts(node, 'dilations', [1, 1]);
  const p = pads2d(ctx, node, k, s, d);
  const [cout, cg] = w.dims;
  const bn = ctx.folds.get(node.outputs[0]);
  return (made) => {
    const pad = padBefore(node, p, symmetric(p), 0, made);
    const m = new Conv2d(cg * groups, cout, [k[0], k[1]], {
      stride: [s[0], s[1]],
      padding: pad === null ? [p[0], p[1]] : 0,
      dilation: [d[0], d[1]],
      groups,
      bias: b !== null || bn !== undefined,
      generator: gen(),
    });
    made.push(m);
    if (bn !== undefined)
      m.loadStateDict(foldInto(w.data as Float32Array, b === null ? null : (b.data as Float32Array), bnData(ctx.model, bn, bnEps(bn))));
    else
      m.loadStateDict(b === null ? { weight: w.data as Float32Array } : { weight: w.data as Float32Array, bias: b.data as Float32Array });
    const stateNames: Record<string, string> = { weight: w.name };
    if (b !== null) stateNames.bias = b.name;
    const conv: GraphNodeSpec = { name: node.outputs[0], layer: m, input: pad?.input ?? node.inputs[0], stateNames };
    return pad === null ? [conv] : [pad.spec, conv];
  };
}

/** A BatchNormalization node's eps, as PyTorch wrote it. */
function bnEps(node: OnnxNode): number {
  return float32Decimal(attrFloat(node, 'epsilon', 1e-5));
}

function batchNorm(ctx: PlanContext, node: OnnxNode): Make {
  const [scale, bias, mean, vari] = [1, 2, 3, 4].map((i) => init(ctx, node, i, ['scale', 'B', 'input_mean', 'input_var'][i - 1]));
  firstOutputOnly(ctx, node);
  const rank = rankOf(ctx, node, node.inputs[0]);
  if (rank < 2 || rank > 4) throw fail(node, `input of rank ${rank}: expected 2, 3 or 4`);
  const eps = bnEps(node);
  // ONNX's momentum weighs the old value, PyTorch's the batch statistic
  const momentum = float32Decimal(1 - float32Decimal(attrFloat(node, 'momentum', 0.9)));
  const y = node.outputs[0];
  const readers = ctx.readers.get(y) ?? [];
  const relu = readers.length === 1 && readers[0].op === 'Relu' && !ctx.outputs.has(y);
  if (relu) ctx.fusedRelu.add(y);
  // folded into the layer before it: what stays is the activation it fused, or nothing
  if (ctx.folds.get(node.inputs[0]) === node) return op(y, relu ? 'relu' : 'identity', [node.inputs[0]]);
  const c = scale.dims[0];
  return (made) => {
    const options = { eps, momentum, activation: relu ? ('relu' as const) : null };
    const m = rank === 4 ? new OnnxBatchNorm2d(c, options) : new OnnxBatchNorm1d(c, options);
    made.push(m);
    const data = (t: OnnxTensor) => t.data as Float32Array;
    m.loadStateDict({ weight: data(scale), bias: data(bias), running_mean: data(mean), running_var: data(vari) }, { strict: false });
    const stateNames: Record<string, string> = { weight: scale.name, bias: bias.name, running_mean: mean.name, running_var: vari.name };
    // PyTorch's counter sits beside running_mean (torch.onnx.export drops it)
    if (mean.name.endsWith('.running_mean'))
      stateNames.num_batches_tracked = `${mean.name.slice(0, -'running_mean'.length)}num_batches_tracked`;
    return [{ name: y, layer: m, input: node.inputs[0], stateNames }];
  };
}

function gemm(ctx: PlanContext, node: OnnxNode): Make {
  if (rankOf(ctx, node, node.inputs[0]) !== 2) throw fail(node, 'A must be a matrix');
  const transA = attrInt(node, 'transA', 0) === 1;
  const w = init(ctx, node, 1, 'B');
  const transB = attrInt(node, 'transB', 0) === 1;
  const alpha = attrFloat(node, 'alpha', 1);
  const beta = attrFloat(node, 'beta', 1);
  const [n, k] = transB ? w.dims : [w.dims[1], w.dims[0]];
  const c = node.inputs[2] && beta !== 0 ? init(ctx, node, 2, 'C') : null;
  // C of N values is Linear's bias; any other C broadcastable to [M, N] is added after it, as a constant
  const vector = c !== null && c.data.length === n && c.dims.every((v, i) => v === 1 || i === c.dims.length - 1);
  if (c !== null && !vector) {
    if (beta !== 1) throw fail(node, `C of dims [${c.dims.join(', ')}] with beta ${beta}: a matrix C is supported with beta 1 only`);
    if (c.dims.length > 2 || (c.dims.length === 2 && c.dims[1] !== 1 && c.dims[1] !== n))
      throw fail(node, `C of dims [${c.dims.join(', ')}]: expected dims broadcastable to [M, ${n}]`);
    dataInputs(ctx, { ...node, inputs: [c.name] });
  }
  const bn = ctx.folds.get(node.outputs[0]);
  return (made) => {
    const m = new Linear(k, n, { bias: vector || bn !== undefined, generator: gen() });
    made.push(m);
    const src = w.data as Float32Array;
    const weight = new Float32Array(n * k);
    for (let o = 0; o < n; o++) for (let j = 0; j < k; j++) weight[o * k + j] = alpha * (transB ? src[o * k + j] : src[j * n + o]);
    const state: Record<string, Float32Array> = { weight };
    if (vector) state.bias = (c.data as Float32Array).map((v) => beta * v);
    m.loadStateDict(bn === undefined ? state : foldInto(weight, state.bias ?? null, bnData(ctx.model, bn, bnEps(bn))));
    // ONNX names only where the values are the initializer's own (PyTorch's Linear: transB = 1, alpha = beta = 1)
    const stateNames: Record<string, string> = {};
    if (transB && alpha === 1) stateNames.weight = w.name;
    if (vector && beta === 1 && c.dims.length === 1) stateNames.bias = c.name;
    const y = node.outputs[0];
    const a = transA ? `${y}::A` : node.inputs[0];
    const linear = c !== null && !vector ? `${y}::AB` : y;
    const specs: GraphNodeSpec[] = [];
    if (transA) specs.push({ name: a, op: 'transpose', inputs: [node.inputs[0]], attrs: { perm: [1, 0] } } as GraphNodeSpec);
    specs.push({ name: linear, layer: m, input: a, stateNames });
    if (linear !== y) specs.push({ name: y, op: 'add', inputs: [linear, c!.name], attrs: {} } as GraphNodeSpec);
    return specs;
  };
}

function pool(ctx: PlanContext, node: OnnxNode): Make {
  const x = node.inputs[0];
  if (rankOf(ctx, node, x) !== 4) throw fail(node, 'only 2-D pooling of [N, C, H, W] is supported');
  const { k, s, p, fits, extra } = window2d(ctx, node);
  const max = node.op === 'MaxPool';
  const include = !max && attrInt(node, 'count_include_pad', 0) !== 0;
  // a border the layer cannot take that the average leaves out of its count (and ceil_mode's, never counted): the
  // zero-padded pool's counts are corrected by a constant per output position, which needs the input's height and width
  let divisors: OnnxTensor | null = null;
  if (max) {
    firstOutputOnly(ctx, node);
    if (attrInt(node, 'storage_order', 0) !== 0) throw fail(node, 'storage_order = 1 is not supported');
  } else if (extra === null) {
    // ceil mode over a free height or width: padding and divisors decided per input
    return (made) => {
      const m = new OnnxAvgPoolCeil(k, s, p, include);
      made.push(m);
      return [{ name: node.outputs[0], layer: m, input: x }];
    };
  } else if ((!include && !fits) || extra[0] + extra[1] > 0) divisors = countCorrection(ctx, node, k, s, p, include, extra);
  // a MaxPool in ceil mode over a free height or width: the extra end rows are decided per input by a pad op
  const ceilWindow = extra === null ? [k[0], k[1], s[0], s[1]] : null;
  return (made) => {
    // the pad value: a max never picks −Infinity, an average counts zeros
    const pad = padBefore(node, p, fits, max ? -Infinity : 0, made, ceilWindow);
    const options = { stride: s, padding: pad === null ? ([p[0], p[1]] as [number, number]) : 0 };
    const m = max ? new MaxPool2d(k, options) : new AvgPool2d(k, { ...options, countIncludePad: include || divisors !== null });
    made.push(m);
    const y = node.outputs[0];
    const pooled = divisors === null ? y : `${y}::sum`;
    const specs: GraphNodeSpec[] = [{ name: pooled, layer: m, input: pad?.input ?? x }];
    if (divisors !== null) specs.push({ name: y, op: 'mul', inputs: [pooled, divisors.name], attrs: {} } as GraphNodeSpec);
    return pad === null ? specs : [pad.spec, ...specs];
  };
}

function op(name: string, o: GraphOp, inputs: readonly string[], attrs: Record<string, unknown> = {}): Make {
  return () => [{ name, op: o, inputs, attrs } as GraphNodeSpec];
}

/** Reads initializers given as data inputs as constant nodes; true marks a trained one (MatMul's weight). */
function dataInputs(ctx: PlanContext, node: OnnxNode, trained = false): string[] {
  node.inputs.forEach((x, i) => {
    const t = ctx.model.initializers.get(x);
    if (t === undefined) return;
    if (t.dtype !== 'float32') throw fail(node, `input '${x}': expected float32, got ${t.dtype}`);
    ctx.constants.set(x, (ctx.constants.get(x) ?? false) || (trained && i === 1));
  });
  return node.inputs;
}

function axisOf(ctx: PlanContext, node: OnnxNode, fallback: number): number {
  const a = attrInt(node, 'axis', fallback);
  return a < 0 ? a + rankOf(ctx, node, node.inputs[0]) : a;
}

/** Checks one folded ONNX node and returns how to make its Graph nodes. */
export function planNode(ctx: PlanContext, node: OnnxNode): Make {
  const y = node.outputs[0];
  const x = node.inputs[0];
  switch (node.op) {
    case 'Conv':
      return conv(ctx, node);
    case 'BatchNormalization':
      return batchNorm(ctx, node);
    case 'Gemm':
      return gemm(ctx, node);
    case 'MaxPool':
    case 'AveragePool':
      return pool(ctx, node);
    case 'Pad':
      return planPad(ctx, node);
    case 'GlobalAveragePool':
      if (rankOf(ctx, node, x) !== 4) throw fail(node, 'only [N, C, H, W] input is supported');
      return (made) => {
        const m = new AdaptiveAvgPool2d(1);
        made.push(m);
        return [{ name: y, layer: m, input: x }];
      };
    case 'MatMul': {
      const b = shapeOf(ctx, node.inputs[1]);
      if (b?.length !== 2)
        throw fail(node, `the second operand must be a matrix [K, N], got ${b === undefined ? 'an unknown shape' : `[${b.join(', ')}]`}`);
      return op(y, 'matmul', dataInputs(ctx, node, true));
    }
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
      return op(y, node.op.toLowerCase() as GraphOp, dataInputs(ctx, node));
    case 'Relu':
      return op(y, ctx.fusedRelu.has(x) ? 'identity' : 'relu', [x]);
    case 'Sigmoid':
      return op(y, 'sigmoid', [x]);
    case 'Tanh':
      return op(y, 'tanh', [x]);
    case 'HardSwish':
      return op(y, 'hardswish', [x]);
    case 'HardSigmoid': {
      const alpha = attrFloat(node, 'alpha', 0.2);
      const beta = attrFloat(node, 'beta', 0.5);
      // PyTorch's export (alpha 1/6 in f32, beta 0.5) runs its own kernel, as the layer does
      if (alpha === Math.fround(1 / 6) && beta === 0.5) return op(y, 'hardsigmoid', [x]);
      if (!Number.isFinite(alpha) || !Number.isFinite(beta)) throw fail(node, `alpha ${alpha}, beta ${beta}: expected finite numbers`);
      return op(y, 'hardsigmoid', [x], { alpha, beta });
    }
    case 'LeakyRelu':
      return op(y, 'leakyRelu', [x], { slope: float32Decimal(attrFloat(node, 'alpha', 0.01)) });
    case 'Clip': {
      const lo = node.attrs.min === undefined ? undefined : float32Decimal(attrFloat(node, 'min', 0));
      const hi = node.attrs.max === undefined ? undefined : float32Decimal(attrFloat(node, 'max', 0));
      if (lo === 0 && hi === 6) return op(y, 'relu6', [x]);
      if (lo !== undefined && hi !== undefined) return op(y, 'hardtanh', [x], { min: lo, max: hi });
      return op(y, 'clip', [x], { min: lo, max: hi });
    }
    case 'Flatten':
      return op(y, 'flatten', [x], { axis: axisOf(ctx, node, 1) });
    case 'Reshape':
      return op(y, 'reshape', [x], { shape: attrInts(node, 'shape', []) });
    case 'Concat':
      return op(y, 'concat', dataInputs(ctx, node), { axis: axisOf(ctx, node, 0) });
    case 'Transpose':
      return op(y, 'transpose', [x], { perm: attrInts(node, 'perm', []) });
    case 'Dropout':
    case 'Identity':
      if (node.op === 'Dropout') {
        firstOutputOnly(ctx, node);
        if (attrInt(node, 'training_mode', 0) !== 0) throw fail(node, 'training_mode = 1 is not supported (dropout is an identity here)');
      }
      return op(y, 'identity', dataInputs(ctx, node));
    case 'Softmax':
    case 'LogSoftmax':
      return op(y, node.op === 'Softmax' ? 'softmax' : 'logSoftmax', [x], { axis: axisOf(ctx, node, -1) });
    default:
      throw fail(node, 'the operator is not supported by the Graph loader');
  }
}
