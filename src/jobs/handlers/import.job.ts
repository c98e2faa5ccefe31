import type { ImageService } from '../../catalog/image.service.js';
import type { ImageRecord } from '../../catalog/types.js';
import { parseSha256, sha256For } from '../../core/checksum-list.js';
import { IngotError } from '../../core/errors.js';
import type { ChunkRef } from '../../core/manifest.js';
import { draftToJson } from '../../core/manifest-codec.js';
import { fillBlocks } from '../../store/block-reads.js';
import { feedChunks } from '../../store/chunk-feed.js';
import type { ChunkWriter, HashedChunkWriter } from '../../store/chunk-store.js';
import { cpuPool, type StreamHash } from '../../store/cpu-pool.js';
import { chunksOf } from '../../store/source.js';
import { chooseProxy, redactProxy } from '../../transfer/proxy-env.js';
import { emptyUploadStats, type UploadStats, uploadChunks } from '../../transfer/uploader.js';
import {
  type Download,
  openDownload,
  parseSourceUrl,
  readSmall,
  redactUrl,
  refuseFtpProxy,
  truncated,
  type UrlAccess,
} from '../../transfer/url-download.js';
import type { JobCheckpoints } from '../job-checkpoints.js';
import type { JobQueue } from '../job-queue.js';
import { finalError, type JobContext } from '../job-runner.js';
import type { Job } from '../types.js';
import { CheckpointTrail, resumable } from './import-checkpoint.js';
import { parseUnpack, type Unpacked, type UnpackStep, unpackDownload } from './import-unpack.js';
import {
  type CommitOptions,
  commitFields,
  hashedSink,
  makesImages,
  refuseRunning,
  untilAborted,
} from './ingest.job.js';

/**
 * Import of a file from an http, https or ftp URL, as a durable job. The download streams
 * into the ingest pipeline (the same chunker, CPU pool hashing, uploader and chunk-store
 * sink as a local ingest), and a SHA-256 of the whole file runs beside it on the pool; no
 * copy of the file is written anywhere but the chunk store. Each time another
 * SEGMENT_BYTES of it is durable in the store, a checkpoint (db 008) records the offset
 * reached, the references of the chunks up to it and the source's validator, written while
 * the download goes on (CheckpointTrail). A job claimed again (a killed server, a
 * dropped connection, a retry) re-hashes the stored prefix from the store and asks the
 * source for the rest only (Range + If-Range, FTP REST); a source that changed meanwhile is
 * read from the start. Chunk boundaries depend only on the bytes from the chunk's start,
 * and a checkpoint ends on one, so the resumed chunking matches an unbroken one.
 *
 * The image is committed (listed) only after the whole file's SHA-256 matched the one asked
 * for; a mismatch fails the job for good (DIGEST_MISMATCH, expected and actual) and leaves
 * the chunks to gc.
 */
export const IMPORT_JOB_KIND = 'import';
makesImages(IMPORT_JOB_KIND);

export interface UrlImportRequest extends CommitOptions {
  readonly url: string;
  /** Expected SHA-256 (hex), from --sha256 or the --sha256-url list; absent with --no-checksum. */
  readonly sha256?: string;
  readonly sha256Url?: string;
  /** The proxy chosen when the job was queued (chooseProxy), and where it came from. */
  readonly proxy?: string;
  readonly proxyFrom: string;
  readonly cacert?: string;
  /** What to unpack the checked download into (import-unpack.ts); absent: a file image of it. */
  readonly unpack?: readonly UnpackStep[];
}

export interface UrlImportResult {
  readonly image: ImageRecord;
  readonly upload: UploadStats;
  readonly sha256: string;
  readonly checked: boolean;
  readonly proxy: string | null;
  /** Where this run started reading the source (nonzero after a resume). */
  readonly resumedAt: number;
  readonly seconds: number;
  readonly bytesPerSecond: number;
  /** What --unpack took out of the download, or null. */
  readonly unpacked: Unpacked['from'] | null;
  readonly warnings: string[];
}

