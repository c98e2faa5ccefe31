import { createHash } from 'node:crypto';
import { IngotError } from './errors.js';
import type { ChunkRef, Digest, Entry, Manifest } from './manifest.js';
import { isDigest, payloadSize } from './manifest.js';
import {
  canonicalJson,
  decodeManifest,
  entryToJson,
  type Json,
  parseCanonicalText,
} from './manifest-codec.js';
import {
  bad,
  int,
  MANIFEST_KEYS,
  MAX_CHUNK_LENGTH,
  type ManifestFacts,
  obj,
  parseFacts,
  parsePayload,
  size,
} from './manifest-parse.js';

/**
 * Manifest version 2 (docs/store-format.md §6b): a small signed root that names its chunk
 * list and its entry table, which are cut into parts stored as ordinary content-addressed
 * chunks. A receiver that holds a part holds it whoever wrote it, so a new version of an
 * image moves only the parts that changed, and nothing need hold a whole list at once.
 *
 * Parts are cut where their content says (casync's and restic's habit), so an insertion
 * early in the list changes the parts around it, not every part after it.
 */

/** One part named by a root: how many records it holds, its byte length, its digest. */
export interface PartRef {
  readonly count: number;
  readonly length: number;
  readonly digest: Digest;
}

export interface RootV2 extends ManifestFacts {
  readonly version: 2;
  readonly chunks: { readonly count: number; readonly length: number; readonly parts: readonly PartRef[] };
  readonly payload:
    | { readonly kind: 'file'; readonly size: number; readonly mode: number }
    | {
        readonly kind: 'tree';
        readonly entries: { readonly count: number; readonly parts: readonly PartRef[] };
      };
}

export interface Part {
  readonly digest: Digest;
  readonly bytes: Buffer;
}

/** A part as the encoder cuts it: its bytes and its ref. */
export interface CutPart extends Part, PartRef {}

/** A chunk list record: u32 big-endian length, then the digest (all zeros for a hole). */
export const CHUNK_RECORD = 36;
const LIST_MIN = 128;
const LIST_MAX = 4096;
const LIST_MASK = 0x3ff;
const TABLE_MIN_BYTES = 8 * 1024;
const TABLE_MAX_BYTES = 1024 * 1024;
const TABLE_MASK = 0x1ff;
const ZERO_DIGEST = Buffer.alloc(32);

// ---- writing ---------------------------------------------------------------------------

/** The root's canonical bytes and the parts it names (entry parts first, then chunk parts). */
export function encodeManifestV2(m: Manifest): { root: Buffer; parts: CutPart[] } {
  const chunkParts = cutChunkList(m.chunks);
  const entryParts = m.payload.kind === 'tree' ? cutEntryTable(m.payload.entries) : [];
  const { payload: _p, chunks: _c, ...facts } = m;
  const root: RootV2 = {
    ...facts,
    version: 2,
    payload:
      m.payload.kind === 'file'
        ? m.payload
        : { kind: 'tree', entries: { count: m.payload.entries.length, parts: entryParts.map(refOf) } },
    chunks: { count: m.chunks.length, length: payloadSize(m.payload), parts: chunkParts.map(refOf) },
  };
  return { root: encodeRootV2(root), parts: [...entryParts, ...chunkParts] };
}

export function encodeRootV2(r: RootV2): Buffer {
  const json: Json = {
    format: r.format,
    version: 2,
    name: r.name,
    origin: r.origin,
    imageType: r.imageType,
    parent: r.parent,
    created: r.created,
    payload:
      r.payload.kind === 'file'
        ? { kind: 'file', size: r.payload.size, mode: r.payload.mode }
        : {
            kind: 'tree',
            entries: { count: r.payload.entries.count, parts: r.payload.entries.parts.map(partJson) },
          },
    chunks: { count: r.chunks.count, length: r.chunks.length, parts: r.chunks.parts.map(partJson) },
  };
  return Buffer.from(canonicalJson(json), 'utf8');
}

/** A part's ref alone, without its bytes. */
export const refOf = ({ count, length, digest }: PartRef): PartRef => ({ count, length, digest });

function cutChunkList(chunks: readonly ChunkRef[]): CutPart[] {
  const out: CutPart[] = [];
  let start = 0;
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i] as ChunkRef;
    const n = i + 1 - start;
    const cut = n >= LIST_MAX || (n >= LIST_MIN && c.kind === 'data' && listCutAt(c.digest));
    if (cut || i === chunks.length - 1) {
      out.push(sealed(encodeChunkRecords(chunks.slice(start, i + 1)), n));
      start = i + 1;
    }
  }
  return out;
}

