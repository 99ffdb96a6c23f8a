// Building a Graph: every bad node, edge, name or spec is refused with an error naming the node, and
// a refused call registers nothing (no node, no layer, no state name); a spec's nodes may come in
// any order, cycles and outputs nothing produces are refused; bad inputs at run time, and a node
// that throws midway, leave no state moved and no tensor behind.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  init,
  tensor,
  noGrad,
  memoryBytes,
  Graph,
  Conv2d,
  BatchNorm1d,
  Linear,
  ReLU,
  Parameter,
  Generator,
  type GraphSpec,
  type Tensor,
} from '../src/index';
import { BACKENDS, throwsLike, values } from './helpers';

/** A graph x → fc (Linear 4→3) → relu, with a constant 'c' [3]; `g.state()`: what a refused call must leave alone. */
function small(): Graph {
  const g = new Graph();
  const x = g.input('x');
  const h = g.layer('fc', new Linear(4, 3, { generator: new Generator(1) }), x);
  g.constant('c', tensor([1, 2, 3]));
  g.op('relu', [h], {}, 'r');
  return g;
}
const snapshot = (g: Graph) => ({
  nodes: g.nodes.map((n) => n.name),
  children: g.children().map(([k]) => k),
  state: Object.keys(g.stateDict()),
  outputs: g.outputNames,
});

