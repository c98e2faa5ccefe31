import { IngotError } from '../core/errors.js';
import type { ChunkRef, Digest } from '../core/manifest.js';
import { decodeRoot } from '../core/manifest-v2.js';
import { chunkListFrom } from '../transfer/chunk-sets.js';
import { BaseIndex, ReferencePicker } from '../transfer/delta-references.js';
import type { ApiClient } from '../transfer/http-client.js';
import type { UploadPatches } from '../transfer/uploader.js';
import { httpChunkRemote } from './http-remote.js';

/**
 * `image add --from OLD` through a server's API: each chunk the server lacks goes as a
 * patch against the chunk in its place in OLD (the reference rule of peer deltas,
 * delta-references.ts), made from the server's block signatures of it, so a new version
 * costs about its changed bytes on the link. Undefined where the server has no
 * signatures route (an older server): chunks then go whole, as before.
 */
export async function uploadPatches(client: ApiClient, from: string): Promise<UploadPatches | undefined> {
  if (!(await signsChunks(client))) return undefined;
  const picker = new ReferencePicker(await BaseIndex.of(chunkListOf(client, from)));
  const remote = httpChunkRemote(client, { deltas: true });
  return {
    // The base's chunk in the chunk's place is the last reference the rule names.
    references: (batch, wanted) => picker.pick(batch, wanted).map((refs) => refs?.at(-1)),
    async signatures(digests) {
      const r = await client.json<{ signatures: (string | null)[] }>('POST', '/api/v1/chunks/signatures', {
        digests,
      });
      const out = new Map<Digest, Buffer>();
      r.signatures.forEach((s, i) => {
        if (s !== null) out.set(digests[i] as Digest, Buffer.from(s, 'base64'));
      });
      return out;
    },
    put: (chunks) => remote.put(chunks),
  };
}

async function signsChunks(client: ApiClient): Promise<boolean> {
  try {
    await client.json('POST', '/api/v1/chunks/signatures', { digests: [] });
    return true;
  } catch (err) {
    if (err instanceof IngotError && err.code === 'NOT_FOUND') return false;
    throw err;
  }
}

/** An image's chunk list as the server holds it, part by part (never whole). */
async function* chunkListOf(client: ApiClient, name: string): AsyncGenerator<readonly ChunkRef[]> {
  const { body } = await client.bytes(`/api/v1/images/${encodeURIComponent(name)}/manifest`);
  const decoded = decodeRoot(body);
  if (decoded.version === 1) yield decoded.manifest.chunks;
  else yield* chunkListFrom(httpChunkRemote(client), decoded.root);
}
