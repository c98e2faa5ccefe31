/**
 * A process at one end of a measured stream (run by stream-floor.ts, never imported): plain
 * TCP or mutual TLS 1.3, so a link can be measured without any Ingot or rsync code on it.
 *
 *   serve --host H [--port P] [--tls DIR] [--sink FILE]
 *                                           listens, prints {"port":N}, serves until killed
 *   send  --host H --port P [--tls DIR] --bytes N [--streams K]
 *   ping  --host H --port P [--tls DIR] [--count C]
 *
 * Each connection starts with one byte. 'S' + a uint64 byte count: the client sends that many
 * bytes of random buffers made before connecting; the server notes (process.hrtime) when the
 * first and the last of them arrive and answers with one JSON line, so the rate is the
 * receiver's. 'E': the server echoes every byte (a one-byte request/response times the round
 * trip). With --tls DIR, DIR holds server.{crt,key} and client.{crt,key}: the server requires
 * the client's certificate and each side trusts only the other's, pinned, as Ingot's peers do.
 * With --sink FILE the server does what any verifying receiver must, on its event loop: SHA-256
 * of every byte, written to FILE, fdatasync at the end (inside the measured time).
 * `send` prints {"bytes","seconds","streams","cipher"}; `ping` prints {"rttMs":[...]}.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fdatasyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { connect as netConnect, createServer as netServer, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect, createServer as tlsServer } from 'node:tls';

const SEND_BUFFER = 4 * 2 ** 20;

interface Opts {
  readonly host: string;
  readonly port: number;
  readonly tls: string | undefined;
  readonly bytes: number;
  readonly streams: number;
  readonly count: number;
  readonly sink: string | undefined;
}

function parse(argv: readonly string[]): Opts {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    host: get('host') ?? '127.0.0.1',
    port: Number(get('port') ?? 0),
    tls: get('tls'),
    bytes: Number(get('bytes') ?? 0),
    streams: Number(get('streams') ?? 1),
    count: Number(get('count') ?? 20),
    sink: get('sink'),
  };
}

function pem(dir: string, name: string): Buffer {
  return readFileSync(`${dir}/${name}`);
}

function serve(o: Opts): void {
  const onConn = (s: Socket) => {
    let head: Buffer = Buffer.alloc(0);
    let mode: 'E' | 'S' | undefined;
    let want = 0;
    let got = 0;
    let first = 0n;
    const sink = o.sink ? { fd: openSync(o.sink, 'w'), hash: createHash('sha256') } : undefined;
    const consume = (b: Buffer) => {
      if (!sink || b.length === 0) return;
      sink.hash.update(b);
      writeSync(sink.fd, b);
    };
    s.on('error', () => s.destroy());
    // Echoes go out at once: Nagle's wait for the delayed ACK would add up to 200 ms to a round trip.
    s.setNoDelay(true);
    s.on('data', (b: Buffer) => {
      if (mode === 'E') {
        s.write(b);
        return;
      }
      if (mode === 'S') {
        got += b.length;
        consume(b);
      } else {
        head = Buffer.concat([head, b]);
        if (head[0] === 0x45) {
          mode = 'E';
          if (head.length > 1) s.write(head.subarray(1));
          return;
        }
        if (head.length < 9) return;
        mode = 'S';
        want = Number(head.readBigUInt64BE(1));
        got = head.length - 9;
        consume(head.subarray(9));
      }
      if (first === 0n && got > 0) first = process.hrtime.bigint();
      if (got >= want) {
        if (sink) {
          sink.hash.digest();
          fdatasyncSync(sink.fd);
          closeSync(sink.fd);
        }
        const last = process.hrtime.bigint();
        s.end(`${JSON.stringify({ bytes: got, firstNs: String(first), lastNs: String(last) })}\n`);
        mode = 'E';
      }
    });
  };
  const dir = o.tls;
  const server = dir
    ? tlsServer(
        {
          cert: pem(dir, 'server.crt'),
          key: pem(dir, 'server.key'),
          ca: pem(dir, 'client.crt'),
          requestCert: true,
          rejectUnauthorized: true,
          minVersion: 'TLSv1.3',
        },
        onConn,
      )
    : netServer(onConn);
  server.listen(o.port, o.host, () => {
    const a = server.address();
    process.stdout.write(`${JSON.stringify({ port: typeof a === 'object' && a ? a.port : 0 })}\n`);
  });
}

function open(o: Opts): Promise<Socket | TLSSocket> {
  return new Promise((resolve, reject) => {
    const dir = o.tls;
    const s = dir
      ? tlsConnect(
          {
            host: o.host,
            port: o.port,
            cert: pem(dir, 'client.crt'),
            key: pem(dir, 'client.key'),
            ca: pem(dir, 'server.crt'),
            minVersion: 'TLSv1.3',
            // Trust is the pinned certificate, not a host name (as for Ingot's peers).
            checkServerIdentity: () => undefined,
          },
          () => resolve(s),
        )
      : netConnect({ host: o.host, port: o.port }, () => resolve(s));
    s.once('error', reject);
  });
}

function readLine(s: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    s.on('data', (b: Buffer) => {
      text += b.toString();
      const nl = text.indexOf('\n');
      if (nl >= 0) resolve(text.slice(0, nl));
    });
    s.once('error', reject);
    s.once('close', () => reject(new Error('connection closed before the receiver answered')));
  });
}

async function sendOne(o: Opts, bytes: number, data: Buffer): Promise<{ first: number; last: number }> {
  const s = await open(o);
  const head = Buffer.alloc(9);
  head[0] = 0x53;
  head.writeBigUInt64BE(BigInt(bytes), 1);
  s.write(head);
  const answer = readLine(s);
  let left = bytes;
  while (left > 0) {
    const n = Math.min(left, data.length);
    left -= n;
    if (!s.write(n === data.length ? data : data.subarray(0, n)))
      await new Promise((r) => s.once('drain', r));
  }
  const r = JSON.parse(await answer) as { bytes: number; firstNs: string; lastNs: string };
  const cipher = 'getCipher' in s ? (s as TLSSocket).getCipher().standardName : 'none';
  cipherSeen = cipher;
  s.destroy();
  if (r.bytes !== bytes) throw new Error(`receiver counted ${r.bytes} bytes, ${bytes} were sent`);
  return { first: Number(r.firstNs), last: Number(r.lastNs) };
}

let cipherSeen = 'none';

async function send(o: Opts): Promise<void> {
  const data = randomBytes(SEND_BUFFER);
  const per = Math.floor(o.bytes / o.streams);
  const sizes = Array.from({ length: o.streams }, (_, i) =>
    i === 0 ? o.bytes - per * (o.streams - 1) : per,
  );
  const spans = await Promise.all(sizes.map((n) => sendOne(o, n, data)));
  // Nanoseconds of the receiver's monotonic clock; as doubles, within a few ns of exact.
  const first = Math.min(...spans.map((s) => s.first));
  const last = Math.max(...spans.map((s) => s.last));
  const seconds = (last - first) / 1e9;
  process.stdout.write(
    `${JSON.stringify({ bytes: o.bytes, seconds, streams: o.streams, cipher: cipherSeen })}\n`,
  );
}

async function ping(o: Opts): Promise<void> {
  const s = await open(o);
  s.setNoDelay(true);
  const rttMs: number[] = [];
  const echo = () => new Promise<void>((r) => s.once('data', () => r()));
  // One untimed round trip first: it also carries the mode byte and any relay's own connect.
  const warm = echo();
  s.write('Ew');
  await warm;
  for (let i = 0; i < o.count; i++) {
    const t = process.hrtime.bigint();
    const back = echo();
    s.write('p');
    await back;
    rttMs.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  s.destroy();
  process.stdout.write(`${JSON.stringify({ rttMs })}\n`);
}

const [cmd, ...rest] = process.argv.slice(2);
const opts = parse(rest);
if (cmd === 'serve') serve(opts);
else if (cmd === 'send' || cmd === 'ping') {
  // Bounded: a link that stalls fails the probe instead of hanging the benchmark.
  setTimeout(() => {
    process.stderr.write(`stream-probe ${cmd}: no result within 600 s\n`);
    process.exit(3);
  }, 600_000).unref();
  (cmd === 'send' ? send(opts) : ping(opts)).catch((err: unknown) => {
    process.stderr.write(`stream-probe ${cmd}: ${(err as Error).message}\n`);
    process.exit(1);
  });
} else {
  process.stderr.write('usage: stream-probe serve|send|ping --host H --port P [--tls DIR] ...\n');
  process.exit(2);
}