/** What a client asks for (POST /api/v1/images/import). */
export interface UrlImportBody extends CommitOptions {
  readonly url: string;
  readonly sha256?: string;
  readonly sha256Url?: string;
  readonly noChecksum?: boolean;
  readonly proxy?: string;
  readonly cacert?: string;
  readonly unpack?: readonly string[];
}

/** A checksum list read for --sha256-url: a release's SHA256SUMS is a few KiB. */
export const CHECKSUM_LIST_BYTES = 1024 * 1024;

const BATCH_CHUNKS = 128;
const BATCHES_IN_FLIGHT = 2;
/** SHA-256 updates in flight on the pool: a few blocks, no more. */
const HASHES_IN_FLIGHT = 3;
export const IMPORT_MAX_ATTEMPTS = 5;

export class UrlImportService {
  constructor(
    private readonly deps: {
      readonly images: ImageService;
      readonly store: ChunkWriter & HashedChunkWriter;
      readonly jobs: JobQueue;
      readonly checkpoints: JobCheckpoints;
      readonly wake: () => void;
      /** The server's environment: where HTTPS_PROXY, HTTP_PROXY and NO_PROXY are read. */
      readonly env: Readonly<Record<string, string | undefined>>;
    },
  ) {}

  /**
   * Refuses what can be refused before the file is read (the name, type, series, parent, the
   * URL's scheme, the checksum asked for), reads a --sha256-url list, picks the proxy (the
   * request's, else the server's environment) and queues the job with all of it.
   */
  async start(body: UrlImportBody): Promise<Job<UrlImportRequest>> {
    const url = parseSourceUrl(body.url);
    const given = [body.sha256, body.sha256Url].filter((x) => x !== undefined).length;
    if (given > 1 || (given === 0 && !body.noChecksum) || (given > 0 && body.noChecksum)) {
      throw new IngotError(
        'INVALID_ARGUMENT',
        'give exactly one of --sha256 HEX, --sha256-url URL or --no-checksum',
        {
          hint: 'an import is checked against the SHA-256 its publisher lists; --no-checksum skips that, with a warning',
        },
      );
    }
    const expected = body.sha256 !== undefined ? parseSha256(body.sha256) : undefined;
    const choice = chooseProxy(url, this.deps.env, body.proxy);
    if (choice.proxy) parseProxyUrl(choice.proxy, choice.from);
    refuseFtpProxy(url, choice.proxy);
    const unpack = body.unpack !== undefined ? parseUnpack(body.unpack) : undefined;
    const base = {
      url: url.toString(),
      proxyFrom: choice.from,
      ...(choice.proxy ? { proxy: choice.proxy } : {}),
      ...(body.cacert ? { cacert: body.cacert } : {}),
      ...(unpack ? { unpack } : {}),
      ...commitFields(body),
    };
    await this.deps.images.preflight({ ...commitFields(base), kind: kindMade(unpack) });
    await refuseRunning(this.deps.jobs, base.name);
    let sha256 = expected;
    if (body.sha256Url !== undefined) {
      const listUrl = parseSourceUrl(body.sha256Url);
      const access = { proxy: chooseProxy(listUrl, this.deps.env, body.proxy).proxy, cacert: body.cacert };
      const list = await readSmall(listUrl, access, CHECKSUM_LIST_BYTES);
      sha256 = sha256For(list, decodeURIComponent(url.pathname.split('/').pop() ?? ''), redactUrl(listUrl));
    }
    const req: UrlImportRequest = {
      ...base,
      ...(sha256 ? { sha256 } : {}),
      ...(body.sha256Url !== undefined ? { sha256Url: body.sha256Url } : {}),
    };
    const job = await this.deps.jobs.enqueue(IMPORT_JOB_KIND, req, { maxAttempts: IMPORT_MAX_ATTEMPTS });
    this.deps.wake();
    return job;
  }

