import { Type } from 'typebox';
import { checkName } from '../../core/names.js';
import type { ApiApp } from '../app.js';
import { DescriptionSchema, WordSchema } from '../limits.js';
import { errorResponses, NameSchema } from '../schemas.js';

const PeerSchema = Type.Object(
  {
    name: Type.String({ description: 'the name it is registered under here (--server)' }),
    clusterName: Type.String({ description: 'the cluster name it calls itself' }),
    keyId: Type.String({
      description: 'SHA-256 (hex) of its signing key: what identifies it, since names may repeat',
    }),
    endpoint: Type.String(),
    fingerprint: Type.String({ description: 'SHA-256 of the pinned TLS certificate' }),
    maxRate: Type.Union([Type.Integer(), Type.Null()], {
      description: 'bytes/s across all streams; null: no cap',
    }),
    allowUploads: Type.Boolean({ description: 'takes unasked pushes from it; they arrive TESTABLE' }),
    registeredAt: Type.String(),
    lastContactAt: Type.Union([Type.String(), Type.Null()]),
    reachable: Type.Optional(Type.Boolean()),
    error: Type.Optional(Type.String()),
    errorCode: Type.Optional(
      Type.String({
        description:
          'UNAVAILABLE; PEER_UNTRUSTED when a certificate is not trusted; CERTIFICATE_NOT_VALID when one is outside its dates',
      }),
    ),
    pushesTo: Type.Array(Type.String(), { description: 'filters this peer asked this server to push' }),
    pushesHere: Type.Array(Type.String(), {
      description: 'filters this server asked this peer to push here (instantiate image --server)',
    }),
  },
  { $id: 'Peer' },
);

const FilterFields = {
  all: Type.Optional(Type.Boolean()),
  image: Type.Optional(NameSchema),
  series: Type.Optional(NameSchema),
  imagetype: Type.Optional(NameSchema),
  state: Type.Optional(WordSchema('PUBLISHED unless given')),
};

const PeerParams = Type.Object({ name: NameSchema });
const Probe = Type.Object({
  probe: Type.Optional(Type.Boolean({ description: 'say whether it answers now' })),
});

