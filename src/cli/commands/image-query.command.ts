import type { Command } from 'commander';
import type { ImageRecord, WorkingCopyRecord } from '../../catalog/types.js';
import { examples, withClient } from '../command-kit.js';
import { count, formatBytes, printFields, printJson, printTable } from '../output.js';

interface ImageDetail {
  image: ImageRecord;
  ancestors: string[];
  descendants: string[];
  series: string[];
  workingCopies: WorkingCopyRecord[];
}

export function imageListCommand(image: Command): void {
  const cmd = image
    .command('list')
    .description('List images (filter by type, series or state)')
    .option('--type <type>', 'only images of this image type')
    .option('--series <series>', 'only images in this series, in series order')
    .option('--state <state>', 'only images in this state')
    .option('--json', 'print JSON')
    .action(async (opts: { type?: string; series?: string; state?: string }, self: Command) => {
      await withClient(self, async (client, g) => {
        const q = new URLSearchParams(
          Object.entries(opts).filter(([k, v]) => k !== 'json' && typeof v === 'string') as [
            string,
            string,
          ][],
        );
        const { images } = await client.json<{ images: ImageRecord[] }>('GET', `/api/v1/images?${q}`);
        if (g.json) return printJson(images);
        printTable(
          ['NAME', 'TYPE', 'STATE', 'KIND', 'SIZE', 'PARENT', 'ORIGIN', 'CREATED'],
          images.map((i) => [
            i.name,
            i.imageType,
            i.state,
            i.kind,
            formatBytes(i.size),
            i.parentName ?? '-',
            i.origin,
            i.createdAt,
          ]),
        );
      });
    });
  examples(cmd, [
    'ingot image list',
    'ingot image list --series DB19 --json',
    'ingot image list --type OSIMAGE',
  ]);
}

export function imageShowCommand(image: Command): void {
  const cmd = image
    .command('show <name>')
    .description('Show one image: size, stored size, chunks, entries, lineage, state, digest, working copies')
    .option('--json', 'print JSON')
    .action(async (name: string, _opts: unknown, self: Command) => {
      await withClient(self, async (client, g) => {
        const d = await client.json<ImageDetail>('GET', `/api/v1/images/${encodeURIComponent(name)}`);
        if (g.json)
          return printJson({
            ...d.image,
            ancestors: d.ancestors,
            descendants: d.descendants,
            series: d.series,
            workingCopies: d.workingCopies,
          });
        const i = d.image;
        printFields([
          ['name', i.name],
          ['type', i.imageType],
          ['state', i.state],
          ['kind', i.kind],
          ['size', `${formatBytes(i.size)} (${i.size} bytes)`],
          ['stored', `${formatBytes(i.storedBytes)} in ${count(i.chunkCount, 'chunk')}`],
          ['entries', i.kind === 'tree' ? String(i.fileCount) : '1 (a file image)'],
          ['digest', i.digest],
          ['origin', i.origin],
          ['origin key', i.originKeyId ?? '- (not known)'],
          ['received from', i.receivedFrom ?? '- (made here)'],
          ['private', i.private ? 'yes: never offered to peers' : 'no'],
          ['parent', i.parentName ?? (i.parentDigest ? `(deleted) ${i.parentDigest}` : '-')],
          ['ancestors', d.ancestors.join(' <- ') || '-'],
          ['descendants', d.descendants.join(', ') || '-'],
          ['series', d.series.join(', ') || '-'],
          [
            'working copies',
            d.workingCopies.map((w) => `${w.host}:${w.path} (id ${w.id})`).join(', ') || '-',
          ],
          ['created', i.createdAt],
        ]);
      });
    });
  examples(cmd, ['ingot image show DBHOME_19_21', 'ingot image show OL9_ROOT --json']);
}
