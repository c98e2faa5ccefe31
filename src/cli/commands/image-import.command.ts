import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import type { ImageRecord } from '../../catalog/types.js';
import { IngotError } from '../../core/errors.js';
import { checkName } from '../../core/names.js';
import type { ApiClient } from '../../transfer/http-client.js';
import { examples, withClient } from '../command-kit.js';
import { followJob, type JobView } from '../job-wait.js';
import { formatBytes, printJson } from '../output.js';
import { type ProgressFlags, type ProgressMode, progressMode, progressOptions } from '../progress.js';

/**
 * `--url` and `--cacert` after `image import` are the download's, not the options of the
 * same names that pick the server to talk to (those go before `image` here); the argument
 * list is rewritten so that the program's global options never see them.
 */
export const SOURCE_URL = '--source-url';
const SOURCE_CACERT = '--source-cacert';

/** The commands whose `--url` names what the server reads (`image import`, `update add`). */
const READS_URL: readonly (readonly [string, string])[] = [
  ['image', 'import'],
  ['update', 'add'],
];

export function importArgv(argv: readonly string[]): string[] {
  const at = argv.findIndex((a, i) => READS_URL.some(([g, c]) => a === g && argv[i + 1] === c));
  if (at < 0) return [...argv];
  const rename = (a: string) =>
    a.replace(/^--url(?==|$)/, SOURCE_URL).replace(/^--cacert(?==|$)/, SOURCE_CACERT);
  return [...argv.slice(0, at + 2), ...argv.slice(at + 2).map(rename)];
}

interface ImportOptions {
  sourceUrl?: string;
  sourceCacert?: string;
  sha256?: string;
  sha256Url?: string;
  /** commander's --no-checksum: false when given. */
  checksum?: boolean;
  proxy?: string;
  unpack?: string;
  type?: string;
  series?: string;
  from?: string;
  state?: string;
  private?: boolean;
  progress?: ProgressMode;
}

export interface ImportResult {
  image: ImageRecord;
  sha256: string;
  checked: boolean;
  proxy: string | null;
  resumedAt: number;
  seconds: number;
  bytesPerSecond: number;
  unpacked: { zipMember?: string; iso?: string; entries?: number } | null;
  warnings: string[];
}

export function imageImportCommand(image: Command): void {
  const cmd = image
    .command('import <name>')
    .description(
      'Import a file image (an ISO, a disk image, a zip) from an http, https or ftp URL, or with --unpack the ' +
        'tree of an ISO (inside a zip or not). The server downloads ' +
        'it as a job, chunking and storing as it reads, through the proxy given or the one its environment ' +
        'names (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, as curl reads them); a killed server or a dropped connection ' +
        'resumes where the stored bytes end. The image is listed only once the whole file matched its SHA-256',
    )
    .addOption(new Option('--url <url>', 'http://, https:// or ftp:// URL of the file (required)'))
    .addOption(new Option(`${SOURCE_URL} <url>`).hideHelp())
    .option('--sha256 <hex>', 'the SHA-256 the file must have')
    .option('--sha256-url <url>', "a sha256sum list (SHA256SUMS) with a line for the URL's file name")
    .option('--no-checksum', 'import without checking a SHA-256 (a warning says so)')
    .option('--proxy <url>', "http://host:port of a proxy (default: the server's HTTPS_PROXY / HTTP_PROXY)")
    .addOption(
      new Option(
        '--cacert <file>',
        'PEM CA certificates the https source must check against (sent to the server)',
      ),
    )
    .addOption(new Option(`${SOURCE_CACERT} <file>`).hideHelp())
    .option(
      '--unpack <steps>',
      'zip,iso: a tree image of the ISO a zip holds; zip: a file image of that ISO; iso: a tree image of an ISO',
    )
    .option('--type <type>', 'image type (default DISKIMAGE; SOFTWARE for a tree)')
    .option('--series <series>', 'append the image to this series')
    .option('--from <image>', 'the image this one descends from (lineage)')
    .option('--state <state>', 'PUBLISHED (default), RESTRICTED or TESTABLE')
    .option('--private', 'keep it private to this server: never offered to peers')
    .option('--json', 'print the job result as JSON');
  progressOptions(cmd).action(
    async (name: string, opts: Omit<ImportOptions, 'progress'> & ProgressFlags, self: Command) => {
      await withClient(self, async (client, g) => {
        const progress = progressMode({ ...opts, json: g.json });
        const done = await importImage(client, name, { ...opts, progress });
        if (g.json) printJson(done);
        else if (!opts.quiet) {
          const i = done.image;
          process.stdout.write(
            `imported ${i.name} (${i.kind}, ${formatBytes(i.size)}, sha256 ${done.checked ? 'checked' : 'NOT checked'} ${done.sha256}` +
              `${done.resumedAt > 0 ? `, resumed at ${formatBytes(done.resumedAt)}` : ''}` +
              `${done.proxy ? `, through ${done.proxy}` : ''}${unpackedNote(done)}) digest ${i.digest}\n`,
          );
        }
      });
    },
  );
  examples(cmd, [
    'ingot image import OVCA_2_1 --url https://updates.example/ovca-2.1.img --sha256-url https://updates.example/SHA256SUMS --cacert ca.pem --type ISO',
    'ingot image import DISK_7 --url ftp://mirror.example/pub/disk7.img --sha256-url ftp://mirror.example/pub/SHA256SUMS',
    'ingot image import OVCA_2_2 --url https://updates.example/ovca-2.2.img --sha256 f81f32c7b32edb7c3fda55d108bb85bbb4077d3d72784f9e5121ee0a18ff0bec --proxy http://proxy.example:3128 --cacert ca.pem',
    'ingot image import OVCA_2_3 --url https://updates.example/ovca-2.3.zip --sha256-url https://updates.example/SHA256SUMS --cacert ca.pem --unpack zip,iso --type OSIMAGE',
  ]);
}

