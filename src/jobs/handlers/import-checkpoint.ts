/**
 * The checkpoints of a URL import (db 008): every SEGMENT_BYTES of the download, the chunk
 * references stored so far, the offset reached and the source's validator, so a job
 * claimed again asks the source for the rest only. Each checkpoint ends on a chunk boundary.
 */
import type { ChunkRef, Digest } from '../../core/manifest.js';
import type { SourceChunk } from '../../store/source.js';
import type { JobCheckpoints } from '../job-checkpoints.js';

/** Stored and checkpointed every 16 MiB (two store batches): what a resume reads again at most. */
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
 * The next stretch of a chunk stream: chunks until at least `bytes` of them, leaving the
 * stream open for the next stretch; `ended` says whether the stream ran out.
 */
export function segment(it: AsyncIterator<SourceChunk>, bytes: number) {
  let ended = false;
  async function* chunks(): AsyncGenerator<SourceChunk> {
    let n = 0;
    while (n < bytes) {
      const next = await it.next();
      if (next.done) {
        ended = true;
        return;
      }
      n += next.value.ref.length;
      yield next.value;
    }
  }
  return { chunks: chunks(), ended: () => ended };
}

function refToJson(r: ChunkRef): [number] | [number, string] {
  return r.kind === 'hole' ? [r.length] : [r.length, r.digest];
}

function refFromJson(j: [number] | [number, string]): ChunkRef {
  return j.length === 1
    ? { kind: 'hole', length: j[0] }
    : { kind: 'data', length: j[0], digest: j[1] as Digest };
}
