import { IngotError } from '../core/errors.js';
import { describeFilter, type InstantiationFilter, parseFilter } from '../core/filters.js';
import type { Db } from '../db/database.js';
import type { JobQueue } from '../jobs/job-queue.js';
import type { Job } from '../jobs/types.js';
import { type ImagePlan, planTransfers } from '../transfer/image-transfer.js';
import { type TransferRecord, TransferRepository } from '../transfer/transfer.repository.js';
import { type LocalSideDeps, localSink, localSource, ownImages } from './local-sides.js';
import type { PeerService } from './peer.service.js';
import type { PeerLinks } from './peer-links.js';
import type { ReplicationService } from './replication.service.js';
import type { ServerData } from './server-data.js';
import type { PeerRecord } from './types.js';

/**
 * What an administrator does about peers, run on this server: export its own server
 * data, register and unregister peers, and, as the receiving side, ask a peer to push
 * (instantiate) or pull one image. Dry runs fetch the manifests and ask this server's
 * store what it lacks, so they report exact bytes and move nothing.
 */
export interface PeerView {
  /** The name it is registered under here. */
  name: string;
  /** The cluster name it calls itself (several servers may share one). */
  clusterName: string;
  /** SHA-256 (hex) of its signing key: what identifies it. */
  keyId: string;
  endpoint: string;
  fingerprint: string;
  maxRate: number | null;
  allowUploads: boolean;
  registeredAt: string;
  lastContactAt: string | null;
  /** Set when probed: whether a mutual-TLS hello succeeded just now. */
  reachable?: boolean;
  error?: string;
  /**
   * The error's code when not reachable: UNAVAILABLE, PEER_UNTRUSTED when trust is broken,
   * CERTIFICATE_NOT_VALID when a certificate is outside its dates.
   */
  errorCode?: string;
  /** What this peer asked this server to push it (stored here, on the sending end). */
  pushesTo: string[];
  /** What this server asked this peer to push here (its standing instantiations there). */
  pushesHere: string[];
}

export interface Plan {
  images: ImagePlan[];
  bytesMissing: number;
  chunksMissing: number;
}

export interface TransferView extends TransferRecord {
  state: string;
  attempts: number;
  maxAttempts: number;
  error: string | null;
  /** Bytes per second over the current attempt, from its wire bytes. */
  rate: number | null;
  createdAt: string;
}

export class PeeringService {
  constructor(
    private readonly deps: {
      readonly db: Db;
      readonly peers: PeerService;
      readonly links: PeerLinks;
      readonly replication: ReplicationService;
      readonly local: LocalSideDeps;
      readonly jobs: JobQueue;
      readonly serverData: () => ServerData;
    },
  ) {}

  serverData(): ServerData {
    return this.deps.serverData();
  }

  async register(
    name: string,
    serverData: unknown,
    opts: { maxRate?: number | null; as?: string | undefined } = {},
  ): Promise<PeerView> {
    return this.view(await this.deps.peers.register(name, serverData, opts));
  }

  async unregister(name: string): Promise<PeerView> {
    const view = await this.view(await this.deps.peers.get(name));
    await this.deps.peers.unregister(name);
    await this.deps.links.revoke(name);
    return view;
  }

  async modify(name: string, change: { maxRate?: number | null; allowUploads?: boolean }): Promise<PeerView> {
    if (change.maxRate !== undefined) await this.deps.peers.setMaxRate(name, change.maxRate);
    if (change.allowUploads !== undefined) await this.deps.peers.setAllowUploads(name, change.allowUploads);
    return this.view(await this.deps.peers.get(name));
  }

  async list(probe: boolean): Promise<PeerView[]> {
    const peers = await this.deps.peers.list();
    return Promise.all(peers.map((p) => this.view(p, probe)));
  }

  async show(name: string, probe: boolean): Promise<PeerView> {
    return this.view(await this.deps.peers.get(name), probe);
  }

  /** Asks the peer to push us what matches; a dry run lists it with the bytes we lack. */
  async instantiate(peerName: string, input: Record<string, unknown>, dryRun: boolean) {
    const filter = parseFilter(input);
    const peer = await this.deps.peers.get(peerName);
    const client = this.deps.links.client(peer);
    if (dryRun) {
      const offered = await client.offered(filter);
      return {
        filter: describeFilter(filter),
        dryRun: true,
        ...(await this.plan(
          peer,
          offered.map((o) => o.name),
          filter,
        )),
      };
    }
    // Recorded first: the peer starts pushing as soon as it has the request, and a push
    // is taken as asked for only while a request stands here. A refused call takes back
    // what it recorded (a request that stood already stays), so nothing is left behind.
    const described = describeFilter(filter);
    const recorded = await this.deps.peers.subscribe(peer.name, described);
    let r: Awaited<ReturnType<typeof client.instantiate>>;
    try {
      r = await client.instantiate(filter);
    } catch (err) {
      if (recorded) await this.deps.peers.unsubscribe(peer.name, described);
      throw err;
    }
    await this.deps.peers.touch(peer.name);
    return { filter: described, dryRun: false, created: r.created, images: r.images };
  }

