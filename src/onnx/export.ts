// toOnnx: a Sequential or a Graph of the package's layers → ONNX bytes (opset 17) that onnxruntime
// runs to the same outputs. Each layer becomes the ONNX node(s) of the same function in eval mode;
// parameters and buffers become initializers under their state-dict names, so loadOnnx gives them
// back under the same names.
// see: https://onnx.ai/onnx/operators/ (the nodes written); docs/onnx.md (the mapping table)
import { Graph, type GraphNode } from '../graph/graph';
import { BatchNorm } from '../nn/batchnorm';
import { Conv2d } from '../nn/conv';
import { Linear } from '../nn/linear';
import { AvgPool2d, MaxPool2d } from '../nn/pool';
import { AdaptiveAvgPool2d } from '../nn/adaptive_pool';
import { ConstantPad2d } from '../nn/pad';
import { OnnxAvgPoolCeil } from './pool_onnx';
import { Dropout, Flatten, ReLU, Sequential, Sigmoid, Tanh } from '../nn/layers';
import { Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSoftmax, ReLU6, Softmax } from '../nn/activations';
import type { Module } from '../nn/module';
import type { Tensor } from '../tensor';
import { checkOptions, describe, kindOf } from '../validate';
import { encodeOnnx } from './encode';
import type { OnnxAttribute, OnnxModel, OnnxNode, OnnxTensor } from './ir';

const FN = 'toOnnx';

type Attrs = Record<string, OnnxAttribute>;
const ints = (value: readonly number[]): OnnxAttribute => ({ type: 'ints', value: [...value] });
const int = (value: number): OnnxAttribute => ({ type: 'int', value });
const float = (value: number): OnnxAttribute => ({ type: 'float', value });

/** Collects nodes and initializers as the model is walked. */
class Writer {
  nodes: OnnxNode[] = [];
  initializers = new Map<string, OnnxTensor>();

  node(op: string, inputs: string[], output: string, attrs: Attrs = {}): void {
    this.nodes.push({ name: `${output}::${op}`, op, inputs, outputs: [output], attrs });
  }

  init(name: string, dims: readonly number[], data: Float32Array): string {
    this.initializers.set(name, { name, dtype: 'float32', dims: [...dims], data });
    return name;
  }

  /** An int64 initializer (Pad's pads). */
  ints(name: string, values: readonly number[]): string {
    this.initializers.set(name, { name, dtype: 'int64', dims: [values.length], data: BigInt64Array.from(values, BigInt) });
    return name;
  }

  tensor(name: string, t: Tensor): string {
    return this.init(name, t.shape, t.toArray());
  }
}

