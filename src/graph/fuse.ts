// Inference fusions of a Graph run, used only under noGrad (no backward follows, so no layer needs
// its own output kept apart): every dense NCHW Conv2d runs the implicit-GEMM inference kernel
// (assembly/conv_infer.ts: no im2col buffer, the bias in the write-out), and an activation that
// is the only reader of a convolution's output (through identities: a folded BatchNorm leaves one)
// is done by the convolution — in the kernel's write-out for a dense one and for a 3×3 depthwise one
// (assembly/depthwise_infer.ts), in place on its output otherwise — while its own node passes the
// tensor on unchanged.
// An add whose only reader is a ReLU (a residual block's end) is done in one pass with the ReLU, the
// same f32 sum and the same ReLU rule as the two kernels, so the same bits.
// NOTE: the dense kernel's sums are gemm.ts's, so outputs equal the unfused run's bit for bit, except
// that a fused ReLU (a clamp to [0, ∞)) gives +0 where the ReLU kernel keeps a −0.
// see: https://github.com/microsoft/onnxruntime/blob/main/onnxruntime/core/optimizer/conv_activation_fusion.cc
import { track } from '../autograd/engine';
import { activationForward } from '../kernels/activations';
import { convInferNCHW } from '../kernels/conv_infer';
import { depthwise3x3Infer } from '../kernels/depthwise_infer';
import { maxPool2dInfer } from '../kernels/pool_infer';
import { slidingWindow } from '../kernels/conv';
import { MaxPool2d } from '../nn/pool';
import { checkInput2d, Conv2d } from '../nn/conv';
import { binary } from '../kernels/elementwise';
import { sameShape, Tensor } from '../tensor';
import { checkTensor } from '../validate';
import type { GraphNode } from './graph';
import { broadcastOp } from './shape_ops';

type Step = GraphNode & { kind: 'layer' | 'op' };

/** An activation a convolution does itself: ReLU, or a clamp to [lo, hi] (ReLU6, Hardtanh, Clip). */
export interface FusedActivation {
  readonly kind: 'relu' | 'clamp';
  readonly lo: number;
  readonly hi: number;
}

/**
 * What an inference run fuses: the convolution steps with their activation (null: none) and the
 * activation steps they absorb; the add steps that do the ReLU after them, and those ReLU steps.
 */
export interface Fusions {
  readonly convs: ReadonlyMap<string, FusedActivation | null>;
  readonly absorbed: ReadonlySet<string>;
  readonly addRelus: ReadonlySet<string>;
  readonly afterAdd: ReadonlySet<string>;
}

/** True when the inference kernel computes this layer: NCHW, groups 1, dilation 1. */
function dense(m: Conv2d): boolean {
  return m.layout === 'NCHW' && m.groups === 1 && m.dilation[0] === 1 && m.dilation[1] === 1;
}

/** True when the direct 3×3 depthwise inference kernel computes this layer: NCHW, one filter per channel, padding 1, stride 1 or 2. */
function depthwise3x3(m: Conv2d): boolean {
  const [kh, kw] = m.kernelSize,
    [sh, sw] = m.stride;
  return (
    m.layout === 'NCHW' &&
    m.groups === m.inChannels &&
    m.outChannels === m.inChannels &&
    kh === 3 &&
    kw === 3 &&
    sh === sw &&
    (sh === 1 || sh === 2) &&
    m.padding[0] === 1 &&
    m.padding[1] === 1 &&
    m.dilation[0] === 1 &&
    m.dilation[1] === 1
  );
}

/** The activation an op step computes, or null for any other op. */
function activationOf(n: Step): FusedActivation | null {
  if (n.kind !== 'op') return null;
  const a = n.attrs as { min?: number; max?: number };
  switch (n.op) {
    case 'relu':
      return { kind: 'relu', lo: 0, hi: Infinity };
    case 'relu6':
      return { kind: 'clamp', lo: 0, hi: 6 };
    case 'hardtanh':
      return { kind: 'clamp', lo: a.min ?? -1, hi: a.max ?? 1 };
    case 'clip':
      return { kind: 'clamp', lo: a.min ?? -Infinity, hi: a.max ?? Infinity };
    default:
      return null;
  }
}

/**
 * Finds the fusions of a run plan: each Conv2d step, and the activation step that alone reads its
 * output (directly or through identity steps that alone read it), when no graph output is taken
 * on the way.
 */
export function planFusions(steps: readonly Step[], uses: ReadonlyMap<string, number>, sources: ReadonlySet<string>): Fusions {
  const readers = new Map<string, Step[]>();
  for (const n of steps) for (const x of n.inputs) readers.set(x, [...(readers.get(x) ?? []), n]);
  const only = (name: string): Step | null => {
    const r = readers.get(name);
    return r !== undefined && r.length === 1 && uses.get(name) === 1 && !sources.has(name) ? r[0] : null;
  };
  const convs = new Map<string, FusedActivation | null>();
  const addRelus = new Set<string>(),
    afterAdd = new Set<string>();
  const absorbed = new Set<string>();
  for (const n of steps) {
    if (n.kind === 'op' && n.op === 'add') {
      // a residual block's end: relu(a + b) in one pass
      const next = only(n.name);
      if (next !== null && next.kind === 'op' && next.op === 'relu') {
        addRelus.add(n.name);
        afterAdd.add(next.name);
      }
    }
    if (n.kind !== 'layer' || !(n.module instanceof Conv2d)) continue;
    let next = only(n.name);
    while (next !== null && next.kind === 'op' && next.op === 'identity') next = only(next.name);
    const act = next === null ? null : activationOf(next);
    if (act !== null) absorbed.add(next!.name);
    if (act !== null || dense(n.module) || depthwise3x3(n.module)) convs.set(n.name, act);
  }
  return { convs, absorbed, addRelus, afterAdd };
}

