import type { Digest } from '../core/manifest.js';
import type { ChunkStore } from '../store/chunk-store.js';
import { type CpuPool, cpuPool } from '../store/cpu-pool.js';
import type { DeltaChunk } from '../store/frame-codec.js';
import { rawReferences } from './delta-chunks.js';

/**
 * Patches (patch-codec.ts) for a sender that lacks the reference, as a remote CLI adding a
 * new version of an image its server holds: the server signs its copy of each reference,
 * the sender patches its chunk against the signature, and the server rebuilds, checks and
 * stores the chunk whole like any delta (resolveDeltas). Signing and patching run on the
 * CPU pool.
 */

/** The block signatures of each chunk this store holds, in the order asked; undefined where absent. */
export async function signaturesOf(
  store: ChunkStore,
  digests: readonly Digest[],
  pool: CpuPool = cpuPool(),
): Promise<(Buffer | undefined)[]> {
  const held = await rawReferences(store, digests);
  const present = digests.filter((d) => held.has(d));
  const signed = await pool.sign(present.map((d) => held.get(d) as Buffer));
  const byDigest = new Map(present.map((d, i) => [d, signed[i] as Buffer]));
  return digests.map((d) => byDigest.get(d));
}

/**
 * Per item, a patch against the reference whose signature is given, where it saves an eighth
 * or more (cpu-work.ts); undefined (send it whole) otherwise or without a signature.
 */
export async function patchesFor(
  items: readonly { readonly raw: Uint8Array; readonly reference: Digest | undefined }[],
  signatures: ReadonlyMap<Digest, Buffer>,
  pool: CpuPool = cpuPool(),
): Promise<(DeltaChunk | undefined)[]> {
  const todo = items.flatMap((it, k) => {
    const sig = it.reference === undefined ? undefined : signatures.get(it.reference);
    return sig && sig.length > 0 ? [{ k, reference: it.reference as Digest, sig, raw: it.raw }] : [];
  });
  const made = await pool.delta(todo.map((t) => ({ target: t.raw, reference: t.sig, patch: true })));
  const out: (DeltaChunk | undefined)[] = items.map(() => undefined);
  todo.forEach((t, j) => {
    const payload = made[j]?.payload;
    if (payload) out[t.k] = { encoding: 'delta', references: [t.reference], payload, patch: true };
  });
  return out;
}
