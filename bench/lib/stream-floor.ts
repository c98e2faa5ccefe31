import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeService, nodeCommand } from './node-service.js';
import { run } from './proc.js';

/**
 * The machine's floor for a link: bytes from one Node process to another over plain TCP or
 * mutual TLS 1.3, no application on top, measured at the receiver (stream-probe.ts). Run with
 * the Node that runs the benchmark, optionally behind a command prefix (node-service.ts).
 */

const PROBE = join(import.meta.dirname, 'stream-probe.ts');

export interface ProbeWhere {
  /** Prepended to the node command line (e.g. `ip netns exec NS`); none for this namespace. */
  readonly prefix?: readonly string[];
  /** A directory from makeCertPair: mutual TLS 1.3; absent: plain TCP. */
  readonly tls?: string;
}

export interface StreamSample {
  readonly bytes: number;
  /** Receiver's clock: first payload byte of any stream to the last byte of all of them. */
  readonly seconds: number;
  readonly mbPerSec: number;
  readonly streams: number;
  /** The TLS cipher suite negotiated, 'none' for plain TCP. */
  readonly cipher: string;
}

const withTls = (where: ProbeWhere, args: readonly string[]) =>
  where.tls ? [...args, '--tls', where.tls] : args;

function command(where: ProbeWhere, args: readonly string[]): [string, string[]] {
  return nodeCommand(where.prefix ?? [], PROBE, withTls(where, args));
}

/** Two throwaway self-signed ECDSA P-256 certificates (server and client) in `dir`. */
export async function makeCertPair(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const who of ['server', 'client']) {
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=bench-${who}`,
      '-keyout',
      join(dir, `${who}.key`),
      '-out',
      join(dir, `${who}.crt`),
    ]);
  }
  return dir;
}

/** The receiving end, a process of its own, until stop(). */
export function startProbeServer(where: ProbeWhere, host: string, sink?: string): Promise<NodeService> {
  const args = ['serve', '--host', host, '--port', '0', ...(sink ? ['--sink', sink] : [])];
  return NodeService.start(where.prefix ?? [], PROBE, withTls(where, args), 'stream probe server');
}

/** `bytes` split over `streams` parallel connections to host:port, rate at the receiver. */
export async function probeSend(
  where: ProbeWhere,
  host: string,
  port: number,
  bytes: number,
  streams: number,
): Promise<StreamSample> {
  const [file, argv] = command(where, [
    'send',
    '--host',
    host,
    '--port',
    String(port),
    '--bytes',
    String(bytes),
    '--streams',
    String(streams),
  ]);
  const r = JSON.parse((await run(file, argv)).stdout) as Omit<StreamSample, 'mbPerSec'>;
  return { ...r, mbPerSec: r.bytes / 1e6 / r.seconds };
}

/** Round trips of a one-byte request and its echo, milliseconds. */
export async function probePing(
  where: ProbeWhere,
  host: string,
  port: number,
  count: number,
): Promise<number[]> {
  const [file, argv] = command(where, [
    'ping',
    '--host',
    host,
    '--port',
    String(port),
    '--count',
    String(count),
  ]);
  return (JSON.parse((await run(file, argv)).stdout) as { rttMs: number[] }).rttMs;
}

export interface TlsFloor {
  readonly one: StreamSample;
  readonly four: StreamSample;
  /** One stream into a receiver that hashes (SHA-256) and writes every byte, then fdatasyncs. */
  readonly verified: StreamSample;
}

/**
 * Node mutual TLS 1.3 on loopback between two processes: one stream, then four in parallel,
 * then one into a verifying receiver (`sinkFile`, removed after): the least any receiver
 * that checks what it stores does in Node on this machine.
 */
export async function tlsFloor(certDir: string, bytes: number, sinkFile: string): Promise<TlsFloor> {
  const where = { tls: certDir };
  const server = await startProbeServer(where, '127.0.0.1');
  let one: StreamSample;
  let four: StreamSample;
  try {
    one = await probeSend(where, '127.0.0.1', server.port, bytes, 1);
    four = await probeSend(where, '127.0.0.1', server.port, bytes, 4);
  } finally {
    await server.stop();
  }
  const verifying = await startProbeServer(where, '127.0.0.1', sinkFile);
  try {
    const verified = await probeSend(where, '127.0.0.1', verifying.port, bytes, 1);
    return { one, four, verified };
  } finally {
    await verifying.stop();
    await rm(sinkFile, { force: true });
  }
}
