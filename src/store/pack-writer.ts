import { type FileHandle, open, unlink } from 'node:fs/promises';
import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import type { EncodedChunk } from './chunk-store.js';
import {
  encodePackHeader,
  encodeRecordHeader,
  encodingCode,
  fsyncDir,
  PACK_HEADER_SIZE,
  recordSize,
} from './pack-file.js';
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
/** Group commit: at most about this many bytes of queued batches per write + fdatasync. */
const GROUP_BYTES = 64 * 2 ** 20;
/** Writes are cut into slices of about this size, each flushed while the next is written. */
const SLICE_BYTES = 2 * 2 ** 20;

/** A chunk that has been verified against its digest. */
export interface WriteItem {
  readonly digest: Digest;
  readonly chunk: EncodedChunk;
  readonly rawLength: number;
}

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
  outcome?: AppendResult | { readonly error: unknown };
}

interface OpenPack {
  readonly id: number;
  readonly fh: FileHandle;
  size: number;
}

export class PackWriter {
  private current: OpenPack | undefined;
  private nextId: number;
  private closed = false;
  private readonly lock = new AsyncMutex();
  /** Append requests not yet written, in arrival order (see `append`). */
  private readonly pending: AppendRequest[] = [];

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

  /** Runs `fn` with no append in progress. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(fn);
  }

  /** Waits for appends in flight and closes the open pack; later appends fail. */
  close(): Promise<void> {
    return this.lock.run(async () => {
      this.closed = true;
      await this.current?.fh.close();
      this.current = undefined;
    });
  }

  /**
   * Appends verified, distinct items that are not yet indexed; touches the others.
   * Group commit: whoever holds the append lock writes every request queued so far (up to
   * GROUP_BYTES) in one appendDurably (one final fdatasync) and one index transaction;
   * the others then find theirs done.
   */
  append(items: readonly WriteItem[]): Promise<AppendResult> {
    if (items.length === 0) return Promise.resolve({ stored: 0, present: 0, bytes: 0 });
    const req: AppendRequest = { items };
    this.pending.push(req);
    return this.lock.run(async () => {
      if (!req.outcome) {
        let take = 0;
        let bytes = 0;
        while (take < this.pending.length && (take === 0 || bytes < GROUP_BYTES)) {
          for (const i of (this.pending[take] as AppendRequest).items)
            bytes += recordSize(i.chunk.payload.length);
          take++;
        }
        const group = this.pending.splice(0, take);
        try {
          this.settleGroup(group, await this.appendGroup(group));
        } catch (error) {
          for (const r of group) r.outcome = { error };
        }
      }
      const outcome = req.outcome as NonNullable<AppendRequest['outcome']>;
      if ('error' in outcome) throw outcome.error;
      return outcome;
    });
  }

  /** Writes a group's new chunks durably and indexes them; returns the digests written. */
  private async appendGroup(group: readonly AppendRequest[]): Promise<Set<string>> {
    this.assertOpen();
    const now = this.now();
    const digests = group.flatMap((r) => r.items.map((i) => i.digest));
    const present = this.index.touch(digests, now, now - this.touchResolutionMs);
    const written = new Set<string>();
    const buffers: Buffer[] = [];
    const rows: RecordLocation[] = [];
    let total = 0;
    for (const r of group) {
      for (const { digest, chunk, rawLength } of r.items) {
        if (present.has(digest) || written.has(digest)) continue;
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
    if (rows.length === 0) return written;
    const pack = await this.writablePack(total);
    const start = pack.size;
    const located = rows.map((r) => ({ ...r, offset: start + r.offset }));
    await this.appendDurably(pack, buffers, start + total);
    this.index.commit(pack.id, start + total, located, now);
    pack.size = start + total;
    return written;
  }

  /** Each request's share: a digest counts as stored for the first request that wrote it. */
  private settleGroup(group: readonly AppendRequest[], written: Set<string>): void {
    for (const r of group) {
      let stored = 0;
      let bytes = 0;
      for (const i of r.items) {
        if (!written.delete(i.digest)) continue;
        stored++;
        bytes += i.chunk.payload.length;
      }
      r.outcome = { stored, present: r.items.length - stored, bytes };
    }
  }

  /**
   * Writes `buffers` at the committed end and makes them durable; on failure the tail is
   * cut off again. The writes go in slices of SLICE_BYTES, each followed by an fdatasync
   * that is not awaited at once (at most two in flight), so the disk flushes one slice
   * while the next is copied in: ~1.5-2x one writev + one fdatasync here. The last
   * fdatasync starts after the last write completed, so it covers the whole batch.
   */
  private async appendDurably(pack: OpenPack, buffers: Buffer[], end: number): Promise<void> {
    try {
      let pos = pack.size;
      let syncError: unknown;
      const syncs: Promise<void>[] = [];
      for (let i = 0; i < buffers.length; ) {
        const slice: Buffer[] = [];
        let n = 0;
        while (i < buffers.length && n < SLICE_BYTES && slice.length < 1024) {
          const b = buffers[i++] as Buffer;
          slice.push(b);
          n += b.length;
        }
        const { bytesWritten } = await pack.fh.writev(slice, pos);
        if (bytesWritten !== n) throw new Error(`short write: ${bytesWritten} of ${n} bytes`);
        pos += n;
        if (syncs.length >= 2) await syncs.shift();
        syncs.push(
          pack.fh.datasync().catch((err: unknown) => {
            syncError ??= err;
          }),
        );
      }
      await Promise.all(syncs);
      if (syncError !== undefined) throw syncError;
      if (pos !== end) throw new Error(`wrote up to ${pos}, expected ${end}`);
    } catch (cause) {
      try {
        await pack.fh.truncate(pack.size);
        await pack.fh.datasync();
      } catch {
        // The pack's tail is in an unknown state: stop appending to it. Recovery at the
        // next open does not look at sealed packs; the tail is dead bytes for compaction.
        this.index.sealPack(pack.id);
        this.current = undefined;
        await pack.fh.close().catch(() => {});
      }
      throw new IngotError('INTERNAL', `could not write to pack ${pack.id}`, { cause });
    }
  }

  /** The open pack with room for `bytes` more, sealing the current one when full. */
  private async writablePack(bytes: number): Promise<OpenPack> {
    const cur = this.current;
    if (cur && (cur.size === PACK_HEADER_SIZE || cur.size + bytes <= this.maxPackBytes)) return cur;
    if (cur) {
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
    let fh: FileHandle | undefined;
    try {
      fh = await open(this.paths.pack(id), 'wx');
      await fh.write(encodePackHeader(id), 0, PACK_HEADER_SIZE, 0);
      await fh.datasync();
      await fsyncDir(this.paths.packsDir);
      return { id, fh, size: PACK_HEADER_SIZE };
    } catch (cause) {
      await fh?.close().catch(() => {});
      await unlink(this.paths.pack(id)).catch(() => {});
      this.index.dropPack(id);
      throw new IngotError('INTERNAL', `could not create pack ${id}`, { cause });
    }
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
  }
}
