import type { CatalogService } from '../catalog/catalog.service.js';
import { type Clock, systemClock } from '../core/clock.js';
import { IngotError } from '../core/errors.js';
import type { Json } from '../core/manifest-codec.js';
import { checkName } from '../core/names.js';
import type { SignedDocument, SigningIdentity } from '../core/signatures.js';
import type { Db } from '../db/database.js';
import { isUniqueViolation } from '../db/db-errors.js';
import type { OfferMeta } from '../transfer/image-sides.js';
import { type LocalSideDeps, offerMeta } from './local-sides.js';
import { malformed, offerToJson, openDocument, parseOffer, signDocument } from './signed-document.js';
import { TemplateRepository, type TemplateRow } from './template.repository.js';

/**
 * Templates: a named set of images an upstream publishes to the servers that follow it.
 * Publishing freezes the current members into a numbered version signed by this server;
 * followers fetch the latest version and hold every image it names. A follower keeps the
 * version it synced as a mirror (read-only here) and serves it, signed again by itself, to
 * its own followers: that is how templates relay HQ → site → edge.
 */
export interface TemplateVersion {
  readonly template: string;
  readonly version: number;
  readonly publishedBy: string;
  readonly publishedAt: string;
  readonly images: readonly OfferMeta[];
}

export interface TemplateView extends TemplateRow {
  members: string[];
  latestVersion: number | null;
  publishedAt: string | null;
  /** Images of the latest version. */
  published: OfferMeta[];
}

export class TemplateService {
  constructor(
    private readonly deps: {
      readonly self: string;
      readonly db: Db;
      readonly catalog: CatalogService;
      readonly identity: SigningIdentity;
      readonly local: LocalSideDeps;
      readonly clock?: Clock;
    },
  ) {}

  private get repo(): TemplateRepository {
    return new TemplateRepository(this.deps.db.kysely);
  }

  async create(name: string, description = ''): Promise<TemplateView> {
    checkName('template', name);
    try {
      await this.repo.insert({ name, description, upstream: null, createdAt: this.now() });
    } catch (err) {
      if (isUniqueViolation(err))
        throw new IngotError('ALREADY_EXISTS', `a template named ${name} already exists`);
      throw err;
    }
    return this.show(name);
  }

  async add(name: string, image: string): Promise<TemplateView> {
    await this.own(name);
    const img = await this.deps.catalog.getImage(checkName('image', image));
    if (img.private) {
      throw new IngotError('CONFLICT', `image ${image} is private to this server`, {
        hint: 'private images never leave this server; add another image',
      });
    }
    await this.repo.addMember(name, img.name, this.now());
    return this.show(name);
  }

  async remove(name: string, image: string): Promise<TemplateView> {
    await this.own(name);
    if (!(await this.repo.removeMember(name, image))) {
      throw new IngotError('NOT_FOUND', `image ${image} is not in template ${name}`);
    }
    return this.show(name);
  }

  /** Freezes the members into the next version; every member must be PUBLISHED. */
  async publish(name: string): Promise<TemplateView> {
    await this.own(name);
    const images: OfferMeta[] = [];
    for (const member of await this.repo.members(name)) {
      const img = await this.deps.catalog.getImage(member);
      if (img.state !== 'PUBLISHED') {
        throw new IngotError('CONFLICT', `image ${member} is ${img.state}, not PUBLISHED`, {
          hint: `publish it first (\`ingot image state ${member} PUBLISHED\`) or remove it from the template`,
        });
      }
      images.push(await offerMeta(this.deps.local, img));
    }
    const latest = await this.repo.latest(name);
    const version: TemplateVersion = {
      template: name,
      version: (latest?.version ?? 0) + 1,
      publishedBy: this.deps.self,
      publishedAt: this.now(),
      images,
    };
    const doc = signDocument(this.deps.identity, 'template', versionToJson(version));
    await this.repo.insertVersion({
      template: name,
      version: version.version,
      ...doc,
      publishedAt: version.publishedAt,
    });
    return this.show(name);
  }

  async delete(name: string): Promise<void> {
    if (!(await this.repo.delete(checkName('template', name)))) throw notFound(name);
  }

  async list(): Promise<TemplateView[]> {
    return Promise.all((await this.repo.list()).map((t) => this.view(t)));
  }

  async show(name: string): Promise<TemplateView> {
    const t = await this.repo.get(checkName('template', name));
    if (!t) throw notFound(name);
    return this.view(t);
  }

