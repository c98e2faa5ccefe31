import { existsSync, readFileSync, statSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, startIngot, tempDir } from '../support/ingot.js';

describe('ingot serve', () => {
  it('makes its identity at first start: token 0600, signing key, a fixed cluster name', async () => {
    const home = tempDir('ingot-serve-');
    const server = await startIngot({ home, name: 'FPPS_1' });
    try {
      expect(statSync(join(home, 'token')).mode & 0o777).toBe(0o600);
      expect(statSync(join(home, 'keys', 'signing.key')).mode & 0o777).toBe(0o600);
      // The banner follows server.json by a moment: wait for it rather than race it.
      for (let i = 0; i < 100 && !server.logs().includes('token:'); i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(server.logs()).toContain(`listening on ${server.url}`);
      expect(server.logs()).toContain(join(home, 'token'));
      const health = (await (await fetch(`${server.url}/healthz`)).json()) as { name: string };
      expect(health.name).toBe('FPPS_1');
    } finally {
      await server.stop();
    }
    // The name is fixed: another one is refused, and no flag keeps the first.
    const renamed = await runCli(['serve', '--name', 'OTHER', '--listen', '127.0.0.1:0'], {
      INGOT_HOME: home,
    });
    expect(renamed.code).toBe(4);
    expect(renamed.stderr).toContain('fixed at first start');
    const again = await startIngot({ home });
    try {
      const health = (await (await fetch(`${again.url}/healthz`)).json()) as { name: string };
      expect(health.name).toBe('FPPS_1');
    } finally {
      await again.stop();
    }
  });

  it('refuses a bad listen address and a bad cluster name with usage exit codes', async () => {
    const bad = await runCli(['serve', '--listen', 'nowhere'], { INGOT_HOME: tempDir() });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('HOST:PORT');
    const badName = await runCli(['serve', '--name', '-bad', '--listen', '127.0.0.1:0'], {
      INGOT_HOME: tempDir(),
    });
    expect(badName.code).toBe(2);
    expect(badName.stderr).toContain('INVALID_NAME');
  });

  it('exits when a port it must listen on is taken, instead of running on half started', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as AddressInfo).port;
    try {
      for (const flag of ['--peer-listen', '--listen']) {
        const other = flag === '--listen' ? ['--peer-listen', '127.0.0.1:0'] : ['--listen', '127.0.0.1:0'];
        const home = tempDir();
        const r = await runCli(['serve', flag, `127.0.0.1:${port}`, ...other], { INGOT_HOME: home });
        expect(r.code, r.stderr).not.toBe(0);
        expect(r.stderr).toContain('EADDRINUSE');
        expect(existsSync(join(home, 'server.json'))).toBe(false);
      }
    } finally {
      taken.close();
    }
  });

  it('refuses a second server on the same SQLite catalog, and lets one start once the first is gone', async () => {
    const first = await startIngot({ name: 'FPPS_1' });
    const catalog = `sqlite:${join(first.home, 'catalog.sqlite')}`;
    const serve = ['serve', '--db', catalog, '--listen', '127.0.0.1:0', '--peer-listen', '127.0.0.1:0'];
    const home = tempDir();
    try {
      const second = await runCli(serve, { INGOT_HOME: home });
      expect(second.code, second.stderr).toBe(4);
      expect(second.stderr).toContain(
        `the SQLite catalog ${join(first.home, 'catalog.sqlite')} is in use by process ${first.proc.pid}`,
      );
      expect(second.stderr).toContain('PostgreSQL');
      expect(existsSync(join(home, 'server.json'))).toBe(false);
      expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
    } finally {
      await first.stop();
    }
    // The lock goes with its process: the catalog opens for the next server.
    const next = await startIngot({ home: first.home });
    await next.stop();
  });

  it('runs on its allocator settings in the process it was started as, unless given its own', async () => {
    const environOf = (pid: number) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const server = await startIngot();
    const own = await startIngot({ env: { GLIBC_TUNABLES: 'glibc.malloc.arena_max=4' } });
    try {
      // The pid the caller started is the server's: it replaced itself, it did not fork.
      const info = JSON.parse(readFileSync(join(server.home, 'server.json'), 'utf8')) as { pid: number };
      expect(info.pid).toBe(server.proc.pid);
      expect(environOf(server.proc.pid as number)).toContain('GLIBC_TUNABLES=glibc.malloc.arena_max=2');
      expect(environOf(own.proc.pid as number)).toContain('GLIBC_TUNABLES=glibc.malloc.arena_max=4');
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      await server.stop();
      await own.stop();
    }
  });

  it('teaches with --help and exits 0', async () => {
    const help = await runCli(['image', 'add', '--help'], { INGOT_HOME: tempDir() });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Examples:');
    expect(help.stdout).toContain('--from <image>');
    const unknown = await runCli(['image', 'frobnicate'], { INGOT_HOME: tempDir() });
    expect(unknown.code).toBe(2);
  });
});
