import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/core/errors.js';
import { type CliResult, type IngotServer, runCli, startIngot, tempDir } from '../support/ingot.js';
import { pseudoRandom } from '../support/trees.js';

const WRONG_PIN = Array.from({ length: 32 }, () => 'AB').join(':');

interface ServerInfo {
  url: string;
  fingerprint?: string;
}

const serverInfo = (home: string) =>
  JSON.parse(readFileSync(join(home, 'server.json'), 'utf8')) as ServerInfo;

function expectCode(r: CliResult, code: keyof typeof ERROR_CODES): void {
  expect(r.code, r.stderr).toBe(ERROR_CODES[code].exit);
  expect(r.stderr).toContain(`[${code}]`);
  expect(r.stderr).not.toMatch(/UND_ERR|\n\s+at /);
}

/** Resolves once the server's output holds `text`: on its output events, not on a timer. */
function logged(server: IngotServer, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!server.logs().includes(text)) return;
      server.proc.stdout?.off('data', check);
      server.proc.stderr?.off('data', check);
      server.proc.off('exit', exited);
      resolve();
    };
    const exited = () => reject(new Error(`ingot serve exited before logging ${text}:\n${server.logs()}`));
    server.proc.stdout?.on('data', check);
    server.proc.stderr?.on('data', check);
    server.proc.once('exit', exited);
    check();
  });
}

