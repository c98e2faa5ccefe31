import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { IngotError } from './errors.js';

/**
 * Sealing secrets with a passphrase: a memory-hard key (scrypt) and AES-256-GCM. The
 * sealed form is one buffer: a 36-byte header (magic "IGSL", version, log2 N, r, p, then
 * the 16-byte salt and the 12-byte nonce), the ciphertext, and the 16-byte GCM tag. The
 * header is the cipher's additional data, so a changed parameter fails as a changed byte.
 * The key is derived on libuv's thread pool (async scrypt), never on the event loop.
 */
export const SEAL_MAGIC = Buffer.from('IGSL', 'ascii');
export const SEAL_VERSION = 1;
/** scrypt N = 2^17, r = 8, p = 1: 128 MiB and about half a second per derivation. */
export const SEAL_PARAMS = { log2N: 17, r: 8, p: 1 } as const;
const HEADER_LEN = 4 + 1 + 3 + 16 + 12;
const TAG_LEN = 16;

export interface SealParams {
  readonly log2N: number;
  readonly r: number;
  readonly p: number;
}

export async function seal(
  plain: Buffer,
  passphrase: string,
  params: SealParams = SEAL_PARAMS,
): Promise<Buffer> {
  checkPassphrase(passphrase);
  const header = Buffer.alloc(HEADER_LEN);
  SEAL_MAGIC.copy(header, 0);
  header[4] = SEAL_VERSION;
  header[5] = params.log2N;
  header[6] = params.r;
  header[7] = params.p;
  randomBytes(28).copy(header, 8);
  const key = await deriveKey(passphrase, header.subarray(8, 24), params);
  const cipher = createCipheriv('aes-256-gcm', key, header.subarray(24, 36));
  cipher.setAAD(header);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([header, body, cipher.getAuthTag()]);
}

/** The plain bytes; a wrong passphrase and a changed byte both fail the GCM tag. */
export async function unseal(sealed: Buffer, passphrase: string): Promise<Buffer> {
  checkPassphrase(passphrase);
  if (sealed.length < HEADER_LEN + TAG_LEN || !sealed.subarray(0, 4).equals(SEAL_MAGIC)) {
    throw new IngotError('INVALID_ARGUMENT', 'not a sealed file (no IGSL header)');
  }
  if (sealed[4] !== SEAL_VERSION) {
    throw new IngotError('INVALID_ARGUMENT', `sealed file version ${sealed[4]} is not known here`, {
      hint: `this Ingot reads version ${SEAL_VERSION}; import with a newer Ingot`,
    });
  }
  const header = sealed.subarray(0, HEADER_LEN);
  const params = { log2N: header[5] as number, r: header[6] as number, p: header[7] as number };
  if (
    params.log2N < 10 ||
    params.log2N > 22 ||
    params.r < 1 ||
    params.r > 32 ||
    params.p < 1 ||
    params.p > 16
  ) {
    throw new IngotError('INVALID_ARGUMENT', 'the sealed file names scrypt parameters out of bounds');
  }
  const key = await deriveKey(passphrase, header.subarray(8, 24), params);
  const decipher = createDecipheriv('aes-256-gcm', key, header.subarray(24, 36));
  decipher.setAAD(header);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_LEN));
  try {
    return Buffer.concat([
      decipher.update(sealed.subarray(HEADER_LEN, sealed.length - TAG_LEN)),
      decipher.final(),
    ]);
  } catch {
    throw new IngotError('FORBIDDEN', 'the passphrase does not open the sealed secrets', {
      hint: 'check the passphrase file (the one given at export); a changed sealed file fails the same way; nothing was changed',
    });
  }
}

function deriveKey(passphrase: string, salt: Buffer, params: SealParams): Promise<Buffer> {
  const N = 2 ** params.log2N;
  return new Promise((resolve, reject) =>
    scrypt(
      passphrase.normalize('NFC'),
      salt,
      32,
      { N, r: params.r, p: params.p, maxmem: 256 * N * params.r },
      (err, key) => (err ? reject(err) : resolve(key)),
    ),
  );
}

function checkPassphrase(passphrase: string): void {
  if (passphrase.length < 8) {
    throw new IngotError('INVALID_ARGUMENT', 'the passphrase is shorter than 8 characters', {
      hint: 'put a longer passphrase in the --passphrase-file',
    });
  }
}
