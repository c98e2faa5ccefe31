import { mkdir, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { sql } from 'kysely';
import pino from 'pino';
import { buildApp } from '../api/app.js';
import { createMetrics } from '../api/metrics.js';
import { CatalogService } from '../catalog/catalog.service.js';
import { ImageService } from '../catalog/image.service.js';
import { loadServerConfig, type ServeOptions } from '../config/server-config.js';
import { openDatabase } from '../db/index.js';
import { loadOrCreateIdentity } from '../federation/identity.js';
import { collectGarbage } from '../jobs/handlers/gc.job.js';
import { verifyImage } from '../jobs/handlers/verify.job.js';
import { JobQueue } from '../jobs/job-queue.js';
import { startJobRunner } from '../jobs/job-runner.js';
import { ManifestStore } from '../store/manifest-store.js';
import { PackChunkStore } from '../store/pack-chunk-store.js';
import { VERSION } from './version.js';

/**
 * The composition root of `ingot serve`: the one place adapters are chosen and wired.
 * Start order matters: identity and store before the database answers, the HTTP server
 * last, and server.json (which a local CLI reads to find us) only once we listen.
 */
export interface RunningServer {
  readonly url: string;
  stop(): Promise<void>;
}

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const config = await loadServerConfig(opts);
  const logger = pino({ level: config.logLevel, base: { server: config.clusterName, pid: process.pid } });
  const identity = await loadOrCreateIdentity(config.paths.signingKey, config.paths.signingPub);
  await mkdir(config.paths.store, { recursive: true, mode: 0o700 });
  const store = await PackChunkStore.open(config.paths.store);
  const manifests = new ManifestStore(config.paths.store);
  // The pack store's lock is held now, so nothing else writes here.
  const staleTemp = await manifests.removeTempFiles();
  const db = await openDatabase({ url: config.dbUrl });
  const catalog = new CatalogService(db);
  const jobs = new JobQueue(db);
  const metrics = createMetrics();
  const images = new ImageService({ origin: config.clusterName, catalog, store, manifests, identity });

  const runner = startJobRunner({
    queue: jobs,
    owner: `${hostname()}:${process.pid}`,
    logger,
    pollMs: 500,
    handlers: {
      verify: (job, ctx) =>
        verifyImage({ images, store }, (job.payload as { image: string }).image, ctx.progress),
      gc: (job, ctx) =>
        collectGarbage(
          { catalog, store, manifests },
          (job.payload as { graceSeconds: number }).graceSeconds,
          ctx.progress,
        ),
    },
    onFinished: (job, outcome) => metrics.jobsFinished.inc({ kind: job.kind, state: outcome }),
  });

  const app = await buildApp(
    {
      clusterName: config.clusterName,
      version: VERSION,
      publicKeyPem: identity.publicKeyPem,
      token: config.token,
      gcGraceSeconds: config.gcGraceSeconds,
      store,
      images,
      catalog,
      jobs,
      metrics,
      wakeJobs: () => runner.wake(),
      ping: async () => {
        await sql`select 1`.execute(db.kysely);
      },
    },
    { logger },
  );
  await app.listen({ host: config.listenHost, port: config.listenPort });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.listenPort;
  const host = config.listenHost.includes(':') ? `[${config.listenHost}]` : config.listenHost;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  await writeFile(
    config.paths.serverInfo,
    `${JSON.stringify({ url, pid: process.pid, name: config.clusterName })}\n`,
    {
      mode: 0o600,
    },
  );
  logger.info(
    { url, home: config.paths.home, db: redact(config.dbUrl), recovery: store.recovery, staleTemp },
    'ingot server listening',
  );

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await rm(config.paths.serverInfo, { force: true });
      await runner.stop();
      await app.close();
      await db.close();
      await store.close();
    })();
    return stopping;
  };
  return { url, stop };
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