/** Cut after a data ref whose digest's first two bytes, as a big-endian u16, end in ten zero bits. */
function listCutAt(digest: Digest): boolean {
  return (Number.parseInt(digest.slice(0, 4), 16) & LIST_MASK) === 0;
}

export function encodeChunkRecords(chunks: readonly ChunkRef[]): Buffer {
  const b = Buffer.alloc(chunks.length * CHUNK_RECORD);
  chunks.forEach((c, i) => {
    const at = i * CHUNK_RECORD;
    b.writeUInt32BE(c.length, at);
    if (c.kind === 'data') b.write(c.digest, at + 4, 'hex');
  });
  return b;
}

function cutEntryTable(entries: readonly Entry[]): CutPart[] {
  const out: CutPart[] = [];
  let lines: Buffer[] = [];
  let bytes = 0;
  for (let i = 0; i < entries.length; i++) {
    const line = Buffer.from(`${canonicalJson(entryToJson(entries[i] as Entry))}\n`, 'utf8');
    lines.push(line);
    bytes += line.length;
    const cut = tableCutAt(line, bytes);
    if (cut || i === entries.length - 1) {
      if (bytes > MAX_CHUNK_LENGTH)
        throw bad(`entry ${JSON.stringify(entries[i]?.path)} is too large to store`);
      out.push(sealed(Buffer.concat(lines, bytes), lines.length));
      lines = [];
      bytes = 0;
    }
  }
  return out;
}

/** FNV-1a, 32 bits, over the line's bytes (its trailing newline included). */
function fnv1a(b: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ (b[i] as number), 0x01000193);
  return h >>> 0;
}

function sealed(bytes: Buffer, count: number): CutPart {
  const digest = createHash('sha256').update(bytes).digest('hex') as Digest;
  return { digest, bytes, count, length: bytes.length };
}

function partJson(p: PartRef): Json {
  return [p.count, p.length, p.digest];
}

// ---- reading ---------------------------------------------------------------------------

/** Validates a decoded root (the caller has checked the bytes are canonical JSON). */
export function parseRootV2(json: unknown): RootV2 {
  const o = obj(json, 'manifest', MANIFEST_KEYS, []);
  const facts = parseFacts(o, 2);
  const c = obj(o.chunks, 'chunks', ['count', 'length', 'parts'], []);
  const chunks = {
    count: size(c.count, 'chunks.count'),
    length: size(c.length, 'chunks.length'),
    parts: partRefs(c.parts, 'chunks.parts', CHUNK_RECORD),
  };
  checkCount(chunks.parts, chunks.count, 'chunks');
  const kind = (o.payload as { kind?: unknown } | null)?.kind;
  let payload: RootV2['payload'];
  if (kind === 'tree') {
    const p = obj(o.payload, 'payload', ['entries', 'kind'], []);
    const e = obj(p.entries, 'payload.entries', ['count', 'parts'], []);
    const entries = {
      count: size(e.count, 'payload.entries.count'),
      parts: partRefs(e.parts, 'payload.entries.parts'),
    };
    if (entries.count === 0) throw bad('a tree holds at least its root "."');
    checkCount(entries.parts, entries.count, 'payload.entries');
    payload = { kind: 'tree', entries };
  } else {
    const file = parsePayload(o.payload);
    if (file.kind !== 'file') throw bad('payload.kind must be "file" or "tree"');
    if (file.size !== chunks.length)
      throw bad(`payload holds ${file.size} bytes but its chunks hold ${chunks.length}`);
    payload = file;
  }
  return { ...facts, version: 2, chunks, payload };
}

function partRefs(v: unknown, what: string, record?: number): PartRef[] {
  if (!Array.isArray(v)) throw bad(`${what} is not an array`);
  return v.map((p, i) => {
    const w = `${what}[${i}]`;
    if (!Array.isArray(p) || p.length !== 3) throw bad(`${w} is not [count, length, digest]`);
    const count = int(p[0], `${w} count`, 1, MAX_CHUNK_LENGTH);
    const length = int(p[1], `${w} length`, 1, MAX_CHUNK_LENGTH);
    if (!isDigest(p[2])) throw bad(`${w} digest is not 64 lowercase hex characters`);
    if (record !== undefined && length !== count * record)
      throw bad(`${w}: ${count} records are not ${length} bytes`);
    return { count, length, digest: p[2] };
  });
}

function checkCount(parts: readonly PartRef[], count: number, what: string): void {
  let n = 0;
  for (const p of parts) n += p.count;
  if (n !== count) throw bad(`${what}: the parts hold ${n} records, not ${count}`);
}

