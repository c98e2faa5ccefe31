/**
 * A peer pushing to and pulling from a server of two nodes behind HAProxy in TCP mode (mutual
 * TLS passes through to the nodes), which spreads the peer's connections over both: the node
 * that answered the offer is not the one every chunk request reaches, so the other must find
 * the grant (a push's in the catalog, a pull's made again from the images).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Haproxy, startHaproxy } from '../support/haproxy.js';
import { type IngotServer, startIngot, tempDir } from '../support/ingot.js';
import { exportServer, type TransferJson, waitFor, wireBytes } from '../support/peers.js';
import { type SharedNodes, startSharedNodes } from '../support/shared-nodes.js';
import { pseudoRandom } from '../support/trees.js';

const SIZE = 24 << 20;

describe('pushes and pulls through a balancer in front of two nodes', () => {
  let nodes: SharedNodes;
  let edge: IngotServer;
  let lb: Haproxy;

  beforeAll(async () => {
    [nodes, edge] = await Promise.all([
      startSharedNodes(inject('pgUrl'), 'FPPS_1'),
      startIngot({ name: 'EDGE_P' }),
    ]);
    const { a, b } = nodes;
    const apiPort = (s: IngotServer) => Number(new URL(s.url).port);
    lb = await startHaproxy(
      { a: a.peerPort, b: b.peerPort },
      { checkPorts: { a: apiPort(a), b: apiPort(b) } },
    );
    await Promise.all([lb.until('a', 'UP'), lb.until('b', 'UP')]);
  });
  afterAll(async () => {
    await lb?.stop();
    await Promise.all([nodes?.stop(), edge?.stop()]);
  });

  it('stores every chunk whichever node it reaches, and lists the image on both', async () => {
    const { a, b } = nodes;
    // The edge knows the server by one address, the balancer's.
    const served = JSON.parse(readFileSync(await exportServer(a, 'FPPS_1'), 'utf8'));
    const viaLb = join(tempDir('ingot-lb-'), 'fpps1.json');
    writeFileSync(viaLb, JSON.stringify({ ...served, endpoint: lb.url.replace('http:', 'https:') }));
    const r1 = await edge.cli(['register', 'server', '--server', 'FPPS_1', '--serverdata', viaLb]);
    expect(r1.code, r1.stderr).toBe(0);
    const r2 = await a.cli([
      'register',
      'server',
      '--server',
      'EDGE_P',
      '--serverdata',
      await exportServer(edge, 'EDGE_P'),
    ]);
    expect(r2.code, r2.stderr).toBe(0);
    // Registered through A; B trusts the edge once its tick has read the peers again.
    await waitFor(
      'node B to trust the edge',
      () => hello(edge, a, b.peerUrl),
      (s) => s === 200,
      10_000,
    );

    const file = join(tempDir('ingot-push-'), 'disk.img');
    writeFileSync(file, pseudoRandom('balancer-push', SIZE));
    expect((await edge.cli(['image', 'add', 'DISK_P', '--file', file])).code).toBe(0);
    const ask = await a.cli(['instantiate', 'image', '--server', 'EDGE_P', '--all']);
    expect(ask.code, ask.stderr).toBe(0);
    const ended = (ts: TransferJson[]) =>
      ts.find((t) => t.image === 'DISK_P' && t.state !== 'running' && t.state !== 'queued');
    const push = ended(
      await waitFor(
        'the push to end',
        () => edge.json<TransferJson[]>(['transfers']),
        (ts) => ended(ts) !== undefined,
      ),
    );
    expect(push).toMatchObject({ direction: 'push', state: 'succeeded', error: null });
    // Both nodes carried a real share of it: neither took every connection.
    for (const node of [a, b]) expect(await wireBytes(node, 'EDGE_P', 'received')).toBeGreaterThan(SIZE / 8);
    for (const node of [a, b]) {
      const listed = await node.json<{ name: string }[]>(['image', 'list']);
      expect(listed.map((i) => i.name)).toContain('DISK_P');
    }
    // The passive side's record, whichever node took the offer and whichever the commit reached.
    const records = await a.json<{ image: string; state: string; outcome: string }[]>([
      'transfers',
      '--served',
      '--direction',
      'in',
    ]);
    expect(records.filter((t) => t.image === 'DISK_P')).toMatchObject([
      { state: 'done', outcome: 'created' },
    ]);
    const verified = await b.cli(['image', 'verify', 'DISK_P']);
    expect(verified.code, verified.stderr).toBe(0);
    const out = join(tempDir('ingot-push-out-'), 'disk.img');
    expect((await a.cli(['image', 'deploy', 'DISK_P', '--path', out])).code).toBe(0);
    expect(readFileSync(out).equals(readFileSync(file))).toBe(true);
  });

  it("serves a pull whose requests reach both nodes, from either node's answers", async () => {
    const { a, b } = nodes;
    const file = join(tempDir('ingot-pull-'), 'disk.img');
    writeFileSync(file, pseudoRandom('balancer-pull', SIZE));
    expect((await b.cli(['image', 'add', 'DISK_S', '--file', file])).code).toBe(0);
    const pull = await edge.cli(['image', 'pull', 'DISK_S', '--server', 'FPPS_1']);
    expect(pull.code, pull.stderr).toBe(0);
    for (const node of [a, b]) expect(await wireBytes(node, 'EDGE_P', 'sent')).toBeGreaterThan(SIZE / 8);
    const out = join(tempDir('ingot-pull-out-'), 'disk.img');
    expect((await edge.cli(['image', 'deploy', 'DISK_S', '--path', out])).code).toBe(0);
    expect(readFileSync(out).equals(readFileSync(file))).toBe(true);
  });
});

/** The status of the edge's hello to one node, with the edge's own certificate. */
async function hello(edge: IngotServer, server: IngotServer, url: string): Promise<number | string> {
  const keys = (f: string) => readFileSync(join(edge.home, 'keys', f), 'utf8');
  const dispatcher = new Agent({
    connect: {
      key: keys('peer.key'),
      cert: keys('peer.crt'),
      ca: [readFileSync(join(server.home, 'keys', 'peer.crt'), 'utf8')],
      checkServerIdentity: () => undefined,
    },
  });
  try {
    const res = await request(`${url}/peer/v1/hello`, { dispatcher });
    await res.body.text();
    return res.statusCode;
  } catch {
    return 'refused at TLS';
  } finally {
    await dispatcher.close();
  }
}
