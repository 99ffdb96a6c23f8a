// Threads in real Chromium pages, from Node: a tiny HTTP server serves the built browser entry
// (build/index.js and its .wasm files) and test/runtimes/workload.mjs twice, on one port with the
// COOP/COEP headers (the page is cross-origin isolated) and on another without them. The isolated page
// runs 2 threads and gives the hashes of the run on one thread, which are those of Node (here, in
// this process) and of the other runtimes (test/runtimes.test.ts pins them); the page without the
// headers falls back to one thread, says why, and still gives the same hashes.
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright';
import * as lib from '../src/index';
import { threadPool } from '../src/runtime/index';
import { threadedRuns } from './runtimes/workload.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TYPES: Record<string, string> = {
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.html': 'text/html',
};
const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

type Runs = Awaited<ReturnType<typeof threadedRuns>>;
interface PageResult {
  crossOriginIsolated: boolean;
  runs: Runs;
}

/** Serves /page.html, /build/* and /test/runtimes/workload.mjs from the repository, with `headers` on every answer. */
function serve(headers: Record<string, string>): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    const allowed = path === '/page.html' || path.startsWith('/build/') || path === '/test/runtimes/workload.mjs';
    const send = (status: number, body: string | Buffer, type = 'text/plain') => {
      res.writeHead(status, { 'Content-Type': type, ...headers });
      res.end(body);
    };
    if (!allowed) return send(404, 'not found');
    if (path === '/page.html') return send(200, '<!doctype html><title>threads</title>', TYPES['.html']);
    readFile(join(ROOT, path)).then(
      (body) => send(200, body, TYPES[extname(path)] ?? 'application/octet-stream'),
      () => send(404, 'not found'),
    );
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({ server, url: `http://127.0.0.1:${port}/page.html` });
    }),
  );
}

let browser: Browser;
const servers: Server[] = [];

/** Opens `url` in a new page, runs threadedRuns there against the browser entry, closes the page. */
async function inPage(url: string): Promise<PageResult> {
  const page = await browser.newPage();
  try {
    await page.goto(url);
    // source text, not a function: this file's transform would rewrite a function's import()
    return (await page.evaluate(`(async () => {
      const lib = await import('/build/index.js');
      const { threadedRuns } = await import('/test/runtimes/workload.mjs');
      return { crossOriginIsolated: globalThis.crossOriginIsolated, runs: await threadedRuns(lib) };
    })()`)) as PageResult;
  } finally {
    await page.close();
  }
}

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  for (const s of servers) s.close();
  await lib.init();
});

describe('threads in Chromium pages, with and without cross-origin isolation', () => {
  let node: Runs;

  it('Node: the run splits GEMMs and BatchNorm between 2 threads and gives the one-thread hashes', async () => {
    // the sources as the package's module (the workload is typed against the built declarations)
    node = await threadedRuns(lib as unknown as Parameters<typeof threadedRuns>[0]);
    expect(node.threads).toBe(2);
    expect(node.threaded).toEqual(node.single);
    const forks = threadPool()!.forks();
    for (const part of ['sgemmPart', 'bnStatsNCLPart', 'bnNormalizeNCLPart']) expect(forks[part], part).toBeGreaterThan(0);
  });

  it('a cross-origin isolated page runs 2 threads, with the hashes of Node', async () => {
    const { server, url } = await serve(ISOLATION);
    servers.push(server);
    const r = await inPage(url);
    expect(r.crossOriginIsolated).toBe(true);
    expect({ threads: r.runs.threads, reason: r.runs.reason }).toEqual({ threads: 2, reason: null });
    expect(r.runs.single).toEqual(node.single);
    expect(r.runs.threaded).toEqual(node.single);
  });

  it('a page without COOP/COEP runs one thread, says why, and gives the same hashes', async () => {
    const { server, url } = await serve({});
    servers.push(server);
    const r = await inPage(url);
    expect(r.crossOriginIsolated).toBe(false);
    expect({ threads: r.runs.threads, reason: r.runs.reason }).toEqual({
      threads: 1,
      reason: 'the page is not cross-origin isolated (it needs COOP/COEP headers)',
    });
    expect(r.runs.single).toEqual(node.single);
    expect(r.runs.threaded).toEqual(node.single);
  });
});
