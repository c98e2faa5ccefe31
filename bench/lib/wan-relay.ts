/**
 * The latency half of the emulated WAN (run by wan-link.ts, never imported): a TCP relay that
 * holds every byte DELAY ms in each direction before forwarding it, so a round trip through
 * it takes 2 × DELAY more. The kernel here has no netem, so the delay is made in user space.
 *
 *   wan-relay.ts --listen HOST --target HOST:PORT --delay-ms D [--max-queue-bytes N]
 *
 * Prints {"port":N} once it listens. Each direction of each connection is a timestamped queue;
 * when it holds more than N bytes (default 4 MiB, many times the 25 MB/s × 25 ms in flight)
 * the relay stops reading that side until it is half empty, so memory stays bounded and the
 * sender is slowed by TCP as it would be by a full path. An end or reset is forwarded after the
 * bytes before it.
 */
import { connect, createServer, type Socket } from 'node:net';

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : fallback;
  if (v === undefined) throw new Error(`wan-relay: --${name} is required`);
  return v;
}

const listenHost = arg('listen');
const [targetHost, targetPort] = arg('target').split(':') as [string, string];
const delayMs = Number(arg('delay-ms'));
const maxQueue = Number(arg('max-queue-bytes', String(4 * 2 ** 20)));

/** One direction: bytes read from `from` reach `to` delayMs later. */
function delayed(from: Socket, to: Socket): void {
  const queue: { due: number; data: Buffer }[] = [];
  let queued = 0;
  let ended = false;
  let timer: NodeJS.Timeout | undefined;
  let writing = true;

  const flush = () => {
    timer = undefined;
    const now = performance.now();
    while (writing && queue.length && (queue[0]?.due ?? 0) <= now) {
      const item = queue.shift();
      if (!item) break;
      queued -= item.data.length;
      writing = to.write(item.data);
    }
    if (queued <= maxQueue / 2 && from.isPaused()) from.resume();
    if (!writing) return; // 'drain' calls flush again
    if (queue.length) timer = setTimeout(flush, Math.max(0, (queue[0]?.due ?? now) - now));
    else if (ended) to.end();
  };
  to.on('drain', () => {
    writing = true;
    if (!timer) flush();
  });
  from.on('data', (data: Buffer) => {
    queue.push({ due: performance.now() + delayMs, data });
    queued += data.length;
    if (queued > maxQueue) from.pause();
    if (!timer && writing) timer = setTimeout(flush, delayMs);
  });
  from.on('end', () => {
    ended = true;
    if (!timer && writing) timer = setTimeout(flush, delayMs);
  });
}

const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
  const upstream = connect({
    host: targetHost,
    port: Number(targetPort),
    allowHalfOpen: true,
    noDelay: true,
  });
  const close = () => {
    // A reset travels no faster than the data: let what is queued go first.
    setTimeout(() => {
      client.destroy();
      upstream.destroy();
    }, delayMs * 2);
  };
  // An orderly end is forwarded by delayed(); an error resets both sides.
  for (const s of [client, upstream]) {
    s.on('error', close);
    s.on('close', (hadError) => {
      if (hadError) close();
    });
  }
  delayed(client, upstream);
  delayed(upstream, client);
});
server.listen(0, listenHost, () => {
  const a = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof a === 'object' && a ? a.port : 0 })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
