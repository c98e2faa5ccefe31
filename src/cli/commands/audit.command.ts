import type { Command } from 'commander';
import type { AuditRecord } from '../../access/index.js';
import { IngotError } from '../../core/errors.js';
import { examples, withClient } from '../command-kit.js';
import { printJson, printTable } from '../output.js';

export function auditCommand(program: Command): void {
  const cmd = program
    .command('audit')
    .description(
      'The audit record, newest first: who (token), what (method, route, target), when, from where, ' +
        'and the outcome of every change and every request refused for permission (admin only)',
    )
    .option('--limit <n>', 'how many records, 1 to 10000', '50')
    .option('--json', 'print JSON')
    .action(async (opts: { limit: string }, self: Command) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
        throw new IngotError('INVALID_ARGUMENT', `invalid --limit ${JSON.stringify(opts.limit)}`, {
          hint: 'a whole number from 1 to 10000',
        });
      }
      await withClient(self, async (client, g) => {
        const { entries } = await client.json<{ entries: AuditRecord[] }>(
          'GET',
          `/api/v1/audit?limit=${limit}`,
        );
        if (g.json) return printJson(entries);
        printTable(
          ['WHEN', 'TOKEN', 'FROM', 'METHOD', 'ROUTE', 'TARGET', 'OUTCOME'],
          entries.map((e) => [
            e.at,
            e.token ?? '-',
            e.remote,
            e.method,
            e.route,
            e.target ?? '-',
            e.code ? `${e.status} ${e.code}` : String(e.status),
          ]),
        );
      });
    });
  examples(cmd, ['ingot audit', 'ingot audit --limit 200 --json']);
}
