import { createHash, randomBytes } from 'node:crypto';
import {
  copyFile,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Digest } from '../core/manifest.js';
import { encodeChunk } from '../store/compression.js';
import type { FramedChunk } from '../store/frame-codec.js';
import { writeBundle } from './bundle-format.js';
import { type OpenedBundle, openBundle } from './bundle-reader.js';
import type { MovingChunk } from './ports.js';

const MiB = 1024 * 1024;
const header = { manifests: [{ name: 'gold/base', signature: 'c2ln', note: 'ünïcödé' }], created: 1 };

const digestOf = (b: Buffer) => createHash('sha256').update(b).digest('hex') as Digest;

/** Random (stored raw) and repetitive (stored zstd) chunks, `total` payload bytes in all. */
async function sampleChunks(total: number, size = 256 * 1024): Promise<FramedChunk[]> {
  const out: FramedChunk[] = [];
  for (let i = 0, payload = 0; payload < total; i++) {
    const raw =
      i % 4 === 3 ? Buffer.from(`chunk ${i} `.repeat(size / 8)).subarray(0, size) : randomBytes(size);
    const encoded = await encodeChunk(raw);
    out.push({ digest: digestOf(raw), encoded, rawLength: raw.length });
    payload += encoded.payload.length;
  }
  return out;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function expectSameChunks(got: FramedChunk[], want: FramedChunk[]): void {
  expect(got.map((c) => [c.digest, c.rawLength, c.encoded.encoding])).toEqual(
    want.map((c) => [c.digest, c.rawLength, c.encoded.encoding]),
  );
  for (const [i, c] of got.entries()) expect(c.encoded.payload.equals(want[i]!.encoded.payload)).toBe(true);
}

/** Every chunk of one read, payloads copied (they are lent). */
function readAll(b: OpenedBundle): Promise<FramedChunk[]> {
  return b.read(async (chunks) => {
    const out: FramedChunk[] = [];
    for await (const c of chunks) {
      if (c.encoded.encoding === 'delta') throw new Error('a whole bundle holds no deltas');
      out.push({ ...c, encoded: { encoding: c.encoded.encoding, payload: Buffer.from(c.encoded.payload) } });
    }
    return out;
  });
}

async function openAndVerify(path: string) {
  const b = await openBundle(path);
  await readAll(b);
  return b;
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ingot-bundle-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('bundle format: round trips', () => {
  it('writes one .ingot file with the documented layout and reads it back', async () => {
    const chunks = await sampleChunks(2 * MiB);
    const r = await writeBundle({ dir, name: 'base', header, chunks });
    expect(r.files).toEqual([join(dir, 'base.ingot')]);
    expect(await readdir(dir)).toEqual(['base.ingot']);

    const file = await readFile(r.files[0]!);
    expect(file.subarray(0, 5).toString('latin1')).toBe('IGBP\x01');
    expect([file.readUInt32BE(24), file.readUInt32BE(28)]).toEqual([1, 1]);
    const logical = file.subarray(40);
    expect(logical.length).toBe(r.logicalBytes);
    expect(logical.subarray(0, 5).toString('latin1')).toBe('IGBN\x01');
    const body = logical.subarray(0, logical.length - 44);
    const trailer = logical.subarray(logical.length - 44);
    expect(trailer.subarray(0, 4).toString('latin1')).toBe('IGBE');
    expect(Number(trailer.readBigUInt64BE(4))).toBe(body.length);
    expect(trailer.subarray(12).toString('hex')).toBe(r.sha256);
    expect(createHash('sha256').update(body).digest('hex')).toBe(r.sha256);

    const b = await openAndVerify(r.files[0]!);
    expect(b.header).toEqual(header);
    expect(b.files).toEqual(r.files);
    const got = await readAll(b);
    expectSameChunks(got, chunks);
    expect(new Set(got.map((c) => c.encoded.encoding))).toEqual(new Set(['raw', 'zstd']));
  });

  it('round-trips zero chunks, from an async source too', async () => {
    const r = await writeBundle({ dir, name: 'empty', header: [], chunks: (async function* () {})() });
    const b = await openAndVerify(r.files[0]!);
    expect(b.header).toEqual([]);
    expect(await readAll(b)).toEqual([]);
  });

  it('splits into .001, .002, ... parts no larger than splitBytes and reads them back', async () => {
    const chunks = await sampleChunks(5 * MiB);
    const r = await writeBundle({ dir, name: 'big', splitBytes: MiB, header, chunks });
    expect(r.files.length).toBeGreaterThanOrEqual(5);
    expect(r.files).toEqual(r.files.map((_, i) => join(dir, `big.ingot.${String(i + 1).padStart(3, '0')}`)));
    const sizes = await Promise.all(r.files.map(async (f) => (await stat(f)).size));
    for (const size of sizes.slice(0, -1)) expect(size).toBe(MiB);
    expect(sizes.at(-1)).toBeLessThanOrEqual(MiB);
    expect(sizes.reduce((n, s) => n + s - 40, 0)).toBe(r.logicalBytes);

    for (const entry of [r.files[0]!, r.files[1]!]) {
      const b = await openBundle(entry);
      expect(b.header).toEqual(header);
      expectSameChunks(await readAll(b), chunks);
    }
  });

  it('names a split bundle .001 even when one part suffices', async () => {
    const r = await writeBundle({ dir, name: 'small', splitBytes: MiB, header, chunks: [] });
    expect(r.files).toEqual([join(dir, 'small.ingot.001')]);
    expect((await openAndVerify(r.files[0]!)).header).toEqual(header);
  });
});

describe('bundle format: damage is caught before anything is trusted', () => {
  async function split(name = 'big') {
    return writeBundle({ dir, name, splitBytes: MiB, header, chunks: await sampleChunks(5 * MiB) });
  }

  it('a cut last part: read throws TRUNCATED naming that part', async () => {
    for (const splitBytes of [undefined, MiB]) {
      const name = `cut${splitBytes ?? ''}`;
      const r = await writeBundle({ dir, name, splitBytes, header, chunks: await sampleChunks(3 * MiB) });
      const last = r.files.at(-1)!;
      await truncate(last, (await stat(last)).size - 1000);
      const b = await openBundle(r.files[0]!);
      await expect(readAll(b)).rejects.toMatchObject({
        code: 'TRUNCATED',
        message: expect.stringContaining(last),
      });
    }
  });

  it('a cut middle part: TRUNCATED naming that part', async () => {
    const r = await split();
    await truncate(r.files[1]!, MiB - 10);
    await expect(openAndVerify(r.files[0]!)).rejects.toMatchObject({
      code: 'TRUNCATED',
      message: expect.stringContaining('big.ingot.002'),
    });
  });

  it('a flipped byte in the middle: read throws CORRUPT', async () => {
    const one = await writeBundle({ dir, name: 'one', header, chunks: await sampleChunks(2 * MiB) });
    const many = await split();
    for (const file of [one.files[0]!, many.files[2]!]) {
      const bytes = await readFile(file);
      const mid = bytes.length >> 1;
      bytes[mid] = bytes[mid]! ^ 0x40;
      await writeFile(file, bytes);
    }
    for (const entry of [one.files[0]!, many.files[0]!]) {
      await expect(openAndVerify(entry)).rejects.toMatchObject({ code: 'CORRUPT' });
    }
  });

  it('a wrong trailer over valid chunks: every chunk is handed out, then read throws CORRUPT', async () => {
    const chunks = await sampleChunks(2 * MiB);
    for (const splitBytes of [undefined, MiB]) {
      const r = await writeBundle({ dir, name: `trailer${splitBytes ?? ''}`, splitBytes, header, chunks });
      const last = r.files.at(-1)!;
      const bytes = await readFile(last);
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0x01;
      await writeFile(last, bytes);
      const seen: MovingChunk[] = [];
      const b = await openBundle(r.files[0]!);
      await expect(
        b.read(async (it) => {
          for await (const c of it)
            seen.push({ ...c, encoded: { ...c.encoded, payload: Buffer.from(c.encoded.payload) } });
          return 'stored';
        }),
      ).rejects.toMatchObject({
        code: 'CORRUPT',
        message: expect.stringContaining('SHA-256 in its trailer'),
      });
      expectSameChunks(seen as FramedChunk[], chunks);
    }
  });

  it('a failure of the consumer that is not about the bytes is passed on as it is', async () => {
    const r = await writeBundle({ dir, name: 'sink', header, chunks: await sampleChunks(MiB) });
    const b = await openBundle(r.files[0]!);
    await expect(
      b.read(async (it) => {
        for await (const _ of it) throw new Error('sink down');
      }),
    ).rejects.toThrow('sink down');
    const aborted = AbortSignal.abort();
    await expect(b.read((it) => collect(it), { signal: aborted })).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect((await readAll(b)).length).toBeGreaterThan(0);
  });

  it('a missing part, middle or last: TRUNCATED naming the missing file', async () => {
    const r = await split();
    for (const gone of [r.files[1]!, r.files.at(-1)!]) {
      await rename(gone, `${gone}.away`);
      await expect(openBundle(r.files[0]!)).rejects.toMatchObject({
        code: 'TRUNCATED',
        message: expect.stringMatching(new RegExp(`${gone.replaceAll('.', '\\.')} is missing: part \\d+ of`)),
      });
      await rename(`${gone}.away`, gone);
    }
    await openAndVerify(r.files[0]!);
  });

  it('a part of another bundle swapped in: INVALID_ARGUMENT', async () => {
    const a = await split('a');
    const b = await split('b');
    await copyFile(b.files[1]!, a.files[1]!);
    await expect(openAndVerify(a.files[0]!)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: `${a.files[1]} belongs to another bundle`,
    });
  });

  it('parts renamed out of order: INVALID_ARGUMENT', async () => {
    const r = await split();
    const [p1, p2] = [r.files[0]!, r.files[1]!];
    await rename(p1, `${p1}.tmp`);
    await rename(p2, p1);
    await rename(`${p1}.tmp`, p2);
    await expect(openAndVerify(p1)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: `${p1} holds part 2, not part 1`,
    });
  });

  it('a .partial file left by an interrupted write is not a bundle, even renamed', async () => {
    let fail: (err: Error) => void = () => {};
    const stalled = new Promise<never>((_, reject) => {
      fail = reject;
    });
    const chunks = await sampleChunks(2 * MiB);
    async function* source() {
      yield* chunks;
      await stalled;
    }
    const writing = writeBundle({ dir, name: 'crash', header, chunks: source() });
    const partial = join(dir, 'crash.ingot.partial');
    while (((await stat(partial).catch(() => undefined))?.size ?? 0) < 40 + MiB) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await expect(openBundle(partial)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await copyFile(partial, join(dir, 'copied.ingot'));
    await expect(openBundle(join(dir, 'copied.ingot'))).rejects.toMatchObject({
      code: 'TRUNCATED',
      message: expect.stringContaining('never finished'),
    });

    fail(new Error('source failed'));
    await expect(writing).rejects.toThrow('source failed');
    expect(await readdir(dir)).toEqual(['copied.ingot']);
  });

  it('random bytes are not a bundle: INVALID_ARGUMENT', async () => {
    for (const name of ['noise.ingot', 'noise.ingot.001', 'noise.bin']) {
      await writeFile(join(dir, name), randomBytes(64 * 1024));
      await expect(openBundle(join(dir, name))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
  });
});

describe('bundle format: arguments', () => {
  it('refuses unsafe names, a small splitBytes and overwriting a bundle', async () => {
    for (const name of ['a/b', '.hidden', '..']) {
      await expect(writeBundle({ dir, name, header, chunks: [] })).rejects.toMatchObject({
        code: 'UNSAFE_PATH',
      });
    }
    await expect(
      writeBundle({ dir, name: 'x', splitBytes: MiB - 1, header, chunks: [] }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await writeBundle({ dir, name: 'x', header, chunks: [] });
    await expect(writeBundle({ dir, name: 'x', splitBytes: MiB, header, chunks: [] })).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
    });
    await expect(openBundle(join(dir, 'nope.ingot'))).rejects.toMatchObject({ code: 'PATH_NOT_FOUND' });
  });
});
