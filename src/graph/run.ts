// How a Graph runs: its nodes in topological order, each on the tensors its inputs name. The graph
// knows every tensor's consumers, so under noGrad (inference: no backward follows) each
// intermediate is freed as soon as its last consumer has run and peak memory is the largest live
// set, not the sum of all activations; outputs, inputs and constants are never freed. When the
// forward records, the intermediates belong to the outputs' ops (freed by their backward or dispose).
// see: https://github.com/microsoft/onnxruntime/blob/main/onnxruntime/core/framework/allocation_planner.cc (free at last use)
import { inInference } from '../autograd/engine';
import { clone } from '../autograd/functional';
import { saveBuffers, type Module, type StateEntry } from '../nn/module';
import { Tensor } from '../tensor';
import { describe, kindOf } from '../validate';
import type { GraphNode } from './graph';
import { runOp } from './ops';
import { inferredPool, planFusions, runAddRelu, runFusedConv, runMaxPoolInfer, type Fusions } from './fuse';
import type { Conv2d } from '../nn/conv';
import { runtime } from '../runtime/index';
import { betweenLayers, type Arena } from './arena';

type Step = GraphNode & { kind: 'layer' | 'op' };

/** What a run needs, made once per graph (until it changes): the nodes the outputs depend on, and each tensor's consumer count. */
export interface RunPlan {
  steps: Step[];
  uses: Map<string, number>;
  outputs: readonly (readonly [string, string])[];
  sources: Set<string>;
  /** What an inference run (under noGrad) fuses; a recording run fuses nothing. */
  fusions: Fusions;
}

/** What a graph keeps between runs: its movable state, a scratch copy of it, and the buffers of its inference runs. */
export interface RunState {
  movable: StateEntry[] | null;
  scratch: { buf: Float32Array };
  arena: Arena;
}

/** The nodes the outputs depend on (a node nothing reads is not run), and how many node inputs read each tensor. */
export function planRun(nodes: readonly GraphNode[], outputs: readonly (readonly [string, string])[]): RunPlan {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const need = new Set<string>();
  const stack = outputs.map(([, from]) => from);
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (need.has(name)) continue;
    need.add(name);
    const n = byName.get(name)!;
    if (n.kind === 'layer' || n.kind === 'op') stack.push(...n.inputs);
  }
  const steps = nodes.filter((n): n is Step => (n.kind === 'layer' || n.kind === 'op') && need.has(n.name));
  const uses = new Map<string, number>();
  for (const n of steps) for (const x of n.inputs) uses.set(x, (uses.get(x) ?? 0) + 1);
  const sources = new Set(outputs.map(([, from]) => from));
  return { steps, uses, outputs, sources, fusions: planFusions(steps, uses, sources) };
}

/** A step's kind and the milliseconds it took, reported after each step when a timer is set (bench/models.ts --profile). */
export type StepTimer = (kind: string, ms: number) => void;
let stepTimer: StepTimer | null = null;

/** Sets (or clears, with null) the timer every Graph run reports its steps to; for profiling only. */
export function setStepTimer(timer: StepTimer | null): void {
  stepTimer = timer;
}

/** True when `m` or a module inside it trains: its forward may move running statistics. */
function anyTraining(m: Module): boolean {
  return m.training || m.children().some(([, c]) => anyTraining(c));
}

/**
 * Runs the plan on `feeds` (input name → tensor); returns each output by name. A node that throws
 * leaves nothing behind: the tensors made so far are freed and the running statistics moved by
 * earlier nodes put back; its error names the node.
 */
