import type { CatalogService } from '../catalog/catalog.service.js';
import { requireChunks } from '../catalog/chunk-check.js';
import type { ImageService } from '../catalog/image.service.js';
import type { ImageRecord } from '../catalog/types.js';
import { chunkLengths } from '../core/chunk-lengths.js';
import { type Clock, systemClock } from '../core/clock.js';
import { DigestTable } from '../core/digest-table.js';
import { IngotError } from '../core/errors.js';
import type { ChunkRef, Digest } from '../core/manifest.js';
import { manifestDigest } from '../core/manifest-codec.js';
import { decodeRoot, partsOf } from '../core/manifest-v2.js';
import {
  keyId,
  type SignedDocument,
  type SigningIdentity,
  verifyDocumentSignature,
} from '../core/signatures.js';
import type { ChunkStore } from '../store/chunk-store.js';
import { type ManifestSummary, namedChunks } from '../store/manifest-store.js';
import type { StagedStore } from '../store/staged-store.js';
import { BaseIndex, ReferencePicker } from '../transfer/delta-references.js';
import type { ImageOffer, SinkStatus } from '../transfer/image-sides.js';
import { MAX_DIGESTS_PER_QUERY } from '../transfer/ports.js';
import { type LocalSideDeps, offerMeta } from './local-sides.js';
import type { PeerService } from './peer.service.js';
import type { Sender } from './replica.service.js';
import { malformed, offerToJson, openDocument, parseOffer, sha256, signDocument } from './signed-document.js';

/**
 * Bundles, the offline route: the same signed manifests and chunks as the wire protocol,
 * in a file. The server that makes one signs a header listing each image's offer and
 * manifest; an importer trusts it only if that server is itself or a registered peer (of
 * the header's cluster name, the one whose key signed it), and then every listed digest
 * is vouched for, as with a template version. The bundle holds
 * the chunks of its images minus those of a base image or of a site's inventory; where
 * the receiver holds a base of an image (the `--base`, or the image's parent in the
 * inventory), a chunk is carried as a delta against the base's chunks in its place, as
 * between peers (store-format §12.4).
 */
export interface BundlePlan {
  readonly document: SignedDocument;
  /** The chunks to put in the bundle, each once. */
  readonly digests: Digest[];
  /** Per digest, the receiver's chunks a delta of it may be made against, or null. */
  readonly references: (Digest[] | null)[];
  readonly rawBytes: number;
  readonly imageBytes: number;
}

export interface Inventory {
  readonly format: 'ingot-inventory';
  readonly server: string;
  readonly createdAt: string;
  readonly images: { name: string; digest: string }[];
}

export class BundleService {
  constructor(
    private readonly deps: {
      readonly self: string;
      readonly identity: SigningIdentity;
      readonly images: ImageService;
      readonly catalog: CatalogService;
      readonly peers: PeerService;
      readonly local: LocalSideDeps;
      readonly clock?: Clock;
    },
  ) {}

  async inventory(): Promise<Inventory> {
    const images = await this.deps.catalog.listImages();
    return {
      format: 'ingot-inventory',
      server: this.deps.self,
      createdAt: this.now(),
      images: images.map((i) => ({ name: i.name, digest: i.digest })),
    };
  }

  async plan(names: readonly string[], relativeTo: { base?: string; have?: unknown }): Promise<BundlePlan> {
    if (names.length === 0) throw new IngotError('INVALID_ARGUMENT', 'a bundle needs at least one --image');
    const { known, held } = await this.knownChunks(relativeTo);
    const listed: unknown[] = [];
    const digests = new Map<Digest, number>();
    const references = new Map<Digest, Digest[]>();
    let imageBytes = 0;
    for (const name of names) {
      const loaded = await this.deps.images.manifest(name);
      const { image, bytes } = loaded;
      if (image.private) throw new IngotError('CONFLICT', `image ${name} is private to this server`);
      listed.push({
        ...(offerToJson(await offerMeta(this.deps.local, image)) as object),
        manifest: bytes.toString('base64'),
      });
      imageBytes += image.size;
      const own = [...namedChunks(loaded)].filter(([d]) => !known.has(d) && !digests.has(d));
      for (const [d, n] of own) digests.set(d, n);
      const base =
        held.find((h) => h.digest === image.parentDigest) ?? (relativeTo.base ? held[0] : undefined);
      if (base) {
        const order = [...chunkLengths(loaded.manifest.chunks).keys()];
        await this.pickReferences(base, order, new Set(own.map(([d]) => d)), references);
      }
    }
    const document = signDocument(this.deps.identity, 'bundle', {
      format: 'ingot-bundle',
      formatVersion: 1,
      createdBy: this.deps.self,
      createdAt: this.now(),
      images: listed as never,
    });
    let rawBytes = 0;
    for (const n of digests.values()) rawBytes += n;
    const carried = [...digests.keys()];
    return {
      document,
      digests: carried,
      references: carried.map((d) => references.get(d) ?? null),
      rawBytes,
      imageBytes,
    };
  }

