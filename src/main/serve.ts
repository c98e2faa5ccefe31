import { rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import pino from 'pino';
import { AuditLog, TokenService } from '../access/index.js';
import { buildApp } from '../api/app.js';
import { countCompaction, createMetrics, receiveCounter } from '../api/metrics.js';
import { buildPeerApi } from '../api/peer-app.js';
import { CatalogService } from '../catalog/catalog.service.js';
import { ImageService } from '../catalog/image.service.js';
import { loadServerConfig, type ServeOptions } from '../config/server-config.js';
import { ActivitySignal } from '../core/activity-signal.js';
import { keyId } from '../core/signatures.js';
import { BundleService } from '../federation/bundle.service.js';
import { BUNDLE_IMPORT_JOB_KIND, LocalBundleImport } from '../federation/bundle-import.js';
import { BundleUploads } from '../federation/bundle-uploads.js';
import { FollowService, SYNC_JOB_KIND, type SyncJobPayload } from '../federation/follow.service.js';
import { loadOrCreateIdentity } from '../federation/identity.js';
import type { LocalSideDeps } from '../federation/local-sides.js';
import { OriginKeys } from '../federation/origin-keys.js';
import { PeerService } from '../federation/peer.service.js';
import { PeerLinks } from '../federation/peer-links.js';
import { PeerTransfers } from '../federation/peer-transfers.js';
import { PeeringService } from '../federation/peering.service.js';
import { ReplicaService } from '../federation/replica.service.js';
import { ReplicationService, TRANSFER_JOB_KIND } from '../federation/replication.service.js';
import type { ServerData } from '../federation/server-data.js';
import {
  SNAPSHOT_EXPORT_JOB_KIND,
  SnapshotExport,
  type SnapshotExportRequest,
} from '../federation/snapshot-export.js';
import { TemplateService } from '../federation/template.service.js';
import { loadOrCreateTlsIdentity } from '../federation/tls-identity.js';
import { transferJob } from '../federation/transfer.job.js';
import { TransferGrants } from '../federation/transfer-grants.js';
import { WriteGrantRepository } from '../federation/write-grant.repository.js';
import { collectGarbage, type GcOptions } from '../jobs/handlers/gc.job.js';
import { IMPORT_JOB_KIND, type UrlImportRequest, UrlImportService } from '../jobs/handlers/import.job.js';
import { INGEST_JOB_KIND, type LocalIngestRequest, LocalIngestService } from '../jobs/handlers/ingest.job.js';
import { verifyImage } from '../jobs/handlers/verify.job.js';
import { JobCheckpoints } from '../jobs/job-checkpoints.js';
import { JobQueue } from '../jobs/job-queue.js';
import { startJobRunner } from '../jobs/job-runner.js';
import { ReleaseService } from '../jobs/release.service.js';
import { RollService } from '../jobs/roll.service.js';
import type { Job } from '../jobs/types.js';
import { StoreGrowth } from '../store/store-growth.js';
import { RateLimits } from '../transfer/rate-limit.js';
import { TransferRepository } from '../transfer/transfer.repository.js';
import { apiTlsIdentity, certificateWarnings, isLoopback } from './api-tls.js';
import { openCatalog } from './catalog-open.js';
import { joinAsNode, nodeIdentity } from './node-join.js';
import { retention } from './retention.js';
import { deadNodeReaping, startScheduler } from './scheduler.js';
import { NODE_ID_ENV, selfUpdater } from './self-restart.js';
import { openLocalStore, reachSharedStore } from './server-store.js';
import { DEPENDENCIES, VERSION } from './version.js';

/**
 * The composition root of `ingot serve`: the one place adapters are chosen and wired.
 * Start order matters: identity and store before the database answers, the HTTP server
 * last, and server.json (which a local CLI reads to find us) only once we listen.
 */
export interface RunningServer {
  readonly url: string;
  readonly peerUrl: string;
  /** SHA-256 fingerprint of the REST API's certificate, with --tls. */
  readonly fingerprint: string | undefined;
  stop(): Promise<void>;
}

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const config = await loadServerConfig(opts);
  // Read before anything opens or listens: a bad --tls-cert stops the start.
  const apiTls = await apiTlsIdentity(config);
  const logger = pino({ level: config.logLevel, base: { server: config.clusterName, pid: process.pid } });
  const where = config.store;
  // Reached before keys, catalog or store are touched: one that does not answer stops the start.
  const shared = where.kind === 'local' ? undefined : await reachSharedStore(config, where);
  const identity = await loadOrCreateIdentity(config.paths.signingKey, config.paths.signingPub);
  const localStore = where.kind === 'local' ? await openLocalStore(config) : undefined;
  const self = config.clusterName;
  const tls = await loadOrCreateTlsIdentity(config.paths.tlsKey, config.paths.tlsCert, self);
  const selfKeyId = keyId(identity.publicKeyPem);
  // A node restarted by a roll keeps its id (self-restart.ts); a new process is `host:pid`.
  const owner = process.env[NODE_ID_ENV] ?? `${hostname()}:${process.pid}`;
  const db = await openCatalog(config.dbUrl);
  // Joined before a shared store opens: a node of another server writes nothing there.
  const nodes = await joinAsNode(
    db,
    { id: owner, version: VERSION, identity: nodeIdentity(self, selfKeyId, tls.fingerprint) },
    { logger, onRefused: () => Promise.all([db.close(), localStore?.close(), shared?.close()]) },
  );
  const chunks = localStore ?? (await (shared as NonNullable<typeof shared>).open(db));
  const { store, manifests, staleTemp } = chunks;
  const catalog = new CatalogService(db);
  const packageRoot = fileURLToPath(new URL('../../', import.meta.url));
  // Raised where running work changes; the events stream reads the work when it fires.
  const activity = new ActivitySignal();
  const jobs = new JobQueue(db, { onChange: () => activity.notify() });
  const transfers = new TransferRepository(db.kysely);
  const storeTotals = () => chunks.totals();
  const growth = new StoreGrowth();
  growth.sample(Date.now(), storeTotals());
  const metrics = createMetrics({
    store: storeTotals,
    storeRoot: store.spaceAt ?? config.paths.store,
    imagesByState: () => catalog.countImagesByState(),
    transfersRunning: () => transfers.running(),
  });
  const images = new ImageService({ origin: config.clusterName, catalog, store, manifests, identity });
  const peers = new PeerService(db, { name: self, fingerprint: tls.fingerprint, keyId: selfKeyId });
  const keys = new OriginKeys({ self, ownKeyPem: identity.publicKeyPem, peers });
  // Images made here before origin key ids were kept (migration 006) get this server's.
  await catalog.adoptOwnImages(self, selfKeyId);
  const replicas = new ReplicaService({ catalog, store, manifests, keys });
  const local: LocalSideDeps = {
    self,
    images,
    catalog,
    store,
    replicas,
    keys,
    counter: receiveCounter(metrics),
  };
  const links = new PeerLinks(tls);
  const limits = new RateLimits();
  let wake = () => {};
  const replication = new ReplicationService({
    self,
    selfKeyId,
    db,
    catalog,
    peers,
    jobs,
    wake: () => wake(),
    logger,
  });
  catalog.onImageChanged((name) => replication.imageChanged(name));
  const templates = new TemplateService({ self, db, catalog, identity, local });
  const follows = new FollowService({
    db,
    peers,
    jobs,
    wake: () => wake(),
    sync: { peers, links, local, catalog, manifests, templates, limits },
  });
  const ingest = new LocalIngestService({ images, catalog, store, jobs, wake: () => wake() });
  const urlImport = new UrlImportService({
    images,
    store,
    jobs,
    checkpoints: new JobCheckpoints(db),
    wake: () => wake(),
    env: process.env,
  });
  const bundles = new BundleService({ self: config.clusterName, identity, images, catalog, peers, local });
  const stage = () => chunks.stage();
  const bundleImport = new LocalBundleImport({ bundles, stage, jobs, wake: () => wake() });
  const bundleUploads = new BundleUploads({ bundles, stage });
  const snapshots = new SnapshotExport({
    self,
    version: VERSION,
    identity,
    db,
    paths: config.paths,
    packageRoot,
    catalog,
    bundles,
    store,
    jobs,
    wake: () => wake(),
  });
  const releases = new ReleaseService({ db, store, env: process.env });
  const rolls = new RollService({ db, nodes, releases, dependencies: DEPENDENCIES, logger });
  const resumed = await jobs.expireLeasesOf((o) => isDeadLocalOwner(o));

  const writeGrants = new WriteGrantRepository(db);
  const grants = new TransferGrants((bytes) => manifests.chunkList(bytes), Date.now, writeGrants);
  const served = new PeerTransfers({
    db,
    grants,
    idleMs: PEER_TRANSFER_IDLE_MS,
    logger,
    onChange: () => activity.notify(),
  });
  // Followings become sync jobs when due, what peers moved here is written down, and the
  // audit and history are kept to their days; a tick is one indexed query each, plus one
  // update per transfer that moved (the retention's at most hourly).
  const audit = new AuditLog(db);
  const pruneOld = retention(
    [
      { what: 'audit rows', days: config.auditDays, drop: (before) => audit.prune(before) },
      {
        what: 'ended jobs and their transfer records',
        days: config.historyDays,
        // A transfer's row names its job: rows first, so no listed row lacks its job.
        drop: async (before) =>
          (await transfers.deleteOfEndedJobs(before.toISOString())) + (await jobs.forgetEnded(before)),
      },
      {
        what: 'records of transfers peers ran here',
        days: config.historyDays,
        drop: (b) => served.forgetEnded(b),
      },
      { what: 'nodes silent for a day', days: 1, drop: (b) => nodes.forgetSilent(b) },
      { what: 'write grants of pushes left unfinished', days: 1, drop: (b) => writeGrants.prune(b) },
    ],
    logger,
  );

  // What the TLS context is built from; later ticks catch changes made through other nodes.
  await peers.reconcile();
  const peerApi = await buildPeerApi(
    {
      clusterName: self,
      version: VERSION,
      tls,
      peers,
      replication,
      templates,
      local,
      metrics,
      limits,
      grants,
      transfers: served,
    },
    { logger },
  );
  // A start that fails from here closes what it opened: a listening port or an open pool
  // would keep a process that failed to start alive (a supervisor would never restart it).
  const giveUp =
    (...opened: { close(): Promise<unknown> }[]) =>
    async (err: unknown) => {
      for (const o of [...opened, { close: () => nodes.leave() }, db, chunks])
        await o.close().catch(() => undefined);
      throw err;
    };
  await peerApi.app.listen({ host: config.peerHost, port: config.peerPort }).catch(giveUp(peerApi.app));
  const peerUrl =
    config.advertise ??
    urlOf('https', config.peerHost, portOf(peerApi.app.server.address(), config.peerPort));
  peers.onChange(() => peerApi.refreshTrust());
  peers.onRevoke(async (p) => {
    peerApi.cut(p.certFingerprint);
    await links.revoke(p.name);
  });
  const serverData = (): ServerData => ({
    format: 'ingot-serverdata',
    version: 1,
    name: self,
    endpoint: peerUrl,
    certificate: tls.certPem,
    signingKey: identity.publicKeyPem,
    exportedAt: new Date().toISOString(),
  });
  const peering = new PeeringService({ db, peers, links, replication, local, jobs, serverData });

  const app = await buildApp(
    {
      clusterName: config.clusterName,
      version: VERSION,
      publicKeyPem: identity.publicKeyPem,
      tokens: new TokenService({
        db,
        fileToken: config.token,
        fileTokenCreatedAt: (await stat(config.paths.token)).mtime.toISOString(),
      }),
      audit,
      metricsOpen: config.metrics === 'open',
      gcGraceSeconds: config.gcGraceSeconds,
      store,
      storeTotals,
      storeGrowth: () => growth.samples(),
      activity,
      images,
      ingest,
      urlImport,
      catalog,
      jobs,
      metrics,
      peers,
      peering,
      served,
      templates,
      follows,
      bundles,
      bundleImport,
      bundleUploads,
      snapshots,
      wakeJobs: () => runner.wake(),
      nodes,
      releases,
      rolls,
      ping: async () => {
        await sql`select 1`.execute(db.kysely);
      },
    },
    { logger, https: apiTls && { key: apiTls.keyPem, cert: apiTls.certPem } },
  );
  await app.listen({ host: config.listenHost, port: config.listenPort }).catch(giveUp(app, peerApi.app));
  // Jobs run only on a node that listens.
  const runner = startJobRunner({
    queue: jobs,
    owner,
    logger,
    pollMs: 500,
    concurrency: 4,
    paused: () => nodes.draining,
    // Singleton work: a gc on each node at once is safe (tested), but one is enough.
    leaderOnly: { kinds: ['gc'], leader: () => nodes.leader },
    // Progress is written with each heartbeat: often enough for `job show` and progress bars.
    heartbeatMs: 1000,
    handlers: {
      verify: (job, ctx) =>
        verifyImage(
          { images, store, signature: (image) => keys.checkImage(image) },
          (job.payload as { image: string }).image,
          ctx.progress,
        ),
      gc: (job, ctx) =>
        collectGarbage(
          {
            catalog,
            store,
            manifests,
            roots: () => releases.chunkDigests(),
            onCompacted: (c) => countCompaction(metrics, c),
          },
          job.payload as GcOptions,
          ctx.progress,
        ),
      [TRANSFER_JOB_KIND]: transferJob({
        db,
        peers,
        links,
        local,
        limits,
        onWireBytes: (peer, direction, n) => metrics.peerBytes.inc({ peer, direction }, n),
        onRecorded: () => activity.notify(),
      }),
      [INGEST_JOB_KIND]: (job, ctx) => ingest.run(job.payload as LocalIngestRequest, ctx),
      [IMPORT_JOB_KIND]: (job, ctx) => urlImport.run(job as Job<UrlImportRequest>, ctx),
      [BUNDLE_IMPORT_JOB_KIND]: (job, ctx) => bundleImport.run(job.payload as { path: string }, ctx),
      [SYNC_JOB_KIND]: (job, ctx) => follows.run(job.payload as SyncJobPayload, ctx, job),
      [SNAPSHOT_EXPORT_JOB_KIND]: (job, ctx) => snapshots.run(job.payload as SnapshotExportRequest, ctx),
    },
    onFinished: (job, outcome) => metrics.jobsFinished.inc({ kind: job.kind, state: outcome }),
  });
  wake = () => runner.wake();
  const url = urlOf(
    apiTls ? 'https' : 'http',
    config.listenHost,
    portOf(app.server.address(), config.listenPort),
  );
  const fingerprint = apiTls?.fingerprint;
  // A local CLI finds the URL here and, with https, pins the fingerprint.
  const info = {
    url,
    peerUrl,
    pid: process.pid,
    name: config.clusterName,
    ...(fingerprint ? { fingerprint } : {}),
  };
  let stop = () => Promise.resolve();
  // Only a node that listens beats and may lead: one that failed to start never holds the lease.
  const stopScheduler = startScheduler({
    nodes,
    metrics,
    logger,
    everyNode: [
      { what: 'peer transfer tick', tick: () => served.tick() },
      { what: 'peer trust from other nodes', tick: () => peers.reconcile() },
      { what: 'store growth sample', tick: async () => growth.sample(Date.now(), storeTotals()) },
      selfUpdater({
        nodes,
        rolls,
        releases,
        paths: config.paths,
        packageRoot,
        dbUrl: config.dbUrl,
        logger,
        stop: () => stop(),
      }),
    ],
    leaderOnly: [
      { what: 'retention pass', tick: async () => pruneOld() },
      { what: 'follow scheduler tick', tick: () => follows.tick() },
      deadNodeReaping(nodes, logger),
      { what: 'roll', tick: () => rolls.drive() },
    ],
  });
  await nodes.serving(url, peerUrl);
  await writeFile(config.paths.serverInfo, `${JSON.stringify(info)}\n`, { mode: 0o600 });
  for (const warning of apiTls ? certificateWarnings(apiTls, config.listenHost) : []) {
    logger.warn({ listen: config.listenHost, fingerprint }, warning);
  }
  if (!apiTls && !isLoopback(config.listenHost)) {
    logger.warn(
      { listen: config.listenHost },
      'the REST API listens on plain http beyond this host: tokens cross the network in clear; start with --tls',
    );
  }
  logger.info(
    {
      url,
      peerUrl,
      ...(fingerprint ? { fingerprint } : {}),
      home: config.paths.home,
      db: redact(config.dbUrl),
      recovery: chunks.recovery,
      staleTemp,
      resumed,
    },
    'ingot server listening',
  );

  let stopping: Promise<void> | undefined;
  stop = () => {
    stopping ??= (async () => {
      await rm(config.paths.serverInfo, { force: true });
      await stopScheduler();
      await runner.stop({ abort: true });
      await served.tick().catch(() => undefined);
      await nodes.leave().catch((err: unknown) => logger.warn({ err }, 'node not marked stopped'));
      await links.closeAll();
      await peerApi.app.close();
      await app.close();
      await db.close();
      await chunks.close();
    })();
    return stopping;
  };
  return { url, peerUrl, fingerprint, stop };
}

/** A transfer a peer runs here that moves nothing for this long is recorded as abandoned. */
const PEER_TRANSFER_IDLE_MS = 120_000;

function portOf(address: ReturnType<import('node:net').Server['address']>, fallback: number): number {
  return typeof address === 'object' && address ? address.port : fallback;
}

function urlOf(scheme: 'http' | 'https', listenHost: string, port: number): string {
  const host = listenHost.includes(':') ? `[${listenHost}]` : listenHost;
  return `${scheme}://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`;
}

/** A job owner is `host:pid`; on this host, a pid that no longer runs is a crashed server. */
function isDeadLocalOwner(owner: string): boolean {
  const [host, pid] = owner.split(':');
  if (host !== hostname() || !pid || Number(pid) === process.pid) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
