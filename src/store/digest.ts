import { webcrypto } from 'node:crypto';
import type { Digest } from '../core/manifest.js';

/**
 * SHA-256 on libuv's thread pool (WebCrypto), so hashing runs beside the chunker or the
 * network on another core instead of on the event loop; measured ~1.4x createHash here.
 */
export async function sha256Hex(b: Uint8Array): Promise<Digest> {
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', b)).toString('hex') as Digest;
}
