import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IngotServer, startIngot } from '../support/ingot.js';

const JSON_TYPE = 'application/json';

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

  it('refuses a description over 4096 characters, naming field, size and limit, storing nothing', async () => {
    const long = 'd'.repeat(5000);
    const series = await api(
      'POST',
      '/api/v1/series',
      JSON.stringify({ name: 'S_LONG', description: long }),
      JSON_TYPE,
    );
    expect(series).toMatchObject({
      status: 413,
      body: { code: 'LIMIT_EXCEEDED', message: 'description is 5000 characters; the limit is 4096' },
    });
    const type = await api(
      'POST',
      '/api/v1/imagetypes',
      JSON.stringify({ name: 'T_LONG', baseType: 'SOFTWARE', description: long }),
      JSON_TYPE,
    );
    expect(type).toMatchObject({ status: 413, body: { code: 'LIMIT_EXCEEDED' } });
    const listed = await api('GET', '/api/v1/series');
    expect(listed.body.series.map((x: { name: string }) => x.name)).not.toContain('S_LONG');
    const fits = await api(
      'POST',
      '/api/v1/series',
      JSON.stringify({ name: 'S_FITS', description: 'd'.repeat(4096) }),
      JSON_TYPE,
    );
    expect(fits.status).toBe(201);
  });

  it('refuses an admin JSON body over 1 MiB before parsing it, naming route and limit', async () => {
    const body = JSON.stringify({ name: 'S_HUGE', description: 'x'.repeat(2 * 1024 * 1024) });
    const res = await api('POST', '/api/v1/series', body, JSON_TYPE);
    expect(res).toMatchObject({
      status: 413,
      body: {
        code: 'PAYLOAD_TOO_LARGE',
        message: `the body of POST /api/v1/series is ${body.length} bytes; the limit is 1048576 bytes`,
      },
    });
  });

  it('refuses a query parameter over its bound', async () => {
    const res = await api('GET', `/api/v1/images?type=${'T'.repeat(65)}`);
    expect(res).toMatchObject({
      status: 413,
      body: { code: 'LIMIT_EXCEEDED', message: 'type is 65 characters; the limit is 64' },
    });
  });

  it('refuses a list over its bound', async () => {
    const digests = Array.from({ length: 4097 }, (_, i) => i.toString(16).padStart(64, '0'));
    const res = await api('POST', '/api/v1/chunks/missing', JSON.stringify({ digests }), JSON_TYPE);
    expect(res).toMatchObject({
      status: 413,
      body: { code: 'LIMIT_EXCEEDED', message: 'digests is 4097 items; the limit is 4096' },
    });
  });

  it('refuses a draft over its hole, chunk or entry count before looking at its chunks', async () => {
    const commit = (draft: unknown) =>
      api('POST', '/api/v1/images', JSON.stringify({ name: 'D_BIG', draft }), JSON_TYPE);
    const holes = 1024 * 1024 + 1;
    const holey = await commit({
      payload: { kind: 'file', mode: 0o644, size: holes },
      chunks: Array(holes).fill([1]),
    });
    expect(holey).toMatchObject({
      status: 413,
      body: { code: 'LIMIT_EXCEEDED', message: `draft.chunks has ${holes} holes; the limit is 1048576` },
    });
    const refs = 4 * 1024 * 1024 + 1;
    const many = await commit({
      payload: { kind: 'file', mode: 0o644, size: refs },
      chunks: Array(refs).fill(0),
    });
    expect(many).toMatchObject({
      status: 413,
      body: { code: 'LIMIT_EXCEEDED', message: `draft.chunks is ${refs} items; the limit is 4194304` },
    });
    const entries = 1024 * 1024 + 1;
    const wide = await commit({ payload: { kind: 'tree', entries: Array(entries).fill(0) }, chunks: [] });
    expect(wide).toMatchObject({
      status: 413,
      body: {
        code: 'LIMIT_EXCEEDED',
        message: `draft.payload.entries is ${entries} items; the limit is 1048576`,
      },
    });
    expect((await api('GET', '/api/v1/images/D_BIG')).status).toBe(404);
  });

  it('documents the limits in the OpenAPI document', async () => {
    const doc = (await api('GET', '/openapi.json')).body;
    const series = doc.paths['/api/v1/series'].post;
    expect(series.description).toContain('at most 1048576 bytes');
    const props = series.requestBody.content['application/json'].schema.properties;
    expect(props.description.maxLength).toBe(4096);
    expect(doc.paths['/api/v1/images'].post.description).toContain(`at most ${384 * 1024 * 1024} bytes`);
  });

  it('refuses a JSON route given another type with 415', async () => {
    const res = await api('POST', '/api/v1/series', 'name=S1', 'application/x-www-form-urlencoded');
    expect(res).toMatchObject({ status: 415, body: { code: 'UNSUPPORTED_MEDIA_TYPE' } });
  });
});
