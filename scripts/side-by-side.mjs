// @ts-check
// Writes examples/pytorch-mnist/main.py and main.ts side by side, line against line, into
// docs/pytorch-mnist.md between the markers below (the rest of the page is left as it is):
// `node scripts/side-by-side.mjs`, or `--check` to fail when the page is out of date.
//
// Lines are paired by a weighted longest-common-subsequence alignment: a pair scores by the words
// the two lines share (snake_case and camelCase split alike, so batch_size meets batchSize), and a
// line with no counterpart stands alone in its column.
// see: Needleman & Wunsch (1970), doi:10.1016/0022-2836(70)90057-4 (global alignment by dynamic programming)
import { readFileSync, writeFileSync, existsSync } from 'node:fs';

const PY = 'examples/pytorch-mnist/main.py';
const TS = 'examples/pytorch-mnist/main.ts';
const DOC = 'docs/pytorch-mnist.md';
const START = '<!-- side-by-side:start (written by scripts/side-by-side.mjs) -->';
const END = '<!-- side-by-side:end -->';
/** Pairs scoring less than this are not aligned: each line then stands alone. */
const MIN_SCORE = 0.3;

/**
 * The file's lines after its opening comment block (the licence and header), without trailing blanks.
 * @param {string} path
 * @param {string} comment the line-comment marker ('#' or '//')
 * @returns {string[]}
 */
function body(path, comment) {
  const lines = readFileSync(path, 'utf8').replace(/\s+$/, '').split('\n');
  let i = 0;
  while (i < lines.length && lines[i].startsWith(comment)) i++;
  return lines.slice(i);
}

// words that say nothing about which line is which, on either side
const NOISE = new Set(['self', 'this', 'const', 'let', 'x', 'def', 'function', 'export', 'return', 'new', 'type', 'number', 'void']);

/**
 * The words of a line: identifiers split at '_' and case changes, lower-cased; numbers as they are.
 * @param {string} line
 * @returns {Map<string, number>} each word with its count
 */
function words(line) {
  const out = new Map();
  for (const tok of line.match(/[A-Za-z_][A-Za-z0-9_]*|\d+(\.\d+)?/g) ?? []) {
    const parts = /^\d/.test(tok) ? [tok] : tok.split(/_|(?<=[a-z0-9])(?=[A-Z])/).filter(Boolean);
    for (const p of parts) {
      const w = p.toLowerCase();
      if (!NOISE.has(w)) out.set(w, (out.get(w) ?? 0) + 1);
    }
  }
  return out;
}

/** True for a line Python has no counterpart of but a blank: nothing, or only closing brackets. */
const blankish = (/** @type {string} */ line) => /^[\s});\],]*$/.test(line);

/**
 * Dice similarity of two lines' word multisets, in [0, 1]; a blank against a blank or a closing brace scores a little.
 * @param {string} a a Python line
 * @param {string} b a TypeScript line
 */
function score(a, b) {
  if (a.trim() === '' && b.trim() === '') return 0.4;
  if (a.trim() === '' && blankish(b)) return 0.35;
  const wa = words(a),
    wb = words(b);
  let common = 0,
    total = 0;
  for (const [w, n] of wa) common += Math.min(n, wb.get(w) ?? 0);
  for (const n of wa.values()) total += n;
  for (const n of wb.values()) total += n;
  return total === 0 ? 0 : (2 * common) / total;
}

/**
 * Rows [python line | null, typescript line | null] of the best-scoring alignment.
 * @param {string[]} py
 * @param {string[]} ts
 * @returns {[string | null, string | null][]}
 */
function align(py, ts) {
  const n = py.length,
    m = ts.length;
  const best = Array.from({ length: n + 1 }, () => new Float64Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      const s = score(py[i], ts[j]);
      best[i][j] = Math.max(best[i + 1][j], best[i][j + 1], s >= MIN_SCORE ? s + best[i + 1][j + 1] : 0);
    }
  }
  /** @type {[string | null, string | null][]} */
  const rows = [];
  let i = 0,
    j = 0;
  while (i < n || j < m) {
    if (i < n && j < m) {
      const s = score(py[i], ts[j]);
      if (s >= MIN_SCORE && best[i][j] === s + best[i + 1][j + 1]) rows.push([py[i++], ts[j++]]);
      else if (best[i][j] === best[i + 1][j]) rows.push([py[i++], null]);
      else rows.push([null, ts[j++]]);
    } else if (i < n) rows.push([py[i++], null]);
    else rows.push([null, ts[j++]]);
  }
  return rows;
}

/**
 * A code cell of a markdown table: HTML-escaped, leading spaces kept, and the characters that
 * markdown reads inside a cell (pipes, emphasis, backticks, brackets) written as entities.
 * @param {string | null} line
 */
function cell(line) {
  if (line === null || line.trim() === '') return '';
  const lead = line.length - line.trimStart().length;
  const text = line
    .trimStart()
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[|_*`[\]\\~]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<code>${'&nbsp;'.repeat(lead)}${text}</code>`;
}

const rows = align(body(PY, '#'), body(TS, '//'));
const table = [
  `| \`${PY.split('/').pop()}\` (PyTorch) | \`${TS.split('/').pop()}\` (batchnorm-wasm) |`,
  '|---|---|',
  ...rows.map(([p, t]) => `| ${cell(p)} | ${cell(t)} |`),
].join('\n');
const section = `${START}\n${table}\n${END}`;

const old = existsSync(DOC) ? readFileSync(DOC, 'utf8') : `# PyTorch's MNIST example, ported\n\n${START}\n${END}\n`;
const a = old.indexOf(START),
  b = old.indexOf(END);
if (a < 0 || b < a) throw new Error(`side-by-side: ${DOC}: expected the markers ${START} … ${END}`);
const next = old.slice(0, a) + section + old.slice(b + END.length);
if (process.argv.includes('--check')) {
  if (next !== old) {
    console.error(`side-by-side: ${DOC} is out of date; run node scripts/side-by-side.mjs`);
    process.exit(1);
  }
} else {
  writeFileSync(DOC, next);
  console.log(`side-by-side: ${DOC}: ${rows.length} rows`);
}
