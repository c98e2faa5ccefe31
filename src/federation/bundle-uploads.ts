import { randomUUID } from 'node:crypto';
import { IngotError } from '../core/errors.js';
import type { SignedDocument } from '../core/signatures.js';
import type { ChunkStore } from '../store/chunk-store.js';
import type { StagedStore } from '../store/staged-store.js';
import type { BundleService } from './bundle.service.js';

/** An upload idle this long is dropped with its staged chunks. */
const IDLE_MS = 60 * 60 * 1000;
/** Uploads open at once; each holds a staging store. */
const MAX_UPLOADS = 16;

interface Upload {
  readonly staged: StagedStore;
  readonly document: SignedDocument;
  usedAt: number;
}

/**
 * The CLI's `bundle import --upload` route, staged like the server's own import: `start`
 * checks the header and opens a staging store under an id; the CLI's have/want and chunk
 * uploads name that id and land in it; `commit` checks the contents, moves the chunks into
 * the store and lists the images, or drops them all. A refused, abandoned or interrupted
 * upload (the CLI aborts it, it idles an hour, the server restarts) stores nothing.
 */
export class BundleUploads {
  private readonly uploads = new Map<string, Upload>();

  constructor(
    private readonly deps: {
      readonly bundles: BundleService;
      readonly stage: () => Promise<StagedStore>;
      readonly now?: () => number;
    },
  ) {}

  async start(
    document: SignedDocument,
  ): Promise<{ upload: string } & Awaited<ReturnType<BundleService['check']>>> {
    const checked = await this.deps.bundles.check(document);
    await this.expire();
    if (this.uploads.size >= MAX_UPLOADS) {
      throw new IngotError('CONFLICT', `${MAX_UPLOADS} bundle uploads are in progress here already`, {
        hint: 'wait for one to end, or import on the server host (`ingot bundle import FILE` there)',
      });
    }
    const upload = randomUUID();
    this.uploads.set(upload, { staged: await this.deps.stage(), document, usedAt: this.now() });
    return { upload, ...checked };
  }

  /** The staging store of an upload in progress. */
  store(id: string): ChunkStore {
    const u = this.get(id);
    u.usedAt = this.now();
    return u.staged;
  }

  /** Ends the upload: its chunks join the store and its images are listed, or nothing is kept. */
  async commit(id: string, document: SignedDocument): ReturnType<BundleService['commit']> {
    const u = this.take(id);
    if (document.body !== u.document.body || document.signature !== u.document.signature) {
      await u.staged.discard();
      throw new IngotError('INVALID_ARGUMENT', `bundle upload ${id} was started for another bundle header`);
    }
    return this.deps.bundles.commitStaged(u.document, u.staged);
  }

  /** Drops the upload and everything staged for it. */
  async abort(id: string): Promise<void> {
    await this.take(id).staged.discard();
  }

  private get(id: string): Upload {
    const u = this.uploads.get(id);
    if (!u) {
      throw new IngotError('NOT_FOUND', `no bundle upload ${id} is in progress here`, {
        hint: 'it ended, idled for an hour or the server restarted; import the bundle again',
      });
    }
    return u;
  }

  private take(id: string): Upload {
    const u = this.get(id);
    this.uploads.delete(id);
    return u;
  }

  private async expire(): Promise<void> {
    const before = this.now() - IDLE_MS;
    for (const [id, u] of this.uploads) {
      if (u.usedAt >= before) continue;
      this.uploads.delete(id);
      await u.staged.discard();
    }
  }

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }
}
