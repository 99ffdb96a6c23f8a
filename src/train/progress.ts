// fit()'s progress output: the display the node entry registers (a live bar on a terminal), the
// verbosity option and the Keras-like line printed at the end of each epoch.
// see: https://keras.io/api/models/model_training_apis/ (fit's verbose: 0 silent, 1 bar, 2 one line per epoch)
import { describe } from '../validate';
import type { EpochLogs } from './fit';

/** What fit() asks of a display: its epoch count, and whether a live bar is wanted (verbose 1) or only lines (2). */
export interface ProgressInfo {
  /** The number of epochs. */
  epochs: number;
  /** Show a live bar within the epoch (verbose 1), or only the epoch lines (verbose 2). */
  bar: boolean;
}

/** A progress display for fit(): made once per call with the total step count, or null for none. */
export type ProgressDisplay = (total: number, info: ProgressInfo) => Promise<ProgressBar | null> | ProgressBar | null;
/** What a ProgressDisplay returns: updated after every step, stopped at the end. */
export interface ProgressBar {
  /**
   * Moves the bar to `step` with the epoch's running loss, accuracy ('-' when it is not a metric),
   * every metric as ` | name value` text, and steps per second.
   */
  update(step: number, values: { loss: string; acc: string; metrics: string; speed: string }): void;
  /** Prints the epoch's line (a live bar makes room for it first). */
  log?(line: string): void;
  /** Ends the display. */
  stop(): void;
}
let progressDisplay: ProgressDisplay | null = null;

/**
 * Registers the display fit() shows when `progress` is 'auto' (the node entry registers a terminal
 * bar; the other entries none, so no Node-only package enters a browser bundle). null removes it.
 */
export function setProgressDisplay(display: ProgressDisplay | null): void {
  if (display !== null && typeof display !== 'function')
    throw new TypeError(`setProgressDisplay: display: expected a function or null, got ${describe(display)}`);
  progressDisplay = display;
}

export function registeredDisplay(): ProgressDisplay | null {
  return progressDisplay;
}

/** fit's verbosity: `verbose` (default 1), with `progress: false` meaning 0. */
export function checkVerbose(where: string, verbose: unknown, progress: unknown): 0 | 1 | 2 {
  if (progress !== 'auto' && progress !== false)
    throw new TypeError(`${where}: progress: expected 'auto' or false, got ${describe(progress)}`);
  if (verbose !== undefined && verbose !== 0 && verbose !== 1 && verbose !== 2)
    throw new TypeError(`${where}: verbose: expected 0, 1 or 2, got ${describe(verbose)}`);
  if (progress === false) {
    if (verbose !== undefined && verbose !== 0)
      throw new TypeError(`${where}: verbose: ${verbose} contradicts progress: false (which means verbose 0)`);
    return 0;
  }
  return verbose ?? 1;
}

/**
 * `Epoch 3/10 - 1.2s - loss: 0.1234 - accuracy: 0.9650 - valLoss: 0.2345 - valAccuracy: 0.9400`:
 * every value of the logs in their order (the loss, the metrics, then the same for validation).
 */
export function epochLine(logs: EpochLogs, epochs: number, seconds: number): string {
  let line = `Epoch ${logs.epoch + 1}/${epochs} - ${seconds.toFixed(1)}s`;
  for (const [key, v] of Object.entries(logs)) if (key !== 'epoch' && typeof v === 'number') line += ` - ${key}: ${v.toFixed(4)}`;
  return line;
}
