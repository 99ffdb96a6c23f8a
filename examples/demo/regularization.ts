// Part (f), regularization: on 1 000 training digits (where nets overfit) the MLP and the CNN, with
// and without BN × with and without dropout, over several seeds: final train and held-out accuracy
// and their gap. The paper: BN "regularizes the model and reduces the need for Dropout" (§3.4).
// see: Ioffe & Szegedy 2015, https://arxiv.org/abs/1502.03167 (§3.4, §4.2.1)
import {
  Adam,
  BatchNorm1d,
  BatchNorm2d,
  Conv2d,
  Dropout,
  Flatten,
  Generator,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
  SGD,
  type Module,
} from '../../src/index';
import { lineChart, saveChart } from '../mnist/charts';
import { asImages, head, meanSpread, pct, type Claim, type Context, type PartResult } from './part';
import { meanCurve, train, type TrainResult } from './train';

interface Config {
  bn: boolean;
  dropout: boolean;
}
const CONFIGS: Config[] = [
  { bn: false, dropout: false },
  { bn: false, dropout: true },
  { bn: true, dropout: false },
  { bn: true, dropout: true },
];
const label = (c: Config) => `${c.bn ? 'BN' : 'no BN'}, ${c.dropout ? 'dropout' : 'no dropout'}`;

/** 784-100-100-100-10 with ReLUs (the sigmoid MLP barely fits 1 000 digits without BN in this budget), BN after each hidden Linear, dropout 0.5 after each hidden activation. */
function mlp(c: Config, seed: number): Module {
  const gen = new Generator(seed);
  const layers: Module[] = [];
  for (const i of [784, 100, 100]) {
    layers.push(new Linear(i, 100, { generator: gen }));
    layers.push(c.bn ? new BatchNorm1d(100, { activation: 'relu' }) : new ReLU());
    if (c.dropout) layers.push(new Dropout(0.5, { generator: gen }));
  }
  return new Sequential(...layers, new Linear(100, 10, { generator: gen }));
}

/** The demo CNN at 8/16 channels; dropout as PyTorch's MNIST example places it (0.25 after the convolutions, 0.5 before the classifier). */
function cnn(c: Config, seed: number): Module {
  const gen = new Generator(seed);
  const block = (i: number, o: number): Module[] => [
    new Conv2d(i, o, 3, { padding: 1, generator: gen }),
    ...(c.bn ? [new BatchNorm2d(o, { activation: 'relu' })] : [new ReLU()]),
    new MaxPool2d(2),
  ];
  return new Sequential(
    ...block(1, 8),
    ...block(8, 16),
    ...(c.dropout ? [new Dropout(0.25, { generator: gen })] : []),
    new Flatten(),
    new Linear(16 * 7 * 7, 64, { generator: gen }),
    new ReLU(),
    ...(c.dropout ? [new Dropout(0.5, { generator: gen })] : []),
    new Linear(64, 10, { generator: gen }),
  );
}

interface ModelRuns {
  model: string;
  runs: { config: Config; seed: number; result: TrainResult }[];
}

