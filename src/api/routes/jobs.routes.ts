import { Type } from 'typebox';
import { IngotError } from '../../core/errors.js';
import { isFinalJobState } from '../../core/states.js';
import { redactProxy } from '../../transfer/proxy-env.js';
import type { ApiApp } from '../app.js';
import { WordSchema } from '../limits.js';
import { errorResponses } from '../schemas.js';

/** A job as the API shows it: a proxy password in an import's payload is masked. */
export function shownJob<J extends { payload: unknown }>(job: J): J {
  const p = job.payload as { proxy?: unknown } | null;
  if (!p || typeof p.proxy !== 'string') return job;
  return { ...job, payload: { ...p, proxy: redactProxy(p.proxy) } };
}

/** How often a held job answer reads the job again, for changes made by other nodes. */
const JOB_REREAD_MS = 250;

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
      const listed = await jobs.list({ ...q, limit: q.limit ?? 50 } as Parameters<typeof jobs.list>[0]);
      return { jobs: listed.map(shownJob) };
    },
  );

  app.get(
    '/api/v1/jobs/:id',
    {
      schema: {
        summary: 'One job: state, progress, attempts, result or error',
        tags,
        description:
          'With `wait`, the answer is held until the job differs from `since` (its `updatedAt` as last seen; without it, from the job as it was when asked), ends, or `wait` seconds pass: a client follows a job without polling.',
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        querystring: Type.Object({
          wait: Type.Optional(
            Type.Number({ minimum: 0, maximum: 30, description: 'seconds to hold the answer' }),
          ),
          since: Type.Optional(
            Type.String({ maxLength: 64, description: "the job's updatedAt as last seen" }),
          ),
        }),
        response: { 200: Type.Ref('Job'), ...errorResponses },
      },
    },
    async (request) => {
      let job = await jobs.find(request.params.id);
      if (!job) throw new IngotError('NOT_FOUND', `no job ${request.params.id}`);
      const { wait = 0 } = request.query;
      const since = request.query.since ?? job.updatedAt;
      const deadline = Date.now() + wait * 1000;
      // Changes made here wake the wait at once; another node's are seen by reading again.
      while (job && !isFinalJobState(job.state) && job.updatedAt === since && Date.now() < deadline) {
        await jobs.waitForChange(job.id, Math.min(JOB_REREAD_MS, deadline - Date.now()));
        job = await jobs.find(request.params.id);
      }
      if (!job) throw new IngotError('NOT_FOUND', `no job ${request.params.id}`);
      return shownJob(job);
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
            dryRun: Type.Optional(
              Type.Boolean({ description: 'count what gc would remove (chunks, bytes) and remove nothing' }),
            ),
          }),
        ),
        response: { 202: Type.Ref('Job'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const graceSeconds = request.body?.graceSeconds ?? gcGraceSeconds;
      const dryRun = request.body?.dryRun === true;
      const job = await jobs.enqueue('gc', { graceSeconds, dryRun }, { maxAttempts: 1 });
      app.deps.wakeJobs();
      return reply.status(202).send(job);
    },
  );
}
