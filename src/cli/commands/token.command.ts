import type { Command } from 'commander';
import type { TokenView } from '../../access/index.js';
import { examples, withClient } from '../command-kit.js';
import { printJson, printTable } from '../output.js';

export function tokenCommand(program: Command): void {
  const group = program
    .command('token')
    .description('Named API tokens with a role: reader, operator or admin (admin only)');

  const create = group
    .command('create <name>')
    .description('Create a token and print its secret, this once (only a hash of it is kept)')
    .requiredOption(
      '--role <role>',
      'reader (reads), operator (also adds, moves, deploys), admin (everything)',
    )
    .option('--expires <lifetime>', 'lifetime, a number and m, h, d or w (e.g. 30d); default: never')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { role: string; expires?: string }, self: Command) => {
      await withClient(self, async (client, g) => {
        const r = await client.json<{ token: TokenView; secret: string }>('POST', '/api/v1/tokens', {
          name,
          role: opts.role,
          ...(opts.expires ? { expires: opts.expires } : {}),
        });
        if (g.json) return printJson(r);
        process.stderr.write(
          `created token ${r.token.name} (${r.token.role}, expires ${r.token.expiresAt ?? 'never'}); ` +
            'its secret, shown only now:\n',
        );
        process.stdout.write(`${r.secret}\n`);
      });
    });
  examples(create, [
    'ingot token create ci-deploy --role operator --expires 30d',
    'INGOT_TOKEN=$(ingot token create dashboard --role reader) ingot image list',
  ]);

  const list = group
    .command('list')
    .description('Every token: name, role, status, created, expires, last used (never a secret)')
    .option('--json', 'print JSON')
    .action(async (_o: unknown, self: Command) => {
      await withClient(self, async (client, g) => {
        const { tokens } = await client.json<{ tokens: TokenView[] }>('GET', '/api/v1/tokens');
        if (g.json) return printJson(tokens);
        printTable(
          ['NAME', 'ROLE', 'STATUS', 'CREATED', 'EXPIRES', 'LAST USED'],
          tokens.map((t) => [
            t.file ? `${t.name} (token file)` : t.name,
            t.role,
            t.status,
            t.createdAt ?? '-',
            t.expiresAt ?? 'never',
            t.lastUsedAt ?? '-',
          ]),
        );
      });
    });
  examples(list, ['ingot token list', 'ingot token list --json']);

  const revoke = group
    .command('revoke <name>')
    .description('Revoke a token: refused from its next request on')
    .action(async (name: string, _o: unknown, self: Command) => {
      await withClient(self, async (client) => {
        await client.json('DELETE', `/api/v1/tokens/${encodeURIComponent(name)}`);
        process.stdout.write(`revoked token ${name}\n`);
      });
    });
  examples(revoke, ['ingot token revoke ci-deploy']);
}
