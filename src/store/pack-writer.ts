import { type FileHandle, open } from 'node:fs/promises';
import { IngotError } from '../core/errors.js';
import { requireFreeSpace } from './disk-space.js';
import { encodeRecordHeader, encodingCode, PACK_HEADER_SIZE, recordSize } from './pack-file.js';
import { createPackFile, takePackFile, writeFailure, writeSlices } from './pack-file-io.js';
import { type ChunkRow, digestKey, type PackIndex, type RecordLocation } from './pack-index.js';
import { AsyncMutex } from './pack-lock.js';
import type { StorePaths } from './paths.js';

/**
 * The append side of the pack store: the one open pack, group commit, durable appends,
 * sealing and starting packs. Every append (new chunks, and compaction's copies) runs
 * under one mutex, so records are written back to back at the pack's committed end.
 */

/** A pack is sealed once a batch would take it past this size. */
export const MAX_PACK_BYTES = 256 * 2 ** 20;
/** Group commit: at most about this many bytes of queued batches per write. */
const GROUP_BYTES = 64 * 2 ** 20;
/** Room kept beside a group's records for its index rows (the WAL grows with them). */
const INDEX_HEADROOM = 2 ** 20;

/** A chunk that has been verified against its digest. */
import type { WriteItem } from './chunk-puts.js';

export type { WriteItem };

export interface AppendResult {
  /** Items this call wrote. */
  readonly stored: number;
  /** Items already indexed, or written by an earlier request of the same group. */
  readonly present: number;
  /** Payload bytes this call wrote. */
  readonly bytes: number;
}

interface AppendRequest {
  readonly items: readonly WriteItem[];
  /** Called once the request's records are written (the caller's buffers are free again). */
  readonly onWritten: (() => void) | undefined;
  /** Settled when its records are durable and indexed, or have failed. */
  readonly durable: PromiseWithResolvers<AppendResult>;
  outcome?: AppendResult;
}

interface OpenPack {
  readonly id: number;
  readonly fh: FileHandle;
  /** Where the next record goes: the committed end plus what is written and not yet indexed. */
  size: number;
}

/**
 * Records written but not yet durable: indexed once an fdatasync begun after them returns.
 * Without a pack, requests whose records other requests wrote (they settle with those).
 */
interface Unsynced {
  readonly pack: OpenPack | undefined;
  readonly end: number;
  readonly rows: readonly RecordLocation[];
  readonly requests: readonly AppendRequest[];
  readonly now: number;
}

export class PackWriter {
  private current: OpenPack | undefined;
  private nextId: number;
  private closed = false;
  private readonly lock = new AsyncMutex();
  /** Append requests not yet written, in arrival order (see `append`). */
  private readonly pending: AppendRequest[] = [];
  /** Written, waiting for the next fdatasync, in write order. */
  private unsynced: Unsynced[] = [];
  /** Digests (hex) written but not yet indexed: a second copy is not written. */
  private readonly unindexed = new Set<string>();
  /** The fdatasync in progress and the index commit after it, if any. */
  private syncing: Promise<void> | undefined;
  /** Set when an fdatasync failed: what reached the disk is unknown until the store reopens. */
  private broken: unknown;

  private readonly maxPackBytes: number;
  private readonly touchResolutionMs: number;
  private readonly now: () => number;

  constructor(
    private readonly paths: StorePaths,
    private readonly index: PackIndex,
    opts: { maxPackBytes: number; touchResolutionMs: number; now: () => number },
  ) {
    this.maxPackBytes = opts.maxPackBytes;
    this.touchResolutionMs = opts.touchResolutionMs;
    this.now = opts.now;
    this.nextId = Math.max(0, ...index.packs().map((p) => p.id)) + 1;
  }

