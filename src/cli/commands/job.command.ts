import type { Command } from 'commander';
import { examples, withClient } from '../command-kit.js';
import type { JobView } from '../job-wait.js';
import { formatBytes, printFields, printJson, printTable } from '../output.js';

export function jobCommand(program: Command): void {
  const group = program.command('job').description('Durable server jobs: verify, gc and (later) transfers');

  const list = group
    .command('list')
    .description('Recent jobs, newest first')
    .option('--state <state>', 'queued, running, succeeded, failed or cancelled')
    .option('--kind <kind>', 'e.g. verify, gc')
    .option('--json', 'print JSON')
    .action(async (opts: { state?: string; kind?: string }, self: Command) => {
      await withClient(self, async (client, g) => {
        const q = new URLSearchParams();
        if (opts.state) q.set('state', opts.state);
        if (opts.kind) q.set('kind', opts.kind);
        const { jobs } = await client.json<{ jobs: JobView[] }>('GET', `/api/v1/jobs?${q}`);
        if (g.json) return printJson(jobs);
        printTable(
          ['ID', 'KIND', 'STATE', 'PROGRESS', 'ATTEMPTS', 'UPDATED', 'ERROR'],
          jobs.map((j) => [
            String(j.id),
            j.kind,
            j.state,
            j.progressTotal ? `${j.progressDone}/${j.progressTotal}` : String(j.progressDone),
            `${j.attempts}/${j.maxAttempts}`,
            j.updatedAt,
            (j.error ?? '').slice(0, 60),
          ]),
        );
      });
    });
  examples(list, ['ingot job list', 'ingot job list --state failed --json']);

  group
    .command('show <id>')
    .description('One job: state, progress, attempts, result or error')
    .option('--json', 'print JSON')
    .action(async (id: string, _o: unknown, self: Command) => {
      await withClient(self, async (client, g) => {
        const j = await client.json<JobView>('GET', `/api/v1/jobs/${encodeURIComponent(id)}`);
        if (g.json) return printJson(j);
        printFields([
          ['id', String(j.id)],
          ['kind', j.kind],
          ['state', j.state],
          ['progress', `${j.progressDone}/${j.progressTotal}`],
          ['rate', averageRate(j)],
          ['attempts', `${j.attempts}/${j.maxAttempts}`],
          ['created', j.createdAt],
          ['updated', j.updatedAt],
          ['result', j.result === null || j.result === undefined ? '-' : JSON.stringify(j.result)],
          ['error', j.error ?? '-'],
        ]);
      });
    });
}

/** Progress units a second from the job's creation to its last update (bytes for ingest and import). */
function averageRate(j: JobView): string {
  const seconds = (Date.parse(j.updatedAt) - Date.parse(j.createdAt)) / 1000;
  if (!(seconds > 0) || j.progressDone <= 0) return '-';
  const perSecond = j.progressDone / seconds;
  return BYTE_KINDS.has(j.kind)
    ? `${formatBytes(perSecond)}/s (average)`
    : `${perSecond.toFixed(1)}/s (average)`;
}

const BYTE_KINDS = new Set(['ingest', 'import']);
