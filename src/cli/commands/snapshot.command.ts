import { resolve } from 'node:path';
import type { Command } from 'commander';
import { IngotError } from '../../core/errors.js';
import type { SnapshotExportResult } from '../../federation/snapshot-export.js';
import { examples, withClient } from '../command-kit.js';
import { followJob, type JobView } from '../job-wait.js';
import { count, formatBytes, printJson } from '../output.js';
import { type ProgressFlags, progressMode, progressOptions } from '../progress.js';

/**
 * `export snapshot`: the server of this host writes a snapshot of itself (a job), for
 * `ingot import snapshot` to rebuild it elsewhere. Paths are this host's, made absolute here.
 */
export function exportSnapshot(group: Command): void {
  const cmd = group
    .command('snapshot')
    .description(
      'Write a snapshot of this server to a directory (a USB stick): config, sealed keys and token, catalog, optionally images; ' +
        'with --with-ingot also Ingot itself, installed offline elsewhere by `node DIR/import.mjs --passphrase-file FILE`',
    )
    .requiredOption('--to <dir>', 'a new or empty directory on the server’s host')
    .requiredOption(
      '--passphrase-file <file>',
      'on the server’s host: its first line seals the keys and the token (8 characters or more)',
    )
    .option('--with-images', 'carry every image (as a bundle: only chunks travel)')
    .option('--images <names>', 'carry these images, comma-separated')
    .option(
      '--include <path...>',
      'files or directories of the server’s host to carry too (e.g. /etc/ingot-hooks)',
    )
    .option(
      '--with-ingot',
      'carry this Ingot too (npm tarball with its dependencies) and import.mjs, to install offline',
    )
    .option('--json', 'print JSON');
  progressOptions(cmd).action(
    async (
      opts: {
        to: string;
        passphraseFile: string;
        withImages?: boolean;
        images?: string;
        include?: string[];
        withIngot?: boolean;
      } & ProgressFlags,
      self: Command,
    ) => {
      if (opts.withImages && opts.images) {
        throw new IngotError('INVALID_ARGUMENT', 'give --with-images or --images, not both');
      }
      const images = opts.withImages
        ? true
        : opts.images
          ? opts.images
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : undefined;
      await withClient(self, async (client, g) => {
        const job = await client.json<JobView>('POST', '/api/v1/snapshots', {
          to: resolve(opts.to),
          passphraseFile: resolve(opts.passphraseFile),
          ...(images !== undefined ? { images } : {}),
          ...(opts.include ? { include: opts.include.map((p) => resolve(p)) } : {}),
          ...(opts.withIngot ? { withIngot: true } : {}),
        });
        const done = await followJob(client, job.id, 'snapshot', progressMode({ ...opts, json: g.json }));
        const r = done.result as SnapshotExportResult;
        if (g.json) return printJson(r);
        if (opts.quiet) return;
        process.stdout.write(
          `wrote ${r.to}: ${count(r.files, 'file')}, ${formatBytes(r.bytes)}, ${count(r.rows, 'catalog row')}, ${count(r.images, 'image')}\n` +
            `restore it elsewhere with: ingot import snapshot ${r.to} --passphrase-file FILE\n`,
        );
      });
    },
  );
  examples(cmd, [
    'ingot export snapshot --to /media/usb/fpps1 --passphrase-file pass.txt',
    'ingot export snapshot --to /media/usb/fpps1-full --with-images --include /etc/ingot-hooks --passphrase-file pass.txt',
    'ingot export snapshot --to /media/usb/fpps1-os --images OL9_ROOT,DBHOME_19_21 --passphrase-file pass.txt',
  ]);
}
