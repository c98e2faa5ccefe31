import { createHash, randomFillSync } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Digest } from '../core/manifest.js';
import { encodeChunk } from './compression.js';
import { decodeDelta, encodeDelta } from './delta-codec.js';
import {
  decodeFrames,
  encodeBlocks,
  encodeFrames,
  type FramedChunk,
  type FrameEncoding,
} from './frame-codec.js';

const digestOf = (b: Buffer) => createHash('sha256').update(b).digest('hex') as Digest;

async function sample(): Promise<FramedChunk[]> {
  const raws = [Buffer.from('hello '.repeat(3000)), randomFillSync(Buffer.alloc(5000)), Buffer.from('x')];
  return Promise.all(
    raws.map(async (r) => ({ digest: digestOf(r), encoded: await encodeChunk(r), rawLength: r.length })),
  );
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function* feed(bytes: Buffer, piece: number): AsyncGenerator<Buffer> {
  for (let o = 0; o < bytes.length; o += piece) yield Buffer.from(bytes.subarray(o, o + piece));
}

async function streamBytes(chunks: FramedChunk[]): Promise<Buffer> {
  return Buffer.concat(await collect(encodeFrames(chunks)));
}

/** Decodes, returning what was yielded and the error that ended it (if any). */
async function decodeAll(bytes: Buffer, piece = 1 << 20) {
  const got: FramedChunk[] = [];
  try {
    for await (const c of decodeFrames(feed(bytes, piece))) got.push(c);
  } catch (error) {
    return { got, error: error as { code: string } };
  }
  return { got, error: undefined };
}

const same = (a: FramedChunk, b: FramedChunk) =>
  a.digest === b.digest &&
  a.rawLength === b.rawLength &&
  a.encoded.encoding === b.encoded.encoding &&
  a.encoded.payload.equals(b.encoded.payload);

describe('frame codec', () => {
  it('round-trips, whatever the buffer boundaries (down to 1 byte)', async () => {
    const chunks = await sample();
    const bytes = await streamBytes(chunks);
    expect(bytes.subarray(0, 5).toString('latin1')).toBe('IGCK\x01');
    for (const piece of [1, 3, 41, 42, 43, 1000, bytes.length]) {
      const { got, error } = await decodeAll(bytes, piece);
      expect(error).toBeUndefined();
      expect(got).toHaveLength(3);
      for (const [i, c] of got.entries()) expect(same(c, chunks[i]!)).toBe(true);
    }
  });

  it('lends payloads: bytes spanning buffers land in one scratch buffer, reused for the next', async () => {
    const raws = [1, 2, 3].map(() => randomFillSync(Buffer.alloc(5000)));
    const chunks = await Promise.all(
      raws.map(async (r) => ({ digest: digestOf(r), encoded: await encodeChunk(r), rawLength: r.length })),
    );
    const bytes = await streamBytes(chunks);
    for (const piece of [1, 41, 1000, bytes.length]) {
      const backings = new Set<ArrayBufferLike>();
      let i = 0;
      for await (const c of decodeFrames(feed(bytes, piece), { lend: true })) {
        // Checked before the next is asked for: that is all a lent payload promises.
        expect(same(c, chunks[i++]!)).toBe(true);
        if (c.encoded.payload.length > piece) backings.add(c.encoded.payload.buffer);
      }
      expect(i).toBe(3);
      expect(backings.size).toBeLessThanOrEqual(1);
    }
  });

  it('handles an empty batch', async () => {
    const bytes = await streamBytes([]);
    expect(bytes.length).toBe(10);
    expect(await decodeAll(bytes)).toEqual({ got: [], error: undefined });
  });

  it('rejects bad magic, version, frame type and encoding', async () => {
    const bytes = await streamBytes(await sample());
    const patch = (at: number, v: number) => {
      const b = Buffer.from(bytes);
      b[at] = v;
      return b;
    };
    for (const b of [patch(0, 0x58), patch(4, 2), patch(5, 9), patch(5 + 33, 7)]) {
      const { got, error } = await decodeAll(b, 7);
      expect(got).toEqual([]);
      expect(error?.code).toBe('INVALID_ARGUMENT');
    }
  });

  it('rejects a payload length over 17 MiB before reading it', async () => {
    const bytes = await streamBytes((await sample()).slice(0, 1));
    const b = Buffer.from(bytes);
    b.writeUInt32BE(17 * 1024 * 1024 + 1, 5 + 38);
    expect((await decodeAll(b)).error?.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('rejects a count mismatch and bytes after the end, after yielding the chunks', async () => {
    const chunks = await sample();
    const bytes = await streamBytes(chunks);
    const b = Buffer.from(bytes);
    b.writeUInt32BE(4, b.length - 4);
    const r = await decodeAll(b, 5);
    expect(r.got).toHaveLength(3);
    expect(r.error?.code).toBe('INVALID_ARGUMENT');
    const trailing = await decodeAll(Buffer.concat([bytes, Buffer.from([0])]));
    expect(trailing.got).toHaveLength(3);
    expect(trailing.error?.code).toBe('INVALID_ARGUMENT');
  });

  it('reports TRUNCATED only after yielding every complete frame', async () => {
    const chunks = await sample();
    const bytes = await streamBytes(chunks);
    const frame1End = 5 + 42 + chunks[0]!.encoded.payload.length;
    const frame2End = frame1End + 42 + chunks[1]!.encoded.payload.length;
    const cases: Array<[number, number]> = [
      [3, 0],
      [frame1End, 1],
      [frame1End + 10, 1],
      [frame1End + 50, 1],
      [frame2End, 2],
      [bytes.length - 5, 3],
      [bytes.length - 2, 3],
    ];
    for (const [cut, complete] of cases) {
      for (const piece of [1, 1 << 20]) {
        const { got, error } = await decodeAll(bytes.subarray(0, cut), piece);
        expect(error?.code).toBe('TRUNCATED');
        expect(got).toHaveLength(complete);
        for (const [i, c] of got.entries()) expect(same(c, chunks[i]!)).toBe(true);
      }
    }
  });

  it('rejects a raw frame whose lengths disagree', async () => {
    const raw = Buffer.from('abc');
    const bytes = await streamBytes([
      { digest: digestOf(raw), encoded: { encoding: 'raw', payload: raw }, rawLength: 4 },
    ]);
    expect((await decodeAll(bytes)).error?.code).toBe('INVALID_ARGUMENT');
  });
});

/** A 64 KiB chunk with one 4 KiB block rewritten, as a delta frame against the original. */
function deltaFrame(): FramedChunk<FrameEncoding> {
  const reference = randomFillSync(Buffer.alloc(65_536));
  const target = Buffer.from(reference);
  randomFillSync(target, 8192, 4096);
  const payload = encodeDelta(target, reference);
  return {
    digest: digestOf(target),
    encoded: { encoding: 'delta', references: [digestOf(reference)], payload },
    rawLength: 65_536,
  };
}

async function v2Bytes(chunks: FramedChunk<FrameEncoding>[]): Promise<Buffer> {
  return Buffer.concat(await collect(encodeFrames(chunks, { deltas: true })));
}

async function decodeDeltas(bytes: Buffer, piece = 1 << 20) {
  const got: FramedChunk<FrameEncoding>[] = [];
  try {
    for await (const c of decodeFrames(feed(bytes, piece), { deltas: true })) got.push(c);
  } catch (error) {
    return { got, error: error as { code: string; message: string } };
  }
  return { got, error: undefined };
}

const sameWire = (a: FramedChunk<FrameEncoding>, b: FramedChunk<FrameEncoding>) =>
  same(a as FramedChunk, b as FramedChunk) &&
  (a.encoded.encoding !== 'delta' ||
    b.encoded.encoding !== 'delta' ||
    a.encoded.references.join() === b.encoded.references.join());

describe('frame codec, version 2 (deltas)', () => {
  it('writes version 1 as before unless asked for deltas', async () => {
    // The example of docs/store-format.md §7, byte for byte.
    const welcome = Buffer.from('Welcome to the gold image.\n');
    const example = {
      digest: digestOf(welcome),
      encoded: { encoding: 'raw', payload: welcome },
      rawLength: 27,
    } as const;
    expect((await streamBytes([example])).toString('hex')).toBe(
      `4947434b01 01${example.digest} 00 0000001b 0000001b ${welcome.toString('hex')} 0200000001`.replaceAll(
        ' ',
        '',
      ),
    );
    const chunks = await sample();
    const v1 = await streamBytes(chunks);
    expect(Buffer.concat(await collect(encodeFrames(chunks, { deltas: false })))).toEqual(v1);
    const v2 = await v2Bytes(chunks);
    expect(v2[4]).toBe(2);
    expect(v2.subarray(5)).toEqual(v1.subarray(5));
  });

  it('round-trips raw, zstd and delta frames, whatever the buffer boundaries', async () => {
    const chunks: FramedChunk<FrameEncoding>[] = [...(await sample()), deltaFrame()];
    chunks.splice(1, 0, deltaFrame());
    const bytes = await v2Bytes(chunks);
    const delta = chunks[1] as FramedChunk<FrameEncoding> & { encoded: { encoding: 'delta' } };
    const at = 5 + 42 + chunks[0]!.encoded.payload.length;
    expect(bytes[at + 33]).toBe(2);
    expect(bytes.readUInt32BE(at + 38)).toBe(1 + 32 + delta.encoded.payload.length);
    expect(bytes[at + 42]).toBe(1);
    expect(bytes.toString('hex', at + 43, at + 75)).toBe(delta.encoded.references[0]);
    for (const piece of [1, 43, 1000, bytes.length]) {
      const { got, error } = await decodeDeltas(bytes, piece);
      expect(error).toBeUndefined();
      expect(got).toHaveLength(5);
      for (const [i, c] of got.entries()) expect(sameWire(c, chunks[i]!)).toBe(true);
    }
  });

  it('refuses version 2 unless the decoder asked for deltas, and a delta in a version 1 stream', async () => {
    const bytes = await v2Bytes([deltaFrame()]);
    const { got, error } = await decodeAll(bytes);
    expect(got).toEqual([]);
    expect(error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/unknown chunk stream version 2/),
    });
    await expect(collect(encodeFrames([deltaFrame()]))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const v1 = Buffer.from(bytes);
    v1[4] = 1;
    expect((await decodeDeltas(v1)).error?.message).toMatch(/unknown chunk encoding 2/);
  });

  it('decodes the delta example of docs/store-format.md §7 to its chunk', async () => {
    const example = Buffer.from(
      (
        '4947434b02 01113d44717fe34405edeb1389dcd7539466e4dcb52a9bd9df25fe70851df67a29 02 00000026 0000003d ' +
        '01 50b73f504e9009a32dd2427f31a029681ef83bac91527a53117e425efba756fd ' +
        '28b52ffd20269d0000682c2076657273696f6e20322e0a0100be4c20 0200000001'
      ).replaceAll(' ', ''),
      'hex',
    );
    const [c] = (await decodeDeltas(example, 9)).got;
    expect(c?.encoded.encoding === 'delta' && c.encoded.references).toEqual([
      digestOf(Buffer.from('Welcome to the gold image.\n')),
    ]);
    const raw = decodeDelta(c!.encoded.payload, Buffer.from('Welcome to the gold image.\n'), 38);
    expect([raw.toString(), digestOf(raw)]).toEqual(['Welcome to the gold image, version 2.\n', c?.digest]);
  });

  it('reports a cut inside a delta payload as TRUNCATED', async () => {
    const bytes = await v2Bytes([deltaFrame()]);
    for (const cut of [5 + 42 + 10, 5 + 42 + 40, bytes.length - 6]) {
      expect((await decodeDeltas(bytes.subarray(0, cut), 7)).error?.code).toBe('TRUNCATED');
    }
  });

  it('refuses a delta payload too short for a reference and a delta, and one naming itself', async () => {
    const frame = deltaFrame();
    const short = Buffer.from(
      await v2Bytes([{ ...frame, encoded: { ...frame.encoded, payload: Buffer.alloc(0) } }]),
    );
    short.writeUInt32BE(20, 5 + 38);
    const cut = Buffer.concat([short.subarray(0, 5 + 42 + 20), short.subarray(short.length - 5)]);
    for (const b of [short, cut]) {
      expect((await decodeDeltas(b)).error).toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/too short/),
      });
    }
    const self = { ...frame, encoded: { ...frame.encoded, references: [frame.digest] } };
    const { got, error } = await decodeDeltas(await v2Bytes([self]));
    expect(got).toEqual([]);
    expect(error?.message).toMatch(/names itself/);
  });

  it('takes one to three references, and refuses a count outside that', async () => {
    const frame = deltaFrame();
    const refs = [0, 1, 2, 3].map((i) => digestOf(Buffer.of(i)));
    const three = { ...frame, encoded: { ...frame.encoded, references: refs.slice(0, 3) } };
    const { got } = await decodeDeltas(await v2Bytes([three]));
    expect(got[0]?.encoded.encoding === 'delta' && got[0].encoded.references).toEqual(refs.slice(0, 3));
    for (const n of [0, 4]) {
      const bad = { ...frame, encoded: { ...frame.encoded, references: refs.slice(0, n) } };
      await expect(v2Bytes([bad])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    const bytes = await v2Bytes([three]);
    for (const n of [0, 4]) {
      const edited = Buffer.from(bytes);
      edited[5 + 42] = n;
      expect((await decodeDeltas(edited)).error?.message).toMatch(new RegExp(`naming ${n} references`));
    }
  });
});

describe('encodeBlocks', () => {
  it('writes the same bytes as encodeFrames, in blocks of exactly the target', async () => {
    const chunks = await sample();
    const out = await collect(encodeBlocks(chunks, {}, 1000));
    const want = await streamBytes(chunks);
    expect(Buffer.concat(out)).toEqual(want);
    expect(out.slice(0, -1).every((b) => b.length === 1000)).toBe(true);
    expect(out.at(-1)?.length).toBe(want.length % 1000 || 1000);
  });

  it('has copied each payload before it asks for the next chunk, so a lent buffer may be reused', async () => {
    const lent = Buffer.alloc(700);
    async function* lending(): AsyncGenerator<FramedChunk> {
      for (let i = 0; i < 5; i++) {
        lent.fill(i);
        yield { digest: digestOf(lent), encoded: { encoding: 'raw', payload: lent }, rawLength: 700 };
      }
    }
    const got = await decodeAll(Buffer.concat(await collect(encodeBlocks(lending(), {}, 1000))));
    expect(got.error).toBeUndefined();
    expect(got.got.map((c) => c.encoded.payload)).toEqual(
      [...Array(5).keys()].map((i) => Buffer.alloc(700, i)),
    );
  });

  it('refuses a delta in a version 1 stream, as encodeFrames does', async () => {
    await expect(collect(encodeBlocks([deltaFrame()]))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('decodeFrames from a Readable', () => {
  it('reads a stream that arrives in many small pieces, and one cut short is TRUNCATED', async () => {
    const chunks = await sample();
    const bytes = await streamBytes(chunks);
    const pieces = (b: Buffer) => Readable.from([...feedSync(b, 97)], { objectMode: true });
    const whole = await collect(decodeFrames(pieces(bytes)));
    expect(whole.map((c) => c.digest)).toEqual(chunks.map((c) => c.digest));
    const cut = collect(decodeFrames(pieces(bytes.subarray(0, bytes.length - 3))));
    await expect(cut).rejects.toMatchObject({ code: 'TRUNCATED' });
  });

  it('reports a stream destroyed mid-body as TRUNCATED, with the chunks before it kept', async () => {
    const chunks = await sample();
    const bytes = await streamBytes(chunks);
    const r = new Readable({ read() {} });
    r.push(bytes.subarray(0, bytes.length - 10));
    const got: FramedChunk[] = [];
    const done = (async () => {
      for await (const c of decodeFrames(r)) {
        got.push(c);
        if (got.length === chunks.length - 1)
          r.destroy(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
      }
    })();
    await expect(done).rejects.toMatchObject({ code: 'TRUNCATED' });
    expect(got.length).toBe(chunks.length - 1);
  });
});

function* feedSync(bytes: Buffer, piece: number): Generator<Buffer> {
  for (let o = 0; o < bytes.length; o += piece) yield Buffer.from(bytes.subarray(o, o + piece));
}