for (const backend of BACKENDS) {
  describe(`Graph building and checks (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it('refuses each bad builder call with a specific error, registering nothing', () => {
      const g = small();
      const before = snapshot(g);
      const lin = new Linear(3, 2);
      const cases: [() => unknown, new (...a: never[]) => Error, RegExp][] = [
        [() => g.input('fc'), Error, /^Graph\.input: 'fc': the name is taken by layer node 'fc'$/],
        [() => g.input(''), TypeError, /^Graph\.input: name: expected a non-empty string, got ''$/],
        [() => g.layer('r', lin, 'x'), Error, /^Graph\.layer: 'r': the name is taken by op node 'r'$/],
        [
          () => g.layer('fc2', lin, 'nowhere'),
          Error,
          /^Graph\.layer: 'fc2': input 'nowhere' is produced by no node and is no graph input$/,
        ],
        [() => g.layer('fc2', {} as never, 'r'), TypeError, /^Graph\.layer: module: expected a Module, got Object$/],
        [() => g.layer('fc2', g, 'r'), Error, /^Graph\.layer: 'fc2': a graph cannot be a layer of itself$/],
        [
          () => g.layer('fc2', g.children()[0][1], 'r'),
          Error,
          /^Graph\.layer: 'fc2': this Linear is already layer 'fc' \(one node per module\)$/,
        ],
        [
          () => g.layer('fc2', lin, 'r', { stateNames: { gamma: 'g' } }),
          Error,
          /^Graph\.layer: 'fc2': stateNames: 'gamma' is not in the layer's state \(weight, bias\)$/,
        ],
        [() => g.layer('fc2', lin, 'r', { stateNames: { weight: 'c' } }), Error, /^Graph\.layer: 'fc2': the state dict already has 'c'$/],
        [
          () => g.layer('fc2', lin, 'r', { stateNames: { weight: 'fc2.bias' } }),
          Error,
          /^Graph\.layer: 'fc2': the state dict already has 'fc2\.bias'$/,
        ],
        [
          () => g.layer('fc2', lin, 'r', { inputs: 2 } as never),
          TypeError,
          /^Graph\.layer: unknown option 'inputs' \(expected one of stateNames\)$/,
        ],
        [() => g.constant('fc.weight', tensor([1])), Error, /^Graph\.constant: 'fc\.weight': the state dict already has this name$/],
        [
          () => g.constant('d', [1, 2] as never),
          TypeError,
          /^Graph\.constant: tensor: expected a Tensor \(see tensor\(\)\), got array\(2\)$/,
        ],
        [() => g.op('gelu' as never, ['r']), TypeError, /^Graph\.op: op: expected one of add, sub, .*, identity, got 'gelu'$/],
        [() => g.op('add', ['r']), RangeError, /^Graph\.op: add takes 2 input\(s\), got 1$/],
        [() => g.op('concat', [], { axis: 1 }), RangeError, /^Graph\.op: concat takes one or more inputs, got 0$/],
        [() => g.op('concat', ['r', 'x']), TypeError, /^Graph\.op: concat: attribute 'axis' is required$/],
        [() => g.op('concat', ['r', 'x'], { axis: 0.5 }), TypeError, /^Graph\.op: concat: axis: expected an integer, got number 0\.5$/],
        [() => g.op('relu', ['r'], { axis: 1 } as never), TypeError, /^Graph\.op: relu: unknown attribute 'axis' \(it takes none\)$/],
        [
          () => g.op('softmax', ['r'], { dim: 1 } as never),
          TypeError,
          /^Graph\.op: softmax: unknown attribute 'dim' \(expected one of axis\)$/,
        ],
        [
          () => g.op('transpose', ['r'], { perm: [0, 0] }),
          TypeError,
          /^Graph\.op: transpose: perm: expected a permutation of 0…1, got \[0, 0\]$/,
        ],
        [
          () => g.op('reshape', ['r'], { shape: 3 as never }),
          TypeError,
          /^Graph\.op: reshape: shape: expected an array of integers, got number 3$/,
        ],
        [() => g.op('add', ['r', 'zz']), Error, /^Graph\.op: 'add_\d+': input 'zz' is produced by no node and is no graph input$/],
        [() => g.op('add', ['r', 'x'], {}, 'c'), Error, /^Graph\.op: 'c': the name is taken by constant node 'c'$/],
        [() => g.output('y', 'missing'), Error, /^Graph\.output: output 'y': 'missing' is produced by no node and is no graph input$/],
      ];
      for (const [act, cls, re] of cases) {
        throwsLike(act, cls, re);
        expect(snapshot(g)).toEqual(before);
      }
      g.output('y', 'r');
      throwsLike(() => g.output('y', 'fc'), Error, /^Graph\.output: output 'y' is declared twice$/);
      expect(g.outputNames).toEqual(['y']);
      lin.dispose();
      g.dispose();
    });

    it('a spec: nodes in any order are sorted; duplicates, dangling inputs, cycles and outputs never produced are refused naming the node', () => {
      const gen = new Generator(2);
      const fc = new Linear(4, 4, { generator: gen });
      const spec: GraphSpec = {
        inputs: ['x'],
        nodes: [
          { name: 'sum', op: 'add', inputs: ['act', 'x'] },
          { name: 'act', op: 'tanh', inputs: ['fc'] },
          { name: 'fc', layer: fc, input: 'x' },
        ],
        outputs: { y: 'sum' },
      };
      const g = new Graph(spec);
      expect(g.nodes.map((n) => n.name)).toEqual(['x', 'fc', 'act', 'sum']);
      const x = tensor(values(8), [2, 4]);
      const y = noGrad(() => g.forward(x));
      expect(y.shape).toEqual([2, 4]);
      const other = new Linear(4, 4, { generator: gen });
      const bad = (nodes: GraphSpec['nodes'], outputs: GraphSpec['outputs'] = { y: 'a' }): GraphSpec => ({ inputs: ['x'], nodes, outputs });
      throwsLike(() => new Graph(bad([{ name: 'x', op: 'relu', inputs: ['x'] }])), Error, /^Graph: node 'x': the name is taken twice$/);
      throwsLike(() => new Graph({ inputs: ['x', 'x'], nodes: [], outputs: {} }), Error, /^Graph: input 'x': the name is taken twice$/);
      throwsLike(
        () => new Graph(bad([{ name: 'a', op: 'relu', inputs: ['b'] }])),
        Error,
        /^Graph: node 'a': input 'b' is produced by no node and is no graph input$/,
      );
      throwsLike(
        () =>
          new Graph(
            bad([
              { name: 'a', op: 'add', inputs: ['x', 'c'] },
              { name: 'b', op: 'relu', inputs: ['a'] },
              { name: 'c', layer: other, input: 'b' },
            ]),
          ),
        Error,
        /^Graph: node 'a': a cycle \(a ← c ← b ← a, where a ← b: a reads b\)$/,
      );
      throwsLike(
        () => new Graph(bad([{ name: 'a', op: 'relu', inputs: ['a'] }])),
        Error,
        /^Graph: node 'a': a cycle \(a ← a, where a ← b: a reads b\)$/,
      );
      throwsLike(
        () => new Graph(bad([{ name: 'a', op: 'relu', inputs: ['x'] }], { y: 'b' })),
        Error,
        /^Graph: output 'y': 'b' is produced by no node and is no graph input$/,
      );
      throwsLike(
        () => new Graph(bad([{ name: 'a', op: 'concat', inputs: ['x'] }])),
        TypeError,
        /^Graph\.op: concat: attribute 'axis' is required$/,
      );
      // a refused spec takes nothing: its constant stays its scope's (freed when the scope ends), its module can go into another graph
      let t: Tensor | null = null;
      const before = noGrad(() => {
        t = tensor([1, 2, 3, 4], [4]);
        const spec = bad([
          { name: 'k', constant: t },
          { name: 'a', op: 'add', inputs: ['x', 'k'] },
          { name: 'b', op: 'gelu' as never, inputs: ['a'] },
        ]);
        throwsLike(() => new Graph(spec), TypeError, /^Graph\.op: op: expected one of/);
        return t.disposed;
      });
      expect([before, t!.disposed]).toEqual([false, true]);
      const h = new Graph();
      h.output('y', h.layer('c', other, h.input('x')));
      for (const t of [x, y]) t.dispose();
      for (const m of [g, h]) m.dispose();
    });

    it('run and forward: a wrong number of inputs or outputs, missing and unknown inputs are refused', () => {
      const g = new Graph();
      const a = g.input('a'),
        b = g.input('b');
      g.output('s', g.op('add', [a, b]));
      g.output('p', g.op('mul', [a, b]));
      const x = tensor([1, 2]),
        z = tensor([3, 4]);
      throwsLike(
        () => g.forward(x),
        Error,
        /^Graph\.forward: forward takes a graph of one input and one output, this one has inputs \(a, b\) and outputs \(s, p\); call run\(\{ … \}\)$/,
      );
      throwsLike(() => g.run({ a: x }), Error, /^Graph\.run: missing input 'b'$/);
      throwsLike(() => g.run({ a: x, b: z, c: x }), Error, /^Graph\.run: unknown input 'c' \(inputs: a, b\)$/);
      throwsLike(
        () => g.run({ a: x, b: 'z' as never }),
        TypeError,
        /^Graph\.run: inputs\.b: expected a Tensor \(see tensor\(\)\), got 'z'$/,
      );
      const out = noGrad(() => g.run({ a: x, b: z }));
      expect(Object.keys(out)).toEqual(['s', 'p']);
      expect(Array.from(out.s.toArray())).toEqual([4, 6]);
      expect(Array.from(out.p.toArray())).toEqual([3, 8]);
      const empty = new Graph();
      empty.input('x');
      throwsLike(
        () => empty.forward(x),
        Error,
        /^Graph\.forward: forward takes a graph of one input and one output, this one has inputs \(x\) and outputs \(\)/,
      );
      for (const t of [x, z, out.s, out.p]) t.dispose();
      g.dispose();
    });

    it('a node that throws midway names itself, puts back the running statistics earlier nodes moved and leaves no tensor behind', () => {
      const g = new Graph();
      const x = g.input('x');
      const h = g.layer('bn', new BatchNorm1d(4), x);
      const r = g.layer('act', new ReLU(), h);
      g.constant('w', new Parameter([3, 2], 0.5));
      g.output('y', g.op('matmul', [r, 'w']));
      const t = tensor(values(8), [2, 4]);
      const sd = g.stateDict();
      const msg = /^Graph\.forward: node 'matmul_1' \(matmul\): F\.matmul: expected a \[m, k\] and b \[k, n\], got \[2, 4\] and \[3, 2\]$/;
      throwsLike(() => g.forward(t), RangeError, msg);
      expect(g.stateDict()).toEqual(sd);
      // under noGrad nothing is recorded (a recording layer holds its op until its next forward, which lets it go): a failed run leaves no byte behind
      throwsLike(() => noGrad(() => g.forward(t)), RangeError, msg);
      const mem = memoryBytes();
      throwsLike(() => noGrad(() => g.forward(t)), RangeError, msg);
      expect(g.stateDict()).toEqual(sd);
      if (backend === 'js') expect(memoryBytes()).toBe(mem); // the js backend counts live bytes exactly
      t.dispose();
      g.dispose();
    });

    it('outputs that name an input, a constant or the same tensor twice are copies the caller owns', () => {
      const g = new Graph();
      const x = g.input('x');
      g.constant('k', tensor([5, 6]));
      const s = g.op('sub', [x, 'k']);
      g.output('same', x).output('k', 'k').output('s1', s).output('s2', s);
      const t = tensor([1, 1]);
      const out = g.run({ x: t });
      expect(out.same).not.toBe(t);
      expect(out.s1).not.toBe(out.s2);
      expect([out.same, out.k, out.s1, out.s2].map((o) => Array.from(o.toArray()))).toEqual([
        [1, 1],
        [5, 6],
        [-4, -5],
        [-4, -5],
      ]);
      for (const o of Object.values(out)) o.dispose();
      expect(Array.from(g.stateDict().k as Float32Array)).toEqual([5, 6]);
      expect(t.disposed).toBe(false);
      t.dispose();
      g.dispose();
    });

    it('a graph is a layer of another graph; a layer takes any Module', () => {
      const inner = new Graph();
      const i = inner.input('i');
      inner.output('o', inner.op('add', [inner.layer('conv', new Conv2d(2, 2, 1, { generator: new Generator(4) }), i), i]));
      const outer = new Graph();
      outer.output('y', outer.op('relu', [outer.layer('block', inner, outer.input('x'))]));
      expect(Object.keys(outer.stateDict())).toEqual(['block.conv.weight', 'block.conv.bias']);
      const x = tensor(values(8), [1, 2, 2, 2]);
      const a = noGrad(() => outer.forward(x)),
        b = noGrad(() => inner.forward(x));
      expect(Array.from(a.toArray())).toEqual(Array.from(b.toArray(), (v) => Math.max(v, 0)));
      for (const t of [x, a, b]) t.dispose();
      outer.dispose();
    });
  });
}
