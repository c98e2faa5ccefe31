import { Type } from 'typebox';
import { IngotError } from '../../core/errors.js';
import type { ApiApp } from '../app.js';

export function systemRoutes(app: ApiApp): void {
  const { deps } = app;

  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness and readiness: the database answers and this node is not drained',
        description:
          'A drained node answers 503 (UNAVAILABLE) while it finishes what it has in hand, so a load balancer checking it stops sending it requests.',
        tags: ['system'],
        security: [],
        response: {
          200: Type.Object({
            status: Type.Literal('ok'),
            name: Type.String(),
            version: Type.String(),
            node: Type.String(),
          }),
          503: Type.Ref('Error'),
        },
      },
    },
    async () => {
      if (deps.nodes.draining) {
        throw new IngotError('UNAVAILABLE', `node ${deps.nodes.id} is draining`, {
          hint: `undrain it with: ingot node undrain ${deps.nodes.id}`,
        });
      }
      await deps.ping();
      return { status: 'ok' as const, name: deps.clusterName, version: deps.version, node: deps.nodes.id };
    },
  );

  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics', tags: ['system'], security: [] } },
    async (_request, reply) => {
      const body = await deps.metrics.registry.metrics();
      return reply.type(deps.metrics.registry.contentType).send(body);
    },
  );

  app.get(
    '/api/v1/server',
    {
      schema: {
        summary: "This server's identity: cluster name and the public key that signs its manifests",
        tags: ['system'],
        security: [],
        response: {
          200: Type.Object({ name: Type.String(), version: Type.String(), signingKey: Type.String() }),
        },
      },
    },
    async () => ({ name: deps.clusterName, version: deps.version, signingKey: deps.publicKeyPem }),
  );
}
