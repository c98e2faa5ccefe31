import { Type } from 'typebox';
import { isFinalJobState } from '../../core/states.js';
import type { ApiApp } from '../app.js';
import { callerOf } from '../auth.js';
import { type Activity, EventHub, sseFrame } from '../event-hub.js';
import { errorResponses } from '../schemas.js';

/** How often an events stream checks that its token still holds, and says it is alive. */
const EVENTS_RECHECK_MS = 15_000;
/** The most running transfers and jobs one reading carries. */
const ACTIVITY_LIMIT = 100;
/** How many of the newest jobs each reading names with their states (see Activity.recent). */
const RECENT_JOBS = 20;

/** What the web console reads besides the rest of the API: who am I, the totals, live work. */
export function consoleRoutes(app: ApiApp): void {
  const { deps } = app;

  app.get(
    '/api/v1/whoami',
    {
      schema: {
        summary: "The token's name and role: what its holder may do",
        tags: ['access'],
        response: {
          200: Type.Object({ name: Type.String(), role: Type.String(), server: Type.String() }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      return { name: caller?.name ?? '', role: caller?.role ?? '', server: deps.clusterName };
    },
  );

  app.get(
    '/api/v1/stats',
    {
      schema: {
        summary: 'Totals: the store on disk, the images and their bytes, dedup and compression ratios',
        tags: ['system'],
        response: {
          200: Type.Object({
            store: Type.Object({
              chunks: Type.Integer(),
              bytes: Type.Integer({ description: 'bytes the chunk store takes on disk' }),
            }),
            images: Type.Object({
              count: Type.Integer(),
              byState: Type.Record(Type.String(), Type.Integer()),
              logicalBytes: Type.Integer({ description: 'the payloads, added up' }),
              storedBytes: Type.Integer({ description: "each image's stored bytes, added up" }),
            }),
            dedupRatio: Type.Union([Type.Number(), Type.Null()], {
              description:
                "images' stored bytes over the store's: what sharing chunks saves; null when empty",
            }),
            compressionRatio: Type.Union([Type.Number(), Type.Null()], {
              description: "images' logical bytes over their stored bytes; null when empty",
            }),
          }),
          ...errorResponses,
        },
      },
    },
    async () => {
      const store = deps.storeTotals();
      const images = await deps.catalog.imageTotals();
      return {
        store,
        images,
        dedupRatio: store.bytes > 0 && images.storedBytes > 0 ? images.storedBytes / store.bytes : null,
        compressionRatio: images.storedBytes > 0 ? images.logicalBytes / images.storedBytes : null,
      };
    },
  );

  app.get(
    '/api/v1/stats/growth',
    {
      schema: {
        summary: 'How the store grew since this server process started: samples of its totals, oldest first',
        description:
          'Kept in memory by each process (a restart starts a new history): a sample when the totals ' +
          'changed, at most one every 5 s, and one every 5 min while flat; past 1000 samples the older half ' +
          'is thinned. The last sample is the reading of now.',
        tags: ['system'],
        response: {
          200: Type.Object({
            samples: Type.Array(
              Type.Object({
                at: Type.String({ description: 'ISO 8601 time of the reading' }),
                chunks: Type.Integer(),
                bytes: Type.Integer({ description: 'bytes the chunk store takes on disk' }),
              }),
            ),
          }),
          ...errorResponses,
        },
      },
    },
    async () => {
      const now = { at: Date.now(), ...deps.storeTotals() };
      return {
        samples: [...deps.storeGrowth(), now].map((s) => ({
          at: new Date(s.at).toISOString(),
          chunks: s.chunks,
          bytes: s.bytes,
        })),
      };
    },
  );

  const hub = new EventHub(
    async (): Promise<Activity> => {
      const transfers = await deps.peering.transfers({ limit: ACTIVITY_LIMIT });
      const served = await deps.served.list({ limit: ACTIVITY_LIMIT });
      const jobs = await deps.jobs.list({ state: 'running', limit: ACTIVITY_LIMIT });
      const recent = await deps.jobs.list({ limit: RECENT_JOBS });
      return {
        transfers: transfers.filter((t) => !isFinalJobState(t.state)),
        served: served.filter((t) => t.state === 'running'),
        jobs,
        recent: recent.map((j) => ({ id: j.id, kind: j.kind, state: j.state })),
      };
    },
    deps.activity,
    (err) => app.log.warn({ err }, 'reading the work for the events stream failed'),
  );
  // Open streams would hold the server's close forever: they end first.
  const streams = new Set<{ end(): void }>();
  app.addHook('preClose', async () => {
    for (const res of streams) res.end();
    hub.stop();
  });

  app.get(
    '/api/v1/events',
    {
      schema: {
        summary: 'Server-sent events: the transfers and jobs running now, pushed as they change',
        description:
          'text/event-stream. Each `activity` event carries {transfers, served, jobs, recent}: the transfers this ' +
          'server runs that have not ended, those peers run with it now, the running jobs, and the newest ' +
          '20 jobs as {id, kind, state} (so a job that began and ended between two events is seen to end); the first ' +
          'comes at once, the next when something changed (read when a job, a transfer here or a transfer of a peer with it moves, at most every 0.2 s; nothing is polled). A comment line every 15 s ' +
          'keeps the stream alive; the stream ends when its token no longer holds.',
        tags: ['system'],
        response: { ...errorResponses },
      },
    },
    async (request, reply) => {
      if (request.method === 'HEAD') return reply.type('text/event-stream').send();
      const secret = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1] ?? '';
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
        connection: 'keep-alive',
      });
      res.write('retry: 2000\n\n');
      streams.add(res);
      const unsubscribe = hub.subscribe((activity) => res.write(sseFrame('activity', activity)));
      const recheck = setInterval(() => {
        deps.tokens.authenticate(secret).then(
          () => res.write(': alive\n\n'),
          () => res.end(),
        );
      }, EVENTS_RECHECK_MS);
      const close = () => {
        clearInterval(recheck);
        unsubscribe();
        streams.delete(res);
      };
      request.raw.on('close', close);
      res.on('close', close);
    },
  );
}
