import { type TLiteral, Type } from 'typebox';
import type { ApiApp } from '../app.js';
import { NODE_ID_CHARS } from '../limits.js';
import { errorResponses } from '../schemas.js';

const STATES: [TLiteral<'starting'>, TLiteral<'serving'>, TLiteral<'draining'>, TLiteral<'stopped'>] = [
  Type.Literal('starting'),
  Type.Literal('serving'),
  Type.Literal('draining'),
  Type.Literal('stopped'),
];

const NodeSchema = Type.Object({
  id: Type.String({ description: 'host:pid of the `ingot serve` process; also its job lease owner' }),
  api: Type.String({ description: 'the REST API URL it serves on' }),
  peer: Type.String({ description: 'the peer API URL it serves on' }),
  version: Type.String(),
  state: Type.Union(STATES),
  health: Type.Union([...STATES, Type.Literal('dead')], {
    description: 'its state, or dead when its last heartbeat is older than three leader leases (9 s)',
  }),
  leader: Type.Boolean({ description: 'whether it runs the singleton work (sync scheduler, retention)' }),
  startedAt: Type.String(),
  lastSeen: Type.String({ description: 'its last heartbeat' }),
  jobs: Type.Array(Type.Integer(), { description: 'the running jobs it holds the lease of' }),
});

const NodeId = Type.Object({
  id: Type.String({
    minLength: 3,
    // The router's own bound on a path parameter (fastify's maxParamLength).
    maxLength: NODE_ID_CHARS,
    pattern: '^(self|[^\\s/:]+:[0-9]{1,10})$',
    description: 'a node id as `ingot nodes` lists it (host:pid), or `self` for the node that answers',
  }),
});

export function nodeRoutes(app: ApiApp): void {
  const { nodes } = app.deps;
  const tags = ['nodes'];

  app.get(
    '/api/v1/nodes',
    {
      schema: {
        summary: "This server's nodes: addresses, version, leader, health, jobs held, last seen",
        tags,
        response: {
          200: Type.Object({
            nodes: Type.Array(NodeSchema),
            leader: Type.Union([Type.String(), Type.Null()], { description: 'the leader node, if any' }),
            self: Type.String({ description: 'the node that answered' }),
          }),
        },
      },
    },
    async () => ({ ...(await nodes.list()), self: nodes.id }),
  );

  for (const verb of ['drain', 'undrain'] as const) {
    app.post(
      `/api/v1/nodes/:id/${verb}`,
      {
        schema: {
          summary:
            verb === 'drain'
              ? 'Drain a node: it takes no new jobs, finishes those in hand and the requests in flight, and its /healthz answers 503'
              : 'Undrain a node: it takes jobs again and its /healthz answers 200',
          tags,
          params: NodeId,
          response: { 200: NodeSchema, ...errorResponses },
        },
      },
      async (request) => nodes[verb](request.params.id),
    );
  }
}
