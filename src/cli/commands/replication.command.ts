import type { Command } from 'commander';
import { IngotError } from '../../core/errors.js';
import type { ServedTransferView } from '../../federation/peer-transfers.js';
import type { TransferView } from '../../federation/peering.service.js';
import type { ApiClient } from '../../transfer/http-client.js';
import { examples, withClient } from '../command-kit.js';
import { waitForJob } from '../job-wait.js';
import { count, formatBytes, printFields, printJson, printTable } from '../output.js';
import {
  createProgress,
  type ProgressFlags,
  type ProgressMode,
  progressMode,
  progressOptions,
} from '../progress.js';
import { verbGroup } from './peer.command.js';

interface FilterOpts {
  server: string;
  all?: boolean;
  image?: string;
  series?: string;
  imagetype?: string;
  state?: string;
}

interface PlannedImage {
  meta: { name: string; size: number; state: string };
  status: 'present' | 'needed';
  bytesTotal: number;
  bytesMissing: number;
  chunksMissing: number;
  chunksDelta: number;
  wireBytes: number | null;
}

interface PlanView {
  images: PlannedImage[];
  bytesMissing: number;
  chunksMissing: number;
  wireBytes: number | null;
}

function withFilterOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--server <name>', 'the peer that owns the images')
    .option('--all', 'every image made on the peer')
    .option('--image <name>', 'the descendants of this image made on the peer')
    .option('--series <name>', 'images in this series on the peer, including ones added later')
    .option('--imagetype <type>', 'images of this type')
    .option('--state <state>', 'images in this state (default PUBLISHED)');
}

function filterBody(o: FilterOpts): Record<string, unknown> {
  return {
    ...(o.all ? { all: true } : {}),
    ...(o.image ? { image: o.image } : {}),
    ...(o.series ? { series: o.series } : {}),
    ...(o.imagetype ? { imagetype: o.imagetype } : {}),
    ...(o.state ? { state: o.state } : {}),
  };
}

export function replicationCommands(program: Command, image: Command): void {
  instantiate(verbGroup(program, 'instantiate', 'Ask a peer to push its images here'));
  uninstantiate(verbGroup(program, 'uninstantiate', 'Stop a peer pushing its images here'));
  pull(image);
  transfers(program);
}

function instantiate(group: Command): void {
  const cmd = withFilterOptions(
    group
      .command('image')
      .description(
        'Run on the receiving server: the peer pushes every matching image it made, now and from now on',
      ),
  )
    .option('--dry-run', 'list what would move and the bytes this server lacks; move nothing')
    .option('--json', 'print JSON')
    .action(async (opts: FilterOpts & { dryRun?: boolean }, self: Command) => {
      await withClient(self, async (client, g) => {
        const r = await client.json<Record<string, unknown>>(
          'POST',
          `/api/v1/peers/${encodeURIComponent(opts.server)}/instantiate`,
          { ...filterBody(opts), dryRun: opts.dryRun === true },
        );
        if (g.json) return printJson(r);
        if (opts.dryRun) return printPlan(r as unknown as PlanView, opts.server);
        const images = (r.images as { name: string }[]) ?? [];
        process.stdout.write(
          `${r.created ? 'instantiated' : 'already instantiated'} ${r.filter} from ${opts.server}; ` +
            `${count(images.length, 'image')} queued there for push${images.length ? `: ${images.map((i) => i.name).join(', ')}` : ''}\n`,
        );
      });
    });
  examples(cmd, [
    'ingot instantiate image --server FPPS_2 --all',
    'ingot instantiate image --server FPPS_2 --series DB19 --dry-run',
    'ingot instantiate image --server FPPS_2 --image DB19_BASE',
    'ingot instantiate image --server FPPS_2 --imagetype DBHOME --state TESTABLE',
  ]);
}

function uninstantiate(group: Command): void {
  const cmd = withFilterOptions(
    group.command('image').description('Withdraw a standing request; replicas already received stay'),
  )
    .option('--json', 'print JSON')
    .action(async (opts: FilterOpts, self: Command) => {
      await withClient(self, async (client, g) => {
        const r = await client.json<{ filter: string; removed: boolean }>(
          'POST',
          `/api/v1/peers/${encodeURIComponent(opts.server)}/uninstantiate`,
          filterBody(opts),
        );
        if (g.json) return printJson(r);
        process.stdout.write(
          r.removed
            ? `uninstantiated ${r.filter} from ${opts.server}\n`
            : `no instantiation ${r.filter} stood at ${opts.server}\n`,
        );
      });
    });
  examples(cmd, ['ingot uninstantiate image --server FPPS_2 --all']);
}

/**
 * Waits for a transfer job, its progress line from the transfer's record: the bytes found
 * already stored here apart from those that travelled.
 */
