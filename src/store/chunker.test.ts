import { createHash, randomFillSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Chunker, chunkStream, DEFAULT_CHUNKER_PARAMS, GEAR } from './chunker.js';

/**
 * Deterministic test data: bytes 32k..32k+31 are SHA-256 of the ASCII string
 * "ingot-test-v1:<k>" (k in decimal), truncated to n bytes.
 */
function testData(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let k = 0; k * 32 < n; k++) {
    createHash('sha256')
      .update(`ingot-test-v1:${k}`)
      .digest()
      .copy(out, k * 32);
  }
  return out;
}

function chunkAll(data: Buffer, pieceSize: number, params = DEFAULT_CHUNKER_PARAMS): Buffer[] {
  const c = new Chunker(params);
  const out: Buffer[] = [];
  for (let o = 0; o < data.length; o += pieceSize) out.push(...c.push(data.subarray(o, o + pieceSize)));
  const last = c.finish();
  if (last) out.push(last);
  return out;
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** One line per chunk, "offset length sha256", hashed: pins boundaries and contents. */
function listDigest(chunks: Buffer[]): string {
  let off = 0;
  const lines = chunks.map((c) => {
    const line = `${off} ${c.length} ${sha(c)}\n`;
    off += c.length;
    return line;
  });
  return sha(lines.join(''));
}

// Golden vectors for the default parameters over testData(4 MiB). A change here is a change
// of the chunk format: every stored image would stop deduplicating against new ingests.
const GOLDEN_LENGTHS = [
  75967, 66902, 71166, 85993, 68371, 65976, 31204, 79891, 80549, 114669, 74835, 79221, 140013, 66448, 72952,
  100559, 42237, 80360, 60107, 81880, 96834, 28086, 88582, 84894, 19903, 24343, 20849, 72614, 76586, 18315,
  73087, 88318, 66619, 81650, 73900, 108400, 87558, 80375, 49998, 77607, 71912, 91969, 72146, 65841, 91221,
  66685, 22749, 115690, 56170, 69741, 112152, 102199, 38763, 58364, 99092, 70808, 65997, 64987,
];
const GOLDEN_LIST_DIGEST = '99e28a1c081f3f7b68377ac5ab9154920d3345df18a3c8f6e43e3448fcb486fb';

describe('chunker', () => {
  it('has a pinned gear table', () => {
    expect(GEAR[0]! >>> 0).toBe(createHash('sha256').update('ingot-gear-v1/000').digest().readUInt32BE(0));
    // Little-endian bytes of the Int32Array, as stored on x86 and arm64.
    expect(sha(Buffer.from(GEAR.buffer))).toBe(
      'd55137810459215b00776bce00a303d51f840cfa2baccd46162c79ecc5da0b4c',
    );
  });

  it('matches the golden vectors whatever the input buffer sizes', () => {
    const data = testData(4 * 1024 * 1024);
    for (const piece of [100_000, 1, 7_777, 1 << 20, data.length]) {
      if (piece === 1) {
        const chunks = chunkAll(data.subarray(0, 300_000), 1);
        expect(chunks.map((c) => c.length).slice(0, 3)).toEqual(GOLDEN_LENGTHS.slice(0, 3));
        continue;
      }
      const chunks = chunkAll(data, piece);
      expect(chunks.map((c) => c.length)).toEqual(GOLDEN_LENGTHS);
      expect(listDigest(chunks)).toBe(GOLDEN_LIST_DIGEST);
    }
  });

  it('concatenates back to the input and respects min and max', () => {
    const params = { min: 256, avg: 1024, max: 4096 };
    const data = Buffer.concat([
      randomFillSync(Buffer.alloc(300_000)),
      Buffer.alloc(50_000),
      testData(100_000),
    ]);
    const chunks = chunkAll(data, 9_999, params);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    for (const c of chunks.slice(0, -1)) {
      expect(c.length).toBeGreaterThanOrEqual(params.min);
      expect(c.length).toBeLessThanOrEqual(params.max);
    }
    expect(chunks.some((c) => c.length === params.max)).toBe(true);
    const avg = data.length / chunks.length;
    expect(avg).toBeGreaterThan(params.min);
  });

  it('cuts a run of zeros into max-size chunks', () => {
    const chunks = chunkAll(Buffer.alloc(DEFAULT_CHUNKER_PARAMS.max * 4), 65536);
    expect(chunks.map((c) => c.length)).toEqual(new Array(4).fill(DEFAULT_CHUNKER_PARAMS.max));
  });

  it('resynchronises after an insertion', () => {
    const data = testData(4 * 1024 * 1024);
    const mid = 2 * 1024 * 1024 + 12345;
    const edited = Buffer.concat([data.subarray(0, mid), Buffer.from('inserted bytes'), data.subarray(mid)]);
    const before = new Set(chunkAll(data, 1 << 20).map((c) => sha(c)));
    const after = chunkAll(edited, 1 << 20).map((c) => sha(c));
    const changed = after.filter((d) => !before.has(d)).length;
    expect(changed).toBeLessThanOrEqual(2);
    expect(after.length - changed).toBeGreaterThan(50);
  });

  it('emits views of the input for chunks inside one buffer', () => {
    const data = testData(1024 * 1024);
    const c = new Chunker();
    const [first] = c.push(data);
    expect(first?.buffer).toBe(data.buffer);
  });

  it('streams via chunkStream, empty input gives no chunk', async () => {
    async function* src() {
      yield testData(300_000);
      yield Buffer.alloc(0);
      yield testData(5);
    }
    const chunks: Buffer[] = [];
    for await (const c of chunkStream(src())) chunks.push(c);
    expect(Buffer.concat(chunks).length).toBe(300_005);
    async function* none() {}
    const empty: Buffer[] = [];
    for await (const c of chunkStream(none())) empty.push(c);
    expect(empty).toEqual([]);
  });

  it('refuses bad parameters', () => {
    expect(() => new Chunker({ min: 100, avg: 1000, max: 4000 })).toThrow(/chunker parameters/);
    expect(() => new Chunker({ min: 2048, avg: 1024, max: 4096 })).toThrow(/chunker parameters/);
  });
});
