import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS, tempDatabase } from '../../test/support/databases.js';
import { tenByteImage, tenByteModel } from '../../test/support/manifests.js';
import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import { openDatabase } from '../db/database.js';
import { DirectoryManifests } from '../store/directory-manifests.js';
import { ManifestStore } from '../store/manifest-store.js';
import { PackChunkStore } from '../store/pack-chunk-store.js';
import type { MovingChunk } from '../transfer/ports.js';
import { TransferGrants } from './transfer-grants.js';
import { WriteGrantRepository } from './write-grant.repository.js';

const A = 'a'.repeat(64) as Digest;
const B = 'b'.repeat(64) as Digest;
const C = 'c'.repeat(64) as Digest;

const whole = (digest: Digest): MovingChunk => ({
  digest,
  rawLength: 10,
  encoded: { encoding: 'raw', payload: Buffer.alloc(10) },
});
const delta = (digest: Digest, reference: Digest): MovingChunk => ({
  digest,
  rawLength: 10,
  encoded: { encoding: 'delta', references: [reference], payload: Buffer.alloc(3) },
});

/** Runs a pushed stream through the grant check; what passed, and the error code if it stopped. */
async function drain(stream: AsyncIterable<MovingChunk>): Promise<{ passed: Digest[]; code?: string }> {
  const passed: Digest[] = [];
  try {
    for await (const c of stream) passed.push(c.digest);
    return { passed };
  } catch (err) {
    return { passed, code: (err as IngotError).code };
  }
}

const model = tenByteModel;
const image = tenByteImage;

const stores: PackChunkStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

async function manifestStore(): Promise<{ manifests: ManifestStore; chunks: PackChunkStore }> {
  const root = await mkdtemp(join(tmpdir(), 'ingot-grants-'));
  const chunks = await PackChunkStore.open(root);
  stores.push(chunks);
  return { manifests: new ManifestStore(new DirectoryManifests(root), chunks), chunks };
}

// biome-ignore lint/correctness/useYield: a store that holds no part throws before any
async function* noParts(): AsyncGenerator<never> {
  throw new IngotError('MISSING_CHUNKS', 'no store here');
}

async function code(fn: () => Promise<void>): Promise<string | undefined> {
  try {
    await fn();
    return undefined;
  } catch (err) {
    return err instanceof IngotError ? err.code : 'not an IngotError';
  }
}

