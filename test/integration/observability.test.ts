/** What an operator watches on a real server: /metrics (names, gauges) and the JSON log. */
import { statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IngotServer, startIngot } from '../support/ingot.js';
import { pair, settled, waitFor, workDir } from '../support/peers.js';
import { pseudoRandom } from '../support/trees.js';

const SIZE = 8 * 1024 * 1024;

let sender: IngotServer;
let receiver: IngotServer;

beforeAll(async () => {
  [sender, receiver] = await Promise.all([startIngot({ name: 'OBS_A' }), startIngot({ name: 'OBS_B' })]);
  await pair({ server: sender, name: 'OBS_A' }, { server: receiver, name: 'OBS_B' });
});

afterAll(async () => {
  await Promise.all([sender?.stop(), receiver?.stop()]);
});

async function scrape(server: IngotServer): Promise<string> {
  const res = await fetch(`${server.url}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of one sample, e.g. `ingot_images{state="PUBLISHED"}`. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

const gauge = async (server: IngotServer, name: string) => sample(await scrape(server), name);

describe('metrics', () => {
  it('name node metrics once (ingot_process_*, ingot_nodejs_*)', async () => {
    const text = await scrape(sender);
    const names = new Set(
      text.split('\n').flatMap((l) => (l.startsWith('# TYPE ') ? [l.split(' ')[2]] : [])),
    );
    expect([...names].filter((n) => n?.includes('process_process') || n?.includes('process_nodejs'))).toEqual(
      [],
    );
    for (const n of [
      'ingot_process_cpu_seconds_total',
      'ingot_process_resident_memory_bytes',
      'ingot_nodejs_eventloop_lag_seconds',
      'ingot_http_request_duration_seconds',
    ]) {
      expect(names).toContain(n);
    }
  });

  it('gauge the store, the images by state, the running transfers and the free disk', async () => {
    const before = await scrape(sender);
    expect(sample(before, 'ingot_store_chunks')).toBe(0);
    expect(sample(before, 'ingot_images{state="TESTABLE"}')).toBe(0);
    expect(sample(before, 'ingot_transfers_running{direction="push"}')).toBe(0);
    const fs = statfsSync(join(sender.home, 'store'));
    const free = sample(before, 'ingot_store_free_bytes') ?? -1;
    expect(free).toBeGreaterThan(0);
    expect(free).toBeLessThanOrEqual(fs.blocks * fs.bsize);
    expect(Math.abs(free - fs.bavail * fs.bsize)).toBeLessThan(1024 ** 3);

    const file = join(workDir(), 'obs.img');
    writeFileSync(file, pseudoRandom('obs', SIZE));
    expect((await sender.cli(['image', 'add', 'OBS_IMG', '--file', file, '--state', 'TESTABLE'])).code).toBe(
      0,
    );
    const after = await scrape(sender);
    // Incompressible: the store holds at least the image's bytes, in chunks of at most 256 KiB.
    expect(sample(after, 'ingot_store_chunks')).toBeGreaterThanOrEqual(SIZE / (256 * 1024));
    expect(sample(after, 'ingot_store_bytes')).toBeGreaterThan(SIZE);
    expect(sample(after, 'ingot_images{state="TESTABLE"}')).toBe(1);

    // A push slow enough to be seen running: 8 MiB at 2 MiB/s.
    expect((await sender.cli(['modify', 'peerserver', '--server', 'OBS_B', '--max-rate', '2M'])).code).toBe(
      0,
    );
    expect((await sender.cli(['image', 'state', 'OBS_IMG', 'PUBLISHED'])).code).toBe(0);
    expect(await gauge(sender, 'ingot_images{state="PUBLISHED"}')).toBe(1);
    expect(await gauge(sender, 'ingot_images{state="TESTABLE"}')).toBe(0);
    expect((await receiver.cli(['instantiate', 'image', '--server', 'OBS_A', '--all'])).code).toBe(0);
    await waitFor(
      'the push to be running',
      () => gauge(sender, 'ingot_transfers_running{direction="push"}'),
      (n) => n === 1,
    );
    await settled(sender);
    expect(await gauge(sender, 'ingot_transfers_running{direction="push"}')).toBe(0);
    // The push's phases: one observation each, the data phase the 4 s the rate cap made it.
    const phases = await scrape(sender);
    for (const phase of ['offer', 'parts', 'plan', 'data', 'commit'])
      expect(sample(phases, `ingot_transfer_phase_seconds_count{phase="${phase}"}`)).toBe(1);
    expect(sample(phases, 'ingot_transfer_phase_seconds_sum{phase="data"}')).toBeGreaterThan(2);
    expect(await gauge(receiver, 'ingot_images{state="PUBLISHED"}')).toBe(1);
  });
});

describe('the JSON log', () => {
  /** Every JSON line of a server's output (its banner on stderr is text for people). */
  const records = (server: IngotServer) =>
    server
      .logs()
      .split('\n')
      .filter((l) => l.startsWith('{'));

  it('has one msg a line, and one line per request that changed or was refused, none per read', async () => {
    expect((await sender.cli(['image', 'show', 'NO_SUCH_IMAGE'])).code).not.toBe(0);
    for (const server of [sender, receiver]) {
      const lines = records(server);
      for (const line of lines) expect(line.match(/[{,]"msg":/g), line).toHaveLength(1);
      const requests = lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((r) => r.msg === 'request');
      expect(requests.length).toBeGreaterThan(0);
      // At the default level: no 2xx read (the CLI's job polls, the scrapes), no chunk batch.
      const quiet = requests.filter(
        (r) => (r.status as number) < 400 && (r.method === 'GET' || String(r.url).includes('/chunks')),
      );
      expect(quiet).toEqual([]);
      expect(lines.some((l) => l.includes('"incoming request"') || l.includes('"request completed"'))).toBe(
        false,
      );
    }
    const sent = records(sender).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(sent).toContainEqual(
      expect.objectContaining({ msg: 'request', method: 'GET', status: 404, code: 'NOT_FOUND' }),
    );
    expect(sent).toContainEqual(
      expect.objectContaining({
        msg: 'request',
        method: 'PUT',
        url: '/api/v1/images/OBS_IMG/state',
        status: 200,
      }),
    );
    // The receiver logs the push's commit, with the peer that made it.
    const received = records(receiver).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(received).toContainEqual(
      expect.objectContaining({ msg: 'request', url: '/peer/v1/replicas', status: 200, peer: 'OBS_A' }),
    );
  });
});
