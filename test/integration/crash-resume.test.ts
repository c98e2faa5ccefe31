import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, type IngotServer, startIngot, tempDir } from '../support/ingot.js';
import { pseudoRandom } from '../support/trees.js';

interface AddJson {
  name: string;
  upload: { uniqueChunks: number; sentChunks: number; knownBytes: number; sentRawBytes: number };
}

async function chunksReceived(server: IngotServer): Promise<number> {
  const res = await fetch(`${server.url}/metrics`);
  const text = await res.text();
  const m = /ingot_chunks_received_total\{result="stored"\} (\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}

/** The have/want upload (`--upload`); a server-side ingest has its own in src/jobs/handlers/ingest.job.test.ts. */
describe('kill -9 mid-upload', () => {
  let server: IngotServer;
  const work = tempDir('ingot-crash-');
  const big = join(work, 'big.img');

  beforeAll(async () => {
    // Pseudo-random, so nothing compresses and the upload takes a while.
    const parts: Buffer[] = [];
    for (let i = 0; i < 12; i++) parts.push(pseudoRandom(`crash${i}`, 16 * 1024 * 1024));
    writeFileSync(big, Buffer.concat(parts));
    server = await startIngot({ name: 'CRASHY' });
  });
  afterAll(() => server?.stop());

  it('of the server lists nothing, and the retry sends no verified chunk again', async () => {
    const add = spawn(process.execPath, [BIN, 'image', 'add', 'BIG', '--file', big, '--upload'], {
      env: { ...process.env, INGOT_HOME: server.home },
      stdio: 'ignore',
    });
    const addDone = new Promise<number>((r) => add.on('exit', (code) => r(code ?? -1)));
    while ((await chunksReceived(server)) < 300) await new Promise((r) => setTimeout(r, 20));
    await server.kill9();
    expect(await addDone).not.toBe(0);

    server = await server.restart();
    expect(await server.json<unknown[]>(['image', 'list'])).toEqual([]);
    const retry = await server.json<AddJson>(['image', 'add', 'BIG', '--file', big, '--upload']);
    expect(retry.upload.knownBytes).toBeGreaterThan(0);
    expect(retry.upload.sentChunks).toBeLessThan(retry.upload.uniqueChunks);
    expect((await server.cli(['image', 'verify', 'BIG'])).code).toBe(0);
  });

  it('of the client leaves nothing listed, and the retry resumes', async () => {
    const other = join(work, 'other.img');
    writeFileSync(
      other,
      Buffer.concat([pseudoRandom('other-head', 64 * 1024 * 1024), pseudoRandom('o2', 64 * 1024 * 1024)]),
    );
    const before = await chunksReceived(server);
    const add = spawn(process.execPath, [BIN, 'image', 'add', 'OTHER', '--file', other, '--upload'], {
      env: { ...process.env, INGOT_HOME: server.home },
      stdio: 'ignore',
    });
    while ((await chunksReceived(server)) < before + 300) await new Promise((r) => setTimeout(r, 20));
    add.kill('SIGKILL');
    await new Promise((r) => add.on('exit', r));
    expect((await server.json<{ name: string }[]>(['image', 'list'])).map((i) => i.name)).toEqual(['BIG']);
    const retry = await server.json<AddJson>(['image', 'add', 'OTHER', '--file', other, '--upload']);
    expect(retry.upload.sentChunks).toBeLessThan(retry.upload.uniqueChunks);
  });
});
