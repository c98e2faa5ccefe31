/**
 * One server on many nodes: three `ingot serve` processes on one throwaway PostgreSQL, each
 * with its own INGOT_HOME and store but the first node's keys and token (as an operator
 * copies them), HAProxy in front checking /healthz. Leader election and failover after
 * kill -9, singleton work on the leader only, a killed node's job taken over, drain behind
 * the balancer, and the refusal of a node of another server.
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startHaproxy } from '../support/haproxy.js';
import { freePort, type IngotServer, startIngot, tempDir } from '../support/ingot.js';
import { freshPgDatabase } from '../support/postgres.js';
import { pseudoRandom } from '../support/trees.js';

interface NodeView {
  id: string;
  api: string;
  version: string;
  state: string;
  health: string;
  leader: boolean;
  jobs: number[];
}
interface NodeList {
  nodes: NodeView[];
  leader: string | null;
  self: string;
}

const NAME = 'FPPS_1';
let pg: { url: string; drop(): Promise<void> };
const nodes: IngotServer[] = [];
const idOf = (s: IngotServer) => `${s.proc.pid}`;

/** A node home holding the first node's keys and token: the same server's identity. */
function homeLike(first: IngotServer): string {
  const home = tempDir('ingot-node-');
  mkdirSync(home, { recursive: true });
  cpSync(join(first.home, 'keys'), join(home, 'keys'), { recursive: true });
  cpSync(join(first.home, 'token'), join(home, 'token'));
  return home;
}

async function startNode(home?: string): Promise<IngotServer> {
  const port = await freePort();
  return startIngot({
    name: NAME,
    db: pg.url,
    ...(home ? { home } : {}),
    args: ['--listen', `127.0.0.1:${port}`, '--metrics', 'open'],
  });
}

async function list(on: IngotServer): Promise<NodeList> {
  return on.json<NodeList>(['nodes']);
}

