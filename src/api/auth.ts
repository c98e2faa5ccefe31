import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { IngotError } from '../core/errors.js';

/**
 * Bearer-token check for the admin API. Hashing both sides first makes the comparison
 * constant-time whatever the lengths.
 */
export function bearerAuth(token: string) {
  const expected = createHash('sha256').update(token).digest();
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const header = request.headers.authorization;
    if (!header) {
      throw new IngotError('UNAUTHENTICATED', 'this request needs a token', {
        hint: 'pass --token T or set INGOT_TOKEN; a local CLI reads $INGOT_HOME/token',
      });
    }
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    const given = createHash('sha256')
      .update(m?.[1] ?? '')
      .digest();
    if (!m || !timingSafeEqual(given, expected)) {
      throw new IngotError('UNAUTHENTICATED', 'the token is not valid for this server', {
        hint: 'use the token in the server’s $INGOT_HOME/token file',
      });
    }
  };
}
