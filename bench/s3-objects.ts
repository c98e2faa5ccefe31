/**
 * What an object per 64 KiB chunk would cost against an object per segment, on an
 * S3-compatible server at S3_ENDPOINT (bench/s3-objects.sh starts moto on loopback):
 * 4 MiB written as 64 objects of 64 KiB and as one object, then read back the same ways.
 * Medians over BENCH_REPS (default 5). Then the server's ceiling: 256 MiB of 4 MiB
 * segment PUTs with 1, 2, 4 and 8 in flight, with the CPU seconds per GiB the server
 * (MOTO_PID, when given) and this client spent, which bounds what any store on it can do
 * on this machine. Output: tables on stdout.
 */
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { S3Segments } from '../src/store/s3-segments.js';
import { cpuSecondsOf } from './lib/proc.js';
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

/** A process's CPU seconds now (NaN when there is none to read). */
const cpuOf = async (pid: number | undefined) =>
  pid ? ((await cpuSecondsOf(pid)) ?? Number.NaN) : Number.NaN;

const motoPid = process.env.MOTO_PID ? Number(process.env.MOTO_PID) : undefined;
const SEGMENTS = 64;
const segment = Buffer.concat(chunks);
const ceiling: string[][] = [];
for (const inFlight of [1, 2, 4, 8]) {
  const server0 = await cpuOf(motoPid);
  const client0 = process.cpuUsage();
  const t = process.hrtime.bigint();
  let next = 0;
  const worker = async () => {
    while (next < SEGMENTS) await blobs.write(id + next++, [segment]);
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  id += SEGMENTS;
  const secs = Number(process.hrtime.bigint() - t) / 1e9;
  const gib = (SEGMENTS * segment.length) / 2 ** 30;
  const client = process.cpuUsage(client0);
  ceiling.push([
    String(inFlight),
    `${((SEGMENTS * segment.length) / 2 ** 20 / secs).toFixed(0)} MiB/s`,
    `${(((await cpuOf(motoPid)) - server0) / gib).toFixed(1)} s`,
    `${((client.user + client.system) / 1e6 / gib).toFixed(1)} s`,
  ]);
}
await blobs.close();
process.stdout.write(
  `\n${table(['4 MiB PUTs in flight', 'rate (256 MiB)', 'server CPU / GiB', 'client CPU / GiB'], ceiling)}\n`,
);