  async uninstantiate(peerName: string, input: Record<string, unknown>) {
    const filter: InstantiationFilter = parseFilter(input);
    const peer = await this.deps.peers.get(peerName);
    const r = await this.deps.links.client(peer).uninstantiate(filter);
    await this.deps.peers.unsubscribe(peer.name, describeFilter(filter));
    return { filter: describeFilter(filter), removed: r.removed };
  }

  async pull(
    peerName: string,
    image: string,
    dryRun: boolean,
  ): Promise<{ plan: Plan } | { job: Job; existing: boolean }> {
    const peer = await this.deps.peers.get(peerName);
    if (dryRun) return { plan: await this.plan(peer, [image]) };
    // Fail now, not in a job, when the peer does not offer it or we would refuse it.
    const client = this.deps.links.client(peer);
    const offer = await client.source().offer(image);
    await localSink(this.deps.local, peer).prepare(offer);
    return this.deps.replication.enqueue({ direction: 'pull', peer: peer.name, image, state: offer.state });
  }

  /** Uploads one of this server's own images to a peer (a follower's upload to its HQ). */
  async push(peerName: string, image: string): Promise<{ job: Job; existing: boolean }> {
    const peer = await this.deps.peers.get(peerName);
    const img = await this.deps.local.catalog.getImage(image);
    const source = localSource(this.deps.local, ownImages(this.deps.local.keys, [img.state]), peer.name);
    // Fail now, not in a job: ours to send, and the peer takes it.
    const offer = await source.offer(image);
    await this.deps.links.client(peer).sink().prepare(offer);
    return this.deps.replication.enqueue({ direction: 'push', peer: peer.name, image, state: img.state });
  }

  async transfers(filter: { peer?: string; limit?: number }): Promise<TransferView[]> {
    const rows = await new TransferRepository(this.deps.db.kysely).list(filter);
    return Promise.all(rows.map((r) => this.transferView(r)));
  }

  async transfer(id: number): Promise<TransferView> {
    const job = await this.deps.jobs.get(id);
    const row = await new TransferRepository(this.deps.db.kysely).get(job.id);
    if (!row)
      throw new IngotError('NOT_FOUND', `job ${id} is not a transfer`, { hint: 'see `ingot transfers`' });
    return this.transferView(row);
  }

  /** With `filter`, as an instantiation by it would push them; else as a pull. */
  private async plan(
    peer: PeerRecord,
    names: readonly string[],
    filter?: InstantiationFilter,
  ): Promise<Plan> {
    const client = this.deps.links.client(peer);
    return planTransfers(client.source(filter), localSink(this.deps.local, peer), names);
  }

  private async transferView(r: TransferRecord): Promise<TransferView> {
    const job = await this.deps.jobs.get(r.jobId);
    const started = r.startedAt ? Date.parse(r.startedAt) : Number.NaN;
    const ended = Date.parse(r.updatedAt);
    const seconds = (ended - started) / 1000;
    return {
      ...r,
      state: job.state,
      attempts: job.attempts,
      maxAttempts: job.maxAttempts,
      error: job.error ? errorMessage(job.error) : null,
      rate: Number.isFinite(seconds) && seconds > 0 ? Math.round(r.wireBytes / seconds) : null,
      createdAt: job.createdAt,
    };
  }

  private async view(p: PeerRecord, probe = false): Promise<PeerView> {
    const pushesTo = (await this.deps.replication.instantiations(p.name)).map((i) =>
      describeFilter(i.filter),
    );
    const view: PeerView = {
      name: p.name,
      clusterName: p.clusterName,
      keyId: p.signingKeyId,
      endpoint: p.endpoint,
      fingerprint: p.certFingerprint,
      maxRate: p.maxRate,
      allowUploads: p.allowUploads,
      registeredAt: p.registeredAt,
      lastContactAt: p.lastContactAt,
      pushesTo,
      pushesHere: await this.deps.peers.subscriptions(p.name),
    };
    if (!probe) return view;
    try {
      await this.deps.links.client(p).hello();
      await this.deps.peers.touch(p.name);
      return { ...view, reachable: true, lastContactAt: (await this.deps.peers.get(p.name)).lastContactAt };
    } catch (err) {
      const code = err instanceof IngotError ? err.code : 'INTERNAL';
      return { ...view, reachable: false, error: (err as Error).message, errorCode: code };
    }
  }
}

/** A job's error is the JSON of an error body; show it as "CODE: message". */
function errorMessage(stored: string): string {
  try {
    const body = JSON.parse(stored) as { code?: string; message?: string };
    return body.message ? `${body.code ?? 'ERROR'}: ${body.message}` : stored;
  } catch {
    return stored;
  }
}