/** A certificate and key made by openssl, as an operator's own would be. */
function opensslPair(dir: string, cn: string): { cert: string; key: string } {
  const cert = join(dir, `${cn}.crt`);
  const key = join(dir, `${cn}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

describe('ingot serve --tls', () => {
  let server: IngotServer;
  beforeAll(async () => {
    server = await startIngot({ name: 'TLS_1', args: ['--tls'] });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('serves https with a certificate made at first start, whose fingerprint server.json records', () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const cert = new X509Certificate(readFileSync(join(server.home, 'keys', 'api.crt')));
    expect(serverInfo(server.home).fingerprint).toBe(cert.fingerprint256);
    expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(cert.subjectAltName).toContain('DNS:localhost');
  });

  it('the CLI of the same INGOT_HOME finds the https URL and pins the certificate from server.json', async () => {
    const status = await server.json<{ url: string; name: string }>(['status']);
    expect(status).toMatchObject({ url: server.url, name: 'TLS_1' });
    const add = await server.cli(['imagetype', 'add', 'DBHOME', '--basetype', 'SOFTWARE']);
    expect(add.code, add.stderr).toBe(0);
    const types = await server.json<{ name: string }[]>(['imagetype', 'list']);
    expect(types.map((t) => t.name)).toContain('DBHOME');
  });

  it('a wrong --pin or INGOT_PIN is SERVER_UNTRUSTED, exit 77', async () => {
    const flag = await server.cli(['status', '--json', '--pin', WRONG_PIN]);
    expectCode(flag, 'SERVER_UNTRUSTED');
    expect(flag.stderr).toContain('another certificate than the pinned one');
    expect(flag.stdout).toBe('');
    const env = await server.cli(['imagetype', 'list', '--json'], { env: { INGOT_PIN: WRONG_PIN } });
    expectCode(env, 'SERVER_UNTRUSTED');
    const bad = await server.cli(['status', '--pin', 'not-a-fingerprint']);
    expectCode(bad, 'INVALID_ARGUMENT');
  });

  it('from another home: --cacert with the server certificate or the right --pin works, nothing else does', async () => {
    const elsewhere = { INGOT_HOME: tempDir('ingot-tls-client-') };
    const remote = ['--url', server.url, '--token', server.token];
    const cacert = join(server.home, 'keys', 'api.crt');
    const trusted = await runCli(['imagetype', 'list', '--json', ...remote, '--cacert', cacert], elsewhere);
    expect(trusted.code, trusted.stderr).toBe(0);
    expect((JSON.parse(trusted.stdout) as { name: string }[]).map((t) => t.name)).toContain('DBHOME');
    const fromEnv = await runCli(['status', '--json', ...remote], { ...elsewhere, INGOT_CACERT: cacert });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    const pin = serverInfo(server.home).fingerprint as string;
    const pinned = await runCli(
      ['status', '--json', ...remote, '--pin', pin.replace(/:/g, '').toLowerCase()],
      elsewhere,
    );
    expect(pinned.code, pinned.stderr).toBe(0);
    // No trust given: the system's CAs do not know a self-signed certificate.
    const untrusted = await runCli(['status', ...remote], elsewhere);
    expectCode(untrusted, 'SERVER_UNTRUSTED');
    expect(untrusted.stderr).toContain('--cacert');
    // Another certificate as CA: refused, naming the file.
    const other = opensslPair(tempDir('ingot-tls-other-'), 'other');
    const wrongCa = await runCli(['status', ...remote, '--cacert', other.cert], elsewhere);
    expectCode(wrongCa, 'SERVER_UNTRUSTED');
    expect(wrongCa.stderr).toContain(other.cert);
  });

  it('moves an image both ways over https from another home: add --upload and deploy, with --pin', async () => {
    const dir = tempDir('ingot-tls-data-');
    writeFileSync(join(dir, 'disk.img'), pseudoRandom('tls-disk', 3_000_000));
    const pin = serverInfo(server.home).fingerprint as string;
    const remote = ['--url', server.url, '--token', server.token, '--pin', pin];
    const env = { INGOT_HOME: tempDir('ingot-tls-client-') };
    const add = await runCli(
      ['image', 'add', 'TLS_DISK', '--file', join(dir, 'disk.img'), '--upload', ...remote],
      env,
    );
    expect(add.code, add.stderr).toBe(0);
    const deploy = await runCli(
      ['image', 'deploy', 'TLS_DISK', '--path', join(dir, 'back.img'), ...remote],
      env,
    );
    expect(deploy.code, deploy.stderr).toBe(0);
    expect(readFileSync(join(dir, 'back.img')).equals(readFileSync(join(dir, 'disk.img')))).toBe(true);
  });

  it('plain http to the https port fails, and says to use https', async () => {
    const http = server.url.replace(/^https:/, 'http:');
    const r = await runCli(['status', '--url', http, '--token', server.token], { INGOT_HOME: tempDir() });
    expectCode(r, 'UNAVAILABLE');
    expect(r.stderr).toContain(server.url);
    const pinOnHttp = await runCli(['status', '--url', http, '--pin', WRONG_PIN], { INGOT_HOME: tempDir() });
    expectCode(pinOnHttp, 'INVALID_ARGUMENT');
  });

  it('keeps its certificate across restarts, also when TLS is set by INGOT_TLS=1', async () => {
    const before = serverInfo(server.home).fingerprint;
    await server.stop();
    server = await startIngot({ home: server.home, env: { INGOT_TLS: '1' } });
    expect(server.url).toMatch(/^https:/);
    expect(serverInfo(server.home).fingerprint).toBe(before);
    const status = await server.json<{ name: string }>(['status']);
    expect(status.name).toBe('TLS_1');
  });
});

describe('ingot serve --tls-cert FILE --tls-key FILE', () => {
  it('serves the given certificate, pinned from server.json and trusted by --cacert', async () => {
    const dir = tempDir('ingot-tls-given-');
    const given = opensslPair(dir, 'api');
    const server = await startIngot({ args: ['--tls-cert', given.cert, '--tls-key', given.key] });
    try {
      const fingerprint = new X509Certificate(readFileSync(given.cert)).fingerprint256;
      expect(serverInfo(server.home).fingerprint).toBe(fingerprint);
      const status = await server.json<{ url: string }>(['status']);
      expect(status.url).toBe(server.url);
      const remote = await runCli(
        ['imagetype', 'list', '--json', '--url', server.url, '--token', server.token, '--cacert', given.cert],
        { INGOT_HOME: tempDir() },
      );
      expect(remote.code, remote.stderr).toBe(0);
    } finally {
      await server.stop();
    }
  });

  it('refuses a key that is not the certificate’s, and a certificate without its key', async () => {
    const dir = tempDir('ingot-tls-bad-');
    const a = opensslPair(dir, 'a');
    const b = opensslPair(dir, 'b');
    const mismatched = await runCli(
      [
        'serve',
        '--listen',
        '127.0.0.1:0',
        '--peer-listen',
        '127.0.0.1:0',
        '--tls-cert',
        a.cert,
        '--tls-key',
        b.key,
      ],
      { INGOT_HOME: tempDir() },
    );
    expectCode(mismatched, 'INVALID_ARGUMENT');
    expect(mismatched.stderr).toContain('is not the key of the certificate');
    const half = await runCli(['serve', '--listen', '127.0.0.1:0', '--tls-cert', a.cert], {
      INGOT_HOME: tempDir(),
    });
    expectCode(half, 'INVALID_ARGUMENT');
    expect(half.stderr).toContain('without its key');
  });
});

describe('plain http beyond loopback', () => {
  it('warns once at start that tokens cross the network in clear', async () => {
    const server = await startIngot({ args: ['--listen', '0.0.0.0:0'] });
    try {
      await logged(server, 'ingot server listening');
      const warnings = server.logs().split('tokens cross the network in clear').length - 1;
      expect(warnings).toBe(1);
      expect(server.logs()).toContain('--tls');
    } finally {
      await server.stop();
    }
    const loopback = await startIngot();
    try {
      await logged(loopback, 'ingot server listening');
      expect(loopback.logs()).not.toContain('in clear');
    } finally {
      await loopback.stop();
    }
  });
});
