import { isAbsolute } from 'node:path';
import { IngotError } from '../core/errors.js';
import type { JobQueue } from '../jobs/job-queue.js';
import type { JobContext } from '../jobs/job-runner.js';
import type { Job } from '../jobs/types.js';
import type { StagedStore } from '../store/staged-store.js';
import { bundleDocument, openBundle } from '../transfer/bundle-reader.js';
import { type BundleUploadTotals, uploadBundleChunks } from '../transfer/bundle-upload.js';
import { receiveChunks } from '../transfer/chunk-receiver.js';
import type { ChunkSink } from '../transfer/ports.js';
import type { BundleService } from './bundle.service.js';

/**
 * `bundle import` of a file on the server's own host, as a durable job: the server reads
 * the bundle itself (one pass: the frames, hashed for the trailer as they go) instead of the
 * CLI streaming it over loopback. The checks and the all-or-none commit are BundleService's, as for the CLI's
 * route; chunks go through the store's verifying put, since the bundle was made elsewhere.
 * They are staged beside the store (StagedStore) and moved into it only once the trailer
 * matched, every chunk the images name is there and every chunk carried is named: a
 * refused bundle leaves the store as it was.
 */
export const BUNDLE_IMPORT_JOB_KIND = 'bundle-import';

export interface BundleImportResult extends BundleUploadTotals {
  readonly createdBy: string;
  readonly images: { name: string; status: string }[];
}

export class LocalBundleImport {
  constructor(
    private readonly deps: {
      readonly bundles: BundleService;
      /** A new staging store beside the chunk store. */
      readonly stage: () => Promise<StagedStore>;
      readonly jobs: JobQueue;
      readonly wake: () => void;
    },
  ) {}

  /** Refuses a path, a file or a creator this server will not take, then queues the job. */
  async start(path: string): Promise<Job<{ path: string }>> {
    if (!isAbsolute(path)) {
      throw new IngotError('INVALID_ARGUMENT', `${JSON.stringify(path)} is not an absolute path`);
    }
    const bundle = await openBundle(path);
    await this.deps.bundles.check(bundleDocument(bundle, path));
    // One attempt: a cut or damaged bundle stays so, and a rerun after a crash reuses the
    // chunks already stored (the have/want asks first).
    const job = await this.deps.jobs.enqueue(BUNDLE_IMPORT_JOB_KIND, { path }, { maxAttempts: 1 });
    this.deps.wake();
    return job;
  }

  async run(payload: { path: string }, ctx: JobContext): Promise<BundleImportResult> {
    const bundle = await openBundle(payload.path);
    const document = bundleDocument(bundle, payload.path);
    await this.deps.bundles.check(document);
    ctx.signal.throwIfAborted();
    let done = 0;
    const staged = await this.deps.stage();
    let sent: BundleUploadTotals;
    try {
      const sink: ChunkSink = {
        missing: (d) => staged.missing(d),
        put: (chunks) => receiveChunks(staged, chunks),
      };
      // One read: the chunks are staged as they come; the trailer's verdict comes at the
      // end, then the contents are checked, and only then do the chunks join the store.
      sent = await bundle.read(
        (chunks) =>
          uploadBundleChunks(sink, chunks, (c) => {
            ctx.signal.throwIfAborted();
            done += c.rawLength;
            ctx.progress(done, 0);
          }),
        { signal: ctx.signal },
      );
    } catch (err) {
      await staged.discard();
      throw err;
    }
    return { ...(await this.deps.bundles.commitStaged(document, staged)), ...sent };
  }
}
