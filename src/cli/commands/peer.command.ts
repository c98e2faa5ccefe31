import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { ImageRecord } from '../../catalog/types.js';
import { IngotError } from '../../core/errors.js';
import type { PeerView } from '../../federation/peering.service.js';
import type { HostRecord } from '../../federation/types.js';
import { parseRate } from '../../transfer/rate-limit.js';
import { examples, withClient } from '../command-kit.js';
import { formatBytes, printFields, printJson, printTable } from '../output.js';

/**
 * FPP's verbs for peers, in its word order: `export server`, `register server`,
 * `unregister server`, `query peerserver`, `query image --server`, plus the client and
 * target names that share the peers' namespace.
 */
export function verbGroup(program: Command, name: string, description: string): Command {
  return program.commands.find((c) => c.name() === name) ?? program.command(name).description(description);
}

export function peerCommands(program: Command): void {
  exportServer(
    verbGroup(program, 'export', 'Export this server’s data: for peers (server), or all of it (snapshot)'),
  );
  registerServer(verbGroup(program, 'register', 'Register a peer server'));
  unregisterServer(verbGroup(program, 'unregister', 'Unregister a peer server'));
  modifyPeer(verbGroup(program, 'modify', 'Change a peer’s settings'));
  const query = verbGroup(program, 'query', 'Query peers, replicas, clients and targets');
  queryPeers(query);
  queryImages(query);
  hostCommands(program, query);
}

function exportServer(group: Command): void {
  const cmd = group
    .command('server')
    .description(
      'Write this server’s server-data file: cluster name, peer endpoint, TLS certificate, signing key',
    )
    .requiredOption('--serverdata <file>', 'file to write ("-" for standard output)')
    .action(async (opts: { serverdata: string }, self: Command) => {
      await withClient(self, async (client) => {
        const data = await client.json<{ name: string; endpoint: string }>('GET', '/api/v1/server/data');
        const text = `${JSON.stringify(data, null, 2)}\n`;
        if (opts.serverdata === '-') return void process.stdout.write(text);
        await writeFile(opts.serverdata, text, { mode: 0o644 });
        process.stdout.write(
          `wrote ${opts.serverdata} for ${data.name} (${data.endpoint})\n` +
            `copy it to the other server and run there: ingot register server --server ${data.name} --serverdata FILE\n`,
        );
      });
    });
  examples(cmd, ['ingot export server --serverdata fpps1.json']);
}

function registerServer(group: Command): void {
  const cmd = group
    .command('server')
    .description('Register a peer from its server-data file; its certificate and signing key are pinned')
    .requiredOption('--server <name>', 'the peer’s cluster name, as in its file')
    .requiredOption('--serverdata <file>', 'the file `ingot export server` wrote on the peer')
    .option(
      '--as <name>',
      'the name to know it by here (then --server NAME in every other command), when its cluster name is taken here',
    )
    .option('--max-rate <rate>', 'cap on bytes/s across all streams with this peer, e.g. 20M')
    .option('--json', 'print JSON')
    .action(
      async (opts: { server: string; serverdata: string; as?: string; maxRate?: string }, self: Command) => {
        const serverData = await readServerData(opts.serverdata);
        await withClient(self, async (client, g) => {
          const peer = await client.json<PeerView>('POST', '/api/v1/peers', {
            name: opts.server,
            ...(opts.as ? { as: opts.as } : {}),
            serverData,
            ...(opts.maxRate ? { maxRate: rateOption(opts.maxRate) } : {}),
          });
          if (g.json) return printJson(peer);
          const alias = peer.name === peer.clusterName ? '' : ` (cluster name ${peer.clusterName})`;
          process.stdout.write(
            `registered peer ${peer.name}${alias} at ${peer.endpoint}\n  certificate ${peer.fingerprint}\n  signing key ${peer.keyId}\n`,
          );
        });
      },
    );
  examples(cmd, [
    'ingot register server --server FPPS_1 --serverdata fpps1.json',
    'ingot register server --server EDGE_7 --serverdata edge7.json --max-rate 20M',
  ]);
}

function unregisterServer(group: Command): void {
  const cmd = group
    .command('server')
    .description('End a peer relationship: its certificate is refused at once; replicas received stay')
    .requiredOption('--server <name>', 'the peer’s cluster name')
    .option('--json', 'print JSON')
    .action(async (opts: { server: string }, self: Command) => {
      await withClient(self, async (client, g) => {
        const peer = await client.json<PeerView>(
          'DELETE',
          `/api/v1/peers/${encodeURIComponent(opts.server)}`,
        );
        if (g.json) return printJson(peer);
        process.stdout.write(`unregistered peer ${peer.name}; its replicas stay here\n`);
      });
    });
  examples(cmd, ['ingot unregister server --server FPPS_1']);
}

