import { Writable } from 'node:stream';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { IngotError } from '../core/errors.js';
import { installErrorHandler } from './error-handler.js';
import { RequestLog, requestLevel } from './request-log.js';

const LEVELS: Record<number, string> = { 20: 'debug', 30: 'info', 40: 'warn', 50: 'error' };

/** A Fastify app with the real error handler and request log, writing pino lines to `lines`. */
async function appLoggingTo(lines: string[]) {
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const logger: FastifyBaseLogger = pino({ level: 'debug' }, stream);
  const app = Fastify({ loggerInstance: logger, logController: new RequestLog() });
  installErrorHandler(app);
  app.get('/api/v1/jobs/:id', async () => ({ state: 'running' }));
  app.post('/api/v1/images/:name/state', async () => ({ ok: true }));
  app.post('/api/v1/chunks/missing', async () => ({ missing: [] }));
  app.get('/api/v1/images/:name', async () => {
    throw new IngotError('NOT_FOUND', 'image NOPE does not exist');
  });
  app.get('/broken', async () => {
    throw new Error('disk on fire');
  });
  await app.ready();
  return app;
}

describe('request log', () => {
  it('writes one line per request, at a level by what it did, with one msg each', async () => {
    const lines: string[] = [];
    const app = await appLoggingTo(lines);
    await app.inject({ method: 'GET', url: '/api/v1/jobs/7' });
    await app.inject({ method: 'POST', url: '/api/v1/images/A/state', payload: {} });
    await app.inject({ method: 'POST', url: '/api/v1/chunks/missing', payload: {} });
    await app.inject({ method: 'GET', url: '/api/v1/images/NOPE' });
    await app.inject({ method: 'GET', url: '/no/such/route' });
    await app.inject({ method: 'GET', url: '/broken' });
    await app.close();

    for (const line of lines) expect(line.match(/[{,]"msg":/g), line).toHaveLength(1);
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const requests = records.filter((r) => r.msg === 'request');
    expect(requests.map((r) => [LEVELS[r.level as number], r.method, r.url, r.status, r.code])).toEqual([
      ['debug', 'GET', '/api/v1/jobs/7', 200, undefined],
      ['info', 'POST', '/api/v1/images/A/state', 200, undefined],
      ['debug', 'POST', '/api/v1/chunks/missing', 200, undefined],
      ['info', 'GET', '/api/v1/images/NOPE', 404, 'NOT_FOUND'],
      ['info', 'GET', '/no/such/route', 404, 'NOT_FOUND'],
      ['error', 'GET', '/broken', 500, 'INTERNAL'],
    ]);
    expect(requests[3]).toMatchObject({ reason: 'image NOPE does not exist' });
    // The failure's cause, with its stack, is logged when it happens.
    const failed = records.filter((r) => r.msg === 'request failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ level: 50, code: 'INTERNAL', err: { message: 'disk on fire' } });
    expect(String((failed[0]?.err as { stack?: string } | undefined)?.stack)).toContain(
      'request-log.test.ts',
    );
    expect(records.filter((r) => r.msg !== 'request' && r.msg !== 'request failed')).toEqual([]);
  });

  it('keeps reads and chunk batches at debug, changes and refusals at info', () => {
    expect(requestLevel('GET', '/api/v1/images', 200)).toBe('debug');
    expect(requestLevel('HEAD', '/healthz', 200)).toBe('debug');
    expect(requestLevel('PUT', '/peer/v1/chunks', 200)).toBe('debug');
    expect(requestLevel('POST', '/peer/v1/chunks/fetch', 200)).toBe('debug');
    expect(requestLevel('POST', '/api/v1/chunks/signatures', 200)).toBe('debug');
    expect(requestLevel('POST', '/peer/v1/replicas', 200)).toBe('info');
    expect(requestLevel('DELETE', '/api/v1/images/:name', 204)).toBe('info');
    expect(requestLevel('PUT', '/peer/v1/chunks', 403)).toBe('info');
    expect(requestLevel('GET', '/api/v1/images', 503)).toBe('error');
    expect(requestLevel('GET', undefined, 404)).toBe('info');
  });
});
