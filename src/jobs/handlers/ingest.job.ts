import { hostname } from 'node:os';
import { isAbsolute } from 'node:path';
import type { CatalogService } from '../../catalog/catalog.service.js';
import type { ImageService } from '../../catalog/image.service.js';
import type { ImageRecord } from '../../catalog/types.js';
import { IngotError } from '../../core/errors.js';
import { payloadSize } from '../../core/manifest.js';
import { draftToJson } from '../../core/manifest-codec.js';
import type { ChunkWriter, HashedChunkWriter } from '../../store/chunk-store.js';
import { openSource, requireSource, type SourceKind } from '../../store/source.js';
import type { ChunkSink, WireChunk } from '../../transfer/ports.js';
import { type UploadStats, uploadChunks } from '../../transfer/uploader.js';
import type { JobQueue } from '../job-queue.js';
import type { JobContext } from '../job-runner.js';
import type { Job } from '../types.js';

/**
 * Ingest of a path on the server's own host, as a durable job: the server reads the bytes
 * once, chunks and hashes them (the same chunksOf as the CLI), stores the missing chunks
 * straight into its chunk store and seals the image through ImageService.commit, the code
 * path of an uploaded draft. It is the uploader with the chunk store as its sink, so
 * deduplication, batching and the figures reported are the upload's.
 *
 * A killed server leaves the job running with a dead owner; the restarted server claims it
 * again and the retry reads the source again, storing only what the store still lacks.
 * Nothing is listed before commit, so a crash never shows a half-made image.
 */
export const INGEST_JOB_KIND = 'ingest';

/** What an image is committed with besides its payload, on every job that makes one. */
export interface CommitOptions {
  readonly name: string;
  readonly type?: string;
  readonly series?: string;
  readonly from?: string;
  readonly state?: string;
  readonly private?: boolean;
}

/** The fields of `req` that ImageService.commit and preflight take, and no others. */
export function commitFields(req: CommitOptions): CommitOptions {
  return {
    name: req.name,
    ...(req.type !== undefined ? { type: req.type } : {}),
    ...(req.series !== undefined ? { series: req.series } : {}),
    ...(req.from !== undefined ? { from: req.from } : {}),
    ...(req.state !== undefined ? { state: req.state } : {}),
    ...(req.private ? { private: true } : {}),
  };
}

export interface LocalIngestRequest extends CommitOptions {
  /** Absolute, read with the server's own permissions. */
  readonly path: string;
  readonly kind: SourceKind;
}

export interface LocalIngestResult {
  readonly image: ImageRecord;
  readonly upload: UploadStats;
  readonly warnings: string[];
}

/** 128 chunks of ~64 KiB: 8 MiB per have/want question and per store append. */
const BATCH_CHUNKS = 128;
const BATCHES_IN_FLIGHT = 2;

export class LocalIngestService {
  private readonly host: string;

  constructor(
    private readonly deps: {
      readonly images: ImageService;
      readonly catalog: CatalogService;
      readonly store: ChunkWriter & HashedChunkWriter;
      readonly jobs: JobQueue;
      readonly wake: () => void;
      readonly host?: string;
    },
  ) {
    this.host = deps.host ?? hostname();
  }

  /** Refuses what can be refused before a byte is read, then queues the job. */
  async start(req: LocalIngestRequest): Promise<Job<LocalIngestRequest>> {
    if (!isAbsolute(req.path)) {
      throw new IngotError('INVALID_ARGUMENT', `${JSON.stringify(req.path)} is not an absolute path`, {
        hint: 'the server resolves nothing against a working directory: give the full path',
      });
    }
    await this.deps.images.preflight({ ...req, source: this.source(req) });
    await refuseRunning(this.deps.jobs, req.name);
    await requireSource(req.path, req.kind).catch((err: unknown) => {
      throw asServerRead(err);
    });
    const job = await this.deps.jobs.enqueue(INGEST_JOB_KIND, req, { maxAttempts: 3 });
    this.deps.wake();
    return job;
  }

