/** Recognises constraint violations from either driver, so callers can say what went wrong. */
import { isSqliteForeignKeyViolation, isSqliteUniqueViolation } from './sqlite-driver.js';

function codeOf(err: unknown): unknown {
  return err && typeof err === 'object' ? (err as { code?: unknown }).code : undefined;
}

export function isUniqueViolation(err: unknown): boolean {
  return codeOf(err) === '23505' || isSqliteUniqueViolation(err);
}

export function isForeignKeyViolation(err: unknown): boolean {
  return codeOf(err) === '23503' || isSqliteForeignKeyViolation(err);
}