  async run(job: Job<UrlImportRequest>, ctx: JobContext): Promise<UrlImportResult> {
    const req = job.payload;
    const started = Date.now();
    // A resumed job may find its name taken meanwhile: fail before reading it all again.
    await this.deps.images.preflight({ ...commitFields(req), kind: kindMade(req.unpack) });
    const url = new URL(req.url);
    const access: UrlAccess = { proxy: req.proxy, cacert: req.cacert, signal: ctx.signal };
    const prior = await resumable(this.deps.checkpoints, job.id);
    let hash = cpuPool().sha256Stream();
    let refs: ChunkRef[] = [];
    let offset = 0;
    let seq = 0;
    let dl: Download | undefined;
    try {
      if (prior.offset > 0 && (await this.rehash(prior.refs, hash))) {
        refs = prior.refs;
        offset = prior.offset;
        seq = prior.seq;
      } else if (prior.offset > 0) {
        hash = await fresh(hash);
      }
      if (prior.total !== undefined && offset === prior.total && offset > 0) dl = undefined;
      else {
        dl = await openDownload(url, { offset, validator: prior.validator }, access);
        if (dl.offset !== offset) {
          // The source changed (If-Range said so) or ignores ranges: start again.
          await this.deps.checkpoints.clear(job.id);
          hash = await fresh(hash);
          refs = [];
          offset = 0;
          seq = 0;
        }
      }
      const resumedAt = offset;
      const total = dl ? dl.total : prior.total;
      const validator = dl ? dl.validator : prior.validator;
      ctx.progress(offset, total ?? 0);
      const stats = emptyUploadStats();
      if (dl) {
        let received = offset;
        const pending: Promise<void>[] = [];
        const hashed = async function* (blocks: ReturnType<typeof fillBlocks>) {
          for await (const b of blocks) {
            received += b.bytes.length;
            if (total !== undefined && received > total) throw tooLong(url, total);
            // The block is hashed where it lies, so it stays leased until then.
            b.lease.retain();
            const hashing = hash.updateShared(b.bytes).finally(() => b.lease.release());
            hashing.catch(() => {}); // surfaced when awaited; no unhandled rejection meanwhile
            pending.push(hashing);
            if (pending.length >= HASHES_IN_FLIGHT) await pending.shift();
            yield b;
          }
          await Promise.all(pending);
        };
        const chunks = untilAborted(
          chunksOf({ kind: 'stream', blocks: hashed(fillBlocks(dl.body)) }),
          ctx.signal,
        );
        const trail = new CheckpointTrail(this.deps.checkpoints, job.id, seq, offset, { validator, total });
        try {
          const stored = await uploadChunks(hashedSink(this.deps.store, ctx.signal), trail.passing(chunks), {
            batchChunks: BATCH_CHUNKS,
            inFlight: BATCHES_IN_FLIGHT,
            onBytes: (n) => {
              offset += n;
              ctx.progress(offset, total ?? 0);
            },
            onDurable: (n) => trail.durable(n),
          });
          addStats(stats, stored.stats);
          refs.push(...stored.refs);
          await trail.finish();
        } finally {
          await trail.settled();
        }
        if (total !== undefined && offset < total) throw truncated(url, offset, total);
      }
      const actual = (await hash.digest()).toString('hex');
      if (req.sha256 && actual !== req.sha256) {
        await this.deps.checkpoints.clear(job.id);
        throw finalError(
          new IngotError(
            'DIGEST_MISMATCH',
            `${redactUrl(url)} has SHA-256 ${actual}, not the expected ${req.sha256}${req.sha256Url ? ` (from ${req.sha256Url})` : ''}`,
            {
              details: { url: redactUrl(url), expected: req.sha256, actual },
              hint: 'nothing was listed; check the URL and the checksum (its stored chunks go at the next gc)',
            },
          ),
        );
      }
      const made = req.unpack ? await this.unpack(job.id, req.unpack, refs, ctx) : undefined;
      if (made) addStats(stats, made.stats);
      const image = await this.deps.images.commit({
        ...commitFields(req),
        draft: draftToJson(
          made?.draft ?? { payload: { kind: 'file', size: offset, mode: 0o644 }, chunks: refs },
        ),
      });
      await this.deps.checkpoints.clear(job.id);
      const seconds = (Date.now() - started) / 1000;
      return {
        image,
        upload: stats,
        sha256: actual,
        checked: Boolean(req.sha256),
        proxy: redactProxy(req.proxy) ?? null,
        resumedAt,
        seconds,
        bytesPerSecond: seconds > 0 ? Math.round((offset - resumedAt) / seconds) : 0,
        unpacked: made?.from ?? null,
        warnings: req.sha256 ? [] : [`${req.name} was not checked against a checksum (--no-checksum)`],
      };
    } finally {
      dl?.close();
      await hash.digest().catch(() => {});
    }
  }

