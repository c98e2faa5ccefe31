/**
 * The REST API as the console calls it: same origin, the token in the Authorization header
 * (never in a URL), JSON both ways. A failure is an ApiError with the error registry's
 * code, message and hint, as the server sent them.
 */

const TOKEN_KEY = 'ingot.token';

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint: string | undefined,
  ) {
    super(message);
  }
}

/** Called when the server says the token no longer holds (401). */
let onUnauthenticated: () => void = () => {};
export function whenUnauthenticated(f: () => void): void {
  onUnauthenticated = f;
}

export async function api<T>(
  method: string,
  path: string,
  body?: unknown,
  token = storedToken(),
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    credentials: 'omit',
    cache: 'no-store',
  });
  const text = await res.text();
  const json = text ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) {
    const e = (json ?? {}) as { code?: string; message?: string; hint?: string };
    if (res.status === 401) onUnauthenticated();
    throw new ApiError(res.status, e.code ?? `HTTP_${res.status}`, e.message ?? res.statusText, e.hint);
  }
  return json as T;
}

/** A query string from the defined values of `params`. */
export function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export type Role = 'reader' | 'operator' | 'admin';
const ROLES: readonly Role[] = ['reader', 'operator', 'admin'];

/** Whether `have` reaches `need` (the server's table is src/api/route-roles.ts). */
export function allows(have: string, need: Role): boolean {
  return ROLES.indexOf(have as Role) >= ROLES.indexOf(need);
}
