// The playground page: starts the training worker, draws its curves, and hands drawn digits to it,
// and an .onnx digit classifier dropped on the page (or chosen with the file input).
import type { FromWorker, ModelStats, ToWorker } from './protocol';
import { drawPlot } from './plot';
import { DigitPad } from './pad';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const send = (m: ToWorker) => worker.postMessage(m);

const lrInput = $<HTMLInputElement>('lr');
// the slider picks one of these (about evenly spaced in log lr); 0.5 is the paper's MLP setting
const LRS = [0.02, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10, 15, 30];
lrInput.max = String(LRS.length - 1);
const lr = () => LRS[Number(lrInput.value)]!;
const showLr = () => {
  $('lr-value').textContent = String(lr());
};
showLr();

let training = false;
const setTraining = (on: boolean) => {
  training = on;
  $<HTMLButtonElement>('stop').disabled = !on;
  $('train').textContent = on ? 'Restart' : 'Train';
};
const start = () => {
  send({ type: 'start', lr: lr() });
  setTraining(true);
  $('status').textContent = `training at lr ${lr()}`;
};
$('train').addEventListener('click', start);
$('stop').addEventListener('click', () => {
  send({ type: 'stop' });
  setTraining(false);
  $('status').textContent = 'stopped';
});
lrInput.addEventListener('input', showLr);
lrInput.addEventListener('change', () => {
  if (training) start();
});
document.querySelectorAll<HTMLButtonElement>('button[data-lr]').forEach((b) => {
  b.addEventListener('click', () => {
    lrInput.value = String(LRS.indexOf(Number(b.dataset.lr)));
    showLr();
    start();
  });
});

const pct = (v: number | undefined) => (v === undefined ? '–' : Number.isNaN(v) ? 'diverged' : `${(v * 100).toFixed(1)} %`);
const last = (s: ModelStats) => s.accuracy[s.accuracy.length - 1]?.[1];

function plot(m: Extract<FromWorker, { type: 'progress' }>): void {
  const series = (k: 'accuracy' | 'loss', pick: (v: number) => number = (v) => v) => [
    { label: 'BN', color: '#1f77b4', points: m.bn[k].map(([x, y]) => [x, pick(y)] as [number, number]) },
    { label: 'no BN', color: '#e45756', points: m.plain[k].map(([x, y]) => [x, pick(y)] as [number, number]) },
  ];
  const xMax = Math.max(500, m.step);
  drawPlot(
    $<HTMLCanvasElement>('acc-plot'),
    series('accuracy', (v) => v * 100),
    { title: `held-out accuracy (%), lr ${m.lr}`, xMax, yMin: 0, yMax: 100 },
  );
  drawPlot($<HTMLCanvasElement>('loss-plot'), series('loss'), { title: 'training loss (cross-entropy)', xMax, yMin: 0, yMax: 2.5 });
}

const classifyPad = () => {
  if (pad.empty()) return;
  const pixels = pad.pixels();
  // the last input classified, on the pad (the playground test checks the answer against onnxruntime)
  $('draw').dataset.pixels = JSON.stringify(Array.from(pixels));
  send({ type: 'predict', pixels });
};
const pad = new DigitPad($<HTMLCanvasElement>('draw'), classifyPad);

async function loadOnnxFile(file: File): Promise<void> {
  const status = $('onnx-status');
  status.className = 'muted';
  status.textContent = `loading ${file.name}…`;
  const bytes = new Uint8Array(await file.arrayBuffer());
  send({ type: 'load-onnx', name: file.name, bytes });
}
$<HTMLInputElement>('onnx-file').addEventListener('change', (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (file) void loadOnnxFile(file);
});
document.addEventListener('dragover', (e) => {
  e.preventDefault();
  document.body.classList.add('dragging');
});
document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
document.addEventListener('drop', (e) => {
  e.preventDefault();
  document.body.classList.remove('dragging');
  const file = e.dataTransfer?.files[0];
  if (file) void loadOnnxFile(file);
});
$('clear').addEventListener('click', () => {
  pad.clear();
  showPrediction(null);
});

function showPrediction(probs: number[] | null): void {
  const box = $('prediction');
  box.replaceChildren();
  if (!probs) {
    $('predicted').textContent = '–';
    return;
  }
  const best = probs.indexOf(Math.max(...probs));
  $('predicted').innerHTML = `prediction: <b id="predicted-class">${best}</b>`;
  probs.forEach((p, d) => {
    const cls = d === best ? 'top' : '';
    const digit = Object.assign(document.createElement('span'), { className: cls, textContent: String(d) });
    const bar = Object.assign(document.createElement('div'), { className: 'bar' });
    bar.style.width = `${Math.max(1, p * 140)}px`;
    const val = Object.assign(document.createElement('span'), { className: `prob ${cls}`, textContent: `${(p * 100).toFixed(1)} %` });
    val.dataset.digit = String(d);
    const cell = document.createElement('div');
    cell.append(bar);
    box.append(digit, cell, val);
  });
}

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  if (m.type === 'ready') $('status').textContent = `ready (${m.backend}, ${m.train} training / ${m.test} held-out digits)`;
  else if (m.type === 'progress') {
    $('step').textContent = String(m.step);
    $('steps-per-s').textContent = m.stepsPerSec > 0 ? m.stepsPerSec.toFixed(0) : '–';
    $('acc-bn').textContent = pct(last(m.bn));
    $('acc-plain').textContent = pct(last(m.plain));
    plot(m);
    if (m.step % 200 === 0 && !pad.empty()) send({ type: 'predict', pixels: pad.pixels() });
  } else if (m.type === 'done') {
    setTraining(false);
    $('status').textContent = 'done';
  } else if (m.type === 'prediction') {
    $('classifier').textContent = m.model === 'BN model' ? 'classified by the BN model as it trains' : `classified by ${m.model}`;
    $('prediction').dataset.model = m.model;
    showPrediction(m.probs);
  } else if (m.type === 'onnx-loaded') {
    $('onnx-status').className = 'muted';
    $('onnx-status').textContent = `loaded ${m.name}`;
    $('classifier').textContent = `classified by ${m.name}`;
    classifyPad();
  } else if (m.type === 'onnx-error') {
    $('onnx-status').className = 'error';
    $('onnx-status').textContent = `${m.name}: ${m.message}`;
  } else if (m.type === 'error') $('status').textContent = `error: ${m.message}`;
};
worker.onerror = (e) => {
  $('status').textContent = `worker error: ${e.message}`;
};
drawPlot($<HTMLCanvasElement>('acc-plot'), [], { title: 'held-out accuracy (%)', xMax: 500, yMin: 0, yMax: 100 });
drawPlot($<HTMLCanvasElement>('loss-plot'), [], { title: 'training loss (cross-entropy)', xMax: 500, yMin: 0, yMax: 2.5 });
