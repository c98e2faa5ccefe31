/** What instantiating leaves on both servers: a call the peer refuses leaves nothing here. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IngotServer, startIngot } from '../support/ingot.js';
import { exportServer } from '../support/peers.js';

let a: IngotServer;
let b: IngotServer;

async function ok(server: IngotServer, args: string[]): Promise<string> {
  const r = await server.cli(args);
  expect(r.code, `ingot ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  [a, b] = await Promise.all([startIngot({ name: 'PT_A' }), startIngot({ name: 'PT_B' })]);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

describe('instantiate image, refused by the peer', () => {
  it('leaves no standing request here; once the peer takes it, it is recorded', async () => {
    // B knows A; A does not know B yet, so A refuses B's call.
    const fa = await exportServer(a, 'PT_A');
    await ok(b, ['register', 'server', '--server', 'PT_A', '--serverdata', fa]);
    const refused = await b.cli(['instantiate', 'image', '--server', 'PT_A', '--all']);
    expect(refused.code, refused.stdout).not.toBe(0);
    const seen = await b.json<{ pushesHere: string[] }>(['query', 'peerserver', '--server', 'PT_A']);
    expect(seen.pushesHere).toEqual([]);

    const fb = await exportServer(b, 'PT_B');
    await ok(a, ['register', 'server', '--server', 'PT_B', '--serverdata', fb]);
    await ok(b, ['instantiate', 'image', '--server', 'PT_A', '--all']);
    const now = await b.json<{ pushesHere: string[] }>(['query', 'peerserver', '--server', 'PT_A']);
    expect(now.pushesHere).toEqual(['--all']);
    await ok(b, ['uninstantiate', 'image', '--server', 'PT_A', '--all']);
  });
});
