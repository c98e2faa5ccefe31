import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { diskFullWithoutPath } from '../core/disk-full.js';
import { IngotError } from '../core/errors.js';
import { bodyRefusal, limitRefusal } from './limits.js';
import { noteOutcome } from './request-log.js';

/**
 * The one place where errors become HTTP answers: every body is `{ code, message, hint? }`.
 * The request's log line (request-log.ts) says which; a failure's cause is logged here, at once.
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | IngotError | Error, request, reply) => {
    const ingot = toIngotError(err, request);
    noteOutcome(request, ingot);
    if (ingot.httpStatus >= 500)
      request.log.error({ err: ingot.cause ?? ingot, code: ingot.code }, 'request failed');
    void reply.status(ingot.httpStatus).send(ingot.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    const err = new IngotError('NOT_FOUND', `no route ${request.method} ${request.url}`, {
      hint: 'see /openapi.json for the API',
    });
    noteOutcome(request, err);
    void reply.status(err.httpStatus).send(err.toJSON());
  });
}

function toIngotError(err: unknown, request: FastifyRequest): IngotError {
  if (err instanceof IngotError) return err;
  const e = err as FastifyError;
  if (e.validation) return limitRefusal(e, request) ?? new IngotError('INVALID_ARGUMENT', e.message);
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return bodyRefusal(request);
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return new IngotError('UNSUPPORTED_MEDIA_TYPE', e.message, {
      hint: 'send JSON as Content-Type: application/json (see /openapi.json)',
    });
  }
  if (e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return new IngotError('INVALID_ARGUMENT', e.message);
  if (e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || e instanceof SyntaxError) {
    return new IngotError('INVALID_ARGUMENT', `malformed JSON body: ${e.message}`);
  }
  if (typeof e.statusCode === 'number' && e.statusCode < 500)
    return new IngotError('INVALID_ARGUMENT', e.message);
  return diskFullWithoutPath(err) ?? new IngotError('INTERNAL', 'internal error', { cause: err });
}