  /** The references of `wanted` chunks of an image (all its chunks, in order) against `base`. */
  private async pickReferences(
    base: ImageRecord,
    chunks: readonly Digest[],
    wanted: ReadonlySet<Digest>,
    into: Map<Digest, Digest[]>,
  ): Promise<void> {
    const picker = new ReferencePicker(await BaseIndex.of(this.deps.images.chunkList(base.digest)));
    for (let i = 0; i < chunks.length; i += MAX_DIGESTS_PER_QUERY) {
      const batch = chunks.slice(i, i + MAX_DIGESTS_PER_QUERY);
      const refs = picker.pick(batch, wanted);
      batch
        .filter((d) => wanted.has(d))
        .forEach((d, k) => {
          const r = refs[k];
          if (r) into.set(d, r);
        });
    }
  }

  /** Refuses a bundle this server must not take, before any of its chunks is stored. */
  async check(
    document: SignedDocument,
  ): Promise<{ createdBy: string; images: { name: string; status: SinkStatus }[] }> {
    const { sender, offers } = await this.open(document);
    const images = [];
    for (const offer of offers) {
      images.push({
        name: offer.name,
        status: await this.deps.local.replicas.check(sender, offer, vouch(offer)),
      });
    }
    return { createdBy: sender.name, images };
  }

  /**
   * What an import checks before anything of the bundle reaches the store, against `view`
   * (the store with the bundle's chunks staged beside it): every chunk its images name is
   * there, and `carried`, the chunks the bundle held, are all named by one of them.
   */
  async checkContents(
    document: SignedDocument,
    view: ChunkView,
    carried: AsyncIterable<Digest>,
  ): Promise<void> {
    const { offers } = await this.open(document);
    const named = new DigestTable();
    for (const offer of offers) {
      const decoded = decodeRoot(offer.manifest);
      if (decoded.version === 2) for (const p of partsOf(decoded.root)) named.add(p.digest, p.length);
      await this.requireImageChunks(offer, view, (c) => named.add(c.digest, c.length));
    }
    const unnamed: Digest[] = [];
    for await (const d of carried) if (!named.has(d)) unnamed.push(d);
    if (unnamed.length > 0) {
      throw new IngotError(
        'INVALID_ARGUMENT',
        `the bundle carries ${unnamed.length} chunk(s) that none of its images names`,
        {
          details: { chunks: unnamed.slice(0, 10) },
          hint: 'the bundle was changed after it was made; nothing was changed here',
        },
      );
    }
  }

  /**
   * The end of an import whose chunks were staged: checks the contents against the store
   * with the staged chunks beside it, moves them into the store, then commits. A refusal
   * drops the staging store, so the store is as it was; `staged` is gone either way.
   */
  async commitStaged(document: SignedDocument, staged: StagedStore): ReturnType<BundleService['commit']> {
    try {
      await this.checkContents(document, { store: staged, manifests: staged.manifests }, staged.staged());
      await staged.promote();
    } finally {
      await staged.discard();
    }
    return this.commit(document);
  }

  /** Lists every image of the bundle, or none: all chunks must be here first. */
  async commit(
    document: SignedDocument,
  ): Promise<{ createdBy: string; images: { name: string; status: SinkStatus }[] }> {
    const { sender, offers } = await this.open(document);
    const view = { store: this.deps.local.store, manifests: this.deps.images };
    for (const offer of offers) await this.requireImageChunks(offer, view);
    const images = [];
    for (const offer of offers) {
      images.push({
        name: offer.name,
        status: await this.deps.local.replicas.accept(sender, offer, vouch(offer)),
      });
    }
    return { createdBy: sender.name, images };
  }

  /** The servers a bundle's `createdBy` may name: this one, and the peers of that cluster name. */
  private async creators(creator: string): Promise<Sender[]> {
    const { identity, peers, self } = this.deps;
    const out: Sender[] =
      creator === self
        ? [
            {
              name: self,
              clusterName: self,
              signingKeyPem: identity.publicKeyPem,
              signingKeyId: keyId(identity.publicKeyPem),
            },
          ]
        : [];
    out.push(...(await peers.byClusterName(creator)));
    const byLocalName = await peers.find(creator);
    if (byLocalName && !out.some((s) => s.name === byLocalName.name)) out.push(byLocalName);
    return out;
  }

