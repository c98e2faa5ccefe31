import type { CatalogService } from '../catalog/catalog.service.js';
import { requireChunks } from '../catalog/chunk-check.js';
import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import type { ManifestStore } from '../store/manifest-store.js';
import type { ImageSink, ImageSource, TransferOptions } from '../transfer/image-sides.js';
import { planTransfers, transferImage } from '../transfer/image-transfer.js';
import type { RateLimits } from '../transfer/rate-limit.js';
import { type LocalSideDeps, localSink } from './local-sides.js';
import type { PeerService } from './peer.service.js';
import type { PeerLinks } from './peer-links.js';
import { openVersion, type TemplateService, type TemplateVersion } from './template.service.js';
import type { PeerRecord } from './types.js';

/**
 * One sync of a followed template, the `netclnt` way: fetch the upstream's latest version,
 * check its signature with the upstream's pinned key, then make sure every image it names
 * is here. An image already held with the same digest costs nothing but a local check
 * that all its chunks are present ("skipped: already present, verified"), however it got
 * here (a bundle, an upload this site made, an earlier sync). Missing ones are pulled;
 * only the chunks this server lacks travel. Nothing is ever removed.
 */
export type ImageSyncOutcome = 'present' | 'fetched' | 'conflict' | 'failed';

export interface ImageSyncResult {
  name: string;
  digest: string;
  outcome: ImageSyncOutcome;
  /** Raw bytes this server lacked (fetched, or would fetch in a dry run). */
  bytesMissing: number;
  /** Chunk-stream bytes that crossed the link (in a dry run: would, deltas included). */
  wireBytes: number;
  error?: string;
}

export interface SyncResult {
  upstream: string;
  template: string;
  version: number;
  dryRun: boolean;
  images: ImageSyncResult[];
  bytesMissing: number;
  wireBytes: number;
}

export interface SyncDeps {
  readonly peers: PeerService;
  readonly links: PeerLinks;
  readonly local: LocalSideDeps;
  readonly catalog: CatalogService;
  readonly manifests: ManifestStore;
  readonly templates: TemplateService;
  readonly limits: RateLimits;
}

export async function syncTemplate(
  deps: SyncDeps,
  following: { upstream: string; template: string; maxRate: number | null },
  opts: { dryRun?: boolean; signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<SyncResult> {
  const peer = await deps.peers.get(following.upstream);
  const client = deps.links.client(peer);
  const version = openVersion(await client.template(following.template), peer);
  if (version.template !== following.template) {
    throw new IngotError('INVALID_ARGUMENT', `${peer.name} answered with template ${version.template}`);
  }
  const vouched = new Map(version.images.map((i) => [i.name, i]));
  const sink = localSink(deps.local, peer, (meta) => ({
    kind: 'vouched',
    digest: vouched.get(meta.name)?.digest ?? ('' as Digest),
    originKey: vouched.get(meta.name)?.originKey,
  }));
  const results: ImageSyncResult[] = [];
  const total = version.images.reduce((n, i) => n + i.size, 0);
  let done = 0;
  for (const image of version.images) {
    const held = await present(deps, image.name, image.digest);
    if (held) results.push(held);
    else if (opts.dryRun) results.push(await plan(client.source(), sink, image.name, image.digest));
    else {
      results.push(
        await fetchOne(client.source(), sink, image.name, image.digest, {
          limiter: deps.limits.forPeer(peer.name, following.maxRate ?? peer.maxRate),
          ...(opts.signal ? { signal: opts.signal } : {}),
          onProgress: (p) => opts.onProgress?.(done + p.bytesDone, total),
        }),
      );
    }
    done += image.size;
    opts.onProgress?.(done, total);
  }
  const result = summarise(peer, version, results, opts.dryRun === true);
  const failed = results.filter((r) => r.outcome === 'conflict' || r.outcome === 'failed');
  if (failed.length > 0) {
    throw new IngotError(
      'CONFLICT',
      `${failed.length} image(s) of ${version.template} v${version.version} could not be made present: ${failed.map((f) => `${f.name} (${f.error})`).join('; ')}`,
      {
        details: { result },
      },
    );
  }
  if (!opts.dryRun) await deps.templates.mirror(peer.name, version);
  return result;
}

async function present(deps: SyncDeps, name: string, digest: string): Promise<ImageSyncResult | undefined> {
  const held = await deps.catalog.findImage(name);
  if (!held) return undefined;
  if (held.digest !== digest) {
    return {
      name,
      digest,
      outcome: 'conflict',
      bytesMissing: 0,
      wireBytes: 0,
      error: `this server holds another image named ${name} (digest ${held.digest.slice(0, 12)})`,
    };
  }
  // Same digest: verify every chunk is here before calling it done.
  const { chunks } = await deps.manifests.summary(await deps.manifests.readManifest(held.digest));
  await requireChunks(deps.local.store, chunks);
  return { name, digest, outcome: 'present', bytesMissing: 0, wireBytes: 0 };
}

async function plan(
  source: ImageSource,
  sink: ImageSink,
  name: string,
  digest: string,
): Promise<ImageSyncResult> {
  const p = await planTransfers(source, sink, [name]);
  return { name, digest, outcome: 'fetched', bytesMissing: p.bytesMissing, wireBytes: p.wireBytes ?? 0 };
}

async function fetchOne(
  source: ImageSource,
  sink: ImageSink,
  name: string,
  digest: string,
  opts: TransferOptions,
): Promise<ImageSyncResult> {
  try {
    const r = await transferImage(source, sink, name, opts);
    return {
      name,
      digest,
      outcome: r.outcome === 'present' ? 'present' : 'fetched',
      bytesMissing: r.bytesTotal - r.bytesPresent,
      wireBytes: r.wireBytes,
    };
  } catch (err) {
    if (opts?.signal?.aborted) throw err;
    // Unreachable upstream or a cut link fails the whole sync (and it is retried).
    if (err instanceof IngotError && err.code === 'UNAVAILABLE') throw err;
    return { name, digest, outcome: 'failed', bytesMissing: 0, wireBytes: 0, error: (err as Error).message };
  }
}

function summarise(
  peer: PeerRecord,
  version: TemplateVersion,
  images: ImageSyncResult[],
  dryRun: boolean,
): SyncResult {
  return {
    upstream: peer.name,
    template: version.template,
    version: version.version,
    dryRun,
    images,
    bytesMissing: images.reduce((n, i) => n + i.bytesMissing, 0),
    wireBytes: images.reduce((n, i) => n + i.wireBytes, 0),
  };
}
