import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BIN,
  type CliResult,
  type IngotServer,
  outcome,
  runCli,
  startIngot,
  tempDir,
} from '../support/ingot.js';
import { pair } from '../support/peers.js';
import { pseudoRandom } from '../support/trees.js';

/** What a new user meets first: refusals before work, and errors that say what to do. */
interface AddJson {
  name: string;
  imageType: string;
  parentName: string | null;
  upload: { knownBytes: number; sentRawBytes: number };
}

describe('the CLI fails fast and says what to do', () => {
  let server: IngotServer;
  const work = tempDir('ingot-cli-');
  const file = join(work, 'disk.img');

  beforeAll(async () => {
    server = await startIngot({ name: 'CLI_UX' });
    writeFileSync(file, pseudoRandom('disk', 2_000_000));
    mkdirSync(join(work, 'tree'));
    writeFileSync(join(work, 'tree', 'a.txt'), 'hello\n');
  });
  afterAll(() => server?.stop());

  it('refuses a wrong --type, --series or --from on an upload before a byte is sent', async () => {
    const refusals: [string[], string][] = [
      [['--type', 'NO_SUCH_TYPE'], 'NOT_FOUND'],
      [['--type', 'SOFTWARE'], 'INVALID_ARGUMENT'],
      [['--series', 'NO_SUCH_SERIES'], 'NOT_FOUND'],
      [['--from', 'NO_SUCH_IMAGE'], 'NOT_FOUND'],
    ];
    for (const [flags, code] of refusals) {
      const r = await server.cli(['image', 'add', 'DISK_1', '--file', file, '--upload', ...flags]);
      expect(r.stderr).toContain(`[${code}]`);
      expect(r.code).not.toBe(0);
    }
    // Had any refused attempt sent its chunks, this upload would find them stored.
    const ok = await server.json<AddJson>(['image', 'add', 'DISK_1', '--file', file, '--upload']);
    expect(ok.upload.knownBytes).toBe(0);
    expect(ok.upload.sentRawBytes).toBe(2_000_000);
  });

  it('gives an image added --from P the type and series of P unless told otherwise', async () => {
    expect((await server.cli(['imagetype', 'add', 'FWIMAGE', '--basetype', 'DISKIMAGE'])).code).toBe(0);
    expect((await server.cli(['series', 'add', 'FW'])).code).toBe(0);
    const v1 = await server.cli([
      'image',
      'add',
      'FW_1',
      '--file',
      file,
      '--type',
      'FWIMAGE',
      '--series',
      'FW',
    ]);
    expect(v1.code, v1.stderr).toBe(0);
    for (const via of [['--upload'], []]) {
      const name = `FW_2${via.length ? '_UP' : '_LOCAL'}`;
      const r = await server.json<AddJson>(['image', 'add', name, '--file', file, '--from', 'FW_1', ...via]);
      expect(r).toMatchObject({ imageType: 'FWIMAGE', parentName: 'FW_1' });
    }
    const series = await server.json<{ images: string[] }>(['series', 'show', 'FW']);
    expect(series.images).toEqual(['FW_1', 'FW_2_UP', 'FW_2_LOCAL']);
    // Given ones win.
    const own = await server.json<AddJson>([
      'image',
      'add',
      'FW_3',
      '--file',
      file,
      '--from',
      'FW_1',
      '--type',
      'DISKIMAGE',
    ]);
    expect(own.imageType).toBe('DISKIMAGE');
    // In two series, the image must say which one.
    expect((await server.cli(['series', 'add', 'FW_LTS'])).code).toBe(0);
    expect((await server.cli(['series', 'insert', 'FW_LTS', '--image', 'FW_1'])).code).toBe(0);
    const two = await server.cli(['image', 'add', 'FW_4', '--file', file, '--from', 'FW_1']);
    expect(two.code).toBe(2);
    expect(two.stderr).toContain('--series');
  });

  it('counts chunks and entries the same way in add, show, verify and deploy, in agreeing words', async () => {
    const tree = join(work, 'repeats');
    mkdirSync(join(tree, 'lib'), { recursive: true });
    const same = pseudoRandom('same', 300_000);
    writeFileSync(join(tree, 'a.bin'), same);
    writeFileSync(join(tree, 'lib', 'b.bin'), same);
    const fd = openSync(join(tree, 'lib', 'sparse.img'), 'w');
    writeSync(fd, pseudoRandom('tail', 100_000), 0, 100_000, 8 * 1024 * 1024);
    closeSync(fd);
    const add = await server.cli(['image', 'add', 'REPEATS', '--path', tree]);
    expect(add.code, add.stderr).toBe(0);
    const show = await server.cli(['image', 'show', 'REPEATS']);
    const chunks = Number(/^stored: .* in (\d+) chunks$/m.exec(show.stdout)?.[1]);
    const entries = Number(/^entries: +(\d+)$/m.exec(show.stdout)?.[1]);
    expect(add.stdout).toContain(`, ${chunks} chunks;`);
    expect(entries).toBe(5); // . a.bin lib lib/b.bin lib/sparse.img
    const verify = await server.cli(['image', 'verify', 'REPEATS']);
    expect(verify.stdout).toMatch(new RegExp(`^REPEATS: OK, ${chunks} chunks(,| and)`));
    const deploy = await server.cli(['image', 'deploy', 'REPEATS', '--path', join(work, 'repeats-out')]);
    expect(deploy.stdout).toContain(`(${entries} entries,`);
    // One of each: singular words.
    writeFileSync(join(work, 'tiny.txt'), 'tiny\n');
    const one = await server.cli(['image', 'add', 'TINY', '--file', join(work, 'tiny.txt')]);
    expect(one.stdout).toContain(', 1 chunk;');
    expect((await server.cli(['image', 'verify', 'TINY'])).stdout).toMatch(
      /^TINY: OK, 1 chunk and 1 manifest part, /,
    );
    const dep = await server.cli(['image', 'deploy', 'TINY', '--path', join(work, 'tiny-out.txt')]);
    expect(dep.stdout).toContain('(1 entry, 5 B)');
  });

  it('shows progress with --progress always off a terminal, none by default or with --quiet', async () => {
    const last = (stderr: string) => stderr.trimEnd().split('\n').at(-1) ?? '';
    const timing = / {2}elapsed \d+s {2}ETA (\d+s|-)$/;
    const up = await server.cli([
      'image',
      'add',
      'P_UP',
      '--file',
      file,
      '--upload',
      '--from',
      'DISK_1',
      '--progress',
      'always',
    ]);
    expect(up.code, up.stderr).toBe(0);
    // Same bytes as DISK_1: all of it found already stored, nothing sent.
    expect(last(up.stderr)).toMatch(
      /^add P_UP {2}1\.91 MiB \/ 1\.91 MiB 100% {2}1\.91 MiB already stored, 0 B sent {2}/,
    );
    expect(last(up.stderr)).toMatch(timing);
    const local = await server.cli(['image', 'add', 'P_LOCAL', '--file', file, '--progress', 'always']);
    expect(last(local.stderr)).toMatch(/^add P_LOCAL {2}1\.91 MiB \/ 1\.91 MiB 100% {2}/);
    const deploy = await server.cli([
      'image',
      'deploy',
      'P_UP',
      '--path',
      join(work, 'p-up.img'),
      '--progress',
      'always',
    ]);
    expect(last(deploy.stderr)).toMatch(/^deploy P_UP {2}1\.91 MiB \/ 1\.91 MiB 100% {2}/);
    expect(last(deploy.stderr)).toMatch(timing);
    const verify = await server.cli(['image', 'verify', 'P_UP', '--progress', 'always']);
    expect(last(verify.stderr)).toMatch(/^verify P_UP {2}(\d+) chunks \/ \1 chunks 100% {2}/);
    // Off a terminal, auto shows nothing; --quiet shows nothing at all.
    const plain = await server.cli(['image', 'verify', 'P_UP']);
    expect(plain.stderr).toBe('');
    expect(plain.stdout).toMatch(/^P_UP: OK/);
    const quiet = await server.cli(['image', 'add', 'P_QUIET', '--file', file, '--quiet']);
    expect(quiet).toMatchObject({ code: 0, stdout: '', stderr: '' });
    // A job started and left to run still says which one.
    const started = await server.cli(['image', 'verify', 'P_UP', '--quiet', '--no-wait']);
    expect(started.stdout).toMatch(/^verify job \d+ started$/m);
    const both = await server.cli(['image', 'verify', 'P_UP', '--quiet', '--progress', 'always']);
    expect(both.code).toBe(2);
  });

  it('deploys under a missing parent by creating it, and says PATH_NOT_FOUND where it cannot', async () => {
    const dest = join(work, 'new', 'parents', 'disk.img');
    const r = await server.cli(['image', 'deploy', 'DISK_1', '--path', dest]);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(dest).size).toBe(2_000_000);
    const bad = await server.cli(['image', 'deploy', 'DISK_1', '--path', join(file, 'under-a-file')]);
    expect(bad.code).toBe(66);
    expect(bad.stderr).toContain('[PATH_NOT_FOUND]');
    expect(bad.stderr).not.toContain('ingot-partial');
  });
});