function modifyPeer(group: Command): void {
  const cmd = group
    .command('peerserver')
    .description(
      'Change a peer’s bandwidth cap (across all streams with it), or whether it may upload images here',
    )
    .requiredOption('--server <name>', 'the peer’s cluster name')
    .option('--max-rate <rate>', 'bytes/s, e.g. 20M, or "none"')
    .option(
      '--allow-uploads <on|off>',
      'take images it pushes unasked (they arrive TESTABLE); off by default',
    )
    .option('--json', 'print JSON')
    .action(async (opts: { server: string; maxRate?: string; allowUploads?: string }, self: Command) => {
      await withClient(self, async (client, g) => {
        const change = {
          ...(opts.maxRate ? { maxRate: opts.maxRate === 'none' ? null : rateOption(opts.maxRate) } : {}),
          ...(opts.allowUploads ? { allowUploads: onOff(opts.allowUploads) } : {}),
        };
        if (Object.keys(change).length === 0) {
          throw new IngotError('INVALID_ARGUMENT', 'nothing to change', {
            hint: 'give --max-rate or --allow-uploads',
          });
        }
        const peer = await client.json<PeerView>(
          'PATCH',
          `/api/v1/peers/${encodeURIComponent(opts.server)}`,
          change,
        );
        if (g.json) return printJson(peer);
        const rate = peer.maxRate === null ? 'none' : `${formatBytes(peer.maxRate)}/s`;
        process.stdout.write(
          `${peer.name}: max rate ${rate}, uploads ${peer.allowUploads ? 'allowed' : 'refused'}\n`,
        );
      });
    });
  examples(cmd, [
    'ingot modify peerserver --server FPPS_2 --max-rate 50M',
    'ingot modify peerserver --server SITE_1 --allow-uploads on',
  ]);
}

function onOff(value: string): boolean {
  if (value === 'on' || value === 'off') return value === 'on';
  throw new IngotError('INVALID_ARGUMENT', `expected on or off, not ${JSON.stringify(value)}`);
}

function queryPeers(query: Command): void {
  const cmd = query
    .command('peerserver')
    .description(
      'Registered peers: endpoint, whether they answer now, last contact, instantiations both ways (what we push to it, what it pushes here)',
    )
    .option('--server <name>', 'one peer')
    .option('--no-probe', 'do not contact the peers')
    .option('--json', 'print JSON')
    .action(async (opts: { server?: string; probe: boolean }, self: Command) => {
      await withClient(self, async (client, g) => {
        const q = opts.probe ? '?probe=true' : '';
        const peers = opts.server
          ? [await client.json<PeerView>('GET', `/api/v1/peers/${encodeURIComponent(opts.server)}${q}`)]
          : (await client.json<{ peers: PeerView[] }>('GET', `/api/v1/peers${q}`)).peers;
        if (g.json) return printJson(opts.server ? peers[0] : peers);
        if (opts.server && peers[0]) return printPeer(peers[0]);
        printTable(
          [
            'NAME',
            'CLUSTER NAME',
            'KEY',
            'ENDPOINT',
            'REACHABLE',
            'LAST CONTACT',
            'MAX RATE',
            'PUSHES TO IT',
            'PUSHES HERE',
          ],
          peers.map((p) => [
            p.name,
            p.clusterName,
            p.keyId.slice(0, 16),
            p.endpoint,
            p.reachable === undefined ? '-' : p.reachable ? 'yes' : 'no',
            p.lastContactAt ?? 'never',
            p.maxRate === null ? '-' : `${formatBytes(p.maxRate)}/s`,
            p.pushesTo.join('; ') || '-',
            p.pushesHere.join('; ') || '-',
          ]),
        );
      });
    });
  examples(cmd, ['ingot query peerserver', 'ingot query peerserver --server FPPS_1 --json']);
}

function printPeer(p: PeerView): void {
  printFields([
    ['name', p.name],
    ['cluster name', p.clusterName],
    ['signing key', p.keyId],
    ['endpoint', p.endpoint],
    ['certificate', p.fingerprint],
    [
      'reachable',
      p.reachable === undefined ? '-' : p.reachable ? 'yes' : `no ([${p.errorCode ?? ''}] ${p.error ?? ''})`,
    ],
    ['last contact', p.lastContactAt ?? 'never'],
    ['registered', p.registeredAt],
    ['max rate', p.maxRate === null ? 'none' : `${formatBytes(p.maxRate)}/s`],
    ['pushes to it', p.pushesTo.join('; ') || '-'],
    ['pushes here', p.pushesHere.join('; ') || '-'],
  ]);
}