/** The ONNX node(s) of one layer reading value `x` and writing value `y`; `state(k)` names its state entry `k`. */
function layer(w: Writer, m: Module, x: string, y: string, state: (k: string) => string, where: string): void {
  const refuse = (why: string) => new Error(`${FN}: ${where} (${kindOf(m.constructor)}): ${why}`);
  const nchw = (layout: string) => {
    if (layout !== 'NCHW' && layout !== 'NCL')
      throw refuse(
        `layout ${layout}: ONNX's operators are channels-first, export a ${layout === 'NHWC' ? 'NCHW' : 'channels-first'} model`,
      );
  };
  if (m instanceof Conv2d) {
    nchw(m.layout);
    const ins = [x, w.tensor(state('weight'), m.weight)];
    if (m.bias !== null) ins.push(w.tensor(state('bias'), m.bias));
    const [ph, pw] = m.padding;
    w.node('Conv', ins, y, {
      kernel_shape: ints(m.kernelSize),
      strides: ints(m.stride),
      pads: ints([ph, pw, ph, pw]),
      dilations: ints(m.dilation),
      group: int(m.groups),
    });
  } else if (m instanceof BatchNorm) {
    nchw(m.layout);
    if (m.runningMean === null || m.runningVar === null) throw refuse('a BatchNorm without running statistics has no ONNX inference form');
    const c = m.numFeatures;
    const scale = m.weight !== null ? w.tensor(state('weight'), m.weight) : w.init(`${y}::scale`, [c], new Float32Array(c).fill(1));
    const shift = m.bias !== null ? w.tensor(state('bias'), m.bias) : w.init(`${y}::shift`, [c], new Float32Array(c));
    const attrs: Attrs = { epsilon: float(m.eps) };
    if (m.momentum !== null) attrs.momentum = float(1 - m.momentum);
    const bn = m.activation === 'relu' ? `${y}::bn` : y;
    w.node(
      'BatchNormalization',
      [x, scale, shift, w.tensor(state('running_mean'), m.runningMean), w.tensor(state('running_var'), m.runningVar)],
      bn,
      attrs,
    );
    if (bn !== y) w.node('Relu', [bn], y);
  } else if (m instanceof Linear) {
    const ins = [x, w.tensor(state('weight'), m.weight)];
    if (m.bias !== null) ins.push(w.tensor(state('bias'), m.bias));
    w.node('Gemm', ins, y, { transB: int(1) });
  } else if (m instanceof MaxPool2d || m instanceof AvgPool2d) {
    nchw(m.layout);
    const [ph, pw] = m.padding;
    const attrs: Attrs = { kernel_shape: ints(m.kernelSize), strides: ints(m.stride), pads: ints([ph, pw, ph, pw]) };
    if (m instanceof AvgPool2d) attrs.count_include_pad = int(m.countIncludePad ? 1 : 0);
    w.node(m instanceof MaxPool2d ? 'MaxPool' : 'AveragePool', [x], y, attrs);
  } else if (m instanceof OnnxAvgPoolCeil) {
    // as it was loaded: its padding and divisors follow each input's size
    w.node('AveragePool', [x], y, {
      kernel_shape: ints(m.kernelSize),
      strides: ints(m.stride),
      pads: ints(m.pads),
      ceil_mode: int(1),
      count_include_pad: int(m.countIncludePad ? 1 : 0),
    });
  } else if (m instanceof ConstantPad2d) {
    // opset 17's Pad: pads as an input, [begin of each axis…, end of each axis…], 4-D NCHW
    const [l, r, t, b] = m.padding;
    const pads = w.ints(`${y}::pads`, [0, 0, t, l, 0, 0, b, r]);
    const value = w.init(`${y}::value`, [], Float32Array.of(m.value));
    w.node('Pad', [x, pads, value], y, { mode: { type: 'string', value: 'constant' } });
  } else if (m instanceof AdaptiveAvgPool2d) {
    nchw(m.layout);
    if (m.outputSize[0] !== 1 || m.outputSize[1] !== 1)
      throw refuse(`output size [${m.outputSize.join(', ')}]: only 1 (global average pooling) is exported`);
    w.node('GlobalAveragePool', [x], y);
  } else if (m instanceof ReLU) w.node('Relu', [x], y);
  else if (m instanceof Sigmoid) w.node('Sigmoid', [x], y);
  else if (m instanceof Tanh) w.node('Tanh', [x], y);
  else if (m instanceof ReLU6) clip(w, x, y, 0, 6);
  else if (m instanceof Hardtanh) clip(w, x, y, m.minVal, m.maxVal);
  else if (m instanceof LeakyReLU) w.node('LeakyRelu', [x], y, { alpha: float(m.negativeSlope) });
  else if (m instanceof Hardswish) w.node('HardSwish', [x], y);
  else if (m instanceof Hardsigmoid) w.node('HardSigmoid', [x], y, { alpha: float(m.alpha), beta: float(m.beta) });
  else if (m instanceof Softmax || m instanceof LogSoftmax)
    w.node(m instanceof Softmax ? 'Softmax' : 'LogSoftmax', [x], y, { axis: int(m.dim) });
  else if (m instanceof Flatten) w.node('Flatten', [x], y, { axis: int(1) });
  else if (m instanceof Dropout) w.node('Identity', [x], y);
  else if (m instanceof Sequential)
    chain(
      w,
      m.layers,
      x,
      y,
      (i, k) => state(`${i}.${k}`),
      (i) => `${where}.${i}`,
    );
  else throw refuse('no ONNX operator is written for this layer');
}

function clip(w: Writer, x: string, y: string, min: number | undefined, max: number | undefined): void {
  const attrs: Attrs = {};
  if (min !== undefined && min !== -Infinity) attrs.min = float(min);
  if (max !== undefined && max !== Infinity) attrs.max = float(max);
  w.node('Clip', [x], y, attrs);
}

/** A Sequential's layers one after another from value x to value y. */
function chain(
  w: Writer,
  layers: readonly Module[],
  x: string,
  y: string,
  state: (i: number, k: string) => string,
  where: (i: number) => string,
): void {
  if (layers.length === 0) return w.node('Identity', [x], y);
  let v = x;
  layers.forEach((m, i) => {
    const out = i === layers.length - 1 ? y : `${y}::${i}`;
    layer(w, m, v, out, (k) => state(i, k), where(i));
    v = out;
  });
}

