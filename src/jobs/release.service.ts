/**
 * The releases of Ingot a server keeps for its rolling self-update (docs/design.md,
 * "Rolling self-update"). A release comes with an admin's token and the SHA-256 the admin
 * gives (from the release's publisher); while the server trusts publisher keys it must also
 * carry a signature by one of them over the SHA-256 of the bytes received. The bytes must
 * match, and be an Ingot package, before anything is stored. Its chunks go into the chunk
 * store like an image's (shared by every node), and gc keeps them while it is listed.
 */
import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import { parseReleaseSignature, SIGNATURE_FILE_BYTES } from '../core/release-signature.js';
import type { Db } from '../db/database.js';
import type { ChunkStore } from '../store/chunk-store.js';
import { chunkStream } from '../store/chunker.js';
import { cpuPool } from '../store/cpu-pool.js';
import { chooseProxy } from '../transfer/proxy-env.js';
import { openDownload, parseSourceUrl, readSmallBytes, redactUrl } from '../transfer/url-download.js';
import { PublisherKeyService } from './publisher-key.service.js';
import { ReleaseRepository, type ReleaseRow } from './release.repository.js';
import { RELEASE_BYTES, readReleasePackage } from './release-package.js';

/** A release as `ingot update list|show` and GET /api/v1/releases show it. */
export interface ReleaseRecord {
  version: string;
  sha256: string;
  bytes: number;
  chunks: number;
  dependencies: Record<string, string>;
  source: string;
  addedAt: string;
  /** The trusted publisher key that signed it; null for one kept on its SHA-256 alone. */
  signer: { keyId: string; name: string } | null;
}

/** Where a release's publisher signature comes from: the bytes sent along, or a URL the server reads. */
export interface ReleaseSignatureSource {
  /** base64 of the 64-byte Ed25519 signature. */
  readonly signature?: string;
  readonly signatureUrl?: string;
}

export interface ReleaseDeps {
  readonly db: Db;
  readonly store: ChunkStore;
  readonly env: NodeJS.ProcessEnv;
}

const SHA256 = /^[0-9a-f]{64}$/;

export class ReleaseService {
  private readonly repo: ReleaseRepository;
  /** The publisher keys releases are checked against. */
  readonly publishers: PublisherKeyService;

  constructor(private readonly deps: ReleaseDeps) {
    this.repo = new ReleaseRepository(deps.db.kysely);
    this.publishers = new PublisherKeyService(deps.db);
  }

  /**
   * Keeps the tarball `bytes` if it matches `sha256`, is signed by a trusted publisher key
   * (when any is trusted; `signature` is base64) and is an Ingot package.
   */
  async add(bytes: Buffer, sha256: string, signature?: string, source = 'upload'): Promise<ReleaseRecord> {
    const expected = checkedSha256(sha256);
    const sig = signature === undefined ? undefined : parseReleaseSignature(Buffer.from(signature, 'base64'));
    const [found] = await cpuPool().hash([bytes]);
    if (found !== expected) {
      throw new IngotError('DIGEST_MISMATCH', `the release's SHA-256 is ${found}, not ${expected}`, {
        details: { expected, found },
        hint: 'give the SHA-256 its publisher gives; nothing was kept',
      });
    }
    // Over the bytes received, whatever was typed.
    const signer = await this.publishers.signer(found as string, sig);
    const pkg = readReleasePackage(bytes);
    const known = await this.repo.get(pkg.version);
    if (known) return sameRelease(known, expected);
    const chunks: [Digest, number][] = [];
    for await (const chunk of chunkStream(once(bytes))) {
      const [digest] = (await cpuPool().hash([chunk])) as [Digest];
      await this.deps.store.put(digest, Buffer.from(chunk));
      chunks.push([digest, chunk.length]);
    }
    const row: ReleaseRow = {
      version: pkg.version,
      sha256: expected,
      bytes: bytes.length,
      chunks: JSON.stringify(chunks),
      dependencies: JSON.stringify(pkg.dependencies),
      source,
      added_at: new Date().toISOString(),
      signer_key_id: signer?.keyId ?? null,
      signer_name: signer?.name ?? null,
      signature: signer && sig ? sig.toString('base64') : null,
    };
    if (!(await this.repo.insert(row))) return sameRelease(await this.row(pkg.version), expected);
    return toRecord(row);
  }

