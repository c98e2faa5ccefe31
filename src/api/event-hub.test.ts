import { describe, expect, it } from 'vitest';
import { type Activity, EventHub, sseFrame } from './event-hub.js';

const idle: Activity = { transfers: [], served: [], jobs: [] };

describe('EventHub', () => {
  it('reads only while someone listens, and sends a reading only when it changed', async () => {
    let reads = 0;
    let current: Activity = idle;
    const hub = new EventHub(async () => {
      reads++;
      return current;
    }, 10);
    const seen: Activity[] = [];
    const stop = hub.subscribe((a) => seen.push(a));
    await new Promise((r) => setTimeout(r, 60));
    expect(seen).toEqual([idle]);
    current = { ...idle, jobs: [{ id: 1 }] };
    await new Promise((r) => setTimeout(r, 60));
    expect(seen).toHaveLength(2);
    stop();
    const after = reads;
    await new Promise((r) => setTimeout(r, 60));
    expect(reads).toBe(after);
    expect(hub.size).toBe(0);
  });

  it('frames an event as text/event-stream', () => {
    expect(sseFrame('activity', { a: 1 })).toBe('event: activity\ndata: {"a":1}\n\n');
  });
});
