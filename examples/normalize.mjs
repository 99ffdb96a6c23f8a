// @ts-check
// `npm run example:normalize`: normalizes a batch of images whose channels sit far from zero mean/unit variance, then prints
// per-channel statistics before and after, the running statistics, and the backend used.
import { init, backend, tensor, BatchNorm2d } from '../build/index.js';

await init();
const [N, C, H, W] = [16, 4, 28, 28];
const offsets = [1e4, -3, 0.5, 250],
  scales = [0.1, 7, 1, 40];

// deterministic pseudo-normal data: channel c ~ N(offsets[c], scales[c]²)
let s = 12345;
const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) + 0.5) / 2 ** 32;
const x = new Float32Array(N * C * H * W);
for (let i = 0; i < x.length; i++) {
  const c = Math.floor(i / (H * W)) % C;
  x[i] = offsets[c] + scales[c] * Math.sqrt(-2 * Math.log(rand())) * Math.cos(2 * Math.PI * rand());
}

/** Mean and biased variance of each channel of an NCHW batch. @param {ArrayLike<number>} data */
function channelStats(data) {
  const out = [];
  for (let c = 0; c < C; c++) {
    let sum = 0,
      sq = 0,
      n = 0;
    for (let b = 0; b < N; b++) {
      for (let i = 0, o = (b * C + c) * H * W; i < H * W; i++) {
        sum += data[o + i];
        n++;
      }
    }
    const mean = sum / n;
    for (let b = 0; b < N; b++) {
      for (let i = 0, o = (b * C + c) * H * W; i < H * W; i++) sq += (data[o + i] - mean) ** 2;
    }
    out.push({ mean, var: sq / n });
  }
  return out;
}

const bn = new BatchNorm2d(C); // train mode, eps 1e-5, momentum 0.1, γ = 1, β = 0
const xt = tensor(x, [N, C, H, W]);
const y = bn.forward(xt);
const before = channelStats(x),
  after = channelStats(y.toArray());

console.log(`batchnorm-wasm demo: BatchNorm2d(${C}) on a [${N}, ${C}, ${H}, ${W}] batch, backend: ${backend()}\n`);
console.log('channel |   input mean      input var |  output mean   output var');
for (let c = 0; c < C; c++) {
  const f = (/** @type {number} */ v, /** @type {number} */ w, /** @type {number} */ p) => v.toPrecision(p).padStart(w);
  console.log(
    `${String(c).padStart(7)} | ${f(before[c].mean, 12, 7)} ${f(before[c].var, 14, 7)} | ${f(after[c].mean, 12, 3)} ${f(after[c].var, 12, 7)}`,
  );
}
const sd = /** @type {Required<import('../src/index').BatchNormState>} */ (bn.stateDict());
console.log(`\nrunning_mean: [${Array.from(sd.running_mean, (v) => v.toPrecision(6)).join(', ')}]`);
console.log(`running_var:  [${Array.from(sd.running_var, (v) => v.toPrecision(6)).join(', ')}]  (momentum 0.1, unbiased)`);
console.log(`num_batches_tracked: ${sd.num_batches_tracked}`);
xt.dispose();
y.dispose();
bn.dispose();
