import type { FastifyBaseLogger } from 'fastify';
import type { Digest } from '../core/manifest.js';
import type { Db } from '../db/database.js';
import { NO_PROGRESS, type TransferProgress } from '../transfer/image-sides.js';
import {
  type PeerTransferDirection,
  type PeerTransferRecord,
  PeerTransferRepository,
} from '../transfer/peer-transfer.repository.js';
import type { MovingChunk } from '../transfer/ports.js';
import type { GrantedImage, TransferGrants } from './transfer-grants.js';

/**
 * The record of a transfer a peer runs with this server, kept by this (passive) side as the
 * peer API sees it go: `in`, a peer pushing here (replicas/check, chunk uploads, the commit);
 * `out`, a peer pulling from here (the offer, chunk fetches, the puller's word that it is
 * done). Figures are counted in memory as chunks pass, the same way the dialling side
 * counts them (image-transfer.ts: data chunks only, the manifest's parts on the wire
 * alone), and written by `tick` (once a second, from the server's scheduler), one
 * update per transfer that moved: the data path makes no catalog write of its own.
 *
 * A transfer whose other side stops talking is not left running for ever: `tick` drops
 * what has not moved for `idleMs` and marks running rows idle as long `abandoned`, in
 * one query, whichever node or process wrote them (a killed server's rows too).
 *
 * A pull's row is written only once a data chunk has been served, or when the puller says
 * it created the image: a dry run fetches an offer and the manifest's parts too, and is no
 * transfer. A push's row starts with a checked offer that the receiver needs.
 */
const MAX_ENTRIES = 4096;

interface Entry {
  readonly direction: PeerTransferDirection;
  readonly peer: string;
  readonly image: string;
  readonly digest: Digest;
  readonly progress: TransferProgress;
  /** Its row, once written. */
  id: number | undefined;
  /** A row is due (in: from the start; out: once data moved). */
  visible: boolean;
  dirty: boolean;
  lastAt: number;
  /** Writes of this entry, one after another. */
  writing: Promise<unknown>;
}

export interface PeerTransfersDeps {
  readonly db: Db;
  readonly grants: TransferGrants;
  /** Without progress for this long, a transfer is abandoned. */
  readonly idleMs: number;
  readonly now?: () => number;
  readonly logger?: FastifyBaseLogger;
  /** Called after the records were written (the events stream listens). */
  readonly onChange?: () => void;
}

export type PeerTransferEnd =
  | { state: 'done'; outcome: 'created' | 'present'; bytesPresent?: number }
  | { state: 'failed'; error: string };

/** A served transfer as the API shows it: its record and its rate on the wire. */
export interface ServedTransferView extends PeerTransferRecord {
  /** Bytes per second on the wire from its start to its last progress; null before any. */
  readonly rate: number | null;
}

export class PeerTransfers {
  private readonly entries = new Map<string, Entry>();
  private readonly repo: PeerTransferRepository;
  private readonly now: () => number;

  constructor(private readonly deps: PeerTransfersDeps) {
    this.repo = new PeerTransferRepository(deps.db.kysely);
    this.now = deps.now ?? Date.now;
  }

  /** Newest first; running rows carry the figures of the last tick (a second old at most). */
  async list(
    filter: { peer?: string; direction?: PeerTransferDirection; limit?: number } = {},
  ): Promise<ServedTransferView[]> {
    return (await this.repo.list(filter)).map((r) => {
      const seconds = (Date.parse(r.updatedAt) - Date.parse(r.startedAt)) / 1000;
      return { ...r, rate: seconds > 0 && r.wireBytes > 0 ? Math.round(r.wireBytes / seconds) : null };
    });
  }

  /** Forgets the transfers that ended before `before` (history retention); how many. */
  forgetEnded(before: Date): Promise<number> {
    return this.repo.deleteEnded(before.toISOString());
  }

  /** A push checked and needed (in), or an image offered to a puller (out). */
  begin(peer: string, direction: PeerTransferDirection, image: { name: string; digest: Digest }): void {
    const key = keyOf(peer, direction, image.digest);
    const held = this.entries.get(key);
    if (held) {
      held.lastAt = this.now();
      return;
    }
    if (this.entries.size >= MAX_ENTRIES) this.evictOldest();
    this.entries.set(key, {
      direction,
      peer,
      image: image.name,
      digest: image.digest,
      progress: { ...NO_PROGRESS },
      id: undefined,
      visible: direction === 'in',
      dirty: true,
      lastAt: this.now(),
      writing: Promise.resolve(),
    });
  }

  /** A pusher's have/want question: the data chunks not wanted are already here. */
  asked(peer: string, image: Digest, asked: readonly Digest[], missing: readonly Digest[]): void {
    const e = this.entries.get(keyOf(peer, 'in', image));
    if (!e) return;
    const granted = this.granted(e);
    const wanted = new Set(missing);
    for (const d of asked) {
      if (wanted.has(d) || granted?.isPart(d)) continue;
      const n = granted?.lengthOf(d) ?? 0;
      e.progress.bytesPresent += n;
      e.progress.bytesDone += n;
    }
    this.touched(e);
  }

