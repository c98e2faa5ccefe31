import { IngotError } from './errors.js';

/**
 * Who may do what on the REST API: three roles, each allowed what the one before it is.
 * reader reads; operator also moves, adds and changes images; admin also manages tokens,
 * peers, deletes and gc. Which route needs which role is src/api/route-roles.ts.
 */
export const ROLES = ['reader', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function roleAllows(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

export function parseRole(value: string): Role {
  if ((ROLES as readonly string[]).includes(value)) return value as Role;
  throw new IngotError('INVALID_ARGUMENT', `unknown role ${JSON.stringify(value)}`, {
    hint: `use one of ${ROLES.join(', ')}`,
  });
}

const UNIT_SECONDS: Record<string, number> = { m: 60, h: 3600, d: 86_400, w: 604_800 };
/** Longest lifetime a token can be given: ten years. */
export const MAX_TOKEN_LIFETIME_SECONDS = 3650 * 86_400;

/** `30d`, `12h`, `90m`, `2w` as seconds. */
export function parseLifetime(value: string): number {
  const m = /^(\d{1,6})([mhdw])$/.exec(value);
  const seconds = m ? Number(m[1]) * (UNIT_SECONDS[m[2] as string] as number) : Number.NaN;
  if (!(seconds > 0 && seconds <= MAX_TOKEN_LIFETIME_SECONDS)) {
    throw new IngotError('INVALID_ARGUMENT', `invalid lifetime ${JSON.stringify(value)}`, {
      hint: 'a number and a unit, m, h, d or w (e.g. 30d, 12h), of at most 3650d',
    });
  }
  return seconds;
}
