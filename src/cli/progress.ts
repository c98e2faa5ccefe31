import cliProgress from 'cli-progress';
import { formatBytes } from './output.js';

/** A byte progress bar on a terminal, nothing otherwise (pipes and CI stay clean). */
export interface Progress {
  setTotal(total: number): void;
  increment(bytes: number): void;
  /** Sets the running total directly (progress polled from a job). */
  update(done: number, total: number): void;
  stop(): void;
}

export function createProgress(
  label: string,
  total: number,
  enabled = process.stdout.isTTY === true && process.stderr.isTTY === true,
): Progress {
  if (!enabled) return { setTotal() {}, increment() {}, update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {done} / {size} | {speed}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let done = 0;
  let size = total;
  const payload = () => ({
    done: formatBytes(done),
    size: formatBytes(size),
    speed: `${formatBytes(done / Math.max(0.001, (Date.now() - started) / 1000))}/s`,
  });
  bar.start(size, 0, payload());
  return {
    setTotal(t) {
      size = t;
      bar.setTotal(t);
    },
    increment(bytes) {
      done += bytes;
      bar.update(done, payload());
    },
    update(d, t) {
      if (t !== size) {
        size = t;
        bar.setTotal(t);
      }
      done = d;
      bar.update(done, payload());
    },
    stop: () => bar.stop(),
  };
}