  /** Runs `fn` with no append in progress and every written record durable and indexed. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(async () => {
      await this.drain();
      return fn();
    });
  }

  /** Waits for appends in flight, makes them durable and closes the open pack; later appends fail. */
  close(): Promise<void> {
    return this.lock.run(async () => {
      await this.drain().catch(() => {});
      this.closed = true;
      await this.current?.fh.close();
      this.current = undefined;
    });
  }

  /**
   * Appends verified, distinct items that are not yet indexed; touches the others.
   * Group commit: whoever holds the append lock writes every request queued so far (up to
   * GROUP_BYTES) and releases the lock without waiting for the disk; fdatasync runs beside
   * the next writes, one at a time, each covering everything written before it began, and
   * the index commit after it is the commit point (§8.2). `onWritten` is called once the
   * items are written, so the caller may reuse their buffers and send more; the promise
   * settles once they are durable and indexed (the acknowledged durable point).
   */
  append(items: readonly WriteItem[], onWritten?: () => void): Promise<AppendResult> {
    if (items.length === 0) {
      onWritten?.();
      return Promise.resolve({ stored: 0, present: 0, bytes: 0 });
    }
    const req: AppendRequest = { items, onWritten, durable: Promise.withResolvers() };
    this.pending.push(req);
    void this.lock
      .run(async () => {
        // Already written in the group of a request that held the lock before this one.
        if (!this.pending.includes(req)) return;
        let take = 0;
        let bytes = 0;
        while (take < this.pending.length && (take === 0 || bytes < GROUP_BYTES)) {
          for (const i of (this.pending[take] as AppendRequest).items)
            bytes += recordSize(i.chunk.payload.length);
          take++;
        }
        const group = this.pending.splice(0, take);
        try {
          await this.writeGroup(group);
        } catch (error) {
          for (const r of group) r.durable.reject(error);
        }
        for (const r of group) r.onWritten?.();
      })
      .then(() => this.syncSoon());
    return req.durable.promise;
  }

  /**
   * Writes a group's new chunks at the open pack's end and queues them for the next
   * fdatasync. A request that wrote nothing new is settled at once unless it counted on
   * records another request wrote that are not durable yet.
   */
  private async writeGroup(group: readonly AppendRequest[]): Promise<void> {
    this.assertOpen();
    const now = this.now();
    const digests = group.flatMap((r) => r.items.map((i) => i.digest));
    const present = this.index.touch(digests, now, now - this.touchResolutionMs);
    const written = new Set<string>();
    let waitsOnOthers = false;
    const buffers: Buffer[] = [];
    const rows: RecordLocation[] = [];
    let total = 0;
    for (const r of group) {
      for (const { digest, chunk, rawLength } of r.items) {
        if (present.has(digest) || written.has(digest)) continue;
        if (this.unindexed.has(digest)) {
          waitsOnOthers = true;
          continue;
        }
        written.add(digest);
        const key = digestKey(digest);
        const encoding = encodingCode(chunk.encoding);
        const length = chunk.payload.length;
        buffers.push(
          encodeRecordHeader({ digest: key, encoding, rawLength, payloadLength: length }),
          chunk.payload,
        );
        rows.push({ digest: key, offset: total, length, rawLength, encoding });
        total += recordSize(length);
      }
    }
    this.settleGroup(group, written);
    if (rows.length === 0) {
      if (!waitsOnOthers) for (const r of group) r.durable.resolve(r.outcome as AppendResult);
      else this.unsynced.push({ pack: undefined, end: 0, rows, requests: group, now });
      return;
    }
    // Refused before a byte is written when the file system cannot take the group (and
    // its index rows): a full disk is DISK_FULL with the numbers, never a torn append.
    await requireFreeSpace(this.paths.packsDir, total + INDEX_HEADROOM, `storing ${rows.length} chunks`);
    const pack = await this.writablePack(total);
    const start = pack.size;
    await this.writeAt(pack, buffers, start, start + total);
    pack.size = start + total;
    for (const d of written) this.unindexed.add(d);
    const located = rows.map((r) => ({ ...r, offset: start + r.offset }));
    this.unsynced.push({ pack, end: pack.size, rows: located, requests: group, now });
  }

