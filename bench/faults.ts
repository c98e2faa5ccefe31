/**
 * Fault-injection run (not a timed test): kill -9 at random moments of ingest, peer pulls
 * (either end), template syncs (either end) and bundle import; a full disk during ingest,
 * pull and import; a flipped byte in a pack and in the pack index; many pulls and deploys
 * at once; a peer certificate not valid yet. After each fault
 * the run restarts what it killed, lets durable jobs finish, and checks what a user would
 * see: no half-made image listed, every listed image verifies, no chunk the receiver had
 * stored sent to it again, each fault reported with its own code, the server answering.
 *
 * Settings (environment): BENCH_DIR (work dir, default <repo>/.bench), BENCH_FAULT_KILLS
 * (kill -9 per kind, half that per end of a sync; default 13: 66 in all), BENCH_FAULT_MIB
 * (image size, default 64).
 * Output: a table on stdout, progress on stderr, JSON in $BENCH_DIR/results-faults.json.
 */
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSelfSignedCertificate } from '../src/federation/certificate.js';
import { usableBuild } from './lib/build.js';
import { PeerServer, pairUp } from './lib/peers.js';
import { bash, removeTree, sleep } from './lib/proc.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The servers run a copy of the build made at the start (bench/lib/build.ts), not dist/ as it is edited. */
let ROOT = REPO;
const DIR = resolve(process.env.BENCH_DIR ?? join(REPO, '.bench'), 'work', 'faults');
const KILLS = Number(process.env.BENCH_FAULT_KILLS ?? 13);
/** BENCH_FAULT_PARTS=kill,sync,disk,many,flip,clock runs only those parts (default all). */
const PARTS = new Set((process.env.BENCH_FAULT_PARTS ?? 'kill,sync,disk,many,flip,clock').split(','));
const MIB = Number(process.env.BENCH_FAULT_MIB ?? 64);
const t0 = Date.now();
const log = (s: string) =>
  process.stderr.write(`[faults ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${s}\n`);

interface Row {
  readonly fault: string;
  runs: number;
  /** Images listed that did not verify, or listed though their add never finished. */
  halfMade: number;
  verifyFailures: number;
  /** Chunks the receiver already held, sent to it again (its `present` count). */
  resent: number;
  /** Error codes the user saw, with how often. */
  readonly codes: Map<string, number>;
  serverDown: number;
}

const rows: Row[] = [];
function row(fault: string): Row {
  const r: Row = {
    fault,
    runs: 0,
    halfMade: 0,
    verifyFailures: 0,
    resent: 0,
    codes: new Map(),
    serverDown: 0,
  };
  rows.push(r);
  return r;
}

/** How a CLI call ended. */
interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The registry code the CLI printed (`ingot: error [CODE] ...`), else ok or the exit code. */
function codeOf(r: Outcome): string {
  return /\[([A-Z_]+)\]/.exec(r.stderr)?.[1] ?? (r.code === 0 ? 'ok' : `exit ${r.code}`);
}

function saw(r: Row, code: string): void {
  r.codes.set(code, (r.codes.get(code) ?? 0) + 1);
}

/** The CLI, its failure returned instead of thrown. */
async function tryCli(server: PeerServer, args: readonly string[]): Promise<Outcome> {
  try {
    const r = await server.cli(args);
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const stderr = String((err as Error).message);
    return { code: Number(/ exited (\d+)/.exec(stderr)?.[1] ?? 1), stdout: '', stderr };
  }
}

async function listed(server: PeerServer): Promise<string[]> {
  const r = await server.cli(['image', 'list', '--json']);
  return (JSON.parse(r.stdout) as { name: string }[]).map((i) => i.name);
}

/** Every listed image verifies; counts those that do not. */
async function verifyAll(server: PeerServer, r: Row): Promise<void> {
  for (const name of await listed(server)) {
    const v = await tryCli(server, ['image', 'verify', name]);
    if (v.code !== 0) {
      r.verifyFailures++;
      saw(r, codeOf(v));
    }
  }
}

async function healthy(server: PeerServer, r: Row): Promise<void> {
  const v = await tryCli(server, ['image', 'list', '--json']);
  if (v.code !== 0) r.serverDown++;
}

