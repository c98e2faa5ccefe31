/**
 * What `GET /api/v1/events` pushes: the work running now (transfers this server runs,
 * transfers peers run with it, jobs), read once for all listeners every `intervalMs`
 * while anyone listens, and sent only when it changed. Nothing is read when no one listens.
 */

/** One reading of the running work; `read` answers it as plain JSON values. */
export interface Activity {
  readonly transfers: readonly unknown[];
  readonly served: readonly unknown[];
  readonly jobs: readonly unknown[];
}

export type Listener = (activity: Activity) => void;

export class EventHub {
  private readonly listeners = new Set<Listener>();
  private timer: NodeJS.Timeout | undefined;
  private last: Activity | undefined;
  private lastJson = '';
  private reading = false;

  constructor(
    private readonly read: () => Promise<Activity>,
    private readonly intervalMs = 500,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  /** Calls `listener` with the latest reading now (if any) and with each change; answers the unsubscribe. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    if (this.last) listener(this.last);
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), this.intervalMs);
      this.timer.unref();
      void this.tick();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  get size(): number {
    return this.listeners.size;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.last = undefined;
    this.lastJson = '';
  }

  private async tick(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      const activity = await this.read();
      const json = JSON.stringify(activity);
      if (json === this.lastJson || this.listeners.size === 0) return;
      this.last = activity;
      this.lastJson = json;
      for (const l of this.listeners) l(activity);
    } catch (err) {
      this.onError(err);
    } finally {
      this.reading = false;
    }
  }
}

/** One server-sent event: `event` and its JSON `data`, each data line prefixed. */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
