import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { IngotError } from '../../core/errors.js';
import { parseReleaseSignature, SIGNATURE_FILE_BYTES } from '../../core/release-signature.js';
import { examples, withClient } from '../command-kit.js';
import { formatBytes, printFields, printJson, printTable } from '../output.js';
import { SOURCE_URL } from './image-import.command.js';
import { readSmallFile, updateKeysCommand } from './update-keys.command.js';

/** A release as the REST API answers it (src/jobs/release.service.ts). */
interface ReleaseView {
  version: string;
  sha256: string;
  bytes: number;
  chunks: number;
  source: string;
  addedAt: string;
  signer: { keyId: string; name: string } | null;
}

/** A roll as the REST API answers it (src/jobs/roll.service.ts). */
interface RollView {
  id: number | null;
  version: string;
  leader: string;
  state: string;
  drainSeconds: number;
  error: string | null;
  createdAt: string;
  endedAt: string | null;
  steps: {
    seq: number;
    node: string;
    fromVersion: string;
    state: string;
    error: string | null;
    startedAt: string | null;
    endedAt: string | null;
  }[];
}

const SHA256_EXAMPLE = '"$(sha256sum ingot-0.2.0.tgz | cut -d" " -f1)"';
/**
 * How a publisher signs a release (openssl 3.0 signs Ed25519 from a file only, not a pipe);
 * shown in `--help` and run by the examples test.
 */
export const SIGN_RELEASE =
  `printf 'ingot-release-v1 %s' ${SHA256_EXAMPLE} > ingot-0.2.0.tgz.msg && ` +
  'openssl pkeyutl -sign -inkey publisher.key -rawin -in ingot-0.2.0.tgz.msg -out ingot-0.2.0.tgz.sig';

/** `ingot update add|list|show|activate|status`: releases of Ingot and the rolling self-update. */
export function updateCommand(program: Command): void {
  const group = program
    .command('update')
    .description('Releases of Ingot kept by this server, and the rolling update of its nodes onto one');
  addCommand(group);
  updateKeysCommand(group);
  const list = group
    .command('list')
    .description('The releases kept for a roll')
    .option('--json', 'print JSON')
    .action(async (_o: unknown, self: Command) => {
      await withClient(self, async (client, g) => {
        const all = await client.json<ReleaseView[]>('GET', '/api/v1/releases');
        if (g.json) return printJson(all);
        printTable(
          ['VERSION', 'SIZE', 'SHA-256', 'SIGNED BY', 'SOURCE', 'ADDED'],
          all.map((r) => [
            r.version,
            formatBytes(r.bytes),
            r.sha256,
            r.signer?.name ?? '-',
            r.source,
            r.addedAt,
          ]),
        );
      });
    });
  examples(list, ['ingot update list', 'ingot update list --json']);
  const show = group
    .command('show <version>')
    .description('One kept release')
    .option('--json', 'print JSON')
    .action(async (version: string, _o: unknown, self: Command) => {
      await withClient(self, async (client, g) => {
        const r = await client.json<ReleaseView>('GET', `/api/v1/releases/${encodeURIComponent(version)}`);
        if (g.json) return printJson(r);
        printReleaseFields(r);
      });
    });
  examples(show, ['ingot update show 0.2.0', 'ingot update show 0.2.0 --json']);
  activateCommand(group);
  const status = group
    .command('status')
    .description('The latest roll and each of its steps, as recorded')
    .option('--json', 'print JSON')
    .action(async (_o: unknown, self: Command) => {
      await withClient(self, async (client, g) => {
        const { roll } = await client.json<{ roll: RollView | null }>('GET', '/api/v1/update/status');
        if (g.json) return printJson({ roll });
        if (!roll) return void process.stdout.write('no roll was ever activated\n');
        printRoll(roll);
      });
    });
  examples(status, ['ingot update status', 'ingot update status --json']);
}

interface AddOptions {
  file?: string;
  sourceUrl?: string;
  sha256: string;
  signature?: string;
  signatureUrl?: string;
}