function queryImages(query: Command): void {
  const cmd = query
    .command('image')
    .description('Images here; with --server, only the replicas received from that peer')
    .option('--server <name>', 'the peer the replicas came from')
    .option('--image <name>', 'one image, in detail')
    .option('--json', 'print JSON')
    .action(async (opts: { server?: string; image?: string }, self: Command) => {
      await withClient(self, async (client, g) => {
        const q = opts.server ? `?receivedFrom=${encodeURIComponent(opts.server)}` : '';
        // No check that the peer is still registered: replicas outlive the relationship.
        let { images } = await client.json<{ images: ImageRecord[] }>('GET', `/api/v1/images${q}`);
        if (opts.image) {
          images = images.filter((i) => i.name === opts.image);
          if (images.length === 0) {
            throw new IngotError(
              'NOT_FOUND',
              `no image ${opts.image}${opts.server ? ` received from ${opts.server}` : ''}`,
            );
          }
        }
        if (g.json) return printJson(opts.image ? images[0] : images);
        if (opts.image && images[0]) return printReplica(images[0]);
        printTable(
          ['NAME', 'TYPE', 'STATE', 'SIZE', 'ORIGIN', 'RECEIVED FROM', 'CREATED'],
          images.map((i) => [
            i.name,
            i.imageType,
            i.state,
            formatBytes(i.size),
            i.origin,
            i.receivedFrom ?? '-',
            i.createdAt,
          ]),
        );
      });
    });
  examples(cmd, [
    'ingot query image --server FPPS_2',
    'ingot query image --server FPPS_2 --image DB19_RU22 --json',
  ]);
}

function printReplica(i: ImageRecord): void {
  printFields([
    ['name', i.name],
    ['digest', i.digest],
    ['type', i.imageType],
    ['state', i.state],
    ['size', formatBytes(i.size)],
    ['origin', i.origin],
    ['origin key', i.originKeyId ?? '- (not known)'],
    ['received from', i.receivedFrom ?? '- (made here)'],
    ['parent', i.parentName ?? i.parentDigest ?? '-'],
    ['created', i.createdAt],
  ]);
}

function hostCommands(program: Command, query: Command): void {
  const add = verbGroup(program, 'add', 'Add a client or target name');
  const del = verbGroup(program, 'delete', 'Delete a client or target name');
  for (const kind of ['client', 'target'] as const) {
    const a = add
      .command(`${kind} <name>`)
      .description(`Add a ${kind} name (peers, clients and targets share one namespace)`)
      .option('--description <text>', 'what it is')
      .option('--json', 'print JSON')
      .action(async (name: string, opts: { description?: string }, self: Command) => {
        await withClient(self, async (client, g) => {
          const h = await client.json<HostRecord>('POST', '/api/v1/hosts', {
            kind,
            name,
            ...(opts.description ? { description: opts.description } : {}),
          });
          if (g.json) printJson(h);
          else process.stdout.write(`added ${kind} ${h.name}\n`);
        });
      });
    examples(a, [`ingot add ${kind} ${kind === 'client' ? 'dbnode01' : 'edge-box-7'}`]);
    del
      .command(`${kind} <name>`)
      .description(`Delete a ${kind} name`)
      .action(async (name: string, _o: unknown, self: Command) => {
        await withClient(self, async (client) => {
          await client.json('DELETE', `/api/v1/hosts/${kind}/${encodeURIComponent(name)}`);
          process.stdout.write(`deleted ${kind} ${name}\n`);
        });
      });
    query
      .command(kind)
      .description(`List ${kind}s`)
      .option('--json', 'print JSON')
      .action(async (_o: unknown, self: Command) => {
        await withClient(self, async (client, g) => {
          const { hosts } = await client.json<{ hosts: HostRecord[] }>('GET', `/api/v1/hosts?kind=${kind}`);
          if (g.json) return printJson(hosts);
          printTable(
            ['NAME', 'DESCRIPTION', 'ADDED'],
            hosts.map((h) => [h.name, h.description || '-', h.createdAt]),
          );
        });
      });
  }
}

async function readServerData(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new IngotError(
      'PATH_NOT_FOUND',
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? ''}`,
      {
        hint: 'copy the file `ingot export server --serverdata FILE` wrote on the peer',
      },
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new IngotError('INVALID_ARGUMENT', `${file} is not JSON`, {
      hint: 'use the file `ingot export server` wrote, unchanged',
    });
  }
}

export function rateOption(value: string): number {
  const rate = parseRate(value);
  if (!Number.isFinite(rate) || rate < 1024) {
    throw new IngotError('INVALID_ARGUMENT', `invalid rate ${JSON.stringify(value)}`, {
      hint: 'bytes per second with an optional K, M or G (binary units), at least 1K, e.g. 20M',
    });
  }
  return rate;
}
