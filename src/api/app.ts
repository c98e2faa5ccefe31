import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import { CHUNK_STREAM_TYPE } from '../transfer/ports.js';
import { auditHook } from './audit-hook.js';
import { accessCheck } from './auth.js';
import { consoleFiles } from './console-files.js';
import type { ApiDeps } from './deps.js';
import { installErrorHandler } from './error-handler.js';
import { JSON_BODY_BYTES, PARAM_BYTES, RELEASE_TYPE, withBodyLimit } from './limits.js';
import { RequestLog } from './request-log.js';
import { leastRole, listedRoutes } from './route-roles.js';
import { accessRoutes } from './routes/access.routes.js';
import { bundleRoutes } from './routes/bundles.routes.js';
import { catalogRoutes } from './routes/catalog.routes.js';
import { chunkRoutes } from './routes/chunks.routes.js';
import { consoleRoutes } from './routes/console.routes.js';
import { imageRoutes } from './routes/images.routes.js';
import { jobRoutes } from './routes/jobs.routes.js';
import { nodeRoutes } from './routes/nodes.routes.js';
import { peerAdminRoutes } from './routes/peers.routes.js';
import { publisherKeyRoutes } from './routes/publisher-keys.routes.js';
import { snapshotRoutes } from './routes/snapshots.routes.js';
import { systemRoutes } from './routes/system.routes.js';
import { templateRoutes } from './routes/templates.routes.js';
import { updateRoutes } from './routes/updates.routes.js';
import { workingCopyRoutes } from './routes/working-copies.routes.js';
import { ErrorSchema, ImageSchema, JobSchema } from './schemas.js';

export type ApiApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
> & { deps: ApiDeps };

/** Paths anyone may read: liveness, the API description, the server's identity (and metrics, by a setting). */
const OPEN_PATHS = ['/healthz', '/openapi.json', '/api/v1/server'];

export async function buildApp(
  deps: ApiDeps,
  opts: {
    logger: FastifyBaseLogger | false;
    /** Listen on https with this key and certificate (`ingot serve --tls`); plain http without. */
    https?: { readonly key: string; readonly cert: string } | undefined;
  },
): Promise<ApiApp> {
  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    ...(opts.https ? { https: { key: opts.https.key, cert: opts.https.cert } } : {}),
    // Small for admin JSON; the draft and bundle routes set their own (limits.ts).
    bodyLimit: JSON_BODY_BYTES,
    routerOptions: { maxParamLength: PARAM_BYTES },
    requestIdHeader: 'x-request-id',
    // One line per request, at a level by what it did.
    logController: new RequestLog(),
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as ApiApp;
  app.decorate('deps', deps);
  installErrorHandler(app);
  for (const schema of [ErrorSchema, ImageSchema, JobSchema]) app.addSchema(schema);
  // Chunk streams are consumed as they arrive, never buffered whole.
  app.addContentTypeParser(CHUNK_STREAM_TYPE, (_request, payload, done) => done(null, payload));
  // A release tarball is bounded by its route's bodyLimit and checked whole.
  app.addContentTypeParser(RELEASE_TYPE, { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  await app.register(swagger, {
    // Each JSON route's body limit is part of its description.
    transform: ({ schema, url, route }) => ({ schema: withBodyLimit(schema, route.bodyLimit), url }),
    // Components keep their $id as name (Error, Image, Job) instead of def-N.
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Ingot API', version: deps.version, description: 'Gold image store and distribution' },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      },
      security: [{ bearer: [] }],
    },
  });

  // Every change names its least role in route-roles.ts; a route added without one stops the start.
  const routes = new Set<string>();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      routes.add(`${method} ${route.url}`);
      if (!leastRole(method, route.url)) {
        throw new Error(`${method} ${route.url} has no role in src/api/route-roles.ts`);
      }
    }
  });
  const open = new Set(deps.metricsOpen ? [...OPEN_PATHS, '/metrics'] : OPEN_PATHS);
  app.addHook('onRequest', accessCheck(deps.tokens, open));
  app.addHook('onResponse', auditHook(deps.audit));
  app.addHook('onResponse', async (request, reply) => {
    deps.metrics.httpDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unknown',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  systemRoutes(app);
  chunkRoutes(app);
  imageRoutes(app);
  catalogRoutes(app);
  jobRoutes(app);
  nodeRoutes(app);
  peerAdminRoutes(app);
  templateRoutes(app);
  bundleRoutes(app);
  snapshotRoutes(app);
  updateRoutes(app);
  publisherKeyRoutes(app);
  workingCopyRoutes(app);
  accessRoutes(app);
  consoleRoutes(app);
  await consoleFiles(app);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  const stale = listedRoutes().filter((r) => !routes.has(r));
  if (stale.length > 0) throw new Error(`src/api/route-roles.ts names no route: ${stale.join(', ')}`);
  await app.ready();
  return app;
}
