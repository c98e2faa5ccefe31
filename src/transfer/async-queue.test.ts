import { describe, expect, it } from 'vitest';
import { AsyncQueue } from './async-queue.js';

describe('AsyncQueue', () => {
  it('hands items to waiting takers in order, holds a full producer, and ends', async () => {
    const q = new AsyncQueue<number>(2);
    const taken = [q.take(), q.take()];
    await q.put(1);
    await q.put(2);
    expect(await Promise.all(taken)).toEqual([1, 2]);
    await q.put(3);
    await q.put(4);
    let fifthIn = false;
    const fifth = q.put(5).then(() => {
      fifthIn = true;
    });
    await Promise.resolve();
    expect(fifthIn).toBe(false);
    expect(await q.take()).toBe(3);
    await fifth;
    expect(fifthIn).toBe(true);
    q.end();
    expect([await q.take(), await q.take(), await q.take()]).toEqual([4, 5, undefined]);
  });

  it('wakes takers and putters with a failure', async () => {
    const q = new AsyncQueue<number>(1);
    const taker = q.take();
    q.fail(new Error('sender died'));
    await expect(taker).rejects.toThrow('sender died');
    await expect(q.put(1)).rejects.toThrow('sender died');
    await expect(q.take()).rejects.toThrow('sender died');
  });
});