  /** The checked download unpacked; a bad archive stays bad, so its checkpoints go with it. */
  private async unpack(
    jobId: number,
    steps: readonly UnpackStep[],
    refs: readonly ChunkRef[],
    ctx: JobContext,
  ) {
    let done = 0;
    let total = 0;
    try {
      return await unpackDownload(steps, refs, {
        store: this.deps.store,
        signal: ctx.signal,
        onBytes: (n) => {
          done += n;
          ctx.progress(done, total);
        },
        onTotal: (bytes) => {
          total = bytes;
          ctx.progress(done, total);
        },
      });
    } catch (err) {
      if (err instanceof IngotError && err.code === 'BAD_ARCHIVE') await this.deps.checkpoints.clear(jobId);
      throw err;
    }
  }

  /** Feeds the stored prefix to the hash; false when some of it is gone (gc): start over. */
  private async rehash(refs: readonly ChunkRef[], hash: StreamHash): Promise<boolean> {
    const store = this.deps.store;
    const zeros = Buffer.alloc(0);
    try {
      for await (const item of feedChunks(refs, async function* (digests) {
        for (const digest of digests) yield { digest, raw: await store.get(digest) };
      })) {
        await hash.update(
          item.raw ?? (zeros.length >= item.ref.length ? zeros : Buffer.alloc(item.ref.length)),
        );
      }
      return true;
    } catch (err) {
      if (err instanceof IngotError && (err.code === 'MISSING_CHUNKS' || err.code === 'NOT_FOUND'))
        return false;
      throw err;
    }
  }
}

/** An ISO unpacked makes a tree image; a download kept whole or a zip's ISO, a file image. */
function kindMade(unpack: readonly UnpackStep[] | undefined): 'tree' | 'file' {
  return unpack?.includes('iso') ? 'tree' : 'file';
}

/** A proxy must be an http:// URL (a CONNECT or absolute-form proxy). */
function parseProxyUrl(proxy: string, from: string): void {
  let u: URL | undefined;
  try {
    u = new URL(proxy);
  } catch {}
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
    throw new IngotError(
      'INVALID_ARGUMENT',
      `the proxy ${JSON.stringify(redactProxy(proxy))} (${from}) is not an http:// URL`,
      {
        hint: 'give it as http://host:port',
      },
    );
  }
}

async function fresh(hash: StreamHash): Promise<StreamHash> {
  await hash.digest().catch(() => {});
  return cpuPool().sha256Stream();
}

function tooLong(url: URL, total: number): IngotError {
  return new IngotError('TRUNCATED', `${redactUrl(url)} sent more than the ${total} bytes it announced`, {
    details: { url: redactUrl(url), expected: total },
  });
}

function addStats(into: UploadStats, more: UploadStats): void {
  for (const k of Object.keys(into) as (keyof UploadStats)[]) into[k] += more[k];
}
