/**
 * The rolling self-update on real processes: a throwaway PostgreSQL, three `ingot serve`
 * nodes sharing one `--store` directory, HAProxy in front checking /healthz. Releases are
 * `npm pack` tarballs of this build with the version bumped. A full roll while a load
 * generator reads through HAProxy (zero failed requests, every step recorded, every node on
 * the new version); refusals that change nothing; a release whose bin exits at once stops
 * the roll and its node comes back on the release it ran.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Haproxy, startHaproxy } from '../support/haproxy.js';
import { freePort, type IngotServer, startIngot, tempDir } from '../support/ingot.js';
import { freshPgDatabase } from '../support/postgres.js';
import { packRelease, type ReleaseTarball } from '../support/releases.js';

interface StepView {
  node: string;
  fromVersion: string;
  state: string;
  error: string | null;
  startedAt: string | null;
  endedAt: string | null;
}
interface RollView {
  id: number | null;
  version: string;
  state: string;
  error: string | null;
  steps: StepView[];
}
interface NodeView {
  id: string;
  version: string;
  health: string;
}

const NAME = 'FPPS_1';
const ZERO = '0'.repeat(64);
let pg: { url: string; drop(): Promise<void> };
let haproxy: Haproxy;
let good: ReleaseTarball;
let broken: ReleaseTarball;
let later: ReleaseTarball;
const nodes: IngotServer[] = [];

function homeLike(first: IngotServer): string {
  const home = tempDir('ingot-node-');
  mkdirSync(home, { recursive: true });
  cpSync(join(first.home, 'keys'), join(home, 'keys'), { recursive: true });
  cpSync(join(first.home, 'token'), join(home, 'token'));
  return home;
}

async function startNode(port: number, store: string, home?: string): Promise<IngotServer> {
  return startIngot({
    name: NAME,
    db: pg.url,
    ...(home ? { home } : {}),
    args: ['--listen', `127.0.0.1:${port}`, '--store', store],
  });
}

/** Resolves once any node (the processes a roll started write to the same pipes) logs `pattern`. */
function anyLogged(pattern: RegExp, ms = 240_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${ms} ms`)), ms);
    const seen = (d: Buffer) => {
      if (!pattern.test(String(d))) return;
      clearTimeout(timer);
      for (const n of nodes) n.proc.stdout?.off('data', seen);
      resolve();
    };
    for (const n of nodes) n.proc.stdout?.on('data', seen);
  });
}

/** Reads through HAProxy until stopped: image list and show, as many as it can; every failure kept. */
function loadGenerator(url: string, token: string, image: string) {
  let running = true;
  const failures: string[] = [];
  let ok = 0;
  const one = async (path: string) => {
    try {
      const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      await res.arrayBuffer();
      if (res.status === 200) ok++;
      else failures.push(`${path}: ${res.status}`);
    } catch (err) {
      failures.push(`${path}: ${(err as Error).message}`);
    }
  };
  const worker = async () => {
    while (running) {
      await one('/api/v1/images');
      await one(`/api/v1/images/${image}`);
    }
  };
  const workers = [worker(), worker(), worker(), worker()];
  return {
    async stop() {
      running = false;
      await Promise.all(workers);
      return { ok, failures };
    },
  };
}

/** Stops whichever process serves `node`'s home now (a roll replaces the one the test started). */
async function stopNode(node: IngotServer): Promise<void> {
  const closed = new Promise((r) =>
    node.proc.stdout?.closed ? r(undefined) : node.proc.stdout?.once('close', r),
  );
  try {
    const { pid } = JSON.parse(readFileSync(join(node.home, 'server.json'), 'utf8')) as { pid: number };
    process.kill(pid, 'SIGTERM');
  } catch {
    // Not running.
  }
  await closed;
}

const first = () => nodes[0] as IngotServer;
const status = async () => (await first().json<{ roll: RollView }>(['update', 'status'])).roll;
const versions = async () =>
  (await first().json<{ nodes: NodeView[] }>(['nodes'])).nodes.filter((n) => n.health === 'serving');

beforeAll(async () => {
  pg = await freshPgDatabase(inject('pgUrl'));
  const store = tempDir('ingot-roll-store-');
  const ports = [await freePort(), await freePort(), await freePort()];
  [good, broken, later] = await Promise.all([
    packRelease('0.2.0'),
    packRelease('0.3.0', { broken: true }),
    packRelease('0.4.0'),
  ]);
  nodes.push(await startNode(ports[0] as number, store));
  nodes.push(
    ...(await Promise.all([
      startNode(ports[1] as number, store, homeLike(first())),
      startNode(ports[2] as number, store, homeLike(first())),
    ])),
  );
  haproxy = await startHaproxy({ n1: ports[0] as number, n2: ports[1] as number, n3: ports[2] as number });
  await Promise.all(['n1', 'n2', 'n3'].map((n) => haproxy.until(n, 'UP')));
}, 120_000);

afterAll(async () => {
  await Promise.all(nodes.map(stopNode));
  await haproxy?.stop();
  await pg?.drop();
});

describe('the rolling self-update', () => {
  it('refuses a release whose digest does not check, a tarball that is not Ingot and an unknown version, keeping nothing', async () => {
    const bad = await first().cli(['update', 'add', '--file', good.file, '--sha256', ZERO]);
    expect([bad.code, bad.stderr]).toEqual([
      65,
      expect.stringMatching(new RegExp(`DIGEST_MISMATCH.*${good.sha256}`)),
    ]);
    const notIngot = join(tempDir('ingot-not-release-'), 'x.tgz');
    writeFileSync(notIngot, 'plain text, not a tarball');
    const sha = (await import('node:crypto'))
      .createHash('sha256')
      .update(readFileSync(notIngot))
      .digest('hex');
    const wrong = await first().cli(['update', 'add', '--file', notIngot, '--sha256', sha]);
    expect([wrong.code, wrong.stderr]).toEqual([
      65,
      expect.stringMatching(/BAD_ARCHIVE.*not an Ingot release/),
    ]);
    const malformed = await first().cli(['update', 'add', '--file', good.file, '--sha256', 'abc']);
    expect([malformed.code, malformed.stderr]).toEqual([2, expect.stringMatching(/INVALID_ARGUMENT/)]);
    for (const [type, body] of [
      ['application/json', '{"a":1}'],
      ['text/plain', 'x'],
      ['application/gzip', ''],
    ] as const) {
      const res = await fetch(`${first().url}/api/v1/releases?sha256=${good.sha256}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${first().token}`, 'content-type': type },
        body,
      });
      expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ]);
    }
    const reader = (await first().cli(['token', 'create', 'viewer', '--role', 'reader'])).stdout.trim();
    const denied = await first().cli(['update', 'add', '--file', good.file, '--sha256', good.sha256], {
      env: { INGOT_TOKEN: reader },
    });
    expect([denied.code, denied.stderr]).toEqual([77, expect.stringMatching(/FORBIDDEN/)]);
    const unknown = await first().cli(['update', 'activate', '9.9.9']);
    expect([unknown.code, unknown.stderr]).toEqual([3, expect.stringMatching(/NOT_FOUND.*9\.9\.9/)]);
    expect(await first().json<unknown[]>(['update', 'list'])).toEqual([]);
    expect((await first().json<{ roll: null }>(['update', 'status'])).roll).toBeNull();
  });

  it('rolls every node onto a new release behind HAProxy with zero failed requests, the leader last', async () => {
    const img = join(tempDir('ingot-roll-img-'), 'disk.img');
    writeFileSync(img, Buffer.alloc(300_000, 7));
    expect((await first().cli(['image', 'add', 'DISK_1', '--file', img])).code).toBe(0);
    const added = await nodes[1]?.json<{ version: string; sha256: string }>([
      'update',
      'add',
      '--file',
      good.file,
      '--sha256',
      good.sha256,
    ]);
    expect(added).toMatchObject({ version: '0.2.0', sha256: good.sha256 });
    const dry = await first().json<RollView>(['update', 'activate', '0.2.0', '--dry-run']);
    expect([dry.id, dry.state, dry.steps.length]).toEqual([null, 'dry-run', 3]);
    const { leader } = await first().json<{ leader: string }>(['nodes']);
    expect(dry.steps.at(-1)?.node).toBe(leader);

    const load = loadGenerator(haproxy.url, first().token, 'DISK_1');
    const done = anyLogged(/"msg":"roll done"/);
    const started = Date.now();
    const plan = await first().json<RollView>(['update', 'activate', '0.2.0', '--drain-seconds', '1.5']);
    expect(plan.state).toBe('running');
    const again = await nodes[2]?.cli(['update', 'activate', '0.2.0']);
    expect([again?.code, again?.stderr]).toEqual([
      4,
      expect.stringMatching(/CONFLICT.*a roll to 0\.2\.0 is running/),
    ]);
    await done;
    const seconds = (Date.now() - started) / 1000;
    const { ok, failures } = await load.stop();
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(50);

    const roll = await status();
    expect(roll.state).toBe('done');
    expect(roll.steps.map((s) => [s.state, s.fromVersion, s.error])).toEqual(
      Array(3).fill(['done', '0.1.0', null]),
    );
    expect(roll.steps.every((s) => s.startedAt && s.endedAt)).toBe(true);
    expect(roll.steps.at(-1)?.node).toBe(leader);
    const after = await versions();
    expect(after.map((n) => n.version)).toEqual(['0.2.0', '0.2.0', '0.2.0']);
    expect(after.map((n) => n.id).sort()).toEqual(roll.steps.map((s) => s.node).sort());
    const each = roll.steps.map((s) =>
      ((Date.parse(s.endedAt ?? '') - Date.parse(s.startedAt ?? '')) / 1000).toFixed(1),
    );
    process.stdout.write(
      `roll of 3 nodes: ${seconds.toFixed(1)} s (steps ${each.join(', ')} s), ${ok} requests, 0 failed\n`,
    );
  }, 300_000);

  it('stops the roll at a node that cannot start on the new release and brings it back on the old one', async () => {
    await first().json(['update', 'add', '--file', broken.file, '--sha256', broken.sha256]);
    const failed = anyLogged(/"msg":"roll failed"/);
    const plan = await first().json<RollView>(['update', 'activate', '0.3.0', '--drain-seconds', '0.5']);
    const target = nodes.find((n) => plan.steps[0]?.node.endsWith(`:${n.proc.pid}`)) as IngotServer;
    // Its stdout is the one the processes the roll starts for it write to.
    const back = new Promise<void>((resolve) => {
      const seen = (d: Buffer) => {
        if (!/ingot server listening/.test(String(d))) return;
        target.proc.stdout?.off('data', seen);
        resolve();
      };
      target.proc.stdout?.on('data', seen);
    });
    await Promise.all([failed, back]);
    const roll = await status();
    expect(roll.state).toBe('failed');
    expect(roll.steps[0]).toMatchObject({
      state: 'failed',
      error: expect.stringMatching(/ingot 0\.3\.0 exited with code 3 before it served; restarted on 0\.2\.0/),
    });
    expect(roll.error).toMatch(/exited with code 3/);
    expect(roll.steps.slice(1).map((s) => s.state)).toEqual(['pending', 'pending']);
    // The node that failed serves again on 0.2.0; nothing else moved.
    expect((await versions()).map((n) => n.version)).toEqual(['0.2.0', '0.2.0', '0.2.0']);
    expect((await target.cli(['update', 'status', '--json'])).code).toBe(0);
  }, 300_000);

  it('resumes a roll from its rows on a new leader when the leader is killed mid-roll', async () => {
    await first().json(['update', 'add', '--file', later.file, '--sha256', later.sha256]);
    const { leader } = await first().json<{ leader: string }>(['nodes']);
    const killed = nodes.find((n) => leader.endsWith(`:${n.proc.pid}`)) as IngotServer;
    const asker = nodes.find((n) => n !== killed) as IngotServer;
    const ended = anyLogged(/"msg":"roll (done|failed)"/);
    const plan = await asker.json<RollView>(['update', 'activate', '0.4.0', '--drain-seconds', '2']);
    expect(plan.steps.at(-1)?.node).toBe(leader);
    // Killed while the first node drains: the step is recorded, the lease lapses.
    const { pid } = JSON.parse(readFileSync(join(killed.home, 'server.json'), 'utf8')) as { pid: number };
    process.kill(pid, 'SIGKILL');
    await ended;
    const roll = (await asker.json<{ roll: RollView }>(['update', 'status'])).roll;
    expect(roll.steps.map((s) => s.state)).toEqual(['done', 'done', 'failed']);
    expect(roll.steps[2]?.error).toMatch(new RegExp(`node ${leader} is dead`));
    expect(roll.state).toBe('failed');
    expect(
      (await asker.json<{ nodes: NodeView[] }>(['nodes'])).nodes
        .map((n) => [n.id === leader, n.version, n.health])
        .sort(),
    ).toEqual([
      [false, '0.4.0', 'serving'],
      [false, '0.4.0', 'serving'],
      [true, '0.2.0', 'dead'],
    ]);
  }, 300_000);
});
