import { describe, expect, it } from 'vitest';
import { BufferPool } from './buffer-pool.js';

describe('BufferPool', () => {
  it('hands a block back out once it is given back, and keeps at most maxIdle', () => {
    const pool = new BufferPool(1024, 2);
    const a = pool.take(100);
    expect(a.length).toBe(100);
    a[0] = 7;
    pool.give(a);
    expect(pool.idleBlocks).toBe(1);
    const again = pool.take(1024);
    expect(again.buffer).toBe(a.buffer);
    expect(pool.idleBlocks).toBe(0);
    for (const b of [pool.take(1), pool.take(1), pool.take(1)]) pool.give(b);
    expect(pool.idleBlocks).toBe(2);
  });

  it('gives larger sizes a buffer of their own and ignores buffers it did not make', () => {
    const pool = new BufferPool(1024, 4);
    const big = pool.take(4096);
    expect(big.length).toBe(4096);
    pool.give(big);
    pool.give(Buffer.alloc(10));
    pool.give(Buffer.from('pooled by the runtime, not by us'));
    expect(pool.idleBlocks).toBe(0);
  });
});

describe('BufferPool (shared)', () => {
  it('makes SharedArrayBuffer blocks and takes back only those', () => {
    const pool = new BufferPool(1024, 2, { shared: true });
    const a = pool.take(10);
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    pool.give(a);
    expect(pool.idleBlocks).toBe(1);
    expect(pool.take(1024).buffer).toBe(a.buffer);
    pool.give(Buffer.allocUnsafeSlow(1024));
    expect(pool.idleBlocks).toBe(0);
  });
});
