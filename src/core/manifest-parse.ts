import { IngotError } from './errors.js';
import {
  type ChunkRef,
  type Digest,
  type Entry,
  isDigest,
  MANIFEST_FORMAT,
  type Manifest,
  type ManifestDraft,
  type ManifestVersion,
  type Payload,
  payloadSize,
  streamLength,
  type Timestamp,
} from './manifest.js';
import { checkEntryPath, comparePaths } from './manifest-paths.js';
import { NAME_PATTERN } from './names.js';

/**
 * JSON (as decoded from the canonical form, or sent by a client) to the manifest model,
 * checking every rule of docs/store-format.md. Every failure is INVALID_MANIFEST, except
 * unsafe paths and entries not under a directory, which are UNSAFE_PATH.
 */

/** Largest chunk the format allows (the chunker's max is far below it). */
export const MAX_CHUNK_LENGTH = 16 * 1024 * 1024;

/** The top-level keys of a manifest, and of a version 2 root (their values differ). */
export const MANIFEST_KEYS = [
  'chunks',
  'created',
  'format',
  'imageType',
  'name',
  'origin',
  'parent',
  'payload',
  'version',
];
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function parseManifestJson(json: unknown): Manifest {
  const o = obj(json, 'manifest', MANIFEST_KEYS, []);
  const facts = parseFacts(o, 1);
  return { ...facts, ...checkedDraft(parsePayload(o.payload), parseChunks(o.chunks)) };
}

/** What a manifest says besides its content, in either version. */
export type ManifestFacts = Omit<Manifest, 'payload' | 'chunks'>;

export function parseFacts(o: Record<string, unknown>, version: ManifestVersion): ManifestFacts {
  if (o.format !== MANIFEST_FORMAT) throw bad(`unknown manifest format ${JSON.stringify(o.format)}`);
  if (o.version !== version) {
    throw bad(`unknown manifest version ${JSON.stringify(o.version)}`, {
      hint: 'this Ingot reads versions 1 and 2; upgrade it to read newer manifests',
    });
  }
  const created = str(o.created, 'created');
  if (!ISO_RE.test(created) || !isRealTime(created)) {
    throw bad(`created is not an ISO 8601 UTC time with milliseconds: ${JSON.stringify(created)}`);
  }
  if (o.parent !== null && !isDigest(o.parent)) throw bad('parent is neither null nor a digest');
  return {
    format: MANIFEST_FORMAT,
    version,
    name: name(o.name, 'name'),
    origin: name(o.origin, 'origin'),
    imageType: name(o.imageType, 'imageType'),
    parent: o.parent as Digest | null,
    created,
  };
}

export function checkedDraft(payload: Payload, chunks: ChunkRef[]): ManifestDraft {
  const size = payloadSize(payload);
  const length = streamLength(chunks);
  if (size !== length) {
    throw bad(`payload holds ${size} bytes but its chunks hold ${length}`, {
      details: { payloadSize: size, chunkBytes: length },
    });
  }
  return { payload, chunks };
}

export function parsePayload(json: unknown): Payload {
  const kind = (json as { kind?: unknown } | null)?.kind;
  if (kind === 'file') {
    const o = obj(json, 'payload', ['kind', 'mode', 'size'], []);
    return { kind: 'file', size: size(o.size, 'payload.size'), mode: mode(o.mode, 'payload.mode') };
  }
  if (kind === 'tree') {
    const o = obj(json, 'payload', ['entries', 'kind'], []);
    if (!Array.isArray(o.entries) || o.entries.length === 0) {
      throw bad('payload.entries is not a non-empty array (a tree starts with its root ".")');
    }
    return { kind: 'tree', entries: parseEntries(o.entries) };
  }
  throw bad(`payload.kind must be "file" or "tree", not ${JSON.stringify(kind)}`);
}

export function parseChunks(json: unknown): ChunkRef[] {
  if (!Array.isArray(json)) throw bad('chunks is not an array');
  return json.map((c, i): ChunkRef => {
    const where = `chunks[${i}]`;
    if (!Array.isArray(c) || c.length < 1 || c.length > 2)
      throw bad(`${where} is not [length] or [length, digest]`);
    const length = int(c[0], `${where} length`, 1, MAX_CHUNK_LENGTH);
    if (c.length === 1) return { kind: 'hole', length };
    if (!isDigest(c[1])) throw bad(`${where} digest is not 64 lowercase hex characters`);
    return { kind: 'data', digest: c[1], length };
  });
}

const ENTRY_KEYS: Record<Entry['type'], string[]> = {
  dir: [],
  file: ['size'],
  symlink: ['target'],
  hardlink: ['target'],
  fifo: [],
  chardev: ['major', 'minor'],
  blockdev: ['major', 'minor'],
};
const COMMON_KEYS = ['gid', 'mode', 'mtime', 'path', 'type', 'uid'];

function parseEntries(list: unknown[]): Entry[] {
  const types = new Map<string, Entry['type']>();
  let prev: string | undefined;
  return list.map((json, i) => {
    const e = parseEntry(json, i);
    checkPlacement(e, i, prev, types);
    types.set(e.path, e.type);
    prev = e.path;
    return e;
  });
}

