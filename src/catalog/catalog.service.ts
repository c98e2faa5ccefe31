/**
 * The catalog's rules: names, image types and their payload kinds, series order, lineage,
 * states, working copies. Storage is the repositories' job; this file decides what is
 * allowed and turns every refusal into an IngotError with a hint.
 */
import { Kysely } from 'kysely';
import { type Clock, systemClock } from '../core/clock.js';
import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import { checkName } from '../core/names.js';
import { type ImageState, parseImageState } from '../core/states.js';
import type { Db } from '../db/database.js';
import { isUniqueViolation } from '../db/db-errors.js';
import type { Schema } from '../db/schema.js';
import { imageExists, imageNotFound, typeExists, typeNotFound } from './catalog-errors.js';
import { ImageRepository } from './image.repository.js';
import { ImageTypeRepository } from './image-type.repository.js';
import { SeriesRepository } from './series.repository.js';
import { SeriesRules } from './series.rules.js';
import {
  BASE_TYPES,
  type ImageFilter,
  type ImagePage,
  type ImageRecord,
  type ImageTypeRecord,
  isBaseType,
  type Lineage,
  type NewImage,
  type SeriesDetail,
  type SeriesRecord,
  type SeriesSummary,
  type WorkingCopyRecord,
} from './types.js';
import { WorkingCopyRepository } from './working-copy.repository.js';
import { WorkingCopyRules } from './working-copy.rules.js';

export class CatalogService {
  private readonly clock: Clock;
  private readonly series: SeriesRules;
  private readonly copies: WorkingCopyRules;
  private readonly listeners: ((image: string) => void)[] = [];

  constructor(
    private readonly db: Db,
    opts: { clock?: Clock } = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.series = new SeriesRules(db, this.clock);
    this.copies = new WorkingCopyRules(db, this.clock);
  }

  /**
   * Called after an image is listed, changes state or joins a series, once the change is
   * committed: standing requests (peers' instantiations) decide whether it must travel.
   */
  onImageChanged(listener: (image: string) => void): void {
    this.listeners.push(listener);
  }

  private changed(image: string): void {
    for (const l of this.listeners) l(image);
  }

