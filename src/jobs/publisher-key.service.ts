/**
 * The publishers whose releases this server accepts, by their Ed25519 public keys (apt's
 * keyring, signify's and minisign's trusted keys): kept in the catalog, so every node
 * trusts the same ones and a snapshot carries them. While at least one is trusted, a
 * release is kept only with a signature that checks against one of them (release.service.ts).
 */
import { IngotError } from '../core/errors.js';
import { checkName } from '../core/names.js';
import {
  type PublisherKey,
  parsePublisherKey,
  releaseSigner,
  requireSignatureIfTrusted,
} from '../core/release-signature.js';
import type { Db } from '../db/database.js';
import { isUniqueViolation } from '../db/db-errors.js';
import { PublisherKeyRepository, type PublisherKeyRow } from './publisher-key.repository.js';

/** A trusted key as `ingot update keys list` and GET /api/v1/update/keys show it. */
export interface PublisherKeyRecord extends PublisherKey {
  readonly addedAt: string;
}

/** Keys a server trusts at most: a publisher or two, and their next keys while they rotate. */
export const PUBLISHER_KEYS_MAX = 32;

export class PublisherKeyService {
  private readonly repo: PublisherKeyRepository;

  constructor(db: Db) {
    this.repo = new PublisherKeyRepository(db.kysely);
  }

  /** Trusts the Ed25519 public key `pem` under `name` (by default `key-` and its id's first 16 digits). */
  async add(pem: string, name?: string): Promise<PublisherKeyRecord> {
    const { keyId, publicKeyPem } = parsePublisherKey(pem);
    const row: PublisherKeyRow = {
      key_id: keyId,
      name: name === undefined ? `key-${keyId.slice(0, 16)}` : checkName('publisher key', name),
      public_key: publicKeyPem,
      added_at: new Date().toISOString(),
    };
    const known = await this.repo.list();
    if (known.length >= PUBLISHER_KEYS_MAX) {
      throw new IngotError('LIMIT_EXCEEDED', `a server trusts at most ${PUBLISHER_KEYS_MAX} publisher keys`, {
        details: { limit: PUBLISHER_KEYS_MAX },
        hint: 'remove one first: ingot update keys remove NAME',
      });
    }
    const same = known.find((k) => k.key_id === keyId || k.name === row.name);
    if (same) throw alreadyTrusted(same, keyId);
    try {
      await this.repo.insert(row);
    } catch (err) {
      // Another node added the key or the name meanwhile.
      if (isUniqueViolation(err)) throw alreadyTrusted((await this.repo.find(row.name)) ?? row, keyId);
      throw err;
    }
    return toRecord(row);
  }

  async list(): Promise<PublisherKeyRecord[]> {
    return (await this.repo.list()).map(toRecord);
  }

  /** Stops trusting the key named `nameOrKeyId` (or with that key id); kept releases stay. */
  async remove(nameOrKeyId: string): Promise<PublisherKeyRecord> {
    const row = await this.repo.find(nameOrKeyId);
    if (!row || !(await this.repo.remove(row.key_id))) {
      throw new IngotError('NOT_FOUND', `no publisher key ${JSON.stringify(nameOrKeyId)}`, {
        hint: 'see the trusted keys with: ingot update keys list',
      });
    }
    return toRecord(row);
  }

  /** Refuses a signature while no key is trusted, or none while keys are: before a download. */
  async requireSignatureIfTrusted(signed: boolean): Promise<void> {
    requireSignatureIfTrusted(await this.list(), signed);
  }

  /** The trusted key that signed `sha256` (null with no key trusted and no signature); BAD_SIGNATURE else. */
  async signer(sha256: string, signature: Buffer | undefined): Promise<PublisherKey | null> {
    return releaseSigner(await this.list(), sha256, signature);
  }
}

function alreadyTrusted(row: PublisherKeyRow, keyId: string): IngotError {
  const what =
    row.key_id === keyId ? `that key is trusted as ${row.name}` : `a key named ${row.name} is trusted`;
  return new IngotError('ALREADY_EXISTS', what, {
    details: { name: row.name, keyId: row.key_id },
    hint: 'see the trusted keys with: ingot update keys list; nothing was changed',
  });
}

function toRecord(r: PublisherKeyRow): PublisherKeyRecord {
  return { keyId: r.key_id, name: r.name, publicKeyPem: r.public_key, addedAt: r.added_at };
}
