import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bash, duBytes, fileBytes, removeTree, run, sync, warmPages } from './proc.js';

/**
 * The reference measurements ("floors") for one input path: what reading, hashing, copying
 * and an established chunking tool cost on this machine, on the same bytes.
 * Every timed command starts with the input in the page cache and no dirty pages pending.
 */

export interface Sample {
  readonly seconds: number;
  readonly peakRss?: number | undefined;
}

/** `openssl dgst -sha256 FILE`, or for a tree `tar -cf - -C DIR . | openssl dgst -sha256`. */
export async function opensslSha256(path: string, isTree: boolean, scratch: string): Promise<Sample> {
  if (isTree) {
    const r = await bash('tar -cf - -C "$1" . | openssl dgst -sha256 >/dev/null', [path]);
    return { seconds: r.seconds };
  }
  const r = await run('openssl', ['dgst', '-sha256', path], {
    measureRss: true,
    rssFile: join(scratch, 'openssl.rss'),
  });
  return { seconds: r.seconds, peakRss: r.peakRss };
}

/** `cp` (cp -a for a tree) into a fresh directory on the same file system, then `sync`. */
export async function copyAndSync(path: string, isTree: boolean, scratch: string): Promise<Sample> {
  const dest = join(scratch, 'cp-dest');
  await removeTree(dest);
  await mkdir(dest, { recursive: true });
  await warmPages(scratch, await duBytes(path));
  const r = await bash(isTree ? 'cp -a "$1" "$2/" && sync' : 'cp "$1" "$2/" && sync', [path, dest]);
  await removeTree(dest);
  await sync();
  return { seconds: r.seconds };
}

export interface CasyncRep {
  readonly v1: Sample;
  readonly v2: Sample;
  readonly storeAfterV1: number;
  readonly storeAfterV2: number;
}

/**
 * `casync make --store=STORE OUT.caibx|.caidx PATH`: v1 into a fresh store, then v2 into the
 * same store, so the v2 run measures what a delta costs casync (its chunks of v1 are there).
 * Timed without a sync (casync does not fsync); a sync follows, untimed.
 */
export async function casyncRep(
  v1: string,
  v2: string,
  isTree: boolean,
  scratch: string,
): Promise<CasyncRep> {
  const dir = join(scratch, 'casync');
  await removeTree(dir);
  await mkdir(dir, { recursive: true });
  const store = join(dir, 'store.castr');
  const ext = isTree ? 'caidx' : 'caibx';
  const rssFile = join(dir, 'rss');
  await sync();
  const a = await run('casync', ['make', `--store=${store}`, join(dir, `v1.${ext}`), v1], {
    measureRss: true,
    rssFile,
  });
  await sync();
  const storeAfterV1 = await fileBytes(store);
  const b = await run('casync', ['make', `--store=${store}`, join(dir, `v2.${ext}`), v2], {
    measureRss: true,
    rssFile,
  });
  await sync();
  const storeAfterV2 = await fileBytes(store);
  await removeTree(dir);
  await sync();
  return {
    v1: { seconds: a.seconds, peakRss: a.peakRss },
    v2: { seconds: b.seconds, peakRss: b.peakRss },
    storeAfterV1,
    storeAfterV2,
  };
}

const PROBE = fileURLToPath(new URL('./ingest-probe.ts', import.meta.url));

/**
 * The ingest floor of a file (ingest-probe.ts): one read, SHA-256 of every byte on two worker
 * threads, and with `write` a copy into a fresh file with fdatasync at the end (v1); without it
 * read + hash only (v2, whose chunks are mostly known). Plain Node, timed from its start, as
 * the CLI is; the pages it writes into are warmed first, as for cp.
 */
export async function ingestFloor(path: string, scratch: string, write: boolean): Promise<Sample> {
  const dest = join(scratch, 'floor-dest');
  await removeTree(dest);
  await mkdir(dest, { recursive: true });
  if (write) await warmPages(scratch, await duBytes(path));
  const args = [PROBE, path, ...(write ? [join(dest, 'copy')] : [])];
  const r = await run(process.execPath, args, { measureRss: true, rssFile: join(scratch, 'floor.rss') });
  await removeTree(dest);
  await sync();
  return { seconds: r.seconds, peakRss: r.peakRss };
}
