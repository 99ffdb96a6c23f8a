// Messages between the playground page (main.ts) and its Web Worker (worker.ts).
export interface ModelStats {
  /** [step, mean training loss since the previous checkpoint] */
  loss: [number, number][];
  /** [step, held-out accuracy in 0..1] (NaN once diverged) */
  accuracy: [number, number][];
  diverged: boolean;
}

export type ToWorker =
  | { type: 'start'; lr: number }
  | { type: 'stop' }
  | { type: 'predict'; pixels: Float32Array }
  | { type: 'load-onnx'; name: string; bytes: Uint8Array };

export type FromWorker =
  | { type: 'ready'; backend: string; train: number; test: number }
  | { type: 'progress'; lr: number; step: number; maxSteps: number; stepsPerSec: number; bn: ModelStats; plain: ModelStats }
  | { type: 'done' }
  | { type: 'prediction'; probs: number[]; model: string }
  | { type: 'onnx-loaded'; name: string }
  | { type: 'onnx-error'; name: string; message: string }
  | { type: 'error'; message: string };
