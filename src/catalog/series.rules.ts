/**
 * Series rules. A series is an ordered list of images, newest last; appending takes the
 * next position under a lock on the series row. Deleting a series forgets its order and
 * memberships but never touches the images, so it is allowed whether or not it is empty.
 */
import type { Kysely } from 'kysely';
import type { Clock } from '../core/clock.js';
import { IngotError } from '../core/errors.js';
import { checkName } from '../core/names.js';
import type { Db } from '../db/database.js';
import { isUniqueViolation } from '../db/db-errors.js';
import type { Schema } from '../db/schema.js';
import { imageNotFound, seriesNotFound } from './catalog-errors.js';
import { ImageRepository } from './image.repository.js';
import { SeriesRepository } from './series.repository.js';
import type { SeriesDetail, SeriesRecord, SeriesSummary } from './types.js';

export class SeriesRules {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async create(name: string, description: string): Promise<SeriesRecord> {
    checkName('series', name);
    const record = { name, description, createdAt: this.clock.now().toISOString() };
    const repo = new SeriesRepository(this.db.kysely);
    if (await repo.get(name)) throw seriesExists(name);
    try {
      await repo.insert(record);
    } catch (err) {
      throw isUniqueViolation(err) ? seriesExists(name) : err;
    }
    return record;
  }

  list(): Promise<SeriesSummary[]> {
    return new SeriesRepository(this.db.kysely).list();
  }

  async get(name: string, db: Kysely<Schema> = this.db.kysely): Promise<SeriesRecord> {
    const s = await new SeriesRepository(db).get(name);
    if (!s) throw seriesNotFound(name);
    return s;
  }

  async show(name: string): Promise<SeriesDetail> {
    const series = await this.get(name);
    return { series, images: await new SeriesRepository(this.db.kysely).members(name) };
  }

  /** Appends inside the caller's transaction (a commit lists an image and its series at once). */
  async append(tx: Kysely<Schema>, series: string, image: string): Promise<void> {
    const repo = new SeriesRepository(tx);
    if (!(await repo.lock(series))) throw seriesNotFound(series);
    if (!(await new ImageRepository(tx).get(image))) throw imageNotFound(image);
    if (await repo.hasMember(series, image)) {
      throw new IngotError('ALREADY_EXISTS', `image ${image} is already in series ${series}`);
    }
    await repo.addMember(series, image, await repo.nextPosition(series), this.clock.now().toISOString());
  }

  async remove(series: string, image: string): Promise<void> {
    await this.get(series);
    if (!(await new SeriesRepository(this.db.kysely).removeMember(series, image))) {
      throw new IngotError('NOT_FOUND', `image ${image} is not in series ${series}`);
    }
  }

  async delete(name: string): Promise<void> {
    if (!(await new SeriesRepository(this.db.kysely).delete(name))) throw seriesNotFound(name);
  }
}

function seriesExists(name: string): IngotError {
  return new IngotError('ALREADY_EXISTS', `series ${name} already exists`, {
    hint: 'list series with: ingot series list',
  });
}
