import { rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { makeTestCa, startNginx } from '../test/support/url-servers.js';
import { loadConfig } from './lib/config.js';
import { IngotServer, ingotCli } from './lib/ingot.js';
import { buildStamp, firstLine, machineFacts } from './lib/machine.js';
import { bash, cpuSecondsOf, run, sync, warm } from './lib/proc.js';
import { makeFileInput } from './lib/random-file.js';
import { fmtBytes, median, table } from './lib/stats.js';

/**
 * One file, two ways, each rep in turn: `curl -o FILE URL` then `openssl dgst -sha256 FILE`
 * (a download and a check, the way one does it by hand), and `ingot image import --url URL
 * --sha256 HEX` into a fresh server (download, chunk, hash, store, check, commit). The
 * server's start is not timed; the import is, from the command to its exit. Beside the wall
 * clock, each side's CPU seconds (curl's and openssl's; the server's and the CLI's): on a
 * shared machine the wall clock swings with others' load, the CPU a tool spends much less.
 * And the disk's floor for what the import must do and curl does not: the same bytes
 * written and fdatasynced (`dd conv=fdatasync`), as the store makes every batch durable.
 */
const cfg = loadConfig(['file']);
const t0 = Date.now();
const log = (s: string) =>
  process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(5)}s] ${s}\n`);

async function main(): Promise<void> {
  const loadAtStart = loadavg();
  const input = await makeFileInput(join(cfg.dir, 'data'), cfg.sizeBytes, log);
  const tls = makeTestCa(await mkScratch('ca'));
  const nginx = await startNginx(dirname(input.v1), tls);
  const url = `${nginx.httpUrl}/v1.bin`;
  const scratch = await mkScratch('url-import');
  const sha = (await run('openssl', ['dgst', '-sha256', '-r', input.v1])).stdout.split(' ')[0] as string;
  const reps: Rep[] = [];
  try {
    for (let rep = 1; rep <= cfg.reps; rep++) {
      log(`rep ${rep}/${cfg.reps}: curl -o + openssl dgst -sha256`);
      await warm(input.v1);
      const out = join(scratch, 'download.bin');
      const timed = { measureRss: true, rssFile: join(scratch, 'time.out') };
      const curl = await run('curl', ['-sS', '--fail', '-o', out, url], timed);
      const ssl = await run('openssl', ['dgst', '-sha256', out], timed);
      await rm(out, { force: true });
      await sync();
      const dd = await run('dd', [`if=${input.v1}`, `of=${out}`, 'bs=4M', 'conv=fdatasync', 'status=none']);
      await rm(out, { force: true });
      await sync();
      log(`rep ${rep}/${cfg.reps}: ingot image import --url`);
      const home = join(scratch, `home-${rep}`);
      await rm(home, { recursive: true, force: true });
      await bash('mkdir -p "$1"', [home]);
      const server = await IngotServer.start(cfg.repo, home);
      let ingot: number;
      let ingotCpu: number;
      try {
        await warm(input.v1);
        const cpu0 = (await cpuSecondsOf(server.pid)) ?? Number.NaN;
        const r = await ingotCli(
          cfg.repo,
          home,
          ['image', 'import', 'BENCH', '--url', url, '--sha256', sha, '--quiet'],
          true,
        );
        ingot = r.seconds;
        ingotCpu = ((await cpuSecondsOf(server.pid)) ?? Number.NaN) - cpu0 + (r.cpuSeconds ?? Number.NaN);
      } finally {
        await server.stop();
      }
      await rm(home, { recursive: true, force: true });
      await sync();
      reps.push({
        curl: curl.seconds,
        openssl: ssl.seconds,
        ingot,
        ddSync: dd.seconds,
        curlCpu: curl.cpuSeconds ?? Number.NaN,
        opensslCpu: ssl.cpuSeconds ?? Number.NaN,
        ingotCpu,
      });
    }
  } finally {
    await nginx.stop();
  }
  const m = (k: keyof Rep) => median(reps.map((r) => r[k]));
  const byHandCpu = median(reps.map((r) => r.curlCpu + r.opensslCpu));
  const byHand = median(reps.map((r) => r.curl + r.openssl));
  const rate = (s: number) => `${fmtBytes(input.v1Bytes / s)}/s`;
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const rows = [
    ['curl -o', m('curl').toFixed(2), rate(m('curl')), m('curlCpu').toFixed(2)],
    ['openssl dgst -sha256', m('openssl').toFixed(2), rate(m('openssl')), m('opensslCpu').toFixed(2)],
    ['curl -o + openssl (per rep)', byHand.toFixed(2), rate(byHand), byHandCpu.toFixed(2)],
    ['ingot image import --url', m('ingot').toFixed(2), rate(m('ingot')), m('ingotCpu').toFixed(2)],
    ['dd conv=fdatasync (disk floor)', m('ddSync').toFixed(2), rate(m('ddSync')), ''],
  ];
  const ratio = byHand / m('ingot');
  const text = [
    `URL import of ${fmtBytes(input.v1Bytes)} over http on loopback (nginx), median of ${cfg.reps}`,
    table(['', 'seconds', 'rate', 'CPU s'], rows),
    `ingot speed relative to curl + openssl: ${ratio.toFixed(2)}x (target >= 0.8x)`,
    `CPU seconds, curl + openssl against ingot (server + CLI): ${(byHandCpu / m('ingotCpu')).toFixed(2)}x`,
    `machine: ${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, node ${process.version}; ` +
      `load average ${load(loadAtStart)} at start, ${load(loadavg())} at end; build ${buildStamp(cfg.repo) ?? '?'}`,
  ].join('\n');
  process.stdout.write(`${text}\n`);
  const file = join(cfg.dir, 'results-url-import.json');
  await writeFile(
    file,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        config: cfg,
        machine: {
          ...machineFacts(cfg),
          curl: firstLine('curl', ['--version']),
          nginx: firstLine('nginx', ['-v']),
        },
        reps,
        medians: {
          curl: m('curl'),
          openssl: m('openssl'),
          byHand,
          ingot: m('ingot'),
          ddSync: m('ddSync'),
          byHandCpu,
          ingotCpu: m('ingotCpu'),
        },
        ratio,
      },
      null,
      2,
    )}\n`,
  );
  log(`results written to ${file}`);
}

interface Rep {
  readonly curl: number;
  readonly openssl: number;
  readonly ingot: number;
  /** The same bytes written and fdatasynced: what durable storage costs on this disk. */
  readonly ddSync: number;
  readonly curlCpu: number;
  readonly opensslCpu: number;
  /** The server's CPU during the import, and the CLI's. */
  readonly ingotCpu: number;
}

async function mkScratch(name: string): Promise<string> {
  const dir = join(cfg.dir, 'work', name);
  await bash('mkdir -p "$1"', [dir]);
  return dir;
}

main().catch((err) => {
  process.stderr.write(`bench: ${err?.stack ?? err}\n`);
  process.exitCode = 1;
});
