// Part (g), placement: BN before the nonlinearity (the paper: "we add the BN transform immediately
// before the nonlinearity", §3.2) against after it (many texts and codebases), in the sigmoid MLP,
// a ReLU MLP and the CNN: held-out accuracy and how soon it reaches 90 %.
// see: Ioffe & Szegedy 2015, https://arxiv.org/abs/1502.03167 (§3.2)
import {
  Adam,
  BatchNorm1d,
  BatchNorm2d,
  Conv2d,
  Flatten,
  Generator,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
  SGD,
  Sigmoid,
  type Module,
} from '../../src/index';
import { lineChart, saveChart } from '../mnist/charts';
import { asImages, meanSpread, pct, type Claim, type Context, type PartResult } from './part';
import { meanCurve, train, type TrainResult } from './train';

type Where = 'before' | 'after';

/** 784-100-100-100-10 with `act`, BN before or after each hidden activation. */
function mlp(where: Where, act: () => Module, seed: number): Module {
  const gen = new Generator(seed);
  const layers: Module[] = [];
  for (const i of [784, 100, 100]) {
    layers.push(new Linear(i, 100, { generator: gen }));
    if (where === 'before') layers.push(new BatchNorm1d(100), act());
    else layers.push(act(), new BatchNorm1d(100));
  }
  return new Sequential(...layers, new Linear(100, 10, { generator: gen }));
}

/** The demo CNN at 8/16 channels with BN before or after each ReLU (then max-pooling). */
function cnn(where: Where, seed: number): Module {
  const gen = new Generator(seed);
  const block = (i: number, o: number): Module[] => [
    new Conv2d(i, o, 3, { padding: 1, generator: gen }),
    ...(where === 'before' ? [new BatchNorm2d(o), new ReLU()] : [new ReLU(), new BatchNorm2d(o)]),
    new MaxPool2d(2),
  ];
  return new Sequential(...block(1, 8), ...block(8, 16), new Flatten(), new Linear(16 * 7 * 7, 10, { generator: gen }));
}

const LEVEL = 0.9;

/** Part (g). */
export async function placementPart(ctx: Context): Promise<PartResult> {
  const SEEDS = ctx.full ? [1, 2, 3] : [1, 2];
  const models = [
    {
      model: 'sigmoid MLP',
      epochs: ctx.full ? 20 : 3,
      make: (w: Where, s: number) => mlp(w, () => new Sigmoid(), s),
      lr: 0.5,
      adam: false,
    },
    { model: 'ReLU MLP', epochs: ctx.full ? 20 : 3, make: (w: Where, s: number) => mlp(w, () => new ReLU(), s), lr: 0.1, adam: false },
    { model: 'CNN', epochs: ctx.full ? 8 : 1, make: cnn, lr: 1e-3, adam: true },
  ];
  console.log(`\n(g) placement: BN before vs after the nonlinearity, batch 60, seeds ${SEEDS.join(', ')}`);
  const results: { model: string; where: Where; runs: TrainResult[] }[] = [];
  for (const m of models) {
    for (const where of ['before', 'after'] as const) {
      const runs: TrainResult[] = [];
      for (const seed of SEEDS) {
        const net = m.make(where, seed);
        const opt = m.adam ? new Adam(net.parameters(), { lr: m.lr }) : new SGD(net.parameters(), { lr: m.lr });
        const image = m.model === 'CNN';
        runs.push(
          await train(net, opt, image ? asImages(ctx.trainSet) : ctx.trainSet, image ? asImages(ctx.testSet) : ctx.testSet, {
            epochs: m.epochs,
            batchSize: 60,
            seed,
            evalEvery: 25,
          }),
        );
      }
      results.push({ model: m.model, where, runs });
      const acc = meanSpread(runs.map((r) => r.testAccuracy));
      console.log(
        `  ${m.model.padEnd(12)} BN ${where.padEnd(6)} held out ${pct(acc.mean)} ± ${pct(acc.spread / 2)}, ${LEVEL * 100} % at step ${reach(runs) ?? 'never'}, ${runs[0].msPerStep.toFixed(2)} ms/step`,
      );
    }
  }

  // criteria fixed before the runs: mean over seeds of the final accuracy; first checkpoint where the mean curve reaches 90 %
  const claims: Claim[] = [];
  for (const m of models) {
    const [b, a] = (['before', 'after'] as const).map((w) => results.find((r) => r.model === m.model && r.where === w)!.runs);
    const [accB, accA] = [b, a].map((rs) => meanSpread(rs.map((r) => r.testAccuracy)).mean);
    const [reachB, reachA] = [reach(b), reach(a)];
    claims.push({
      claim: `${m.model}: BN before the nonlinearity (the paper's place) ends at least as accurate as after`,
      held: accB >= accA,
      detail: `held out ${pct(accB)} before, ${pct(accA)} after`,
    });
    claims.push({
      claim: `${m.model}: BN before reaches ${LEVEL * 100} % held out no later than after`,
      held: reachB !== null && (reachA === null || reachB <= reachA),
      detail: `step ${reachB ?? 'never'} before, ${reachA ?? 'never'} after`,
    });
  }
  const name = 'g-placement';
  await saveChart(
    await lineChart({
      title: `BN before (solid) or after (dashed) the nonlinearity: held-out accuracy, mean of ${SEEDS.length} seeds`,
      xTitle: 'training step',
      yTitle: 'held-out accuracy',
      series: results.map((r) => ({ name: `${r.model}, ${r.where}`, dashed: r.where === 'after', points: meanCurve(r.runs) })),
      yDomain: [0.5, 1],
    }),
    `${ctx.out}/${name}`,
  );
  const json = results.map((r) => ({
    model: r.model,
    where: r.where,
    test: r.runs.map((x) => x.testAccuracy),
    reach: reach(r.runs),
    msPerStep: r.runs[0].msPerStep,
  }));
  return { claims, json: { placement: json }, charts: [name] };
}

/** The first checkpoint step where the mean curve reaches LEVEL, or null. */
function reach(runs: TrainResult[]): number | null {
  return meanCurve(runs).find(([, acc]) => acc >= LEVEL)?.[0] ?? null;
}
