/**
 * Working copies: where an image was deployed (host and absolute path). An image added
 * from a path inside a registered working copy gets that copy's image as its parent.
 */

import { posix } from 'node:path';
import type { Clock } from '../core/clock.js';
import { IngotError } from '../core/errors.js';
import type { Db } from '../db/database.js';
import { isUniqueViolation } from '../db/db-errors.js';
import { imageNotFound } from './catalog-errors.js';
import { ImageRepository } from './image.repository.js';
import type { WorkingCopyRecord } from './types.js';
import { WorkingCopyRepository } from './working-copy.repository.js';

export class WorkingCopyRules {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async register(image: string, host: string, path: string): Promise<WorkingCopyRecord> {
    const h = checkHost(host);
    const p = normalisePath(path);
    if (!(await new ImageRepository(this.db.kysely).get(image))) throw imageNotFound(image);
    try {
      return await new WorkingCopyRepository(this.db.kysely).insert({
        imageName: image,
        host: h,
        path: p,
        createdAt: this.clock.now().toISOString(),
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      throw new IngotError('ALREADY_EXISTS', `a working copy is already registered at ${h}:${p}`);
    }
  }

  /** The working copy at `path` or at the nearest directory above it, if any. */
  async findContaining(host: string, path: string): Promise<WorkingCopyRecord | undefined> {
    const p = normalisePath(path);
    const copies = await new WorkingCopyRepository(this.db.kysely).list({ host: checkHost(host) });
    let best: WorkingCopyRecord | undefined;
    for (const wc of copies) {
      const inside = p === wc.path || p.startsWith(wc.path === '/' ? '/' : `${wc.path}/`);
      if (inside && (!best || wc.path.length > best.path.length)) best = wc;
    }
    return best;
  }

  async list(filter: { image?: string; host?: string } = {}): Promise<WorkingCopyRecord[]> {
    if (filter.image && !(await new ImageRepository(this.db.kysely).get(filter.image))) {
      throw imageNotFound(filter.image);
    }
    return new WorkingCopyRepository(this.db.kysely).list(filter);
  }

  /**
   * Forgets a working copy (the files stay where they are): by its id, or by host and path,
   * and then, when `image` is given, only if it is a copy of that image.
   */
  async unregister(
    which: { id: number } | { host: string; path: string; image?: string },
  ): Promise<WorkingCopyRecord> {
    const copies = new WorkingCopyRepository(this.db.kysely);
    let wc: WorkingCopyRecord | undefined;
    if ('id' in which) {
      wc = await copies.get(which.id);
      if (!wc) throw new IngotError('NOT_FOUND', `no working copy with id ${which.id}`);
    } else {
      const where = `${which.host}:${normalisePath(which.path)}`;
      wc = await copies.find(checkHost(which.host), normalisePath(which.path));
      if (!wc) throw new IngotError('NOT_FOUND', `no working copy registered at ${where}`);
      if (which.image !== undefined && wc.imageName !== which.image) {
        throw new IngotError(
          'NOT_FOUND',
          `the working copy at ${where} is of ${wc.imageName}, not ${which.image}`,
        );
      }
    }
    await copies.delete(wc.id);
    return wc;
  }
}

function normalisePath(path: string): string {
  if (typeof path !== 'string' || !posix.isAbsolute(path)) {
    throw new IngotError('INVALID_ARGUMENT', `working copy path ${JSON.stringify(path)} is not absolute`);
  }
  const p = posix.normalize(path);
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}

function checkHost(host: string): string {
  if (typeof host !== 'string' || !host.trim())
    throw new IngotError('INVALID_ARGUMENT', 'a host name is required');
  return host.trim();
}