  /**
   * Reads the tarball at `url` (http, https, ftp; the server's proxy settings) and its
   * signature from `from.signatureUrl` if given, then `add`.
   */
  async addFromUrl(text: string, sha256: string, from: ReleaseSignatureSource = {}): Promise<ReleaseRecord> {
    checkedSha256(sha256);
    const url = parseSourceUrl(text);
    const signature = await this.signatureFrom(from);
    await this.publishers.requireSignatureIfTrusted(signature !== undefined);
    const access = { proxy: chooseProxy(url, this.deps.env).proxy };
    const dl = await openDownload(url, { offset: 0 }, access);
    const parts: Buffer[] = [];
    let size = 0;
    try {
      for await (const batch of dl.body) {
        for (const b of batch) {
          size += b.length;
          if (size > RELEASE_BYTES) throw tooLarge(size);
          parts.push(Buffer.from(b));
        }
      }
    } finally {
      dl.close();
    }
    return this.add(Buffer.concat(parts), sha256, signature, redactUrl(url));
  }

  /** The signature given, or read from its URL first (so a bad one refuses before the tarball is read). */
  private async signatureFrom(from: ReleaseSignatureSource): Promise<string | undefined> {
    if (from.signature !== undefined && from.signatureUrl !== undefined) {
      throw new IngotError('INVALID_ARGUMENT', 'give one of a signature or a signature URL, not both');
    }
    if (from.signatureUrl === undefined) return from.signature;
    const url = parseSourceUrl(from.signatureUrl);
    const bytes = await readSmallBytes(
      url,
      { proxy: chooseProxy(url, this.deps.env).proxy },
      SIGNATURE_FILE_BYTES,
    );
    return parseReleaseSignature(bytes).toString('base64');
  }

  async list(): Promise<ReleaseRecord[]> {
    return (await this.repo.list()).map(toRecord);
  }

  async show(version: string): Promise<ReleaseRecord> {
    return toRecord(await this.row(version));
  }

  /** The tarball's bytes from the store, checked against the kept SHA-256. */
  async tarball(version: string): Promise<Buffer> {
    const row = await this.row(version);
    const parts: Buffer[] = [];
    for (const [digest] of JSON.parse(row.chunks) as [Digest, number][]) {
      parts.push(await this.deps.store.get(digest));
    }
    const bytes = Buffer.concat(parts);
    const [found] = await cpuPool().hash([bytes]);
    if (found !== row.sha256) {
      throw new IngotError('CORRUPT', `release ${version} reads back as ${found}, not ${row.sha256}`, {
        details: { expected: row.sha256, found },
      });
    }
    return bytes;
  }

  /** Every chunk a kept release names: gc's roots besides the images'. */
  async chunkDigests(): Promise<Digest[]> {
    return (await this.repo.list()).flatMap((r) =>
      (JSON.parse(r.chunks) as [Digest, number][]).map(([d]) => d),
    );
  }

  async row(version: string): Promise<ReleaseRow> {
    const row = await this.repo.get(version);
    if (!row) {
      throw new IngotError('NOT_FOUND', `no release ${JSON.stringify(version)}`, {
        hint: 'see the releases with: ingot update list; add one with: ingot update add --file ingot-X.Y.Z.tgz --sha256 HEX',
      });
    }
    return row;
  }
}

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

export function checkedSha256(text: string): string {
  if (!SHA256.test(text)) {
    throw new IngotError('INVALID_ARGUMENT', 'a SHA-256 is 64 lowercase hex digits', {
      hint: "give the release's SHA-256 with --sha256 HEX",
    });
  }
  return text;
}

export function tooLarge(size: number): IngotError {
  return new IngotError(
    'LIMIT_EXCEEDED',
    `a release is at most ${RELEASE_BYTES} bytes; this one has ${size} or more`,
    {
      details: { limit: RELEASE_BYTES, size },
    },
  );
}

/** The same version added again: the same bytes are no change; other bytes are refused. */
function sameRelease(row: ReleaseRow, sha256: string): ReleaseRecord {
  if (row.sha256 !== sha256) {
    throw new IngotError(
      'ALREADY_EXISTS',
      `release ${row.version} is kept with another SHA-256 (${row.sha256})`,
      {
        details: { version: row.version, kept: row.sha256, given: sha256 },
        hint: 'a version names one tarball; give the new build another version',
      },
    );
  }
  return toRecord(row);
}

function toRecord(r: ReleaseRow): ReleaseRecord {
  return {
    version: r.version,
    sha256: r.sha256,
    bytes: Number(r.bytes),
    chunks: (JSON.parse(r.chunks) as unknown[]).length,
    dependencies: JSON.parse(r.dependencies) as Record<string, string>,
    source: r.source,
    addedAt: r.added_at,
    signer: r.signer_key_id ? { keyId: r.signer_key_id, name: r.signer_name ?? '' } : null,
  };
}
