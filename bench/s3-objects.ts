/**
 * What an object per 64 KiB chunk would cost against an object per segment, on an
 * S3-compatible server at S3_ENDPOINT (bench/s3-objects.sh starts moto on loopback):
 * 4 MiB written as 64 objects of 64 KiB and as one object, then read back the same ways.
 * Medians over BENCH_REPS (default 5). Output: a table on stdout.
 */
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { S3Segments } from '../src/store/s3-segments.js';
import { median, table } from './lib/stats.js';

const endpoint = process.env.S3_ENDPOINT ?? 'http://127.0.0.1:5000';
const reps = Number(process.env.BENCH_REPS ?? 5);
const CHUNK = 64 * 1024;
const CHUNKS = 64;
const bucket = `bench-${process.pid}`;
const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true });
await client.send(new CreateBucketCommand({ Bucket: bucket }));
client.destroy();
const blobs = await S3Segments.open({ bucket, prefix: '', endpoint, region: 'us-east-1' });
const chunks = Array.from({ length: CHUNKS }, () => randomBytes(CHUNK));
const times: Record<string, number[]> = { perChunkPut: [], segmentPut: [], perChunkGet: [], segmentGet: [] };
const timed = async (key: string, fn: () => Promise<unknown>) => {
  const t = process.hrtime.bigint();
  await fn();
  times[key]?.push(Number(process.hrtime.bigint() - t) / 1e9);
};
let id = 1;
for (let r = 0; r < reps; r++) {
  const base = id;
  await timed('perChunkPut', () => Promise.all(chunks.map((c, i) => blobs.write(base + i, [c]))));
  await timed('perChunkGet', () => Promise.all(chunks.map((_, i) => blobs.read(base + i, 0, CHUNK))));
  id += CHUNKS;
  const seg = id++;
  await timed('segmentPut', () => blobs.write(seg, chunks));
  await timed('segmentGet', () => blobs.read(seg, 0, CHUNK * CHUNKS));
}
await blobs.close();
const rate = (s: number) =>
  `${(CHUNK * CHUNKS) / 2 ** 20 / s >= 100 ? ((CHUNK * CHUNKS) / 2 ** 20 / s).toFixed(0) : ((CHUNK * CHUNKS) / 2 ** 20 / s).toFixed(1)} MiB/s`;
const row = (label: string, key: string) => {
  const m = median(times[key] ?? []);
  return [label, `${(m * 1000).toFixed(0)} ms`, rate(m)];
};
process.stdout.write(
  `${table(
    ['4 MiB as', 'median', 'rate'],
    [
      row('64 PUTs of 64 KiB (all at once)', 'perChunkPut'),
      row('1 PUT of a 4 MiB segment', 'segmentPut'),
      row('64 GETs of 64 KiB (all at once)', 'perChunkGet'),
      row('1 ranged GET of 4 MiB', 'segmentGet'),
    ],
  )}\n`,
);
