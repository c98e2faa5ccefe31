import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { IngotError } from '../core/errors.js';
import { writeFileAtomic } from './atomic-write.js';
import { preadFully } from './pack-file.js';
import { PackHandles } from './pack-handles.js';
import { segmentKey, storePaths } from './paths.js';
import type { SegmentBlobs } from './segment-blobs.js';

/**
 * Segments as files of a directory every node mounts (NFS or any shared file system):
 * written to a temp file, fsynced, renamed into place (paths.ts has the layout). Nothing
 * here takes a lock: each segment has one writer, by its unique id, and is never changed.
 */
export class DirectorySegments implements SegmentBlobs {
  private readonly handles: PackHandles;
  private readonly tmpDir: string;

  private constructor(readonly root: string) {
    this.handles = new PackHandles((id) => this.pathOf(id), 64);
    this.tmpDir = storePaths(root).tmpDir;
  }

  static async open(root: string): Promise<DirectorySegments> {
    await mkdir(join(root, 'segments-v1'), { recursive: true });
    await mkdir(storePaths(root).tmpDir, { recursive: true });
    return new DirectorySegments(root);
  }

  get spaceAt(): string {
    return this.root;
  }

  write(id: number, parts: readonly Buffer[]): Promise<void> {
    return writeFileAtomic(this.pathOf(id), this.tmpDir, parts);
  }

  read(id: number, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    return this.handles
      .with(id, (fh) => preadFully(fh, length, offset, into))
      .catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        this.handles.evict(id);
        throw new IngotError('NOT_FOUND', `segment ${id} is not in the shared store ${this.root}`, {
          details: { segment: id },
        });
      });
  }

  async remove(id: number): Promise<void> {
    this.handles.evict(id);
    await rm(this.pathOf(id), { force: true });
  }

  async close(): Promise<void> {
    this.handles.closeAll();
  }

  private pathOf(id: number): string {
    return join(this.root, segmentKey(id));
  }
}
