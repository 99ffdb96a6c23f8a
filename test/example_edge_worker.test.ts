// The edge-worker example end to end: bundles examples/edge-worker/worker.ts, serves it with a real
// `workerd serve` on 127.0.0.1 (port 0; workerd reports the port it bound on --control-fd), and
// classifies held-out MNIST digits over HTTP as JSON and as raw f32 with both models. The MLP's
// answers must be the library's own prediction in Node for the same folded model; the ResNet's
// (?model=resnet, a PyTorch ONNX export) must be onnxruntime-node's for the same file. Bad requests
// get their 4xx with either model and leave the Worker serving. Prints the cold start and the median
// per-request latency.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backend, init, Linear, loadSafetensors, predict, Sequential, Sigmoid } from '../src/index';
import { loadMnist, PIXELS } from '../examples/mnist/data';
import { argmax, checkArchitecture, rebuildModel, softmax } from '../examples/edge-worker/architecture';
import { runOrt } from './onnx_node_helpers';

const dir = (p: string) => fileURLToPath(new URL(`../examples/edge-worker/${p}`, import.meta.url));
const WORKERD = fileURLToPath(new URL('../node_modules/.bin/workerd', import.meta.url));
const DIGITS = 20; // held-out digits sent to the Worker, each as JSON and as raw f32
// The ResNet's probabilities against onnxruntime-node's: BatchNorm folded into the convolutions here,
// applied after them there, and other summation orders, through 7 convolutions. Measured over 200
// held-out digits (2026-12-07): logits within 2.9e-6, probabilities within 7.1e-7.
const RESNET_TOL = 1e-5;

interface Prediction {
  probabilities: number[];
  class: number;
}

let proc: ChildProcess | null = null;
let base = '';
let stderr = '';
let coldStartMs = 0;
let listenMs = 0;
const expected: { label: number; class: number; probabilities: number[] }[] = [];
const expectedResnet: { class: number; probabilities: number[] }[] = [];
let pixels: Float32Array;

function f32Body(x: Float32Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(x.length * 4);
  const view = new DataView(out.buffer);
  x.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}
const digit = (i: number) => pixels.subarray(i * PIXELS, (i + 1) * PIXELS);
const asJson = (x: ArrayLike<number>) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ pixels: Array.from(x) }),
});
const asF32 = (x: Float32Array) => ({ method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: f32Body(x) });

async function post(init: RequestInit, path = '/predict'): Promise<Response> {
  return fetch(base + path, init);
}

/**
 * Starts a POST that declares `declared` bytes (or none: chunked), sends `sent` zero bytes and then
 * waits without finishing the body: only a server that refuses before reading it all can answer.
 */
function postUnfinished(declared: number | null, sent: number, path = '/predict'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${base}${path}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', ...(declared === null ? {} : { 'content-length': String(declared) }) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => {
          clearTimeout(timer);
          req.destroy();
          resolve({ status: res.statusCode!, body });
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer to an unfinished body (declared ${declared}, sent ${sent})`));
    }, 5000);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.flushHeaders();
    if (sent > 0) req.write(new Uint8Array(sent));
  });
}

/** Starts workerd on a free port; resolves with the port once it listens, rejects if it exits first. */
function startWorkerd(): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(WORKERD, ['serve', dir('config.capnp'), '--socket-addr', 'http=127.0.0.1:0', '--control-fd', '3'], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    proc = p;
    p.stdout!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    p.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    let control = '';
    p.stdio[3]!.on('data', (d: Buffer) => {
      control += d.toString();
      for (const line of control.split('\n').slice(0, -1)) {
        const msg = JSON.parse(line) as { event?: string; socket?: string; port?: number };
        if (msg.event === 'listen' && msg.socket === 'http' && msg.port) resolve(msg.port);
      }
    });
    p.on('error', reject);
    p.on('exit', (code, signal) => reject(new Error(`workerd exited (${code ?? signal}) before listening: ${stderr}`)));
  });
}

async function stopWorkerd(): Promise<void> {
  const p = proc;
  proc = null;
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const timer = setTimeout(() => p.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

beforeAll(async () => {
  // the same folded model in Node, from the same files the Worker embeds
  await init();
  const arch = checkArchitecture(JSON.parse(readFileSync(dir('model.json'), 'utf8')));
  const model = rebuildModel({ Sequential, Linear, Sigmoid }, arch);
  loadSafetensors(model, new Uint8Array(readFileSync(dir('model.safetensors'))));
  const { test } = loadMnist(); // default seed: the held-out split
  pixels = test.x.slice(0, DIGITS * PIXELS);
  const logits = predict(model, pixels, [PIXELS]);
  for (let i = 0; i < DIGITS; i++) {
    const row = logits.subarray(i * 10, i * 10 + 10);
    expected.push({ label: test.y[i]!, class: argmax(row), probabilities: softmax(row) });
  }
  model.dispose();
  // the ResNet by onnxruntime-node (native CPU) on the same file the Worker embeds, all digits in one batch
  const ort = await runOrt(new Uint8Array(readFileSync(dir('resnet.onnx'))), { input: { dims: [DIGITS, 1, 28, 28], data: pixels } });
  for (let i = 0; i < DIGITS; i++) {
    const row = ort.logits!.data.subarray(i * 10, i * 10 + 10);
    expectedResnet.push({ class: argmax(row), probabilities: softmax(row) });
  }

  execFileSync(process.execPath, [dir('build.mjs')], { stdio: 'pipe' });
  const t0 = performance.now();
  try {
    const port = await startWorkerd();
    base = `http://127.0.0.1:${port}`;
    listenMs = performance.now() - t0;
    // cold start: spawn → the first successful /predict (the model is loaded on that first request)
    for (;;) {
      const r = await post(asJson(digit(0))).catch(() => null);
      if (r?.status === 200) {
        await r.json();
        break;
      }
      if (performance.now() - t0 > 20_000)
        throw new Error(`workerd: no successful /predict within 20 s (last status ${r?.status}): ${stderr}`);
      await new Promise((res) => setTimeout(res, 10));
    }
    coldStartMs = performance.now() - t0;
  } catch (e) {
    await stopWorkerd();
    throw e;
  }
}, 40_000);

