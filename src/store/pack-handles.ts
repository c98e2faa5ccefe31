import { type FileHandle, open } from 'node:fs/promises';

/**
 * Read-only file handles of packs, kept open for reuse: an LRU of at most `capacity`
 * entries. A handle is lent with a reference count and closed only when it has been
 * evicted (by the LRU or by `evict`, when a pack is unlinked) and no read still holds it,
 * so a read never sees its handle closed under it.
 */
interface Entry {
  readonly handle: Promise<FileHandle>;
  refs: number;
  evicted: boolean;
}

export class PackHandles {
  private readonly entries = new Map<number, Entry>();

  constructor(
    private readonly pathOf: (id: number) => string,
    private readonly capacity = 32,
  ) {}

  /** Runs `fn` with a handle on pack `id`; rejects with ENOENT when the pack is gone. */
  async with<T>(id: number, fn: (fh: FileHandle) => Promise<T>): Promise<T> {
    let entry = this.entries.get(id);
    if (entry) {
      this.entries.delete(id);
      this.entries.set(id, entry);
    } else {
      const handle = open(this.pathOf(id), 'r');
      entry = { handle, refs: 0, evicted: false };
      this.entries.set(id, entry);
      handle.catch(() => {
        if (this.entries.get(id) === entry) this.entries.delete(id);
      });
      this.trim();
    }
    entry.refs++;
    try {
      return await fn(await entry.handle);
    } finally {
      entry.refs--;
      if (entry.evicted && entry.refs === 0) closeQuietly(entry.handle);
    }
  }

  /** Forgets pack `id`'s handle (closing it once no read holds it). */
  evict(id: number): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    entry.evicted = true;
    if (entry.refs === 0) closeQuietly(entry.handle);
  }

  closeAll(): void {
    for (const id of [...this.entries.keys()]) this.evict(id);
  }

  private trim(): void {
    for (const id of this.entries.keys()) {
      if (this.entries.size <= this.capacity) break;
      this.evict(id);
    }
  }
}

function closeQuietly(handle: Promise<FileHandle>): void {
  handle.then(
    (fh) => fh.close().catch(() => {}),
    () => {},
  );
}
