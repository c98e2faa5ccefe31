import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isOwnServer } from './context.js';

describe('isOwnServer', () => {
  const homes: string[] = [];
  afterEach(() => {
    for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
  });
  const home = (info?: object) => {
    const h = mkdtempSync(join(tmpdir(), 'ingot-own-'));
    homes.push(h);
    if (info) writeFileSync(join(h, 'server.json'), JSON.stringify(info));
    return { INGOT_HOME: h };
  };

  it('is the live loopback server that this home names, and nothing else', async () => {
    const url = 'http://127.0.0.1:7070';
    const env = home({ url, pid: process.pid });
    expect(await isOwnServer(url, env)).toBe(true);
    expect(await isOwnServer('http://127.0.0.1:7071', env)).toBe(false);
    expect(
      await isOwnServer('http://10.1.2.3:7070', home({ url: 'http://10.1.2.3:7070', pid: process.pid })),
    ).toBe(false);
    expect(await isOwnServer(url, home())).toBe(false);
    // A server.json left behind by a process that is gone.
    const dead = spawnSync(process.execPath, [
      '-e',
      'process.stdout.write(String(process.pid))',
    ]).stdout.toString();
    expect(await isOwnServer(url, home({ url, pid: Number(dead) }))).toBe(false);
  });
});
