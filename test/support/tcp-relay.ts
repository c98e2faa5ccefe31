/**
 * A TCP relay on loopback in front of a server, whose connections a test can cut at will
 * (a dropped link, with the server still up): every byte passes through unchanged.
 */
import { connect, createServer, type Socket } from 'node:net';

export interface TcpRelay {
  /** http://127.0.0.1:PORT of the relay. */
  readonly url: string;
  /** Resets every connection open through it now; new ones are relayed as before. */
  cut(): void;
  close(): Promise<void>;
}

export async function startTcpRelay(target: string): Promise<TcpRelay> {
  const { hostname, port } = new URL(target);
  const live = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    for (const s of [client, upstream]) {
      live.add(s);
      s.on('close', () => live.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('relay: no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    cut: () => {
      for (const s of live) s.resetAndDestroy();
    },
    close: () => {
      for (const s of live) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