/** Every part a root names, entry parts first: what a store must hold besides data chunks. */
export function partsOf(root: RootV2): readonly PartRef[] {
  return root.payload.kind === 'tree'
    ? [...root.payload.entries.parts, ...root.chunks.parts]
    : root.chunks.parts;
}

/**
 * A root's chunk list part by part, never whole: each part's bytes (in the root's order,
 * from wherever they are held) checked against its ref and the cut rule, which is what
 * R5 asks of the list taken one part at a time, and the lengths summed against the root.
 */
export async function* streamChunkList(
  root: RootV2,
  partBytes: AsyncIterable<Buffer>,
): AsyncGenerator<ChunkRef[]> {
  const parts = root.chunks.parts;
  let i = 0;
  let length = 0;
  for await (const bytes of partBytes) {
    const ref = parts[i];
    if (!ref) throw bad(`the chunk list has more than the ${parts.length} parts its root names`);
    const refs = chunkListPart(bytes, ref, `chunk list part ${i}`, i === parts.length - 1);
    for (const r of refs) length += r.length;
    i++;
    yield refs;
  }
  if (i !== parts.length) throw bad(`the chunk list has ${i} of the ${parts.length} parts its root names`);
  if (length !== root.chunks.length)
    throw bad(`the chunk list holds ${length} bytes, not ${root.chunks.length}`);
}

export function chunkListPart(bytes: Buffer, ref: PartRef, where: string, last: boolean): ChunkRef[] {
  const found = createHash('sha256').update(bytes).digest('hex');
  if (found !== ref.digest) {
    throw new IngotError('DIGEST_MISMATCH', `${where} does not match its digest`, {
      details: { expected: ref.digest, found },
    });
  }
  const refs = decodeChunkRecords(bytes, where);
  if (refs.length !== ref.count) throw bad(`${where} holds ${refs.length} refs, not ${ref.count}`);
  refs.forEach((c, j) => {
    const n = j + 1;
    const cut = n >= LIST_MAX || (n >= LIST_MIN && c.kind === 'data' && listCutAt(c.digest));
    if (cut !== (j === refs.length - 1) && !(last && j === refs.length - 1)) {
      throw bad(`${where} is not cut where the chunk list rule cuts`, {
        hint: 'write version 2 manifests with encodeManifestV2',
      });
    }
  });
  return refs;
}

export function decodeChunkRecords(bytes: Buffer, where: string): ChunkRef[] {
  if (bytes.length % CHUNK_RECORD !== 0) throw bad(`${where} is not a whole number of records`);
  const out: ChunkRef[] = [];
  for (let at = 0; at < bytes.length; at += CHUNK_RECORD) {
    const length = bytes.readUInt32BE(at);
    if (length < 1 || length > MAX_CHUNK_LENGTH) throw bad(`${where}: a chunk length of ${length}`);
    const d = bytes.subarray(at + 4, at + CHUNK_RECORD);
    out.push(
      d.equals(ZERO_DIGEST)
        ? { kind: 'hole', length }
        : { kind: 'data', digest: d.toString('hex') as Digest, length },
    );
  }
  return out;
}

/** A stored or offered manifest's bytes: a whole version 1 manifest, or a version 2 root. */
export type DecodedRoot =
  | { readonly version: 1; readonly manifest: Manifest }
  | { readonly version: 2; readonly root: RootV2 };

/** Canonical keys are sorted, so "version" is a manifest's last key in either version. */
const V2_TAIL = Buffer.from(',"version":2}');

export function decodeRoot(bytes: Buffer): DecodedRoot {
  if (!bytes.subarray(-V2_TAIL.length).equals(V2_TAIL))
    return { version: 1, manifest: decodeManifest(bytes) };
  const root = parseRootV2(parseCanonicalText(bytes));
  if (!encodeRootV2(root).equals(bytes)) {
    throw bad('manifest is not in canonical form', {
      hint: 'encode it with encodeManifestV2 (sorted keys, no whitespace, integers only)',
    });
  }
  return { version: 2, root };
}

/** The facts every consumer can read from the bytes alone, whatever the version. */
export function rootFacts(d: DecodedRoot): ManifestFacts & { readonly kind: 'tree' | 'file' } {
  const { payload, chunks: _c, ...facts } = d.version === 1 ? d.manifest : d.root;
  return { ...facts, kind: payload.kind };
}

/** Whether the entry table rule cuts after this line, the part holding bytesSoFar with it. */
export function tableCutAt(line: Buffer, bytesSoFar: number): boolean {
  return bytesSoFar >= TABLE_MAX_BYTES || (bytesSoFar >= TABLE_MIN_BYTES && (fnv1a(line) & TABLE_MASK) === 0);
}
