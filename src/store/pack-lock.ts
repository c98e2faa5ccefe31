import { readFile, unlink, writeFile } from 'node:fs/promises';
import { IngotError } from '../core/errors.js';

/**
 * Exclusion for the pack store: a pid lock file so that two processes never append to
 * the same pack, and an async mutex that serialises appends within one process.
 */

/** Takes the lock file at `path`, or throws CONFLICT while a live process holds it. */
export async function acquirePidLock(path: string): Promise<() => Promise<void>> {
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
      return async () => {
        await unlink(path).catch(() => {});
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
    }
    const pid = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
      throw new IngotError('CONFLICT', `the chunk store is in use by process ${pid}`, {
        hint: `stop that process, or remove ${path} if it is not an Ingot process`,
        details: { pid, lock: path },
      });
    }
    // A stale lock from a process that died (kill -9, power cut): take it over.
    await unlink(path).catch(() => {});
  }
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A FIFO async mutex. */
export class AsyncMutex {
  private tail: Promise<void> = Promise.resolve();

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => {
      release = r;
    });
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
