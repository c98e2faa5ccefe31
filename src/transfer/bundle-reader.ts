import { IngotError } from '../core/errors.js';
import type { SignedDocument } from '../core/signatures.js';
import { DATA_BLOCK_BYTES, dataBuffers } from '../store/buffer-pool.js';
import { cpuPool } from '../store/cpu-pool.js';
import {
  CHUNK_HEADER,
  decodeFrames,
  FRAME_VERSION_DELTAS,
  referenceBytes,
  STREAM_HEADER,
} from '../store/frame-codec.js';
import {
  BUNDLE_MAGIC,
  BUNDLE_VERSION,
  MAX_HEADER_BYTES,
  MIN_FRAMES_LEN,
  PREFIX_LEN,
  TRAILER_LEN,
  TRAILER_MAGIC,
} from './bundle-format.js';
import { locateParts, PART_HEADER_LEN, type PartSet, readLogical } from './bundle-parts.js';
import type { MovingChunk } from './ports.js';

/** Reading a bundle (its layout is in bundle-format.ts): the header, then one checked pass over its frames. */

export interface OpenedBundle {
  /** Parsed JSON, untrusted (the caller checks its signature and validates its content). */
  readonly header: unknown;
  readonly files: string[];
  /** Its frames are a version 2 stream: some chunks may be deltas (store-format §7). */
  readonly deltas: boolean;
  /**
   * The one pass: hands the chunk frames to `consume`, in order, while every byte is hashed
   * for the trailer, then checks the trailer (length + SHA-256) and resolves with what
   * `consume` returned. A payload is lent (ports.ts): valid until the next chunk is asked for.
   * Throws TRUNCATED, CORRUPT or INVALID_ARGUMENT with a message naming the file; when the
   * frames or `consume` fail on bad data, the rest is still read and a failing trailer is the
   * answer (it says what happened to the file). Each call reads the file anew.
   */
  read<T>(
    consume: (chunks: AsyncIterable<MovingChunk>) => Promise<T>,
    opts?: { signal?: AbortSignal },
  ): Promise<T>;
}

/** The signed header a bundle must carry; the same refusal for the CLI and the server. */
export function bundleDocument(bundle: OpenedBundle, file: string): SignedDocument {
  const document = (bundle.header as { document?: SignedDocument }).document;
  if (!document || typeof document.body !== 'string') {
    throw new IngotError('INVALID_ARGUMENT', `${file} has no signed bundle header`);
  }
  return document;
}

/** Opens `<path>` (a .ingot file, or the .001 part of a split bundle; the other parts are found beside it). */
export async function openBundle(path: string): Promise<OpenedBundle> {
  const parts = await locateParts(path);
  const total = parts.sizes.reduce((n, size) => n + size - PART_HEADER_LEN, 0);
  const headerLen = parsePrefix(await readRange(parts, 0, Math.min(PREFIX_LEN, total)), parts);
  const framesStart = PREFIX_LEN + headerLen;
  if (framesStart + MIN_FRAMES_LEN + TRAILER_LEN > total) {
    throw new IngotError('TRUNCATED', `${describe(parts)} ends inside its header`, {
      hint: 'copy the bundle again',
    });
  }
  const header = parseHeader(await readRange(parts, PREFIX_LEN, framesStart), parts);
  const version = (await readRange(parts, framesStart + 4, framesStart + 5))[0];
  return new BundleReader(parts, header, framesStart, total, version === FRAME_VERSION_DELTAS);
}

/** Hash updates a read keeps pending: the file is read ahead of the hashing by this much. */
const HASHES_IN_FLIGHT = 2;

/** Errors that say the bytes are bad, for which the trailer's verdict is the better answer. */
const DATA_ERRORS: ReadonlySet<string> = new Set([
  'TRUNCATED',
  'CORRUPT',
  'INVALID_ARGUMENT',
  'DIGEST_MISMATCH',
  'PAYLOAD_TOO_LARGE',
]);

function isDataError(err: unknown): boolean {
  return err instanceof IngotError && DATA_ERRORS.has(err.code);
}

class BundleReader implements OpenedBundle {
  readonly files: string[];

  constructor(
    private readonly parts: PartSet,
    readonly header: unknown,
    private readonly framesStart: number,
    private readonly total: number,
    readonly deltas: boolean,
  ) {
    this.files = [...parts.files];
  }