describe('TransferGrants', () => {
  it('lets a peer touch only the chunks of the image granted to it, in that direction', async () => {
    const grants = new TransferGrants(noParts);
    const img = image('V1', [A, B]);
    await grants.grant('SITE', 'read', img.digest, img.bytes);
    expect(await code(() => grants.check('SITE', 'read', img.digest, [A, B]))).toBeUndefined();
    expect(await code(() => grants.check('SITE', 'read', img.digest, [A, C]))).toBe('FORBIDDEN');
    expect(await code(() => grants.check('SITE', 'write', img.digest, [A]))).toBe('FORBIDDEN');
    expect(await code(() => grants.check('EDGE', 'read', img.digest, [A]))).toBe('FORBIDDEN');
    expect(await code(() => grants.check('SITE', 'read', undefined, [A]))).toBe('FORBIDDEN');
    await grants.revoke('SITE', 'read', img.digest);
    expect(await code(() => grants.check('SITE', 'read', img.digest, [A]))).toBe('FORBIDDEN');
  });

  it('refuses a manifest that is not the one named, and forgets grants unused for an hour', async () => {
    let now = 0;
    const grants = new TransferGrants(noParts, () => now);
    const img = image('V1', [A]);
    expect(await code(() => grants.grant('SITE', 'write', image('V2', [B]).digest, img.bytes))).toBe(
      'DIGEST_MISMATCH',
    );
    await grants.grant('SITE', 'write', img.digest, img.bytes);
    now = 59 * 60_000;
    expect(await code(() => grants.check('SITE', 'write', img.digest, [A]))).toBeUndefined();
    now += 61 * 60_000;
    expect(await code(() => grants.check('SITE', 'write', img.digest, [A]))).toBe('FORBIDDEN');
  });

  it('holds the grants of many transfers at once: 50 pulls of small images all stay granted', async () => {
    let now = 0;
    const grants = new TransferGrants(noParts, () => now);
    const images = Array.from({ length: 50 }, (_, k) => image(`SMALL_${k}`, [A, B]));
    for (const img of images) {
      now++;
      await grants.grant('SITE', 'read', img.digest, img.bytes);
    }
    for (const img of images)
      expect(await code(() => grants.check('SITE', 'read', img.digest, [A]))).toBeUndefined();
  });

  it('checks a pushed stream chunk by chunk, stopping at the first stranger', async () => {
    const grants = new TransferGrants(noParts);
    const img = image('V1', [A, B]);
    await grants.grant('SITE', 'write', img.digest, img.bytes);
    const passed: Digest[] = [];
    const stream = grants.checked(
      'SITE',
      img.digest,
      (async function* () {
        yield* [A, B, C, A].map((digest) => whole(digest));
      })(),
    );
    await expect(
      (async () => {
        for await (const c of stream) passed.push(c.digest);
      })(),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(passed).toEqual([A, B]);
  });

  it('takes a pushed delta only against a chunk of a base named in the grant', async () => {
    const base = image('V0', [C]);
    const grants = new TransferGrants(async function* (bytes) {
      // The base's list, as this server's store would give it.
      if (bytes.equals(base.bytes)) yield model('V0', [C]).chunks;
    });
    const img = image('V1', [A, B]);
    await grants.grant('SITE', 'write', img.digest, img.bytes, [base.bytes]);
    const from = (...chunks: MovingChunk[]) =>
      grants.checked(
        'SITE',
        img.digest,
        (async function* () {
          yield* chunks;
        })(),
      );
    expect(await drain(from(delta(A, C), whole(B)))).toEqual({ passed: [A, B] });
    // B is a chunk of the image, not of the base: no delta may name it.
    expect(await drain(from(delta(A, B)))).toEqual({ passed: [], code: 'FORBIDDEN' });
    await grants.grant('SITE', 'write', img.digest, img.bytes);
    expect(await drain(from(delta(A, C)))).toEqual({ passed: [], code: 'FORBIDDEN' });
  });

  it('grants a version 2 root its parts first, and its data once the parts are held here', async () => {
    const origin = await manifestStore();
    const sealed = await origin.manifests.seal(model('V2', [A, B], 2));
    const [part] = sealed.parts;
    const receiver = await manifestStore();
    const grants = new TransferGrants((bytes) => receiver.manifests.chunkList(bytes));
    await grants.grant('HQ', 'write', sealed.digest, sealed.bytes);
    expect(
      await code(() => grants.check('HQ', 'write', sealed.digest, [part?.digest as Digest])),
    ).toBeUndefined();
    expect(await code(() => grants.check('HQ', 'write', sealed.digest, [A]))).toBe('FORBIDDEN');
    await receiver.chunks.put(part?.digest as Digest, await origin.chunks.get(part?.digest as Digest));
    expect(await code(() => grants.check('HQ', 'write', sealed.digest, [A, B]))).toBeUndefined();
    expect(await code(() => grants.check('HQ', 'write', sealed.digest, [C]))).toBe('FORBIDDEN');
  });
});

describe.each(DIALECTS)('write grants across the nodes of one catalog (%s)', (dialect) => {
  it("lets a push's chunks reach a node that did not take its offer, until the commit", async () => {
    const temp = await tempDatabase(dialect);
    const db = await openDatabase({ url: temp.url });
    try {
      const ledger = new WriteGrantRepository(db);
      const base = image('V0', [C]);
      const baseList = async function* (bytes: Buffer) {
        if (bytes.equals(base.bytes)) yield model('V0', [C]).chunks;
      };
      const nodeA = new TransferGrants(baseList, Date.now, ledger);
      const nodeB = new TransferGrants(baseList, Date.now, ledger);
      const img = image('V1', [A, B]);
      await nodeA.grant('SITE', 'write', img.digest, img.bytes, [base.bytes]);
      expect(await code(() => nodeB.check('SITE', 'write', img.digest, [A, B]))).toBeUndefined();
      expect(await code(() => nodeB.check('SITE', 'write', img.digest, [C]))).toBe('FORBIDDEN');
      expect(await code(() => nodeB.check('EDGE', 'write', img.digest, [A]))).toBe('FORBIDDEN');
      // Read grants are not in the ledger: a puller's are made again from the images.
      await nodeA.grant('SITE', 'read', img.digest, img.bytes);
      expect(await code(() => nodeB.check('SITE', 'read', img.digest, [A]))).toBe('FORBIDDEN');
      expect(
        await drain(
          nodeB.checked(
            'SITE',
            img.digest,
            (async function* () {
              yield delta(A, C);
            })(),
          ),
        ),
      ).toEqual({
        passed: [A],
      });
      await nodeB.revoke('SITE', 'write', img.digest);
      const nodeC = new TransferGrants(baseList, Date.now, ledger);
      expect(await code(() => nodeC.check('SITE', 'write', img.digest, [A]))).toBe('FORBIDDEN');
      await nodeA.grant('SITE', 'write', img.digest, img.bytes);
      expect(await ledger.prune(new Date(Date.now() + 1000))).toBe(1);
      expect(await code(() => nodeC.check('SITE', 'write', img.digest, [A]))).toBe('FORBIDDEN');
    } finally {
      await db.close();
      await temp.cleanup();
    }
  });
});
