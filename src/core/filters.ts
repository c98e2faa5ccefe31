import { IngotError } from './errors.js';
import { checkName } from './names.js';
import { type ImageState, parseImageState } from './states.js';

/**
 * An instantiation filter: which of a server's own images a peer asked to receive. Exactly
 * one of FPP's four selectors, plus the state an image must be in (PUBLISHED unless asked).
 */
export type FilterSelector =
  | { readonly kind: 'all' }
  | { readonly kind: 'image'; readonly value: string }
  | { readonly kind: 'series'; readonly value: string }
  | { readonly kind: 'imagetype'; readonly value: string };

export type InstantiationFilter = FilterSelector & { readonly state: ImageState };

export const FILTER_KINDS = ['all', 'image', 'series', 'imagetype'] as const;
export type FilterKind = (typeof FILTER_KINDS)[number];

/** What the filter needs to know of one image; gathered by the caller, so this stays pure. */
export interface ImageFacts {
  readonly name: string;
  /** Key id of the image's origin (null: not known here). */
  readonly originKeyId: string | null;
  readonly imageType: string;
  readonly state: ImageState;
  readonly private: boolean;
  /** Names of its ancestors held on the origin, parent first. */
  readonly ancestors: readonly string[];
  /** Series it belongs to. */
  readonly series: readonly string[];
}

/**
 * Whether `image` should travel to a peer under `filter`. Only the server's own images
 * (its origin has `selfKeyId`, this server's key) travel (no chaining through replicas),
 * never private ones, and only in the asked state.
 * `--image X` means X's descendants, as in FPP: X itself is not one of them.
 */
export function filterMatches(filter: InstantiationFilter, selfKeyId: string, image: ImageFacts): boolean {
  if (image.originKeyId !== selfKeyId || image.private || image.state !== filter.state) return false;
  switch (filter.kind) {
    case 'all':
      return true;
    case 'image':
      return image.ancestors.includes(filter.value);
    case 'series':
      return image.series.includes(filter.value);
    case 'imagetype':
      return image.imageType === filter.value;
  }
}

/** Builds a filter from loose input (CLI flags, JSON bodies); exactly one selector. */
export function parseFilter(input: {
  all?: unknown;
  image?: unknown;
  series?: unknown;
  imagetype?: unknown;
  state?: unknown;
}): InstantiationFilter {
  const given = FILTER_KINDS.filter((k) => input[k] !== undefined && input[k] !== false);
  if (given.length !== 1) {
    throw new IngotError('INVALID_ARGUMENT', 'give exactly one of --all, --image, --series or --imagetype', {
      hint: 'e.g. --all, or --series DB19',
    });
  }
  const state = input.state === undefined ? 'PUBLISHED' : parseImageState(input.state);
  const kind = given[0] as FilterKind;
  if (kind === 'all') return { kind, state };
  const nameKind = kind === 'image' ? 'image' : kind === 'series' ? 'series' : 'image type';
  return { kind, value: checkName(nameKind, input[kind]), state };
}

export function filterFromRow(kind: string, value: string, state: string): InstantiationFilter {
  if (kind === 'all') return { kind, state: parseImageState(state) };
  return parseFilter({ [kind]: value, state });
}

export function describeFilter(f: InstantiationFilter): string {
  const sel = f.kind === 'all' ? '--all' : `--${f.kind} ${f.value}`;
  return f.state === 'PUBLISHED' ? sel : `${sel} --state ${f.state}`;
}

export function filterValue(f: InstantiationFilter): string {
  return f.kind === 'all' ? '' : f.value;
}