  /**
   * A counter for the chunks of one stream (uploaded here, or served) as they pass, called
   * once per chunk with its bytes on the wire; undefined when no such transfer is known.
   * Synchronous, fed by the stream's existing per-chunk step (the rate limiter), so counting
   * adds no async generator hop per chunk to the data path.
   */
  counter(
    peer: string,
    direction: PeerTransferDirection,
    image: Digest | undefined,
  ): ((c: MovingChunk, wireBytes: number) => void) | undefined {
    const e = image === undefined ? undefined : this.entries.get(keyOf(peer, direction, image));
    if (!e) return undefined;
    const granted = this.granted(e);
    return (c, wireBytes) => {
      const p = e.progress;
      p.wireBytes += wireBytes;
      if (!granted?.isPart(c.digest)) {
        p.chunksSent++;
        p.bytesDone += c.rawLength;
        if (c.encoded.encoding === 'delta') p.chunksDelta++;
        e.visible = true;
      }
      this.touched(e);
    };
  }

  /** Chunks sent here that were not stored (a delta refused, a chunk damaged): not settled. */
  unsettled(peer: string, image: Digest | undefined, digests: readonly Digest[]): void {
    const e = image === undefined ? undefined : this.entries.get(keyOf(peer, 'in', image));
    if (!e || digests.length === 0) return;
    const granted = this.granted(e);
    for (const d of digests) if (!granted?.isPart(d)) e.progress.bytesDone -= granted?.lengthOf(d) ?? 0;
    this.touched(e);
  }

  /** The transfer ended: a push committed or refused here, or the puller said it is done. */
  async finish(
    peer: string,
    direction: PeerTransferDirection,
    image: Digest,
    end: PeerTransferEnd,
  ): Promise<void> {
    const key = keyOf(peer, direction, image);
    const e = this.entries.get(key);
    if (!e) return this.finishedElsewhere(peer, direction, image, end);
    this.entries.delete(key);
    this.fillTotals(e);
    if (end.state === 'done') {
      e.progress.bytesDone = e.progress.bytesTotal;
      if (end.bytesPresent !== undefined) {
        e.progress.bytesPresent = Math.min(Math.max(0, end.bytesPresent), e.progress.bytesTotal);
      }
      if (end.outcome === 'created') e.visible = true;
    }
    // A pull that moved no data and made nothing (the puller held it) leaves no row.
    if (!e.visible) return;
    await this.write(e, async () => {
      const at = iso(this.now());
      e.id ??= await this.repo.create(e, e.progress, iso(e.lastAt));
      await this.repo.finish(
        e.id,
        e.progress,
        end.state === 'done' ? { state: 'done', outcome: end.outcome } : end,
        at,
      );
    });
    this.deps.onChange?.();
  }

  /** Behind a balancer the node that began a transfer is not always the one its end reaches. */
  private async finishedElsewhere(
    peer: string,
    direction: PeerTransferDirection,
    image: Digest,
    end: PeerTransferEnd,
  ): Promise<void> {
    const ended = end.state === 'done' ? { state: end.state, outcome: end.outcome } : end;
    const n = await this.repo.finishRunning({ direction, peer, digest: image }, ended, iso(this.now()));
    if (n > 0) this.deps.onChange?.();
  }

  /**
   * Writes what moved since the last tick, forgets transfers idle past the bound, and marks
   * running rows idle past it abandoned.
   */
  async tick(): Promise<void> {
    const now = this.now();
    const writes: Promise<unknown>[] = [];
    for (const [key, e] of this.entries) {
      // Its last figures are written still; the query below then finds it idle.
      if (now - e.lastAt > this.deps.idleMs) this.entries.delete(key);
      if (!e.dirty || !e.visible) continue;
      e.dirty = false;
      this.fillTotals(e);
      const figures = { ...e.progress };
      writes.push(
        this.write(e, async () => {
          if (e.id === undefined) e.id = await this.repo.create(e, figures, iso(e.lastAt));
          else await this.repo.progress(e.id, figures, iso(e.lastAt));
        }),
      );
    }
    await Promise.all(writes);
    const abandoned = await this.repo.abandon(iso(now - this.deps.idleMs));
    if (writes.length > 0 || abandoned > 0) this.deps.onChange?.();
  }

  private write(e: Entry, fn: () => Promise<void>): Promise<void> {
    const next = e.writing.then(fn);
    e.writing = next.catch((err: unknown) =>
      this.deps.logger?.error({ err, peer: e.peer, image: e.image }, 'peer transfer record not written'),
    );
    return e.writing as Promise<void>;
  }

  private granted(e: Entry): GrantedImage | undefined {
    return this.deps.grants.image(e.peer, e.direction === 'in' ? 'write' : 'read', e.digest);
  }

  /** The image's data totals, once its grant knows them (a push's once its parts are here). */
  private fillTotals(e: Entry): void {
    if (e.progress.chunksTotal > 0) return;
    const data = this.granted(e)?.data;
    if (!data) return;
    e.progress.chunksTotal = data.chunks;
    e.progress.bytesTotal = data.bytes;
  }

  private touched(e: Entry): void {
    e.dirty = true;
    e.lastAt = this.now();
  }

  private evictOldest(): void {
    let oldest: [string, Entry] | undefined;
    for (const entry of this.entries) if (!oldest || entry[1].lastAt < oldest[1].lastAt) oldest = entry;
    if (oldest) this.entries.delete(oldest[0]);
  }
}

function keyOf(peer: string, direction: PeerTransferDirection, digest: string): string {
  return `${peer}\n${direction}\n${digest}`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