  /** Runs `fn` in one transaction on either engine; use only `tx` inside. */
  transaction<T>(fn: (tx: Kysely<Schema>) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  // ---- image types

  async createImageType(name: string, baseType: string, description = ''): Promise<ImageTypeRecord> {
    checkName('image type', name);
    const base = typeof baseType === 'string' ? baseType.toUpperCase() : baseType;
    if (!isBaseType(base)) {
      throw new IngotError('INVALID_ARGUMENT', `unknown base type ${JSON.stringify(baseType)}`, {
        hint: `use one of ${Object.keys(BASE_TYPES).join(', ')}`,
      });
    }
    const record: ImageTypeRecord = {
      name,
      baseType: base,
      description,
      builtin: false,
      createdAt: this.now(),
    };
    const repo = new ImageTypeRepository(this.db.kysely);
    if (await repo.get(name)) throw typeExists(name);
    try {
      await repo.insert(record);
    } catch (err) {
      throw isUniqueViolation(err) ? typeExists(name) : err;
    }
    return record;
  }

  listImageTypes(): Promise<ImageTypeRecord[]> {
    return new ImageTypeRepository(this.db.kysely).list();
  }

  async getImageType(name: string): Promise<ImageTypeRecord> {
    const t = await new ImageTypeRepository(this.db.kysely).get(name);
    if (!t) throw typeNotFound(name);
    return t;
  }

  /** Built-in base types and types that images still use cannot go. */
  async deleteImageType(name: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const types = new ImageTypeRepository(tx);
      const t = await types.get(name);
      if (!t) throw typeNotFound(name);
      if (t.builtin) throw new IngotError('READ_ONLY', `image type ${name} is a built-in base type`);
      const used = await new ImageRepository(tx).countOfType(name);
      if (used > 0) {
        throw new IngotError('CONFLICT', `image type ${name} is used by ${used} image(s)`, {
          hint: 'delete those images first (ingot image list --type NAME)',
        });
      }
      await types.delete(name);
    });
  }

  // ---- series (rules in series.rules.ts)

  createSeries(name: string, description = ''): Promise<SeriesRecord> {
    return this.series.create(name, description);
  }
  listSeries(): Promise<SeriesSummary[]> {
    return this.series.list();
  }
  showSeries(name: string): Promise<SeriesDetail> {
    return this.series.show(name);
  }
  async addToSeries(series: string, image: string): Promise<void> {
    await this.db.transaction((tx) => this.series.append(tx, series, image));
    this.changed(image);
  }
  removeFromSeries(series: string, image: string): Promise<void> {
    return this.series.remove(series, image);
  }
  deleteSeries(name: string): Promise<void> {
    return this.series.delete(name);
  }
  seriesOfImage(image: string): Promise<string[]> {
    return new SeriesRepository(this.db.kysely).seriesOf(image);
  }

  // ---- images

  /**
   * Lists a new image. Called at commit, after every chunk is known to be stored. Either
   * in its own transaction (`insertImage(record, series?)`) or inside the caller's
   * (`insertImage(tx, record)`), so the listing and the series membership land together.
   */
  insertImage(record: NewImage, series?: string): Promise<ImageRecord>;
  insertImage(tx: Kysely<Schema>, record: NewImage): Promise<ImageRecord>;
  async insertImage(a: NewImage | Kysely<Schema>, b?: NewImage | string): Promise<ImageRecord> {
    if (a instanceof Kysely) return this.insertImageIn(a, b as NewImage);
    const record = typeof b === 'string' ? { ...a, series: b } : a;
    const inserted = await this.db.transaction((tx) => this.insertImageIn(tx, record));
    this.changed(inserted.name);
    return inserted;
  }

  private async insertImageIn(tx: Kysely<Schema>, input: NewImage): Promise<ImageRecord> {
    const images = new ImageRepository(tx);
    const name = checkName('image', input.name);
    if (await images.get(name)) throw imageExists(name);
    await this.checkPayloadFitsType(tx, input);
    const parent = await this.resolveParent(images, input);
    const record: ImageRecord = {
      name,
      digest: input.digest,
      kind: input.kind,
      imageType: input.imageType,
      state: input.state === undefined ? 'TESTABLE' : parseImageState(input.state),
      parentName: parent.name,
      parentDigest: parent.digest,
      origin: input.origin,
      originKeyId: input.originKeyId ?? null,
      size: input.size,
      storedBytes: input.storedBytes,
      chunkCount: input.chunkCount,
      fileCount: input.fileCount,
      signature: input.signature ?? null,
      createdAt: input.createdAt ?? this.now(),
      receivedFrom: input.receivedFrom ?? null,
      private: input.private ?? false,
      uploaded: input.uploaded ?? false,
    };
    try {
      await images.insert(record);
    } catch (err) {
      // Two commits of one name can both pass the check above; the key decides.
      throw isUniqueViolation(err) ? imageExists(name) : err;
    }
    if (input.series !== undefined) await this.series.append(tx, input.series, name);
    return record;
  }

  /** Refuses an unknown image type, or one whose base takes the other payload kind. */
  checkImageType(imageType: string, kind: NewImage['kind']): Promise<void> {
    return this.checkPayloadFitsType(this.db.kysely, { imageType, kind });
  }

  private async checkPayloadFitsType(
    tx: Kysely<Schema>,
    input: Pick<NewImage, 'imageType' | 'kind'>,
  ): Promise<void> {
    const type = await new ImageTypeRepository(tx).get(input.imageType);
    if (!type) throw typeNotFound(input.imageType);
    const wanted = BASE_TYPES[type.baseType];
    if (input.kind !== wanted) {
      throw new IngotError(
        'INVALID_ARGUMENT',
        `image type ${type.name} (base ${type.baseType}) takes a ${wanted} payload, not a ${input.kind}`,
        {
          hint:
            wanted === 'tree'
              ? 'add a directory, or pick a file type such as DISKIMAGE, ISO or ARCHIVE'
              : 'add a single file, or pick a tree type such as SOFTWARE or OSIMAGE',
        },
      );
    }
  }

  /** A named parent must exist; a bare parent digest (a replica's) links up when held here. */
  private async resolveParent(
    images: ImageRepository,
    input: NewImage,
  ): Promise<{ name: string | null; digest: Digest | null }> {
    if (input.parentName) {
      const p = await images.get(input.parentName);
      if (!p) throw imageNotFound(input.parentName, 'the parent image');
      if (input.parentDigest && input.parentDigest !== p.digest) {
        throw new IngotError(
          'INVALID_ARGUMENT',
          `parent ${p.name} has digest ${p.digest}, not ${input.parentDigest}`,
        );
      }
      return { name: p.name, digest: p.digest };
    }
    if (!input.parentDigest) return { name: null, digest: null };
    const p = await images.getByDigest(input.parentDigest);
    return { name: p?.name ?? null, digest: input.parentDigest };
  }

  async listImages(filter: ImageFilter = {}): Promise<ImageRecord[]> {
    if (filter.type) await this.getImageType(filter.type);
    if (filter.series) await this.series.get(filter.series);
    return new ImageRepository(this.db.kysely).list(filter);
  }

  /** One page of `listImages(filter)` and how many images match in all. */
  async pageImages(filter: ImageFilter, page: ImagePage): Promise<{ images: ImageRecord[]; total: number }> {
    if (filter.type) await this.getImageType(filter.type);
    if (filter.series) await this.series.get(filter.series);
    const repo = new ImageRepository(this.db.kysely);
    return { images: await repo.list(filter, page), total: await repo.count(filter) };
  }

  /** How many images, in each state, and their logical and stored bytes added up. */
  async imageTotals(): Promise<{
    count: number;
    byState: Record<ImageState, number>;
    logicalBytes: number;
    storedBytes: number;
  }> {
    const repo = new ImageRepository(this.db.kysely);
    const byState = await repo.countByState();
    const count = Object.values(byState).reduce((a, b) => a + b, 0);
    return { count, byState, ...(await repo.byteSums()) };
  }

  async getImage(name: string): Promise<ImageRecord> {
    const image = await this.findImage(name);
    if (!image) throw imageNotFound(name);
    return image;
  }

  /**
   * Gives this server's own images listed before origin key ids were kept (migration 006)
   * the id of its key: made here, not received, named after this server. Run at start.
   */
  adoptOwnImages(self: string, keyId: string): Promise<number> {
    return new ImageRepository(this.db.kysely).adoptOwn(self, keyId);
  }

  countImagesByState(): Promise<Record<ImageState, number>> {
    return new ImageRepository(this.db.kysely).countByState();
  }

  findImage(name: string): Promise<ImageRecord | undefined> {
    return new ImageRepository(this.db.kysely).get(name);
  }

  findImageByDigest(digest: string): Promise<ImageRecord | undefined> {
    return new ImageRepository(this.db.kysely).getByDigest(digest);
  }

  async lineage(name: string): Promise<Lineage> {
    const images = new ImageRepository(this.db.kysely);
    const image = await this.getImage(name);
    const ancestors: ImageRecord[] = [];
    const seen = new Set([image.name]);
    let cur = image;
    while (cur.parentName && !seen.has(cur.parentName)) {
      const parent = await images.get(cur.parentName);
      if (!parent) break;
      ancestors.push(parent);
      seen.add(parent.name);
      cur = parent;
    }
    const unresolved = cur.parentName === null && cur.parentDigest ? cur.parentDigest : null;
    return { image, ancestors, descendants: await images.children(name), unresolvedParentDigest: unresolved };
  }

  async setState(name: string, state: ImageState): Promise<ImageRecord> {
    const valid = parseImageState(state);
    const current = await this.getImage(name);
    if (current.receivedFrom !== null && !current.uploaded) {
      throw new IngotError('READ_ONLY', `image ${name} is a replica from ${current.receivedFrom}`, {
        hint: `replicas are read-only; change its state on ${current.origin}, where it was made`,
      });
    }
    if (!(await new ImageRepository(this.db.kysely).setState(name, valid))) throw imageNotFound(name);
    this.changed(name);
    return { ...current, state: valid };
  }

  /**
   * Removes an image from the catalog (its chunks go at the next gc). Descendants stay and
   * keep their parent digest. Working copies deployed from it block the delete unless
   * `force`, which forgets them too.
   */
  async deleteImage(name: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.db.transaction(async (tx) => {
      const images = new ImageRepository(tx);
      if (!(await images.get(name))) throw imageNotFound(name);
      const copies = new WorkingCopyRepository(tx);
      const n = await copies.countForImage(name);
      if (n > 0 && !opts.force) {
        throw new IngotError(
          'CONFLICT',
          `image ${name} has ${n} registered working cop${n === 1 ? 'y' : 'ies'}`,
          {
            hint: 'delete with --force to forget them as well',
          },
        );
      }
      await copies.deleteForImage(name);
      await images.detachChildren(name);
      await images.delete(name);
    });
  }

  /** Manifest digests of every listed image: the roots of garbage collection. */
  listDigests(): Promise<Digest[]> {
    return new ImageRepository(this.db.kysely).digests();
  }

  // ---- working copies (rules in working-copy.rules.ts)

  registerWorkingCopy(image: string, host: string, path: string): Promise<WorkingCopyRecord> {
    return this.copies.register(image, host, path);
  }
  findWorkingCopyContaining(host: string, path: string): Promise<WorkingCopyRecord | undefined> {
    return this.copies.findContaining(host, path);
  }
  listWorkingCopies(filter: { image?: string; host?: string } = {}): Promise<WorkingCopyRecord[]> {
    return this.copies.list(filter);
  }
  unregisterWorkingCopy(
    which: { id: number } | { host: string; path: string; image?: string },
  ): Promise<WorkingCopyRecord> {
    return this.copies.unregister(which);
  }

  private now(): string {
    return this.clock.now().toISOString();
  }
}
