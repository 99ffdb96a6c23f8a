// The browser playground (examples/playground/) end to end: build it, serve it on a free port,
// open it in headless Chromium, train, wait for the BN model's held-out accuracy, draw a '1' and
// read the prediction. UPDATE_SCREENSHOT=1 writes docs/img/playground.png (else a temp file).
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
      const update = process.env.UPDATE_SCREENSHOT === '1';
      // for the README's picture, longer curves (about 3 s more)
      if (update) await page.waitForFunction(() => Number(document.getElementById('step')!.textContent) >= 1200, null, { timeout: 30_000 });
      await page.waitForTimeout(300); // let the curves redraw once more
      const shot = update ? path.resolve('docs/img/playground.png') : path.join(os.tmpdir(), 'batchnorm-wasm-playground.png'); // one file, overwritten each run
      await page.screenshot({ path: shot, fullPage: true });
      expect(errors).toEqual([]);
      console.log(
        `playground: ready ${tReady - t0} ms, BN ≥ ${TARGET} % after ${tTrained - tReady} ms of training ` +
          `(${stepsPerSec} steps/s, no BN ${plain}), drew a '1' → ${cls} (${(probs[cls]! * 100).toFixed(1)} %), screenshot ${shot}`,
      );
    } finally {
      await browser.close();
      await new Promise((r) => server.close(r));
    }
  }, 60_000);
});