  async run(req: LocalIngestRequest, ctx: JobContext): Promise<LocalIngestResult> {
    // A resumed job may find its name taken meanwhile: fail before reading it all again.
    await this.deps.images.preflight({ ...req, source: this.source(req) });
    const { payload, chunks, warnings } = await openSource(req.path, req.kind);
    const total = payloadSize(payload);
    let done = 0;
    ctx.progress(0, total);
    const { refs, stats } = await uploadChunks(
      hashedSink(this.deps.store, ctx.signal),
      untilAborted(chunks, ctx.signal),
      {
        batchChunks: BATCH_CHUNKS,
        inFlight: BATCHES_IN_FLIGHT,
        onBytes: (n) => {
          done += n;
          ctx.progress(done, total);
        },
      },
    );
    const image = await this.deps.images.commit({
      ...commitFields(req),
      source: this.source(req),
      draft: draftToJson({ payload, chunks: refs }),
    });
    return { image, upload: stats, warnings };
  }

  private source(req: LocalIngestRequest) {
    return { host: this.host, path: req.path };
  }
}

/** Job kinds that end in a new image of the name in their payload (ingest, URL import). */
const IMAGE_MAKING_KINDS = new Set<string>([INGEST_JOB_KIND]);

export function makesImages(kind: string): void {
  IMAGE_MAKING_KINDS.add(kind);
}

/** Two jobs making one name would read everything twice for one of them to lose at commit. */
export async function refuseRunning(jobs: JobQueue, name: string): Promise<void> {
  for (const kind of IMAGE_MAKING_KINDS) {
    for (const state of ['queued', 'running'] as const) {
      const found = await jobs.list({ kind, state, limit: 1000 });
      const same = found.find((j) => (j.payload as { name?: string }).name === name);
      if (same) {
        throw new IngotError('CONFLICT', `an ${kind} of ${name} is already ${state} (job ${same.id})`, {
          details: { job: same.id },
          hint: `follow it with \`ingot job show ${same.id}\`, or cancel it with \`ingot job cancel ${same.id}\``,
        });
      }
    }
  }
}

/** The same refusal, saying whose permissions counted: the server's, not the caller's. */
function asServerRead(err: unknown): unknown {
  if (!(err instanceof IngotError) || err.code !== 'PATH_NOT_FOUND') return err;
  return new IngotError(
    'PATH_NOT_FOUND',
    `the server cannot read ${String(err.details?.path ?? err.message)}`,
    {
      hint: 'the server reads the path with its own permissions on its host: make it readable to the user running `ingot serve`, or send it with `ingot image add --upload`',
    },
  );
}

/**
 * The chunk store as the uploader's sink: the chunks were hashed in this process. A lost
 * lease or a stopping runner ends the batches in flight too, not only the reading.
 */
export function hashedSink(store: ChunkWriter & HashedChunkWriter, signal: AbortSignal): ChunkSink {
  return {
    missing: async (digests) => {
      signal.throwIfAborted();
      return store.missing(digests);
    },
    async put(chunks: AsyncIterable<WireChunk>) {
      signal.throwIfAborted();
      const items = [];
      for await (const c of chunks)
        items.push({ digest: c.digest, chunk: c.encoded, rawLength: c.rawLength });
      const r = await store.putManyHashed(items);
      if (r.rejected.length > 0) {
        throw new IngotError('PAYLOAD_TOO_LARGE', `${r.rejected.length} chunk(s) exceed the store's bounds`, {
          details: { rejected: r.rejected.slice(0, 10) },
        });
      }
      return { stored: r.stored, storedBytes: r.storedBytes };
    },
  };
}

export async function* untilAborted<T>(chunks: AsyncIterable<T>, signal: AbortSignal) {
  for await (const c of chunks) {
    signal.throwIfAborted();
    yield c;
  }
}