async function followTransfer(client: ApiClient, id: number, label: string, mode: ProgressMode) {
  const bar = createProgress(label, 0, { mode });
  const look = () => client.json<TransferView>('GET', `/api/v1/transfers/${id}`);
  try {
    await waitForJob(client, id, async () => {
      if (!bar.shown) return;
      const t = await look();
      bar.moved(t.bytesPresent, Math.max(0, t.bytesDone - t.bytesPresent));
      bar.update(t.bytesDone, t.bytesTotal);
    });
  } finally {
    bar.stop();
  }
  return look();
}

function pull(image: Command): void {
  const cmd = image
    .command('pull <name>')
    .description('Fetch one published image from a peer; only the chunks this server lacks travel')
    .requiredOption('--server <peer>', 'the peer that made the image')
    .option('--dry-run', 'show the bytes this server lacks; move nothing')
    .option('--no-wait', 'start the transfer and print its id')
    .option('--json', 'print JSON');
  progressOptions(cmd).action(
    async (
      name: string,
      opts: { server: string; dryRun?: boolean; wait: boolean } & ProgressFlags,
      self: Command,
    ) => {
      await withClient(self, async (client, g) => {
        const r = await client.json<PlanView & { dryRun: boolean; job?: number }>(
          'POST',
          `/api/v1/peers/${encodeURIComponent(opts.server)}/pull`,
          { image: name, dryRun: opts.dryRun === true },
        );
        if (r.dryRun) return g.json ? printJson(r) : printPlan(r, opts.server);
        const id = r.job as number;
        if (!opts.wait) return g.json ? printJson(r) : void process.stdout.write(`transfer ${id} queued\n`);
        const t = await followTransfer(client, id, `pull ${name}`, progressMode({ ...opts, json: g.json }));
        if (g.json) return printJson(t);
        if (!opts.quiet) process.stdout.write(`${summary(t)}\n`);
      });
    },
  );
  examples(cmd, [
    'ingot image pull DB19_RU22 --server FPPS_2',
    'ingot image pull DB19_RU22 --server FPPS_2 --dry-run',
  ]);
}

function transfers(program: Command): void {
  const list = program
    .command('transfers')
    .description(
      'Pushes and pulls with peers, newest first: state, progress, bytes on the wire, rate. ' +
        'With --served, those peers run with this server: their pushes here (in), their pulls from here (out)',
    )
    .option('--peer <name>', 'only transfers with this peer')
    .option('--served', 'transfers peers run with this server instead of those it runs')
    .option('--direction <dir>', 'with --served: in (pushes here) or out (pulls from here)')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'print JSON')
    .action(
      async (opts: { peer?: string; limit: string; served?: boolean; direction?: string }, self: Command) => {
        await withClient(self, async (client, g) => {
          const q = new URLSearchParams({ limit: opts.limit, ...(opts.peer ? { peer: opts.peer } : {}) });
          if (opts.served) return servedTransfers(client, q, opts.direction, g.json === true);
          if (opts.direction !== undefined) {
            throw new IngotError('INVALID_ARGUMENT', '--direction goes with --served', {
              hint: 'ingot transfers --served --direction in',
            });
          }
          const { transfers: rows } = await client.json<{ transfers: TransferView[] }>(
            'GET',
            `/api/v1/transfers?${q}`,
          );
          if (g.json) return printJson(rows);
          printTable(
            ['ID', 'DIR', 'PEER', 'IMAGE', 'STATE', 'PROGRESS', 'WIRE', 'RATE'],
            rows.map((t) => [
              String(t.jobId),
              t.direction,
              t.peer,
              t.image,
              t.outcome === 'present' ? 'present' : t.state,
              percent(t),
              formatBytes(t.wireBytes),
              rateOf(t.rate),
            ]),
          );
        });
      },
    );
  examples(list, [
    'ingot transfers',
    'ingot transfers --peer FPPS_2 --json',
    'ingot transfers --served --direction in',
  ]);

  const show = program
    .command('transfer')
    .description('One transfer')
    .command('show <id>')
    .description('A transfer in detail, with the reason when it failed')
    .option('--json', 'print JSON')
    .action(async (id: string, _o: unknown, self: Command) => {
      await withClient(self, async (client, g) => {
        const t = await client.json<TransferView>('GET', `/api/v1/transfers/${encodeURIComponent(id)}`);
        if (g.json) return printJson(t);
        printFields([
          ['id', String(t.jobId)],
          ['direction', t.direction],
          ['peer', t.peer],
          ['image', t.image],
          ['state', t.state],
          ['outcome', t.outcome ?? '-'],
          ['progress', `${percent(t)} of ${formatBytes(t.bytesTotal)}`],
          ['already there', formatBytes(t.bytesPresent)],
          ['chunks sent', `${t.chunksSent} of ${t.chunksTotal}`],
          ['on the wire', formatBytes(t.wireBytes)],
          ['rate', rateOf(t.rate)],
          ['attempts', `${t.attempts} of ${t.maxAttempts}`],
          ['error', t.error ?? '-'],
          ['created', t.createdAt],
          ['updated', t.updatedAt],
        ]);
      });
    });
  examples(show, ['ingot transfer show 11']);
}

