/**
 * The checkpoints of a URL import (db 008): every SEGMENT_BYTES of the download, the chunk
 * references stored so far, the offset reached and the source's validator, so a job
 * claimed again asks the source for the rest only. Each checkpoint ends on a chunk boundary.
 */
import type { ChunkRef, Digest } from '../../core/manifest.js';
import type { SourceChunk } from '../../store/source.js';
import type { JobCheckpoints } from '../job-checkpoints.js';

/** Checkpointed every 16 MiB stored (two store batches): about what a resume reads again. */
export const SEGMENT_BYTES = 16 * 1024 * 1024;

/** What a checkpoint holds besides its offset: the stretch's chunk refs ([len] or [len, digest]). */
interface ImportCheckpoint {
  readonly refs: ([number] | [number, string])[];
  readonly validator: string | null;
  readonly total: number | null;
}

/** Where a job left off: the last checkpoint, all refs stored, the validator and size seen. */
export interface Resumable {
  readonly seq: number;
  readonly offset: number;
  readonly refs: ChunkRef[];
  readonly validator: string | undefined;
  readonly total: number | undefined;
}

export async function resumable(checkpoints: JobCheckpoints, jobId: number): Promise<Resumable> {
  const cps = await checkpoints.list<ImportCheckpoint>(jobId);
  const last = cps.at(-1);
  return {
    seq: last?.seq ?? 0,
    offset: last?.done ?? 0,
    refs: cps.flatMap((c) => c.body.refs.map(refFromJson)),
    validator: last?.body.validator ?? undefined,
    total: last?.body.total ?? undefined,
  };
}

/** Records a stored stretch: its refs, the offset it reached, the source's validator and size. */
export function checkpoint(
  checkpoints: JobCheckpoints,
  jobId: number,
  seq: number,
  offset: number,
  stretch: { refs: readonly ChunkRef[]; validator: string | undefined; total: number | undefined },
): Promise<void> {
  return checkpoints.append<ImportCheckpoint>(jobId, seq, offset, {
    refs: stretch.refs.map(refToJson),
    validator: stretch.validator ?? null,
    total: stretch.total ?? null,
  });
}

/**
 * The checkpoints of a running download, written behind its upload: the chunks pass through
 * `passing` in order, the upload reports how many of them are durable (uploadChunks'
 * onDurable), and each time that prefix has grown by SEGMENT_BYTES a checkpoint of it is
 * written while the upload goes on (one at a time, in order). Waiting for each stretch to
 * be durable before reading the next had left the disk idle while the CPU worked and the
 * CPU idle while the disk flushed. A failed write stops the stream at its next chunk.
 */
export class CheckpointTrail {
  /** Chunks seen and not yet in a checkpoint, the first being chunk number `base`. */
  private readonly open: ChunkRef[] = [];
  private base = 0;
  private writing: Promise<void> = Promise.resolve();
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly checkpoints: JobCheckpoints,
    private readonly jobId: number,
    private seq: number,
    /** The download's offset at chunk number `base`. */
    private offset: number,
    private readonly source: { validator: string | undefined; total: number | undefined },
  ) {}

  async *passing(chunks: AsyncIterable<SourceChunk>): AsyncGenerator<SourceChunk> {
    for await (const c of chunks) {
      if (this.failure) throw this.failure.error;
      this.open.push(c.ref);
      yield c;
    }
  }

  /** The first `chunks` chunks of the stream are stored: checkpoint them once they make a stretch. */
  durable(chunks: number): void {
    const n = chunks - this.base;
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += (this.open[i] as ChunkRef).length;
    if (bytes >= SEGMENT_BYTES) this.cut(n, bytes);
  }

  /** Every chunk stored: the last stretch checkpointed too, and all writes done (or the first failure thrown). */
  async finish(): Promise<void> {
    const bytes = this.open.reduce((t, r) => t + r.length, 0);
    if (this.open.length > 0) this.cut(this.open.length, bytes);
    await this.writing;
    if (this.failure) throw this.failure.error;
  }

  /** Waits for the writes under way, whatever they came to (before a failed job lets go). */
  settled(): Promise<void> {
    return this.writing;
  }

  private cut(n: number, bytes: number): void {
    const refs = this.open.splice(0, n);
    this.base += n;
    this.offset += bytes;
    const at = { seq: ++this.seq, offset: this.offset };
    this.writing = this.writing.then(async () => {
      if (this.failure) return;
      try {
        await checkpoint(this.checkpoints, this.jobId, at.seq, at.offset, { refs, ...this.source });
      } catch (error) {
        this.failure = { error };
      }
    });
  }
}

function refToJson(r: ChunkRef): [number] | [number, string] {
  return r.kind === 'hole' ? [r.length] : [r.length, r.digest];
}

function refFromJson(j: [number] | [number, string]): ChunkRef {
  return j.length === 1
    ? { kind: 'hole', length: j[0] }
    : { kind: 'data', length: j[0], digest: j[1] as Digest };
}
