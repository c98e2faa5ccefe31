import type { Digest } from '../core/manifest.js';
import { cpuPool } from './cpu-pool.js';

/** SHA-256 of one chunk, on the CPU pool (never on the event loop). Batches: cpuPool().hash. */
export async function sha256Hex(b: Uint8Array): Promise<Digest> {
  const [d] = await cpuPool().hash([b]);
  return d as Digest;
}
