import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ChunkRef, Digest } from '../core/manifest.js';
import { BaseIndex, ReferencePicker } from './delta-references.js';

const d = (s: string) => createHash('sha256').update(s).digest('hex') as Digest;
const refs = (names: string[]): ChunkRef[] => names.map((n) => ({ kind: 'data', digest: d(n), length: 10 }));

async function* listOf(...parts: string[][]): AsyncGenerator<readonly ChunkRef[]> {
  for (const p of parts) yield refs(p);
}

/** The references picked for `image` (names), where the receiver lacks `wanted`. */
async function lists(
  base: string[][],
  image: string[][],
  wanted: string[],
): Promise<(string[] | undefined)[]> {
  const index = await BaseIndex.of(listOf(...base));
  const names = new Map([...base.flat(), ...image.flat()].map((n) => [d(n), n]));
  const picker = new ReferencePicker(index);
  const want = new Set(wanted.map(d));
  return image.flatMap((batch) =>
    picker.pick(batch.map(d), want).map((refs) => refs?.map((r) => names.get(r) as string)),
  );
}

/** The chunk in each one's place, the last of its references. */
async function picks(base: string[][], image: string[][], wanted: string[]): Promise<(string | undefined)[]> {
  return (await lists(base, image, wanted)).map((refs) => refs?.at(-1));
}

describe('BaseIndex', () => {
  it('numbers distinct data chunks in order across parts and grows past its first buffer', async () => {
    const many = Array.from({ length: 3000 }, (_, i) => `c${i}`);
    const index = await BaseIndex.of(listOf(['a', 'b', 'a'], ['c'], many));
    expect(index.size).toBe(3003);
    expect(index.positionOf(d('a'))).toBe(0);
    expect(index.positionOf(d('c'))).toBe(2);
    expect(index.digestAt(3002)).toBe(d('c2999'));
    expect(index.digestAt(3003)).toBeUndefined();
    expect(index.digestAt(-1)).toBeUndefined();
    expect(index.positionOf(d('zz'))).toBeUndefined();
  });
});

describe('ReferencePicker', () => {
  it('pairs a changed chunk with the base chunk between the same neighbours', async () => {
    expect(await picks([['a', 'b', 'c', 'd']], [['a', 'B', 'c', 'D']], ['B', 'D'])).toEqual(['b', 'd']);
  });

  it('pairs a run of changed chunks in order, and counts back from the first anchor', async () => {
    expect(await picks([['a', 'b', 'c', 'd', 'e']], [['A', 'B', 'c', 'D', 'e']], ['A', 'B', 'D'])).toEqual([
      'a',
      'b',
      'd',
    ]);
  });

  it('gives an insertion no reference once the base has no chunk left between the anchors', async () => {
    // B follows a, as b did; Y comes before c, as b did; X has no place in the base.
    expect(await picks([['a', 'b', 'c']], [['a', 'B', 'X', 'Y', 'c']], ['B', 'X', 'Y'])).toEqual([
      'b',
      undefined,
      'b',
    ]);
  });

  it('carries the last anchor across batches', async () => {
    expect(
      await picks(
        [['a', 'b', 'c', 'd']],
        [
          ['a', 'b'],
          ['C', 'D'],
        ],
        ['C', 'D'],
      ),
    ).toEqual(['c', 'd']);
  });

  it('names no reference without anchors, nor one the receiver lacks, nor the chunk itself', async () => {
    expect(await picks([['a', 'b']], [['X', 'Y']], ['X', 'Y'])).toEqual([undefined, undefined]);
    // b is wanted too (the receiver lost it): never a reference.
    expect(await picks([['a', 'b', 'c']], [['a', 'B', 'c']], ['B', 'b'])).toEqual([undefined]);
  });

  it('adds the neighbours of the chunk in its place, those held and not the chunk itself', async () => {
    expect(await lists([['a', 'b', 'c', 'd']], [['a', 'B', 'c', 'd']], ['B'])).toEqual([['a', 'c', 'b']]);
    // At the start the base has no chunk before.
    expect(await lists([['a', 'b', 'c']], [['A', 'b', 'c']], ['A'])).toEqual([['b', 'a']]);
    // d is wanted (the receiver lacks it): never a reference, not even as a neighbour.
    expect(await lists([['a', 'b', 'c', 'd']], [['a', 'b', 'C', 'd']], ['C', 'd'])).toEqual([
      ['b', 'c'],
      undefined,
    ]);
  });

  it('ignores held chunks the base does not have', async () => {
    expect(await picks([['a', 'b', 'c']], [['a', 'z', 'B', 'c']], ['B'])).toEqual(['b']);
  });
});