  /** The latest version as served to followers. */
  async latestDocument(name: string): Promise<SignedDocument & { version: number }> {
    const v = await this.repo.latest(checkName('template', name));
    if (!v) {
      throw new IngotError('NOT_FOUND', `template ${name} has no published version here`, {
        hint: 'publish it with `ingot template publish`',
      });
    }
    return { body: v.body, signature: v.signature, version: v.version };
  }

  /** Whether `image` (with this digest) is named by the latest version of any template. */
  async serves(image: string, digest: string): Promise<boolean> {
    for (const v of await this.repo.allLatest()) {
      if (parseVersion(v.body).images.some((i) => i.name === image && i.digest === digest)) return true;
    }
    return false;
  }

  /** Keeps a synced upstream version as this server's read-only mirror, signed by us. */
  async mirror(upstream: string, version: TemplateVersion): Promise<void> {
    const existing = await this.repo.get(version.template);
    if (existing && existing.upstream !== upstream) {
      throw new IngotError('CONFLICT', `a template named ${version.template} already exists here`, {
        hint: 'template names are unique per server; rename or delete the local one',
      });
    }
    if (!existing)
      await this.repo.insert({
        name: version.template,
        description: `followed from ${upstream}`,
        upstream,
        createdAt: this.now(),
      });
    if (await this.repo.version(version.template, version.version)) return;
    // Its followers learn each origin's key from us: the one the held image checked with.
    const images = await Promise.all(
      version.images.map(async (i) => ({ ...i, originKey: (await this.originKeyOf(i)) ?? i.originKey })),
    );
    const doc = signDocument(this.deps.identity, 'template', versionToJson({ ...version, images }));
    await this.repo.insertVersion({
      template: version.template,
      version: version.version,
      ...doc,
      publishedAt: version.publishedAt,
    });
  }

  /** The origin key held for a listed image: that of the image held here, else by name. */
  private async originKeyOf(i: OfferMeta): Promise<string | undefined> {
    const { catalog, keys } = this.deps.local;
    const held = await catalog.findImageByDigest(i.digest);
    if (held) return (await keys.pinned(held))?.pem;
    return i.originKey ? undefined : (await keys.named(i.origin))[0]?.pem;
  }

  private async own(name: string): Promise<TemplateRow> {
    const t = await this.repo.get(checkName('template', name));
    if (!t) throw notFound(name);
    if (t.upstream !== null) {
      throw new IngotError('READ_ONLY', `template ${name} is followed from ${t.upstream}`, {
        hint: `change it on ${t.upstream}; this server mirrors what it publishes`,
      });
    }
    return t;
  }

  private async view(t: TemplateRow): Promise<TemplateView> {
    const latest = await this.repo.latest(t.name);
    return {
      ...t,
      members: await this.repo.members(t.name),
      latestVersion: latest?.version ?? null,
      publishedAt: latest?.publishedAt ?? null,
      published: latest ? [...parseVersion(latest.body).images] : [],
    };
  }

  private now(): string {
    return (this.deps.clock ?? systemClock).now().toISOString();
  }
}

export function versionToJson(v: TemplateVersion): Json {
  return {
    format: 'ingot-template',
    formatVersion: 1,
    template: v.template,
    version: v.version,
    publishedBy: v.publishedBy,
    publishedAt: v.publishedAt,
    images: v.images.map(offerToJson),
  };
}

export function parseVersion(body: string): TemplateVersion {
  const o = JSON.parse(body) as Record<string, unknown>;
  return versionFromJson(o);
}

export function versionFromJson(o: Record<string, unknown>): TemplateVersion {
  if (o.format !== 'ingot-template' || o.formatVersion !== 1) throw malformed('template', 'unknown format');
  if (!Number.isSafeInteger(o.version) || (o.version as number) < 1)
    throw malformed('template', 'bad version');
  if (!Array.isArray(o.images)) throw malformed('template', 'no image list');
  return {
    template: checkName('template', o.template),
    version: o.version as number,
    publishedBy: String(o.publishedBy),
    publishedAt: String(o.publishedAt),
    images: o.images.map((i) => parseOffer('template', i)),
  };
}

/** Opens a version an upstream served: its signature must check with the upstream's key. */
export function openVersion(
  doc: SignedDocument,
  upstream: { name: string; signingKeyPem: string },
): TemplateVersion {
  return versionFromJson(openDocument(doc, 'template', upstream.signingKeyPem, upstream.name));
}

function notFound(name: string): IngotError {
  return new IngotError('NOT_FOUND', `no template named ${name}`, { hint: 'see `ingot template list`' });
}
