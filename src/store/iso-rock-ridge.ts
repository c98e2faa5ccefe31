// The System Use entries of an ISO 9660 directory record (SUSP, IEEE P1281) that the Rock
// Ridge extensions (RRIP, IEEE P1282) use: names, modes, owners, links and times.
import type { Timestamp } from '../core/manifest.js';

export interface RockRidge {
  /** PX: st_mode, uid, gid. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** NM: the POSIX name ("." and ".." flags give those names). */
  name?: string;
  /** SL: a symlink's target. */
  target?: string;
  /** TF: modification time. */
  mtime?: Timestamp;
  /** PN: a device's numbers. */
  device?: boolean;
  /** CL: this file record stands for a directory relocated to that block. */
  childAt?: number;
  /** RE: this directory is a relocated one; its CL record is its real place. */
  relocated?: boolean;
}

/** A continuation area (CE): more entries at that block, offset and length. */
export interface Continuation {
  readonly block: number;
  readonly offset: number;
  readonly length: number;
}

/** Reads `area` into `into`; returns the continuation it names, if any. */
export function readSystemUse(
  area: Buffer,
  into: RockRidge,
  pending: { sl: string[]; slOpen: boolean },
): Continuation | undefined {
  let ce: Continuation | undefined;
  let at = 0;
  while (at + 4 <= area.length) {
    const sig = area.toString('latin1', at, at + 2);
    const len = area[at + 2] as number;
    if (len < 4 || at + len > area.length) break;
    const e = area.subarray(at, at + len);
    at += len;
    if (sig === 'ST') break;
    if (sig === 'CE' && len >= 28)
      ce = { block: e.readUInt32LE(4), offset: e.readUInt32LE(12), length: e.readUInt32LE(20) };
    else if (sig === 'PX' && len >= 36) {
      into.mode = e.readUInt32LE(4);
      into.uid = e.readUInt32LE(20);
      into.gid = e.readUInt32LE(28);
    } else if (sig === 'NM' && len >= 5) readName(e, into);
    else if (sig === 'SL' && len >= 5) readLink(e, into, pending);
    else if (sig === 'TF' && len >= 5) readTimes(e, into);
    else if (sig === 'PN') into.device = true;
    else if (sig === 'CL' && len >= 12) into.childAt = e.readUInt32LE(4);
    else if (sig === 'RE') into.relocated = true;
  }
  return ce;
}

function readName(e: Buffer, into: RockRidge): void {
  const flags = e[4] as number;
  if (flags & 2) into.name = '.';
  else if (flags & 4) into.name = '..';
  else into.name = (into.name ?? '') + e.toString('utf8', 5);
}

function readLink(e: Buffer, into: RockRidge, pending: { sl: string[]; slOpen: boolean }): void {
  let at = 5;
  while (at + 2 <= e.length) {
    const flags = e[at] as number;
    const len = e[at + 1] as number;
    const text = e.toString('utf8', at + 2, at + 2 + len);
    at += 2 + len;
    const part = flags & 2 ? '.' : flags & 4 ? '..' : flags & 8 ? '' : text;
    // A component continued from the last one (flag 1 on it) joins it without a slash.
    if (pending.slOpen) pending.sl[pending.sl.length - 1] += part;
    else pending.sl.push(part);
    pending.slOpen = (flags & 1) !== 0;
  }
  const parts = pending.sl;
  into.target = parts.length === 1 && parts[0] === '' ? '/' : parts.join('/');
}

function readTimes(e: Buffer, into: RockRidge): void {
  const flags = e[4] as number;
  const long = (flags & 0x80) !== 0;
  const size = long ? 17 : 7;
  // Order of the stamps: creation, modify, access, attributes, ...; modify is the one kept.
  let at = 5;
  if (flags & 1) at += size;
  if (flags & 2 && at + size <= e.length) {
    into.mtime = long ? longTime(e.subarray(at, at + 17)) : shortTime(e.subarray(at, at + 7));
  }
}

/** ECMA-119 9.1.5: years since 1900, month, day, hour, minute, second, GMT offset in 15 minutes. */
export function shortTime(b: Buffer): Timestamp {
  const ms = Date.UTC(
    1900 + (b[0] as number),
    (b[1] as number) - 1,
    b[2] as number,
    b[3] as number,
    b[4] as number,
    b[5] as number,
  );
  return { sec: Math.floor(ms / 1000) - b.readInt8(6) * 15 * 60, nsec: 0 };
}

/** ECMA-119 8.4.26.1: "YYYYMMDDHHMMSScc" digits and a GMT offset in 15 minutes. */
export function longTime(b: Buffer): Timestamp {
  const d = (from: number, n: number) => Number(b.toString('latin1', from, from + n)) || 0;
  const ms = Date.UTC(d(0, 4), d(4, 2) - 1, d(6, 2), d(8, 2), d(10, 2), d(12, 2));
  return { sec: Math.floor(ms / 1000) - b.readInt8(16) * 15 * 60, nsec: d(14, 2) * 10_000_000 };
}
