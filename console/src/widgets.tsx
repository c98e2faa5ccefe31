/** Small pieces the pages share: loading a resource, showing an API error, a progress bar. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.js';
import { formatBytes, percent } from './format.js';
import { finishedSince } from './live.js';
import type { Activity, Progress } from './types.js';

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  reload(): void;
}

/** Calls `load` now and whenever `deps` change; `reload` calls it again. */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  // Data is kept with the deps it was loaded for, so a page that moves to another
  // record shows nothing of the last one while the new one loads; a reload keeps it.
  const key = JSON.stringify(deps);
  const [loaded, setLoaded] = useState<{ key: string; data: T } | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (data) => {
        if (!live) return;
        setLoaded({ key, data });
        setError(undefined);
      },
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [key, n]);
  const data = loaded?.key === key ? loaded.data : undefined;
  return { data, error, reload: useCallback(() => setN((x) => x + 1), []) };
}

/** The error registry's message and hint, or any other failure's message. */
export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  if (error instanceof ApiError) {
    return (
      <div class="error" role="alert" data-code={error.code}>
        <strong>{error.code}</strong> {error.message}
        {error.hint ? <div class="hint">hint: {error.hint}</div> : null}
      </div>
    );
  }
  return (
    <div class="error" role="alert">
      {error instanceof Error ? error.message : String(error)}
    </div>
  );
}

/** A native progress bar (no inline style, for the CSP) with the figures beside it. */
export function ProgressBar({ p }: { p: Progress }) {
  const pct = percent(p.bytesDone, p.bytesTotal);
  return (
    <span class="progress">
      <progress max={100} value={pct} data-pct={pct} data-done={p.bytesDone} data-total={p.bytesTotal} />
      <span class="pct">{pct}%</span>
      <span class="muted">
        {formatBytes(p.bytesDone)} / {formatBytes(p.bytesTotal)}
      </span>
    </span>
  );
}

export function StateBadge({ state }: { state: string }) {
  return <span class={`badge state-${state.toLowerCase()}`}>{state}</span>;
}

export interface Action {
  busy: boolean;
  note: string;
  failure: unknown;
  /** Runs `f` (saying `what…` meanwhile); its answer becomes the note, its failure the error shown. */
  run(what: string, f: () => Promise<string>): Promise<void>;
}

/** One action at a time on a page, with what it said or the error it met. */
export function useAction(after: () => void = () => {}): Action {
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState('');
  const [failure, setFailure] = useState<unknown>(undefined);
  const run = async (what: string, f: () => Promise<string>) => {
    setBusy(true);
    setFailure(undefined);
    setNote(`${what}…`);
    try {
      setNote(await f());
      after();
    } catch (e) {
      setNote('');
      setFailure(e);
    } finally {
      setBusy(false);
    }
  };
  return { busy, note, failure, run };
}

/** What the last action said, and its error with the registry's code, message and hint. */
export function ActionNote({ action, id = 'action-note' }: { action: Action; id?: string }) {
  return (
    <>
      <p id={id} class="note">
        {action.note}
      </p>
      <ErrorNote error={action.failure} />
    </>
  );
}

/** Calls `reload` whenever something the events stream showed running has left it (so lists say how it ended). */
export function useReloadOnFinish(activity: Activity | undefined, reload: () => void): void {
  const previous = useRef<Activity | undefined>(undefined);
  useEffect(() => {
    if (!activity) return;
    if (finishedSince(previous.current, activity)) reload();
    previous.current = activity;
  }, [activity, reload]);
}

/** Calls `reload` on a new events reading, at most once per `ms` (for what changes with the work but is read apart). */
export function useEvery(activity: Activity | undefined, ms: number, reload: () => void): void {
  const last = useRef(Date.now());
  useEffect(() => {
    if (!activity || Date.now() - last.current < ms) return;
    last.current = Date.now();
    reload();
  }, [activity, ms, reload]);
}

/** A labelled select of plain string options. */
export function Choice(p: {
  label: string;
  id: string;
  value: string;
  options: readonly string[];
  on(v: string): void;
}) {
  return (
    <label>
      {p.label}{' '}
      <select id={p.id} value={p.value} onChange={(e) => p.on((e.target as HTMLSelectElement).value)}>
        {p.options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    </label>
  );
}
