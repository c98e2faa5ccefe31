import type { FastifyBaseLogger } from 'fastify';
import type { CatalogService } from '../catalog/catalog.service.js';
import type { ImageRecord } from '../catalog/types.js';
import { type Clock, systemClock } from '../core/clock.js';
import { filterMatches, type ImageFacts, type InstantiationFilter } from '../core/filters.js';
import type { Db } from '../db/database.js';
import type { JobQueue } from '../jobs/job-queue.js';
import type { Job } from '../jobs/types.js';
import { type TransferDirection, TransferRepository } from '../transfer/transfer.repository.js';
import { PeerRepository } from './peer.repository.js';
import type { PeerService } from './peer.service.js';
import type { InstantiationRecord } from './types.js';

/** What a push or pull job carries; `state` is the state the pushed image had to be in. */
export interface TransferJobPayload {
  readonly direction: TransferDirection;
  readonly peer: string;
  readonly image: string;
  readonly state: string;
}

export const TRANSFER_JOB_KIND = 'transfer';
/** Attempts per transfer; retries back off 1 s, 2 s, 4 s, ... */
const TRANSFER_ATTEMPTS = 5;

/**
 * The origin's side of instantiation: a peer's standing request that this server push it
 * its own images matching a filter. Asking pushes every match there is now; afterwards each
 * catalog change (a new image, a state change, a series insert) is checked against every
 * standing request and becomes a push job when it matches.
 */
export class ReplicationService {
  constructor(
    private readonly deps: {
      readonly self: string;
      /** This server's key id: its own images are those whose origin has it. */
      readonly selfKeyId: string;
      readonly db: Db;
      readonly catalog: CatalogService;
      readonly peers: PeerService;
      readonly jobs: JobQueue;
      readonly wake: () => void;
      readonly logger?: FastifyBaseLogger;
      readonly clock?: Clock;
    },
  ) {}

  /** This server's images a peer would receive under `filter`, oldest first. */
  async matching(filter: InstantiationFilter): Promise<ImageRecord[]> {
    const own = await this.deps.catalog.listImages({ originKeyId: this.deps.selfKeyId, state: filter.state });
    const out: ImageRecord[] = [];
    for (const image of own)
      if (filterMatches(filter, this.deps.selfKeyId, await this.facts(image))) out.push(image);
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name));
  }

  /** Whether `matching(filter)` would list `image`: one image's facts, not the list's. */
  async matches(filter: InstantiationFilter, image: ImageRecord): Promise<boolean> {
    return filterMatches(filter, this.deps.selfKeyId, await this.facts(image));
  }

  async instantiate(
    peerName: string,
    filter: InstantiationFilter,
  ): Promise<{ created: boolean; images: ImageRecord[] }> {
    const peer = await this.deps.peers.get(peerName);
    const created = await this.repo.addInstantiation(peer.name, filter, this.now());
    const images = await this.matching(filter);
    for (const image of images)
      await this.enqueue({ direction: 'push', peer: peer.name, image: image.name, state: image.state });
    return { created, images };
  }

  async uninstantiate(peerName: string, filter: InstantiationFilter): Promise<boolean> {
    const peer = await this.deps.peers.get(peerName);
    return this.repo.removeInstantiation(peer.name, filter);
  }

  instantiations(peer?: string): Promise<InstantiationRecord[]> {
    return this.repo.instantiations(peer);
  }

  /** Catalog listener: errors are logged, never thrown back into the change that fired it. */
  imageChanged(name: string): void {
    this.pushIfWanted(name).catch((err: unknown) =>
      this.deps.logger?.error({ err, image: name }, 'could not check instantiations for an image'),
    );
  }

  private async pushIfWanted(name: string): Promise<void> {
    const standing = await this.repo.instantiations();
    if (standing.length === 0) return;
    const image = await this.deps.catalog.findImage(name);
    if (!image) return;
    const facts = await this.facts(image);
    const peers = new Set<string>();
    for (const i of standing) if (filterMatches(i.filter, this.deps.selfKeyId, facts)) peers.add(i.peerName);
    for (const peer of peers)
      await this.enqueue({ direction: 'push', peer, image: name, state: image.state });
  }

  /** One job per direction, peer and image while one is queued or running. */
  async enqueue(payload: TransferJobPayload): Promise<{ job: Job; existing: boolean }> {
    const transfers = new TransferRepository(this.deps.db.kysely);
    const active = await transfers.active(payload.direction, payload.peer, payload.image);
    if (active !== undefined) return { job: await this.deps.jobs.get(active), existing: true };
    const job = await this.deps.jobs.enqueue(TRANSFER_JOB_KIND, payload, { maxAttempts: TRANSFER_ATTEMPTS });
    await transfers.create(job.id, payload.direction, payload.peer, payload.image, this.now());
    this.deps.wake();
    return { job, existing: false };
  }

  private async facts(image: ImageRecord): Promise<ImageFacts> {
    const lineage = await this.deps.catalog.lineage(image.name);
    return {
      name: image.name,
      originKeyId: image.originKeyId,
      imageType: image.imageType,
      state: image.state,
      private: image.private,
      ancestors: lineage.ancestors.map((a) => a.name),
      series: await this.deps.catalog.seriesOfImage(image.name),
    };
  }

  private get repo(): PeerRepository {
    return new PeerRepository(this.deps.db.kysely);
  }

  private now(): string {
    return (this.deps.clock ?? systemClock).now().toISOString();
  }
}
