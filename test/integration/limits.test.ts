import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IngotServer, startIngot } from '../support/ingot.js';

/** Bodies the API refuses by their size or type, before it reads or stores them. */
describe('the REST API refuses what it does not take, naming the rule', () => {
  let server: IngotServer;
  beforeAll(async () => {
    server = await startIngot({ name: 'LIMITS' });
  });
  afterAll(() => server?.stop());

  async function api(method: 'GET' | 'POST' | 'PUT', path: string, body?: string | Buffer, type?: string) {
    const res = await request(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${server.token}`,
        ...(type ? { 'content-type': type } : {}),
      },
      ...(body === undefined ? {} : { body }),
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
  }

  it('refuses a chunk upload that is not a chunk stream with 415, storing nothing', async () => {
    const json = await api('PUT', '/api/v1/chunks', JSON.stringify({ digests: [] }), 'application/json');
    expect(json).toMatchObject({
      status: 415,
      body: {
        code: 'UNSUPPORTED_MEDIA_TYPE',
        message: 'a chunk upload is application/vnd.ingot.chunks, not application/json',
      },
    });
    expect(json.body.hint).toContain('Content-Type: application/vnd.ingot.chunks');
    const octets = await api('PUT', '/api/v1/chunks', Buffer.alloc(64), 'application/octet-stream');
    expect(octets).toMatchObject({ status: 415, body: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
    const none = await api('PUT', '/api/v1/chunks', Buffer.alloc(64));
    expect(none).toMatchObject({ status: 415, body: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
  });

  it('refuses a JSON route given another type with 415', async () => {
    const res = await api('POST', '/api/v1/series', 'name=S1', 'application/x-www-form-urlencoded');
    expect(res).toMatchObject({ status: 415, body: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
  });
});
