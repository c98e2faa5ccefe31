import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay on loopback that counts the bytes it carries, both ways. A server told to
 * advertise the relay's port is reached only through it, so the count is everything its
 * peers exchanged with it: TLS records, HTTP, manifests, digest lists and chunks, not only
 * what the application says it sent. (TCP/IP headers are not included; they are not
 * payload for rsync either.)
 */
export class LinkMeter {
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
