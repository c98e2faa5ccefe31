import { readFile, writeFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { IngotError } from '../../core/errors.js';
import type { Digest } from '../../core/manifest.js';
import type { SignedDocument } from '../../core/signatures.js';
import type { BundleImportResult } from '../../federation/bundle-import.js';
import { decodeFrames } from '../../store/frame-codec.js';
import { FAT32_SPLIT_BYTES, writeBundle } from '../../transfer/bundle-format.js';
import { bundleDocument, openBundle } from '../../transfer/bundle-reader.js';
import { uploadBundleChunks } from '../../transfer/bundle-upload.js';
import { inOrder } from '../../transfer/chunk-receiver.js';
import type { ApiClient } from '../../transfer/http-client.js';
import { MAX_DIGESTS_PER_QUERY, type MovingChunk } from '../../transfer/ports.js';
import { parseRate } from '../../transfer/rate-limit.js';
import { examples, unlessForbidden, withClient } from '../command-kit.js';
import { isOwnServer } from '../context.js';
import { httpChunkRemote } from '../http-remote.js';
import { followJob, type JobView } from '../job-wait.js';
import { count, formatBytes, printJson, printTable } from '../output.js';
import {
  createProgress,
  type ProgressFlags,
  type ProgressMode,
  progressMode,
  progressOptions,
} from '../progress.js';

interface Plan {
  document: SignedDocument;
  digests: Digest[];
  /** Absent from a server older than deltas. */
  references?: (Digest[] | null)[];
  rawBytes: number;
  imageBytes: number;
}

interface Outcome {
  createdBy: string;
  images: { name: string; status: 'present' | 'needed' }[];
}

/** Offline bundles: the CLI writes and reads the files, the server signs, checks and lists. */
export function bundleCommands(program: Command): void {
  const group = program
    .command('bundle')
    .description('Bundles: images and their chunks in files, for the offline way (USB sticks)');
  bundleCreate(group);
  bundleImport(group);
  const inv = program
    .command('inventory')
    .description('Write what this server holds, so a bundle made elsewhere carries only what it lacks')
    .requiredOption('--out <file>', 'where to write it ("-" for standard output)')
    .action(async (opts: { out: string }, self: Command) => {
      await withClient(self, async (client) => {
        const inventory = await client.json<{ images: unknown[] }>('GET', '/api/v1/inventory');
        const text = `${JSON.stringify(inventory, null, 2)}\n`;
        if (opts.out === '-') return void process.stdout.write(text);
        await writeFile(opts.out, text);
        process.stdout.write(`wrote ${opts.out}: ${count(inventory.images.length, 'image')}\n`);
      });
    });
  examples(inv, ['ingot inventory --out /media/usb/site-inventory.json']);
}

function bundleCreate(group: Command): void {
  const cmd = group
    .command('create')
    .description('Write a bundle of images: full, or only what a base image or a site inventory lacks')
    .requiredOption('--image <name...>', 'image(s) to carry')
    .option('--base <image>', 'leave out the chunks of this image (the receiver holds it)')
    .option('--have <inventory>', 'leave out what the site of this inventory holds')
    .requiredOption('--out <dir>', 'directory to write into')
    .option('--name <name>', 'file name without .ingot (default: the first image)')
    .option('--split [size]', 'cut into parts of at most this size (default 4G-1, for FAT32)')
    .option('--json', 'print JSON');
  progressOptions(cmd).action(
    async (
      opts: {
        image: string[];
        base?: string;
        have?: string;
        out: string;
        name?: string;
        split?: string | true;
      } & ProgressFlags,
      self: Command,
    ) => {
      if (opts.base && opts.have) throw new IngotError('INVALID_ARGUMENT', 'give --base or --have, not both');
      const have = opts.have ? await readInventory(opts.have) : undefined;
      await withClient(self, async (client, g) => {
        const plan = await client.json<Plan>('POST', '/api/v1/bundles/plan', {
          images: opts.image,
          ...(opts.base ? { base: opts.base } : {}),
          ...(have !== undefined ? { have } : {}),
        });
        const bar = createProgress('bundle', plan.rawBytes, {
          mode: progressMode({ ...opts, json: g.json }),
        });
        const result = await writeBundle({
          dir: opts.out,
          name: opts.name ?? (opts.image[0] as string),
          ...(opts.split ? { splitBytes: splitSize(opts.split) } : {}),
          header: { document: plan.document },
          chunks: fetchAll(client, plan, (n) => bar.increment(n)),
          deltas: plan.references?.some(Boolean) ?? false,
        });
        bar.stop();
        const summary = {
          ...result,
          chunks: plan.digests.length,
          rawBytes: plan.rawBytes,
          imageBytes: plan.imageBytes,
        };
        if (g.json) return printJson(summary);
        if (opts.quiet) return;
        process.stdout.write(
          `wrote ${result.files.join(', ')}: ${formatBytes(result.logicalBytes)} carrying ${count(plan.digests.length, 'chunk')} ` +
            `(${formatBytes(plan.rawBytes)} of ${formatBytes(plan.imageBytes)} of images)\n`,
        );
      });
    },
  );
  examples(cmd, [
    'ingot bundle create --image WIN_TC_7 --out /media/usb/',
    'ingot bundle create --image WIN_TC_7_P1 --base WIN_TC_7 --out /media/usb/',
    'ingot bundle create --image WIN_TC_8 --have /media/usb/site-inventory.json --out /media/usb/ --split',
  ]);
}

function bundleImport(group: Command): void {
  const cmd = group
    .command('import <file>')
    .description(
      'Import a bundle (its .ingot file, or the .001 part): read once, verified whole before anything is listed',
    )
    .option('--upload', "read the bundle here and send what the server lacks, even to this host's own server")
    .option('--json', 'print JSON');
  progressOptions(cmd).action(
    async (file: string, opts: { upload?: boolean } & ProgressFlags, self: Command) => {
      await withClient(self, async (client, g) => {
        const mode = progressMode({ ...opts, json: g.json });
        const local = !opts.upload && (await isOwnServer(client.baseUrl));
        // A token below admin may not make the server read a path: the bundle is read here then.
        const r =
          (local ? await importOnServer(client, resolve(file), mode) : undefined) ??
          (await importHere(client, file, mode));
        if (g.json) return printJson(r);
        if (opts.quiet) return;
        printTable(
          ['IMAGE', 'RESULT'],
          r.images.map((i) => [i.name, i.status === 'present' ? 'already present' : 'imported']),
        );
        process.stdout.write(
          `bundle from ${r.createdBy}: ${count(r.chunks, 'chunk')} read, ${r.stored} new (${formatBytes(r.storedBytes)} stored)\n`,
        );
      });
    },
  );
  examples(cmd, [
    'ingot bundle import /media/usb/WIN_TC_7.ingot',
    'ingot bundle import /media/usb/WIN_TC_8.ingot.001',
  ]);
}

/**
 * The server's chunks, in the order asked, in batches of the largest query; those the plan
 * gave references come as deltas against them where that saves enough.
 */
async function* fetchAll(
  client: ApiClient,
  plan: Pick<Plan, 'digests' | 'references'>,
  onBytes: (n: number) => void,
): AsyncGenerator<MovingChunk> {
  const { digests } = plan;
  for (let i = 0; i < digests.length; i += MAX_DIGESTS_PER_QUERY) {
    const batch = digests.slice(i, i + MAX_DIGESTS_PER_QUERY);
    const refs = plan.references?.slice(i, i + MAX_DIGESTS_PER_QUERY);
    const references = refs?.some(Boolean) ? refs : undefined;
    const body = references ? { digests: batch, references } : { digests: batch };
    const frames = decodeFrames(await client.download('/api/v1/chunks/fetch', body), { deltas: true });
    for await (const c of inOrder(
      frames,
      batch,
      references?.map((r) => r ?? undefined),
    )) {
      onBytes(c.rawLength);
      yield c;
    }
  }
}

/** The CLI reads the bundle and sends the server the chunks it lacks. */
async function importHere(client: ApiClient, file: string, mode: ProgressMode): Promise<BundleImportResult> {
  const bundle = await openBundle(file);
  const document = bundleDocument(bundle, file);
  // The header is checked and the chunks are staged on the server until the commit, so a
  // bundle refused anywhere on the way stores nothing there.
  const { upload } = await client.json<{ upload: string }>('POST', '/api/v1/bundles/uploads', { document });
  const bar = createProgress(`import ${basename(file)}`, 0, { mode });
  try {
    // The trailer's verdict comes once the last chunk is sent, before the commit.
    const sent = await bundle.read((chunks) =>
      uploadBundleChunks(httpChunkRemote(client, { deltas: bundle.deltas, upload }), chunks, (c, wanted) =>
        bar.increment(c.rawLength, wanted ? 'sent' : 'stored'),
      ),
    );
    bar.stop();
    const r = await client.json<Outcome>('POST', '/api/v1/bundles/commit', { document, upload });
    return { ...r, ...sent };
  } catch (err) {
    bar.stop();
    // A refused commit has dropped the upload already.
    await client.json('DELETE', `/api/v1/bundles/uploads/${encodeURIComponent(upload)}`).catch(() => {});
    throw err;
  }
}

/** The server of this INGOT_HOME reads the file itself, with its own permissions. */
async function importOnServer(
  client: ApiClient,
  path: string,
  mode: ProgressMode,
): Promise<BundleImportResult | undefined> {
  const job = await unlessForbidden(client.json<JobView>('POST', '/api/v1/bundles/import', { path }));
  if (!job) return undefined;
  return (await followJob(client, job.id, `import ${basename(path)}`, mode)).result as BundleImportResult;
}

function splitSize(value: string | true): number {
  if (value === true) return FAT32_SPLIT_BYTES;
  const n = parseRate(value);
  if (!Number.isFinite(n))
    throw new IngotError('INVALID_ARGUMENT', `invalid --split size ${JSON.stringify(value)}`, {
      hint: 'e.g. 4G, 700M',
    });
  // "4G" means "what a FAT32 stick takes", one byte under 4 GiB.
  return Math.min(n, FAT32_SPLIT_BYTES);
}

async function readInventory(file: string): Promise<unknown> {
  const hint = 'make it with `ingot inventory --out FILE` on the site';
  const text = await readFile(file, 'utf8').catch(() => {
    throw new IngotError('PATH_NOT_FOUND', `cannot read ${file}`, { hint });
  });
  try {
    return JSON.parse(text);
  } catch {
    throw new IngotError('INVALID_ARGUMENT', `${file} is not an inventory (not JSON)`, { hint });
  }
}