function addCommand(group: Command): void {
  const cmd = group
    .command('add')
    .description(
      'Keep a release of Ingot (the tarball `npm pack` makes) for a roll: sent from a file, or read by the server ' +
        "from a URL. It must match the SHA-256 you give (its publisher's) and be an Ingot package; while the " +
        'server trusts publisher keys (`ingot update keys`) it must also carry a signature by one of them over ' +
        '"ingot-release-v1 <sha256>" (the publisher signs as the first example shows), or nothing is kept. ' +
        'With no key trusted it is kept on your admin token and the SHA-256 alone, and says it is not signed',
    )
    .option('--file <tgz>', 'the release tarball, ingot-X.Y.Z.tgz')
    .addOption(new Option('--url <url>', 'http://, https:// or ftp:// URL the server reads the tarball from'))
    .addOption(new Option(`${SOURCE_URL} <url>`).hideHelp())
    .requiredOption('--sha256 <hex>', 'the SHA-256 the tarball must have')
    .option('--signature <file>', "the publisher's signature file, X.tgz.sig (64 bytes, or their base64)")
    .option('--signature-url <url>', 'with --url: a URL the server reads the signature file from')
    .option('--json', 'print JSON')
    .action(async (opts: AddOptions, self: Command) => {
      if (Boolean(opts.file) === Boolean(opts.sourceUrl)) {
        throw new IngotError('INVALID_ARGUMENT', 'give one of --file TGZ or --url URL', {
          hint: 'ingot update add --file ingot-X.Y.Z.tgz --sha256 HEX',
        });
      }
      if (opts.signatureUrl !== undefined && (opts.file || opts.signature !== undefined)) {
        throw new IngotError('INVALID_ARGUMENT', '--signature-url goes with --url, and not with --signature');
      }
      const sha256 = opts.sha256.toLowerCase();
      const signature = opts.signature === undefined ? undefined : await readSignature(opts.signature);
      await withClient(self, async (client, g) => {
        const r = opts.file
          ? await uploadRelease(client, resolve(opts.file), sha256, signature)
          : await client.json<ReleaseView>('POST', '/api/v1/releases/import', {
              url: opts.sourceUrl,
              sha256,
              ...(signature !== undefined ? { signature } : {}),
              ...(opts.signatureUrl !== undefined ? { signatureUrl: opts.signatureUrl } : {}),
            });
        if (g.json) return printJson(r);
        printReleaseFields(r);
      });
    });
  examples(cmd, [
    SIGN_RELEASE,
    `ingot update add --file ingot-0.2.0.tgz --sha256 ${SHA256_EXAMPLE}`,
    `ingot update add --file ingot-0.2.0.tgz --sha256 ${SHA256_EXAMPLE} --signature ingot-0.2.0.tgz.sig`,
    `ingot update add --url ftp://mirror.example/pub/ingot-0.2.0.tgz --sha256 ${SHA256_EXAMPLE} --json`,
    `ingot update add --url ftp://mirror.example/pub/ingot-0.2.0.tgz --sha256 ${SHA256_EXAMPLE} --signature-url ftp://mirror.example/pub/ingot-0.2.0.tgz.sig --json`,
  ]);
}

/** The signature file as base64, checked here so a wrong file is refused before the tarball is sent. */
async function readSignature(file: string): Promise<string> {
  return parseReleaseSignature(await readSmallFile(file, SIGNATURE_FILE_BYTES)).toString('base64');
}

async function uploadRelease(
  client: Parameters<Parameters<typeof withClient>[1]>[0],
  file: string,
  sha256: string,
  signature: string | undefined,
): Promise<ReleaseView> {
  await stat(file).catch(() => {
    throw new IngotError('PATH_NOT_FOUND', `no file ${file}`);
  });
  const query = new URLSearchParams({ sha256, ...(signature !== undefined ? { signature } : {}) });
  return client.upload<ReleaseView>(`/api/v1/releases?${query}`, createReadStream(file), 'application/gzip');
}

function activateCommand(group: Command): void {
  const cmd = group
    .command('activate <version>')
    .description(
      'Roll every serving node onto a kept release, one at a time, the leader last: each is drained, left ' +
        '--drain-seconds for the load balancer to stop sending, installed beside the running release and ' +
        'restarted on it; the next starts once it serves on the new version. A node that does not come up ' +
        'is restarted on its old release and the roll stops. Follow it with `ingot update status`',
    )
    .option('--dry-run', 'show the plan (the nodes in order) and change nothing')
    .option('--drain-seconds <n>', 'how long a drained node is left before it restarts (default 5)')
    .option('--json', 'print JSON')
    .action(async (version: string, opts: { dryRun?: boolean; drainSeconds?: string }, self: Command) => {
      const drainSeconds = opts.drainSeconds === undefined ? undefined : Number(opts.drainSeconds);
      if (drainSeconds !== undefined && !(drainSeconds >= 0 && drainSeconds <= 3600)) {
        throw new IngotError('INVALID_ARGUMENT', '--drain-seconds is a number of seconds from 0 to 3600');
      }
      await withClient(self, async (client, g) => {
        const roll = await client.json<RollView>('POST', '/api/v1/update/activate', {
          version,
          ...(opts.dryRun ? { dryRun: true } : {}),
          ...(drainSeconds !== undefined ? { drainSeconds } : {}),
        });
        if (g.json) return printJson(roll);
        printRoll(roll);
      });
    });
  examples(cmd, [
    'ingot update activate 0.2.0 --dry-run',
    'ingot update activate 0.2.0 --drain-seconds 10 --dry-run --json',
  ]);
}

const NOT_SIGNED = 'not signed: kept on its SHA-256 alone (this server trusts no publisher key)';

function printReleaseFields(r: ReleaseView): void {
  printFields([
    ['version', r.version],
    ['sha256', r.sha256],
    ['size', formatBytes(r.bytes)],
    ['chunks', String(r.chunks)],
    ['signed by', r.signer ? `${r.signer.name} (${r.signer.keyId})` : NOT_SIGNED],
    ['source', r.source],
    ['added', r.addedAt],
  ]);
}

function printRoll(roll: RollView): void {
  printFields([
    ['roll', roll.id === null ? 'dry run: nothing was changed' : String(roll.id)],
    ['version', roll.version],
    ['state', roll.state],
    ...(roll.error ? [['error', roll.error] as const] : []),
    ['started', roll.createdAt],
    ['ended', roll.endedAt ?? '-'],
  ]);
  printTable(
    ['STEP', 'NODE', 'FROM', 'STATE', 'STARTED', 'ENDED', 'ERROR'],
    roll.steps.map((s) => [
      String(s.seq + 1),
      s.node,
      s.fromVersion,
      s.state,
      s.startedAt ?? '-',
      s.endedAt ?? '-',
      s.error ?? '-',
    ]),
  );
}
