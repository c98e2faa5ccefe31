import type { CatalogService } from '../../catalog/catalog.service.js';
import type { Digest } from '../../core/manifest.js';
import { type ChunkStore, type Compaction, isCompactable } from '../../store/chunk-store.js';
import { type ManifestStore, namedChunks } from '../../store/manifest-store.js';

export interface GcResult extends Compaction {
  images: number;
  referencedChunks: number;
  deletedChunks: number;
  freedBytes: number;
  sparedRecent: number;
  deletedManifests: number;
  /** The grace period this run used, so a report can say why chunks were kept. */
  graceSeconds: number;
  /** A dry run counts what it would remove (the `deleted*` and `freed*` figures) and removes nothing. */
  dryRun: boolean;
}

export interface GcOptions {
  graceSeconds: number;
  dryRun?: boolean;
}

/**
 * Mark and sweep. The mark is every chunk named by a listed image's manifest (a version 2
 * root's parts among them: a manifest that cannot be loaded whole stops gc); the sweep
 * deletes the rest, except chunks touched within the grace period: an ingest in progress
 * touches every chunk it uploads or is told is present, and commits only after checking
 * they are all still there, so gc never pulls a chunk from under it. A kept release's
 * chunks are marked too. Then the store compacts: partly dead segments (or packs) are
 * rewritten, and the ones emptied are removed once the grace period has passed (a reader on
 * another node may have looked one up). A dry run walks the same way and only counts.
 */
export async function collectGarbage(
  deps: {
    catalog: CatalogService;
    store: ChunkStore;
    manifests: ManifestStore;
    /** Told what the compaction after the sweep did (the metrics count it). */
    onCompacted?: (c: Compaction) => void;
    /** Chunks kept besides the images' (the releases of a roll). */
    roots?: () => Promise<readonly Digest[]>;
    now?: () => number;
  },
  { graceSeconds, dryRun = false }: GcOptions,
  progress: (done: number, total: number) => Promise<void> | void,
): Promise<GcResult> {
  const started = deps.now?.() ?? Date.now();
  const cutoff = started - graceSeconds * 1000;
  const digests = await deps.catalog.listDigests();
  const referenced = new Set<string>(await (deps.roots?.() ?? []));
  for (const d of digests) {
    for (const c of namedChunks(await deps.manifests.load(d as Digest)).keys()) referenced.add(c);
  }
  const result: GcResult = {
    images: digests.length,
    referencedChunks: referenced.size,
    deletedChunks: 0,
    freedBytes: 0,
    sparedRecent: 0,
    deletedManifests: 0,
    graceSeconds,
    dryRun,
    segmentsRewritten: 0,
    bytesRewritten: 0,
    bytesReclaimed: 0,
  };
  let seen = 0;
  for await (const info of deps.store.list()) {
    if (++seen % 1024 === 0) await progress(seen, 0);
    if (referenced.has(info.digest)) continue;
    if (info.mtimeMs >= cutoff) {
      result.sparedRecent++;
      continue;
    }
    if (!dryRun) await deps.store.delete(info.digest, { ifTouchedBefore: cutoff });
    result.deletedChunks++;
    result.freedBytes += info.storedBytes;
  }
  result.deletedManifests = await deps.manifests.prune(new Set(digests), cutoff, { dryRun });
  if (dryRun || !isCompactable(deps.store)) return result;
  const c = await deps.store.compact({ graceMs: graceSeconds * 1000 });
  deps.onCompacted?.(c);
  return {
    ...result,
    segmentsRewritten: c.segmentsRewritten,
    bytesRewritten: c.bytesRewritten,
    bytesReclaimed: c.bytesReclaimed,
  };
}
