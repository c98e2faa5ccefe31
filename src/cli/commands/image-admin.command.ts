import type { Command } from 'commander';
import type { ImageRecord } from '../../catalog/types.js';
import { parseDuration } from '../../core/schedule.js';
import { IMAGE_STATES } from '../../core/states.js';
import { examples, withClient } from '../command-kit.js';
import { followJob, type JobView, waitForJob } from '../job-wait.js';
import { count, formatBytes, printJson } from '../output.js';
import { type ProgressFlags, progressMode, progressOptions } from '../progress.js';

export function imageStateCommand(image: Command): void {
  const cmd = image
    .command('state <name> <state>')
    .description(
      `Set an image's state: ${IMAGE_STATES.join(', ')} (only PUBLISHED images go to other servers)`,
    )
    .option('--json', 'print the image as JSON')
    .action(async (name: string, state: string, _o: unknown, self: Command) => {
      await withClient(self, async (client, g) => {
        const img = await client.json<ImageRecord>(
          'PUT',
          `/api/v1/images/${encodeURIComponent(name)}/state`,
          {
            state,
          },
        );
        if (g.json) printJson(img);
        else process.stdout.write(`${img.name} is ${img.state}\n`);
      });
    });
  examples(cmd, ['ingot image state DBHOME_19_22 TESTABLE', 'ingot image state DBHOME_19_22 PUBLISHED']);
}

export function imageVerifyCommand(image: Command): void {
  const cmd = image
    .command('verify <name>')
    .description(
      "Check an image's manifest signature and that every chunk is present and its digest right (runs as a server job)",
    )
    .option('--no-wait', 'start the job and print its id')
    .option('--json', 'print the job as JSON');
  progressOptions(cmd).action(
    async (name: string, opts: { wait: boolean } & ProgressFlags, self: Command) => {
      await withClient(self, async (client, g) => {
        const job = await client.json<JobView>('POST', `/api/v1/images/${encodeURIComponent(name)}/verify`);
        const mode = progressMode({ ...opts, json: g.json });
        const final = opts.wait ? await followJob(client, job.id, `verify ${name}`, mode, 'chunks') : job;
        if (g.json) return printJson(final);
        if (!opts.wait) return void process.stdout.write(`verify job ${job.id} started\n`);
        if (opts.quiet) return;
        const r = final.result as { chunks: number; parts: number; bytes: number; signature?: string };
        const parts = r.parts > 0 ? ` and ${count(r.parts, 'manifest part')}` : '';
        const signed =
          r.signature === 'unchecked' ? ' (signature unchecked: its origin is not a registered peer)' : '';
        process.stdout.write(
          `${name}: OK, ${count(r.chunks, 'chunk')}${parts}, ${formatBytes(r.bytes)} verified${signed}\n`,
        );
      });
    },
  );
  examples(cmd, ['ingot image verify OL9_ROOT', 'ingot image verify OL9_ROOT --json']);
}

export function imageDeleteCommand(image: Command): void {
  const cmd = image
    .command('delete <name>')
    .description('Delete an image from the catalog; `ingot gc` then frees the chunks no other image uses')
    .option('--force', 'delete even when working copies of it are recorded')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { force?: boolean }, self: Command) => {
      await withClient(self, async (client, g) => {
        const q = opts.force ? '?force=true' : '';
        const res = await client.json('DELETE', `/api/v1/images/${encodeURIComponent(name)}${q}`);
        if (g.json) printJson(res);
        else process.stdout.write(`deleted ${name}\n`);
      });
    });
  examples(cmd, ['ingot image delete DBHOME_19_20 && ingot gc']);
}

export function gcCommand(program: Command): void {
  const cmd = program
    .command('gc')
    .description(
      'Free chunks no image names. Safe during ingest: chunks touched within the grace period stay',
    )
    .option(
      '--grace <duration>',
      'spare chunks touched this recently (default 15m; 0 only when no ingest runs)',
    )
    .option('--dry-run', 'report what gc would remove (chunks, bytes) and remove nothing')
    .option('--json', 'print the job as JSON')
    .action(async (opts: { grace?: string; dryRun?: boolean }, self: Command) => {
      await withClient(self, async (client, g) => {
        const body = {
          ...(opts.grace === undefined ? {} : { graceSeconds: parseDuration(opts.grace) }),
          ...(opts.dryRun ? { dryRun: true } : {}),
        };
        const job = await client.json<JobView>('POST', '/api/v1/gc', body);
        const final = await waitForJob(client, job.id);
        if (g.json) return printJson(final);
        process.stdout.write(gcReport(final.result as GcReport));
      });
    });
  examples(cmd, ['ingot gc', 'ingot gc --dry-run', 'ingot gc --grace 0 --json']);
}

interface GcReport {
  deletedChunks: number;
  freedBytes: number;
  sparedRecent: number;
  graceSeconds: number;
  dryRun: boolean;
  /** Absent from a server before 0.2's compaction of shared stores. */
  segmentsRewritten?: number;
  bytesRewritten?: number;
  bytesReclaimed?: number;
}

function compactionReport(r: GcReport): string {
  if (!r.segmentsRewritten && !r.bytesReclaimed) return '';
  return (
    `gc: rewrote ${count(r.segmentsRewritten ?? 0, 'partly dead segment')} (${formatBytes(r.bytesRewritten ?? 0)} copied); ` +
    `removed ${formatBytes(r.bytesReclaimed ?? 0)} of segments\n`
  );
}

function gcReport(r: GcReport): string {
  const chunks = count(r.deletedChunks, 'chunk');
  const head = r.dryRun
    ? `gc --dry-run: would free ${formatBytes(r.freedBytes)} in ${chunks}; nothing was removed\n`
    : `gc: freed ${formatBytes(r.freedBytes)} in ${chunks}\n${compactionReport(r)}`;
  if (r.sparedRecent === 0) return head;
  const kept = count(r.sparedRecent, 'unreferenced chunk');
  const verb = r.dryRun ? 'would be kept' : r.sparedRecent === 1 ? 'was kept' : 'were kept';
  return (
    `${head}${kept} touched within the grace period (${r.graceSeconds}s) ${verb}; ` +
    '`ingot gc --grace 0` collects them now (only while no ingest, pull or bundle import runs)\n'
  );
}
