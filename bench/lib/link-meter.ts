import { execFileSync } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * The bytes a server exchanges with its peers on one TCP port, both ways: TLS records, HTTP,
 * manifests, digest lists and chunks, not only what the application says it sent. (TCP/IP
 * headers are not included; they are not payload for rsync either.)
 *
 * Counted by the kernel where it can be (root with iptables): two rules on loopback send the
 * port's packets through a chain of the meter's own, whose counters give bytes and packets,
 * and the payload is the bytes less 52 a packet (IPv4 20 + TCP 32 with the timestamps option
 * Linux puts on every segment; a handshake's few bytes of other options are not taken off).
 * The server is reached directly, as rsync is. Elsewhere, or with BENCH_METER=relay, a TCP
 * relay on loopback counts what it carries and the server advertises the relay's port; on
 * this 2-core machine the relay's own copying cost a 383 MiB tree's full pull about a third
 * more time (docs/benchmarks.md, "Counting link bytes in the kernel").
 */
export interface ByteMeter {
  /** The port peers are to reach the server on: the server's own, or the relay's. */
  readonly port: number;
  /** Bytes carried so far, both directions. */
  readonly bytes: number;
  close(): Promise<void>;
}

/** A kernel meter on `targetPort` where one can be made, else a relay in front of it. */
export async function startMeter(targetPort: number): Promise<ByteMeter> {
  if (process.env.BENCH_METER !== 'relay') {
    const kernel = KernelMeter.tryStart(targetPort);
    if (kernel) return kernel;
  }
  return LinkMeter.start(targetPort);
}

const HEADER_BYTES = 52;

class KernelMeter implements ByteMeter {
  private constructor(
    readonly port: number,
    private readonly chain: string,
  ) {}

  static tryStart(port: number): KernelMeter | undefined {
    if (process.getuid?.() !== 0) return undefined;
    const chain = `IGM${port}`;
    try {
      KernelMeter.remove(port, chain);
      iptables(['-N', chain]);
      iptables(['-A', chain, '-j', 'RETURN']);
      for (const dir of ['--dport', '--sport'])
        iptables(['-I', 'INPUT', '-i', 'lo', '-p', 'tcp', dir, String(port), '-j', chain]);
      return new KernelMeter(port, chain);
    } catch {
      KernelMeter.remove(port, chain);
      return undefined;
    }
  }

  get bytes(): number {
    const out = iptables(['-L', this.chain, '-v', '-x', '-n']);
    const row = out.split('\n').find((l) => /\bRETURN\b/.test(l));
    const [pkts, bytes] = (row ?? '').trim().split(/\s+/).map(Number);
    if (!Number.isFinite(pkts) || !Number.isFinite(bytes))
      throw new Error(`iptables: no counters in ${this.chain}`);
    return (bytes as number) - HEADER_BYTES * (pkts as number);
  }

  async close(): Promise<void> {
    KernelMeter.remove(this.port, this.chain);
  }

  private static remove(port: number, chain: string): void {
    for (const dir of ['--dport', '--sport']) {
      try {
        iptables(['-D', 'INPUT', '-i', 'lo', '-p', 'tcp', dir, String(port), '-j', chain]);
      } catch {
        // not there
      }
    }
    for (const op of ['-F', '-X']) {
      try {
        iptables([op, chain]);
      } catch {
        // not there
      }
    }
  }
}

function iptables(args: readonly string[]): string {
  return execFileSync('iptables', ['-w', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

/**
 * A TCP relay on loopback that counts the bytes it carries, both ways. A server told to
 * advertise the relay's port is reached only through it, so the count is everything its
 * peers exchanged with it.
 */
export class LinkMeter implements ByteMeter {
  private total = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static start(targetPort: number): Promise<LinkMeter> {
    return new Promise((resolve, reject) => {
      let meter: LinkMeter | undefined;
      const server = createServer({ allowHalfOpen: true }, (client) => {
        const upstream = connect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true });
        const m = meter;
        if (!m) {
          client.destroy();
          upstream.destroy();
          return;
        }
        for (const s of [client, upstream]) {
          m.sockets.add(s);
          s.on('data', (b: Buffer) => {
            m.total += b.length;
          });
          s.on('error', () => {
            client.destroy();
            upstream.destroy();
          });
          s.on('close', () => {
            m.sockets.delete(s);
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream);
        upstream.pipe(client);
      });
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const addr = server.address();
        const port = typeof addr === 'object' && addr ? addr.port : 0;
        meter = new LinkMeter(server, port);
        resolve(meter);
      });
    });
  }

  /** Bytes carried so far, both directions. */
  get bytes(): number {
    return this.total;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
