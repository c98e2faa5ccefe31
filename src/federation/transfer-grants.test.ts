import { describe, expect, it } from 'vitest';
import { IngotError } from '../core/errors.js';
import type { Digest, Manifest } from '../core/manifest.js';
import { encodeManifest, manifestDigest } from '../core/manifest-codec.js';
import { TransferGrants } from './transfer-grants.js';

const A = 'a'.repeat(64) as Digest;
const B = 'b'.repeat(64) as Digest;
const C = 'c'.repeat(64) as Digest;

function image(name: string, chunks: Digest[]): { digest: Digest; bytes: Buffer } {
  const m: Manifest = {
    format: 'ingot-manifest',
    version: 1,
    name,
    origin: 'HQ',
    imageType: 'DISKIMAGE',
    parent: null,
    created: '2026-12-01T00:00:00.000Z',
    payload: { kind: 'file', size: chunks.length * 10, mode: 0o644 },
    chunks: chunks.map((digest) => ({ kind: 'data' as const, digest, length: 10 })),
  };
  const bytes = encodeManifest(m);
  return { digest: manifestDigest(bytes), bytes };
}

function code(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof IngotError ? err.code : 'not an IngotError';
  }
}

describe('TransferGrants', () => {
  it('lets a peer touch only the chunks of the image granted to it, in that direction', () => {
    const grants = new TransferGrants();
    const img = image('V1', [A, B]);
    grants.grant('SITE', 'read', img.digest, img.bytes);
    expect(code(() => grants.check('SITE', 'read', img.digest, [A, B]))).toBeUndefined();
    expect(code(() => grants.check('SITE', 'read', img.digest, [A, C]))).toBe('FORBIDDEN');
    expect(code(() => grants.check('SITE', 'write', img.digest, [A]))).toBe('FORBIDDEN');
    expect(code(() => grants.check('EDGE', 'read', img.digest, [A]))).toBe('FORBIDDEN');
    expect(code(() => grants.check('SITE', 'read', undefined, [A]))).toBe('FORBIDDEN');
    grants.revoke('SITE', 'read', img.digest);
    expect(code(() => grants.check('SITE', 'read', img.digest, [A]))).toBe('FORBIDDEN');
  });

  it('refuses a manifest that is not the one named, and forgets grants unused for an hour', () => {
    let now = 0;
    const grants = new TransferGrants(() => now);
    const img = image('V1', [A]);
    expect(code(() => grants.grant('SITE', 'write', image('V2', [B]).digest, img.bytes))).toBe(
      'DIGEST_MISMATCH',
    );
    grants.grant('SITE', 'write', img.digest, img.bytes);
    now = 59 * 60_000;
    expect(code(() => grants.check('SITE', 'write', img.digest, [A]))).toBeUndefined();
    now += 61 * 60_000;
    expect(code(() => grants.check('SITE', 'write', img.digest, [A]))).toBe('FORBIDDEN');
  });

  it('checks a pushed stream chunk by chunk, stopping at the first stranger', async () => {
    const grants = new TransferGrants();
    const img = image('V1', [A, B]);
    grants.grant('SITE', 'write', img.digest, img.bytes);
    const passed: Digest[] = [];
    const stream = grants.checked(
      'SITE',
      img.digest,
      (async function* () {
        yield* [{ digest: A }, { digest: B }, { digest: C }, { digest: A }];
      })(),
    );
    await expect(
      (async () => {
        for await (const c of stream) passed.push(c.digest);
      })(),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(passed).toEqual([A, B]);
  });
});
