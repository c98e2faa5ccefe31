import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from './lib/config.js';
import { casyncRep, copyAndSync, ingestFloor, opensslSha256 } from './lib/floors.js';
import { ingotRep } from './lib/ingot.js';
import { buildStamp, firstLine, machineFacts } from './lib/machine.js';
import { run, sync, warm } from './lib/proc.js';
import { type FileInput, makeFileInput } from './lib/random-file.js';
import { type Measured, type RepResult, report } from './lib/report.js';
import { makeTreeInput, type TreeInput } from './lib/rootfs.js';

const cfg = loadConfig();
const t0 = Date.now();
const log = (s: string) =>
  process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(5)}s] ${s}\n`);

async function ingotUsable(): Promise<string | undefined> {
  if (process.env.BENCH_SKIP_INGOT === '1') return 'BENCH_SKIP_INGOT=1';
  if (!existsSync(join(cfg.repo, 'dist/main/cli.js'))) return 'dist/ is not built (npm run build)';
  try {
    await run(process.execPath, [join(cfg.repo, 'bin/ingot.js'), '--help']);
    return undefined;
  } catch (err) {
    return `node bin/ingot.js --help fails: ${(err as Error).message.split('\n')[0]}`;
  }
}

async function measure(input: FileInput | TreeInput, ingotMissing: string | undefined): Promise<Measured> {
  const isTree = input.kind === 'tree';
  const scratch = join(cfg.dir, 'work', input.kind);
  await mkdir(scratch, { recursive: true });
  const m: Measured = {
    input,
    bytes: {
      v1: input.kind === 'tree' ? input.v1Stats.bytes : input.v1Bytes,
      v2: input.kind === 'tree' ? input.v2Stats.bytes : input.v2Bytes,
    },
    reps: [],
    ingotSkipped: ingotMissing,
  };
  for (let rep = 1; rep <= cfg.reps; rep++) {
    // Tools interleaved per rep, so drift on a noisy machine spreads over all of them.
    log(`${input.kind} rep ${rep}/${cfg.reps}: openssl`);
    await warm(input.v1);
    const sslV1 = await opensslSha256(input.v1, isTree, scratch);
    await warm(input.v2);
    const sslV2 = await opensslSha256(input.v2, isTree, scratch);
    log(`${input.kind} rep ${rep}/${cfg.reps}: cp + sync`);
    await warm(input.v1);
    const cpV1 = await copyAndSync(input.v1, isTree, scratch);
    await warm(input.v2);
    const cpV2 = await copyAndSync(input.v2, isTree, scratch);
    let floor: RepResult['floor'];
    if (!isTree) {
      log(
        `${input.kind} rep ${rep}/${cfg.reps}: ingest floor (read, sha256 on 2 workers, write + fdatasync)`,
      );
      await warm(input.v1);
      const f1 = await ingestFloor(input.v1, scratch, true);
      await warm(input.v2);
      floor = { v1: f1, v2: await ingestFloor(input.v2, scratch, false) };
    }
    log(`${input.kind} rep ${rep}/${cfg.reps}: casync make`);
    await warm(input.v1);
    await warm(input.v2);
    const ca = await casyncRep(input.v1, input.v2, isTree, scratch);
    let ingot: Awaited<ReturnType<typeof ingotRep>> | undefined;
    let ingotError: string | undefined;
    if (!ingotMissing) {
      log(`${input.kind} rep ${rep}/${cfg.reps}: ingot image add`);
      await warm(input.v1);
      await warm(input.v2);
      try {
        ingot = await ingotRep(cfg.repo, scratch, input.v1, input.v2, isTree);
      } catch (err) {
        ingotError = (err as Error).message;
        log(`ingot failed: ${ingotError}`);
      }
    }
    m.reps.push({
      openssl: { v1: sslV1, v2: sslV2 },
      cp: { v1: cpV1, v2: cpV2 },
      floor,
      casync: ca,
      ingot,
      ingotError,
    });
    await sync();
  }
  return m;
}

function machine(): Record<string, unknown> {
  return {
    ...machineFacts(cfg),
    openssl: firstLine('openssl', ['version']),
    casync: firstLine('casync', ['--version']),
    // The tree is often uncommitted while the benchmark runs: say which build was measured.
    ingotBuiltAt: firstLine('bash', ['-c', `date -u -r "${join(cfg.repo, 'dist/main/cli.js')}" +%FT%TZ`]),
  };
}

async function main(): Promise<void> {
  const loadAtStart = loadavg();
  const stampAtStart = buildStamp(cfg.repo);
  await mkdir(cfg.dir, { recursive: true });
  log(`work dir ${cfg.dir}, file input ${cfg.sizeGiB} GiB, ${cfg.reps} reps, inputs ${cfg.inputs.join(',')}`);
  const ingotMissing = await ingotUsable();
  if (ingotMissing) log(`ingot rows skipped: ${ingotMissing}`);
  const inputs: (FileInput | TreeInput)[] = [];
  if (cfg.inputs.includes('file'))
    inputs.push(await makeFileInput(join(cfg.dir, 'data'), cfg.sizeBytes, log));
  if (cfg.inputs.includes('tree')) inputs.push(await makeTreeInput(cfg, log));
  const measured: Measured[] = [];
  for (const input of inputs) measured.push(await measure(input, ingotMissing));
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const notes = [
    `machine: ${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, node ${process.version}; ` +
      `load average ${load(loadAtStart)} at start, ${load(loadavg())} at end`,
  ];
  if (buildStamp(cfg.repo) !== stampAtStart) {
    notes.push('WARNING: dist/ was rebuilt during this run; the ingot rows may mix two builds.');
  }
  const { text, json } = report(cfg, measured, notes);
  process.stdout.write(`${text}\n`);
  const out = join(cfg.dir, 'results-ingest.json');
  await writeFile(
    out,
    `${JSON.stringify({ date: new Date().toISOString(), config: cfg, machine: machine(), ...json }, null, 2)}\n`,
  );
  log(`results written to ${out}`);
}

main().catch((err) => {
  process.stderr.write(`bench: ${err?.stack ?? err}\n`);
  process.exitCode = 1;
});
