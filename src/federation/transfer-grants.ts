import { DigestTable } from '../core/digest-table.js';
import { IngotError } from '../core/errors.js';
import type { ChunkRef, Digest } from '../core/manifest.js';
import { manifestDigest } from '../core/manifest-codec.js';
import { decodeRoot, partsOf } from '../core/manifest-v2.js';
import type { MovingChunk } from '../transfer/ports.js';

/**
 * What a peer may read or write of this server's chunks: only the chunks of an image in a
 * transfer with it. Offering an image to a peer (a pull) grants it reading that image's
 * chunks; accepting its offer (a push) grants it asking about and sending that image's
 * chunks. Every chunk request on the peer API names the image and is checked against the
 * grant of its direction. A peer that knows a digest gets nothing by naming it,
 * and cannot drop chunks nobody asked for. Grants live in memory, the most recent GRANTS
 * of them, each for GRANT_TTL_MS after its last use. Write grants are also written to a
 * ledger in the catalog, so a push's requests that a balancer sends to another node of
 * this server find it there (a read grant is made again from the catalog's images instead:
 * peer.routes.ts).
 *
 * A version 2 root names only its parts; the data chunks are named inside them. So a
 * pushed image's grant starts as its parts and widens to the whole image once the parts
 * are stored here (verified against the root the origin signed), which is why a pusher
 * moves the parts first. A grant's chunks are a DigestTable, read from the chunk list
 * part by part: a grant costs ~52 bytes a chunk, outside the JS heap.
 *
 * A push grant also names the bases this server offered for deltas: a pushed delta must be
 * made against one of their chunks, so a peer cannot make this server decode against, or
 * confirm it holds, any other chunk.
 */
/**
 * Grants held at once are bounded by the chunks they name (~52 bytes each: 2M chunks,
 * ~100 MiB, are 128 GiB of images in transfer), the least recently used going first, not
 * by their number: a count of 32 refused the 33rd of 50 small pulls at once (FORBIDDEN).
 */
const MAX_GRANTED_CHUNKS = 2_000_000;
const MAX_GRANTS = 4096;
const GRANT_TTL_MS = 60 * 60 * 1000;

/** read: the peer pulls from us; write: the peer pushes to us. */
export type GrantKind = 'read' | 'write';

/** A manifest's chunk list part by part, parts read from this server's store (MISSING_CHUNKS until held). */
export type ChunkListOf = (bytes: Buffer) => AsyncIterable<readonly ChunkRef[]>;

/**
 * What a grant says of its image, for the record of the transfer (peer-transfers.ts): the
 * manifest's parts apart from the image's data.
 */
export interface GrantedImage {
  /** The image's data chunks and their raw bytes; undefined while only its parts are known. */
  readonly data: { readonly chunks: number; readonly bytes: number } | undefined;
  isPart(digest: Digest): boolean;
  lengthOf(digest: Digest): number | undefined;
}

/** A write grant as the ledger keeps it: what `grant` was given. */
export interface LedgerEntry {
  readonly manifest: Buffer;
  readonly bases: readonly Buffer[];
}

/** Where write grants are kept for the other nodes of this server (the catalog). */
export interface GrantLedger {
  save(peer: string, digest: Digest, entry: LedgerEntry): Promise<void>;
  find(peer: string, digest: Digest): Promise<LedgerEntry | undefined>;
  drop(peer: string, digest: Digest): Promise<void>;
}

interface Grant {
  chunks: DigestTable;
  /** The manifest's parts (version 2), also in `chunks`. */
  parts: DigestTable;
  /** The chunks of the bases named for deltas (push). */
  references: DigestTable;
  /** The root, while the grant holds only its parts. */
  narrow: Buffer | undefined;
  usedAt: number;
}

export class TransferGrants {
  private readonly grants = new Map<string, Grant>();

  constructor(
    private readonly chunkList: ChunkListOf,
    private readonly now: () => number = Date.now,
    private readonly ledger?: GrantLedger,
  ) {}

  /**
   * Grants `peer` the chunks of the image whose manifest is `manifest` (named `digest`), and
   * deltas against the chunks of `bases` (manifests of images held here whole).
   */
  async grant(
    peer: string,
    kind: GrantKind,
    digest: Digest,
    manifest: Buffer,
    bases: readonly Buffer[] = [],
  ): Promise<void> {
    await this.make(peer, kind, digest, manifest, bases);
    if (kind === 'write') await this.ledger?.save(peer, digest, { manifest, bases });
  }

  private async make(
    peer: string,
    kind: GrantKind,
    digest: Digest,
    manifest: Buffer,
    bases: readonly Buffer[],
  ): Promise<Grant> {
    if (manifestDigest(manifest) !== digest) {
      throw new IngotError('DIGEST_MISMATCH', 'the manifest sent is not the one the offer names', {
        details: { expected: digest, found: manifestDigest(manifest) },
      });
    }
    const decoded = decodeRoot(manifest);
    const grant: Grant = {
      chunks: new DigestTable(),
      parts: new DigestTable(16),
      references: new DigestTable(),
      narrow: undefined,
      usedAt: this.now(),
    };
    for (const base of bases) for await (const refs of this.chunkList(base)) addData(grant.references, refs);
    if (decoded.version === 1) {
      addData(grant.chunks, decoded.manifest.chunks);
    } else {
      for (const p of partsOf(decoded.root)) {
        grant.chunks.add(p.digest, p.length);
        grant.parts.add(p.digest, p.length);
      }
      grant.narrow = manifest;
      await this.widen(grant);
    }
    const key = keyOf(peer, kind, digest);
    this.grants.delete(key);
    this.grants.set(key, grant);
    this.evict(key);
    return grant;
  }