export function execute(
  graph: Module,
  nodes: readonly GraphNode[],
  where: string,
  plan: RunPlan,
  state: RunState,
  feeds: ReadonlyMap<string, Tensor>,
): Map<string, Tensor> {
  graph.checkUsable(where);
  const values = new Map(feeds);
  const fixed = new Set(feeds.values()); // inputs and constants: never freed, never handed out as an output
  for (const n of nodes) {
    if (n.kind === 'constant') {
      values.set(n.name, n.tensor);
      fixed.add(n.tensor);
    }
  }
  const restore = anyTraining(graph) ? saveBuffers(graph, state.scratch, (state.movable ??= graph._movable())) : null;
  const made = new Set<Tensor>(),
    kept = new Set<Tensor>(),
    left = new Map<Tensor, number>();
  const early = inInference();
  const outs = new Map<string, Tensor>();
  // under noGrad the intermediates are placed in the buffer the graph keeps for these input shapes
  const session =
    early && betweenLayers.reuse ? state.arena.begin(runtime(), [...feeds.values()].map((t) => t.shape.join('x')).join(';')) : null;
  let at: Step | null = null;
  try {
    for (const n of plan.steps) {
      at = n;
      const t0 = stepTimer === null ? 0 : performance.now();
      const xs = n.inputs.map((x) => values.get(x)!);
      const fused = early && n.kind === 'layer' ? plan.fusions.convs.get(n.name) : undefined;
      const y =
        n.kind === 'layer'
          ? fused !== undefined
            ? runFusedConv(n.module as Conv2d, xs[0], fused)
            : early && inferredPool(n.module)
              ? runMaxPoolInfer(n.module, xs[0])
              : n.module.forward(xs[0])
          : early && (plan.fusions.absorbed.has(n.name) || (betweenLayers.addRelu && plan.fusions.afterAdd.has(n.name)))
            ? xs[0] // done by the convolution or the add before it
            : early && betweenLayers.addRelu && plan.fusions.addRelus.has(n.name)
              ? runAddRelu(xs[0], xs[1])
              : runOp(n.op, xs, n.attrs);
      if (!(y instanceof Tensor)) throw new TypeError(`the layer's forward returned ${describe(y)}, expected a Tensor`);
      if (stepTimer !== null) stepTimer(stepKind(n, plan), performance.now() - t0);
      values.set(n.name, y);
      if (!fixed.has(y)) made.add(y);
      if (plan.sources.has(n.name)) kept.add(y);
      if (!early) continue;
      // a tensor's count is its readers' (an identity node's output is its input: the counts add up)
      left.set(y, (left.get(y) ?? 0) + (plan.uses.get(n.name) ?? 0));
      for (const x of xs) {
        const k = left.get(x);
        if (k === undefined) continue;
        left.set(x, k - 1);
        if (k === 1 && !kept.has(x) && made.delete(x)) x.dispose();
      }
    }
    at = null;
    if (session !== null) state.arena.end(session.prev);
    for (const [o, from] of plan.outputs) {
      const t = values.get(from)!;
      // an input, a constant, a tensor another output returns or one in the graph's buffer (or a view of
      // one: a reshape's bytes are its input's): a copy, so the caller owns each output
      const base = t._base;
      const copy = fixed.has(base) || [...outs.values()].some((u) => u._base === base) || session?.run.placed.has(base) === true;
      outs.set(o, copy ? clone(t) : t);
    }
  } catch (e) {
    for (const t of made) t.dispose();
    for (const t of outs.values()) t.dispose();
    if (session !== null) {
      state.arena.end(session.prev);
      state.arena.finish(session.run, false);
    }
    restore?.();
    if (at !== null && e instanceof Error)
      e.message = `${where}: node '${at.name}' (${at.kind === 'op' ? at.op : kindOf(at.module.constructor)}): ${e.message}`;
    throw e;
  }
  const given = new Set(outs.values());
  const rest = [...made].filter((t) => !given.has(t));
  const recorded = [...given].filter((t) => t.gradFn !== null && !t.gradFn.done);
  if (early || recorded.length === 0) for (const t of rest) t.dispose();
  else if (recorded.length === 1) {
    // as a Sequential's: reachable only through the output's graph, freed with its op
    const fn = recorded[0].gradFn!;
    fn.owns = [...(fn.owns ?? []), ...rest];
  } else {
    // several: freed once every recorded output's op is done (by a backward, or the output's dispose)
    let left = recorded.length;
    for (const t of recorded) {
      const fn = t.gradFn!,
        release = fn.release;
      fn.release = () => {
        release?.();
        if (--left === 0) for (const r of rest) r.dispose();
      };
    }
  }
  // the intermediates are freed: a first run of these shapes lays out the buffer from what it saw
  if (session !== null) state.arena.finish(session.run, true);
  return outs;
}

/** A step's kind for a profile: the op, or the layer's class with its fused activation. */
function stepKind(n: Step, plan: RunPlan): string {
  if (n.kind === 'op')
    return plan.fusions.absorbed.has(n.name) || (betweenLayers.addRelu && plan.fusions.afterAdd.has(n.name))
      ? `${n.op} (fused)`
      : betweenLayers.addRelu && plan.fusions.addRelus.has(n.name)
        ? `${n.op}+relu`
        : n.op;
  const act = plan.fusions.convs.get(n.name);
  return act ? `${kindOf(n.module.constructor)}+${act.kind}` : kindOf(n.module.constructor);
}
