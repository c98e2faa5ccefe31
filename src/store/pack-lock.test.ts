import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IngotError } from '../core/errors.js';
import { acquireStoreLock } from './pack-lock.js';

const CHILD = join(import.meta.dirname, '..', '..', 'test', 'support', 'store-lock-child.ts');

let dir: string;
let lock: string;
const children: ChildProcess[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ingot-lock-'));
  lock = join(dir, 'lock.sqlite');
});
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

/** Starts `command`, resolving with the pid a lock child prints once it holds the lock. */
function start(command: string, args: string[]): Promise<{ child: ChildProcess; holder: number }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /held (\d+)\n/.exec(out);
      if (m) resolve({ child, holder: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`lock child exited (${code}) before holding the lock`)));
  });
}

async function refusal(): Promise<IngotError> {
  const err = await acquireStoreLock(lock).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(IngotError);
  return err as IngotError;
}

/**
 * Resolves once `pid` is a zombie: dead, its files closed, not yet reaped by its parent. The
 * leader of a threaded process shows Z while its other threads are still exiting and may
 * hold the files they share; they are gone from its task list once past closing them.
 */
async function zombie(pid: number): Promise<void> {
  for (;;) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const dead = stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
    if (dead && (await readdir(`/proc/${pid}/task`)).length === 1) return;
    await new Promise((r) => setImmediate(r));
  }
}

describe('the store lock', () => {
  it('refuses a second opener, in this process or another, naming the holder, until it is released', async () => {
    const release = await acquireStoreLock(lock);
    const mine = await refusal();
    expect(mine.code).toBe('CONFLICT');
    expect(mine.details).toMatchObject({ pid: process.pid, lock });
    await release();

    const { child, holder } = await start(process.execPath, ['--import', 'tsx', CHILD, lock]);
    const theirs = await refusal();
    expect(theirs.code).toBe('CONFLICT');
    expect(theirs.message).toBe(`the chunk store is in use by process ${holder}`);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    await (await acquireStoreLock(lock))();
  });

  it('does not block when its holder was killed and left a zombie nobody reaps', async () => {
    // sh starts the holder, then becomes `sleep`, which never waits for its children: the
    // killed holder stays a zombie whose pid still answers kill(pid, 0).
    const node = `'${process.execPath}' --import tsx '${CHILD}' '${lock}'`;
    const { holder } = await start('sh', ['-c', `${node} & exec sleep 600`]);
    process.kill(holder, 'SIGKILL');
    await zombie(holder);
    expect(() => process.kill(holder, 0)).not.toThrow();
    const release = await acquireStoreLock(lock);
    await release();
  });
});