/** Resolves when `server` logs a line matching `pattern` from now on: waits on its output, not a timer. */
function logged(server: IngotServer, pattern: RegExp, ms = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${ms} ms:\n${server.logs()}`)), ms);
    const seen = (d: Buffer) => {
      if (!pattern.test(String(d))) return;
      clearTimeout(timer);
      server.proc.stdout?.off('data', seen);
      resolve();
    };
    server.proc.stdout?.on('data', seen);
  });
}

async function leaderTicks(s: IngotServer): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  return Number(/^ingot_leader_ticks_total (\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

const alive = () => nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null);
const leaderOf = async (on: IngotServer) => {
  const l = await list(on);
  return alive().find((n) => l.leader?.endsWith(`:${idOf(n)}`));
};

beforeAll(async () => {
  pg = await freshPgDatabase(inject('pgUrl'));
  const first = await startNode();
  nodes.push(first);
  nodes.push(...(await Promise.all([startNode(homeLike(first)), startNode(homeLike(first))])));
});

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await pg?.drop();
});

describe('one server on many nodes', () => {
  it('lists every node with its address and version, one of them the leader', async () => {
    const l = await list(nodes[1] as IngotServer);
    expect(l.nodes).toHaveLength(3);
    expect(l.nodes.map((n) => n.api).sort()).toEqual(nodes.map((n) => n.url).sort());
    expect(l.nodes.every((n) => n.health === 'serving' && n.version === l.nodes[0]?.version)).toBe(true);
    expect(l.nodes.filter((n) => n.leader).map((n) => n.id)).toEqual([l.leader]);
    expect(l.self.endsWith(`:${idOf(nodes[1] as IngotServer)}`)).toBe(true);
    const table = await (nodes[0] as IngotServer).cli(['nodes']);
    expect(table.stdout).toMatch(/NODE +API +VERSION +LEADER +HEALTH +JOBS +LAST SEEN/);
    expect(table.stdout.split('\n').filter((line) => / yes +serving/.test(line))).toHaveLength(1);
  });

  it('refuses a drain of a node that is not there or not a node id, changing nothing', async () => {
    const on = nodes[0] as IngotServer;
    const unknown = await on.cli(['node', 'drain', 'elsewhere:1']);
    expect([unknown.code, unknown.stderr]).toEqual([3, expect.stringMatching(/NOT_FOUND.*elsewhere:1/)]);
    for (const bad of ['a b', '../x:1', 'h:', `${'h'.repeat(300)}:1`]) {
      const r = await on.cli(['node', 'undrain', bad]);
      expect([r.code, r.stderr]).toEqual([2, expect.stringMatching(/INVALID_ARGUMENT/)]);
    }
    expect((await list(on)).nodes.every((n) => n.state === 'serving')).toBe(true);
  });

  it('refuses a node with other keys or another cluster name, and records nothing of it', async () => {
    const before = await list(nodes[0] as IngotServer);
    const ownKeys = startIngot({ name: NAME, db: pg.url });
    await expect(ownKeys).rejects.toThrow(/exited 78[\s\S]*IDENTITY_MISMATCH[\s\S]*signing_key_id/);
    const otherName = startIngot({ name: 'FPPS_9', db: pg.url, home: homeLike(nodes[0] as IngotServer) });
    await expect(otherName).rejects.toThrow(/exited 78[\s\S]*IDENTITY_MISMATCH[\s\S]*cluster_name/);
    const after = await list(nodes[0] as IngotServer);
    expect(after.nodes.map((n) => n.id)).toEqual(before.nodes.map((n) => n.id));
  });

  it('runs the singleton work on the leader only', async () => {
    const leader = (await leaderOf(nodes[0] as IngotServer)) as IngotServer;
    await eventually(async () => (await leaderTicks(leader)) >= 3);
    for (const n of nodes.filter((x) => x !== leader)) expect(await leaderTicks(n)).toBe(0);
  });

  it('drains a node behind HAProxy: its health check fails, requests through the balancer all succeed', async () => {
    const ports = Object.fromEntries(nodes.map((n, i) => [`n${i}`, Number(new URL(n.url).port)]));
    const lb = await startHaproxy(ports);
    try {
      await Promise.all(Object.keys(ports).map((n) => lb.until(n, 'UP')));
      const auth = { authorization: `Bearer ${(nodes[0] as IngotServer).token}` };
      const statuses: number[] = [];
      const failures: string[] = [];
      let running = true;
      const load = Promise.all(
        Array.from({ length: 4 }, async () => {
          while (running) {
            const r = await fetch(`${lb.url}/api/v1/images`, { headers: auth }).catch(() => undefined);
            statuses.push(r?.status ?? 0);
            const body = await r?.text();
            if (r?.status !== 200) failures.push(`${r?.status ?? 'no answer'}: ${body}`);
          }
        }),
      );
      const drained = nodes[2] as IngotServer;
      const d = await drained.json<NodeView>(['node', 'drain', 'self']);
      expect(d.state).toBe('draining');
      expect((await fetch(`${drained.url}/healthz`)).status).toBe(503);
      await lb.until('n2', 'DOWN');
      // The requests HAProxy sent before it marked the node down are answered; then no more come.
      await served(statuses, 50);
      const servedBefore = await imagesServed(drained);
      expect(servedBefore).toBeGreaterThan(0);
      await served(statuses, 200);
      expect(await imagesServed(drained)).toBe(servedBefore);
      // Out of the rotation, the node can go: a graceful stop while the load runs.
      await drained.stop();
      await served(statuses, 200);
      nodes[2] = await drained.restart();
      await lb.until('n2', 'UP');
      await served(statuses, 200);
      running = false;
      await load;
      expect(failures.slice(0, 3)).toEqual([]);
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
      expect(await imagesServed(nodes[2] as IngotServer)).toBeGreaterThan(0);
      const l = await list(nodes[0] as IngotServer);
      expect(l.nodes.find((n) => n.id === d.id)?.health).toBe('stopped');
    } finally {
      await lb.stop();
    }
  });

  it("hands a killed node's job to another node within the job lease", async () => {
    const file = pseudoRandom('ol9', 1 << 20);
    const source = await stallingSource(file);
    try {
      const on = nodes[0] as IngotServer;
      const res = await fetch(`${on.url}/api/v1/images/import`, {
        method: 'POST',
        headers: { authorization: `Bearer ${on.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          name: 'OL9_ISO',
          url: source.url,
          sha256: createHash('sha256').update(file).digest('hex'),
        }),
      });
      expect(res.status).toBe(202);
      const job = (await res.json()) as { id: number };
      await source.firstRequest;
      const held = (await list(on)).nodes.find((n) => n.jobs.includes(job.id)) as NodeView;
      const holder = nodes.find((n) => held.id.endsWith(`:${idOf(n)}`)) as IngotServer;
      await holder.kill9();
      const killedAt = Date.now();
      const survivor = alive()[0] as IngotServer;
      let done = await survivor.json<{ state: string; attempts: number; leaseOwner: string | null }>([
        'job',
        'show',
        String(job.id),
      ]);
      while (done.state !== 'succeeded') {
        expect(['queued', 'running']).toContain(done.state);
        const r = await fetch(`${survivor.url}/api/v1/jobs/${job.id}?wait=10`, {
          headers: { authorization: `Bearer ${survivor.token}` },
        });
        done = (await r.json()) as typeof done;
      }
      const took = Date.now() - killedAt;
      console.log(`job ${job.id} of killed node ${held.id} finished elsewhere ${took} ms after kill -9`);
      expect(took).toBeLessThan(30_000);
      expect(done.attempts).toBe(2);
      const image = await survivor.json<{ size: number }>(['image', 'show', 'OL9_ISO']);
      expect(image.size).toBe(file.length);
      const l = await list(survivor);
      expect(l.nodes.find((n) => n.id === held.id)?.health).toBe('dead');
      const dead = await survivor.cli(['node', 'drain', held.id]);
      expect([dead.code, dead.stderr]).toEqual([4, expect.stringMatching(/CONFLICT.*is dead/)]);
    } finally {
      await source.close();
    }
  });

  it("elects a new leader within seconds of the leader's kill -9", async () => {
    const survivors = alive();
    expect(survivors.length).toBeGreaterThanOrEqual(2);
    const leader = (await leaderOf(survivors[0] as IngotServer)) as IngotServer;
    const rest = survivors.filter((n) => n !== leader);
    const elected = Promise.race(
      rest.map((n) => logged(n, /"msg":"became the leader"/, 30_000).then(() => n)),
    );
    await leader.kill9();
    const killedAt = Date.now();
    const next = await elected;
    const took = Date.now() - killedAt;
    console.log(`leader ${idOf(leader)} killed; ${idOf(next)} took over after ${took} ms`);
    expect(took).toBeLessThan(8000);
    expect((await leaderOf(next))?.proc.pid).toBe(next.proc.pid);
    const before = await leaderTicks(next);
    await eventually(async () => (await leaderTicks(next)) > before);
  });
});

