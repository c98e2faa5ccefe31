/**
 * HAProxy (Debian `haproxy`, installed by scripts/test.sh) in front of `ingot serve` nodes
 * on loopback, checking each node's /healthz every 200 ms (down after two failed checks), with its stats socket so a test
 * waits on what the balancer itself decided (a node UP or DOWN).
 */
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort, tempDir } from './ingot.js';
import { type Daemon, daemon } from './url-servers.js';

export interface Haproxy extends Daemon {
  readonly url: string;
  /** The status HAProxy gives the backend server `name` now: UP, DOWN, ... */
  status(name: string): Promise<string>;
  /** Resolves once HAProxy gives `name` the status `want`. */
  until(name: string, want: 'UP' | 'DOWN'): Promise<void>;
}

export interface HaproxyOptions {
  /** The frontend's port, when the nodes must advertise it before HAProxy starts. */
  readonly port?: number;
  /**
   * Each backend's API port, checked for /healthz while the balanced port is another: the
   * peer API, balanced as TCP so its mutual TLS passes through to the nodes.
   */
  readonly checkPorts?: Record<string, number>;
}

export async function startHaproxy(
  backends: Record<string, number>,
  opts: HaproxyOptions = {},
): Promise<Haproxy> {
  const dir = tempDir('ingot-haproxy-');
  const port = opts.port ?? (await freePort());
  const socket = join(dir, 'stats.sock');
  const checkPort = (name: string) => (opts.checkPorts?.[name] ? ` port ${opts.checkPorts[name]}` : '');
  const servers = Object.entries(backends).map(
    ([name, p]) => `  server ${name} 127.0.0.1:${p} check${checkPort(name)}`,
  );
  const config = [
    'global',
    `  stats socket ${socket} mode 600 level admin`,
    'defaults',
    `  mode ${opts.checkPorts ? 'tcp' : 'http'}`,
    '  timeout connect 2s',
    '  timeout client 30s',
    '  timeout server 30s',
    // A slow answer on a loaded machine is not a failed check; a 503 is (two in a row).
    '  timeout check 5s',
    'frontend api',
    `  bind 127.0.0.1:${port}`,
    '  default_backend nodes',
    'backend nodes',
    '  balance roundrobin',
    '  option httpchk GET /healthz',
    '  http-check expect status 200',
    '  default-server inter 200ms fall 2 rise 1',
    ...servers,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'haproxy.cfg'), config);
  const d = await daemon('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], dir, port, join(dir, 'none'));
  const status = async (name: string) => {
    const csv = await ask(socket, 'show stat\n');
    const row = csv.split('\n').find((l) => l.startsWith(`nodes,${name},`));
    return row?.split(',')[17] ?? 'unknown';
  };
  return {
    ...d,
    url: `http://127.0.0.1:${port}`,
    status,
    async until(name, want) {
      const deadline = Date.now() + 30_000;
      // HAProxy binds its frontend before it makes the stats socket: no socket yet is no answer yet.
      while ((await status(name).catch(() => 'unknown')) !== want) {
        if (Date.now() > deadline) throw new Error(`HAProxy never marked ${name} ${want}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

function ask(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const s = connect(socket);
    s.on('data', (d) => {
      out += d;
    });
    s.on('error', reject);
    s.on('end', () => resolve(out));
    s.write(command);
  });
}
