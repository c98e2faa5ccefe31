import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { snapshotBuild } from './lib/build.js';
import { loadConfig } from './lib/config.js';
import { PeerServer, pairUp } from './lib/peers.js';
import { bash, removeTree, run, sync, warm, warmPages } from './lib/proc.js';
import { makeFileInput } from './lib/random-file.js';
import { median } from './lib/stats.js';

/**
 * Bundle import alone, against `cp` + `sync` of the same file: one bundle of the file input
 * is made on HQ (not timed), then each repetition imports it into a fresh site, by the
 * server's own job and with `--upload`, for each build in turn (interleaved, so a change in
 * the machine's load hits every build alike), and copies it with `cp` + `sync`.
 * BENCH_INGOT_REFS: a comma list of commits to compile and measure beside the working tree's
 * dist/ (e.g. `HEAD~1`). Output: a table on stdout, JSON in $BENCH_DIR/results-bundle-import.json.
 */
const cfg = loadConfig(['file']);
const t0 = Date.now();
const log = (s: string) =>
  process.stderr.write(`[bundle-import ${((Date.now() - t0) / 1000).toFixed(0).padStart(5)}s] ${s}\n`);
const work = join(cfg.dir, 'work', 'bundle-import');
const load = () =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

async function main(): Promise<void> {
  await mkdir(work, { recursive: true });
  const refs = (process.env.BENCH_INGOT_REFS ?? '').split(',').filter(Boolean);
  const builds = [
    ...(await Promise.all(refs.map((r, i) => snapshotBuild(cfg.repo, join(work, `build-${i}`), r, log)))),
    await snapshotBuild(cfg.repo, join(work, 'build-tree'), undefined, log),
  ];
  const input = await makeFileInput(join(cfg.dir, 'data'), cfg.sizeBytes, log);
  const base = join(work, 'homes');
  await removeTree(base);
  await mkdir(base, { recursive: true });
  const newest = builds.at(-1)?.root as string;
  const hq = await PeerServer.create(newest, join(base, 'hq'), 'HQ', false);
  const usb = join(base, 'usb');
  const servers: PeerServer[] = [hq];
  try {
    log('HQ: image add, bundle create (not timed)');
    await hq.cli(['image', 'add', 'WIN', '--file', input.v1, '--type', 'DISKIMAGE']);
    await hq.cli(['bundle', 'create', '--image', 'WIN', '--out', usb]);
    const bundle = join(usb, (await readdir(usb))[0] as string);
    const rows: Record<string, number[]> = {};
    const loads: string[] = [];
    const add = (k: string, s: number) => {
      rows[k] ??= [];
      rows[k].push(s);
    };
    for (let rep = 1; rep <= cfg.reps; rep++) {
      for (const [i, build] of builds.entries()) {
        for (const upload of [false, true]) {
          const site = await PeerServer.create(build.root, join(base, 'site'), 'SITE', false);
          servers.push(site);
          await pairUp(hq, site, base);
          await warmPages(base, cfg.sizeBytes * 2);
          await warm(bundle);
          await sync();
          const l = load();
          const args = ['bundle', 'import', bundle, '--json', ...(upload ? ['--upload'] : [])];
          const cpu0 = (await site.cpuSeconds()) ?? 0;
          const timesFile = join(base, 'cli.times');
          const start = process.hrtime.bigint();
          await run(
            '/usr/bin/time',
            ['-f', '%U %S', '-o', timesFile, join(build.root, 'bin/ingot.js'), ...args],
            {
              env: { ...process.env, INGOT_HOME: site.home },
            },
          );
          await sync();
          const s = Number(process.hrtime.bigint() - start) / 1e9;
          const serverCpu = ((await site.cpuSeconds()) ?? 0) - cpu0;
          const [u, k] =
            (await readFile(timesFile, 'utf8')).trim().split('\n').pop()?.split(' ').map(Number) ?? [];
          const cliCpu = (u ?? 0) + (k ?? 0);
          const key = `${i < refs.length ? refs[i] : 'tree'} ${upload ? '--upload' : 'job'}`;
          add(`${key} cpu server`, serverCpu);
          add(`${key} cpu cli`, cliCpu);
          log(
            `rep ${rep}: ${key}: ${s.toFixed(2)} s, cpu server ${serverCpu.toFixed(2)} s, cli ${cliCpu.toFixed(2)} s (load ${l})`,
          );
          loads.push(l);
          add(key, s);
          await site.dispose();
          servers.pop();
          await hq.cli(['unregister', 'server', '--server', 'SITE']).catch(() => {});
        }
      }
      await warmPages(base, cfg.sizeBytes * 2);
      await warm(bundle);
      await sync();
      const l = load();
      const cp = await bash('cp "$1" "$2" && sync', [bundle, join(base, 'copy.bin')]);
      await removeTree(join(base, 'copy.bin'));
      await sync();
      log(`rep ${rep}: cp+sync: ${cp.seconds.toFixed(2)} s (load ${l})`);
      loads.push(l);
      add('cp+sync', cp.seconds);
    }
    const floor = median(rows['cp+sync'] as number[]);
    const lines = [`bundle of ${cfg.sizeGiB} GiB (file input), ${cfg.reps} rep(s), medians (min-max)`];
    for (const [k, v] of Object.entries(rows)) {
      const m = median(v);
      if (k.includes(' cpu ')) {
        lines.push(
          `${k.padEnd(24)} ${m.toFixed(2)} s CPU (${Math.min(...v).toFixed(2)}-${Math.max(...v).toFixed(2)})`,
        );
        continue;
      }
      lines.push(
        `${k.padEnd(24)} ${m.toFixed(2)} s (${Math.min(...v).toFixed(2)}-${Math.max(...v).toFixed(2)})  ${(floor / m).toFixed(2)}x cp+sync`,
      );
    }
    lines.push(`load averages at each start: ${loads.join(' | ')}`);
    process.stdout.write(`${lines.join('\n')}\n`);
    await writeFile(
      join(cfg.dir, 'results-bundle-import.json'),
      `${JSON.stringify({ date: new Date().toISOString(), builds: builds.map((b) => b.describe), rows, loads }, null, 2)}\n`,
    );
  } finally {
    for (const s of servers) await s.dispose();
  }
}

main().catch((err) => {
  process.stderr.write(`bundle-import bench: ${err?.stack ?? err}\n`);
  process.exitCode = 1;
});
