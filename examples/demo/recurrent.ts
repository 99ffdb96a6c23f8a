// Part (e), recurrent networks: digits read row by row (28 steps of 28 pixels) by four LSTMs with
// the same budget: plain, sequence-wise BN (BN on x·W_ihᵀ, statistics over batch and time: Laurent et
// al. 2016, Deep Speech 2), the BN-LSTM (recurrent BN, statistics per step: Cooijmans et al. 2016) and
// the LN-LSTM (Ba et al. 2016): held-out accuracy over steps. `--full` adds the permuted pixel-by-pixel
// task (784 steps of one pixel), where Cooijmans et al. report BN-LSTM 95.4 % against LSTM 90.2 % on full MNIST.
// see: Cooijmans et al. 2016, https://arxiv.org/abs/1603.09025; Laurent et al. 2016, https://arxiv.org/abs/1510.01378;
//      Ba et al. 2016, https://arxiv.org/abs/1607.06450
import { Adam, F, Generator, Linear, LSTM, Module, type Dataset, type RecurrentNorm, type Tensor } from '../../src/index';
import { lineChart, saveChart } from '../mnist/charts';
import { pct, type Claim, type Context, type PartResult } from './part';
import { train, type TrainResult } from './train';

/** An LSTM over the rows (or pixels) of a digit, its last hidden state classified by a Linear. */
class Reader extends Module {
  lstm: LSTM;
  fc: Linear;
  constructor(
    readonly steps: number,
    hidden: number,
    norm: RecurrentNorm | null,
    seed: number,
  ) {
    super();
    const generator = new Generator(seed);
    this.lstm = new LSTM(784 / steps, hidden, { batchFirst: true, norm, generator });
    this.fc = new Linear(hidden, 10, { generator });
  }
  forward(x: Tensor): Tensor {
    const n = x.shape[0];
    const { hN } = this.lstm.forward(F.reshape(x, [n, this.steps, 784 / this.steps]));
    return this.fc.forward(F.reshape(hN, [n, hN.shape[2]]));
  }
}

/** `d` with each sample's pixels reordered by the fixed permutation `perm`. */
function permuted(d: Dataset, perm: Int32Array): Dataset {
  const x = new Float32Array(d.x.length);
  for (let s = 0; s < d.y.length; s++) for (let i = 0; i < 784; i++) x[s * 784 + i] = d.x[s * 784 + perm[i]];
  return { ...d, x };
}

const VARIANTS = [
  { name: 'LSTM', norm: null },
  { name: 'sequence-BN LSTM', norm: 'sequence-bn' },
  { name: 'BN-LSTM', norm: 'recurrent-bn' },
  { name: 'LN-LSTM', norm: 'layer' },
] as const;

/** Part (e). */
export async function recurrentPart(ctx: Context): Promise<PartResult> {
  // 75 steps each by default (0.6 epoch): four models in the time two took at 250 steps (the
  // BN-LSTM and LN-LSTM cost 2–3× the plain LSTM's step); --full gives each ten epochs
  const tasks = [
    { task: 'rows', steps: 28, epochs: ctx.full ? 10 : 1, maxSteps: ctx.full ? undefined : 75, hidden: 64, evalEvery: ctx.full ? 50 : 25 },
  ];
  if (ctx.full) tasks.push({ task: 'permuted pixels', steps: 784, epochs: 5, maxSteps: undefined, hidden: 64, evalEvery: 50 });
  const claims: Claim[] = [];
  const json: Record<string, unknown>[] = [];
  const charts: string[] = [];
  for (const t of tasks) {
    let trainSet: Dataset = ctx.trainSet,
      testSet: Dataset = ctx.testSet;
    if (t.steps === 784) {
      const perm = new Int32Array(784).map((_, i) => i);
      const gen = new Generator(ctx.seed);
      for (let i = 783; i > 0; i--) {
        const j = Math.floor(gen.uniform() * (i + 1));
        [perm[i], perm[j]] = [perm[j], perm[i]];
      }
      trainSet = permuted(trainSet, perm);
      testSet = permuted(testSet, perm);
    }
    console.log(
      `\n(e) recurrent, ${t.task}: ${t.steps} steps, LSTM(${784 / t.steps}, ${t.hidden}), Adam lr 2e-3, batch 64, ${t.maxSteps === undefined ? `${t.epochs} epochs` : `${t.maxSteps} training steps`}`,
    );
    const runs: { name: string; r: TrainResult }[] = [];
    for (const v of VARIANTS) {
      const net = new Reader(t.steps, t.hidden, v.norm, ctx.seed);
      const r = await train(net, new Adam(net.parameters(), { lr: 2e-3 }), trainSet, testSet, {
        epochs: t.epochs,
        batchSize: 64,
        seed: ctx.seed,
        evalEvery: t.evalEvery,
        maxSteps: t.maxSteps,
        batchStats: v.norm === 'recurrent-bn' || v.norm === 'sequence-bn',
      });
      runs.push({ name: v.name, r });
      const batchStats = Number.isNaN(r.batchStatsAccuracy) ? '' : ` (${pct(r.batchStatsAccuracy)} with batch statistics)`;
      console.log(
        `  ${v.name.padEnd(18)} held out ${pct(r.testAccuracy)}${batchStats} after ${r.steps} steps, ${r.msPerStep.toFixed(1)} ms/step`,
      );
    }
    const plain = runs[0].r;
    // criteria fixed before the runs, for each normalized LSTM against the plain one: held-out
    // accuracy at the end, and the mean over all checkpoints (speed of learning)
    const mean = (r: TrainResult) => r.curve.reduce((a, [, v]) => a + v, 0) / r.curve.length;
    for (const { name: n, r } of runs.slice(1)) {
      claims.push(
        {
          claim: `${t.task}: the ${n} ends at least as accurate as the plain LSTM`,
          held: r.testAccuracy >= plain.testAccuracy,
          detail: `${pct(r.testAccuracy)} vs ${pct(plain.testAccuracy)}`,
        },
        {
          claim: `${t.task}: the ${n} learns faster (mean held-out accuracy over the checkpoints)`,
          held: mean(r) > mean(plain),
          detail: `${pct(mean(r))} vs ${pct(mean(plain))}`,
        },
      );
    }
    const name = `e-recurrent-${t.steps}`;
    await saveChart(
      await lineChart({
        title: `Digits read as ${t.steps} steps: held-out accuracy`,
        xTitle: 'training step',
        yTitle: 'held-out accuracy',
        series: runs.map(({ name: n, r }) => ({ name: n, points: r.curve, dashed: n === 'LSTM' })),
        yDomain: [0, 1],
      }),
      `${ctx.out}/${name}`,
    );
    charts.push(name);
    json.push({
      task: t.task,
      runs: runs.map(({ name: n, r }) => ({
        name: n,
        test: r.testAccuracy,
        testBatchStats: Number.isNaN(r.batchStatsAccuracy) ? null : r.batchStatsAccuracy,
        curve: r.curve,
        msPerStep: r.msPerStep,
      })),
    });
  }
  return { claims, json: { recurrent: json }, charts };
}
