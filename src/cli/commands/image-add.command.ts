import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { ImageRecord } from '../../catalog/types.js';
import { IngotError } from '../../core/errors.js';
import { type ManifestDraft, payloadSize } from '../../core/manifest.js';
import { draftToJson } from '../../core/manifest-codec.js';
import { checkName } from '../../core/names.js';
import { openSource, requireSource, type SourceKind } from '../../store/source.js';
import type { ApiClient } from '../../transfer/http-client.js';
import { type UploadStats, uploadChunks } from '../../transfer/uploader.js';
import { examples, unlessForbidden, withClient } from '../command-kit.js';
import { isOwnServer } from '../context.js';
import { httpChunkRemote } from '../http-remote.js';
import { followJob, type JobView } from '../job-wait.js';
import { count, formatBytes, printJson } from '../output.js';
import {
  createProgress,
  type ProgressFlags,
  type ProgressMode,
  progressMode,
  progressOptions,
} from '../progress.js';
import { uploadPatches } from '../upload-patches.js';

interface AddOptions {
  path?: string;
  file?: string;
  type?: string;
  series?: string;
  from?: string;
  state?: string;
  private?: boolean;
  upload?: boolean;
  progress?: ProgressMode;
}

export function imageAddCommand(image: Command): void {
  const cmd = image
    .command('add <name>')
    .description(
      'Add a gold image from a directory (--path) or a single file (--file). To the server of this INGOT_HOME ' +
        'on this host, the server reads the path itself (with its own permissions) as a job; to any other, ' +
        'the CLI chunks it and sends only the chunks the server lacks',
    )
    .option('--path <dir>', 'a directory tree: a software home or an OS root file system')
    .option('--file <file>', 'one file: an ISO, a raw disk image, a zip')
    .option('--type <type>', 'image type (default SOFTWARE for --path, DISKIMAGE for --file)')
    .option('--series <series>', 'append the image to this series')
    .option(
      '--from <image>',
      'the image this one descends from (lineage), whose type and series it takes unless given; ' +
        'found by itself for a working copy',
    )
    .option('--state <state>', 'PUBLISHED (default), RESTRICTED or TESTABLE')
    .option('--private', 'keep it private to this server: never offered to peers')
    .option('--upload', "chunk here and send what the server lacks, even to this host's own server")
    .option('--json', 'print the image record as JSON');
  progressOptions(cmd).action(
    async (name: string, opts: Omit<AddOptions, 'progress'> & ProgressFlags, self: Command) => {
      await withClient(self, async (client, g) => {
        const progress = progressMode({ ...opts, json: g.json });
        const { image, upload } = await addImage(client, name, { ...opts, progress });
        if (g.json) printJson({ ...image, upload });
        else if (!opts.quiet) {
          process.stdout.write(
            `added ${image.name} (${image.kind}, ${formatBytes(image.size)}, ${count(image.chunkCount, 'chunk')}; ` +
              `sent ${formatBytes(upload.sentRawBytes)}${patched(upload)}, ${formatBytes(upload.knownBytes)} already stored) digest ${image.digest}
`,
          );
        }
      });
    },
  );
  examples(cmd, [
    'ingot image add DBHOME_19_21 --path /u01/app/oracle/19.21 --type DBHOME --series DB19',
    'ingot image add OL9_ROOT --file ol9-rootfs.img --type DISKIMAGE',
    'ingot image add DBHOME_19_22 --path ./home-19.22 --from DBHOME_19_21',
  ]);
}

export interface AddResult {
  image: ImageRecord;
  upload: UploadStats;
}

/**
 * The server of this INGOT_HOME on this host is handed the path and reads it itself, once;
 * any other server (or `--upload`) gets the have/want upload of chunks made here.
 */
export async function addImage(client: ApiClient, name: string, opts: AddOptions): Promise<AddResult> {
  checkName('image', name);
  if (Boolean(opts.path) === Boolean(opts.file)) {
    throw new IngotError('INVALID_ARGUMENT', 'give exactly one of --path DIR or --file FILE');
  }
  const path = resolve((opts.path ?? opts.file) as string);
  const kind: SourceKind = opts.path ? 'tree' : 'file';
  if (!opts.upload && (await isOwnServer(client.baseUrl))) {
    // Undefined for a token below admin, which may not make the server read a path: upload it then.
    const added = await ingestOnServer(client, name, path, kind, opts);
    if (added) return added;
  }
  return uploadImage(client, name, path, kind, opts);
}

async function ingestOnServer(
  client: ApiClient,
  name: string,
  path: string,
  kind: SourceKind,
  opts: AddOptions,
): Promise<AddResult | undefined> {
  const job = await unlessForbidden(
    client.json<JobView>('POST', '/api/v1/images/ingest', { name, path, kind, ...commitOptions(opts) }),
  );
  if (!job) return undefined;
  const done = await followJob(client, job.id, `add ${name}`, opts.progress ?? 'auto');
  const result = done.result as AddResult & { warnings: string[] };
  for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  return { image: result.image, upload: result.upload };
}

async function uploadImage(
  client: ApiClient,
  name: string,
  source: string,
  kind: SourceKind,
  opts: AddOptions,
): Promise<AddResult> {
  await requireSource(source, kind);
  const origin = { host: hostname(), path: source };
  // Everything the commit would refuse but the chunks, before a byte is read or sent.
  await client.json('POST', '/api/v1/images/preflight', {
    name,
    kind,
    ...commitOptions(opts),
    source: origin,
  });
  const { payload, chunks, warnings } = await openSource(source, kind);
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  const progress = createProgress(`add ${name}`, payloadSize(payload), { mode: opts.progress ?? 'auto' });
  let refsAndStats: Awaited<ReturnType<typeof uploadChunks>>;
  try {
    const patches = opts.from ? await uploadPatches(client, opts.from) : undefined;
    refsAndStats = await uploadChunks(httpChunkRemote(client), chunks, {
      onBytes: (n, how) => progress.increment(n, how),
      ...(patches ? { patches } : {}),
    });
  } finally {
    progress.stop();
  }
  const draft: ManifestDraft = { payload, chunks: refsAndStats.refs };
  const image = await client.json<ImageRecord>('POST', '/api/v1/images', {
    name,
    ...commitOptions(opts),
    source: origin,
    draft: draftToJson(draft),
  });
  return { image, upload: refsAndStats.stats };
}

/** ", 3 chunks as patches in 12 KiB" where some went so (an upload --from an image the server holds). */
function patched(upload: UploadStats): string {
  const n = upload.patchedChunks ?? 0;
  return n > 0
    ? ` (${n} ${n === 1 ? 'chunk' : 'chunks'} as patches in ${formatBytes(upload.patchBytes)})`
    : '';
}

function commitOptions(opts: AddOptions) {
  return {
    ...(opts.type ? { type: opts.type } : {}),
    ...(opts.series ? { series: opts.series } : {}),
    ...(opts.from ? { from: opts.from } : {}),
    ...(opts.state ? { state: opts.state } : {}),
    ...(opts.private ? { private: true } : {}),
  };
}