afterAll(stopWorkerd);
// if the run is torn down without afterAll, do not leave workerd behind
process.once('exit', () => {
  proc?.kill('SIGKILL');
});

describe('edge-worker example under workerd', () => {
  it('classifies held-out digits like the library does in Node, as JSON and as raw f32', async () => {
    let correct = 0;
    for (let i = 0; i < DIGITS; i++) {
      for (const req of [asJson(digit(i)), asF32(digit(i))]) {
        const r = await post(req);
        expect(r.status).toBe(200);
        expect(r.headers.get('x-backend')).toBe(backend());
        const body = (await r.json()) as Prediction;
        expect(body.class).toBe(expected[i]!.class);
        expect(body.probabilities).toHaveLength(10);
        body.probabilities.forEach((p, j) => expect(p).toBeCloseTo(expected[i]!.probabilities[j]!, 6));
        expect(body.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
        if (body.class === expected[i]!.label) correct++;
      }
    }
    expect(correct).toBeGreaterThanOrEqual(0.8 * 2 * DIGITS);
  });

  it('classifies held-out digits with ?model=resnet like onnxruntime-node does on the same ONNX file', async () => {
    let correct = 0;
    for (let i = 0; i < DIGITS; i++) {
      for (const req of [asJson(digit(i)), asF32(digit(i))]) {
        const r = await post(req, '/predict?model=resnet');
        expect(r.status).toBe(200);
        expect(r.headers.get('x-model')).toBe('resnet');
        const body = (await r.json()) as Prediction;
        expect(body.class).toBe(expectedResnet[i]!.class);
        expect(body.probabilities).toHaveLength(10);
        body.probabilities.forEach((p, j) => expect(Math.abs(p - expectedResnet[i]!.probabilities[j]!)).toBeLessThanOrEqual(RESNET_TOL));
        expect(body.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
        if (body.class === expected[i]!.label) correct++;
      }
    }
    // 96.3 % on the 2 000 held-out digits after training (examples/edge-worker/resnet.json)
    expect(correct).toBeGreaterThanOrEqual(0.9 * 2 * DIGITS);
    // the default model is still the MLP
    const r = await post(asJson(digit(0)));
    expect(r.headers.get('x-model')).toBe('mlp');
  });

  for (const query of ['', '?model=resnet']) {
    it(`answers every bad request${query && ` to ${query}`} with its 4xx and a clear error, and keeps serving`, async () => {
      const good = Array.from(digit(1));
      const withPixel = (i: number, v: string) => `{"pixels":[${good.map((p, j) => (j === i ? v : String(p))).join(',')}]}`;
      const rawWith = (i: number, v: number) => {
        const x = digit(1).slice();
        x[i] = v;
        return f32Body(x);
      };
      const json = (body: BodyInit) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const raw = (body: BodyInit) => ({ method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body });
      const cases: [string, RequestInit, number, RegExp, string?][] = [
        ['JSON with 783 pixels', json(JSON.stringify({ pixels: good.slice(1) })), 400, /pixels: expected 784 values \(28×28\), got 783/],
        ['raw f32 one byte short', raw(f32Body(digit(1)).subarray(1)), 400, /expected 3136 bytes \(784 little-endian f32\), got 3135/],
        ['raw f32 empty', raw(new Uint8Array(0)), 400, /expected 3136 bytes .* got 0/],
        ['a string pixel', json(withPixel(5, '"0.5"')), 400, /pixels\[5\]: expected a number, got string/],
        ['a null pixel', json(withPixel(6, 'null')), 400, /pixels\[6\]: expected a number, got null/],
        ['an infinite JSON pixel', json(withPixel(7, '1e999')), 400, /pixels\[7\]: expected a finite number in \[0, 1\], got Infinity/],
        ['a NaN f32 pixel', raw(rawWith(8, NaN)), 400, /pixels\[8\]: expected a finite number in \[0, 1\], got NaN/],
        ['an infinite f32 pixel', raw(rawWith(9, -Infinity)), 400, /pixels\[9\]: expected a finite number .* got -Infinity/],
        ['a JSON pixel above 1', json(withPixel(10, '1.5')), 400, /pixels\[10\]: expected a value in \[0, 1\], got 1.5/],
        ['an f32 pixel below 0', raw(rawWith(11, -0.25)), 400, /pixels\[11\]: expected a value in \[0, 1\], got -0.25/],
        ['malformed JSON', json('{"pixels": [0.1, 0.2'), 400, /^malformed JSON: /],
        ['JSON that is not an object', json('[0.1, 0.2]'), 400, /expected an object \{"pixels": \[784 numbers in 0\.\.1\]\}/],
        ['JSON without pixels', json('{"pixel": []}'), 400, /expected an object \{"pixels"/],
        ['JSON that is not UTF-8', json(new Uint8Array([0x7b, 0xff, 0x7d])), 400, /^malformed JSON: /],
        [
          'Content-Type text/plain',
          { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ pixels: good }) },
          415,
          /unsupported Content-Type 'text\/plain'/,
        ],
        ['no Content-Type', { method: 'POST', body: new Uint8Array(3136) }, 415, /unsupported Content-Type ''/],
        ['GET /predict', { method: 'GET' }, 405, /method GET not allowed: POST \/predict/, 'POST'],
        [
          'PUT /predict',
          { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' },
          405,
          /method PUT not allowed/,
          'POST',
        ],
        ['POST /', asJson(good), 404, /no route \/: POST \/predict/],
        ['POST /predict/extra', asJson(good), 404, /no route \/predict\/extra/],
        ['POST /predict?model=vgg', asJson(good), 400, /^model: expected one of 'mlp', 'resnet', got 'vgg'$/],
        ['POST /predict?model=', asJson(good), 400, /^model: expected one of 'mlp', 'resnet', got ''$/],
      ];
      for (const [name, req, status, message, allow] of cases) {
        const path = name.startsWith('POST /') ? name.slice(5) + (name.includes('?') ? '' : query) : `/predict${query}`;
        const r = await post(req, path).catch((e: Error) => {
          throw new Error(`${name}: ${e.message}`, { cause: e });
        });
        const body = (await r.json()) as { error?: string };
        expect({ name, status: r.status }).toEqual({ name, status });
        expect(r.headers.get('content-type')).toBe('application/json');
        expect(body.error, name).toMatch(message);
        if (allow) expect(r.headers.get('allow')).toBe(allow);
      }
      // too large: refused from the Content-Length header alone (no byte sent), or once a chunked body
      // passes 64 KiB (80 KiB sent, the body never finished)
      for (const [declared, sent, message] of [
        [64 * 1024 + 1, 0, /body too large: 65537 bytes, at most 65536/],
        [null, 80 * 1024, /body too large: more than 65536 bytes/],
      ] as const) {
        const r = await postUnfinished(declared, sent, `/predict${query}`);
        expect(r.status, `declared ${declared}`).toBe(413);
        expect((JSON.parse(r.body) as { error: string }).error).toMatch(message);
      }
      // still serving, with the same answer as before
      const r = await post(asF32(digit(1)), `/predict${query}`);
      expect(r.status).toBe(200);
      expect(((await r.json()) as Prediction).class).toBe((query ? expectedResnet : expected)[1]!.class);
    });
  }

  it('reports the cold start and the median latency of a warm /predict, per model', async () => {
    const medians: Record<string, number> = {};
    for (const [query, want] of [
      ['', expected],
      ['?model=resnet', expectedResnet],
    ] as const) {
      const times: number[] = [];
      for (let i = 0; i < 50; i++) {
        const req = i % 2 === 0 ? asJson(digit(i % DIGITS)) : asF32(digit(i % DIGITS));
        const t0 = performance.now();
        const r = await post(req, `/predict${query}`);
        const body = (await r.json()) as Prediction;
        times.push(performance.now() - t0);
        expect(body.class).toBe(want[i % DIGITS]!.class);
      }
      times.sort((a, b) => a - b);
      medians[query || 'mlp'] = (times[24]! + times[25]!) / 2;
    }
    console.log(
      `edge-worker under workerd: cold start ${coldStartMs.toFixed(0)} ms (spawn → first /predict; listening after ${listenMs.toFixed(0)} ms), ` +
        `warm /predict median over 50 requests: MLP ${medians.mlp!.toFixed(2)} ms, ResNet ${medians['?model=resnet']!.toFixed(2)} ms`,
    );
    expect(coldStartMs).toBeGreaterThan(0);
    for (const m of Object.values(medians)) expect(m).toBeLessThan(100);
  });
});