export async function importImage(
  client: ApiClient,
  name: string,
  opts: ImportOptions,
): Promise<ImportResult> {
  checkName('image', name);
  if (!opts.sourceUrl) {
    throw new IngotError('INVALID_ARGUMENT', 'give the file to import with --url URL', {
      hint: 'an http://, https:// or ftp:// URL, e.g. `ingot image import OL9 --url https://host/ol9.iso --sha256 HEX`',
    });
  }
  const noChecksum = opts.checksum === false;
  if (!opts.sha256 && !opts.sha256Url && !noChecksum) {
    throw new IngotError('INVALID_ARGUMENT', 'give --sha256 HEX or --sha256-url URL (or --no-checksum)', {
      hint: 'the SHA-256 is on the download page, or in the SHA256SUMS file beside the image',
    });
  }
  if (noChecksum)
    process.stderr.write(`warning: ${name} will not be checked against a checksum (--no-checksum)\n`);
  const cacert = opts.sourceCacert ? await readCacert(opts.sourceCacert) : undefined;
  const job = await client.json<JobView>('POST', '/api/v1/images/import', {
    name,
    url: opts.sourceUrl,
    ...(opts.sha256 ? { sha256: opts.sha256 } : {}),
    ...(opts.sha256Url ? { sha256Url: opts.sha256Url } : {}),
    ...(noChecksum ? { noChecksum: true } : {}),
    ...(opts.proxy ? { proxy: opts.proxy } : {}),
    ...(opts.unpack !== undefined ? { unpack: opts.unpack.split(',') } : {}),
    ...(cacert ? { cacert } : {}),
    ...(opts.type ? { type: opts.type } : {}),
    ...(opts.series ? { series: opts.series } : {}),
    ...(opts.from ? { from: opts.from } : {}),
    ...(opts.state ? { state: opts.state } : {}),
    ...(opts.private ? { private: true } : {}),
  });
  const done = await followJob(client, job.id, `import ${name}`, opts.progress ?? 'auto');
  const result = done.result as ImportResult;
  for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  return result;
}

async function readCacert(path: string): Promise<string> {
  try {
    return await readFile(resolve(path), 'utf8');
  } catch (cause) {
    throw new IngotError('PATH_NOT_FOUND', `cannot read --cacert ${path}`, { cause, details: { path } });
  }
}

function unpackedNote(done: ImportResult): string {
  const u = done.unpacked;
  if (!u) return '';
  const parts = [
    u.zipMember ? `${u.zipMember} from the zip` : '',
    u.iso ? `${u.entries} entries (${u.iso})` : '',
  ];
  return `, unpacked ${parts.filter(Boolean).join(', ')}`;
}
