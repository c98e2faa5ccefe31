import { resolve } from 'node:path';

/** The inputs a benchmark can run; each script says which it knows and which run by default. */
export type InputName = 'file' | 'tree' | 'ext4' | 'ext4-patched' | 'tar';

/** Benchmark settings from the environment, read once. */
export interface BenchConfig {
  /** The repository root (where bin/ingot.js lives). */
  readonly repo: string;
  /** Work directory for data, stores and results: BENCH_DIR, default `<repo>/.bench`. */
  readonly dir: string;
  /** Size of the pseudo-random file input: BENCH_SIZE_GIB (default 2). */
  readonly sizeGiB: number;
  readonly sizeBytes: number;
  /** Repetitions per measurement; medians are reported: BENCH_REPS (default 3). */
  readonly reps: number;
  /** Which root file system input: auto (debootstrap, else generated), debootstrap, generated. */
  readonly rootfs: 'auto' | 'debootstrap' | 'generated';
  /** Debian mirror for debootstrap. */
  readonly mirror: string;
  /** Time box for debootstrap, seconds. */
  readonly debootstrapTimeout: number;
  /** Inputs to run: BENCH_INPUTS, a comma list (default: the script's own). */
  readonly inputs: readonly InputName[];
}

function num(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return n;
}

export function loadConfig(
  known: readonly InputName[] = ['file', 'tree'],
  defaults: readonly InputName[] = known,
): BenchConfig {
  const repo = resolve(import.meta.dirname, '..', '..');
  const sizeGiB = num('BENCH_SIZE_GIB', 2);
  // Whole 4 KiB blocks, so "1% of the blocks" is well defined.
  const sizeBytes = Math.round((sizeGiB * 2 ** 30) / 4096) * 4096;
  const rootfs = process.env.BENCH_ROOTFS ?? 'auto';
  if (rootfs !== 'auto' && rootfs !== 'debootstrap' && rootfs !== 'generated') {
    throw new Error(`BENCH_ROOTFS must be auto, debootstrap or generated, got ${rootfs}`);
  }
  const inputs = (process.env.BENCH_INPUTS ?? defaults.join(',')).split(',').map((s) => s.trim());
  for (const i of inputs)
    if (!(known as readonly string[]).includes(i))
      throw new Error(`unknown input in BENCH_INPUTS: ${i} (this benchmark knows ${known.join(', ')})`);
  return {
    repo,
    dir: resolve(repo, process.env.BENCH_DIR ?? '.bench'),
    sizeGiB,
    sizeBytes,
    reps: Math.round(num('BENCH_REPS', 3)),
    rootfs,
    mirror: process.env.BENCH_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian',
    debootstrapTimeout: num('BENCH_DEBOOTSTRAP_TIMEOUT', 900),
    inputs: inputs as InputName[],
  };
}
