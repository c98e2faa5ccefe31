import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuditEntry, AuditLog } from '../access/index.js';
import { callerOf } from './auth.js';
import { CHUNK_BATCH_ROUTES, outcomeOf } from './request-log.js';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);
const MAX_TARGET = 200;

/**
 * Which answered requests the audit keeps: every change (a request that is not a read),
 * whatever its outcome, and any request refused for want of a token or a role. The data
 * path's chunk batches (thousands per image) are left out unless refused; the commit that
 * lists the image they carried is kept.
 */
export function audited(method: string, route: string | undefined, status: number): boolean {
  const refused = status === 401 || status === 403;
  if (READS.has(method)) return status === 403;
  return refused || route === undefined || !CHUNK_BATCH_ROUTES.has(route);
}

/** The audit record of an answered request: written after the answer went, off its path. */
export function auditHook(audit: AuditLog) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const route = request.routeOptions.url;
    if (!audited(request.method, route, reply.statusCode)) return;
    const entry: AuditEntry = {
      token: callerOf(request)?.name ?? null,
      method: request.method,
      route: route ?? (request.url.split('?')[0] ?? '').slice(0, MAX_TARGET),
      target: targetOf(request),
      remote: request.ip,
      status: reply.statusCode,
      code: outcomeOf(request)?.code ?? null,
    };
    await audit.record(entry).catch((err: unknown) => {
      request.log.error({ err, audit: entry }, 'audit record not written');
    });
  };
}

/** What a request named: its route's parameters (`S/IMG`), else the `name` of its body. */
function targetOf(request: FastifyRequest): string | null {
  const params = Object.values((request.params ?? {}) as Record<string, unknown>).filter(
    (v): v is string => typeof v === 'string',
  );
  const body = request.body as { name?: unknown } | undefined;
  const target = params.length > 0 ? params.join('/') : typeof body?.name === 'string' ? body.name : null;
  return target === null ? null : target.slice(0, MAX_TARGET);
}
