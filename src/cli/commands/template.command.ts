import type { Command } from 'commander';
import type { TemplateView } from '../../federation/template.service.js';
import { examples, withClient } from '../command-kit.js';
import { formatBytes, printFields, printJson, printTable } from '../output.js';

/** HQ's side of templates: a named set of images published to followers in versions. */
export function templateCommand(program: Command): void {
  const group = program
    .command('template')
    .description('Templates: images an upstream publishes to the servers that follow it');
  const path = (name: string) => `/api/v1/templates/${encodeURIComponent(name)}`;
  const print = (t: TemplateView, json: boolean | undefined, what: string) => {
    if (json) printJson(t);
    else process.stdout.write(`${what}\n`);
  };

  const create = group
    .command('create <name>')
    .description('Create a template')
    .option('--description <text>', 'what it is for')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { description?: string }, self: Command) => {
      await withClient(self, async (client, g) => {
        const t = await client.json<TemplateView>('POST', '/api/v1/templates', {
          name,
          ...(opts.description ? { description: opts.description } : {}),
        });
        print(t, g.json, `created template ${t.name}`);
      });
    });
  examples(create, ['ingot template create STORE_PCS --description "thin clients in the stores"']);

  const add = group
    .command('add <name>')
    .description('Add an image to a template; followers get it when the template is next published')
    .requiredOption('--image <image>', 'the image (a replica may be named: templates relay)')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { image: string }, self: Command) => {
      await withClient(self, async (client, g) => {
        const t = await client.json<TemplateView>('POST', `${path(name)}/images`, { image: opts.image });
        print(t, g.json, `${t.name}: ${t.members.join(', ')} (publish to send it out)`);
      });
    });
  examples(add, ['ingot template add STORE_PCS --image WIN_TC_7']);

  const remove = group
    .command('remove <name>')
    .description('Take an image out of a template; followers keep what they hold')
    .requiredOption('--image <image>', 'the image')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { image: string }, self: Command) => {
      await withClient(self, async (client, g) => {
        const t = await client.json<TemplateView>(
          'DELETE',
          `${path(name)}/images/${encodeURIComponent(opts.image)}`,
        );
        print(t, g.json, `${t.name}: ${t.members.join(', ') || 'no images'}`);
      });
    });
  examples(remove, ['ingot template remove STORE_PCS --image WIN_TC_6']);

  const publish = group
    .command('publish <name>')
    .description('Publish the current images as a new signed version (each must be PUBLISHED)')
    .option('--json', 'print JSON')
    .action(async (name: string, _o: unknown, self: Command) => {
      await withClient(self, async (client, g) => {
        const t = await client.json<TemplateView>('POST', `${path(name)}/publish`);
        print(
          t,
          g.json,
          `published ${t.name} version ${t.latestVersion}: ${t.published.map((i) => i.name).join(', ') || 'no images'}`,
        );
      });
    });
  examples(publish, ['ingot template publish STORE_PCS']);

  group
    .command('list')
    .description('Templates here: own ones, and ones followed from an upstream')
    .option('--json', 'print JSON')
    .action(async (_o: unknown, self: Command) => {
      await withClient(self, async (client, g) => {
        const { templates } = await client.json<{ templates: TemplateView[] }>('GET', '/api/v1/templates');
        if (g.json) return printJson(templates);
        printTable(
          ['NAME', 'VERSION', 'IMAGES', 'FROM', 'PUBLISHED'],
          templates.map((t) => [
            t.name,
            t.latestVersion === null ? '-' : String(t.latestVersion),
            String(t.upstream ? t.published.length : t.members.length),
            t.upstream ?? '(here)',
            t.publishedAt ?? 'never',
          ]),
        );
      });
    });

  const show = group
    .command('show <name>')
    .description('A template: its images now, and those of its latest version')
    .option('--json', 'print JSON')
    .action(async (name: string, _o: unknown, self: Command) => {
      await withClient(self, async (client, g) => {
        const t = await client.json<TemplateView>('GET', path(name));
        if (g.json) return printJson(t);
        printFields([
          ['name', t.name],
          ['description', t.description || '-'],
          ['from', t.upstream ?? '(made here)'],
          ['members', t.members.join(', ') || '-'],
          [
            'latest version',
            t.latestVersion === null ? 'never published' : `${t.latestVersion} (${t.publishedAt})`,
          ],
          ['published', t.published.map((i) => `${i.name} ${formatBytes(i.size)}`).join(', ') || '-'],
        ]);
      });
    });
  examples(show, ['ingot template show STORE_PCS --json']);

  group
    .command('delete <name>')
    .description('Delete a template (its images stay)')
    .action(async (name: string, _o: unknown, self: Command) => {
      await withClient(self, async (client) => {
        await client.json('DELETE', path(name));
        process.stdout.write(`deleted template ${name}\n`);
      });
    });
}
