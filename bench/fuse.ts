// Part of `npm run bench -- --train` (bench/train.ts runs and prints it):
// BatchNorm2d(C, { activation: 'relu' }) (one kernel forward, one backward) against BatchNorm2d
// then ReLU, forward + backward in train mode, on the SIMD build; outputs, dx, dγ and dβ are
// compared bit for bit (untimed).
import { BatchNorm2d, Generator, ReLU, tensor, type Layout } from '../src/index';
import { useBackend } from './ours';
import { measure, type Budget } from './timing';

const SEED = 1;

export interface FuseRow {
  layout: Layout;
  shape: number[];
  fusedMs: number;
  unfusedMs: number;
  speedup: number;
  fusedReps: number;
  unfusedReps: number;
  identical: Record<'y' | 'dx' | 'dgamma' | 'dbeta', boolean>;
}

const FUSE_CASES: { layout: 'NCHW' | 'NHWC'; shape: number[] }[] = [
  { layout: 'NCHW', shape: [32, 64, 56, 56] },
  { layout: 'NHWC', shape: [32, 56, 56, 64] },
  { layout: 'NCHW', shape: [60, 16, 28, 28] },
];

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length),
    v = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < u.length; i++) if (u[i] !== v[i]) return false;
  return true;
}

/** Fused BN+ReLU against BN then ReLU, forward + backward (train mode), on wasm-simd. */
export async function fuseBench(b: Budget, progress: (s: string) => void): Promise<FuseRow[]> {
  const rows: FuseRow[] = [];
  for (const { layout, shape } of FUSE_CASES) {
    // a fresh instance per shape: WASM memory never shrinks, and the unfused step holds six buffers
    await useBackend('wasm-simd');
    const C = layout === 'NCHW' ? shape[1] : shape[3],
      size = shape.reduce((a, v) => a * v, 1);
    const g = new Generator(SEED);
    const x = tensor(g.fillUniform(new Float32Array(size), -2, 3), shape),
      dy = tensor(g.fillUniform(new Float32Array(size), -1, 1), shape);
    const params = { weight: g.fillUniform(new Float32Array(C), 0.5, 1.5), bias: g.fillUniform(new Float32Array(C), -0.5, 0.5) };
    const fused = new BatchNorm2d(C, { activation: 'relu', layout }),
      bn = new BatchNorm2d(C, { layout }),
      relu = new ReLU();
    fused.loadStateDict(params, { strict: false });
    bn.loadStateDict(params, { strict: false });
    const fusedStep = () => {
      const y = fused.forward(x),
        dx = fused.backward(dy);
      y.dispose();
      dx.dispose();
    };
    const unfusedStep = () => {
      const h = bn.forward(x),
        y = relu.forward(h),
        dh = relu.backward(dy),
        dx = bn.backward(dh);
      h.dispose();
      y.dispose();
      dh.dispose();
      dx.dispose();
    };
    // untimed: one step each from zeroed gradients, everything compared bit for bit
    fused.zeroGrad();
    bn.zeroGrad();
    const yf = fused.forward(x),
      dxf = fused.backward(dy);
    const h = bn.forward(x),
      yu = relu.forward(h),
      dh = relu.backward(dy),
      dxu = bn.backward(dh);
    const identical = {
      y: sameBits(yf.toArray(), yu.toArray()),
      dx: sameBits(dxf.toArray(), dxu.toArray()),
      dgamma: sameBits(fused.weight!.grad.toArray(), bn.weight!.grad.toArray()),
      dbeta: sameBits(fused.bias!.grad.toArray(), bn.bias!.grad.toArray()),
    };
    for (const t of [yf, dxf, h, yu, dh, dxu]) t.dispose();
    const tf_ = measure(fusedStep, b),
      tu = measure(unfusedStep, b);
    rows.push({
      layout,
      shape,
      fusedMs: tf_.ms,
      unfusedMs: tu.ms,
      speedup: tu.ms / tf_.ms,
      fusedReps: tf_.reps,
      unfusedReps: tu.reps,
      identical,
    });
    progress(`  BN+ReLU ${layout} ${shape.join('×')}: fused ${tf_.ms.toPrecision(3)} ms, unfused ${tu.ms.toPrecision(3)} ms`);
    for (const t of [x, dy]) t.dispose();
    fused.dispose();
    bn.dispose();
  }
  return rows;
}

export function printFuse(rows: FuseRow[]): void {
  console.log("\nBatchNorm2d(C, { activation: 'relu' }) (fused) vs BatchNorm2d then ReLU, forward + backward in train mode, wasm-simd;");
  console.log('median ms per step, outputs and gradients disposed each step; y, dx, dγ, dβ of one step compared bit for bit');
  console.log(`${'shape'.padEnd(20)}${'fused ms'.padStart(10)}${'BN, ReLU ms'.padStart(13)}${'speed-up'.padStart(10)}   bit-identical`);
  for (const r of rows) {
    const same = Object.entries(r.identical)
      .map(([k, v]) => `${k} ${v ? 'yes' : 'NO'}`)
      .join(', ');
    console.log(
      `${`${r.layout} ${r.shape.join('×')}`.padEnd(20)}${r.fusedMs.toFixed(3).padStart(10)}${r.unfusedMs.toFixed(3).padStart(13)}${`${r.speedup.toFixed(2)}×`.padStart(10)}   ${same}`,
    );
  }
}
