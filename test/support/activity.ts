/** Reading a server's events stream (`GET /api/v1/events`) in tests: waiting on pushed events, not polling. */
import type { IngotServer } from './ingot.js';

export interface Activity {
  transfers: { jobId: number; bytesDone: number; bytesTotal: number; state: string }[];
  served: unknown[];
  jobs: unknown[];
}

/**
 * Reads `server`'s activity events until `pick` answers something for one, and answers
 * that. Rejects when `signal` aborts or the stream ends first.
 */
export async function untilActivity<T>(
  server: IngotServer,
  pick: (a: Activity) => T | undefined,
  signal: AbortSignal,
): Promise<T> {
  const res = await fetch(`${server.url}/api/v1/events`, {
    headers: { authorization: `Bearer ${server.token}` },
    signal,
  });
  if (!res.ok || !res.body) throw new Error(`events stream of ${server.url}: ${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let text = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the events stream of ${server.url} ended`);
      text += value;
      for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
        const frame = text.slice(0, end);
        text = text.slice(end + 2);
        const data = /^event: activity\ndata: (.*)$/m.exec(frame)?.[1];
        const picked = data === undefined ? undefined : pick(JSON.parse(data) as Activity);
        if (picked !== undefined) return picked;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
