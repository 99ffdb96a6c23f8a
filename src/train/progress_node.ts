// fit()'s output in Node: on a terminal a live cli-progress bar with a Keras-like line per epoch
// above it; elsewhere (CI, pipes, files) the lines alone, as plain text. Only the node entry and Node
// scripts import this file, so neither a browser bundle nor its bundler ever sees cli-progress.
import type { ProgressBar, ProgressDisplay } from './fit';

/** The little of a Node writable stream the display uses (process.stdout, or a test's fake). */
export interface OutputStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

/** A display writing to `stream`: a bar (when it is a TTY and a bar is asked for) and the epoch lines. */
export function streamProgress(stream: OutputStream): ProgressDisplay {
  return async (total, info) => {
    if (stream.isTTY !== true || !info?.bar) return { update() {}, log: (line) => void stream.write(`${line}\n`), stop() {} };
    const { default: cliProgress } = await import('cli-progress');
    const bar = new cliProgress.SingleBar(
      {
        format: ' {bar} {value}/{total} steps | loss {loss}{metrics} | {speed} steps/s | ETA {eta_formatted}',
        hideCursor: true,
        // the bar clears itself to make room for each epoch's line, and for good at the end
        clearOnComplete: true,
        // cli-progress writes to stderr unless told: the bar and the lines share one stream
        stream: stream as never,
      },
      cliProgress.Presets.shades_classic,
    );
    let live = true;
    bar.start(total, 0, { loss: '-', acc: '-', metrics: '', speed: '-' });
    const display: ProgressBar = {
      update(s, values) {
        if (live) bar.update(s, values);
        else {
          bar.start(total, s, values);
          live = true;
        }
      },
      log(line) {
        if (live) bar.stop();
        live = false;
        stream.write(`${line}\n`);
      },
      stop() {
        if (live) bar.stop();
        live = false;
      },
    };
    return display;
  };
}

/** fit()'s display on stdout: a bar and lines on a terminal, the lines alone elsewhere; none without a process. */
export const terminalProgress: ProgressDisplay = (total, info) => {
  const proc = (globalThis as { process?: { stdout?: OutputStream } }).process;
  return proc?.stdout ? streamProgress(proc.stdout)(total, info) : null;
};
