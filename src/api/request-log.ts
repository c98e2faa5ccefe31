import { type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { IngotError } from '../core/errors.js';
import { callerOf } from './auth.js';

/**
 * One log line per request, written when the answer has gone (in place of Fastify's pair,
 * "incoming request" and "request completed"), at a level that says what it was:
 *
 * - error: the server failed (5xx); the error handler has logged the cause and its stack
 *          already, when it happened (a client gone by then gets no answer, nor a line here);
 * - info:  a refusal (4xx, with the error's code and message), or a change that succeeded
 *          (POST, PUT, PATCH, DELETE);
 * - debug: a read that succeeded (GET, HEAD: the CLI polls a job five times a second),
 *          and the data path's chunk batches, which come by the thousand per image.
 *
 * So the default level (info) logs what changed and what was refused, not the traffic.
 */

type Level = 'error' | 'info' | 'debug';

/** Routes whose requests each carry or ask about one batch of chunks. */
export const CHUNK_BATCH_ROUTES: ReadonlySet<string> = new Set([
  '/api/v1/chunks',
  '/api/v1/chunks/missing',
  '/api/v1/chunks/fetch',
  '/api/v1/chunks/signatures',
  '/peer/v1/chunks',
  '/peer/v1/chunks/missing',
  '/peer/v1/chunks/fetch',
  '/peer/v1/chunks/sizes',
]);

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function requestLevel(method: string, route: string | undefined, status: number): Level {
  if (status >= 500) return 'error';
  if (status >= 400) return 'info';
  if (READS.has(method) || (route !== undefined && CHUNK_BATCH_ROUTES.has(route))) return 'debug';
  return 'info';
}

const outcomes = new WeakMap<FastifyRequest, IngotError>();

/** The error handler says why a request was refused or failed; its line says so. */
export function noteOutcome(request: FastifyRequest, err: IngotError): void {
  outcomes.set(request, err);
}

/** Why a request was refused or failed, if it was. */
export function outcomeOf(request: FastifyRequest): IngotError | undefined {
  return outcomes.get(request);
}

/** Fastify's request lines, replaced: `Fastify({ logController: new RequestLog() })`. */
export class RequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const status = reply.statusCode;
    const level = requestLevel(request.method, request.routeOptions.url, status);
    const outcome = outcomes.get(request);
    const peer = (request as { peer?: { name: string } }).peer?.name;
    const token = callerOf(request)?.name;
    request.log[level](
      {
        method: request.method,
        url: request.url,
        status,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        remote: request.ip,
        ...(peer ? { peer } : {}),
        ...(token ? { token } : {}),
        ...(outcome ? { code: outcome.code, reason: outcome.message } : {}),
        // The answer could not be written whole (the client went, a stream broke).
        ...(error ? { err: error } : {}),
      },
      'request',
    );
  }
}
