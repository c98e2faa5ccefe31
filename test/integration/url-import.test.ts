import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IngotServer, startIngot, tempDir } from '../support/ingot.js';
import {
  type Daemon,
  makeTestCa,
  type Nginx,
  startNginx,
  startTinyproxy,
  startVsftpd,
} from '../support/url-servers.js';

/**
 * `ingot image import --url` against real sources on loopback: nginx (http, https with a
 * CA made here), vsftpd and tinyproxy. The server downloads, chunks and stores as it reads,
 * checks the whole file's SHA-256, and resumes a download cut by kill -9 with a Range request.
 */
interface JobJson {
  id: number;
  kind: string;
  state: string;
  attempts: number;
  progressDone: number;
  progressTotal: number;
  error: string | null;
  updatedAt: string;
  payload: { name: string; proxy?: string; proxyFrom: string };
  result: { sha256: string; resumedAt: number; proxy: string | null } | null;
}

const MiB = 1024 * 1024;
/** No proxy from the test runner's own environment reaches the server unless a test sets one. */
const NO_PROXY_ENV = {
  HTTPS_PROXY: '',
  https_proxy: '',
  HTTP_PROXY: '',
  http_proxy: '',
  NO_PROXY: '',
  no_proxy: '',
};

describe('image import from a URL', () => {
  const work = tempDir('ingot-url-');
  const root = join(work, 'www');
  const big = join(root, 'big.img');
  let bigSha = '';
  let nginx: Nginx;
  let ftp: Daemon & { url: string };
  let proxy: Daemon & { url: string };
  let server: IngotServer;
  let ca: string;
  const others: { stop(): Promise<void> }[] = [];

  const importing = (s: IngotServer, name: string, url: string, ...more: string[]) =>
    s.cli(['image', 'import', name, '--url', url, ...more]);
  const api = async <T>(s: IngotServer, path: string): Promise<T> => {
    const res = await fetch(`${s.url}${path}`, { headers: { authorization: `Bearer ${s.token}` } });
    return (await res.json()) as T;
  };
  const names = async (s: IngotServer) =>
    (await s.json<{ name: string }[]>(['image', 'list'])).map((i) => i.name);
  const deployedBytes = async (s: IngotServer, name: string) => {
    const out = join(work, `${name}.out`);
    const r = await s.cli(['image', 'deploy', name, '--path', out]);
    expect(r.code, r.stderr).toBe(0);
    return readFileSync(out);
  };

  beforeAll(async () => {
    mkdirSync(root, { recursive: true });
    // 40 MiB: random, with a run of zeros (holes) in the middle.
    const fd = openSync(big, 'w');
    const block = Buffer.alloc(4 * MiB);
    for (let i = 0; i < 10; i++) {
      if (i === 5) block.fill(0);
      else randomFillSync(block);
      writeSync(fd, block);
    }
    closeSync(fd);
    bigSha = createHash('sha256').update(readFileSync(big)).digest('hex');
    writeFileSync(join(root, 'SHA256SUMS'), `${bigSha}  big.img\n${'0'.repeat(64)}  other.img\n`);
    const tls = makeTestCa(work);
    ca = tls.ca;
    nginx = await startNginx(root, tls);
    ftp = await startVsftpd(root);
    proxy = await startTinyproxy();
    server = await startIngot({ name: 'URLS', env: NO_PROXY_ENV });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    for (const o of others) await o.stop();
    await Promise.all([nginx?.stop(), ftp?.stop(), proxy?.stop()]);
  });

  it('imports over https checked against --cacert and --sha256, and deploys the same bytes', async () => {
    const r = await importing(
      server,
      'HTTPS_IMG',
      `${nginx.httpsUrl}/big.img`,
      '--sha256',
      bigSha,
      '--cacert',
      ca,
      '--type',
      'DISKIMAGE',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        `^imported HTTPS_IMG \\(file, 40\\.0 MiB, sha256 checked ${bigSha}\\) digest [0-9a-f]{64}\\n$`,
      ),
    );
    expect((await deployedBytes(server, 'HTTPS_IMG')).equals(readFileSync(big))).toBe(true);
    const [job] = (await api<{ jobs: JobJson[] }>(server, '/api/v1/jobs?kind=import')).jobs;
    expect(job).toMatchObject({ state: 'succeeded', progressDone: 40 * MiB, progressTotal: 40 * MiB });
  });

  it('imports over ftp with the line of a --sha256-url list', async () => {
    const r = await server.json<{ image: { name: string; size: number }; sha256: string }>([
      'image',
      'import',
      'FTP_IMG',
      '--url',
      `${ftp.url}/big.img`,
      '--sha256-url',
      `${ftp.url}/SHA256SUMS`,
    ]);
    expect(r).toMatchObject({ image: { name: 'FTP_IMG', size: 40 * MiB }, sha256: bigSha });
    expect((await deployedBytes(server, 'FTP_IMG')).equals(readFileSync(big))).toBe(true);
  });

  it('goes through the proxy of --proxy (CONNECT for https) and of HTTP_PROXY, as tinyproxy logs', async () => {
    const r = await importing(
      server,
      'PROXIED',
      `${nginx.httpsUrl}/big.img`,
      '--sha256',
      bigSha,
      '--cacert',
      ca,
      '--proxy',
      proxy.url,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`through ${proxy.url})`);
    expect(proxy.log()).toMatch(new RegExp(`CONNECT 127\\.0\\.0\\.1:${new URL(nginx.httpsUrl).port}`));
    const viaEnv = await startIngot({
      name: 'ENVPROXY',
      env: { ...NO_PROXY_ENV, HTTP_PROXY: proxy.url, NO_PROXY: 'example.org,.localhost,localhost:1' },
    });
    others.push(viaEnv);
    const e = await importing(viaEnv, 'ENV_IMG', `${nginx.httpUrl}/SHA256SUMS`, '--no-checksum');
    expect(e.code, e.stderr).toBe(0);
    expect(e.stderr).toMatch(/warning: .*not be checked/);
    expect(proxy.log()).toMatch(
      new RegExp(`GET http://127\\.0\\.0\\.1:${new URL(nginx.httpUrl).port}/SHA256SUMS`),
    );
    const [job] = (await api<{ jobs: JobJson[] }>(viaEnv, '/api/v1/jobs?kind=import')).jobs;
    expect(job?.payload).toMatchObject({ proxy: proxy.url, proxyFrom: 'HTTP_PROXY' });
    // NO_PROXY names the host (a domain suffix of it): straight to it, the proxy sees nothing.
    const before = proxy.log().length;
    const direct = await viaEnv.json<{ proxy: string | null }>([
      'image',
      'import',
      'ENV_DIRECT',
      '--url',
      `${nginx.httpUrl.replace('127.0.0.1', 'localhost')}/SHA256SUMS`,
      '--no-checksum',
    ]);
    expect(direct.proxy).toBeNull();
    expect(proxy.log().slice(before)).not.toContain('SHA256SUMS');
    // A proxy password goes with the job but is never shown.
    const secret = proxy.url.replace('http://', 'http://user:s3cret@');
    const withPassword = await importing(
      server,
      'PW_IMG',
      `${nginx.httpUrl}/SHA256SUMS`,
      '--no-checksum',
      '--proxy',
      secret,
      '--json',
    );
    expect(withPassword.code, withPassword.stderr).toBe(0);
    expect(withPassword.stdout).not.toContain('s3cret');
    const shown = await server.cli(['job', 'list', '--json']);
    expect(shown.stdout).toContain('user:***@');
    expect(shown.stdout).not.toContain('s3cret');
  });

  /** Whether the server's catalog holds a checkpoint of the job (read from its SQLite file). */
  const checkpointed = (jobId: number): boolean => {
    const catalog = new DatabaseSync(join(server.home, 'catalog.sqlite'), { readOnly: true });
    try {
      return catalog.prepare('select 1 from job_checkpoints where job_id = ?').get(jobId) !== undefined;
    } finally {
      catalog.close();
    }
  };

  /** Starts an import of `url`, kills the server with -9 once more than a checkpoint is stored, restarts it and waits for the job's end. */
  const killedMidway = async (
    name: string,
    url: string,
    opts: { between?: () => void; check?: string[] } = {},
  ): Promise<JobJson> => {
    const child = importing(server, name, url, ...(opts.check ?? ['--sha256', bigSha]));
    let ended: unknown;
    void child.then((r) => {
      ended = r;
    });
    // Wait, on the job's own answers, until more than a checkpoint (16 MiB) is stored and
    // the catalog holds that checkpoint (it is written behind the download, so the row may
    // come a little after the progress). Just past it, not later, so a loaded machine still
    // kills the server well before the end (the /slow/ location sends 4 MiB a second: 24 MiB
    // are left).
    const mine = async () =>
      (await api<{ jobs: JobJson[] }>(server, '/api/v1/jobs?kind=import')).jobs.find(
        (j) => j.payload.name === name,
      );
    let job: JobJson | undefined;
    for (;;) {
      job ??= await mine();
      if (ended) throw new Error(`the import ended first: ${JSON.stringify(ended)}`);
      if (job && (job.state === 'failed' || job.state === 'succeeded'))
        throw new Error(`job ended before it could be cut: ${JSON.stringify(job)}`);
      if (job && job.progressDone > 16 * MiB && checkpointed(job.id)) break;
      job = job
        ? await api<JobJson>(
            server,
            `/api/v1/jobs/${job.id}?wait=1&since=${encodeURIComponent(job.updatedAt)}`,
          )
        : undefined;
    }
    await server.kill9();
    const cut = await child;
    expect(cut.code, `${cut.stdout}${cut.stderr}${JSON.stringify(job)}`).not.toBe(0);
    opts.between?.();
    server = await server.restart();
    let final = await api<JobJson>(server, `/api/v1/jobs/${job.id}`);
    while (final.state !== 'succeeded' && final.state !== 'failed') {
      final = await api<JobJson>(
        server,
        `/api/v1/jobs/${job.id}?wait=1&since=${encodeURIComponent(final.updatedAt)}`,
      );
    }
    return final;
  };

  it('resumes a download cut by kill -9 with a Range request past what it stored', async () => {
    const final = await killedMidway('RESUMED', `${nginx.httpUrl}/slow/big.img`);
    expect(final.state, final.error ?? '').toBe('succeeded');
    expect(final.result?.resumedAt).toBeGreaterThanOrEqual(16 * MiB);
    const ranges = nginx
      .log()
      .split('\n')
      .filter((l) => l.startsWith('GET /slow/big.img 206'));
    expect(ranges).toHaveLength(1);
    expect(ranges[0]).toContain(`"bytes=${final.result?.resumedAt}-"`);
    expect((await deployedBytes(server, 'RESUMED')).equals(readFileSync(big))).toBe(true);
    // Cut at a checkpoint and chunked on from there, it has the chunks of an unbroken import.
    const chunks = async (name: string) =>
      (await api<{ chunks: unknown }>(server, `/api/v1/images/${name}/manifest`)).chunks;
    expect(await chunks('RESUMED')).toEqual(await chunks('HTTPS_IMG'));
  }, 60_000);

  it('resumes an ftp download cut by kill -9 with REST past what it stored', async () => {
    const slow = await startVsftpd(root, { maxRate: 4 * MiB });
    others.push(slow);
    const final = await killedMidway('FTP_RESUMED', `${slow.url}/big.img`);
    expect(final.state, final.error ?? '').toBe('succeeded');
    expect(final.result?.resumedAt).toBeGreaterThanOrEqual(16 * MiB);
    expect(slow.log()).toContain(`REST ${final.result?.resumedAt}`);
    expect((await deployedBytes(server, 'FTP_RESUMED')).equals(readFileSync(big))).toBe(true);
  }, 60_000);

  it('starts again from 0 when the file changed while the server was down (If-Range)', async () => {
    const changing = join(root, 'changing.img');
    writeFileSync(changing, readFileSync(big));
    const final = await killedMidway('CHANGED', `${nginx.httpUrl}/slow/changing.img`, {
      check: ['--no-checksum'],
      between: () => {
        const now = readFileSync(changing);
        now[0] = (now[0] as number) ^ 0xff;
        writeFileSync(changing, now);
        utimesSync(changing, new Date(), new Date(Date.now() + 5000));
      },
    });
    expect(final.state, final.error ?? '').toBe('succeeded');
    expect(final.result?.resumedAt).toBe(0);
    const asked = nginx
      .log()
      .split('\n')
      .filter((l) => l.startsWith('GET /slow/changing.img'));
    // The resumed request asked for a range and got the whole new file.
    expect(asked).toHaveLength(2);
    expect(asked[1]).toMatch(/^GET \/slow\/changing\.img 200 "bytes=\d+-"/);
    expect((await deployedBytes(server, 'CHANGED')).equals(readFileSync(changing))).toBe(true);
  }, 60_000);

  it('refuses a wrong checksum (DIGEST_MISMATCH, nothing listed) and a 404', async () => {
    const wrong = '1'.repeat(64);
    const r = await importing(server, 'WRONG', `${nginx.httpUrl}/big.img`, '--sha256', wrong);
    expect(r.code).toBe(65);
    expect(r.stderr).toContain('DIGEST_MISMATCH');
    expect(r.stderr).toContain(wrong);
    expect(r.stderr).toContain(bigSha);
    expect(await names(server)).not.toContain('WRONG');
    const [job] = (await api<{ jobs: JobJson[] }>(server, '/api/v1/jobs?kind=import&state=failed')).jobs;
    expect(job?.attempts).toBe(1);
    const missing = await importing(server, 'MISSING', `${nginx.httpUrl}/nope.img`, '--sha256', wrong);
    expect(missing.code).toBe(69);
    expect(missing.stderr).toContain('SOURCE_REFUSED');
    expect(missing.stderr).toContain(`${nginx.httpUrl}/nope.img`);
    expect(missing.stderr).toContain('404');
  });

  it('names the bad input: a scheme, an untrusted certificate, a taken name, a refusing proxy, a short body', async () => {
    const bad = await importing(server, 'X1', 'gopher://h/x', '--sha256', bigSha);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unsupported URL scheme gopher:/);
    const untrusted = await importing(server, 'X2', `${nginx.httpsUrl}/big.img`, '--sha256', bigSha);
    expect(untrusted.code).toBe(77);
    expect(untrusted.stderr).toContain('SOURCE_UNTRUSTED');
    const otherCa = makeTestCa(tempDir('ingot-other-ca-')).ca;
    const wrongCa = await importing(
      server,
      'X2',
      `${nginx.httpsUrl}/big.img`,
      '--sha256',
      bigSha,
      '--cacert',
      otherCa,
    );
    expect(wrongCa.code).toBe(77);
    expect(wrongCa.stderr).toMatch(/SOURCE_UNTRUSTED.*127\.0\.0\.1/);
    expect(wrongCa.stderr).toContain('not signed by the CA of --cacert');
    const taken = await importing(server, 'HTTPS_IMG', `${nginx.httpUrl}/big.img`, '--sha256', bigSha);
    expect(taken.code).toBe(4);
    expect(taken.stderr).toContain('ALREADY_EXISTS');
    const none = await server.cli(['image', 'import', 'X3', '--url', `${nginx.httpUrl}/big.img`]);
    expect(none.code).toBe(2);
    const refusing = await startTinyproxy({ deny: true });
    others.push(refusing);
    const denied = await importing(
      server,
      'X4',
      `${nginx.httpsUrl}/big.img`,
      '--sha256',
      bigSha,
      '--cacert',
      ca,
      '--proxy',
      refusing.url,
    );
    expect(denied.code).toBe(69);
    expect(denied.stderr).toMatch(/SOURCE_REFUSED.*proxy/);
    const liar = await lyingServer();
    others.push({ stop: () => new Promise<void>((r) => liar.server.close(() => r())) });
    const short = await importing(server, 'X5', liar.url, '--sha256', bigSha);
    expect(short.code).toBe(65);
    expect(short.stderr).toContain('TRUNCATED');
    expect(await names(server)).not.toContain('X5');
  }, 60_000);
});

/** An http server that announces 1 MiB and sends half, every time. */
function lyingServer(): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(MiB) });
    res.write(Buffer.alloc(MiB / 2, 7), () => res.socket?.destroy());
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ server, url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/short.img` });
    }),
  );
}
