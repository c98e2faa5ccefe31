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

  list(image?: string): Promise<WorkingCopyRecord[]> {
    return new WorkingCopyRepository(this.db.kysely).list(image ? { image } : {});
  }

  async unregister(host: string, path: string): Promise<void> {
    const p = normalisePath(path);
    if (!(await new WorkingCopyRepository(this.db.kysely).delete(checkHost(host), p))) {
      throw new IngotError('NOT_FOUND', `no working copy registered at ${host}:${p}`);
    }
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
