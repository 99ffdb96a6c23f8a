// A whole graph declared at once (what a model loader has: nodes that name their inputs, in any
// order), checked and put in topological order before any node is added: names taken twice,
// inputs that nothing produces, cycles and outputs of unknown tensors are refused naming the node.
// see: https://onnx.ai/onnx/repo-docs/IR.html#graphs (names, topological order)
import type { Module } from '../nn/module';
import type { Tensor } from '../tensor';
import { describe } from '../validate';
import type { GraphOp, GraphOpAttrs } from './ops';

/** A layer node: `layer.forward(input)`; its state under `name.` unless `stateNames` maps a local name (e.g. 'weight') to another. */
export interface GraphLayerSpec {
  /** The node's name, which is also its output tensor's and its state's prefix. */
  name: string;
  /** The module the node runs (one node per module). */
  layer: Module;
  /** The name of the tensor it reads. */
  input: string;
  /** The layer's local state names mapped to the state dict's (default `name.local`). */
  stateNames?: Readonly<Record<string, string>>;
}

/** A functional node: `op` on the tensors named by `inputs`, with its attributes. */
export interface GraphOpSpec<K extends GraphOp = GraphOp> {
  /** The node's name, which is also its output tensor's. */
  name: string;
  /** The functional op it runs. */
  op: K;
  /** The names of the tensors it reads, in the op's order. */
  inputs: readonly string[];
  /** The op's attributes (see GraphOpAttrs). */
  attrs?: GraphOpAttrs[K];
}

/** A constant node: a buffer, or a trainable Parameter, in the state dict under `name`; the graph owns it. */
export interface GraphConstantSpec {
  /** The tensor's name in the graph and in the state dict. */
  name: string;
  /** The tensor (a Parameter is trained); the graph takes ownership of it. */
  constant: Tensor;
}

/** One node of a GraphSpec. */
export type GraphNodeSpec = GraphLayerSpec | GraphOpSpec | GraphConstantSpec;

/** A whole graph: named inputs, nodes in any order, and each output's name with the tensor it returns. */
export interface GraphSpec {
  /** The graph's input names, in the order run() documents them. */
  inputs: readonly string[];
  /** The nodes, in any order (sorted topologically when the graph is made). */
  nodes: readonly GraphNodeSpec[];
  /** Each output's name mapped to the name of the tensor it returns. */
  outputs: Readonly<Record<string, string>>;
}

/** The node's input names (none for a constant). */
export function specInputs(n: GraphNodeSpec): readonly string[] {
  if ('layer' in n) return [n.input];
  if ('op' in n) return Array.isArray(n.inputs) ? n.inputs : [];
  return [];
}

/**
 * Checks a spec's names and edges and returns its nodes in topological order (declaration order
 * where the edges allow). The nodes themselves (modules, ops, attributes) are checked as they are added.
 */
export function sortSpec(where: string, spec: GraphSpec): GraphNodeSpec[] {
  if (spec === null || typeof spec !== 'object') throw new TypeError(`${where}: spec: expected an object, got ${describe(spec)}`);
  if (!Array.isArray(spec.inputs)) throw new TypeError(`${where}: spec.inputs: expected an array of names, got ${describe(spec.inputs)}`);
  if (!Array.isArray(spec.nodes)) throw new TypeError(`${where}: spec.nodes: expected an array of nodes, got ${describe(spec.nodes)}`);
  if (spec.outputs === null || typeof spec.outputs !== 'object' || Array.isArray(spec.outputs))
    throw new TypeError(`${where}: spec.outputs: expected an object of output name → tensor name, got ${describe(spec.outputs)}`);
  const producer = new Map<string, number>(); // −1: a graph input
  for (const name of spec.inputs as unknown[]) {
    if (typeof name !== 'string' || name === '') throw new TypeError(`${where}: input: expected a non-empty name, got ${describe(name)}`);
    if (producer.has(name)) throw new Error(`${where}: input '${name}': the name is taken twice`);
    producer.set(name, -1);
  }
  spec.nodes.forEach((n: GraphNodeSpec, i) => {
    if (n === null || typeof n !== 'object') throw new TypeError(`${where}: nodes[${i}]: expected a node, got ${describe(n)}`);
    if (typeof n.name !== 'string' || n.name === '')
      throw new TypeError(`${where}: nodes[${i}]: name: expected a non-empty string, got ${describe(n.name)}`);
    if (producer.has(n.name)) throw new Error(`${where}: node '${n.name}': the name is taken twice`);
    producer.set(n.name, i);
  });
  spec.nodes.forEach((n: GraphNodeSpec) => {
    for (const x of specInputs(n)) {
      if (typeof x !== 'string' || !producer.has(x))
        throw new Error(`${where}: node '${n.name}': input ${describe(x)} is produced by no node and is no graph input`);
    }
  });
  for (const [o, from] of Object.entries(spec.outputs)) {
    if (typeof from !== 'string' || !producer.has(from))
      throw new Error(`${where}: output '${o}': ${describe(from)} is produced by no node and is no graph input`);
  }
  // depth-first from each node in declaration order, inputs first; a node met again while on the path closes a cycle
  const state = new Uint8Array(spec.nodes.length); // 0 new, 1 on the path, 2 placed
  const order: GraphNodeSpec[] = [];
  for (let s = 0; s < spec.nodes.length; s++) {
    if (state[s] !== 0) continue;
    const path: [number, number][] = [[s, 0]];
    state[s] = 1;
    while (path.length > 0) {
      const top = path[path.length - 1];
      const ins = specInputs(spec.nodes[top[0]]);
      if (top[1] < ins.length) {
        const j = producer.get(ins[top[1]++])!;
        if (j < 0 || state[j] === 2) continue;
        if (state[j] === 1) {
          const names = path.slice(path.findIndex(([k]) => k === j)).map(([k]) => spec.nodes[k].name);
          throw new Error(
            `${where}: node '${spec.nodes[j].name}': a cycle (${[...names, spec.nodes[j].name].join(' ← ')}, where a ← b: a reads b)`,
          );
        }
        state[j] = 1;
        path.push([j, 0]);
      } else {
        state[top[0]] = 2;
        order.push(spec.nodes[top[0]]);
        path.pop();
      }
    }
  }
  return order;
}
