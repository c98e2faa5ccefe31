import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { IngotError } from '../core/errors.js';
import { checkName } from '../core/names.js';
import { parseRole, type Role } from '../core/roles.js';
import { type Db, isUniqueViolation } from '../db/index.js';
import type { ApiTokenTable } from '../db/schema.js';

/** The token of `$INGOT_HOME/token`, made at first start: the admin's, always valid. */
export const FILE_TOKEN_NAME = 'admin';

/** `last used` is written at most this often per token, so a busy token costs no write per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

export interface Caller {
  readonly name: string;
  readonly role: Role;
}

export interface TokenView {
  name: string;
  role: Role;
  createdAt: string | null;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  /** active, expired or revoked. */
  status: 'active' | 'expired' | 'revoked';
  /** The token of the INGOT_HOME file (not in the catalog; replaced by editing the file). */
  file: boolean;
}

export interface CreatedToken {
  token: TokenView;
  /** Shown once; only its SHA-256 is kept. */
  secret: string;
}

export interface TokenServiceDeps {
  readonly db: Db;
  readonly fileToken: string;
  readonly fileTokenCreatedAt?: string | undefined;
  readonly now?: () => Date;
}

/**
 * Named tokens with roles. A secret is `ingot_` and 32 random bytes; the catalog keeps its
 * SHA-256, looked up by that hash, so a stolen database holds no usable token.
 */
export class TokenService {
  private readonly fileHash: Buffer;
  private readonly lastWritten = new Map<string, number>();
  private readonly now: () => Date;

  constructor(private readonly deps: TokenServiceDeps) {
    this.fileHash = sha256(deps.fileToken);
    this.now = deps.now ?? (() => new Date());
  }

  async create(name: string, role: string, lifetimeSeconds?: number): Promise<CreatedToken> {
    checkName('token', name);
    const r = parseRole(role);
    if (name === FILE_TOKEN_NAME) {
      throw new IngotError('ALREADY_EXISTS', `the token ${name} is the one in $INGOT_HOME/token`, {
        hint: 'choose another name',
      });
    }
    const secret = `ingot_${randomBytes(32).toString('base64url')}`;
    const now = this.now();
    const row: ApiTokenTable = {
      name,
      role: r,
      secret_hash: sha256(secret).toString('hex'),
      created_at: now.toISOString(),
      expires_at:
        lifetimeSeconds === undefined ? null : new Date(now.getTime() + lifetimeSeconds * 1000).toISOString(),
      last_used_at: null,
      revoked_at: null,
    };
    try {
      await this.deps.db.transaction(async (tx) => {
        // A revoked token's name may be given again; its old secret then means nothing.
        await tx
          .deleteFrom('api_tokens')
          .where('name', '=', name)
          .where('revoked_at', 'is not', null)
          .execute();
        await tx.insertInto('api_tokens').values(row).execute();
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      throw new IngotError('ALREADY_EXISTS', `a token named ${name} exists`, {
        hint: `revoke it first (ingot token revoke ${name}) or choose another name`,
      });
    }
    return { token: this.view(row), secret };
  }

  async list(): Promise<TokenView[]> {
    const rows = await this.deps.db.kysely.selectFrom('api_tokens').selectAll().orderBy('name').execute();
    return [this.fileView(), ...rows.map((r) => this.view(r))];
  }

  async revoke(name: string): Promise<TokenView> {
    if (name === FILE_TOKEN_NAME) {
      throw new IngotError('READ_ONLY', 'the token in $INGOT_HOME/token cannot be revoked through the API', {
        hint: 'write a new secret into that file and restart the server',
      });
    }
    const at = this.now().toISOString();
    const db = this.deps.db.kysely;
    await db
      .updateTable('api_tokens')
      .set({ revoked_at: at })
      .where('name', '=', name)
      .where('revoked_at', 'is', null)
      .execute();
    const row = await db.selectFrom('api_tokens').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) throw new IngotError('NOT_FOUND', `no token named ${name}`, { hint: 'see ingot token list' });
    return this.view(row);
  }

  /** The caller a bearer secret names; UNAUTHENTICATED when it is unknown, expired or revoked. */
  async authenticate(secret: string): Promise<Caller> {
    const hash = sha256(secret);
    if (timingSafeEqual(hash, this.fileHash)) return { name: FILE_TOKEN_NAME, role: 'admin' };
    const row = await this.deps.db.kysely
      .selectFrom('api_tokens')
      .selectAll()
      .where('secret_hash', '=', hash.toString('hex'))
      .executeTakeFirst();
    if (!row) {
      throw new IngotError('UNAUTHENTICATED', 'the token is not valid for this server', {
        hint: 'use a token from `ingot token create`, or the one in the server’s $INGOT_HOME/token file',
      });
    }
    const now = this.now();
    if (row.revoked_at !== null) {
      throw new IngotError('UNAUTHENTICATED', `the token ${row.name} was revoked at ${row.revoked_at}`, {
        hint: 'ask an administrator for a new token (ingot token create)',
      });
    }
    if (row.expires_at !== null && row.expires_at <= now.toISOString()) {
      throw new IngotError('UNAUTHENTICATED', `the token ${row.name} expired at ${row.expires_at}`, {
        hint: 'ask an administrator for a new token (ingot token create)',
      });
    }
    await this.noteUse(row.name, now);
    return { name: row.name, role: parseRole(row.role) };
  }

  private async noteUse(name: string, now: Date): Promise<void> {
    const last = this.lastWritten.get(name) ?? 0;
    if (now.getTime() - last < LAST_USED_RESOLUTION_MS) return;
    this.lastWritten.set(name, now.getTime());
    await this.deps.db.kysely
      .updateTable('api_tokens')
      .set({ last_used_at: now.toISOString() })
      .where('name', '=', name)
      .execute();
  }

  private view(row: ApiTokenTable): TokenView {
    const status =
      row.revoked_at !== null
        ? 'revoked'
        : row.expires_at !== null && row.expires_at <= this.now().toISOString()
          ? 'expired'
          : 'active';
    return {
      name: row.name,
      role: parseRole(row.role),
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      lastUsedAt: row.last_used_at,
      revokedAt: row.revoked_at,
      status,
      file: false,
    };
  }

  private fileView(): TokenView {
    return {
      name: FILE_TOKEN_NAME,
      role: 'admin',
      createdAt: this.deps.fileTokenCreatedAt ?? null,
      expiresAt: null,
      lastUsedAt: null,
      revokedAt: null,
      status: 'active',
      file: true,
    };
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
