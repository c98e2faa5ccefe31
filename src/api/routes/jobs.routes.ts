import { Type } from '@fastify/type-provider-typebox';
import { IngotError } from '../../core/errors.js';
import type { ApiApp } from '../app.js';
import { WordSchema } from '../limits.js';
import { errorResponses } from '../schemas.js';

export function jobRoutes(app: ApiApp): void {
  const { jobs, gcGraceSeconds } = app.deps;
  const tags = ['jobs'];

  app.get(
    '/api/v1/jobs',
    {
      schema: {
        summary: 'Recent jobs, newest first',
        tags,
        querystring: Type.Object({
          state: Type.Optional(WordSchema()),
          kind: Type.Optional(WordSchema()),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
        }),
        response: { 200: Type.Object({ jobs: Type.Array(Type.Ref('Job')) }) },
      },
    },
    async (request) => {
      const q = request.query;
      return { jobs: await jobs.list({ ...q, limit: q.limit ?? 50 } as Parameters<typeof jobs.list>[0]) };
    },
  );

  app.get(
    '/api/v1/jobs/:id',
    {
      schema: {
        summary: 'One job: state, progress, attempts, result or error',
        tags,
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        response: { 200: Type.Ref('Job'), ...errorResponses },
      },
    },
    async (request) => {
      const job = await jobs.get(request.params.id);
      if (!job) throw new IngotError('NOT_FOUND', `no job ${request.params.id}`);
      return job;
    },
  );

  app.post(
    '/api/v1/gc',
    {
      schema: {
        summary: 'Start garbage collection: chunks no image names, older than the grace period, go',
        tags,
        body: Type.Optional(
          Type.Object({
            graceSeconds: Type.Optional(Type.Integer({ minimum: 0, description: 'default 900' })),
          }),
        ),
        response: { 202: Type.Ref('Job'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const graceSeconds = request.body?.graceSeconds ?? gcGraceSeconds;
      const job = await jobs.enqueue('gc', { graceSeconds }, { maxAttempts: 1 });
      app.deps.wakeJobs();
      return reply.status(202).send(job);
    },
  );
}
