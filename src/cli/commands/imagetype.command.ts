import type { Command } from 'commander';
import { examples, withClient } from '../command-kit.js';
import { printJson, printTable } from '../output.js';

interface ImageTypeView {
  name: string;
  baseType: string;
  description: string;
  builtin: boolean;
}

export function imagetypeCommand(program: Command): void {
  const group = program
    .command('imagetype')
    .description('Image types: user-defined classes of images on a base type');

  const add = group
    .command('add <name>')
    .description('Add an image type')
    .requiredOption('--basetype <base>', 'SOFTWARE or OSIMAGE (trees); DISKIMAGE, ISO or ARCHIVE (files)')
    .option('--description <text>', 'what images of this type hold')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { basetype: string; description?: string }, self: Command) => {
      await withClient(self, async (client, g) => {
        const t = await client.json<ImageTypeView>('POST', '/api/v1/imagetypes', {
          name,
          baseType: opts.basetype,
          ...(opts.description ? { description: opts.description } : {}),
        });
        if (g.json) printJson(t);
        else process.stdout.write(`added image type ${t.name} (base ${t.baseType})\n`);
      });
    });
  examples(add, ['ingot imagetype add DBHOME --basetype SOFTWARE --description "Oracle Database homes"']);

  const list = group
    .command('list')
    .description('List image types')
    .option('--json', 'print JSON')
    .action(async (_o: unknown, self: Command) => {
      await withClient(self, async (client, g) => {
        const { imageTypes } = await client.json<{ imageTypes: ImageTypeView[] }>(
          'GET',
          '/api/v1/imagetypes',
        );
        if (g.json) return printJson(imageTypes);
        printTable(
          ['NAME', 'BASE', 'BUILTIN', 'DESCRIPTION'],
          imageTypes.map((t) => [t.name, t.baseType, t.builtin ? 'yes' : 'no', t.description]),
        );
      });
    });
  examples(list, ['ingot imagetype list --json']);

  group
    .command('delete <name>')
    .description('Delete an image type no image uses')
    .action(async (name: string, _o: unknown, self: Command) => {
      await withClient(self, async (client) => {
        await client.json('DELETE', `/api/v1/imagetypes/${encodeURIComponent(name)}`);
        process.stdout.write(`deleted image type ${name}\n`);
      });
    });
}