/** Part (f). */
export async function regularizationPart(ctx: Context): Promise<PartResult> {
  const N = 1000,
    SEEDS = ctx.full ? [1, 2, 3, 4, 5] : [1, 2, 3];
  const trainSet = head(ctx.trainSet, N);
  const models = [
    {
      model: 'MLP',
      epochs: ctx.full ? 100 : 40,
      make: mlp,
      opt: (m: Module) => new SGD(m.parameters(), { lr: 0.05, momentum: 0.9 }),
      data: (d: typeof trainSet) => d,
    },
    {
      model: 'CNN',
      epochs: ctx.full ? 60 : 10,
      make: cnn,
      opt: (m: Module) => new Adam(m.parameters(), { lr: 1e-3 }),
      data: asImages,
    },
  ];
  console.log(`\n(f) regularization: ${N} training digits, ± BN × ± dropout, seeds ${SEEDS.join(', ')}`);
  const all: ModelRuns[] = [];
  for (const m of models) {
    const runs: ModelRuns['runs'] = [];
    for (const config of CONFIGS) {
      for (const seed of SEEDS) {
        const net = m.make(config, seed);
        const result = await train(net, m.opt(net), m.data(trainSet), m.data(ctx.testSet), {
          epochs: m.epochs,
          batchSize: 50,
          seed,
          evalEvery: 100,
          trainAccuracy: true,
        });
        runs.push({ config, seed, result });
      }
      const rs = runs.filter((r) => r.config === config).map((r) => r.result);
      const te = meanSpread(rs.map((r) => r.testAccuracy)),
        tr = meanSpread(rs.map((r) => r.trainAccuracy));
      console.log(
        `  ${m.model} ${label(config).padEnd(20)} train ${pct(tr.mean)} ± ${pct(tr.spread / 2)}, held out ${pct(te.mean)} ± ${pct(te.spread / 2)}, gap ${pct(tr.mean - te.mean)}, ${rs[0].msPerStep.toFixed(2)} ms/step`,
      );
    }
    all.push({ model: m.model, runs });
  }

  // criteria fixed before the runs: means over seeds; "per seed" = the same comparison for every seed
  const claims: Claim[] = [];
  for (const { model, runs } of all) {
    const acc = (bn: boolean, dropout: boolean, seed?: number) =>
      meanSpread(
        runs
          .filter((r) => r.config.bn === bn && r.config.dropout === dropout && (seed === undefined || r.seed === seed))
          .map((r) => r.result.testAccuracy),
      ).mean;
    const gap = (bn: boolean) =>
      meanSpread(runs.filter((r) => r.config.bn === bn && !r.config.dropout).map((r) => r.result.trainAccuracy - r.result.testAccuracy))
        .mean;
    const gain = (bn: boolean, seed?: number) => acc(bn, true, seed) - acc(bn, false, seed);
    claims.push({
      claim: `${model}: BN alone narrows the train/held-out gap`,
      held: gap(true) < gap(false),
      detail: `gap ${pct(gap(true))} with BN, ${pct(gap(false))} without`,
    });
    const perSeed = SEEDS.filter((s) => gain(true, s) < gain(false, s)).length;
    claims.push({
      claim: `${model}: dropout adds less with BN than without (BN reduces the need for it)`,
      held: gain(true) < gain(false) && perSeed === SEEDS.length,
      detail: `dropout's held-out gain ${pct(gain(true))} with BN, ${pct(gain(false))} without; smaller with BN for ${perSeed}/${SEEDS.length} seeds`,
    });
    claims.push({
      claim: `${model}: BN without dropout ≥ dropout without BN, held out`,
      held: acc(true, false) >= acc(false, true),
      detail: `${pct(acc(true, false))} vs ${pct(acc(false, true))}`,
    });
  }

  const charts: string[] = [];
  for (const { model, runs } of all) {
    const name = `f-regularization-${model.toLowerCase()}`;
    await saveChart(
      await lineChart({
        title: `${model} on ${N} digits: held-out accuracy, mean of ${SEEDS.length} seeds (dashed: without BN)`,
        xTitle: 'training step',
        yTitle: 'held-out accuracy',
        series: CONFIGS.map((c) => ({
          name: label(c),
          dashed: !c.bn,
          points: meanCurve(runs.filter((r) => r.config === c).map((r) => r.result)),
        })),
      }),
      `${ctx.out}/${name}`,
    );
    charts.push(name);
  }
  const json = all.map(({ model, runs }) => ({
    model,
    runs: runs.map((r) => ({
      ...r.config,
      seed: r.seed,
      train: r.result.trainAccuracy,
      test: r.result.testAccuracy,
      msPerStep: r.result.msPerStep,
    })),
  }));
  return { claims, json: { regularization: json }, charts };
}
