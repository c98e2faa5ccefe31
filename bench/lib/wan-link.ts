import { join } from 'node:path';
import { NodeService } from './node-service.js';
import type { PeerFront } from './peers.js';
import { run } from './proc.js';

/**
 * The emulated WAN as the benchmark process sees it. wan-link.sh made two network namespaces
 * joined by a rate-capped, lossy veth pair (A sends, B receives) and says where they are in
 * the environment; this adds the delay: every service on the link is reached through a relay
 * on its own side (wan-relay.ts) that listens on that side's link address, holds each
 * direction's bytes half the round trip, and forwards to the service on the side's loopback.
 * So a connection from the other side crosses the veth (rate, loss) and the relay (delay).
 */

export interface WanSide {
  readonly name: 'A' | 'B';
  readonly ns: string;
  readonly addr: string;
  /** Runs a command in the side's namespace. */
  readonly prefix: readonly string[];
}

export interface WanLink {
  readonly a: WanSide;
  readonly b: WanSide;
  readonly mbit: number;
  readonly loss: number;
  readonly rttMs: number;
  /** The nominal rate in MB/s (10^6 bytes): what the ratios are taken against. */
  readonly mbPerSec: number;
}

const RELAY = join(import.meta.dirname, 'wan-relay.ts');

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the WAN benchmark with bash bench/wan.sh`);
  return v;
}

export function wanLinkFromEnv(): WanLink {
  const side = (name: 'A' | 'B'): WanSide => {
    const ns = env(`BENCH_WAN_NS_${name}`);
    return { name, ns, addr: env(`BENCH_WAN_ADDR_${name}`), prefix: ['ip', 'netns', 'exec', ns] };
  };
  const mbit = Number(env('BENCH_WAN_MBIT'));
  return {
    a: side('A'),
    b: side('B'),
    mbit,
    loss: Number(env('BENCH_WAN_LOSS')),
    rttMs: Number(env('BENCH_WAN_RTT_MS')),
    mbPerSec: mbit / 8,
  };
}

export interface Relay extends PeerFront {
  readonly host: string;
  readonly port: number;
  readonly pid: number;
}

/** A relay on `side`'s link address in front of `targetPort` on that side's loopback. */
export async function startRelay(link: WanLink, side: WanSide, targetPort: number): Promise<Relay> {
  const args = [
    '--listen',
    side.addr,
    '--target',
    `127.0.0.1:${targetPort}`,
    '--delay-ms',
    String(link.rttMs / 2),
  ];
  const s = await NodeService.start(side.prefix, RELAY, args, `WAN relay on ${side.name}`);
  return {
    host: side.addr,
    port: s.port,
    pid: s.pid,
    url: `https://${side.addr}:${s.port}`,
    close: () => s.stop(),
  };
}

export interface PacketCount {
  /** Packets that arrived on the side's end of the link (the counting rule). */
  readonly seen: number;
  /** Of those, dropped by the random-loss rule. */
  readonly dropped: number;
}

/** The side's iptables counters (wan-link.sh: a counting rule, then the random DROP). */
export async function packetCount(side: WanSide): Promise<PacketCount> {
  const out = (await run('iptables', ['-w', '5', '-nvx', '-L', 'INPUT'], { prefix: side.prefix })).stdout;
  const rules = out
    .split('\n')
    .slice(2)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length > 2);
  const seen = Number(rules[0]?.[0]);
  const dropped = Number(rules.find((f) => f[2] === 'DROP')?.[0]);
  if (!Number.isFinite(seen) || !Number.isFinite(dropped))
    throw new Error(`unexpected iptables counters in ${side.ns}:\n${out}`);
  return { seen, dropped };
}

export function countSince(before: PacketCount, after: PacketCount): PacketCount {
  return { seen: after.seen - before.seen, dropped: after.dropped - before.dropped };
}
