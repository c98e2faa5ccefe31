/** What every benchmark records about the machine and the build it measured. */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

/** First line a command prints, or undefined when it is missing or fails. */
export function firstLine(cmd: string, args: readonly string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .trim()
      .split('\n')[0];
  } catch {
    return undefined;
  }
}

export function machineFacts(cfg: { repo: string; dir: string }): Record<string, unknown> {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memBytes: totalmem(),
    kernel: firstLine('uname', ['-r']),
    node: process.version,
    gitHead: firstLine('git', ['-C', cfg.repo, 'rev-parse', '--short', 'HEAD']),
    fileSystem: firstLine('bash', ['-c', `df -T "${cfg.dir}" | tail -1 | awk '{print $2}'`]),
  };
}

/** Newest mtime under dist/ (tsc rewrites every file), to notice a rebuild during the run. */
export function buildStamp(repo: string): string | undefined {
  return firstLine('bash', [
    '-c',
    `find "${join(repo, 'dist')}" -type f -printf '%T@\\n' | sort -n | tail -1`,
  ]);
}
