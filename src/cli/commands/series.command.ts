import type { Command } from 'commander';
import { examples, withClient } from '../command-kit.js';
import { printFields, printJson, printTable } from '../output.js';

interface SeriesView {
  name: string;
  description: string;
  createdAt: string;
  imageCount?: number;
  images?: string[];
}

export function seriesCommand(program: Command): void {
  const group = program.command('series').description('Series: ordered lists of images, newest last');

  const add = group
    .command('add <name>')
    .description('Add a series')
    .option('--description <text>', 'what the series tracks')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { description?: string }, self: Command) => {
      await withClient(self, async (client, g) => {
        const s = await client.json<SeriesView>('POST', '/api/v1/series', {
          name,
          ...(opts.description ? { description: opts.description } : {}),
        });
        if (g.json) printJson(s);
        else process.stdout.write(`added series ${s.name}\n`);
      });
    });
  examples(add, ['ingot series add DB19 --description "Database 19c release updates"']);

  group
    .command('list')
    .description('List series')
    .option('--json', 'print JSON')
    .action(async (_o: unknown, self: Command) => {
      await withClient(self, async (client, g) => {
        const { series } = await client.json<{ series: SeriesView[] }>('GET', '/api/v1/series');
        if (g.json) return printJson(series);
        printTable(
          ['NAME', 'IMAGES', 'DESCRIPTION'],
          series.map((s) => [s.name, String(s.imageCount ?? '-'), s.description]),
        );
      });
    });

  const show = group
    .command('show <name>')
    .description('Show a series with its images, oldest first')
    .option('--json', 'print JSON')
    .action(async (name: string, _o: unknown, self: Command) => {
      await withClient(self, async (client, g) => {
        const s = await client.json<SeriesView>('GET', `/api/v1/series/${encodeURIComponent(name)}`);
        if (g.json) return printJson(s);
        printFields([
          ['name', s.name],
          ['description', s.description || '-'],
          ['images', (s.images ?? []).join(', ') || '-'],
          ['newest', s.images?.at(-1) ?? '-'],
        ]);
      });
    });
  examples(show, ['ingot series show DB19']);

  const insert = group
    .command('insert <series>')
    .description('Append an image to a series (it becomes the newest)')
    .requiredOption('--image <image>', 'the image to append')
    .action(async (series: string, opts: { image: string }, self: Command) => {
      await withClient(self, async (client) => {
        await client.json('POST', `/api/v1/series/${encodeURIComponent(series)}/images`, {
          image: opts.image,
        });
        process.stdout.write(`${opts.image} appended to ${series}\n`);
      });
    });
  examples(insert, ['ingot series insert DB19 --image DBHOME_19_23']);

  group
    .command('remove <series>')
    .description('Take an image out of a series (the image stays)')
    .requiredOption('--image <image>', 'the image to take out')
    .action(async (series: string, opts: { image: string }, self: Command) => {
      await withClient(self, async (client) => {
        await client.json(
          'DELETE',
          `/api/v1/series/${encodeURIComponent(series)}/images/${encodeURIComponent(opts.image)}`,
        );
        process.stdout.write(`${opts.image} removed from ${series}\n`);
      });
    });

  group
    .command('delete <series>')
    .description('Delete a series (its images stay)')
    .action(async (series: string, _o: unknown, self: Command) => {
      await withClient(self, async (client) => {
        await client.json('DELETE', `/api/v1/series/${encodeURIComponent(series)}`);
        process.stdout.write(`deleted series ${series}\n`);
      });
    });
}
