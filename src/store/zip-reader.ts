import { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { IngotError } from '../core/errors.js';
import { ARCHIVE_LIMITS, type ArchiveLimits } from './archive-limits.js';
import type { StoredFile } from './stored-file.js';

/**
 * Finds the one ISO a zip holds (the way software images are shipped: a zip around an ISO)
 * and streams it out, reading the zip where its chunks lie. yauzl reads the central
 * directory (zip64 included), refuses names that are absolute or climb out with "..", and
 * checks each member's inflated length against the one it declares; every member is also
 * held to the size and ratio bounds before a byte of it is inflated.
 */

export interface ZipMember {
  readonly name: string;
  readonly size: number;
  readonly mtime: Date;
  /** The member's bytes, inflated and checked against its declared size. */
  open(): AsyncIterable<Buffer>;
}

class StoredFileReader extends yauzl.RandomAccessReader {
  constructor(private readonly file: StoredFile) {
    super();
  }

  override _readStreamForRange(start: number, end: number): Readable {
    return Readable.from(this.file.stream(start, end), { objectMode: false });
  }
}

export async function isoInZip(file: StoredFile, limits: ArchiveLimits = ARCHIVE_LIMITS): Promise<ZipMember> {
  const zip = await zipError(() =>
    yauzl.fromRandomAccessReaderPromise(new StoredFileReader(file), file.size, {
      lazyEntries: true,
      autoClose: false,
      strictFileNames: true,
    }),
  );
  const isos: yauzl.Entry[] = [];
  let total = 0;
  await zipError(async () => {
    for await (const entry of zip.eachEntry()) {
      checkMember(entry, limits);
      total += entry.uncompressedSize;
      if (total > limits.totalBytes) throw tooBig('the zip', total, limits.totalBytes);
      if (/\.iso$/i.test(entry.fileName) && !entry.fileName.endsWith('/')) isos.push(entry);
    }
  });
  const iso = isos[0];
  if (!iso || isos.length > 1) {
    zip.close();
    throw new IngotError(
      'BAD_ARCHIVE',
      isos.length > 1
        ? `the zip holds ${isos.length} ISO images (${isos.map((e) => e.fileName).join(', ')}); one was expected`
        : 'the zip holds no ISO image (no member named *.iso)',
      { hint: 'import the zip without --unpack, or with the member as its own URL' },
    );
  }
  return {
    name: iso.fileName,
    size: iso.uncompressedSize,
    mtime: iso.getLastModDate(),
    open: () => members(zip, iso),
  };
}

async function* members(zip: yauzl.ZipFile, entry: yauzl.Entry): AsyncGenerator<Buffer> {
  try {
    const stream = await zipError(() => zip.openReadStreamPromise(entry));
    yield* zipErrors(stream as AsyncIterable<Buffer>, entry.fileName);
  } finally {
    zip.close();
  }
}

function checkMember(e: yauzl.Entry, limits: ArchiveLimits): void {
  const name = JSON.stringify(e.fileName);
  if (e.isEncrypted()) throw bad(`the zip member ${name} is encrypted`);
  if (e.uncompressedSize > limits.entryBytes)
    throw tooBig(`the zip member ${name}`, e.uncompressedSize, limits.entryBytes);
  if (e.uncompressedSize > limits.ratioFrom && e.uncompressedSize > e.compressedSize * limits.ratio) {
    throw bad(
      `the zip member ${name} would inflate ${e.compressedSize} bytes to ${e.uncompressedSize}, more than ${limits.ratio} times: refused as a zip bomb`,
    );
  }
  if (!e.canDecodeFileData())
    throw bad(`the zip member ${name} uses compression method ${e.compressionMethod}`);
}

async function* zipErrors(stream: AsyncIterable<Buffer>, name: string): AsyncGenerator<Buffer> {
  try {
    yield* stream;
  } catch (cause) {
    throw asBad(cause, `the zip member ${JSON.stringify(name)}`);
  }
}

async function zipError<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (cause) {
    throw asBad(cause, 'the zip');
  }
}

function asBad(cause: unknown, what: string): IngotError {
  if (cause instanceof IngotError) return cause;
  const msg = cause instanceof Error ? cause.message : String(cause);
  return new IngotError('BAD_ARCHIVE', `${what} cannot be read: ${msg}`, { cause });
}

function bad(message: string): IngotError {
  return new IngotError('BAD_ARCHIVE', message, { hint: 'nothing was listed' });
}

export function tooBig(what: string, size: number, limit: number): IngotError {
  return new IngotError('BAD_ARCHIVE', `${what} unpacks to ${size} bytes; the limit is ${limit}`, {
    details: { size, limit },
  });
}
