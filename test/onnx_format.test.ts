// The ONNX format layer on models built in memory (Node and browser): hostile files refused with
// their message before any tensor is copied, folding's refusals, and encode → parse round trips.
import { describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { encodeOnnx, foldOnnx, parseOnnx, parseOnnxTensor } from '../src/onnx/index';
import {
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  StringStringEntryProtoSchema,
  TensorProto_DataLocation,
  TensorProto_DataType,
} from '../src/onnx/onnx_pb';
import { encodeProto, floatTensor, floatValue, modelProto, node } from './onnx_helpers';

// Conv (weights w, bias b) → Relu: the smallest model with initializers.
function convRelu() {
  return modelProto({
    nodes: [
      node('Conv', ['x', 'w', 'b'], ['c'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv'),
      node('Relu', ['c'], ['y'], {}, 'relu'),
    ],
    initializers: [
      floatTensor(
        'w',
        [2, 1, 3, 3],
        Array.from({ length: 18 }, (_, i) => i / 7 - 1),
      ),
      floatTensor('b', [2], [0.5, -0.25]),
    ],
    inputs: [floatValue('x', [1, 1, 4, 4])],
    outputs: [floatValue('y', [1, 2, 4, 4])],
  });
}

describe('parseOnnx refuses hostile files', () => {
  it('accepts the well-formed model', () => {
    const m = parseOnnx(encodeProto(convRelu()));
    expect(m.nodes.map((n) => n.op)).toEqual(['Conv', 'Relu']);
    expect(m.initializers.get('b')!.data).toEqual(Float32Array.of(0.5, -0.25));
  });

  it('a truncated protobuf', () => {
    const bytes = encodeProto(convRelu());
    for (const cut of [1, 7, bytes.length >> 1, bytes.length - 1])
      expect(() => parseOnnx(bytes.subarray(0, cut))).toThrow(
        /^parseOnnx: bytes: expected an ONNX ModelProto, got a truncated or malformed protobuf/,
      );
  });

  it('not bytes, or bytes with no graph', () => {
    expect(() => parseOnnx([1, 2] as unknown as Uint8Array)).toThrow('parseOnnx: bytes: expected a Uint8Array, got object');
    expect(() => parseOnnx(new Uint8Array(0))).toThrow('parseOnnx: bytes: expected an ONNX model with a graph, got none');
  });

  it('tensor data shorter than its dims say', () => {
    const m = convRelu();
    m.graph!.initializer[0].rawData = m.graph!.initializer[0].rawData.subarray(0, 70);
    expect(() => parseOnnx(encodeProto(m))).toThrow(
      "parseOnnx: initializer 'w': expected 18 float32 elements for dims [2, 1, 3, 3], got 70 bytes of raw_data",
    );
  });

  it('dims that multiply past 2^32, and negative dims, before any allocation', () => {
    const m = convRelu();
    // 2^20 · 2^20 float32 would be 4 TiB: had it been allocated first the error would be a RangeError
    m.graph!.initializer[0].dims = [1n << 20n, 1n << 20n];
    expect(() => parseOnnx(encodeProto(m))).toThrow(
      "parseOnnx: initializer 'w': expected at most 2^32 elements, got dims [1048576, 1048576]",
    );
    m.graph!.initializer[0].dims = [2n, -9n];
    expect(() => parseOnnx(encodeProto(m))).toThrow("parseOnnx: initializer 'w': expected dims ≥ 0, got [2, -9]");
  });

  it('external data references (no file access)', () => {
    const m = convRelu();
    const w = m.graph!.initializer[0];
    w.rawData = new Uint8Array(0);
    w.dataLocation = TensorProto_DataLocation.EXTERNAL;
    w.externalData = [create(StringStringEntryProtoSchema, { key: 'location', value: '../../etc/passwd' })];
    expect(() => parseOnnx(encodeProto(m))).toThrow(
      "parseOnnx: initializer 'w': expected its data inside the file, got a reference to external data '../../etc/passwd' (refused: no file access)",
    );
  });

  it('float16 and double tensors', () => {
    for (const [type, name] of [
      [TensorProto_DataType.FLOAT16, 'FLOAT16'],
      [TensorProto_DataType.DOUBLE, 'DOUBLE'],
    ] as const) {
      const m = convRelu();
      m.graph!.initializer[1].dataType = type;
      expect(() => parseOnnx(encodeProto(m))).toThrow(`parseOnnx: initializer 'b': expected data type FLOAT or INT64, got ${name}`);
    }
  });

  it('a cycle', () => {
    const m = convRelu();
    m.graph!.node[0].input[0] = 'y'; // conv reads relu's output
    expect(() => parseOnnx(encodeProto(m))).toThrow(
      "parseOnnx: node 'conv' (Conv): expected an acyclic graph, got a cycle through this node",
    );
  });

  it('dangling names, and a value defined twice', () => {
    const m = convRelu();
    m.graph!.node[1].input[0] = 'nowhere';
    expect(() => parseOnnx(encodeProto(m))).toThrow(
      "parseOnnx: node 'relu' (Relu): input 'nowhere': expected a graph input, initializer or node output, got a dangling name",
    );
    const o = convRelu();
    o.graph!.output[0].name = 'z';
    expect(() => parseOnnx(encodeProto(o))).toThrow(
      "parseOnnx: graph output 'z': expected a value the graph computes, got a dangling name",
    );
    const d = convRelu();
    d.graph!.node[1].output[0] = 'c';
    expect(() => parseOnnx(encodeProto(d))).toThrow(
      "parseOnnx: node 'relu' (Relu): output 'c': expected a new name, got one already defined",
    );
  });

  it('unsupported operators, domains, opsets and attribute types', () => {
    const m = convRelu();
    m.graph!.node[1].opType = 'LSTM';
    expect(() => parseOnnx(encodeProto(m))).toThrow(/^parseOnnx: node 'relu' \(LSTM\): unsupported operator \(supported: Conv, /);
    const d = convRelu();
    d.graph!.node[1].domain = 'com.microsoft';
    expect(() => parseOnnx(encodeProto(d))).toThrow(
      "parseOnnx: node 'relu' (Relu): expected the default ONNX domain, got domain 'com.microsoft'",
    );
    for (const v of [10, 22]) {
      const o = convRelu();
      o.opsetImport[0].version = BigInt(v);
      expect(() => parseOnnx(encodeProto(o))).toThrow(`parseOnnx: opset_import: expected opset 11–21, got ${v}`);
    }
    const g = convRelu();
    g.graph!.node[1].attribute.push(
      create(AttributeProtoSchema, { name: 'body', type: AttributeProto_AttributeType.GRAPH, g: convRelu().graph }),
    );
    expect(() => parseOnnx(encodeProto(g))).toThrow(
      "parseOnnx: node 'relu' (Relu): attribute body: expected a float, int, string, tensor or list of them, got type GRAPH",
    );
  });

  it('a malformed TensorProto file', () => {
    expect(() => parseOnnxTensor(Uint8Array.of(0x0a, 0xff))).toThrow(
      /^parseOnnxTensor: bytes: expected a TensorProto, got a malformed protobuf/,
    );
  });
});

describe('foldOnnx and encodeOnnx', () => {
  it('a Reshape whose shape is computed is refused, naming the node', () => {
    const m = modelProto({
      nodes: [node('Reshape', ['x', 's'], ['y'], {}, 'reshape')],
      inputs: [floatValue('x', [2, 3]), floatValue('s', [2])],
      outputs: [floatValue('y', [3, 2])],
    });
    expect(() => foldOnnx(parseOnnx(encodeProto(m)))).toThrow(
      "foldOnnx: node 'reshape' (Reshape): input shape 's': expected a constant, got a computed value",
    );
  });

  it('input shapes of the wrong rank', () => {
    expect(() => foldOnnx(parseOnnx(encodeProto(convRelu())), { x: [1, 4, 4] })).toThrow(
      'foldOnnx: inputShapes.x: expected rank 4, got [1, 4, 4]',
    );
  });

  it('an unfolded model below opset 13 is not re-encoded', () => {
    const m = convRelu();
    m.opsetImport[0].version = 11n;
    expect(() => encodeOnnx(parseOnnx(encodeProto(m)))).toThrow(
      'encodeOnnx: model: expected opset ≥ 13 or a folded model (foldOnnx), got an unfolded model of opset 11',
    );
  });

  it('encode → parse → fold gives back the folded model: nodes, attributes, shapes and weights', () => {
    const m = modelProto({
      nodes: [
        node('Conv', ['x', 'w', 'b'], ['c'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [2, 2] }, 'conv'),
        node('Clip', ['c', 'lo', 'hi'], ['r'], {}, 'clip'),
        node('Shape', ['r'], ['s'], {}, 'shape'),
        node('Gather', ['s', 'zero'], ['n'], { axis: 0 }, 'gather'),
        node('Unsqueeze', ['n', 'axes'], ['n1'], {}, 'unsqueeze'),
        node('Concat', ['n1', 'minus1'], ['target'], { axis: 0 }, 'concat'),
        node('Reshape', ['r', 'target'], ['flat'], {}, 'reshape'),
        node('Softmax', ['flat'], ['y'], { axis: -1 }, 'softmax'),
      ],
      initializers: [
        floatTensor(
          'w',
          [2, 1, 3, 3],
          Array.from({ length: 18 }, (_, i) => i / 7 - 1),
        ),
        floatTensor('b', [2], [0.5, -0.25]),
        floatTensor('lo', [], [0]),
        floatTensor('hi', [], [6]),
        { ...floatTensor('zero', [], []), dataType: TensorProto_DataType.INT64, rawData: new Uint8Array(8) },
        { ...floatTensor('axes', [1], []), dataType: TensorProto_DataType.INT64, rawData: new Uint8Array(8) },
        { ...floatTensor('minus1', [1], []), dataType: TensorProto_DataType.INT64, rawData: new Uint8Array(8).fill(255) },
      ],
      inputs: [floatValue('x', [3, 1, 5, 5])],
      outputs: [floatValue('y', [3, 18])],
    });
    const folded = foldOnnx(parseOnnx(encodeProto(m)));
    expect(folded.nodes.map((n) => n.op)).toEqual(['Conv', 'Clip', 'Reshape', 'Softmax']);
    expect(folded.nodes[1].attrs).toEqual({ min: { type: 'float', value: 0 }, max: { type: 'float', value: 6 } });
    expect(folded.nodes[2].attrs.shape).toEqual({ type: 'ints', value: [3, -1] });
    expect(folded.shapes.get('r')).toEqual([3, 2, 3, 3]);
    expect(folded.shapes.get('y')).toEqual([3, 18]);
    expect([...folded.initializers.keys()]).toEqual(['w', 'b']);
    const again = foldOnnx(parseOnnx(encodeOnnx(folded)));
    expect(again.opset).toBe(17);
    expect(again.nodes.map((n) => [n.op, n.inputs.length, n.attrs])).toEqual(folded.nodes.map((n) => [n.op, n.inputs.length, n.attrs]));
    expect(again.shapes).toEqual(folded.shapes);
    for (const [k, t] of folded.initializers) expect(again.initializers.get(k)).toEqual(t);
  });
});

describe('foldOnnx: Identity of a constant', () => {
  it("becomes an initializer of its own (torch.onnx.export's merged equal initializers)", () => {
    const m = modelProto({
      nodes: [
        node('Identity', ['w'], ['w2'], {}, 'alias'),
        node('Add', ['x', 'w'], ['s'], {}, 'add'),
        node('Mul', ['s', 'w2'], ['y'], {}, 'mul'),
      ],
      initializers: [floatTensor('w', [2], [3, -1])],
      inputs: [floatValue('x', [2])],
      outputs: [floatValue('y', [2])],
    });
    const folded = foldOnnx(parseOnnx(encodeProto(m)));
    expect(folded.nodes.map((n) => n.op)).toEqual(['Add', 'Mul']);
    expect(folded.initializers.get('w2')!.data).toEqual(Float32Array.of(3, -1));
    expect(folded.initializers.get('w2')!.data).not.toBe(folded.initializers.get('w')!.data);
  });
});

describe('parseOnnx checks each node against its operator', () => {
  it('input counts, unknown attributes and attribute types', () => {
    const few = convRelu();
    few.graph!.node[0].input = ['x'];
    expect(() => parseOnnx(encodeProto(few))).toThrow("parseOnnx: node 'conv' (Conv): expected 2–3 inputs, got 1");
    const unknown = convRelu();
    unknown.graph!.node[1].attribute.push(
      create(AttributeProtoSchema, { name: 'alpha', type: AttributeProto_AttributeType.FLOAT, f: 0.1 }),
    );
    expect(() => parseOnnx(encodeProto(unknown))).toThrow(
      "parseOnnx: node 'relu' (Relu): attribute alpha: expected no attributes, got an unknown attribute",
    );
    const typed = convRelu();
    typed.graph!.node[0].attribute[0].type = AttributeProto_AttributeType.FLOATS;
    expect(() => parseOnnx(encodeProto(typed))).toThrow(
      "parseOnnx: node 'conv' (Conv): attribute kernel_shape: expected type ints, got floats",
    );
  });
});

describe('parseOnnx: nesting', () => {
  it("graphs nested deeper than the decoder's recursion limit (a stack-exhaustion attempt) are refused", () => {
    // ModelProto.graph (7) → GraphProto.node (1) → NodeProto.attribute (5) → AttributeProto.g (6) → …
    const wrap = (tag: number, inner: Uint8Array): Uint8Array => {
      const len: number[] = [];
      for (let n = inner.length; ; n >>>= 7) {
        if (n < 0x80) {
          len.push(n);
          break;
        }
        len.push((n & 0x7f) | 0x80);
      }
      const out = new Uint8Array(1 + len.length + inner.length);
      out.set([tag, ...len]);
      out.set(inner, 1 + len.length);
      return out;
    };
    let graph: Uint8Array = new Uint8Array(0);
    for (let i = 0; i < 500; i++) graph = wrap(0x0a, wrap(0x2a, wrap(0x32, graph)));
    expect(() => parseOnnx(wrap(0x3a, graph))).toThrow(
      /^parseOnnx: bytes: expected an ONNX ModelProto, got a truncated or malformed protobuf \(.*recursion depth/,
    );
  });
});
