// The browser playground (examples/playground/) end to end: build it, serve it on a free port,
// open it in headless Chromium, train, wait for the BN model's held-out accuracy, draw a '1' and
// read the prediction; then choose an .onnx file (the edge Worker's PyTorch ResNet): the digit's
// probabilities must be onnxruntime-node's for the same pixels; models that take no [N, 1, 28, 28]
// digit or give no 10 classes, and a file that is no ONNX, are refused with their message. UPDATE_SCREENSHOT=1 writes docs/img/playground.png (else a temp file).
// Node only: under vitest.browser.config.ts (which includes test/**) it is skipped.
import { describe, expect, it } from 'vitest';

const inNode = typeof window === 'undefined';
const CHROMIUM = (inNode && process.env.CHROMIUM_PATH) || '/usr/bin/chromium';
/** Held-out accuracy (%) the BN model must pass; it is reached in a few seconds at lr 0.5. */
const TARGET = 85;

// computed specifiers: the browser run never resolves these
const load = <T>(spec: string): Promise<T> => import(/* @vite-ignore */ spec) as Promise<T>;

describe.skipIf(!inNode)('browser playground', () => {
  it('trains with and without BN in a worker and classifies a drawn digit', async () => {
    const t0 = Date.now();
    const { buildPlayground } = await load<{ buildPlayground(o?: { log?: boolean }): Promise<void> }>('../examples/playground/build.mjs');
    const { startServer } = await load<{ startServer(port: number): Promise<{ server: import('node:http').Server; url: string }> }>(
      '../examples/playground/serve.mjs',
    );
    const { chromium } = await load<typeof import('playwright-core')>('playwright-core');
    const os = await load<typeof import('node:os')>('node:os');
    const path = await load<typeof import('node:path')>('node:path');

    await buildPlayground({ log: false });
    const { server, url } = await startServer(0);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(url);
      await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('ready'), null, { timeout: 15_000 });
      const tReady = Date.now();
      await page.click('#train');
      await page.waitForFunction((target) => parseFloat(document.getElementById('acc-bn')!.textContent!) >= target, TARGET, {
        timeout: 25_000,
        polling: 100,
      });
      const tTrained = Date.now();
      const stepsPerSec = Number(await page.textContent('#steps-per-s'));
      expect(stepsPerSec).toBeGreaterThan(0);
      const plain = await page.textContent('#acc-plain');
      expect(plain).toMatch(/%|diverged/);

      // a vertical stroke, like a '1'
      const box = (await page.locator('#draw').boundingBox())!;
      const cx = box.x + box.width / 2;
      await page.mouse.move(cx, box.y + box.height * 0.2);
      await page.mouse.down();
      await page.mouse.move(cx, box.y + box.height * 0.8, { steps: 20 });
      await page.mouse.up();
      await page.waitForSelector('#prediction .prob', { timeout: 10_000 });
      const probs = (await page.locator('#prediction .prob').allTextContents()).map((t) => parseFloat(t) / 100);
      expect(probs).toHaveLength(10);
      expect(probs.every((p) => p >= 0 && p <= 1)).toBe(true);
      expect(Math.abs(probs.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(0.01); // shown to 0.1 %
      const cls = Number(await page.textContent('#predicted-class'));
      expect(Number.isInteger(cls) && cls >= 0 && cls <= 9).toBe(true);
      expect(probs[cls]).toBe(Math.max(...probs));

      // an .onnx classifier chosen with the file input: the PyTorch ResNet of examples/edge-worker
      const fs = await load<typeof import('node:fs')>('node:fs');
      const { runOrt } = await load<typeof import('./onnx_node_helpers')>('./onnx_node_helpers');
      const resnet = fs.readFileSync(path.resolve('examples/edge-worker/resnet.onnx'));
      await page.setInputFiles('#onnx-file', { name: 'resnet.onnx', mimeType: 'application/octet-stream', buffer: resnet });
      await page.waitForSelector('#prediction[data-model="resnet.onnx"] .prob', { timeout: 15_000 });
      expect(await page.textContent('#onnx-status')).toBe('loaded resnet.onnx');
      expect(await page.textContent('#classifier')).toBe('classified by resnet.onnx');
      const shown = (await page.locator('#prediction .prob').allTextContents()).map((t) => parseFloat(t) / 100);
      const pixels = Float32Array.from(JSON.parse((await page.getAttribute('#draw', 'data-pixels'))!) as number[]);
      const logits = (await runOrt(new Uint8Array(resnet), { input: { dims: [1, 1, 28, 28], data: pixels } })).logits!.data;
      const exp = Array.from(logits, (v) => Math.exp(v - Math.max(...logits)));
      const want = exp.map((v) => v / exp.reduce((a, b) => a + b, 0));
      // shown to 0.1 %: at most 0.05 % from rounding, the rest is the f32 difference (far smaller)
      shown.forEach((p, d) => expect(Math.abs(p - want[d]!), `digit ${d}`).toBeLessThanOrEqual(0.0006));
      const onnxCls = Number(await page.textContent('#predicted-class'));
      expect(onnxCls).toBe(want.indexOf(Math.max(...want)));

      // the picture shows the loaded model, before the refusals below replace its status line
      const update = process.env.UPDATE_SCREENSHOT === '1';
      // for the README's picture, longer curves (about 3 s more)
      if (update) await page.waitForFunction(() => Number(document.getElementById('step')!.textContent) >= 1200, null, { timeout: 30_000 });
      await page.waitForTimeout(300); // let the curves redraw once more
      const shot = update ? path.resolve('docs/img/playground.png') : path.join(os.tmpdir(), 'batchnorm-wasm-playground.png'); // one file, overwritten each run
      await page.screenshot({ path: shot, fullPage: true });

      // models that do not fit, made here with the library and toOnnx, and bytes that are no ONNX
      const lib = await load<typeof import('../src/index')>('../src/index');
      const { toOnnx } = await load<typeof import('../src/onnx/index')>('../src/onnx/index');
      await lib.init();
      const small = new lib.Sequential(new lib.Flatten(), new lib.Linear(144, 10));
      const five = new lib.Sequential(new lib.Flatten(), new lib.Linear(784, 5));
      const refusals: [string, Uint8Array, RegExp][] = [
        [
          'small.onnx',
          toOnnx(small, { inputShapes: { input: [1, 1, 12, 12] } }),
          /input '.*': expected shape \[N, 1, 28, 28\] .*got \[1, 1, 12, 12\]/,
        ],
        [
          'five.onnx',
          toOnnx(five, { inputShapes: { input: [1, 1, 28, 28] } }),
          /output '.*': expected 10 class scores per digit \(\[1, 10\]\), got \[1, 5\]/,
        ],
        ['text.onnx', new TextEncoder().encode('not a model'), /parseOnnx: bytes: expected an ONNX ModelProto/],
      ];
      small.dispose();
      five.dispose();
      for (const [name, bytes, message] of refusals) {
        await page.setInputFiles('#onnx-file', { name, mimeType: 'application/octet-stream', buffer: Buffer.from(bytes) });
        await page.waitForFunction((n) => document.getElementById('onnx-status')!.textContent!.startsWith(`${n}: `), name, {
          timeout: 10_000,
        });
        const status = (await page.textContent('#onnx-status'))!;
        expect(status.slice(name.length + 2), name).toMatch(message);
        expect(await page.getAttribute('#onnx-status', 'class')).toBe('error');
      }
      // the ResNet stays the classifier
      expect(await page.textContent('#classifier')).toBe('classified by resnet.onnx');

      expect(errors).toEqual([]);
      console.log(
        `playground: ready ${tReady - t0} ms, BN ≥ ${TARGET} % after ${tTrained - tReady} ms of training ` +
          `(${stepsPerSec} steps/s, no BN ${plain}), drew a '1' → ${cls} (${(probs[cls]! * 100).toFixed(1)} %), ` +
          `resnet.onnx → ${onnxCls} (${(shown[onnxCls]! * 100).toFixed(1)} %), screenshot ${shot}`,
      );
    } finally {
      await browser.close();
      await new Promise((r) => server.close(r));
    }
  }, 120_000);
});
