import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PeerServer } from './peers.js';

/**
 * What one server sent to its peers, read three ways, because no single counter is both
 * complete and exact:
 *
 * - link: the counting relay in front of its peer port (PeerServer's meter). Everything peers
 *   that dialled it exchanged with it, both directions (TLS, HTTP, manifests, digest lists,
 *   chunks). The requests coming in are a small part (a digest per 64 KiB chunk), so this is
 *   an upper bound on egress that is close to it.
 * - metricSent: the server's own `ingot_peer_wire_bytes_total{direction="sent"}`, summed over
 *   peers: chunk-stream bytes only, and only where the server records them.
 * - procWrite: `wchar` of /proc/<pid>/io: every byte the process passed to write(), sockets
 *   (after TLS) and files (its log, its database) alike. Needs the same process before and
 *   after: a restart in between makes the difference meaningless.
 */
export interface EgressSnapshot {
  readonly pid: number;
  readonly link: number | undefined;
  readonly metricSent: number | undefined;
  readonly procWrite: number | undefined;
}

export interface Egress {
  readonly link: number | undefined;
  readonly metricSent: number | undefined;
  readonly procWrite: number | undefined;
}

export async function egressSnapshot(server: PeerServer): Promise<EgressSnapshot> {
  return {
    pid: server.pid,
    link: server.meter?.bytes,
    metricSent: await metricSent(server.home),
    procWrite: await procWchar(server.pid),
  };
}

export function egressBetween(a: EgressSnapshot, b: EgressSnapshot): Egress {
  const d = (x: number | undefined, y: number | undefined) =>
    x === undefined || y === undefined ? undefined : y - x;
  return {
    link: d(a.link, b.link),
    metricSent: d(a.metricSent, b.metricSent),
    procWrite: a.pid === b.pid ? d(a.procWrite, b.procWrite) : undefined,
  };
}

async function serverUrl(home: string): Promise<string | undefined> {
  try {
    return (JSON.parse(await readFile(join(home, 'server.json'), 'utf8')) as { url?: string }).url;
  } catch {
    return undefined;
  }
}

/** The sum over peers of the `sent` counter; undefined when the server exposes none. */
async function metricSent(home: string): Promise<number | undefined> {
  const url = await serverUrl(home);
  if (!url) return undefined;
  let text: string;
  try {
    const res = await fetch(`${url}/metrics`);
    if (res.status !== 200) return undefined;
    text = await res.text();
  } catch {
    return undefined;
  }
  let total = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith('ingot_peer_wire_bytes_total{')) continue;
    if (!/direction="sent"/.test(line)) continue;
    const n = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(n)) {
      total += n;
      seen = true;
    }
  }
  // prom-client lists a labelled counter only once it was incremented: absent means 0 so far.
  return seen || text.includes('# TYPE ingot_peer_wire_bytes_total') ? total : undefined;
}

async function procWchar(pid: number): Promise<number | undefined> {
  if (pid <= 0) return undefined;
  try {
    const m = /^wchar:\s+(\d+)/m.exec(await readFile(`/proc/${pid}/io`, 'utf8'));
    return m?.[1] ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
