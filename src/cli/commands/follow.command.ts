import type { Command } from 'commander';
import type { FollowingRecord } from '../../federation/follow.repository.js';
import type { SyncResult } from '../../federation/sync.service.js';
import { examples, withClient } from '../command-kit.js';
import { type JobView, waitForJob } from '../job-wait.js';
import { formatBytes, printJson, printTable } from '../output.js';
import { rateOption } from './peer.command.js';

/** A site's side of templates: follow an upstream's template, sync on a schedule or by hand. */
export function followCommands(program: Command): void {
  const follow = program
    .command('follow')
    .description('Follow a template of an upstream server (registered as a peer) on a schedule')
    .requiredOption('--upstream <server>', 'the upstream’s cluster name')
    .requiredOption('--template <name>', 'the template to follow')
    .option('--every <interval>', 'how often to sync, e.g. 15m', '15m')
    .option('--window <HH:MM-HH:MM>', 'start syncs only in this daily window (local time), e.g. 22:00-06:00')
    .option('--max-rate <rate>', 'cap on bytes/s for these syncs, e.g. 20M')
    .option('--json', 'print JSON')
    .action(
      async (
        opts: { upstream: string; template: string; every: string; window?: string; maxRate?: string },
        self: Command,
      ) => {
        await withClient(self, async (client, g) => {
          const f = await client.json<FollowingRecord>('POST', '/api/v1/followings', {
            upstream: opts.upstream,
            template: opts.template,
            every: opts.every,
            ...(opts.window ? { window: opts.window } : {}),
            ...(opts.maxRate ? { maxRate: rateOption(opts.maxRate) } : {}),
          });
          if (g.json) return printJson(f);
          process.stdout.write(
            `following ${f.template} of ${f.upstream} every ${opts.every}${f.window ? ` in ${f.window}` : ''}; next sync ${f.nextRunAt}\n`,
          );
        });
      },
    );
  examples(follow, [
    'ingot follow --upstream HQ --template STORE_PCS --every 15m',
    'ingot follow --upstream HQ --template STORE_PCS --every 1h --window 22:00-06:00 --max-rate 20M',
  ]);

  program
    .command('unfollow')
    .description('Stop following a template; nothing held is removed')
    .requiredOption('--upstream <server>', 'the upstream')
    .requiredOption('--template <name>', 'the template')
    .action(async (opts: { upstream: string; template: string }, self: Command) => {
      await withClient(self, async (client) => {
        await client.json(
          'DELETE',
          `/api/v1/followings/${encodeURIComponent(opts.upstream)}/${encodeURIComponent(opts.template)}`,
        );
        process.stdout.write(`no longer following ${opts.template} of ${opts.upstream}\n`);
      });
    });

  program
    .command('following')
    .description('What this server follows: schedule, last sync, version held, and why a sync failed')
    .option('--json', 'print JSON')
    .action(async (_o: unknown, self: Command) => {
      await withClient(self, async (client, g) => {
        const { followings } = await client.json<{ followings: FollowingRecord[] }>(
          'GET',
          '/api/v1/followings',
        );
        if (g.json) return printJson(followings);
        printTable(
          ['UPSTREAM', 'TEMPLATE', 'EVERY', 'WINDOW', 'VERSION', 'STATUS', 'LAST SUCCESS', 'NEXT', 'ERROR'],
          followings.map((f) => [
            f.upstream,
            f.template,
            `${f.everySeconds}s`,
            f.window ?? '-',
            f.lastVersion === null ? '-' : String(f.lastVersion),
            f.lastStatus ?? 'never synced',
            f.lastSuccessAt ?? '-',
            f.nextRunAt,
            f.lastError ?? '-',
          ]),
        );
      });
    });

  const sync = program
    .command('sync')
    .description('Sync followed templates now, by hand; waits and reports what moved')
    .option('--upstream <server>', 'only templates of this upstream')
    .option('--now', 'start even outside the window')
    .option('--dry-run', 'say what would move and how many bytes; move nothing')
    .option('--no-wait', 'start the syncs and print their job ids')
    .option('--json', 'print JSON')
    .action(
      async (opts: { upstream?: string; now?: boolean; dryRun?: boolean; wait: boolean }, self: Command) => {
        await withClient(self, async (client, g) => {
          const body = {
            ...(opts.upstream ? { upstream: opts.upstream } : {}),
            now: opts.now === true,
            dryRun: opts.dryRun === true,
          };
          const r = await client.json<
            | { dryRun: true; plans: SyncResult[] }
            | {
                dryRun: false;
                started: { upstream: string; template: string; job: number | null; waitingFor?: string }[];
              }
          >('POST', '/api/v1/sync', body);
          if (r.dryRun) {
            if (g.json) return printJson(r.plans);
            for (const p of r.plans) printResult(p);
            return;
          }
          const results: unknown[] = [];
          for (const s of r.started) {
            if (s.job === null) {
              if (!g.json)
                process.stdout.write(
                  `${s.template} of ${s.upstream}: outside its window; syncs at ${s.waitingFor} (--now to start now)\n`,
                );
              results.push(s);
              continue;
            }
            if (!opts.wait) {
              results.push(s);
              if (!g.json) process.stdout.write(`${s.template} of ${s.upstream}: sync job ${s.job} queued\n`);
              continue;
            }
            const job: JobView = await waitForJob(client, s.job);
            results.push(job.result);
            if (!g.json) printResult(job.result as SyncResult);
          }
          if (g.json) printJson(results);
        });
      },
    );
  examples(sync, ['ingot sync', 'ingot sync --upstream HQ --now', 'ingot sync --dry-run']);
}

function printResult(r: SyncResult): void {
  process.stdout.write(
    `${r.template} v${r.version} from ${r.upstream}${r.dryRun ? ' (dry run: nothing moved)' : ''}\n`,
  );
  printTable(
    ['IMAGE', 'RESULT', 'MISSING', 'ON THE WIRE'],
    r.images.map((i) => [
      i.name,
      i.outcome === 'present' ? 'skipped: already present, verified' : r.dryRun ? 'would fetch' : i.outcome,
      formatBytes(i.bytesMissing),
      formatBytes(i.wireBytes),
    ]),
  );
}