/** Runs the CLI with its stdout closed before it writes, as `| head -1` does once satisfied. */
function cliIntoClosedPipe(args: readonly string[], env: Record<string, string>): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, INGOT_SERVER: undefined, INGOT_TOKEN: undefined, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.destroy();
  return outcome(child);
}

describe('the command line parser and the terminal', () => {
  const env = { INGOT_HOME: tempDir('ingot-nohome-') };

  it("reports commander's refusals in the form and with the exit code of every other error", async () => {
    const cases: [string[], string, string][] = [
      [['image', 'add', 'X', '--bogus'], "unknown option '--bogus'", '`ingot image add --help`'],
      [['image', 'add'], "missing required argument 'name'", '`ingot image add --help`'],
      [
        ['image', 'add', 'X', '--type'],
        "option '--type <type>' argument missing",
        '`ingot image add --help`',
      ],
      [['imag'], "unknown command 'imag'", 'Did you mean image? (see `ingot --help`)'],
    ];
    for (const [args, message, hint] of cases) {
      const r = await runCli(args, env);
      expect(r.stderr).toBe(
        `ingot: error [INVALID_ARGUMENT]: ${message}\n  hint: ${hint.startsWith('Did') ? hint : `see ${hint}`}\n`,
      );
      expect(r.code).toBe(2);
    }
  });

  it('shows the help of a command at any depth with `ingot help`', async () => {
    const r = await runCli(['help', 'image', 'add'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: ingot image add \[options\] <name>/);
    expect(r.stdout).toContain('Examples:');
    const top = await runCli(['help'], env);
    expect(top.stdout).toMatch(/^Usage: ingot \[options\] \[command\]/);
    const bad = await runCli(['help', 'image', 'nope'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('[INVALID_ARGUMENT]: unknown command "image nope"');
    expect(bad.stderr).toContain('`ingot image --help`');
  });

  it('ends quietly when the reader of its output goes away', async () => {
    const r = await cliIntoClosedPipe(['sync', '--help'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const server = await startIngot({ name: 'PIPE' });
    try {
      const list = await cliIntoClosedPipe(['image', 'list'], { INGOT_HOME: server.home });
      expect(list.stderr).toBe('');
      expect(list.code).toBe(0);
    } finally {
      await server.stop();
    }
  });
});

describe('a refusal from a peer says which peer and why', () => {
  let a: IngotServer;
  let b: IngotServer;
  const work = tempDir('ingot-refusal-');

  beforeAll(async () => {
    [a, b] = await Promise.all([startIngot({ name: 'ORIGIN_A' }), startIngot({ name: 'ASKER_B' })]);
    await pair({ server: a, name: 'ORIGIN_A' }, { server: b, name: 'ASKER_B' });
    writeFileSync(join(work, 'v.img'), pseudoRandom('v', 100_000));
    for (const flags of [
      ['V1', '--state', 'TESTABLE'],
      ['V2', '--private'],
    ]) {
      const [name, ...rest] = flags as [string, ...string[]];
      const r = await a.cli(['image', 'add', name, '--file', join(work, 'v.img'), ...rest]);
      expect(r.code, r.stderr).toBe(0);
    }
  });
  afterAll(() => Promise.all([a?.stop(), b?.stop()]));

  it('shows the progress of a pull and of bundles: bytes already stored apart from those sent', async () => {
    const r = await a.cli(['image', 'add', 'V4', '--file', join(work, 'v.img')]);
    expect(r.code, r.stderr).toBe(0);
    const pull = await b.cli(['image', 'pull', 'V4', '--server', 'ORIGIN_A', '--progress', 'always']);
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stderr.trimEnd().split('\n').at(-1)).toMatch(
      /^pull V4 {2}97\.7 KiB \/ 97\.7 KiB 100% {2}0 B already stored, 97\.7 KiB sent {2}.* {2}elapsed \d+s {2}ETA 0s$/,
    );
    const out = join(work, 'usb');
    mkdirSync(out);
    const made = await a.cli(['bundle', 'create', '--image', 'V4', '--out', out, '--progress', 'always']);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr).toMatch(/^bundle {2}97\.7 KiB \/ 97\.7 KiB 100% {2}/m);
    const imported = await b.cli([
      'bundle',
      'import',
      join(out, 'V4.ingot'),
      '--upload',
      '--progress',
      'always',
    ]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stderr).toMatch(
      /^import V4\.ingot {2}97\.7 KiB {2}97\.7 KiB already stored, 0 B sent {2}/m,
    );
  });

  it('names the peer, the asker and the reason', async () => {
    const cases: [string, string][] = [
      ['V1', 'ORIGIN_A does not offer V1 to ASKER_B: TESTABLE'],
      ['V2', 'ORIGIN_A does not offer V2 to ASKER_B: private'],
      ['V3', 'ORIGIN_A has no image named V3'],
    ];
    for (const [image, why] of cases) {
      const r = await b.cli(['image', 'pull', image, '--server', 'ORIGIN_A']);
      expect(r.stderr).toContain(why);
      expect(r.code).toBe(3);
    }
  });
});
