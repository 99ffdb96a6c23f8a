// A Cloudflare Worker (workerd) that classifies 28×28 digits with one of two models:
//   ?model=mlp (default)  the folded MNIST MLP (model.safetensors, model.json)
//   ?model=resnet         a small ResNet with BatchNorm trained and exported by PyTorch (resnet.onnx)
//   POST /predict[?model=…]  Content-Type: application/json          {"pixels": [784 numbers in 0..1]}
//                            Content-Type: application/octet-stream  784 little-endian f32 (3 136 bytes)
//   → 200 {"probabilities": [10 numbers], "class": k}; a bad request gets a 4xx {"error": "…"}.
// The library comes in as a user of the package imports it: under the `workerd` condition
// `batchnorm-wasm` is build/workerd.js (see package.json "exports"), whose two .wasm builds are
// static imports that workerd hands over as compiled WebAssembly.Modules, and `batchnorm-wasm/onnx`
// is build/onnx.js; the weights and the ONNX file are `data` modules (ArrayBuffers) and model.json
// is inlined by esbuild. Bundle with build.mjs.
import { backend, init, Linear, loadSafetensors, noGrad, predict, Sequential, Sigmoid, tensor, type Graph } from 'batchnorm-wasm';
import { loadOnnx } from 'batchnorm-wasm/onnx';
import weights from './model.safetensors';
import resnetOnnx from './resnet.onnx';
import modelJson from './model.json';
import { argmax, checkArchitecture, rebuildModel, softmax } from './architecture';

const arch = checkArchitecture(modelJson);
const INPUTS = arch.layers[0]!;
// Largest request body read, in bytes; a longer one is refused with 413. (Not exported: every
// named export of a Worker's main module must be a handler.)
const MAX_BODY = 64 * 1024;
const MODELS = ['mlp', 'resnet'];

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

// Each model is built once per isolate, on its first request; a failed load is retried next time.
function once<T>(load: () => Promise<T>): () => Promise<T> {
  let ready: Promise<T> | null = null;
  return () => {
    if (ready === null) {
      const loading = load();
      loading.catch(() => {
        if (ready === loading) ready = null;
      });
      ready = loading;
    }
    return ready;
  };
}

// one init() for both models: a second call would start a new backend and retire the first one's layers
const initOnce = once(() => init());

const mlp = once(async () => {
  await initOnce();
  const m = rebuildModel({ Sequential, Linear, Sigmoid }, arch);
  loadSafetensors(m, new Uint8Array(weights));
  return m;
});

// loadOnnx returns the graph in eval mode with each BatchNorm folded into the convolution before it
const resnet = once(async () => {
  await initOnce();
  return loadOnnx(new Uint8Array(resnetOnnx));
});

/** The ResNet's logits for one digit; the tensors made here are freed before it returns. */
function resnetLogits(g: Graph, x: Float32Array): Float32Array {
  const input = tensor(x, [1, 1, 28, 28]);
  try {
    const y = noGrad(() => g.forward(input));
    try {
      return y.toArray();
    } finally {
      y.dispose();
    }
  } finally {
    input.dispose();
  }
}

/** The body, or a 413 as soon as it is known to exceed MAX_BODY (from Content-Length or while streaming). */
async function readBody(request: Request): Promise<Uint8Array> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > MAX_BODY) {
    throw new HttpError(413, `body too large: ${declared} bytes, at most ${MAX_BODY}`);
  }
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_BODY) {
      await reader.cancel();
      throw new HttpError(413, `body too large: more than ${MAX_BODY} bytes`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}

function checkPixel(v: number, i: number): void {
  if (!Number.isFinite(v)) throw new HttpError(400, `pixels[${i}]: expected a finite number in [0, 1], got ${v}`);
  if (v < 0 || v > 1) throw new HttpError(400, `pixels[${i}]: expected a value in [0, 1], got ${v}`);
}

function fromJson(body: Uint8Array): Float32Array {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (e) {
    throw new HttpError(400, `malformed JSON: ${(e as Error).message}`);
  }
  const pixels = (parsed as { pixels?: unknown } | null)?.pixels;
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || !Array.isArray(pixels)) {
    throw new HttpError(400, `expected an object {"pixels": [${INPUTS} numbers in 0..1]}`);
  }
  if (pixels.length !== INPUTS) throw new HttpError(400, `pixels: expected ${INPUTS} values (28×28), got ${pixels.length}`);
  const x = new Float32Array(INPUTS);
  for (let i = 0; i < INPUTS; i++) {
    const v: unknown = pixels[i];
    if (typeof v !== 'number') throw new HttpError(400, `pixels[${i}]: expected a number, got ${v === null ? 'null' : typeof v}`);
    checkPixel(v, i);
    x[i] = v;
  }
  return x;
}

function fromF32(body: Uint8Array): Float32Array {
  if (body.byteLength !== INPUTS * 4) {
    throw new HttpError(400, `expected ${INPUTS * 4} bytes (${INPUTS} little-endian f32), got ${body.byteLength}`);
  }
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const x = new Float32Array(INPUTS);
  for (let i = 0; i < INPUTS; i++) {
    x[i] = view.getFloat32(i * 4, true);
    checkPixel(x[i]!, i);
  }
  return x;
}

async function handlePredict(request: Request, name: string): Promise<Response> {
  const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json' && type !== 'application/octet-stream') {
    throw new HttpError(415, `unsupported Content-Type '${type}': send application/json or application/octet-stream`);
  }
  const body = await readBody(request);
  const x = type === 'application/json' ? fromJson(body) : fromF32(body);
  const logits = name === 'resnet' ? resnetLogits(await resnet(), x) : predict(await mlp(), x, [INPUTS]);
  const probabilities = softmax(logits);
  return json(200, { probabilities, class: argmax(logits) }, { 'x-backend': backend(), 'x-model': name });
}

export default {
  async fetch(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    try {
      if (pathname !== '/predict') throw new HttpError(404, `no route ${pathname}: POST /predict`);
      if (request.method !== 'POST') throw new HttpError(405, `method ${request.method} not allowed: POST /predict`, { allow: 'POST' });
      const name = new URL(request.url).searchParams.get('model') ?? 'mlp';
      if (!MODELS.includes(name))
        throw new HttpError(400, `model: expected one of ${MODELS.map((m) => `'${m}'`).join(', ')}, got '${name}'`);
      return await handlePredict(request, name);
    } catch (e) {
      if (e instanceof HttpError) return json(e.status, { error: e.message }, e.headers);
      console.error(e);
      return json(500, { error: `internal error: ${(e as Error).message}` });
    }
  },
};