/** Waits until no job of the server is queued or running (a resumed ingest or pull). */
async function jobsSettled(server: PeerServer): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const r = await tryCli(server, ['job', 'list', '--json']);
    if (r.code === 0) {
      const jobs = JSON.parse(r.stdout) as { state: string }[];
      if (!jobs.some((j) => j.state === 'queued' || j.state === 'running')) return;
    }
    await sleep(200);
  }
  throw new Error('jobs did not settle within 120 s');
}

/** Whether an ingest job for `name` was ever queued on the server. */
async function ingestJobOf(server: PeerServer, name: string): Promise<boolean> {
  const r = await tryCli(server, ['job', 'list', '--json']);
  if (r.code !== 0) return false;
  return (JSON.parse(r.stdout) as { kind: string; payload?: { name?: string } }[]).some(
    (j) => j.kind === 'ingest' && j.payload?.name === name,
  );
}

/** The receiver's count of chunks it was sent and already held. */
async function presentCount(server: PeerServer): Promise<number> {
  const info = JSON.parse(await readFile(join(server.home, 'server.json'), 'utf8')) as { url: string };
  const text = await (await fetch(`${info.url}/metrics`)).text();
  const m = /^ingot_chunks_received_total\{result="present"\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

/** `mib` MiB of random bytes (each image its own, so no ingest dedups against another). */
async function makeFile(path: string, mib: number): Promise<void> {
  await bash('head -c $(( $2 * 1048576 )) /dev/urandom > "$1"', [path, String(mib)]);
}

/** kill -9 the server after a random part of `estimate` ms, while `work` runs. */
async function killDuring(server: PeerServer, estimate: number, work: () => Promise<unknown>): Promise<void> {
  const running = work().catch(() => undefined);
  await sleep(randomInt(20, Math.max(40, Math.floor(estimate))));
  await server.kill();
  await running;
  await server.start();
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = Date.now();
  await work();
  return Date.now() - start;
}

async function killIngest(s1: PeerServer, file: string): Promise<void> {
  const r = row('kill -9 during ingest (server)');
  const estimate = await timed(() => s1.cli(['image', 'add', 'PROBE', '--file', file]));
  await s1.cli(['image', 'delete', 'PROBE', '--force']);
  for (let k = 0; k < KILLS; k++) {
    const name = `ING_${k}`;
    const f = join(DIR, `ing-${k}.bin`);
    await makeFile(f, MIB);
    await killDuring(s1, estimate, () => s1.cli(['image', 'add', name, '--file', f]));
    r.runs++;
    await jobsSettled(s1);
    // The resumed job finishes it; a half-made image would be listed but fail verify.
    const names = await listed(s1);
    if (names.includes(name)) saw(r, 'resumed');
    else saw(r, (await ingestJobOf(s1, name)) ? 'job failed' : 'killed before its job was queued');
    await healthy(s1, r);
  }
  await verifyAll(s1, r);
  for (const n of await listed(s1)) if (n.startsWith('ING_')) await s1.cli(['image', 'delete', n, '--force']);
}

async function killPull(
  sender: PeerServer,
  receiver: PeerServer,
  victim: 'sender' | 'receiver',
): Promise<void> {
  const r = row(`kill -9 during a pull (${victim})`);
  const dead = victim === 'sender' ? sender : receiver;
  const estimate = await timed(() => receiver.cli(['image', 'pull', 'BASE', '--server', sender.name]));
  for (let k = 0; k < KILLS; k++) {
    await receiver.cli(['image', 'delete', 'BASE', '--force']);
    await receiver.cli(['gc', '--grace', '0']);
    await killDuring(dead, estimate, () => receiver.cli(['image', 'pull', 'BASE', '--server', sender.name]));
    r.runs++;
    const before = await presentCount(receiver);
    // A killed receiver resumes its own job; after a killed sender the receiver's job retries.
    await jobsSettled(receiver);
    let names = await listed(receiver);
    if (!names.includes('BASE')) {
      const again = await tryCli(receiver, ['image', 'pull', 'BASE', '--server', sender.name]);
      saw(r, again.code === 0 ? 'pulled again' : codeOf(again));
      names = await listed(receiver);
    } else saw(r, 'resumed');
    r.resent += (await presentCount(receiver)) - before;
    if (!names.includes('BASE')) r.halfMade++;
    await healthy(receiver, r);
  }
  await verifyAll(receiver, r);
}

async function killImport(s1: PeerServer, s3: PeerServer): Promise<void> {
  const r = row('kill -9 during bundle import (server)');
  const out = join(DIR, 'bundles');
  await mkdir(out, { recursive: true });
  await s1.cli(['bundle', 'create', '--image', 'BASE', '--out', out, '--name', 'base']);
  const bundle = join(out, 'base.ingot');
  const estimate = await timed(() => s3.cli(['bundle', 'import', bundle]));
  for (let k = 0; k < KILLS; k++) {
    await s3.cli(['image', 'delete', 'BASE', '--force']);
    await s3.cli(['gc', '--grace', '0']);
    await killDuring(s3, estimate, () => s3.cli(['bundle', 'import', bundle]));
    r.runs++;
    await jobsSettled(s3);
    const names = await listed(s3);
    if (!names.includes('BASE')) {
      const again = await tryCli(s3, ['bundle', 'import', bundle]);
      saw(r, again.code === 0 ? 'imported again' : codeOf(again));
    } else saw(r, 'resumed');
    await healthy(s3, r);
  }
  await verifyAll(s3, r);
}

/**
 * kill -9 of the follower or of the upstream while the follower syncs a template holding
 * BASE; the next sync (or the follower's own resumed job) must finish it.
 */
async function killSync(
  upstream: PeerServer,
  follower: PeerServer,
  victim: 'follower' | 'upstream',
): Promise<void> {
  const r = row(`kill -9 during a template sync (${victim})`);
  const dead = victim === 'follower' ? follower : upstream;
  const sync = () => follower.cli(['sync', '--now', '--json']);
  await follower.cli(['image', 'delete', 'BASE', '--force']).catch(() => undefined);
  const estimate = await timed(sync);
  for (let k = 0; k < Math.ceil(KILLS / 2); k++) {
    await follower.cli(['image', 'delete', 'BASE', '--force']);
    await follower.cli(['gc', '--grace', '0']);
    await killDuring(dead, estimate, sync);
    r.runs++;
    const before = await presentCount(follower);
    await jobsSettled(follower);
    let names = await listed(follower);
    if (!names.includes('BASE')) {
      const again = await tryCli(follower, ['sync', '--now', '--json']);
      saw(r, again.code === 0 ? 'synced again' : codeOf(again));
      names = await listed(follower);
    } else saw(r, 'resumed');
    r.resent += (await presentCount(follower)) - before;
    if (!names.includes('BASE')) r.halfMade++;
    await healthy(follower, r);
  }
  await verifyAll(follower, r);
}

/**
 * A peer whose certificate is not valid yet (its clock ran ahead when it was made): both
 * ends must say so, with the date, instead of a socket error.
 */
async function skewedClock(a: PeerServer, servers: PeerServer[]): Promise<void> {
  const r = row('a peer certificate not valid yet (clock ahead)');
  const early = await PeerServer.create(ROOT, join(DIR, 'CLOCK_EARLY'), 'CLOCK_EARLY', false);
  servers.push(early);
  await early.stop();
  const from = new Date(Date.now() + 30 * 86_400_000);
  const cert = createSelfSignedCertificate({ commonName: 'CLOCK_EARLY', notBefore: from });
  await writeFile(join(early.home, 'keys', 'peer.key'), cert.keyPem, { mode: 0o600 });
  await writeFile(join(early.home, 'keys', 'peer.crt'), cert.certPem);
  await early.start();
  await pairUp(a, early, DIR);
  for (const [from_, to] of [
    [a, early],
    [early, a],
  ] as const) {
    const pull = await tryCli(from_, ['image', 'pull', 'BASE', '--server', to.name]);
    r.runs++;
    saw(r, codeOf(pull));
    if (pull.code === 0) r.halfMade++;
    await healthy(from_, r);
  }
}

/** A server whose home is a small tmpfs: every write past it fails with ENOSPC. */
async function fullDisk(s1: PeerServer, bigFile: string): Promise<void> {
  const home = join(DIR, 'small');
  await mkdir(home, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${Math.max(16, Math.floor(MIB / 2))}m`, 'tmpfs', home]);
  try {
    const small = await PeerServer.create(ROOT, join(home, 'h'), 'FPPS_SMALL', false);
    try {
      await pairUp(s1, small, DIR);
      for (const [fault, args] of [
        ['full disk during ingest', ['image', 'add', 'BIG', '--file', bigFile]],
        ['full disk during a pull', ['image', 'pull', 'BASE', '--server', s1.name]],
        ['full disk during bundle import', ['bundle', 'import', join(DIR, 'bundles', 'base.ingot')]],
      ] as const) {
        const r = row(fault);
        const res = await tryCli(small, args);
        r.runs++;
        saw(r, codeOf(res));
        await jobsSettled(small);
        const names = await listed(small);
        if (names.includes('BIG') || names.includes('BASE')) r.halfMade++;
        await healthy(small, r);
      }
    } finally {
      await small.dispose();
    }
  } finally {
    execFileSync('umount', ['-l', home]);
  }
}

/** Flips one byte in a pack of `server` (at a random offset past the header), or in its index. */
async function flip(server: PeerServer, what: 'pack' | 'index'): Promise<void> {
  const dir = join(server.home, 'store', 'packs-v1');
  const files = (await readdir(dir)).filter((f) =>
    what === 'pack' ? f.endsWith('.pack') : f.endsWith('.sqlite'),
  );
  // The newest pack: older ones may hold only records gc has since let go.
  const sized = await Promise.all(
    files.map(async (f) => {
      const st = await stat(join(dir, f));
      return { f, size: st.size, mtime: st.mtimeMs };
    }),
  );
  const target = sized.sort((a, b) => b.mtime - a.mtime)[0];
  if (!target) throw new Error(`no ${what} file in ${dir}`);
  const fh = await open(join(dir, target.f), 'r+');
  try {
    const at = randomInt(Math.min(4096, target.size - 1), target.size);
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = (b[0] as number) ^ 0xff;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

/**
 * One byte of the store flipped while the server is down. Right answers: verify and deploy
 * refuse with a code, or (a byte nothing reads, such as a free page of the index) both
 * succeed and the deployed bytes are the image's. Wrong: deploy gives other bytes.
 */
async function flipped(server: PeerServer, what: 'pack' | 'index', source: string): Promise<void> {
  const r = row(`a flipped byte in the ${what}`);
  await server.stop();
  await flip(server, what);
  await server.start();
  r.runs++;
  let v: Outcome = { code: 0, stdout: '', stderr: '' };
  for (const name of await listed(server)) {
    const one = await tryCli(server, ['image', 'verify', name]);
    if (one.code !== 0) v = one;
  }
  saw(r, `verify of every image: ${codeOf(v)}`);
  const out = join(DIR, `deploy-${what}`);
  await removeTree(out);
  const d = await tryCli(server, ['image', 'deploy', 'BASE', '--path', out]);
  saw(r, `deploy: ${codeOf(d)}`);
  if (d.code === 0 && (await sha256Of(out)) !== (await sha256Of(source))) r.halfMade++;
  if (v.code === 0 && d.code !== 0) r.verifyFailures++;
  await healthy(server, r);
}

async function concurrent(s1: PeerServer, s2: PeerServer): Promise<void> {
  const r = row('50 deploys and 50 pulls at once');
  const deploys = Array.from({ length: 50 }, (_, k) =>
    tryCli(s1, ['image', 'deploy', 'BASE', '--path', join(DIR, 'many', `d${k}`)]),
  );
  const pulls = Array.from({ length: 50 }, (_, k) =>
    tryCli(s2, ['image', 'pull', `SMALL_${k}`, '--server', s1.name]),
  );
  for (const res of await Promise.all([...deploys, ...pulls])) {
    r.runs++;
    saw(r, codeOf(res));
  }
  await verifyAll(s2, r);
  await healthy(s1, r);
}

/** The file's SHA-256, or '' where there is no such file. */
async function sha256Of(path: string): Promise<string> {
  try {
    return (await bash('sha256sum "$1" | cut -d" " -f1', [path])).stdout.trim();
  } catch {
    return '';
  }
}

/** Runs one part; a part that breaks is a row of its own, and the run goes on. */
async function part(name: string, work: () => Promise<void>): Promise<void> {
  log(name);
  try {
    await work();
  } catch (err) {
    const r = row(`${name} (did not finish)`);
    saw(
      r,
      String((err as Error).message)
        .split('\n')[0]
        ?.slice(0, 120) ?? 'error',
    );
  }
}

function table(): string {
  const head = [
    'fault',
    'runs',
    'half-made listed',
    'verify failures',
    'chunks re-sent',
    'server down',
    'what the user saw',
  ];
  const body = rows.map((r) => [
    r.fault,
    String(r.runs),
    String(r.halfMade),
    String(r.verifyFailures),
    String(r.resent),
    String(r.serverDown),
    [...r.codes.entries()].map(([c, n]) => `${c} ×${n}`).join(', '),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  await removeTree(DIR);
  await mkdir(DIR, { recursive: true });
  const { build, missing } = await usableBuild(REPO, join(DIR, 'build'), log);
  if (!build || missing) throw new Error(missing ?? 'no ingot build');
  ROOT = build.root;
  log(`ingot measured: ${build.describe}`);
  const servers: PeerServer[] = [];
  try {
    const [s1, s2, s3] = await Promise.all(
      ['FPPS_1', 'FPPS_2', 'FPPS_3'].map((n) => PeerServer.create(ROOT, join(DIR, n), n, false)),
    );
    servers.push(s1 as PeerServer, s2 as PeerServer, s3 as PeerServer);
    const [a, b, c] = servers as [PeerServer, PeerServer, PeerServer];
    await pairUp(a, b, DIR);
    await pairUp(a, c, DIR);
    log(`setup: a ${MIB} MiB image BASE and 50 small images on FPPS_1`);
    const base = join(DIR, 'base.bin');
    await makeFile(base, MIB);
    await a.cli(['image', 'add', 'BASE', '--file', base]);
    for (let k = 0; k < 50; k++) {
      const f = join(DIR, `small-${k}.bin`);
      await writeFile(f, `small image ${k}\n`.repeat(4096 + k));
      await a.cli(['image', 'add', `SMALL_${k}`, '--file', f]);
    }
    if (PARTS.has('kill')) {
      await part(`kill -9 x${KILLS} during ingest`, () => killIngest(a, base));
      await part(`kill -9 x${KILLS} of the receiver during a pull`, () => killPull(a, b, 'receiver'));
      await part(`kill -9 x${KILLS} of the sender during a pull`, () => killPull(a, b, 'sender'));
      await part(`kill -9 x${KILLS} during bundle import`, () => killImport(a, c));
    }
    if (PARTS.has('sync')) {
      await a.cli(['template', 'create', 'FAULT_T']);
      await a.cli(['template', 'add', 'FAULT_T', '--image', 'BASE']);
      await a.cli(['template', 'publish', 'FAULT_T']);
      await b.cli(['follow', '--upstream', a.name, '--template', 'FAULT_T', '--every', '1h']);
      await jobsSettled(b);
      for (const victim of ['follower', 'upstream'] as const) {
        await part(`kill -9 x${Math.ceil(KILLS / 2)} of the ${victim} during a template sync`, () =>
          killSync(a, b, victim),
        );
      }
    }
    if (PARTS.has('clock')) await part('a peer certificate not valid yet', () => skewedClock(a, servers));
    if (!PARTS.has('disk')) log('full disk: not asked for');
    else if (process.getuid?.() === 0) {
      await part('full disk (tmpfs) during ingest, pull and import', async () => {
        const big = join(DIR, 'big.bin');
        await makeFile(big, MIB);
        await fullDisk(a, big);
      });
    } else log('full disk: skipped (mounting a tmpfs needs root)');
    if (PARTS.has('many')) await part('50 deploys and 50 pulls at once', () => concurrent(a, b));
    if (PARTS.has('flip'))
      await part('a flipped byte in a pack, then in the index', async () => {
        // A fresh server whose one pack holds BASE alone: every byte past its header is live.
        for (const what of ['pack', 'index'] as const) {
          const d = await PeerServer.create(
            ROOT,
            join(DIR, `FLIP_${what}`),
            `FLIP_${what.toUpperCase()}`,
            false,
          );
          servers.push(d);
          await pairUp(a, d, DIR);
          await d.cli(['image', 'pull', 'BASE', '--server', a.name]);
          await flipped(d, what, base);
        }
      });
  } finally {
    for (const s of servers) await s.dispose();
  }
  const out = table();
  process.stdout.write(
    `\nIngot fault-injection run; ${MIB} MiB images; kill -9 at random moments\n\n${out}\n`,
  );
  const json = rows.map((r) => ({ ...r, codes: Object.fromEntries(r.codes) }));
  await writeFile(join(DIR, '..', '..', 'results-faults.json'), `${JSON.stringify(json, null, 2)}\n`);
}

await main();