  async read<T>(
    consume: (chunks: AsyncIterable<MovingChunk>) => Promise<T>,
    opts: { signal?: AbortSignal } = {},
  ): Promise<T> {
    const body = this.total - TRAILER_LEN;
    const hash = cpuPool().sha256Stream();
    const hashing: Promise<void>[] = [];
    const tail: Buffer[] = [];
    /** Blocks the frame decoder may still hold, each with the logical offset it ends at. */
    const lent: { block: Buffer; end: number }[] = [];
    /** Logical offset up to which the decoder and `consume` are done with the bytes. */
    let consumed = this.framesStart + STREAM_HEADER;
    const release = () => {
      while (lent.length > 0 && (lent[0] as { end: number }).end <= consumed) {
        dataBuffers.give((lent.shift() as { block: Buffer }).block);
      }
    };
    const { framesStart, total, parts } = this;
    const signal = opts.signal;
    async function* blocks(): AsyncGenerator<Buffer> {
      let off = 0;
      for await (const b of readLogical(parts, 0, total, () => dataBuffers.take(DATA_BLOCK_BYTES))) {
        signal?.throwIfAborted();
        const start = off;
        off += b.length;
        const cut = (at: number) => Math.min(b.length, Math.max(0, at - start));
        if (cut(body) > 0) {
          // update copies the bytes at once; waiting on the oldest bounds the read-ahead.
          hashing.push(hash.update(b.subarray(0, cut(body))));
          if (hashing.length > HASHES_IN_FLIGHT) await hashing.shift();
        }
        if (off > body) tail.push(Buffer.from(b.subarray(cut(body))));
        const frames = b.subarray(cut(framesStart), cut(body));
        if (frames.length === 0) {
          dataBuffers.give(b);
          continue;
        }
        lent.push({ block: b, end: start + cut(body) });
        yield frames;
      }
    }
    const source = blocks();
    async function* chunks(): AsyncGenerator<MovingChunk> {
      for await (const c of decodeFrames(source, { deltas: true })) {
        yield c;
        const refs = c.encoded.encoding === 'delta' ? referenceBytes(c.encoded.references.length) : 0;
        consumed += CHUNK_HEADER + refs + c.encoded.payload.length;
        release();
      }
    }
    let result: T | undefined;
    let failure: { err: unknown } | undefined;
    let digested = false;
    try {
      result = await consume(chunks());
    } catch (err) {
      failure = { err };
    }
    try {
      if (failure && (!isDataError(failure.err) || signal?.aborted)) throw failure.err;
      // Whatever is left (nothing, unless the frames or `consume` failed) is read for the hash.
      consumed = Number.POSITIVE_INFINITY;
      release();
      for (let r = await source.next(); !r.done; r = await source.next()) release();
      await Promise.all(hashing);
      digested = true;
      checkTrailer(Buffer.concat(tail), body, await hash.digest(), parts);
    } catch (err) {
      failure = { err };
    } finally {
      await source.return(undefined).catch(() => {});
      await Promise.allSettled(hashing);
      if (!digested) await hash.digest().catch(() => {});
      consumed = Number.POSITIVE_INFINITY;
      release();
    }
    if (failure) throw failure.err;
    return result as T;
  }
}

async function readRange(parts: PartSet, start: number, end: number): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const b of readLogical(parts, start, end)) out.push(b);
  return Buffer.concat(out);
}

function describe(parts: PartSet): string {
  const first = parts.files[0] as string;
  return parts.files.length === 1 ? first : `${first} (${parts.files.length} parts)`;
}

function parsePrefix(b: Buffer, parts: PartSet): number {
  if (b.length < 4 || !b.subarray(0, 4).equals(BUNDLE_MAGIC)) {
    throw new IngotError('INVALID_ARGUMENT', `${describe(parts)} is not an Ingot bundle (bad magic)`);
  }
  if (b.length < PREFIX_LEN) throw new IngotError('TRUNCATED', `${describe(parts)} ends inside its prefix`);
  if (b[4] !== BUNDLE_VERSION) {
    throw new IngotError('INVALID_ARGUMENT', `${describe(parts)}: bundle version ${b[4]} is not supported`);
  }
  const len = b.readUInt32BE(5);
  if (len > MAX_HEADER_BYTES) {
    throw new IngotError(
      'INVALID_ARGUMENT',
      `${describe(parts)}: a header of ${len} bytes (at most 256 MiB)`,
    );
  }
  return len;
}

function parseHeader(b: Buffer, parts: PartSet): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b));
  } catch (err) {
    throw new IngotError('CORRUPT', `${describe(parts)}: its header is not UTF-8 JSON`, {
      hint: 'the bundle was damaged; copy it again',
      cause: err,
    });
  }
}

function checkTrailer(t: Buffer, body: number, sha: Buffer, parts: PartSet): void {
  if (t.length !== TRAILER_LEN || !t.subarray(0, 4).equals(TRAILER_MAGIC)) {
    throw new IngotError(
      'TRUNCATED',
      `${parts.files.at(-1)} ends without the bundle trailer: it was cut short`,
      {
        hint: 'copy the bundle again',
      },
    );
  }
  const declared = t.readBigUInt64BE(4);
  if (declared !== BigInt(body)) {
    const code = declared > BigInt(body) ? 'TRUNCATED' : 'CORRUPT';
    throw new IngotError(
      code,
      `${describe(parts)}: its trailer counts ${declared} bytes, ${body} precede it`,
      {
        hint: 'copy the bundle again',
      },
    );
  }
  if (!t.subarray(12).equals(sha)) {
    throw new IngotError(
      'CORRUPT',
      `${describe(parts)}: its content does not match the SHA-256 in its trailer`,
      {
        hint: 'a byte changed in one of its files; copy the bundle again',
        details: { files: parts.files, recorded: t.subarray(12).toString('hex'), found: sha.toString('hex') },
      },
    );
  }
}
