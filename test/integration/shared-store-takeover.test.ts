/**
 * A pull killed on one node finishes on the other: two nodes of one server on one
 * PostgreSQL and one shared store (a directory, then an S3 bucket) pull a big image from a peer as a durable job;
 * the node running it is killed with `kill -9` half way; the other node takes the job over
 * within the job lease and sends for only the chunks the first did not store.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { untilActivity } from '../support/activity.js';
import { type IngotServer, startIngot, tempDir } from '../support/ingot.js';
import { createBucket } from '../support/moto.js';
import { useMoto } from '../support/moto-hooks.js';
import { pair, type TransferJson, wireBytes } from '../support/peers.js';
import { type SharedNodes, startSharedNodes } from '../support/shared-nodes.js';
import { pseudoRandom } from '../support/trees.js';

const SIZE = 64 * 1024 * 1024;
/** Both ends cap the link, so the kill lands mid-transfer and the peer sends no faster than A takes. */
const CAP = '4M';

interface JobJson {
  state: string;
  attempts: number;
  updatedAt: string;
}

const motoServer = useMoto();
const work = tempDir('ingot-takeover-');
const file = join(work, 'gold.img');
writeFileSync(file, pseudoRandom('takeover', SIZE));

/** The two stores many nodes share: a directory (NFS) and an S3 bucket (moto). */
const STORES = {
  directory: async () => ({}),
  s3: async () => {
    const moto = motoServer();
    const bucket = await createBucket(moto);
    return {
      store: `s3://${bucket}/ingot?endpoint=${moto.endpoint}&region=us-east-1`,
      env: { ...moto.credentials },
    };
  },
};

describe.each(Object.keys(STORES) as (keyof typeof STORES)[])(
  'a node killed mid-pull, on a shared %s store',
  (kind) => {
    let nodes: SharedNodes;
    let peer: IngotServer;

    beforeAll(async () => {
      [nodes, peer] = await Promise.all([
        STORES[kind]().then((store) => startSharedNodes(inject('pgUrl'), 'FPPS_1', store)),
        startIngot({ name: 'FPPS_2' }),
      ]);
      await pair({ server: nodes.a, name: 'FPPS_1' }, { server: peer, name: 'FPPS_2' });
      for (const [on, other] of [
        [nodes.a, 'FPPS_2'],
        [peer, 'FPPS_1'],
      ] as const) {
        const r = await on.cli(['modify', 'peerserver', '--server', other, '--max-rate', CAP]);
        expect(r.code, r.stderr).toBe(0);
      }
      const add = await peer.cli(['image', 'add', 'GOLD', '--file', file]);
      expect(add.code, add.stderr).toBe(0);
    });

    afterAll(async () => {
      await Promise.all([nodes?.stop(), peer?.stop()]);
    });

    it('has its job finished by the other node, which sends for no chunk the first one stored', async () => {
      const job = await startPull(nodes.a, 'FPPS_2', 'GOLD');
      const { holder, bytesDone } = await halfWay(nodes, job);
      await holder.kill9();
      const killedAt = Date.now();
      const survivor = holder === nodes.a ? nodes.b : nodes.a;

      const done = await jobEnd(survivor, job);
      const took = Date.now() - killedAt;
      expect(done.state).toBe('succeeded');
      expect(done.attempts).toBe(2);
      expect(took).toBeLessThan(30_000);

      // The second attempt found what the first one stored, and the peer sent only the rest.
      const t = (await survivor.json<TransferJson[]>(['transfers'])).find((x) => x.jobId === job);
      expect(t).toMatchObject({ state: 'succeeded', outcome: 'created' });
      const present = t?.bytesPresent ?? 0;
      const sent = await wireBytes(peer, 'FPPS_1', 'sent');
      console.log(
        `job ${job}: killed at ${bytesDone} of ${SIZE} bytes; done ${took} ms later on the other node, ` +
          `${present} bytes found stored; the peer sent ${sent} bytes in all (${(sent / SIZE).toFixed(2)}x the image)`,
      );
      expect(present).toBeGreaterThanOrEqual(SIZE / 4);
      // Sending everything again would cost the image plus the half sent before the kill.
      expect(sent).toBeLessThan(bytesDone + SIZE - SIZE / 4);

      expect((await survivor.cli(['image', 'verify', 'GOLD'])).code).toBe(0);
      const replacement = await holder.restart();
      if (holder === nodes.a) nodes.a = replacement;
      else nodes.b = replacement;
      const dest = join(work, `deployed-${kind}.img`);
      const dep = await replacement.cli(['image', 'deploy', 'GOLD', '--path', dest]);
      expect(dep.code, dep.stderr).toBe(0);
      expect(readFileSync(dest).equals(readFileSync(file))).toBe(true);
    }, 120_000);
  },
);

async function startPull(on: IngotServer, from: string, image: string): Promise<number> {
  const res = await fetch(`${on.url}/api/v1/peers/${from}/pull`, {
    method: 'POST',
    headers: { authorization: `Bearer ${on.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ image }),
  });
  const body = (await res.json()) as { job: number; existing: boolean };
  expect([res.status, body.existing], JSON.stringify(body)).toEqual([200, false]);
  return body.job;
}

/** Waits on both nodes' events for the transfer of `job` to pass half the image; answers the node running it. */
async function halfWay(nodes: SharedNodes, job: number): Promise<{ holder: IngotServer; bytesDone: number }> {
  const stop = new AbortController();
  const timeout = AbortSignal.timeout(60_000);
  const signal = AbortSignal.any([stop.signal, timeout]);
  try {
    return await Promise.any(
      [nodes.a, nodes.b].map(async (node) => ({
        holder: node,
        bytesDone: await untilActivity(
          node,
          (a) => a.transfers.find((t) => t.jobId === job && t.bytesDone >= SIZE / 2)?.bytesDone,
          signal,
        ),
      })),
    );
  } finally {
    stop.abort();
  }
}

/** Follows `job` on `on` with held requests (`?wait`) until it ends. */
async function jobEnd(on: IngotServer, job: number): Promise<JobJson> {
  let seen = await on.json<JobJson>(['job', 'show', String(job)]);
  while (seen.state !== 'succeeded' && seen.state !== 'failed') {
    expect(['queued', 'running']).toContain(seen.state);
    const res = await fetch(
      `${on.url}/api/v1/jobs/${job}?wait=10&since=${encodeURIComponent(seen.updatedAt)}`,
      {
        headers: { authorization: `Bearer ${on.token}` },
      },
    );
    seen = (await res.json()) as JobJson;
  }
  return seen;
}
