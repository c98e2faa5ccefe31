/**
 * The download sources of URL import tests, as real daemons on loopback, each in its own
 * temp dir: nginx (http and https with a CA made here by openssl), vsftpd (anonymous,
 * read-only, passive) and tinyproxy. Each is started in the foreground and awaited until
 * its port answers; stop() ends the process it started and nothing else.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort, stopProcess, tempDir } from './ingot.js';

export interface Daemon {
  readonly port: number;
  readonly dir: string;
  readonly proc: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

/** A CA and a server certificate for 127.0.0.1 and localhost, signed by it. */
export function makeTestCa(dir: string): { ca: string; cert: string; key: string } {
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  const key = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const cert = join(dir, 'server.pem');
  const ext = join(dir, 'server.ext');
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  run(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'].concat([
      '-subj',
      '/CN=Ingot test CA',
      '-keyout',
      caKey,
      '-out',
      ca,
    ]),
  );
  run(
    [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
    ].concat(['-keyout', key, '-out', csr]),
  );
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
  run(
    ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '2'].concat([
      '-extfile',
      ext,
      '-out',
      cert,
    ]),
  );
  return { ca, cert, key };
}

/** Resolves once something accepts connections on the port, or rejects when the process ends. */
function listening(port: number, proc: ChildProcess, what: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const onExit = () => {
      if (done) return;
      done = true;
      reject(new Error(`exited before listening on ${port}:\n${what()}`));
    };
    proc.once('exit', onExit);
    const attempt = () => {
      if (done) return;
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        done = true;
        proc.off('exit', onExit);
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        setImmediate(attempt);
      });
    };
    attempt();
  });
}

export function daemon(
  cmd: string,
  args: string[],
  dir: string,
  port: number,
  logFile: string,
): Promise<Daemon> {
  const proc = spawn(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d) => {
    out += d;
  });
  proc.stderr?.on('data', (d) => {
    out += d;
  });
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  return listening(port, proc, () => out + log()).then(() => ({
    port,
    dir,
    proc,
    log,
    stop: () => stopProcess(proc, 'SIGTERM'),
  }));
}

export interface Nginx extends Daemon {
  readonly httpUrl: string;
  readonly httpsUrl: string;
}

/**
 * nginx serving `root` over http and https (the certificate of `tls`), and again under
 * /slow/ at 4 MiB/s; the access log has
 * each request's Range header and status, one a line: `GET /f.img 206 "bytes=123-"`.
 */
export async function startNginx(root: string, tls: { cert: string; key: string }): Promise<Nginx> {
  const dir = tempDir('ingot-nginx-');
  const [http, https] = [await freePort(), await freePort()];
  const accessLog = join(dir, 'access.log');
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
master_process off;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 64; }
http {
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  log_format ranges '$request_method $uri $status "$http_range" $body_bytes_sent';
  access_log ${accessLog} ranges;
  default_type application/octet-stream;
  sendfile on;
  server {
    listen 127.0.0.1:${http};
    listen 127.0.0.1:${https} ssl;
    ssl_certificate ${tls.cert};
    ssl_certificate_key ${tls.key};
    root ${root};
    # Paced, so a test can stop a server in the middle of a download.
    location /slow/ { alias ${root}/; limit_rate 4m; }
  }
}
`,
  );
  const d = await daemon('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], dir, https, accessLog);
  await listening(http, d.proc, d.log);
  return { ...d, httpUrl: `http://127.0.0.1:${http}`, httpsUrl: `https://127.0.0.1:${https}` };
}

/** vsftpd: anonymous, read-only, `root` as its root, passive ports on loopback; paced at `maxRate` bytes/s if given. */
export async function startVsftpd(
  root: string,
  opts: { maxRate?: number } = {},
): Promise<Daemon & { readonly url: string }> {
  const dir = tempDir('ingot-ftp-');
  const port = await freePort();
  const pasv = await freePort();
  chmodSync(root, 0o755);
  const logFile = join(dir, 'vsftpd.log');
  writeFileSync(
    join(dir, 'vsftpd.conf'),
    [
      'listen=YES',
      'listen_ipv6=NO',
      'listen_address=127.0.0.1',
      `listen_port=${port}`,
      'background=NO',
      'anonymous_enable=YES',
      'no_anon_password=YES',
      `anon_root=${root}`,
      'local_enable=NO',
      'write_enable=NO',
      'pasv_enable=YES',
      'pasv_address=127.0.0.1',
      // A few ports from a free one: enough for the tests' data connections.
      `pasv_min_port=${pasv}`,
      `pasv_max_port=${Math.min(pasv + 20, 65535)}`,
      'seccomp_sandbox=NO',
      'secure_chroot_dir=/var/run/vsftpd/empty',
      'xferlog_enable=YES',
      `vsftpd_log_file=${logFile}`,
      'log_ftp_protocol=YES',
      'dual_log_enable=YES',
      ...(opts.maxRate ? [`anon_max_rate=${opts.maxRate}`] : []),
      `xferlog_file=${join(dir, 'xfer.log')}`,
      '',
    ].join('\n'),
  );
  const d = await daemon('vsftpd', [join(dir, 'vsftpd.conf')], dir, port, logFile);
  return { ...d, url: `ftp://127.0.0.1:${port}` };
}

/** tinyproxy on loopback with its log (LogLevel Info: a line per request, CONNECT included). */
export async function startTinyproxy(
  opts: { deny?: boolean } = {},
): Promise<Daemon & { readonly url: string }> {
  const dir = tempDir('ingot-proxy-');
  chmodSync(dir, 0o777);
  const port = await freePort();
  const logFile = join(dir, 'tinyproxy.log');
  writeFileSync(
    join(dir, 'tinyproxy.conf'),
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 60',
      `LogFile "${logFile}"`,
      'LogLevel Info',
      'MaxClients 20',
      // A proxy that refuses: only a host that is not ours may pass.
      opts.deny ? 'Allow 10.255.255.254' : 'Allow 127.0.0.1',
      '',
    ].join('\n'),
  );
  const d = await daemon('tinyproxy', ['-d', '-c', join(dir, 'tinyproxy.conf')], dir, port, logFile);
  return { ...d, url: `http://127.0.0.1:${port}` };
}
