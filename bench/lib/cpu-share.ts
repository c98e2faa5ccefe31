import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';

/**
 * How much of the machine's CPU went to processes that are not the benchmark's, over a timed
 * part. On a shared machine the load average mixes the benchmark's own servers with
 * everything else; this separates them, so a slow result can be told from a busy machine.
 *
 * Ours = this process and every child it has waited for (the kernel adds a reaped child's
 * CPU time to its parent's cutime/cstime, through `timeout`, `bash` and `/usr/bin/time`
 * alike), plus the servers still running, read one by one. The machine's busy time is
 * /proc/stat's user + nice + system + irq + softirq over all CPUs.
 */
export interface CpuSample {
  readonly busy: number;
  readonly ours: number;
  readonly at: bigint;
}

export interface CpuShare {
  /** Wall clock × CPUs. */
  readonly availableSeconds: number;
  readonly oursSeconds: number;
  /** Busy time of everything else (never below 0: clock-tick rounding). */
  readonly otherSeconds: number;
}

let ticksPerSecond: number | undefined;

function hz(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

async function machineBusyTicks(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = f;
  return user + nice + system + irq + softirq;
}

/** utime + stime (+ cutime + cstime) of a process, ticks; 0 once it is gone. */
async function processTicks(pid: number, withChildren: boolean): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: count fields after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const n = (i: number) => Number(f[i - 3] ?? 0);
    return n(14) + n(15) + (withChildren ? n(16) + n(17) : 0);
  } catch {
    return 0;
  }
}

/** `parentPids`: running processes of ours whose own reaped children are ours too (a daemon that forks). */
export async function cpuSample(
  serverPids: readonly number[],
  parentPids: readonly number[] = [],
): Promise<CpuSample> {
  let ours = await processTicks(process.pid, true);
  for (const pid of serverPids) if (pid > 0) ours += await processTicks(pid, false);
  for (const pid of parentPids) if (pid > 0) ours += await processTicks(pid, true);
  return { busy: await machineBusyTicks(), ours, at: process.hrtime.bigint() };
}

export function cpuShare(a: CpuSample, b: CpuSample): CpuShare {
  const t = hz();
  const wall = Number(b.at - a.at) / 1e9;
  const busy = (b.busy - a.busy) / t;
  const ours = (b.ours - a.ours) / t;
  return {
    availableSeconds: wall * cpus().length,
    oursSeconds: ours,
    otherSeconds: Math.max(0, busy - ours),
  };
}