export function peerAdminRoutes(app: ApiApp): void {
  const { peering } = app.deps;
  app.addSchema(PeerSchema);

  app.get(
    '/api/v1/server/data',
    {
      schema: {
        summary: "This server's server-data file: what a peer needs to register it (no secrets)",
        tags: ['peers'],
        response: { 200: Type.Object({}, { additionalProperties: true }), ...errorResponses },
      },
    },
    async () => peering.serverData(),
  );

  app.get(
    '/api/v1/peers',
    {
      schema: {
        summary: 'Registered peers',
        tags: ['peers'],
        querystring: Probe,
        response: { 200: Type.Object({ peers: Type.Array(Type.Ref('Peer')) }), ...errorResponses },
      },
    },
    async (request) => ({ peers: await peering.list(request.query.probe === true) }),
  );

  app.get(
    '/api/v1/peers/:name',
    {
      schema: {
        summary: 'One peer',
        tags: ['peers'],
        params: PeerParams,
        querystring: Probe,
        response: { 200: Type.Ref('Peer'), ...errorResponses },
      },
    },
    async (request) => peering.show(request.params.name, request.query.probe === true),
  );

  app.post(
    '/api/v1/peers',
    {
      schema: {
        summary: 'Register a peer from its server-data file, pinning its certificate and signing key',
        tags: ['peers'],
        body: Type.Object({
          name: NameSchema,
          as: Type.Optional(NameSchema),
          serverData: Type.Unknown(),
          maxRate: Type.Optional(Type.Union([Type.Integer({ minimum: 1024 }), Type.Null()])),
        }),
        response: { 201: Type.Ref('Peer'), ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.status(201).send(
        await peering.register(request.body.name, request.body.serverData, {
          maxRate: request.body.maxRate ?? null,
          as: request.body.as,
        }),
      ),
  );

  app.patch(
    '/api/v1/peers/:name',
    {
      schema: {
        summary: "Change a peer's bandwidth cap, or whether it may upload images here",
        tags: ['peers'],
        params: PeerParams,
        body: Type.Object({
          maxRate: Type.Optional(Type.Union([Type.Integer({ minimum: 1024 }), Type.Null()])),
          allowUploads: Type.Optional(Type.Boolean()),
        }),
        response: { 200: Type.Ref('Peer'), ...errorResponses },
      },
    },
    async (request) => peering.modify(request.params.name, request.body),
  );

  app.delete(
    '/api/v1/peers/:name',
    {
      schema: {
        summary:
          'Unregister a peer: its certificate is refused at once and live connections cut; replicas stay',
        tags: ['peers'],
        params: PeerParams,
        response: { 200: Type.Ref('Peer'), ...errorResponses },
      },
    },
    async (request) => peering.unregister(request.params.name),
  );

  app.post(
    '/api/v1/peers/:name/instantiate',
    {
      schema: {
        summary: 'Ask the peer to push this server its images matching a filter, now and later',
        tags: ['peers'],
        params: PeerParams,
        body: Type.Object({ ...FilterFields, dryRun: Type.Optional(Type.Boolean()) }),
        response: { 200: Type.Object({}, { additionalProperties: true }), ...errorResponses },
      },
    },
    async (request) => {
      const { dryRun, ...filter } = request.body;
      return peering.instantiate(request.params.name, filter, dryRun === true);
    },
  );

  app.post(
    '/api/v1/peers/:name/uninstantiate',
    {
      schema: {
        summary: 'Withdraw a standing request; replicas already received stay',
        tags: ['peers'],
        params: PeerParams,
        body: Type.Object(FilterFields),
        response: { 200: Type.Object({ filter: Type.String(), removed: Type.Boolean() }), ...errorResponses },
      },
    },
    async (request) => peering.uninstantiate(request.params.name, request.body),
  );

  app.post(
    '/api/v1/peers/:name/pull',
    {
      schema: {
        summary: 'Fetch one published image from the peer (a transfer job), or plan it with dryRun',
        tags: ['peers'],
        params: PeerParams,
        body: Type.Object({ image: NameSchema, dryRun: Type.Optional(Type.Boolean()) }),
        response: { 200: Type.Object({}, { additionalProperties: true }), ...errorResponses },
      },
    },
    async (request) => {
      const r = await peering.pull(
        request.params.name,
        checkName('image', request.body.image),
        request.body.dryRun === true,
      );
      if ('plan' in r) return { dryRun: true, ...r.plan };
      app.deps.wakeJobs();
      return { dryRun: false, job: r.job.id, existing: r.existing };
    },
  );

  app.get(
    '/api/v1/transfers',
    {
      schema: {
        summary: 'Pushes and pulls, newest first, with progress, bytes and rate',
        tags: ['transfers'],
        querystring: Type.Object({
          peer: Type.Optional(NameSchema),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
        }),
        response: { 200: Type.Object({ transfers: Type.Array(Type.Unknown()) }), ...errorResponses },
      },
    },
    async (request) => ({ transfers: await peering.transfers(request.query) }),
  );

  app.get(
    '/api/v1/transfers/served',
    {
      schema: {
        summary:
          'Transfers peers run with this server, newest first: their pushes here (in) and pulls from here (out), with progress',
        tags: ['transfers'],
        querystring: Type.Object({
          peer: Type.Optional(NameSchema),
          direction: Type.Optional(Type.Union([Type.Literal('in'), Type.Literal('out')])),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
        }),
        response: { 200: Type.Object({ transfers: Type.Array(Type.Unknown()) }), ...errorResponses },
      },
    },
    async (request) => ({ transfers: await app.deps.served.list(request.query) }),
  );

  app.get(
    '/api/v1/transfers/:id',
    {
      schema: {
        summary: 'One transfer',
        tags: ['transfers'],
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        response: { 200: Type.Unknown(), ...errorResponses },
      },
    },
    async (request) => peering.transfer(request.params.id),
  );

  hostRoutes(app);
}

function hostRoutes(app: ApiApp): void {
  const { peers } = app.deps;
  const Kind = Type.Union([Type.Literal('client'), Type.Literal('target')]);
  const HostSchema = Type.Object({
    name: Type.String(),
    kind: Kind,
    description: Type.String(),
    createdAt: Type.String(),
  });

  app.post(
    '/api/v1/hosts',
    {
      schema: {
        summary: 'Add a client or target name (they share one namespace with peers)',
        tags: ['hosts'],
        body: Type.Object({
          kind: Kind,
          name: NameSchema,
          description: Type.Optional(DescriptionSchema),
        }),
        response: { 201: HostSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await peers.addHost(request.body.kind, request.body.name, request.body.description)),
  );

  app.get(
    '/api/v1/hosts',
    {
      schema: {
        summary: 'Clients and targets',
        tags: ['hosts'],
        querystring: Type.Object({ kind: Type.Optional(Kind) }),
        response: { 200: Type.Object({ hosts: Type.Array(HostSchema) }), ...errorResponses },
      },
    },
    async (request) => ({ hosts: await peers.listHosts(request.query.kind) }),
  );

  app.delete(
    '/api/v1/hosts/:kind/:name',
    {
      schema: {
        summary: 'Remove a client or target name',
        tags: ['hosts'],
        params: Type.Object({ kind: Kind, name: NameSchema }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await peers.deleteHost(request.params.kind, request.params.name);
      return reply.status(204).send(null);
    },
  );
}