  /** Least recently used first, until the bounds hold; never the grant just made. */
  private evict(keep: string): void {
    let chunks = 0;
    for (const g of this.grants.values()) chunks += g.chunks.size + g.references.size;
    while ((chunks > MAX_GRANTED_CHUNKS || this.grants.size > MAX_GRANTS) && this.grants.size > 1) {
      let oldest: [string, Grant] | undefined;
      for (const e of this.grants)
        if (e[0] !== keep && (!oldest || e[1].usedAt < oldest[1].usedAt)) oldest = e;
      if (!oldest) return;
      this.grants.delete(oldest[0]);
      chunks -= oldest[1].chunks.size + oldest[1].references.size;
    }
  }

  /** FORBIDDEN unless every digest is a chunk of `image`, granted to `peer`. */
  async check(
    peer: string,
    kind: GrantKind,
    image: string | undefined,
    digests: Iterable<Digest>,
  ): Promise<void> {
    const grant = await this.live(peer, kind, image);
    for (const d of digests) if (!(await this.covers(grant, d))) throw outside(peer, image, d);
  }

  /**
   * Checks each chunk of a pushed stream as it comes, before anything of it is stored, and
   * each delta's reference against the bases granted.
   */
  async *checked<T extends MovingChunk>(
    peer: string,
    image: string | undefined,
    chunks: AsyncIterable<T>,
  ): AsyncGenerator<T> {
    const grant = await this.live(peer, 'write', image);
    for await (const c of chunks) {
      if (!(await this.covers(grant, c.digest))) throw outside(peer, image, c.digest);
      const stranger =
        c.encoded.encoding === 'delta'
          ? c.encoded.references.find((r) => !grant.references.has(r))
          : undefined;
      if (stranger) {
        throw new IngotError(
          'FORBIDDEN',
          `chunk ${c.digest} came as a delta against ${stranger}, which is not a chunk of a base offered to ${peer}`,
          { hint: 'deltas are made only against the bases the receiver named (replicas/check)' },
        );
      }
      yield c;
    }
  }

  private async covers(grant: Grant, digest: Digest): Promise<boolean> {
    if (grant.chunks.has(digest)) return true;
    return (await this.widen(grant)) && grant.chunks.has(digest);
  }

  /** The whole image once a narrow grant's parts are all here; false while they are not. */
  private async widen(grant: Grant): Promise<boolean> {
    if (!grant.narrow) return false;
    try {
      for await (const refs of this.chunkList(grant.narrow)) addData(grant.chunks, refs);
      grant.narrow = undefined;
      return true;
    } catch (err) {
      if (err instanceof IngotError && err.code === 'MISSING_CHUNKS') return false;
      throw err;
    }
  }

  /** The grant of this image, if one lives; using it neither widens nor refreshes it. */
  image(peer: string, kind: GrantKind, digest: Digest): GrantedImage | undefined {
    const grant = this.grants.get(keyOf(peer, kind, digest));
    if (!grant) return undefined;
    return {
      get data() {
        if (grant.narrow) return undefined;
        return {
          chunks: grant.chunks.size - grant.parts.size,
          bytes: grant.chunks.bytes - grant.parts.bytes,
        };
      },
      isPart: (d) => grant.parts.has(d),
      lengthOf: (d) => grant.chunks.lengthOf(d),
    };
  }

  async revoke(peer: string, kind: GrantKind, digest: Digest): Promise<void> {
    this.grants.delete(keyOf(peer, kind, digest));
    if (kind === 'write') await this.ledger?.drop(peer, digest);
  }

  private async live(peer: string, kind: GrantKind, image: string | undefined): Promise<Grant> {
    const key = keyOf(peer, kind, image ?? '');
    const grant = this.grants.get(key) ?? (await this.fromLedger(peer, kind, image));
    if (!grant || this.now() - grant.usedAt > GRANT_TTL_MS) {
      this.grants.delete(key);
      throw new IngotError(
        'FORBIDDEN',
        `${peer} has no ${kind} transfer of image ${image ?? '(none named)'} here`,
        {
          hint: 'chunks move only within a transfer: offer the image (replicas/check) or fetch its offer first',
        },
      );
    }
    grant.usedAt = this.now();
    return grant;
  }

  /** A write grant another node of this server made (its offer was taken there). */
  private async fromLedger(
    peer: string,
    kind: GrantKind,
    image: string | undefined,
  ): Promise<Grant | undefined> {
    if (kind !== 'write' || !this.ledger || image === undefined) return undefined;
    const entry = await this.ledger.find(peer, image as Digest);
    return entry && this.make(peer, kind, image as Digest, entry.manifest, entry.bases);
  }
}

function addData(table: DigestTable, refs: readonly ChunkRef[]): void {
  for (const r of refs) if (r.kind === 'data') table.add(r.digest, r.length);
}

function outside(peer: string, image: string | undefined, digest: Digest): IngotError {
  return new IngotError(
    'FORBIDDEN',
    `chunk ${digest} is not part of image ${image} in a transfer with ${peer}`,
  );
}

function keyOf(peer: string, kind: GrantKind, digest: string): string {
  return `${peer}\n${kind}\n${digest}`;
}
