import { describe, expect, it } from 'vitest';
import { IngotError } from '../core/errors.js';
import { parseStoreLocation } from './store-location.js';

describe('parseStoreLocation', () => {
  it.each([
    [undefined, { kind: 'local' }],
    ['local', { kind: 'local' }],
    ['/mnt/shared/ingot', { kind: 'directory', path: '/mnt/shared/ingot' }],
    ['shared', { kind: 'directory', path: '/home/x/shared' }],
    [
      's3://gold/ingot/a?endpoint=http://127.0.0.1:9000&region=eu-west-1',
      {
        kind: 's3',
        bucket: 'gold',
        prefix: 'ingot/a',
        endpoint: 'http://127.0.0.1:9000',
        region: 'eu-west-1',
      },
    ],
    ['s3://gold', { kind: 's3', bucket: 'gold', prefix: '', endpoint: undefined }],
  ])('reads %s', (value, want) => {
    expect(parseStoreLocation(value, '/home/x')).toMatchObject(want);
  });

  it.each([
    'ftp://x/y',
    's3://UPPER/x',
    's3://gold/./x',
    's3://gold/%2e%2e/x',
    's3://user:pw@gold/x',
    's3://gold:99/x',
    's3://gold/x?endpoint=ftp://h',
    's3://gold/x?endpoint=http://h/path',
    's3://gold/x?token=1',
  ])('refuses %s with INVALID_ARGUMENT', (value) => {
    let err: unknown;
    try {
      parseStoreLocation(value, '/home/x');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IngotError);
    expect((err as IngotError).code).toBe('INVALID_ARGUMENT');
  });
});