  /** Starts an fdatasync for what is written, unless one is running (it starts the next). */
  private syncSoon(): void {
    if (this.syncing || this.unsynced.length === 0) return;
    const batch = this.unsynced;
    this.unsynced = [];
    this.syncing = this.syncBatch(batch).finally(() => {
      this.syncing = undefined;
      this.syncSoon();
    });
  }

  /** Makes a batch durable, then indexes it in write order and settles its requests. */
  private async syncBatch(batch: readonly Unsynced[]): Promise<void> {
    try {
      if (this.broken !== undefined) throw this.broken;
      for (const pack of new Set(batch.map((u) => u.pack))) await pack?.fh.datasync();
      for (const u of batch) if (u.pack) this.index.commit(u.pack.id, u.end, u.rows, u.now);
    } catch (cause) {
      // Unknown what reached the disk: refuse appends until the store reopens (§8.5 then
      // re-verifies every record past the committed end).
      this.broken ??= new IngotError('INTERNAL', 'could not make pack writes durable', { cause });
      for (const u of batch) for (const r of u.requests) r.durable.reject(this.broken);
      return;
    } finally {
      for (const u of batch) for (const r of u.rows) this.unindexed.delete(r.digest.toString('hex'));
    }
    for (const u of batch) for (const r of u.requests) r.durable.resolve(r.outcome as AppendResult);
  }

  /** Until nothing written waits for the disk (callers hold the append lock). */
  private async drain(): Promise<void> {
    for (;;) {
      if (this.syncing) await this.syncing;
      else if (this.unsynced.length > 0) this.syncSoon();
      else break;
    }
    if (this.broken !== undefined) throw this.broken;
  }

  /** Each request's share: a digest counts as stored for the first request that wrote it. */
  private settleGroup(group: readonly AppendRequest[], written: ReadonlySet<string>): void {
    const unclaimed = new Set(written);
    for (const r of group) {
      let stored = 0;
      let bytes = 0;
      for (const i of r.items) {
        if (!unclaimed.delete(i.digest)) continue;
        stored++;
        bytes += i.chunk.payload.length;
      }
      r.outcome = { stored, present: r.items.length - stored, bytes };
    }
  }

  /**
   * Writes `buffers` at `pos` (pack-file-io.ts); on failure the tail is cut off again
   * (fdatasynced), or the pack is sealed when even that fails.
   */
  private async writeAt(pack: OpenPack, buffers: Buffer[], pos: number, end: number): Promise<void> {
    try {
      const reached = await writeSlices(pack.fh, buffers, pos);
      if (reached !== end) throw new Error(`wrote up to ${reached}, expected ${end}`);
    } catch (cause) {
      await this.cutTail(pack);
      throw await writeFailure(cause, this.paths.pack(pack.id), pack.id, end - pos);
    }
  }

  /** Back to the pack's written end after a failed write; sealed when that fails too. */
  private async cutTail(pack: OpenPack): Promise<void> {
    try {
      await pack.fh.truncate(pack.size);
      await pack.fh.datasync();
    } catch {
      // The pack's tail is in an unknown state: stop appending to it. Recovery at the
      // next open does not look at sealed packs; the tail is dead bytes for compaction.
      await this.drain().catch(() => {});
      this.index.sealPack(pack.id);
      this.current = undefined;
      await pack.fh.close().catch(() => {});
    }
  }

  /** For compaction's copies: written and fdatasynced before the caller moves rows. */
  private async appendDurably(pack: OpenPack, buffers: Buffer[], end: number): Promise<void> {
    await this.writeAt(pack, buffers, pack.size, end);
    try {
      await pack.fh.datasync();
    } catch (cause) {
      await this.cutTail(pack);
      throw await writeFailure(cause, this.paths.pack(pack.id), pack.id);
    }
  }

