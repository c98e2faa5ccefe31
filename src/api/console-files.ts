/**
 * The web console's files (built by `npm run build` into dist/console) at `/`, on the
 * REST API's port, with a strict Content-Security-Policy: scripts, styles and connections
 * from this origin only, no inline script, no eval, no framing. The files need no token;
 * the console asks for one and sends it in the Authorization header of each API call.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { ApiApp } from './app.js';

/** dist/console of this package, from src/api (tests) and dist/api (the build) alike. */
export const CONSOLE_ROOT = resolve(import.meta.dirname, '../../dist/console');

export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export async function consoleFiles(app: ApiApp, root = CONSOLE_ROOT): Promise<void> {
  const headers = (res: { setHeader(name: string, value: string): unknown }) => {
    res.setHeader('content-security-policy', CONSOLE_CSP);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('x-frame-options', 'DENY');
  };
  if (existsSync(root)) {
    await app.register(fastifyStatic, {
      root,
      prefix: '/',
      index: ['index.html'],
      // Hashed asset names change with each build; index.html is read again each time.
      cacheControl: false,
      setHeaders: headers,
    });
    return;
  }
  // A checkout whose console was not built: the same route, saying so.
  app.get('/*', { schema: { hide: true } }, async (_request, reply) => {
    headers(reply.raw);
    return reply
      .status(404)
      .type('text/plain; charset=utf-8')
      .send('The web console is not built: run npm run build\n');
  });
}
