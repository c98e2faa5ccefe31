import type { Command } from 'commander';
import type { WorkingCopyRecord } from '../../catalog/types.js';
import { IngotError } from '../../core/errors.js';
import { examples, withClient } from '../command-kit.js';
import { printJson, printTable } from '../output.js';

/** `ingot workingcopy list|delete`: the deploys the server recorded, by host and path. */
export function workingcopyCommand(program: Command): void {
  const group = program
    .command('workingcopy')
    .description('Working copies: where images were deployed (host and path), as the server recorded them');

  const list = group
    .command('list')
    .description('List working copies, optionally of one image or on one host')
    .option('--image <image>', 'only copies of this image')
    .option('--host <host>', 'only copies on this host')
    .option('--json', 'print JSON')
    .action(async (opts: { image?: string; host?: string }, self: Command) => {
      await withClient(self, async (client, g) => {
        const q = new URLSearchParams();
        if (opts.image !== undefined) q.set('image', opts.image);
        if (opts.host !== undefined) q.set('host', opts.host);
        const { workingCopies } = await client.json<{ workingCopies: WorkingCopyRecord[] }>(
          'GET',
          `/api/v1/working-copies?${q}`,
        );
        if (g.json) return printJson(workingCopies);
        printWorkingCopies(workingCopies);
      });
    });
  examples(list, ['ingot workingcopy list', 'ingot workingcopy list --image DBHOME_19_21 --json']);

  const del = group
    .command('delete [id]')
    .description(
      'Forget a working copy, by its id or by image, host and path (its files stay where they are)',
    )
    .option('--image <image>', 'the image deployed there')
    .option('--host <host>', 'the host it is on')
    .option('--path <path>', 'its absolute path on that host')
    .option('--json', 'print the forgotten record as JSON')
    .action(
      async (
        id: string | undefined,
        opts: { image?: string; host?: string; path?: string },
        self: Command,
      ) => {
        const route = deleteRoute(id, opts);
        await withClient(self, async (client, g) => {
          const { workingCopy: wc } = await client.json<{ workingCopy: WorkingCopyRecord }>('DELETE', route);
          if (g.json) printJson(wc);
          else
            process.stdout.write(
              `forgot working copy ${wc.id} of ${wc.imageName} at ${wc.host}:${wc.path}\n`,
            );
        });
      },
    );
  examples(del, [
    'ingot workingcopy delete 2',
    'ingot workingcopy delete --image DBHOME_19_21 --host "$(hostname)" --path /u01/app/oracle/product/19.21',
  ]);
}

function printWorkingCopies(copies: readonly WorkingCopyRecord[]): void {
  printTable(
    ['ID', 'IMAGE', 'HOST', 'PATH', 'CREATED'],
    copies.map((w) => [String(w.id), w.imageName, w.host, w.path, w.createdAt]),
  );
}

function deleteRoute(id: string | undefined, opts: { image?: string; host?: string; path?: string }): string {
  const named = [opts.image, opts.host, opts.path].filter((v) => v !== undefined).length;
  if (id !== undefined && named === 0) {
    if (!/^[1-9][0-9]{0,15}$/.test(id)) {
      throw new IngotError(
        'INVALID_ARGUMENT',
        `a working copy id is a positive integer, not ${JSON.stringify(id)}`,
      );
    }
    return `/api/v1/working-copies/${id}`;
  }
  if (id === undefined && opts.image !== undefined && opts.host !== undefined && opts.path !== undefined) {
    const q = new URLSearchParams({ host: opts.host, path: opts.path });
    return `/api/v1/images/${encodeURIComponent(opts.image)}/working-copies?${q}`;
  }
  throw new IngotError('INVALID_ARGUMENT', 'give a working copy ID, or all of --image, --host and --path', {
    hint: 'ingot workingcopy list shows the ids',
  });
}