async function servedTransfers(
  client: ApiClient,
  q: URLSearchParams,
  direction: string | undefined,
  json: boolean,
): Promise<void> {
  if (direction !== undefined) {
    if (direction !== 'in' && direction !== 'out') {
      throw new IngotError('INVALID_ARGUMENT', `--direction is in or out, not ${direction}`, {
        hint: 'in: pushes peers make here; out: pulls peers make from here',
      });
    }
    q.set('direction', direction);
  }
  const { transfers: rows } = await client.json<{ transfers: ServedTransferView[] }>(
    'GET',
    `/api/v1/transfers/served?${q}`,
  );
  if (json) return printJson(rows);
  printTable(
    ['DIR', 'PEER', 'IMAGE', 'STATE', 'PROGRESS', 'MOVED', 'WIRE', 'RATE', 'STARTED'],
    rows.map((t) => [
      t.direction,
      t.peer,
      t.image,
      t.outcome === 'present' ? 'present' : t.state,
      percent(t),
      formatBytes(t.bytesDone - t.bytesPresent),
      formatBytes(t.wireBytes),
      rateOf(t.rate),
      t.startedAt,
    ]),
  );
}

function rateOf(rate: number | null): string {
  return rate === null ? '-' : `${formatBytes(rate)}/s`;
}

function percent(t: { bytesTotal: number; bytesDone: number; state: string }): string {
  return t.bytesTotal > 0
    ? `${Math.floor((100 * t.bytesDone) / t.bytesTotal)}%`
    : t.state === 'succeeded' || t.state === 'done'
      ? '100%'
      : '-';
}

function summary(t: TransferView): string {
  if (t.outcome === 'present') return `${t.image}: skipped, already present here (verified)`;
  return (
    `${t.image}: received from ${t.peer}; ${formatBytes(t.bytesTotal - t.bytesPresent)} of ` +
    `${formatBytes(t.bytesTotal)} were missing, ${formatBytes(t.wireBytes)} on the wire`
  );
}

function wireText(bytes: number | null, deltas: number): string {
  if (bytes === null) return 'unknown (older peer)';
  return deltas > 0 ? `${formatBytes(bytes)} (${deltas} as deltas)` : formatBytes(bytes);
}

function printPlan(p: PlanView, peer: string): void {
  printTable(
    ['IMAGE', 'STATE', 'SIZE', 'STATUS', 'MISSING HERE', 'ON THE WIRE'],
    p.images.map((i) => [
      i.meta.name,
      i.meta.state,
      formatBytes(i.meta.size),
      i.status === 'present' ? 'present' : 'to move',
      i.status === 'present' ? '0 B' : `${formatBytes(i.bytesMissing)} (${count(i.chunksMissing, 'chunk')})`,
      wireText(i.wireBytes, i.chunksDelta),
    ]),
  );
  const wire = p.wireBytes === null ? '' : `, ${p.wireBytes} bytes (${formatBytes(p.wireBytes)}) on the wire`;
  process.stdout.write(
    `dry run: ${count(p.images.filter((i) => i.status === 'needed').length, 'image')} would move from ${peer}; ` +
      `${p.bytesMissing} bytes (${formatBytes(p.bytesMissing)}) in ${count(p.chunksMissing, 'chunk')} are missing here${wire}; nothing moved\n`,
  );
}

export function imagePushCommand(image: Command): void {
  const cmd = image
    .command('push <name>')
    .description(
      'Upload one of this server’s images to a peer that takes uploads from it (e.g. a site to its HQ)',
    )
    .requiredOption('--server <peer>', 'the receiving server')
    .option('--no-wait', 'start the transfer and print its id')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { server: string; wait: boolean }, self: Command) => {
      await withClient(self, async (client, g) => {
        const r = await client.json<{ job: number }>(
          'POST',
          `/api/v1/images/${encodeURIComponent(name)}/push`,
          {
            server: opts.server,
          },
        );
        if (!opts.wait)
          return g.json ? printJson(r) : void process.stdout.write(`transfer ${r.job} queued\n`);
        await waitForJob(client, r.job);
        const t = await client.json<TransferView>('GET', `/api/v1/transfers/${r.job}`);
        if (g.json) return printJson(t);
        process.stdout.write(
          t.outcome === 'present'
            ? `${name}: ${opts.server} already holds it\n`
            : `${name}: sent to ${opts.server} (${formatBytes(t.wireBytes)} on the wire); it arrives there TESTABLE\n`,
        );
      });
    });
  examples(cmd, ['ingot image push WIN_TC_7_P1 --server HQ']);
}
