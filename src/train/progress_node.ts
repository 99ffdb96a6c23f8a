// fit()'s progress bar in a Node terminal (cli-progress). Only the node entry and Node scripts
// import this file, so neither a browser bundle nor its bundler ever sees cli-progress.
import type { ProgressDisplay } from './fit';

/** A cli-progress bar on stdout when it is a TTY; null (no display) elsewhere. */
export const terminalProgress: ProgressDisplay = async (total) => {
  const proc = (globalThis as { process?: { stdout?: { isTTY?: boolean } } }).process;
  if (!proc?.stdout?.isTTY) return null;
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    {
      format: ' {bar} {value}/{total} steps | loss {loss} | acc {acc} | {speed} steps/s | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { loss: '-', acc: '-', speed: '-' });
  return bar;
};
