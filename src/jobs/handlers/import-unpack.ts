import { IngotError } from '../../core/errors.js';
import type { ChunkRef, ManifestDraft } from '../../core/manifest.js';
import { fillBlocks } from '../../store/block-reads.js';
import type { ChunkWriter, HashedChunkWriter } from '../../store/chunk-store.js';
import { isoContent, readIso } from '../../store/iso-reader.js';
import { chunksOf, type IngestSource } from '../../store/source.js';
import { StoredFile } from '../../store/stored-file.js';
import { isoInZip } from '../../store/zip-reader.js';
import { emptyUploadStats, type UploadStats, uploadChunks } from '../../transfer/uploader.js';
import { hashedSink, untilAborted } from './ingest.job.js';

/**
 * What a URL import unpacks its checked download into (--unpack zip,iso): the ISO a zip
 * holds, as a file image; an ISO's contents, as a tree image; or both in turn. The download
 * is read back from its own chunks in the store (StoredFile), so no second copy of it is
 * written: an ISO taken out of a zip is chunked and stored as it inflates (a stored member
 * shares nearly every chunk with the zip), and a tree's files are streamed from the ISO's
 * chunks in entry order through the same chunker, uploader and sink as a local ingest.
 */

export const UNPACK_STEPS = ['zip', 'iso'] as const;
export type UnpackStep = (typeof UNPACK_STEPS)[number];

export interface Unpacked {
  readonly draft: ManifestDraft;
  readonly stats: UploadStats;
  /** What was taken out: the zip member's name, the ISO's flavour and its entries. */
  readonly from: { readonly zipMember?: string; readonly iso?: string; readonly entries?: number };
}

export interface UnpackDeps {
  readonly store: ChunkWriter & HashedChunkWriter;
  readonly signal: AbortSignal;
  readonly onBytes: (n: number) => void;
  /**
   * The bytes the unpack will stream, all steps together, as soon as they are known: a zip
   * member's size from the central directory, an ISO's file sizes from its directories
   * (counted at the ISO's own size, their bound, until those are read).
   */
  readonly onTotal: (bytes: number) => void;
}

const BATCH_CHUNKS = 128;
const BATCHES_IN_FLIGHT = 2;

/** "zip,iso", "zip" or "iso" as the steps, in the order they apply; INVALID_ARGUMENT otherwise. */
export function parseUnpack(given: readonly string[]): UnpackStep[] {
  const bad = given.filter((s) => !(UNPACK_STEPS as readonly string[]).includes(s));
  if (bad.length > 0 || new Set(given).size !== given.length || given.length === 0) {
    throw new IngotError(
      'INVALID_ARGUMENT',
      `--unpack ${given.join(',')} is not one of zip,iso, zip or iso`,
      {
        hint: 'zip takes the ISO out of a zip (a file image); iso makes a tree image of an ISO; zip,iso both',
      },
    );
  }
  return UNPACK_STEPS.filter((s) => given.includes(s));
}

export async function unpackDownload(
  steps: readonly UnpackStep[],
  download: readonly ChunkRef[],
  deps: UnpackDeps,
): Promise<Unpacked> {
  const stats = emptyUploadStats();
  const from: { zipMember?: string; iso?: string; entries?: number } = {};
  let refs = download;
  let inflated = 0;
  if (steps.includes('zip')) {
    const member = await isoInZip(storedFile(refs, deps));
    from.zipMember = member.name;
    inflated = member.size;
    deps.onTotal(steps.includes('iso') ? 2 * inflated : inflated);
    refs = await store({ kind: 'stream', blocks: fillBlocks(member.open()) }, deps, stats);
  }
  const file = storedFile(refs, deps);
  if (!steps.includes('iso')) {
    return {
      draft: { payload: { kind: 'file', size: file.size, mode: 0o644 }, chunks: [...refs] },
      stats,
      from,
    };
  }
  const tree = await readIso(file);
  deps.onTotal(inflated + tree.entries.reduce((n, e) => n + (e.type === 'file' ? e.size : 0), 0));
  from.iso = tree.flavour;
  from.entries = tree.entries.length;
  const chunks = await store(
    { kind: 'tree-stream', entries: tree.entries, content: isoContent(file, tree) },
    deps,
    stats,
  );
  return { draft: { payload: { kind: 'tree', entries: tree.entries }, chunks }, stats, from };
}

function storedFile(refs: readonly ChunkRef[], deps: UnpackDeps): StoredFile {
  return new StoredFile(refs, (d) => deps.store.get(d));
}

async function store(source: IngestSource, deps: UnpackDeps, into: UploadStats): Promise<ChunkRef[]> {
  const { refs, stats } = await uploadChunks(
    hashedSink(deps.store, deps.signal),
    untilAborted(chunksOf(source), deps.signal),
    { batchChunks: BATCH_CHUNKS, inFlight: BATCHES_IN_FLIGHT, onBytes: deps.onBytes },
  );
  for (const k of Object.keys(into) as (keyof UploadStats)[]) into[k] += stats[k];
  return refs;
}
