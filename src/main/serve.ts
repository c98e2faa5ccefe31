import { rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import pino from 'pino';
import { AuditLog, TokenService } from '../access/index.js';
import { buildApp } from '../api/app.js';
import { createMetrics, jobMetrics, receiveCounter } from '../api/metrics.js';
import { buildPeerApi } from '../api/peer-app.js';
import { CatalogService } from '../catalog/catalog.service.js';
import { ImageService } from '../catalog/image.service.js';
import { loadServerConfig, type ServeOptions } from '../config/server-config.js';
import { ActivitySignal } from '../core/activity-signal.js';
import { keyId } from '../core/signatures.js';
import { BundleService } from '../federation/bundle.service.js';
import { LocalBundleImport } from '../federation/bundle-import.js';
import { BundleUploads } from '../federation/bundle-uploads.js';
import { FollowService } from '../federation/follow.service.js';
import { loadOrCreateIdentity } from '../federation/identity.js';
import type { LocalSideDeps } from '../federation/local-sides.js';
import { OriginKeys } from '../federation/origin-keys.js';
import { PeerService } from '../federation/peer.service.js';
import { PeerLinks } from '../federation/peer-links.js';
import { PeerTransfers } from '../federation/peer-transfers.js';
import { PeeringService } from '../federation/peering.service.js';
import { ReplicaService } from '../federation/replica.service.js';
import { ReplicationService } from '../federation/replication.service.js';
import type { ServerData } from '../federation/server-data.js';
import { SnapshotExport } from '../federation/snapshot-export.js';
import { TemplateService } from '../federation/template.service.js';
import { loadOrCreateTlsIdentity } from '../federation/tls-identity.js';
import { TransferGrants } from '../federation/transfer-grants.js';
import { WriteGrantRepository } from '../federation/write-grant.repository.js';
import { UrlImportService } from '../jobs/handlers/import.job.js';
import { LocalIngestService } from '../jobs/handlers/ingest.job.js';
import { JobCheckpoints } from '../jobs/job-checkpoints.js';
import { JobQueue } from '../jobs/job-queue.js';
import { startJobRunner } from '../jobs/job-runner.js';
import { ReleaseService } from '../jobs/release.service.js';
import { RollService } from '../jobs/roll.service.js';
import { StoreGrowth } from '../store/store-growth.js';
import { RateLimits } from '../transfer/rate-limit.js';
import { TransferRepository } from '../transfer/transfer.repository.js';
import { apiTlsIdentity } from './api-tls.js';
import { openCatalog } from './catalog-open.js';
import { jobHandlers, LEADER_ONLY_KINDS } from './job-handlers.js';
import { announce, portOf, urlOf } from './listening.js';
import { isDeadLocalOwner, joinAsNode, nodeIdentity } from './node-join.js';
import { serverRetention } from './retention.js';
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
  const pruneOld = serverRetention(
    {
      days: { audit: config.auditDays, history: config.historyDays },
      audit,
      transfers,
      jobs,
      served,
      nodes,
      writeGrants,
    },
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
    leaderOnly: { kinds: LEADER_ONLY_KINDS, leader: () => nodes.leader },
    // Progress is written with each heartbeat: often enough for `job show` and progress bars.
    heartbeatMs: 1000,
    handlers: jobHandlers({
      db,
      catalog,
      images,
      store,
      manifests,
      keys,
      releases,
      metrics,
      peers,
      links,
      local,
      limits,
      ingest,
      urlImport,
      bundleImport,
      follows,
      snapshots,
      onRecorded: () => activity.notify(),
    }),
    onFinished: jobMetrics(metrics),
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
  announce(logger, {
    url,
    peerUrl,
    apiTls,
    listenHost: config.listenHost,
    home: config.paths.home,
    db: config.dbUrl,
    recovery: chunks.recovery,
    staleTemp,
    resumed,
  });

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