/** Order, uniqueness, parents, hard link targets: the rules that make deploy safe. */
function checkPlacement(
  e: Entry,
  i: number,
  prev: string | undefined,
  types: Map<string, Entry['type']>,
): void {
  if (i === 0) {
    if (e.path !== '.' || e.type !== 'dir')
      throw bad('the first entry of a tree must be the root directory "."');
    return;
  }
  if (e.path === '.') throw bad(`entry ${i}: the root "." may only be the first entry`);
  if (prev !== undefined && prev !== '.' && comparePaths(prev, e.path) >= 0) {
    throw bad(`entries are not strictly sorted: ${JSON.stringify(prev)} then ${JSON.stringify(e.path)}`);
  }
  const slash = e.path.lastIndexOf('/');
  const parent = slash < 0 ? '.' : e.path.slice(0, slash);
  if (types.get(parent) !== 'dir') {
    throw new IngotError(
      'UNSAFE_PATH',
      `entry ${JSON.stringify(e.path)}: its parent is not a directory entry`,
      {
        hint: 'every entry must sit under a directory listed before it (never under a symlink)',
      },
    );
  }
  if (e.type === 'hardlink' && types.get(e.target) !== 'file') {
    throw bad(
      `hard link ${JSON.stringify(e.path)} must name an earlier file entry, not ${JSON.stringify(e.target)}`,
    );
  }
}

function parseEntry(json: unknown, i: number): Entry {
  const type = (json as { type?: unknown } | null)?.type;
  if (typeof type !== 'string' || !Object.hasOwn(ENTRY_KEYS, type)) {
    throw bad(`entry ${i}: unknown type ${JSON.stringify(type)}`);
  }
  const t = type as Entry['type'];
  const o = obj(json, `entry ${i}`, [...COMMON_KEYS, ...ENTRY_KEYS[t]], ['xattrs']);
  const path = str(o.path, `entry ${i} path`);
  if (i > 0 || path !== '.') checkEntryPath(path);
  const w = `entry ${JSON.stringify(path)}`;
  const common = {
    path,
    mode: mode(o.mode, `${w} mode`),
    uid: int(o.uid, `${w} uid`, 0, 0xffffffff),
    gid: int(o.gid, `${w} gid`, 0, 0xffffffff),
    mtime: timestamp(o.mtime, `${w} mtime`),
    ...(o.xattrs === undefined ? {} : xattrsOf(o.xattrs, w)),
  };
  switch (t) {
    case 'file':
      return { ...common, type: t, size: size(o.size, `${w} size`) };
    case 'symlink':
      return { ...common, type: t, target: linkTarget(o.target, w) };
    case 'hardlink':
      return { ...common, type: t, target: checkEntryPath(str(o.target, `${w} target`)) };
    case 'chardev':
    case 'blockdev':
      return {
        ...common,
        type: t,
        major: int(o.major, `${w} major`, 0, 0xffffffff),
        minor: int(o.minor, `${w} minor`, 0, 0xffffffff),
      };
    default:
      return { ...common, type: t };
  }
}

function linkTarget(v: unknown, w: string): string {
  const s = str(v, `${w} target`);
  if (s.length === 0 || s.includes('\0')) throw bad(`${w}: symlink target is empty or holds NUL`);
  return s;
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function xattrsOf(v: unknown, w: string): { xattrs?: Record<string, string> } {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(`${w}: xattrs is not an object`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (k.length === 0 || k.includes('\0') || !wellFormed(k))
      throw bad(`${w}: bad xattr name ${JSON.stringify(k)}`);
    if (typeof val !== 'string' || !BASE64_RE.test(val)) throw bad(`${w}: xattr ${k} is not base64`);
    out[k] = val;
  }
  return Object.keys(out).length === 0 ? {} : { xattrs: out };
}

function timestamp(v: unknown, w: string): Timestamp {
  if (!Array.isArray(v) || v.length !== 2) throw bad(`${w} is not [sec, nsec]`);
  return {
    sec: int(v[0], w, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
    nsec: int(v[1], w, 0, 999_999_999),
  };
}

function isRealTime(iso: string): boolean {
  const t = Date.parse(iso);
  return !Number.isNaN(t) && new Date(t).toISOString() === iso;
}

// ---- small checkers --------------------------------------------------------------------

export function bad(
  message: string,
  opts: { hint?: string; details?: Record<string, unknown>; cause?: unknown } = {},
) {
  return new IngotError('INVALID_MANIFEST', message, opts);
}

export function obj(
  v: unknown,
  what: string,
  required: string[],
  optional: string[],
): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(`${what} is not an object`);
  const o = v as Record<string, unknown>;
  for (const k of required) if (!Object.hasOwn(o, k)) throw bad(`${what} lacks "${k}"`);
  for (const k of Object.keys(o)) {
    if (!required.includes(k) && !optional.includes(k)) throw bad(`${what} has an unknown key "${k}"`);
  }
  return o;
}

export function int(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw bad(`${what} must be an integer in ${min}..${max}, not ${JSON.stringify(v)}`);
  }
  return v;
}

export const size = (v: unknown, what: string) => int(v, what, 0, Number.MAX_SAFE_INTEGER);
const mode = (v: unknown, what: string) => int(v, what, 0, 0o7777);

function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || !wellFormed(v)) throw bad(`${what} is not a well-formed string`);
  return v;
}

function name(v: unknown, what: string): string {
  const s = str(v, what);
  if (!NAME_PATTERN.test(s)) throw bad(`${what} ${JSON.stringify(s)} breaks the naming rule`);
  return s;
}

/** Lone surrogates cannot be written as UTF-8, so they would not survive a round trip. */
function wellFormed(s: string): boolean {
  return !/\p{Cs}/u.test(s);
}
