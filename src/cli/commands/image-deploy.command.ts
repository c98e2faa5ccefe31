import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { IngotError } from '../../core/errors.js';
import type { Digest } from '../../core/manifest.js';
import { payloadSize } from '../../core/manifest.js';
import { decodeRoot, rootFacts } from '../../core/manifest-v2.js';
import { keyId, verifyDigestSignature } from '../../core/signatures.js';
import { type MaterialiseResult, materialise } from '../../store/materialise.js';
import { fetchWholeManifest, verifiedFetcher } from '../../transfer/downloader.js';
import type { ApiClient } from '../../transfer/http-client.js';
import { examples, withClient } from '../command-kit.js';
import { httpChunkRemote } from '../http-remote.js';
import { count, formatBytes, printJson } from '../output.js';
import {
  createProgress,
  type ProgressFlags,
  type ProgressMode,
  progressMode,
  progressOptions,
} from '../progress.js';

export function imageDeployCommand(image: Command): void {
  const cmd = image
    .command('deploy <name>')
    .description(
      'Make a working copy of an image at a path: byte- and metadata-exact, verified chunk by chunk',
    )
    .requiredOption(
      '--path <dest>',
      'where to put it: a new or empty directory (tree) or a new file (file image); missing parent directories are created',
    )
    .option('--json', 'print a JSON summary');
  progressOptions(cmd).action(async (name: string, opts: { path: string } & ProgressFlags, self: Command) => {
    await withClient(self, async (client, g) => {
      const mode = progressMode({ ...opts, json: g.json });
      const result = await deployImage(client, name, resolve(opts.path), mode);
      if (g.json) printJson(result);
      else if (!opts.quiet)
        process.stdout.write(
          `deployed ${name} to ${result.path} (${count(result.entries, 'entry', 'entries')}, ${formatBytes(result.bytes)})\n`,
        );
    });
  });
  examples(cmd, [
    'ingot image deploy DBHOME_19_21 --path /u01/app/oracle/product/19.21',
    'ingot image deploy OL9_ROOT --path /images/ol9.img',
  ]);
}

export async function deployImage(
  client: ApiClient,
  name: string,
  dest: string,
  mode: ProgressMode = 'auto',
) {
  const manifest = await fetchVerifiedManifest(client, name);
  const progress = createProgress(`deploy ${name}`, payloadSize(manifest.payload), { mode });
  let done: MaterialiseResult;
  let shown = 0;
  try {
    done = await materialise(manifest, dest, verifiedFetcher(httpChunkRemote(client)), {
      onProgress: (total: number) => {
        progress.increment(total - shown);
        shown = total;
      },
    });
  } finally {
    progress.stop();
  }
  await client.json('POST', `/api/v1/images/${encodeURIComponent(name)}/working-copies`, {
    host: hostname(),
    path: dest,
  });
  for (const w of done.warnings) process.stderr.write(`warning: ${w}\n`);
  return { image: name, path: dest, entries: done.entries, files: done.files, bytes: done.bytes };
}

/** The manifest must hash to the digest the catalog lists and carry its origin's signature. */
async function fetchVerifiedManifest(client: ApiClient, name: string) {
  const { body, headers } = await client.bytes(`/api/v1/images/${encodeURIComponent(name)}/manifest`);
  const digest = String(headers['x-ingot-digest'] ?? '') as Digest;
  const found = createHash('sha256').update(body).digest('hex');
  if (found !== digest) {
    throw new IngotError('DIGEST_MISMATCH', `the manifest of ${name} does not match its digest`, {
      details: { expected: digest, found },
    });
  }
  const server = await client.json<{ name: string; signingKey: string }>('GET', '/api/v1/server');
  const decoded = decodeRoot(body);
  // The server's own image: its origin has the server's key (names may repeat); a server
  // that does not say the origin's key (before 0.2) is asked by name.
  const originKey = headers['x-ingot-origin-key'];
  const own =
    originKey === undefined
      ? rootFacts(decoded).origin === server.name
      : String(originKey) === keyId(server.signingKey);
  if (own) {
    const signature = String(headers['x-ingot-signature'] ?? '');
    if (!verifyDigestSignature(server.signingKey, digest, signature)) {
      throw new IngotError('CORRUPT', `the signature on ${name}'s manifest does not check`, {
        hint: 'the image may have been tampered with; run `ingot image verify` on the server',
      });
    }
  }
  return fetchWholeManifest(decoded, httpChunkRemote(client));
}
