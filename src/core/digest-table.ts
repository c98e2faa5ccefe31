import { IngotError } from './errors.js';
import type { Digest } from './manifest.js';

const KEY = 32;
const MARK = 0x8000_0000;
const MAX_LOAD = 0.7;

/**
 * The distinct chunks of one image with their lengths, as a transfer, a grant or a commit
 * must know them: an open-addressing table in two typed arrays, 32 bytes of digest and 4
 * of length a slot, ~52 bytes a chunk at its load (13 MiB for a 16 GiB image of 64 KiB
 * chunks). A Map of hex strings costs ~150 bytes a chunk on the JS heap, where the
 * collector traces every one and the heap grows with the image; these arrays live outside
 * it. Each entry also carries one mark, for "already queued" or "already counted".
 */
export class DigestTable {
  private keys: Buffer;
  /** 0: empty; else the chunk's length, MARK set once marked. */
  private values: Uint32Array;
  private readonly probe = Buffer.alloc(KEY);
  private count = 0;
  private total = 0;

  constructor(expected = 1024) {
    const slots = Math.max(16, Math.ceil(expected / MAX_LOAD));
    this.keys = Buffer.alloc(slots * KEY);
    this.values = new Uint32Array(slots);
  }

  /** Distinct digests held. */
  get size(): number {
    return this.count;
  }

  /** The sum of their lengths. */
  get bytes(): number {
    return this.total;
  }

  /**
   * Adds `digest` with `length`; true when it was not held. A digest seen before with
   * another length is an invalid manifest, whatever its source.
   */
  add(digest: Digest, length: number): boolean {
    if (length < 1 || length >= MARK) throw new RangeError(`chunk length ${length} out of range`);
    if ((this.count + 1) / this.values.length > MAX_LOAD) this.grow();
    const slot = this.slotOf(digest);
    const held = this.values[slot] as number;
    if (held !== 0) {
      if ((held & ~MARK) !== length) {
        throw new IngotError('INVALID_MANIFEST', `the manifest gives chunk ${digest} two different lengths`);
      }
      return false;
    }
    this.probe.copy(this.keys, slot * KEY);
    this.values[slot] = length;
    this.count++;
    this.total += length;
    return true;
  }

  /** Its length, or undefined when not held. */
  lengthOf(digest: Digest): number | undefined {
    const v = this.values[this.slotOf(digest)] as number;
    return v === 0 ? undefined : v & ~MARK;
  }

  has(digest: Digest): boolean {
    return this.values[this.slotOf(digest)] !== 0;
  }

  /** Marks a held digest; true the first time, false when marked before or not held. */
  mark(digest: Digest): boolean {
    const slot = this.slotOf(digest);
    const v = this.values[slot] as number;
    if (v === 0 || (v & MARK) !== 0) return false;
    this.values[slot] = v | MARK;
    return true;
  }

  /** Unmarks every digest, so a second pass can mark them again. */
  clearMarks(): void {
    for (let i = 0; i < this.values.length; i++) this.values[i] = (this.values[i] as number) & ~MARK;
  }

  /** Memory the table holds, for the record. */
  get footprint(): number {
    return this.keys.length + this.values.byteLength;
  }

  /** The slot holding `digest`, or the empty one where it would go; leaves it in `probe`. */
  private slotOf(digest: Digest): number {
    if (this.probe.write(digest, 'hex') !== KEY) throw new RangeError(`not a digest: ${digest}`);
    const slots = this.values.length;
    // Digests are uniform: their first four bytes are as good a hash as any.
    let slot = this.probe.readUInt32BE(0) % slots;
    while (this.values[slot] !== 0 && this.probe.compare(this.keys, slot * KEY, slot * KEY + KEY) !== 0) {
      slot = slot + 1 === slots ? 0 : slot + 1;
    }
    return slot;
  }

  private grow(): void {
    const { keys, values } = this;
    const slots = values.length * 2;
    this.keys = Buffer.alloc(slots * KEY);
    this.values = new Uint32Array(slots);
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if (v === 0) continue;
      keys.copy(this.probe, 0, i * KEY, i * KEY + KEY);
      let slot = this.probe.readUInt32BE(0) % slots;
      while (this.values[slot] !== 0) slot = slot + 1 === slots ? 0 : slot + 1;
      this.probe.copy(this.keys, slot * KEY);
      this.values[slot] = v;
    }
  }
}
