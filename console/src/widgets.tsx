/** Small pieces the pages share: loading a resource, showing an API error, a progress bar. */
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError } from './api.js';
import { formatBytes, percent } from './format.js';
import type { Progress } from './types.js';

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  reload(): void;
}

/** Calls `load` now and whenever `deps` change; `reload` calls it again. */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (d) => {
        if (!live) return;
        setData(d);
        setError(undefined);
      },
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
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