/** A Graph functional node. */
function op(w: Writer, n: Extract<Graph['nodes'][number], { kind: 'op' }>): void {
  const a = n.attrs as Record<string, number | number[] | undefined>;
  const ins = [...n.inputs];
  const simple: Record<string, string> = {
    add: 'Add',
    sub: 'Sub',
    mul: 'Mul',
    div: 'Div',
    matmul: 'MatMul',
    relu: 'Relu',
    sigmoid: 'Sigmoid',
    tanh: 'Tanh',
    hardswish: 'HardSwish',
    identity: 'Identity',
  };
  if (Object.hasOwn(simple, n.op)) return w.node(simple[n.op], ins, n.name);
  switch (n.op) {
    case 'concat':
      return w.node('Concat', ins, n.name, { axis: int(a.axis as number) });
    case 'reshape':
      return w.node('Reshape', ins, n.name, { shape: ints(a.shape as number[]) });
    case 'flatten':
      return w.node('Flatten', ins, n.name, { axis: int((a.axis as number | undefined) ?? 1) });
    case 'transpose':
      return w.node('Transpose', ins, n.name, { perm: ints(a.perm as number[]) });
    case 'relu6':
      return clip(w, ins[0], n.name, 0, 6);
    case 'hardtanh':
      return clip(w, ins[0], n.name, (a.min as number | undefined) ?? -1, (a.max as number | undefined) ?? 1);
    case 'clip':
      return clip(w, ins[0], n.name, a.min as number | undefined, a.max as number | undefined);
    case 'hardsigmoid':
      return w.node('HardSigmoid', ins, n.name, {
        alpha: float((a.alpha as number | undefined) ?? 1 / 6),
        beta: float((a.beta as number | undefined) ?? 0.5),
      });
    case 'leakyRelu':
      return w.node('LeakyRelu', ins, n.name, { alpha: float((a.slope as number | undefined) ?? 0.01) });
    case 'softmax':
    case 'logSoftmax':
      return w.node(n.op === 'softmax' ? 'Softmax' : 'LogSoftmax', ins, n.name, { axis: int((a.axis as number | undefined) ?? -1) });
    case 'pad': {
      const pads = w.ints(`${n.name}::pads`, a.pads as number[]);
      const value = w.init(`${n.name}::value`, [], Float32Array.of((a.value as number | undefined) ?? 0));
      return w.node('Pad', [ins[0], pads, value], n.name, { mode: { type: 'string', value: 'constant' } });
    }
    default:
      throw new Error(`${FN}: node '${n.name}' (${n.op}): no ONNX operator is written for this op`);
  }
}

/**
 * The `pad` ops whose end pads follow a ceil_mode window (loadOnnx's MaxPool in ceil mode over a free
 * height or width: such a pad, then an unpadded MaxPool2d of that window), by name, with the pool's
 * input and ONNX pads: each pair is written back as that MaxPool with ceil_mode = 1, since ONNX's Pad
 * takes fixed pads only. Any other use of such a pad is refused, naming the node and what differs.
 */
function ceilPools(g: Graph): Map<string, { input: string; pads: number[] }> {
  const readers = new Map<string, Extract<GraphNode, { kind: 'layer' | 'op' }>[]>();
  for (const n of g.nodes)
    if (n.kind === 'layer' || n.kind === 'op')
      for (const i of n.inputs) {
        if (!readers.has(i)) readers.set(i, []);
        readers.get(i)!.push(n);
      }
  const found = new Map<string, { input: string; pads: number[] }>();
  for (const n of g.nodes) {
    if (n.kind !== 'op' || n.op !== 'pad' || n.attrs.window === undefined) continue;
    const [kh, kw, sh, sw] = n.attrs.window as number[];
    const p = n.attrs.pads as number[];
    const value = (n.attrs.value as number | undefined) ?? 0;
    const refuse = (why: string) =>
      new Error(
        `${FN}: node '${n.name}' (pad): its end pads follow a ceil_mode window [${kh}, ${kw}] / [${sh}, ${sw}] and the input's size, which ONNX's Pad cannot hold; ` +
          `it is written as a MaxPool with ceil_mode = 1 only before unpadded MaxPool2d layers of that window, but ${why}`,
      );
    if (p.length !== 8 || p[0] + p[1] + p[4] + p[5] !== 0)
      throw refuse(`its pads [${p.join(', ')}] are not those of the height and width of a 4-D input`);
    if (value !== -Infinity) throw refuse(`its value is ${value}, not −Infinity (a max pool's padding)`);
    if (p[2] >= kh || p[6] >= kh || p[3] >= kw || p[7] >= kw)
      throw refuse(`its pads [${p.join(', ')}] are not each smaller than the window (ONNX's bound)`);
    if (g.outputNames.some((o) => g.outputSource(o) === n.name)) throw refuse('it is an output of the graph');
    const rs = readers.get(n.name) ?? [];
    for (const r of rs) {
      const m = r.kind === 'layer' ? r.module : null;
      const same =
        m instanceof MaxPool2d &&
        m.layout === 'NCHW' &&
        m.padding.every((v) => v === 0) &&
        m.kernelSize[0] === kh &&
        m.kernelSize[1] === kw &&
        m.stride[0] === sh &&
        m.stride[1] === sw;
      if (!same)
        throw refuse(
          `node '${r.name}' (${r.kind === 'layer' ? kindOf(r.module.constructor) : r.op}) reads it, not an unpadded channels-first MaxPool2d of that window and stride`,
        );
    }
    found.set(n.name, { input: n.inputs[0], pads: [p[2], p[3], p[6], p[7]] });
  }
  return found;
}