/** relu(a + b) for an add step whose ReLU it absorbed: one pass where the shapes are the same, else the add, then the ReLU in place. */
export function runAddRelu(a: Tensor, b: Tensor): Tensor {
  if (!sameShape(a.shape, b.shape)) {
    const y = broadcastOp('add', a, b);
    // its output is a fresh tensor that only the absorbed ReLU reads
    activationForward('relu', y.ptr, y.ptr, y.size);
    return y;
  }
  checkTensor('add', 'a', a);
  checkTensor('add', 'b', b);
  const y = Tensor.empty(a.shape);
  binary('addRelu', a.ptr, b.ptr, y.ptr, 1, a.size);
  return track(y);
}

/** A convolution's inference forward with its fused activation (null: none). */
export function runFusedConv(m: Conv2d, x: Tensor, act: FusedActivation | null): Tensor {
  if (Object.hasOwn(m, 'forward')) {
    // a forward replaced on the instance (summary() notes shapes so): it runs, and its output, which
    // may be any tensor, is left as it is; the activation goes to a new one
    const y = m.forward(x);
    if (act === null) return y;
    const z = Tensor.empty(y.shape);
    activationForward(act.kind, y.ptr, z.ptr, y.size, act.kind === 'clamp' ? [act.lo, act.hi] : []);
    return track(z);
  }
  if (depthwise3x3(m)) return runDepthwise3x3(m, x, act);
  if (!dense(m)) {
    const y = m.forward(x);
    // its output is a fresh tensor that only the absorbed activation reads
    if (act !== null) activationForward(act.kind, y.ptr, y.ptr, y.size, act.kind === 'clamp' ? [act.lo, act.hi] : []);
    return y;
  }
  const where = 'Conv2d.forward';
  const g = checkInput2d(where, x, 'NCHW', m.inChannels, m.kernelSize, m.stride, m.padding);
  m.checkUsable(where);
  const y = Tensor.empty([g.n, m.outChannels, g.oh, g.ow]);
  try {
    const [kh, kw] = m.kernelSize,
      [sh, sw] = m.stride,
      [ph, pw] = m.padding;
    const geom = { n: g.n, c: g.c, h: g.h, w: g.w, o: m.outChannels, kh, kw, sh, sw, ph, pw, oh: g.oh, ow: g.ow };
    convInferNCHW(x.ptr, m.weight.ptr, m.bias ? m.bias.ptr : 0, y.ptr, geom, act?.lo ?? -Infinity, act?.hi ?? Infinity);
  } catch (e) {
    y.dispose();
    throw e;
  }
  return track(y);
}

/** A 3×3 depthwise convolution's inference forward, its bias and activation in the kernel's write-out. */
function runDepthwise3x3(m: Conv2d, x: Tensor, act: FusedActivation | null): Tensor {
  const where = 'Conv2d.forward';
  const g = checkInput2d(where, x, 'NCHW', m.inChannels, m.kernelSize, m.stride, m.padding);
  m.checkUsable(where);
  const y = Tensor.empty([g.n, m.outChannels, g.oh, g.ow]);
  try {
    const geom = { n: g.n, c: g.c, h: g.h, w: g.w, s: m.stride[0] as 1 | 2, oh: g.oh, ow: g.ow };
    depthwise3x3Infer(x.ptr, m.weight.ptr, m.bias ? m.bias.ptr : 0, y.ptr, geom, act?.lo ?? -Infinity, act?.hi ?? Infinity);
  } catch (e) {
    y.dispose();
    throw e;
  }
  return track(y);
}

/** True when an inference run computes this layer with runMaxPoolInfer: a MaxPool2d whose forward is its class's. */
export function inferredPool(m: unknown): m is MaxPool2d {
  return m instanceof MaxPool2d && !Object.hasOwn(m, 'forward');
}

/** A MaxPool2d's inference forward: the maxima only (assembly/pool_infer.ts), no argmax kept for a backward. */
export function runMaxPoolInfer(m: MaxPool2d, x: Tensor): Tensor {
  const where = 'MaxPool2d.forward';
  const g = checkInput2d(where, x, m.layout, null, m.kernelSize, m.stride, m.padding);
  m.checkUsable(where);
  const nchw = m.layout === 'NCHW';
  const y = Tensor.empty(nchw ? [g.n, g.c, g.oh, g.ow] : [g.n, g.oh, g.ow, g.c]);
  // NCHW is n·c channels-last images of one channel: the same memory
  maxPool2dInfer(x.ptr, y.ptr, nchw ? g.n * g.c : g.n, g.h, g.w, nchw ? 1 : g.c, slidingWindow(m.kernelSize, m.stride, m.padding, g));
  return track(y);
}