  /** The open pack with room for `bytes` more, sealing the current one when full. */
  private async writablePack(bytes: number): Promise<OpenPack> {
    const cur = this.current;
    if (cur && (cur.size === PACK_HEADER_SIZE || cur.size + bytes <= this.maxPackBytes)) return cur;
    if (cur) {
      // A sealed pack's records are all indexed (§8.5 does not scan sealed packs).
      await this.drain();
      this.index.sealPack(cur.id);
      this.current = undefined;
      await cur.fh.close();
    }
    this.current = await this.createPack();
    return this.current;
  }

  /** Row first (durably), then the file with its header, fsynced with its directory. */
  private async createPack(): Promise<OpenPack> {
    const id = this.nextId++;
    this.index.addPack(id, PACK_HEADER_SIZE);
    try {
      const fh = await createPackFile(this.paths.pack(id), this.paths.packsDir, id);
      return { id, fh, size: PACK_HEADER_SIZE };
    } catch (err) {
      this.index.dropPack(id);
      throw err;
    }
  }

  /**
   * Takes a complete pack file another store wrote (a bundle import's staging store, closed)
   * as a new sealed pack of this one: a fresh id in its header, renamed into packs-v1/ (the
   * same file system), its records indexed where their digests are not held yet (the others
   * stay dead bytes for compaction). Row first, as for a new pack: a crash before the index
   * commit leaves an unsealed pack longer than its row, whose verified records recovery
   * indexes (§8.6), as unreferenced chunks for gc. Returns the rows inserted.
   */
  adopt(file: string, size: number, records: readonly RecordLocation[]): Promise<number> {
    return this.lock.run(async () => {
      this.assertOpen();
      const id = this.nextId++;
      this.index.addPack(id, PACK_HEADER_SIZE);
      try {
        await takePackFile(file, this.paths.pack(id), this.paths.packsDir, id);
      } catch (err) {
        this.index.dropPack(id);
        throw err;
      }
      const inserted = this.index.commit(id, size, records, this.now());
      this.index.sealPack(id);
      return inserted;
    });
  }

  /** After recovery: the newest unsealed pack stays open for appends, others are sealed. */
  async resume(): Promise<void> {
    const open_ = this.index.packs().filter((p) => !p.sealed);
    const last = open_.pop();
    for (const p of open_) this.index.sealPack(p.id);
    if (!last) return;
    if (last.size >= this.maxPackBytes) {
      this.index.sealPack(last.id);
      return;
    }
    const fh = await open(this.paths.pack(last.id), 'r+');
    this.current = { id: last.id, fh, size: last.size };
  }

  /**
   * Compaction: appends copies of verified records of pack `from` and points their rows
   * at the copies (rows that changed meanwhile are left alone). Returns the bytes copied.
   */
  copy(from: number, records: readonly { row: ChunkRow; payload: Buffer }[]): Promise<number> {
    return this.lock.run(async () => {
      this.assertOpen();
      await this.drain();
      let bytes = 0;
      for (const { row } of records) bytes += recordSize(row.length);
      const pack = await this.writablePack(bytes);
      const buffers: Buffer[] = [];
      const moves: { digest: Buffer; oldOffset: number; newOffset: number; length: number }[] = [];
      let offset = pack.size;
      for (const { row, payload } of records) {
        const header = { digest: row.digest, encoding: row.encoding as 0 | 1, rawLength: row.rawLength };
        buffers.push(encodeRecordHeader({ ...header, payloadLength: row.length }), payload);
        moves.push({ digest: row.digest, oldOffset: row.offset, newOffset: offset, length: row.length });
        offset += recordSize(row.length);
      }
      await this.appendDurably(pack, buffers, offset);
      this.index.relocate(from, pack.id, offset, moves);
      pack.size = offset;
      return bytes;
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new IngotError('UNAVAILABLE', 'the chunk store is closed');
    if (this.broken !== undefined) throw this.broken;
  }
}
