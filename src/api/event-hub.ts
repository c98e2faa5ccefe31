/**
 * What `GET /api/v1/events` pushes: the work running now (transfers this server runs,
 * transfers peers run with it, jobs). Nothing polls: the hub reads the work when the
 * process's ActivitySignal says something changed, once for all listeners and at most
 * once per `minGapMs` however many signals came, and sends a reading only when it
 * differs from the last. With no listener it neither listens nor reads.
 */
import type { ActivitySignal } from '../core/activity-signal.js';

/**
 * One reading of the running work; `read` answers it as plain JSON values. `recent` is the
 * newest jobs with their states, so a job that began and ended between two readings is
 * still seen to have ended.
 */
export interface Activity {
  readonly transfers: readonly unknown[];
  readonly served: readonly unknown[];
  readonly jobs: readonly unknown[];
  readonly recent: readonly unknown[];
}

export type Listener = (activity: Activity) => void;

export class EventHub {
  private readonly listeners = new Set<Listener>();
  private unlisten: (() => void) | undefined;
  private last: Activity | undefined;
  private lastJson = '';
  private reading = false;
  /** A signal came while reading or too soon after a read: read (again) later. */
  private due = false;
  private timer: NodeJS.Timeout | undefined;
  private lastReadAt = 0;

  constructor(
    private readonly read: () => Promise<Activity>,
    private readonly signal: ActivitySignal,
    private readonly onError: (err: unknown) => void = () => {},
    private readonly minGapMs = 200,
  ) {}

  /** Calls `listener` with the latest reading now (if any) and with each change; answers the unsubscribe. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    if (this.last) listener(this.last);
    if (!this.unlisten) {
      this.unlisten = this.signal.listen(() => this.wake());
      this.wake();
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
    this.unlisten?.();
    this.unlisten = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.due = false;
    this.last = undefined;
    this.lastJson = '';
  }

  private wake(): void {
    if (!this.unlisten) return;
    this.due = true;
    if (this.reading || this.timer) return;
    const wait = this.lastReadAt + this.minGapMs - Date.now();
    if (wait <= 0) void this.tick();
    else
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.tick();
      }, wait);
  }

  private async tick(): Promise<void> {
    this.reading = true;
    this.due = false;
    this.lastReadAt = Date.now();
    try {
      this.send(await this.read());
    } catch (err) {
      this.onError(err);
    } finally {
      this.reading = false;
    }
    if (this.due) this.wake();
  }

  private send(activity: Activity): void {
    const json = JSON.stringify(activity);
    if (json === this.lastJson || this.listeners.size === 0) return;
    this.last = activity;
    this.lastJson = json;
    for (const l of this.listeners) l(activity);
  }
}

/** One server-sent event: `event` and its JSON `data`, each data line prefixed. */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
