/**
 * The events stream (`GET /api/v1/events`), read with fetch and a stream reader so the
 * token travels in the Authorization header (EventSource could only put it in the URL).
 * Reconnects after the server's `retry` delay when the stream drops; stops on 401 or abort.
 */
import { storedToken } from './api.js';
import { SseParser } from './sse.js';
import type { Activity } from './types.js';

export type LinkState = 'connecting' | 'live' | 'reconnecting' | 'closed';

export interface EventsHandlers {
  activity(a: Activity): void;
  state(s: LinkState): void;
  unauthenticated(): void;
}

export function followEvents(handlers: EventsHandlers, signal: AbortSignal): void {
  let retryMs = 2000;
  const run = async () => {
    handlers.state('connecting');
    while (!signal.aborted) {
      try {
        const res = await fetch('/api/v1/events', {
          headers: { authorization: `Bearer ${storedToken() ?? ''}`, accept: 'text/event-stream' },
          cache: 'no-store',
          credentials: 'omit',
          signal,
        });
        if (res.status === 401) {
          handlers.state('closed');
          handlers.unauthenticated();
          return;
        }
        if (!res.ok || !res.body) throw new Error(`events: HTTP ${res.status}`);
        handlers.state('live');
        const parser = new SseParser();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const e of parser.push(value)) {
            if (e.event === 'activity') handlers.activity(JSON.parse(e.data) as Activity);
          }
          if (parser.retryMs !== undefined) retryMs = parser.retryMs;
        }
      } catch {
        // dropped or refused: try again below
      }
      if (signal.aborted) break;
      handlers.state('reconnecting');
      await new Promise((r) => setTimeout(r, retryMs));
    }
    handlers.state('closed');
  };
  void run();
}
