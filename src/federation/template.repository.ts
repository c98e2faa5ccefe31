/** Queries on templates, their members and their published versions. */
import type { Kysely, Selectable } from 'kysely';
import type { Schema, TemplateVersionTable } from '../db/schema.js';

export interface TemplateRow {
  name: string;
  description: string;
  upstream: string | null;
  createdAt: string;
}

export interface VersionRow {
  template: string;
  version: number;
  body: string;
  signature: string;
  publishedAt: string;
}

export class TemplateRepository {
  constructor(private readonly db: Kysely<Schema>) {}

  async get(name: string): Promise<TemplateRow | undefined> {
    const r = await this.db.selectFrom('templates').selectAll().where('name', '=', name).executeTakeFirst();
    return r && { name: r.name, description: r.description, upstream: r.upstream, createdAt: r.created_at };
  }

  async list(): Promise<TemplateRow[]> {
    const rows = await this.db.selectFrom('templates').selectAll().orderBy('name').execute();
    return rows.map((r) => ({
      name: r.name,
      description: r.description,
      upstream: r.upstream,
      createdAt: r.created_at,
    }));
  }

  async insert(t: TemplateRow): Promise<void> {
    await this.db
      .insertInto('templates')
      .values({ name: t.name, description: t.description, upstream: t.upstream, created_at: t.createdAt })
      .execute();
  }

  async members(name: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('template_members')
      .select('image_name')
      .where('template_name', '=', name)
      .orderBy('image_name')
      .execute();
    return rows.map((r) => r.image_name);
  }

  async addMember(name: string, image: string, at: string): Promise<void> {
    await this.db
      .insertInto('template_members')
      .values({ template_name: name, image_name: image, added_at: at })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }

  async removeMember(name: string, image: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('template_members')
      .where('template_name', '=', name)
      .where('image_name', '=', image)
      .executeTakeFirst();
    return r.numDeletedRows > 0n;
  }

  async latest(name: string): Promise<VersionRow | undefined> {
    const r = await this.db
      .selectFrom('template_versions')
      .selectAll()
      .where('template_name', '=', name)
      .orderBy('version', 'desc')
      .executeTakeFirst();
    return r && toVersion(r);
  }

  async version(name: string, version: number): Promise<VersionRow | undefined> {
    const r = await this.db
      .selectFrom('template_versions')
      .selectAll()
      .where('template_name', '=', name)
      .where('version', '=', version)
      .executeTakeFirst();
    return r && toVersion(r);
  }

  async insertVersion(v: VersionRow): Promise<void> {
    await this.db
      .insertInto('template_versions')
      .values({
        template_name: v.template,
        version: v.version,
        body: v.body,
        signature: v.signature,
        published_at: v.publishedAt,
      })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }

  async delete(name: string): Promise<boolean> {
    const r = await this.db.deleteFrom('templates').where('name', '=', name).executeTakeFirst();
    return r.numDeletedRows > 0n;
  }

  /** The latest version of every template: what this server serves to its followers. */
  async allLatest(): Promise<VersionRow[]> {
    const out: VersionRow[] = [];
    for (const t of await this.list()) {
      const v = await this.latest(t.name);
      if (v) out.push(v);
    }
    return out;
  }
}

function toVersion(r: Selectable<TemplateVersionTable>): VersionRow {
  return {
    template: r.template_name,
    version: Number(r.version),
    body: r.body,
    signature: r.signature,
    publishedAt: r.published_at,
  };
}
