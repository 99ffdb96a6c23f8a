// A Cloudflare Worker (workerd) that classifies 28×28 digits with the folded MNIST MLP.
//   POST /predict  Content-Type: application/json          {"pixels": [784 numbers in 0..1]}
//                  Content-Type: application/octet-stream  784 little-endian f32 (3 136 bytes)
//   → 200 {"probabilities": [10 numbers], "class": k}; a bad request gets a 4xx {"error": "…"}.
// The library comes in as a user of the package imports it: under the `workerd` condition
// `batchnorm-wasm` is build/workerd.js (see package.json "exports"), whose two .wasm builds are
// static imports that workerd hands over as compiled WebAssembly.Modules; the weights are a `data`
// module (an ArrayBuffer) and model.json is inlined by esbuild. Bundle with build.mjs.
import { backend, init, Linear, loadSafetensors, predict, Sequential, Sigmoid } from 'batchnorm-wasm';
import weights from './model.safetensors';
import modelJson from './model.json';
import { argmax, checkArchitecture, rebuildModel, softmax } from './architecture';

const arch = checkArchitecture(modelJson);
const INPUTS = arch.layers[0]!;
// Largest request body read, in bytes; a longer one is refused with 413. (Not exported: every
// named export of a Worker's main module must be a handler.)
const MAX_BODY = 64 * 1024;

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

// The model is built once per isolate, on the first request; a failed load is retried next time.
let ready: Promise<Sequential> | null = null;
function model(): Promise<Sequential> {
  if (ready === null) {
    const loading = (async () => {
      await init();
      const m = rebuildModel({ Sequential, Linear, Sigmoid }, arch);
      loadSafetensors(m, new Uint8Array(weights));
      return m;
    })();
    loading.catch(() => {
      if (ready === loading) ready = null;
    });
    ready = loading;
  }
  return ready;
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

async function handlePredict(request: Request): Promise<Response> {
  const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json' && type !== 'application/octet-stream') {
    throw new HttpError(415, `unsupported Content-Type '${type}': send application/json or application/octet-stream`);
  }
  const body = await readBody(request);
  const x = type === 'application/json' ? fromJson(body) : fromF32(body);
  const m = await model();
  const logits = predict(m, x, [INPUTS]);
  const probabilities = softmax(logits);
  return json(200, { probabilities, class: argmax(logits) }, { 'x-backend': backend() });
}

export default {
  async fetch(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    try {
      if (pathname !== '/predict') throw new HttpError(404, `no route ${pathname}: POST /predict`);
      if (request.method !== 'POST') throw new HttpError(405, `method ${request.method} not allowed: POST /predict`, { allow: 'POST' });
      return await handlePredict(request);
    } catch (e) {
      if (e instanceof HttpError) return json(e.status, { error: e.message }, e.headers);
      console.error(e);
      return json(500, { error: `internal error: ${(e as Error).message}` });
    }
  },
};
