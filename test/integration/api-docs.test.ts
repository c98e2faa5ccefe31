import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/core/errors.js';
import { type IngotServer, REPO, startIngot } from '../support/ingot.js';

interface OpenApi {
  info: { version: string };
  paths: Record<string, Record<string, { security?: unknown[] }>>;
  components: {
    schemas: Record<
      string,
      { properties?: Record<string, { enum?: string[]; anyOf?: { enum?: string[]; const?: string }[] }> }
    >;
  };
}

describe('the API describes itself', () => {
  let server: IngotServer;
  beforeAll(async () => {
    server = await startIngot({ name: 'DOCS' });
  });
  afterAll(() => server?.stop());

  const served = async () => (await (await fetch(`${server.url}/openapi.json`)).json()) as OpenApi;

  it('serves the OpenAPI document committed in docs/openapi.json (run `npm run docs` after a change)', async () => {
    const committed = JSON.parse(readFileSync(join(REPO, 'docs', 'openapi.json'), 'utf8')) as OpenApi;
    expect(await served()).toEqual(committed);
  });

  it('lists exactly the registry error codes in its Error schema', async () => {
    const code = (await served()).components.schemas.Error?.properties?.code;
    const listed = code?.enum ?? code?.anyOf?.map((a) => a.const ?? a.enum?.[0]);
    expect(new Set(listed)).toEqual(new Set(Object.keys(ERROR_CODES)));
  });

  it('serves health, metrics and identity without a token', async () => {
    const health = await fetch(`${server.url}/healthz`);
    expect(await health.json()).toMatchObject({ status: 'ok', name: 'DOCS' });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('ingot_http_request_duration_seconds');
    const id = (await (await fetch(`${server.url}/api/v1/server`)).json()) as { signingKey: string };
    expect(id.signingKey).toContain('BEGIN PUBLIC KEY');
  });

  it("answers a URL parameter too long for any name with the registry's error, not the router's 414", async () => {
    const auth = { authorization: `Bearer ${server.token}` };
    for (const length of [65, 101, 1000]) {
      const res = await fetch(`${server.url}/api/v1/images/${'A'.repeat(length)}`, { headers: auth });
      // The same answer as a name one character too long: the schema's bound, in the registry's words.
      expect({ status: res.status, body: await res.json() }).toMatchObject({
        status: 413,
        body: { code: 'LIMIT_EXCEEDED', message: expect.stringMatching(/64/) },
      });
    }
  });
});