  /** Every data chunk `offer` names is in `view` (each handed to `onChunk` too). */
  private async requireImageChunks(
    offer: ImageOffer,
    view: ChunkView,
    onChunk?: (c: ChunkRef & { kind: 'data' }) => void,
  ): Promise<void> {
    try {
      const { chunks } = await view.manifests.summary(offer.manifest);
      await requireChunks(view.store, onChunk ? tap(chunks, onChunk) : chunks);
    } catch (err) {
      if (err instanceof IngotError && err.code === 'MISSING_CHUNKS') {
        throw new IngotError(
          'MISSING_CHUNKS',
          `this server lacks chunks ${offer.name} needs that the bundle does not carry`,
          {
            ...(err.details ? { details: err.details } : {}),
            hint: 'the bundle was made relative to a base or an inventory this server does not match; import the base first or make a full bundle; nothing was changed',
          },
        );
      }
      throw err;
    }
  }

  private async open(document: SignedDocument): Promise<{ sender: Sender; offers: ImageOffer[] }> {
    const creator = bundleCreator(document);
    const candidates = await this.creators(creator);
    if (candidates.length === 0) {
      throw new IngotError(
        'FORBIDDEN',
        `the bundle was made by ${creator}, which this server does not trust`,
        {
          hint: `register ${creator} as a peer (\`ingot register server\`) to take its bundles`,
        },
      );
    }
    // Cluster names may repeat: the creator is whichever of them signed the header.
    const signed = sha256(document.body);
    const sender =
      candidates.find((c) =>
        verifyDocumentSignature(c.signingKeyPem, 'bundle', signed, document.signature),
      ) ?? (candidates[0] as Sender);
    const body = openDocument(document, 'bundle', sender.signingKeyPem, sender.name);
    if (body.format !== 'ingot-bundle' || body.formatVersion !== 1 || !Array.isArray(body.images)) {
      throw malformed('bundle', 'unknown format');
    }
    const offers = body.images.map((raw) => {
      const meta = parseOffer('bundle', raw);
      const manifest = Buffer.from(String((raw as { manifest?: unknown }).manifest ?? ''), 'base64');
      if (manifestDigest(manifest) !== meta.digest)
        throw malformed('bundle', `the manifest of ${meta.name} does not match its digest`);
      return { ...meta, manifest };
    });
    return { sender, offers };
  }

  /** The chunks the receiver holds, and the images it holds them as. */
  private async knownChunks(relativeTo: {
    base?: string;
    have?: unknown;
  }): Promise<{ known: Set<Digest>; held: ImageRecord[] }> {
    const known = new Set<Digest>();
    const held: ImageRecord[] = [];
    if (relativeTo.base) held.push(await this.deps.catalog.getImage(relativeTo.base));
    if (relativeTo.have !== undefined) {
      const byDigest = new Map((await this.deps.catalog.listImages()).map((i) => [i.digest as string, i]));
      for (const { digest } of parseInventory(relativeTo.have).images) {
        const image = byDigest.get(digest);
        if (image) held.push(image);
      }
    }
    for (const image of held) {
      for (const d of namedChunks(await this.deps.images.manifest(image.name)).keys()) known.add(d);
    }
    return { known, held };
  }

  private now(): string {
    return (this.deps.clock ?? systemClock).now().toISOString();
  }
}

/** A chunk store and the manifests read through it. */
interface ChunkView {
  readonly store: ChunkStore;
  readonly manifests: { summary(bytes: Buffer): Promise<ManifestSummary> };
}

async function* tap(
  lists: AsyncIterable<readonly ChunkRef[]>,
  onChunk: (c: ChunkRef & { kind: 'data' }) => void,
): AsyncGenerator<readonly ChunkRef[]> {
  for await (const refs of lists) {
    for (const c of refs) if (c.kind === 'data') onChunk(c);
    yield refs;
  }
}

function vouch(offer: ImageOffer) {
  return { kind: 'vouched' as const, digest: offer.digest, originKey: offer.originKey };
}

function bundleCreator(document: SignedDocument): string {
  try {
    const by = (JSON.parse(document.body) as { createdBy?: unknown }).createdBy;
    if (typeof by === 'string') return by;
  } catch {
    // reported below
  }
  throw malformed('bundle', 'its header names no creator');
}

export function parseInventory(value: unknown): Inventory {
  const v = (value ?? {}) as Partial<Inventory>;
  if (v.format !== 'ingot-inventory' || !Array.isArray(v.images)) {
    throw new IngotError('INVALID_ARGUMENT', 'not an inventory file', {
      hint: 'make one with `ingot inventory --out FILE` on the site',
    });
  }
  return v as Inventory;
}
