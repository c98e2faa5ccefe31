import { describe, expect, it } from 'vitest';
import { ActivitySignal } from '../core/activity-signal.js';
import { type Activity, EventHub, sseFrame } from './event-hub.js';

const idle: Activity = { transfers: [], served: [], jobs: [], recent: [] };

/** A hub over a reading the test sets, counting its reads; each read resolves `nextRead`. */
function hubOver(minGapMs = 0) {
  const signal = new ActivitySignal();
  const state = { current: idle, reads: 0, onRead: () => {} };
  const hub = new EventHub(
    async () => {
      state.reads++;
      queueMicrotask(() => state.onRead());
      return state.current;
    },
    signal,
    () => {},
    minGapMs,
  );
  const nextRead = () => new Promise<void>((r) => (state.onRead = r));
  return { signal, state, hub, nextRead };
}

describe('EventHub', () => {
  it('reads when signalled, never on its own, and sends a reading only when it changed', async () => {
    const { signal, state, hub, nextRead } = hubOver();
    const seen: Activity[] = [];
    let read = nextRead();
    const stop = hub.subscribe((a) => seen.push(a));
    await read;
    expect(seen).toEqual([idle]);
    // A signal with nothing changed reads, and sends nothing.
    read = nextRead();
    signal.notify();
    await read;
    expect(seen).toHaveLength(1);
    state.current = { ...idle, jobs: [{ id: 1 }] };
    read = nextRead();
    signal.notify();
    await read;
    await Promise.resolve();
    expect(seen).toEqual([idle, state.current]);
    // A late listener gets the latest reading at once, without a read.
    const before = state.reads;
    const late: Activity[] = [];
    const stopLate = hub.subscribe((a) => late.push(a));
    expect(late).toEqual([state.current]);
    expect(state.reads).toBe(before);
    stop();
    stopLate();
    signal.notify();
    expect(state.reads).toBe(before);
    expect(hub.size).toBe(0);
  });

  it('reads once for a burst of signals that came while it was reading', async () => {
    const { signal, state, hub, nextRead } = hubOver(0);
    let read = nextRead();
    const stop = hub.subscribe(() => {});
    for (let i = 0; i < 50; i++) signal.notify();
    await read;
    read = nextRead();
    await read;
    expect(state.reads).toBe(2);
    stop();
  });

  it('frames an event as text/event-stream', () => {
    expect(sseFrame('activity', { a: 1 })).toBe('event: activity\ndata: {"a":1}\n\n');
  });
});
