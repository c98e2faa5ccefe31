import { createHash } from 'node:crypto';
import { IngotError } from './errors.js';
import type { ChunkRef, Digest, Entry, Manifest, Payload } from './manifest.js';
import { payloadSize } from './manifest.js';
import { canonicalJson, entryToJson, strictUtf8 } from './manifest-codec.js';
import { bad, checkedDraft, type ManifestFacts, parsePayload } from './manifest-parse.js';
import {
  chunkListPart,
  decodeChunkRecords,
  type PartRef,
  partsOf,
  type RootV2,
  tableCutAt,
} from './manifest-v2.js';

/**
 * Checking a version 2 manifest whole (store-format §6b, rules R1-R5): a root with its
 * parts read back into the model, every part against its ref, the content against every
 * rule version 1 has, and the canonical form part by part. Encoding and the root's own
 * parse live in manifest-v2.ts.
 */

function decodeEntryLines(bytes: Buffer, where: string): unknown[] {
  if (bytes.at(-1) !== 0x0a) throw bad(`${where} does not end with a newline`);
  return strictUtf8(bytes, where)
    .slice(0, -1)
    .split('\n')
    .map((line, i) => {
      try {
        return JSON.parse(line) as unknown;
      } catch (cause) {
        throw bad(`${where} line ${i + 1} is not JSON`, { cause });
      }
    });
}

/** What assembling may take as already checked. */
export interface AssembleOptions {
  /** Read back from this server's own store: checked whole when it was sealed or accepted. */
  readonly stored?: boolean;
  /**
   * Entry table parts known canonical and cut by the rule as a part that is not the table's
   * last: those of a tree held here (its last part excluded), so a new version re-encodes
   * only the entries it brings. (A chunk list part's check is its cuts alone: cheap.)
   */
  readonly canonicalParts?: ReadonlySet<Digest>;
}

/**
 * The whole manifest from a root and its parts, each checked against the digest, count and
 * length the root gives it, and the content against every rule version 1 has. A part in a
 * form other than the canonical one is refused, so one manifest still has one digest tree.
 */
export function assembleManifestV2(
  root: RootV2,
  partBytes: (digest: Digest) => Buffer,
  opts: AssembleOptions = {},
): Manifest {
  const part = (ref: PartRef, where: string): Buffer => {
    const bytes = partBytes(ref.digest);
    const found = createHash('sha256').update(bytes).digest('hex');
    if (found !== ref.digest) {
      throw new IngotError('DIGEST_MISMATCH', `${where} does not match its digest`, {
        details: { expected: ref.digest, found },
      });
    }
    if (bytes.length !== ref.length) throw bad(`${where} is ${bytes.length} bytes, not ${ref.length}`);
    return bytes;
  };
  // A manifest read back from this server's own store, or a part of one, was checked when
  // it was sealed or accepted: R5 (a re-encode, two thirds of the cost) is for bytes from elsewhere.
  const recheck = (ref: PartRef) => !opts.stored && !opts.canonicalParts?.has(ref.digest);
  const chunks: ChunkRef[] = [];
  const listParts = root.chunks.parts;
  listParts.forEach((ref, i) => {
    const where = `chunk list part ${i}`;
    const bytes = part(ref, where);
    // Records re-encode to the bytes they came from; only where the part ends is a choice.
    const refs = !opts.stored
      ? chunkListPart(bytes, ref, where, i === listParts.length - 1)
      : decodeChunkRecords(bytes, where);
    if (refs.length !== ref.count) throw bad(`${where} holds ${refs.length} refs, not ${ref.count}`);
    for (const r of refs) chunks.push(r);
  });
  let payload: Payload;
  if (root.payload.kind === 'tree') {
    const json: unknown[] = [];
    const tableParts = root.payload.entries.parts;
    const bytesOf = tableParts.map((ref, i) => part(ref, `entry table part ${i}`));
    tableParts.forEach((ref, i) => {
      const lines = decodeEntryLines(bytesOf[i] as Buffer, `entry table part ${i}`);
      if (lines.length !== ref.count)
        throw bad(`entry table part ${i} holds ${lines.length} entries, not ${ref.count}`);
      for (const l of lines) json.push(l);
    });
    const tree = parsePayload({ kind: 'tree', entries: json });
    if (tree.kind === 'tree') checkEntryParts(tree.entries, tableParts, bytesOf, recheck);
    payload = tree;
  } else {
    payload = root.payload;
  }
  const { chunks: _c, payload: _p, ...facts } = root;
  const m: Manifest = { ...facts, ...checkedDraft(payload, chunks) };
  if (payloadSize(m.payload) !== root.chunks.length)
    throw bad(`the root says ${root.chunks.length} bytes, the entries hold ${payloadSize(m.payload)}`);
  return m;
}

/**
 * R5 for an entry table part by part: its entries re-encode to its bytes, and the cut rule
 * fires at its last line and nowhere before (the table's last part may end without it). The
 * rule looks only inside a part, so parts that pass one by one are the encoder's parts.
 */
function checkEntryParts(
  entries: readonly Entry[],
  parts: readonly PartRef[],
  bytesOf: readonly Buffer[],
  recheck: (ref: PartRef) => boolean,
): void {
  let start = 0;
  parts.forEach((ref, i) => {
    const end = start + ref.count;
    if (recheck(ref)) {
      const cuts = entryCuts(entries.slice(start, end));
      const last = i === parts.length - 1;
      const cutRight = cuts.at.every(
        (c, j) => c === (j === cuts.at.length - 1) || (last && j === cuts.at.length - 1),
      );
      if (!cutRight || !cuts.bytes.equals(bytesOf[i] as Buffer)) {
        throw bad(`entry table part ${i} is not cut or encoded in canonical form`, {
          hint: 'write version 2 manifests with encodeManifestV2',
        });
      }
    }
    start = end;
  });
}

/** Entries' canonical lines as one buffer, and after which lines the table rule would cut. */
function entryCuts(entries: readonly Entry[]): { bytes: Buffer; at: boolean[] } {
  const lines = entries.map((e) => Buffer.from(`${canonicalJson(entryToJson(e))}\n`, 'utf8'));
  let bytes = 0;
  const at = lines.map((line) => {
    bytes += line.length;
    return tableCutAt(line, bytes);
  });
  return { bytes: Buffer.concat(lines, bytes), at };
}

/** What a manifest's check answers besides its chunk list: its facts and tallies. */
export interface CheckedManifest extends ManifestFacts {
  readonly kind: 'file' | 'tree';
  readonly size: number;
  readonly chunkCount: number;
  readonly fileCount: number;
}

/**
 * A version 2 root with its parts (in `partsOf` order) checked whole, as assembleManifestV2
 * checks them, answering only the tallies: what a commit needs, small enough to come back
 * from another thread.
 */
export function checkManifestV2(
  root: RootV2,
  parts: readonly Buffer[],
  canonicalParts: ReadonlySet<Digest>,
): CheckedManifest {
  const byDigest = new Map(partsOf(root).map((p, i) => [p.digest, parts[i] as Buffer]));
  return talliesOf(assembleManifestV2(root, (d) => byDigest.get(d) as Buffer, { canonicalParts }));
}

/** A whole manifest's facts and tallies. */
export function talliesOf(m: Manifest): CheckedManifest {
  const { chunks, payload, ...facts } = m;
  return {
    ...facts,
    kind: payload.kind,
    size: payloadSize(payload),
    chunkCount: chunks.length,
    fileCount: payload.kind === 'tree' ? payload.entries.length : 1,
  };
}
