/**
 * Transfers killed with `kill -9` on either side resume where they stopped: the receiver
 * never takes a verified chunk twice, and the bandwidth cap holds across streams.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IngotServer, startIngot } from '../support/ingot.js';
import { pair, replicasFrom, type TransferJson, waitFor, workDir } from '../support/peers.js';
import { pseudoRandom } from '../support/trees.js';

const SIZE = 24 * 1024 * 1024;
const CAP = 4 * 1024 * 1024;

let sender: IngotServer;
let receiver: IngotServer;

/** Chunks the receiver was sent again although it already held them. */
async function resent(server: IngotServer): Promise<number> {
  const res = await request(`${server.url}/metrics`);
  const text = await res.body.text();
  const m = /^ingot_chunks_received_total\{result="present"\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

async function bigImage(name: string): Promise<void> {
  const file = join(workDir(), `${name}.img`);
  writeFileSync(file, pseudoRandom(name, SIZE));
  const r = await sender.cli(['image', 'add', name, '--file', file]);
  expect(r.code, r.stderr).toBe(0);
}

async function transferOf(server: IngotServer, image: string): Promise<TransferJson | undefined> {
  return (await server.json<TransferJson[]>(['transfers'])).find((t) => t.image === image);
}

async function midway(server: IngotServer, image: string): Promise<void> {
  await waitFor(
    `${image} a quarter done`,
    () => transferOf(server, image),
    (t) =>
      t !== undefined && t.bytesTotal > 0 && (t as TransferJson & { bytesDone: number }).bytesDone > SIZE / 4,
  );
}

/** Waits for the transfer to end; it must have created the image. */
async function finished(server: IngotServer, image: string): Promise<TransferJson | undefined> {
  const done = await waitFor(
    `the transfer of ${image} to end`,
    () => transferOf(server, image),
    (t) => t?.state === 'succeeded' || t?.state === 'failed',
    90_000,
  );
  expect(done).toMatchObject({ state: 'succeeded', outcome: 'created' });
  return done;
}

beforeAll(async () => {
  [sender, receiver] = await Promise.all([startIngot({ name: 'SEND' }), startIngot({ name: 'RECV' })]);
  await pair({ server: sender, name: 'SEND' }, { server: receiver, name: 'RECV' });
});

afterAll(async () => {
  await Promise.all([sender?.stop(), receiver?.stop()]);
});

describe('kill -9 mid-transfer', () => {
  it('a push resumes after the sender is killed, sending no verified chunk twice', async () => {
    expect((await sender.cli(['modify', 'peerserver', '--server', 'RECV', '--max-rate', '4M'])).code).toBe(0);
    await bigImage('BIG_PUSH');
    expect((await receiver.cli(['instantiate', 'image', '--server', 'SEND', '--all'])).code).toBe(0);
    await midway(sender, 'BIG_PUSH');
    await sender.kill9();
    sender = await sender.restart();
    const done = await finished(sender, 'BIG_PUSH');
    expect(done?.attempts).toBeGreaterThanOrEqual(2);
    // The resumed attempt found what the first one delivered.
    expect(done?.bytesPresent).toBeGreaterThan(SIZE / 4);
    expect(await resent(receiver)).toBe(0);
    // The dialling side's cap: the sender pushes no faster than its cap for the receiver.
    expect(done?.rate).toBeLessThanOrEqual(CAP * 1.25);
    expect(await replicasFrom(receiver, 'SEND')).toEqual(['BIG_PUSH']);
    expect((await receiver.cli(['image', 'verify', 'BIG_PUSH'])).code).toBe(0);
  }, 120_000);

  it('a pull resumes after the receiver is killed, and the serving side’s cap holds', async () => {
    expect((await receiver.cli(['uninstantiate', 'image', '--server', 'SEND', '--all'])).code).toBe(0);
    // No cap on the receiver: only the sender's cap for it (set above) paces the pull it serves.
    await bigImage('BIG_PULL');
    const plan = await receiver.json<{ bytesMissing: number }>([
      'image',
      'pull',
      'BIG_PULL',
      '--server',
      'SEND',
      '--dry-run',
    ]);
    expect(plan.bytesMissing).toBe(SIZE);
    const started = await receiver.cli(['image', 'pull', 'BIG_PULL', '--server', 'SEND', '--no-wait']);
    expect(started.code, started.stderr).toBe(0);
    await midway(receiver, 'BIG_PULL');
    await receiver.kill9();
    receiver = await receiver.restart();
    const done = await finished(receiver, 'BIG_PULL');
    expect(done?.bytesPresent).toBeGreaterThan(SIZE / 4);
    expect(await resent(receiver)).toBe(0);
    // Rate over the resumed attempt: the cap plus one burst, never more.
    expect(done?.rate).toBeLessThanOrEqual(CAP * 1.25);
    expect((await receiver.cli(['image', 'verify', 'BIG_PULL'])).code).toBe(0);
    const again = await receiver.json<{ bytesMissing: number }>([
      'image',
      'pull',
      'BIG_PULL',
      '--server',
      'SEND',
      '--dry-run',
    ]);
    expect(again.bytesMissing).toBe(0);
  }, 120_000);

  it('a template sync resumes after the follower is killed mid-way', async () => {
    await bigImage('BIG_SYNC');
    expect((await sender.cli(['template', 'create', 'T'])).code).toBe(0);
    expect((await sender.cli(['template', 'add', 'T', '--image', 'BIG_SYNC'])).code).toBe(0);
    expect((await sender.cli(['template', 'publish', 'T'])).code).toBe(0);
    const f = await receiver.cli([
      'follow',
      '--upstream',
      'SEND',
      '--template',
      'T',
      '--every',
      '1h',
      '--max-rate',
      '4M',
    ]);
    expect(f.code, f.stderr).toBe(0);
    await waitFor(
      'the sync a quarter done',
      async () =>
        (await receiver.json<{ kind: string; progressDone: number }[]>(['job', 'list'])).find(
          (j) => j.kind === 'sync',
        ),
      (j) => (j?.progressDone ?? 0) > SIZE / 4,
    );
    await receiver.kill9();
    receiver = await receiver.restart();
    const done = await waitFor(
      'the sync to succeed',
      async () => (await receiver.json<{ lastStatus: string | null }[]>(['following']))[0],
      (x) => x?.lastStatus === 'ok' || x?.lastStatus === 'failed',
      90_000,
    );
    expect(done?.lastStatus).toBe('ok');
    const job = (
      await receiver.json<
        { kind: string; attempts: number; result: { images: { bytesMissing: number }[] } }[]
      >(['job', 'list'])
    ).find((j) => j.kind === 'sync');
    expect(job?.attempts).toBeGreaterThanOrEqual(2);
    // The resumed attempt fetched only what the first had not stored.
    expect(job?.result.images[0]?.bytesMissing).toBeLessThan(SIZE * 0.8);
    expect(await resent(receiver)).toBe(0);
    expect((await receiver.cli(['image', 'verify', 'BIG_SYNC'])).code).toBe(0);
  }, 120_000);
});
