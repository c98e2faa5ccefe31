import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { IngotError } from '../../core/errors.js';
import { PUBLISHER_KEY_CHARS } from '../../core/release-signature.js';
import { examples, withClient } from '../command-kit.js';
import { printFields, printJson, printTable } from '../output.js';

/** A trusted publisher key as the REST API answers it (src/jobs/publisher-key.service.ts). */
interface PublisherKeyView {
  keyId: string;
  name: string;
  publicKeyPem: string;
  addedAt: string;
}

/** How a publisher makes a key pair; shown in `--help` and run by the examples test. */
export const MAKE_PUBLISHER_KEY =
  'openssl genpkey -algorithm ed25519 -out publisher.key && openssl pkey -in publisher.key -pubout -out publisher.pub';

/** `ingot update keys add|list|remove`: the publisher keys a release must be signed by. */
export function updateKeysCommand(update: Command): void {
  const group = update
    .command('keys')
    .description(
      'The publisher keys (Ed25519) a release must be signed by, the same on every node. With none, a ' +
        'release is kept on its SHA-256 alone; with one or more, `update add` needs a signature by one of them',
    );
  const add = group
    .command('add')
    .description("Trust a publisher's Ed25519 public key (PEM), made as the first example shows")
    .requiredOption('--file <pub>', 'the public key in PEM, publisher.pub')
    .option('--name <name>', 'a name for it (default: key- and the first 16 hex digits of its key id)')
    .option('--json', 'print JSON')
    .action(async (opts: { file: string; name?: string }, self: Command) => {
      const publicKeyPem = await readKeyFile(opts.file);
      await withClient(self, async (client, g) => {
        const k = await client.json<PublisherKeyView>('POST', '/api/v1/update/keys', {
          publicKeyPem,
          ...(opts.name !== undefined ? { name: opts.name } : {}),
        });
        if (g.json) return printJson(k);
        printKey(k);
      });
    });
  examples(add, [MAKE_PUBLISHER_KEY, 'ingot update keys add --file publisher.pub --name acme']);
  const list = group
    .command('list')
    .description('The trusted publisher keys')
    .option('--json', 'print JSON')
    .action(async (_o: unknown, self: Command) => {
      await withClient(self, async (client, g) => {
        const all = await client.json<PublisherKeyView[]>('GET', '/api/v1/update/keys');
        if (g.json) return printJson(all);
        printTable(
          ['NAME', 'KEY ID', 'ADDED'],
          all.map((k) => [k.name, k.keyId, k.addedAt]),
        );
      });
    });
  examples(list, ['ingot update keys list', 'ingot update keys list --json']);
  const remove = group
    .command('remove <key>')
    .description('Stop trusting a publisher key, by name or key id (the releases it signed stay kept)')
    .option('--json', 'print JSON')
    .action(async (key: string, _o: unknown, self: Command) => {
      await withClient(self, async (client, g) => {
        const k = await client.json<PublisherKeyView>(
          'DELETE',
          `/api/v1/update/keys/${encodeURIComponent(key)}`,
        );
        if (g.json) return printJson(k);
        process.stdout.write(`no longer trusted: publisher key ${k.name} (${k.keyId})\n`);
      });
    });
  examples(remove, ['ingot update keys remove acme']);
}

async function readKeyFile(file: string): Promise<string> {
  return (await readSmallFile(file, PUBLISHER_KEY_CHARS)).toString('utf8');
}

/** A key or signature file, refused past `max` bytes before it is read. */
export async function readSmallFile(file: string, max: number): Promise<Buffer> {
  const size = await stat(file).then(
    (s) => s.size,
    () => {
      throw new IngotError('PATH_NOT_FOUND', `no file ${file}`);
    },
  );
  if (size > max) {
    throw new IngotError(
      'LIMIT_EXCEEDED',
      `${file} is ${size} bytes; a key or signature file is at most ${max}`,
      {
        details: { size, limit: max },
      },
    );
  }
  return readFile(file);
}

function printKey(k: PublisherKeyView): void {
  printFields([
    ['name', k.name],
    ['key id', k.keyId],
    ['added', k.addedAt],
  ]);
}
