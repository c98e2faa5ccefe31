import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { ImageRecord } from '../../catalog/types.js';
import { IngotError } from '../../core/errors.js';
import type { ManifestDraft, Payload } from '../../core/manifest.js';
import { draftToJson } from '../../core/manifest-codec.js';
import { checkName } from '../../core/names.js';
import { chunksOf } from '../../store/source.js';
import { scanTree } from '../../store/tree-scan.js';
import type { ApiClient } from '../../transfer/http-client.js';
import { type UploadStats, uploadChunks } from '../../transfer/uploader.js';
import { examples, withClient } from '../command-kit.js';
import { httpChunkRemote } from '../http-remote.js';
import { formatBytes, printJson } from '../output.js';
import { createProgress } from '../progress.js';

interface AddOptions {
  path?: string;
  file?: string;
  type?: string;
  series?: string;
  from?: string;
  state?: string;
  private?: boolean;
}

export function imageAddCommand(image: Command): void {
  const cmd = image
    .command('add <name>')
    .description(
      'Add a gold image from a directory (--path) or a single file (--file): chunked here, only new chunks sent',
    )
    .option('--path <dir>', 'a directory tree: a software home or an OS root file system')
    .option('--file <file>', 'one file: an ISO, a raw disk image, a zip')
    .option('--type <type>', 'image type (default SOFTWARE for --path, DISKIMAGE for --file)')
    .option('--series <series>', 'append the image to this series')
    .option(
      '--from <image>',
      'the image this one descends from (lineage); found by itself for a working copy',
    )
    .option('--state <state>', 'PUBLISHED (default), RESTRICTED or TESTABLE')
    .option('--private', 'keep it private to this server: never offered to peers')
    .option('--json', 'print the image record as JSON')
    .action(async (name: string, opts: AddOptions, self: Command) => {
      await withClient(self, async (client, g) => {
        const { image, upload } = await addImage(client, name, opts);
        if (g.json) printJson({ ...image, upload });
        else {
          process.stdout.write(
            `added ${image.name} (${image.kind}, ${formatBytes(image.size)}, ${image.chunkCount} chunks; ` +
              `sent ${formatBytes(upload.sentRawBytes)}, ${formatBytes(upload.knownBytes)} already stored) digest ${image.digest}\n`,
          );
        }
      });
    });
  examples(cmd, [
    'ingot image add DBHOME_19_21 --path /u01/app/oracle/19.21 --type DBHOME --series DB19',
    'ingot image add OL9_ROOT --file ol9-rootfs.img --type OSIMAGE',
    'ingot image add DBHOME_19_22 --path ./home-19.22 --from DBHOME_19_21 --series DB19',
  ]);
}

export async function addImage(
  client: ApiClient,
  name: string,
  opts: AddOptions,
): Promise<{ image: ImageRecord; upload: UploadStats }> {
  checkName('image', name);
  if (Boolean(opts.path) === Boolean(opts.file)) {
    throw new IngotError('INVALID_ARGUMENT', 'give exactly one of --path DIR or --file FILE');
  }
  const source = resolve((opts.path ?? opts.file) as string);
  await requireSource(source, opts.path ? 'directory' : 'file');
  await refuseExisting(client, name);
  const { payload, chunks } = await readSource(source, Boolean(opts.path));
  const progress = createProgress(`add ${name}`, payloadBytes(payload));
  let refsAndStats: Awaited<ReturnType<typeof uploadChunks>>;
  try {
    refsAndStats = await uploadChunks(httpChunkRemote(client), chunks, {
      onBytes: (n) => progress.increment(n),
    });
  } finally {
    progress.stop();
  }
  const draft: ManifestDraft = { payload, chunks: refsAndStats.refs };
  const image = await client.json<ImageRecord>('POST', '/api/v1/images', {
    name,
    ...(opts.type ? { type: opts.type } : {}),
    ...(opts.series ? { series: opts.series } : {}),
    ...(opts.from ? { from: opts.from } : {}),
    ...(opts.state ? { state: opts.state } : {}),
    ...(opts.private ? { private: true } : {}),
    source: { host: hostname(), path: source },
    draft: draftToJson(draft),
  });
  return { image, upload: refsAndStats.stats };
}

async function readSource(source: string, isTree: boolean) {
  if (isTree) {
    const { entries, warnings } = await scanTree(source);
    for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
    const payload: Payload = { kind: 'tree', entries };
    return { payload, chunks: chunksOf({ kind: 'tree', root: source, entries }) };
  }
  const st = await stat(source);
  const payload: Payload = { kind: 'file', size: st.size, mode: st.mode & 0o7777 };
  return { payload, chunks: chunksOf({ kind: 'file', path: source }) };
}

function payloadBytes(payload: Payload): number {
  if (payload.kind === 'file') return payload.size;
  return payload.entries.reduce((n, e) => n + (e.type === 'file' ? e.size : 0), 0);
}

async function requireSource(path: string, kind: 'directory' | 'file'): Promise<void> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
  } catch {
    throw new IngotError('PATH_NOT_FOUND', `${path} does not exist or cannot be read`, {
      hint: `give the ${kind} to add as an image`,
    });
  }
  const ok = kind === 'directory' ? st.isDirectory() : st.isFile();
  if (!ok) {
    throw new IngotError('INVALID_ARGUMENT', `${path} is not a ${kind}`, {
      hint: kind === 'directory' ? 'use --file for a single file' : 'use --path for a directory',
    });
  }
}

async function refuseExisting(client: ApiClient, name: string): Promise<void> {
  try {
    await client.json('GET', `/api/v1/images/${encodeURIComponent(name)}`);
  } catch (err) {
    if (err instanceof IngotError && err.code === 'NOT_FOUND') return;
    throw err;
  }
  throw new IngotError('ALREADY_EXISTS', `an image named ${name} already exists`, {
    hint: 'image names are unique and images immutable: choose a new name (e.g. a version suffix)',
  });
}
