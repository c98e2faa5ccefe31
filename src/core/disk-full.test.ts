import { describe, expect, it } from 'vitest';
import { diskFullError, diskFullWithoutPath, isDiskFull } from './disk-full.js';
import { IngotError } from './errors.js';

const withCode = (code: string) => Object.assign(new Error(code), { code });

describe('a full disk', () => {
  it('is recognised from the file system, SQLite and PostgreSQL, also when wrapped', () => {
    expect(isDiskFull(withCode('ENOSPC'))).toBe(true);
    expect(isDiskFull(withCode('EDQUOT'))).toBe(true);
    expect(isDiskFull(Object.assign(new Error('database or disk is full'), { errcode: 13 }))).toBe(true);
    expect(isDiskFull(withCode('53100'))).toBe(true);
    expect(isDiskFull(new Error('wrapped', { cause: withCode('ENOSPC') }))).toBe(true);
    expect(isDiskFull(withCode('EACCES'))).toBe(false);
    expect(isDiskFull(Object.assign(new Error('busy'), { errcode: 5 }))).toBe(false);
    expect(isDiskFull(undefined)).toBe(false);
  });

  it('says where and how much', () => {
    const e = diskFullError('/h/store/packs-v1/00000002.pack', 8_000_000, 4096);
    expect(e.code).toBe('DISK_FULL');
    expect(e.message).toBe(
      'no space left for 8000000 bytes at /h/store/packs-v1/00000002.pack; 4096 bytes are free',
    );
    expect(e.details).toEqual({ path: '/h/store/packs-v1/00000002.pack', needed: 8_000_000, free: 4096 });
    expect(diskFullError('/h/catalog.sqlite', undefined, undefined).message).toBe(
      'no space left for a write at /h/catalog.sqlite',
    );
  });

  it('turns a bare ENOSPC into DISK_FULL with its path, and leaves other errors alone', () => {
    const raw = Object.assign(withCode('ENOSPC'), { path: '/h/store/tmp/x' });
    expect(diskFullWithoutPath(raw)).toMatchObject({
      code: 'DISK_FULL',
      details: { path: '/h/store/tmp/x' },
    });
    expect(diskFullWithoutPath(withCode('EACCES'))).toBeUndefined();
    expect(diskFullWithoutPath(new IngotError('CONFLICT', 'x'))).toBeUndefined();
  });
});
