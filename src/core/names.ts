import { IngotError } from './errors.js';

/**
 * The one naming rule for images, image types, series, cluster names and (later) peers,
 * clients and targets: a letter, then up to 63 letters, digits, `_`, `-` or `.`.
 * Names are compared case-sensitively. The rule keeps names safe in URLs, file names and
 * shell commands without quoting.
 */
export const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
export const NAME_RULE =
  'a letter, then up to 63 letters, digits, "_", "-" or "." (e.g. DBHOME_19_21, ol9-root.v2)';

export type NameKind =
  | 'image'
  | 'image type'
  | 'series'
  | 'cluster'
  | 'peer'
  | 'client'
  | 'target'
  | 'template'
  | 'token'
  | 'publisher key';

export function checkName(kind: NameKind, name: unknown): string {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new IngotError('INVALID_NAME', `invalid ${kind} name ${JSON.stringify(name)}`, {
      hint: `a ${kind} name is ${NAME_RULE}`,
    });
  }
  return name;
}
