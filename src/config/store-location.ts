import { isAbsolute, resolve } from 'node:path';
import { IngotError } from '../core/errors.js';

/**
 * Where a server keeps its chunks and manifests (`--store`, INGOT_STORE, `"store"` in
 * config.json): the local pack store under INGOT_HOME (the default, one node), a directory
 * every node of the server mounts, or an S3-compatible bucket. The two shared kinds keep
 * their index in the catalog database, which the nodes share too.
 */
export type StoreLocation =
  | { readonly kind: 'local' }
  | { readonly kind: 'directory'; readonly path: string }
  | {
      readonly kind: 's3';
      readonly bucket: string;
      /** Key prefix, without a trailing slash; may be empty. */
      readonly prefix: string;
      /** An S3-compatible endpoint (MinIO, Ceph, moto); AWS's own when absent. */
      readonly endpoint: string | undefined;
      readonly region: string;
    };

/** Bucket names as S3 allows them. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function parseStoreLocation(value: string | undefined, home: string): StoreLocation {
  const v = value?.trim();
  if (!v || v === 'local') return { kind: 'local' };
  if (v.startsWith('s3://')) return parseS3(v);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) throw badStore(v);
  const path = resolve(home, v);
  if (!isAbsolute(path)) throw badStore(v);
  return { kind: 'directory', path };
}

function parseS3(value: string): StoreLocation {
  // URL would resolve dot segments away; a key prefix is taken as written or not at all.
  if (/\/\.{1,2}(\/|\?|$)/.test(value.replace(/%2e/gi, '.'))) throw badStore(value);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw badStore(value);
  }
  const bucket = url.hostname;
  const known = new Set(['endpoint', 'region']);
  const unknown = [...url.searchParams.keys()].filter((k) => !known.has(k));
  if (!BUCKET.test(bucket) || unknown.length > 0 || url.username || url.password || url.port) {
    throw badStore(value);
  }
  const endpoint = url.searchParams.get('endpoint') ?? undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^/?#]+\/?$/.test(endpoint)) throw badStore(value);
  const prefix = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((p) => p === '..' || p === '.')) throw badStore(value);
  const region = url.searchParams.get('region') ?? process.env.AWS_REGION ?? 'us-east-1';
  return { kind: 's3', bucket, prefix, endpoint, region };
}

function badStore(value: string): IngotError {
  return new IngotError('INVALID_ARGUMENT', `invalid --store ${JSON.stringify(value)}`, {
    hint:
      'use a directory every node mounts (e.g. /mnt/shared/ingot), or ' +
      's3://BUCKET/PREFIX?endpoint=https://s3.example&region=REGION (credentials from AWS_*); ' +
      'leave it out for the local store under INGOT_HOME',
  });
}