/** Options of toOnnx. */
export interface ToOnnxOptions {
  /** Each input's shape by name (a string is a symbolic size); default from the first layer that reads it: `['batch', C, 'height', 'width']` for a convolution, `['batch', features]` for a Linear. */
  inputShapes?: Readonly<Record<string, readonly (number | string)[]>>;
}

/** The shape a layer reading a graph input implies, with symbolic batch and spatial sizes. */
function impliedShape(m: Module | undefined): (number | string)[] | null {
  // a padding layer keeps the channels and leaves height and width free: the next layer tells
  if (m instanceof Sequential) return impliedShape(m.layers.find((l) => !(l instanceof ConstantPad2d)));
  if (m instanceof Conv2d && m.layout === 'NCHW') return ['batch', m.inChannels, 'height', 'width'];
  if (m instanceof BatchNorm && m.layout === 'NCHW') return ['batch', m.numFeatures, 'height', 'width'];
  if (m instanceof Linear) return ['batch', m.inFeatures];
  return null;
}

/**
 * Writes a Sequential or a Graph as an ONNX model (opset 17) of its eval-mode function:
 * parameters and buffers become initializers under their state-dict names, BatchNorm a
 * BatchNormalization node on its running statistics, Dropout an Identity. A Sequential's input is
 * `input` and its output `output`; a Graph keeps its input and output names. Channels-first layouts only.
 *
 * @example
 * ```ts
 * const bytes = toOnnx(model); // onnxruntime, or loadOnnx(bytes), runs it
 * ```
 */
export function toOnnx(model: Sequential | Graph, options: ToOnnxOptions = {}): Uint8Array {
  if (options === null || typeof options !== 'object') throw new TypeError(`${FN}: options: expected an object, got ${describe(options)}`);
  checkOptions(FN, options, ['inputShapes']);
  const given = options.inputShapes ?? {};
  const w = new Writer();
  const firstReader = new Map<string, Module>();
  const inputs: string[] = [];
  const outputs: string[] = [];
  if (model instanceof Sequential) {
    chain(
      w,
      model.layers,
      'input',
      'output',
      (i, k) => `${i}.${k}`,
      (i) => `layer ${i}`,
    );
    inputs.push('input');
    outputs.push('output');
    firstReader.set('input', model);
  } else if (model instanceof Graph) {
    const ceil = ceilPools(model);
    for (const n of model.nodes) {
      const pool = n.kind === 'layer' ? ceil.get(n.inputs[0]) : undefined;
      if (n.kind === 'input') inputs.push(n.name);
      else if (n.kind === 'constant') w.tensor(n.name, n.tensor);
      else if (n.kind === 'op') {
        if (!ceil.has(n.name)) op(w, n);
      } else if (pool !== undefined) {
        // the pad before it and this MaxPool2d: the MaxPool in ceil mode they were loaded from
        const m = n.module as MaxPool2d;
        w.node('MaxPool', [pool.input], n.name, {
          kernel_shape: ints(m.kernelSize),
          strides: ints(m.stride),
          pads: ints(pool.pads),
          ceil_mode: int(1),
        });
      } else {
        if (!firstReader.has(n.inputs[0])) firstReader.set(n.inputs[0], n.module);
        layer(
          w,
          n.module,
          n.inputs[0],
          n.name,
          (k) => (Object.hasOwn(n.stateNames, k) ? n.stateNames[k] : `${n.name}.${k}`),
          `node '${n.name}'`,
        );
      }
    }
    for (const o of model.outputNames) {
      const from = model.outputSource(o);
      if (from !== o) w.node('Identity', [from], o);
      outputs.push(o);
    }
  } else throw new TypeError(`${FN}: model: expected a Sequential or a Graph, got ${describe(model)}`);
  const onnx: OnnxModel = {
    irVersion: 8,
    opset: 17,
    producer: 'batchnorm-wasm',
    graphName: 'model',
    inputs: inputs.map((name) => {
      const shape = Object.hasOwn(given, name) ? [...given[name]] : impliedShape(firstReader.get(name));
      if (shape === null)
        throw new Error(`${FN}: input '${name}': its shape cannot be told from the layer that reads it; give options.inputShapes.${name}`);
      return { name, dtype: 'float32' as const, shape };
    }),
    outputs: outputs.map((name) => ({ name, dtype: 'float32', shape: null })),
    initializers: w.initializers,
    nodes: w.nodes,
    shapes: new Map(),
  };
  return encodeOnnx(onnx);
}
