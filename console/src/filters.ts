/** Instantiation filters between the form the API takes and the words it says them in ("--series DB19 --state TESTABLE"). */

export type FilterKind = 'all' | 'image' | 'series' | 'imagetype';
export const FILTER_KINDS: readonly FilterKind[] = ['all', 'image', 'series', 'imagetype'];

export interface FilterForm {
  kind: FilterKind;
  value: string;
  state: string;
}

/** The body of an instantiate or uninstantiate call; the server checks it (and says why it refuses). */
export function filterBody(f: FilterForm): Record<string, string | boolean> {
  const body: Record<string, string | boolean> =
    f.kind === 'all' ? { all: true } : { [f.kind]: f.value.trim() };
  if (f.state && f.state !== 'PUBLISHED') body.state = f.state;
  return body;
}

/** A filter as the server describes it, back into the form; undefined when it is not one. */
export function parseDescribed(described: string): FilterForm | undefined {
  const m = /^--(all|image|series|imagetype)(?: (\S+))?(?: --state (\S+))?$/.exec(described.trim());
  const kind = m?.[1] as FilterKind | undefined;
  if (!m || !kind || (kind === 'all') !== (m[2] === undefined)) return undefined;
  return { kind, value: m[2] ?? '', state: m[3] ?? 'PUBLISHED' };
}
