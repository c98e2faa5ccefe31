import type { FastifyRequest } from 'fastify';
import type { Caller, TokenService } from '../access/index.js';
import { IngotError } from '../core/errors.js';
import { roleAllows } from '../core/roles.js';
import { leastRole } from './route-roles.js';

const callers = new WeakMap<FastifyRequest, Caller>();

/** The token a request came with, once checked (for the audit and the request log). */
export function callerOf(request: FastifyRequest): Caller | undefined {
  return callers.get(request);
}

/**
 * The bearer check and the role check of the admin API, one hook for every route: who the
 * token is (TokenService: the INGOT_HOME file's admin token or a named one), then whether
 * its role reaches the least role of the route (route-roles.ts). Paths in `open` need no
 * token; a path no route matches still needs one, so the API's shape is not open either.
 */
export function accessCheck(tokens: TokenService, open: ReadonlySet<string>) {
  return async (request: FastifyRequest): Promise<void> => {
    const path = request.url.split('?')[0] ?? '';
    if (open.has(path)) return;
    const route = request.routeOptions.url;
    // The console's files; a path under /api/ that no route matches still needs a token.
    if (route !== undefined && leastRole(request.method, route) === 'none' && !path.startsWith('/api/'))
      return;
    const header = request.headers.authorization;
    if (!header) {
      throw new IngotError('UNAUTHENTICATED', 'this request needs a token', {
        hint: 'pass --token T or set INGOT_TOKEN; a local CLI reads $INGOT_HOME/token',
      });
    }
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    const caller = await tokens.authenticate(m?.[1] ?? '');
    callers.set(request, caller);
    if (route === undefined) return;
    // A change no table row names is admin's: closed by default (app.ts refuses to start with one).
    // A path under /api/ that only the console's wildcard matches: any token, then 404.
    const least = leastRole(request.method, route) ?? 'admin';
    const need = least === 'none' ? 'reader' : least;
    if (!roleAllows(caller.role, need)) {
      throw new IngotError(
        'FORBIDDEN',
        `the token ${caller.name} has the role ${caller.role}; ${request.method} ${route} needs ${need}`,
        {
          hint: `ask an administrator for a token with the role ${need} (ingot token create NAME --role ${need})`,
          details: { role: caller.role, needed: need },
        },
      );
    }
  };
}