/** Resolves once the load generator has recorded `n` more answers. */
async function served(statuses: readonly number[], n: number): Promise<void> {
  const target = statuses.length + n;
  while (statuses.length < target) await new Promise((r) => setImmediate(r));
}

/** Asks `check` until it holds (within 20 s): for figures no log line announces. */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('the condition never held');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** How many image lists a node has answered, by its own request metrics. */
async function imagesServed(s: IngotServer): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const line =
    /^ingot_http_request_duration_seconds_count\{[^}]*route="\/api\/v1\/images"[^}]*status="200"[^}]*\} (\d+)/m;
  return Number(line.exec(text)?.[1] ?? 0);
}

/**
 * An http source whose first GET sends its headers and then nothing (the node holding the
 * job is killed meanwhile, before it stored a byte); later GETs send the whole file.
 */
async function stallingSource(
  file: Buffer,
): Promise<{ url: string; firstRequest: Promise<void>; close(): Promise<void> }> {
  let first: () => void = () => {};
  const firstRequest = new Promise<void>((r) => {
    first = r;
  });
  const stalled: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    res.writeHead(200, { 'content-length': file.length, 'content-type': 'application/octet-stream' });
    if (req.method === 'HEAD') return res.end();
    if (stalled.length === 0) {
      stalled.push(res);
      first();
      return;
    }
    res.end(file);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/ol9.iso`,
    firstRequest,
    close: () =>
      new Promise((r) => {
        for (const res of stalled) res.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
