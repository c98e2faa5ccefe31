/**
 * "Something running here changed": raised where the work happens (a job's transition or
 * heartbeat, a transfer's recorded progress, a peer's transfer written down) and heard by
 * whoever shows that work live (the events stream). It carries no data: a listener reads
 * what it shows, once for any number of signals that arrived meanwhile.
 */
export class ActivitySignal {
  private readonly listeners = new Set<() => void>();

  notify(): void {
    for (const listener of this.listeners) listener();
  }

  /** Calls `listener` at every notify until the answered function is called. */
  listen(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
