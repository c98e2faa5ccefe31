import { createHash } from 'node:crypto';
import { IngotError } from './errors.js';
import type { ChunkRef, Digest, Entry, Manifest, ManifestDraft, Payload } from './manifest.js';
import { bad, checkedDraft, obj, parseChunks, parseManifestJson, parsePayload } from './manifest-parse.js';

/**
 * The canonical, versioned encoding of a manifest (spec: docs/store-format.md).
 *
 * Canonical JSON: UTF-8, object keys sorted by UTF-16 code unit, no whitespace, integers
 * only, strings as JSON.stringify writes them. A ChunkRef is `[length, "hex"]` (data) or
 * `[length]` (hole); a timestamp is `[sec, nsec]`; an entry is an object with only the keys
 * that apply. Decoding validates everything and re-encodes: bytes that are not exactly the
 * canonical form are refused, so one manifest has one digest.
 */

export { MAX_CHUNK_LENGTH } from './manifest-parse.js';
export { comparePaths } from './manifest-paths.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** The version 1 encoding: one document holding everything (version 2: manifest-v2.ts). */
export function encodeManifest(m: Manifest): Buffer {
  if (m.version !== 1) throw new IngotError('INTERNAL', 'encodeManifest writes version 1 only');
  return Buffer.from(canonicalJson(manifestToJson(m)), 'utf8');
}

/**
 * The manifest decoded last, while anything still holds it: one transfer decodes the same
 * manifest at several steps (offer, grant, check, commit), and a 30k-entry tree costs
 * ~0.25-0.5 s per decode here. A weak reference, so it never keeps a manifest alive.
 */
let lastDecoded: { readonly digest: Digest; readonly manifest: WeakRef<Manifest> } | undefined;

export function decodeManifest(bytes: Buffer): Manifest {
  const digest = manifestDigest(bytes);
  const held = lastDecoded?.digest === digest ? lastDecoded.manifest.deref() : undefined;
  if (held) return held;
  const m = decodeFresh(bytes);
  lastDecoded = { digest, manifest: new WeakRef(m) };
  return m;
}

function decodeFresh(bytes: Buffer): Manifest {
  const m = parseManifestJson(parseCanonicalText(bytes));
  if (!encodeManifest(m).equals(bytes)) {
    throw bad('manifest is not in canonical form', {
      hint: 'encode it with encodeManifest (sorted keys, no whitespace, integers only)',
    });
  }
  return m;
}

/** Strict UTF-8, then JSON: the first step of decoding either version. */
export function parseCanonicalText(bytes: Buffer): unknown {
  const text = strictUtf8(bytes, 'manifest');
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw bad('manifest is not valid UTF-8 JSON', { cause });
  }
}

/** The text of `bytes`, refusing anything that is not UTF-8 (no BOM stripped). */
export function strictUtf8(bytes: Buffer, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (cause) {
    throw bad(`${what} is not valid UTF-8`, { cause });
  }
}

export function manifestDigest(bytes: Buffer): Digest {
  return createHash('sha256').update(bytes).digest('hex') as Digest;
}

/** Validates a draft sent by a client (the JSON form of `{payload, chunks}`). */
export function parseDraft(json: unknown): ManifestDraft {
  const o = obj(json, 'draft', ['chunks', 'payload'], []);
  return checkedDraft(parsePayload(o.payload), parseChunks(o.chunks));
}

export function draftToJson(d: ManifestDraft): unknown {
  return { payload: payloadToJson(d.payload), chunks: d.chunks.map(chunkToJson) };
}

/** Re-validates a typed draft, e.g. right before deploying it (defence in depth). */
export function validateDraft(d: ManifestDraft): ManifestDraft {
  return parseDraft(JSON.parse(JSON.stringify(draftToJson(d))));
}

// ---- model -> JSON --------------------------------------------------------------------

function manifestToJson(m: Manifest): JsonObject {
  return {
    format: m.format,
    version: m.version,
    name: m.name,
    origin: m.origin,
    imageType: m.imageType,
    parent: m.parent,
    created: m.created,
    payload: payloadToJson(m.payload),
    chunks: m.chunks.map(chunkToJson),
  };
}

function payloadToJson(p: Payload): JsonObject {
  if (p.kind === 'file') return { kind: 'file', size: p.size, mode: p.mode };
  return { kind: 'tree', entries: p.entries.map(entryToJson) };
}

function chunkToJson(c: ChunkRef): Json {
  return c.kind === 'data' ? [c.length, c.digest] : [c.length];
}

export function entryToJson(e: Entry): JsonObject {
  const o: JsonObject = {
    path: e.path,
    type: e.type,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    mtime: [e.mtime.sec, e.mtime.nsec],
  };
  if (e.xattrs && Object.keys(e.xattrs).length > 0) o.xattrs = { ...e.xattrs };
  if (e.type === 'file') o.size = e.size;
  if (e.type === 'symlink' || e.type === 'hardlink') o.target = e.target;
  if (e.type === 'chardev' || e.type === 'blockdev') {
    o.major = e.major;
    o.minor = e.minor;
  }
  return o;
}

/** Canonical JSON text; refuses anything that is not an integer, string, array or object. */
export function canonicalJson(v: Json): string {
  if (v === null || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new IngotError('INTERNAL', `not a safe integer: ${v}`);
    return String(v === 0 ? 0 : v);
  }
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(v).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k] as Json)}`).join(',')}}`;
}
