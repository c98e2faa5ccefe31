import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type TempDatabase, tempDatabase } from '../../../test/support/databases.js';
import type { ChunkRef, Digest } from '../../core/manifest.js';
import { type Db, openDatabase } from '../../db/database.js';
import type { SourceChunk } from '../../store/source.js';
import { JobCheckpoints } from '../job-checkpoints.js';
import { JobQueue } from '../job-queue.js';
import { CheckpointTrail, resumable, SEGMENT_BYTES } from './import-checkpoint.js';

const MiB = 2 ** 20;
const data = (i: number, length: number): ChunkRef => ({
  kind: 'data',
  length,
  digest: i.toString(16).padStart(64, '0') as Digest,
});

async function* stream(refs: ChunkRef[]): AsyncGenerator<SourceChunk> {
  for (const ref of refs) yield { ref };
}

describe('the checkpoints written behind a URL import', () => {
  let temp: TempDatabase;
  let db: Db;
  let checkpoints: JobCheckpoints;
  let jobId: number;

  beforeEach(async () => {
    temp = await tempDatabase('sqlite');
    db = await openDatabase({ url: temp.url });
    checkpoints = new JobCheckpoints(db);
    jobId = (await new JobQueue(db).enqueue('import', {})).id;
  });
  afterEach(async () => {
    await db.close();
    await temp.cleanup();
  });

  it('checkpoints each durable stretch of SEGMENT_BYTES while the stream goes on, and the rest at the end', async () => {
    // Resumed at 1 MiB after checkpoint 4: 40 chunks of 1 MiB and a hole of 1 MiB.
    const refs = [
      ...Array.from({ length: 40 }, (_, i) => data(i + 1, MiB)),
      { kind: 'hole', length: MiB } as ChunkRef,
    ];
    const trail = new CheckpointTrail(checkpoints, jobId, 4, MiB, { validator: '"v1"', total: 42 * MiB });
    let read = 0;
    for await (const _ of trail.passing(stream(refs))) {
      read++;
      // The store says durable lag 5 chunks behind the reader: nothing waits for them.
      if (read > 5) trail.durable(read - 5);
    }
    await trail.settled();
    // Two full stretches durable by the time the reader ended (chunks 1-16, 17-32).
    let cps = await checkpoints.list<{ refs: unknown[] }>(jobId);
    expect(cps.map((c) => [c.seq, c.done, c.body.refs.length])).toEqual([
      [5, 17 * MiB, 16],
      [6, 33 * MiB, 16],
    ]);
    await trail.finish();
    cps = await checkpoints.list(jobId);
    expect(cps.map((c) => [c.seq, c.done])).toEqual([
      [5, 17 * MiB],
      [6, 33 * MiB],
      [7, 42 * MiB],
    ]);
    const back = await resumable(checkpoints, jobId);
    expect(back).toMatchObject({ seq: 7, offset: 42 * MiB, validator: '"v1"', total: 42 * MiB });
    expect(back.refs).toEqual(refs);
    expect(SEGMENT_BYTES).toBe(16 * MiB);
  });

  it('stops the stream at its next chunk once a checkpoint could not be written', async () => {
    await checkpoints.clear(jobId);
    const trail = new CheckpointTrail(checkpoints, jobId, 0, 0, { validator: undefined, total: undefined });
    await db.close(); // every write from here fails
    const refs = Array.from({ length: 40 }, (_, i) => data(i + 1, MiB));
    const reading = (async () => {
      let read = 0;
      for await (const _ of trail.passing(stream(refs))) {
        read++;
        trail.durable(read);
        await trail.settled();
      }
    })();
    await expect(reading).rejects.toThrow();
    await expect(trail.finish()).rejects.toThrow();
    db = await openDatabase({ url: temp.url });
  });
});
