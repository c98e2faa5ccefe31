import cliProgress from 'cli-progress';
import { type Command, Option } from 'commander';
import { IngotError } from '../core/errors.js';
import { count, formatBytes } from './output.js';

/**
 * Progress of long work on stderr: a bar redrawn in place on a terminal, a line every few
 * seconds and one at the end elsewhere (`--progress always` into a log), nothing with
 * `--progress never`, `--quiet` or by default off a terminal (pipes and CI stay clean).
 */
export type ProgressMode = 'auto' | 'always' | 'never';

export interface ProgressFlags {
  progress?: string;
  quiet?: boolean;
  json?: boolean;
}

export interface Progress {
  /** Whether anything is shown: work that costs something only to report progress can skip it. */
  readonly shown: boolean;
  /** Work done so far of `total` (0: not known yet); less done than before starts a new stage. */
  update(done: number, total: number): void;
  /** `n` more done: found already stored, or sent (neither: a hole, a repeat, or not known). */
  increment(n: number, how?: 'stored' | 'sent'): void;
  /** Running totals of what was found already stored and what was sent, where the work reports them. */
  moved(stored: number, sent: number): void;
  stop(): void;
}

/** `--progress` and `--quiet`, the same on every command with long work. */
export function progressOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--progress <when>', 'progress on stderr: auto (on a terminal), always, never')
        .choices(['auto', 'always', 'never'])
        .default('auto'),
    )
    .option('--quiet', 'no progress and no summary line (errors and warnings still go to stderr)');
}

/** The mode the flags ask for: `--quiet` and `--json` mean never unless `--progress always`. */
export function progressMode(flags: ProgressFlags): ProgressMode {
  if (flags.quiet && flags.progress === 'always') {
    throw new IngotError('INVALID_ARGUMENT', '--quiet and --progress always contradict each other', {
      hint: 'give one of them',
    });
  }
  if (flags.quiet) return 'never';
  const mode = (flags.progress ?? 'auto') as ProgressMode;
  return flags.json && mode === 'auto' ? 'never' : mode;
}

/** What a progress line says; `unit` is bytes unless the work counts chunks. */
export interface ProgressState {
  readonly label: string;
  readonly unit: 'bytes' | 'chunks';
  readonly done: number;
  readonly total: number;
  /** Of `done`, what was found already stored and what was sent; undefined when not known. */
  readonly moved: { readonly stored: number; readonly sent: number } | undefined;
  readonly elapsedMs: number;
  /** How long the current stage has run, when the work has stages (the rate is of it). */
  readonly stageMs?: number;
}

/** One progress line, e.g. `add X  12.0 MiB / 40.0 MiB 30%  3.0 MiB already stored, 9.0 MiB sent  4.0 MiB/s  elapsed 3s  ETA 7s`. */
export function progressLine(s: ProgressState): string {
  const amount = (n: number) => (s.unit === 'bytes' ? formatBytes(n) : count(n, 'chunk'));
  const seconds = s.elapsedMs / 1000;
  const stage = (s.stageMs ?? s.elapsedMs) / 1000;
  const rate = stage > 0 ? s.done / stage : 0;
  const parts = [
    s.label,
    s.total > 0
      ? `${amount(s.done)} / ${amount(s.total)} ${Math.floor((100 * s.done) / s.total)}%`
      : amount(s.done),
  ];
  if (s.moved) parts.push(`${amount(s.moved.stored)} already stored, ${amount(s.moved.sent)} sent`);
  parts.push(s.unit === 'bytes' ? `${formatBytes(rate)}/s` : `${rate.toFixed(0)} chunks/s`);
  parts.push(`elapsed ${duration(seconds)}`);
  const left = s.total - s.done;
  parts.push(
    `ETA ${s.total > 0 && rate > 0 ? duration(left / rate) : left === 0 && s.total > 0 ? '0s' : '-'}`,
  );
  return parts.join('  ');
}

/** 59s, 4m05s, 2h03m. */
export function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
}

/** Lines off a terminal come this often at most (and once at the end). */
const LINE_EVERY_MS = 2000;

export function createProgress(
  label: string,
  total: number,
  opts: {
    mode?: ProgressMode;
    unit?: 'bytes' | 'chunks';
    stream?: NodeJS.WriteStream;
    now?: () => number;
  } = {},
): Progress {
  const stream = opts.stream ?? process.stderr;
  const mode = opts.mode ?? 'auto';
  const tty = stream.isTTY === true;
  if (mode === 'never' || (mode === 'auto' && !tty)) {
    return { shown: false, update() {}, increment() {}, moved() {}, stop() {} };
  }
  const now = opts.now ?? Date.now;
  const started = now();
  let stageStarted = started;
  let state: Pick<ProgressState, 'done' | 'total' | 'moved'> = { done: 0, total, moved: undefined };
  const line = () =>
    progressLine({
      label,
      unit: opts.unit ?? 'bytes',
      ...state,
      elapsedMs: now() - started,
      stageMs: now() - stageStarted,
    });
  let render: () => void;
  let finish: () => void;
  if (tty) {
    const bar = new cliProgress.SingleBar(
      { format: () => line(), stream, hideCursor: true, clearOnComplete: false },
      cliProgress.Presets.shades_classic,
    );
    bar.start(Math.max(1, total), 0);
    render = () => bar.update(state.done);
    finish = () => bar.stop();
  } else {
    let last = started;
    render = () => {
      if (now() - last < LINE_EVERY_MS) return;
      last = now();
      stream.write(`${line()}\n`);
    };
    finish = () => stream.write(`${line()}\n`);
  }
  let stopped = false;
  return {
    shown: true,
    update(done, t) {
      // A job's next stage (an import's unpack after its download) counts from 0 again.
      if (done < state.done) stageStarted = now();
      state = { ...state, done, total: t };
      render();
    },
    increment(n, how) {
      const m = state.moved ?? { stored: 0, sent: 0 };
      const moved = how === undefined ? state.moved : { ...m, [how]: m[how] + n };
      state = { ...state, done: state.done + n, moved };
      render();
    },
    moved(stored, sent) {
      state = { ...state, moved: { stored, sent } };
    },
    stop() {
      if (stopped) return;
      stopped = true;
      finish();
    },
  };
}
