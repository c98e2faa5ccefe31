import type { Command } from 'commander';
import { IngotError } from '../../core/errors.js';
import { examples, withClient } from '../command-kit.js';
import { printFields, printJson, printTable } from '../output.js';

/** The REST API's bound on a node id in a path (src/api/limits.ts). */
const NODE_ID_CHARS = 100;

/** A node as GET /api/v1/nodes answers it (src/jobs/node-registry.ts). */
interface NodeView {
  id: string;
  api: string;
  peer: string;
  version: string;
  state: string;
  health: string;
  leader: boolean;
  startedAt: string;
  lastSeen: string;
  jobs: number[];
}

interface NodeList {
  nodes: NodeView[];
  leader: string | null;
  self: string;
}

/** `ingot nodes`: the nodes of the server, as the catalog they share records them. */
export function nodesCommand(program: Command): void {
  const cmd = program
    .command('nodes')
    .description(
      'The nodes of this server (every `ingot serve` on its catalog): address, version, leader, health, jobs held, last seen. A node whose heartbeat is older than 9 s is shown dead',
    )
    .option('--json', 'print JSON')
    .action(async (_o: unknown, self: Command) => {
      await withClient(self, async (client, g) => {
        const list = await client.json<NodeList>('GET', '/api/v1/nodes');
        if (g.json) return printJson(list);
        printTable(
          ['NODE', 'API', 'VERSION', 'LEADER', 'HEALTH', 'JOBS', 'LAST SEEN'],
          list.nodes.map((n) => [
            n.id === list.self ? `${n.id} (this)` : n.id,
            n.api || '-',
            n.version,
            n.leader ? 'yes' : '-',
            n.health,
            n.jobs.length > 0 ? n.jobs.join(',') : '-',
            n.lastSeen,
          ]),
        );
      });
    });
  examples(cmd, ['ingot nodes', 'ingot nodes --json']);
}

/** `ingot node drain|undrain ID`: takes a node out of (or back into) the work and the balancer. */
export function nodeCommand(program: Command): void {
  const group = program.command('node').description('Drain and undrain one node of this server');
  for (const verb of ['drain', 'undrain'] as const) {
    const cmd = group
      .command(`${verb} <id>`)
      .description(
        verb === 'drain'
          ? 'Drain a node (an id from `ingot nodes`, or `self` for the node that answers): it takes no new jobs, finishes those in hand and the requests in flight, and its /healthz answers 503 so a load balancer stops sending it requests'
          : 'Undrain a node: it takes jobs again and its /healthz answers 200',
      )
      .option('--json', 'print JSON')
      .action(async (id: string, _o: unknown, self: Command) => {
        if (id.length > NODE_ID_CHARS) {
          throw new IngotError('INVALID_ARGUMENT', `a node id has at most ${NODE_ID_CHARS} characters`, {
            hint: 'see the ids with: ingot nodes',
          });
        }
        await withClient(self, async (client, g) => {
          const n = await client.json<NodeView>('POST', `/api/v1/nodes/${encodeURIComponent(id)}/${verb}`);
          if (g.json) return printJson(n);
          printFields([
            ['node', n.id],
            ['state', n.state],
            ['jobs', n.jobs.length > 0 ? n.jobs.join(',') : '-'],
          ]);
        });
      });
    examples(cmd, [verb === 'drain' ? 'ingot node drain self' : 'ingot node undrain self --json']);
  }
}
