import type { FastifyError, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { IngotError } from '../core/errors.js';

/**
 * The documented bound of every input of both APIs (docs/design.md "Limits"). Each lives in
 * a route's schema, so it is in the OpenAPI document and checked before a handler runs; a
 * refusal names the field, its size and the limit (limitRefusal below).
 */

/** A JSON body of the admin API, unless its route says otherwise. */
export const JSON_BODY_BYTES = 1024 * 1024;
/** A chunk request: 4096 digests and a reference list of up to 3 for each, ~1.1 MB. */
export const CHUNK_LIST_BODY_BYTES = 2 * 1024 * 1024;
/** A draft manifest (`POST /api/v1/images`): ~76 bytes a chunk, so room for DRAFT_CHUNKS. */
export const DRAFT_BODY_BYTES = 384 * 1024 * 1024;
/** A bundle header (check, commit) or a plan's inventory: a list of images and chunk digests. */
export const BUNDLE_BODY_BYTES = 64 * 1024 * 1024;
/**
 * A URL parameter's length, past which the router refuses it. Fastify's default of 100
 * answered longer ones 414 with a body of its own; under this bound the route's schema
 * judges them (a name's limit is 64) and the answer is the registry's.
 */
export const PARAM_BYTES = 4096;
/** A peer API JSON body; an offer carries its manifest, base64. */
export const PEER_BODY_BYTES = 64 * 1024 * 1024;

/** Chunk references (data and holes) in one draft: 256 GiB at the 64 KiB average chunk. */
export const DRAFT_CHUNKS = 4 * 1024 * 1024;
/** Of those, holes (each at most 16 MiB). */
export const DRAFT_HOLES = 1024 * 1024;
/** Entries of a tree draft. */
export const DRAFT_ENTRIES = 1024 * 1024;

export const DESCRIPTION_CHARS = 4096;
/** A download URL (image import): http, https or ftp, its query included. */
export const URL_CHARS = 4096;
/** The PEM CA certificates an import's https source is checked against (--cacert). */
export const CACERT_CHARS = 256 * 1024;
export const PATH_CHARS = 4096;
export const HOST_CHARS = 255;
/** A node id (host:pid) in a path: at most the router's bound on a path parameter. */
export const NODE_ID_CHARS = 100;
/** A release version (X.Y.Z and a pre-release tag). */
export const VERSION_CHARS = 80;
/** The body of POST /api/v1/releases: an npm tarball, read whole (at most RELEASE_BYTES). */
export const RELEASE_TYPE = 'application/gzip';
/** A state or a kind word (PUBLISHED, TESTABLE, DISKIMAGE, transfer, ...). */
export const WORD_CHARS = 32;

export const DescriptionSchema = Type.String({
  maxLength: DESCRIPTION_CHARS,
  description: `at most ${DESCRIPTION_CHARS} characters`,
});
export const PathSchema = (description: string) =>
  Type.String({ minLength: 1, maxLength: PATH_CHARS, description });
export const UrlSchema = (description: string) =>
  Type.String({ minLength: 1, maxLength: URL_CHARS, description });
export const HostSchema = Type.String({ minLength: 1, maxLength: HOST_CHARS });
export const WordSchema = (description?: string) =>
  Type.String({ maxLength: WORD_CHARS, ...(description ? { description } : {}) });

/** A draft's bounds as a schema; its shape is checked by parseDraft. */
export const DraftSchema = Type.Object(
  {
    payload: Type.Object(
      {
        entries: Type.Optional(
          Type.Array(Type.Unknown(), { maxItems: DRAFT_ENTRIES, description: 'tree entries' }),
        ),
      },
      { additionalProperties: true },
    ),
    chunks: Type.Array(Type.Unknown(), {
      maxItems: DRAFT_CHUNKS,
      description: `[length] for a hole (at most ${DRAFT_HOLES}), [length, digest] for data`,
    }),
  },
  { additionalProperties: true, description: 'the draft manifest (docs/store-format.md §6)' },
);

/** Refuses a draft with more holes than DRAFT_HOLES (JSON Schema cannot count them). */
export function checkDraftHoles(draft: { chunks: readonly unknown[] }): void {
  let holes = 0;
  for (const c of draft.chunks) if (Array.isArray(c) && c.length === 1) holes++;
  if (holes > DRAFT_HOLES) {
    throw new IngotError('LIMIT_EXCEEDED', `draft.chunks has ${holes} holes; the limit is ${DRAFT_HOLES}`, {
      hint: 'a hole may be up to 16 MiB long: merge adjacent holes',
      details: { field: 'draft.chunks', holes, limit: DRAFT_HOLES },
    });
  }
}

const SIZE_KEYWORDS: Record<string, string> = {
  maxLength: 'characters',
  maxItems: 'items',
  maxProperties: 'properties',
};

/**
 * A schema refusal that is about size becomes LIMIT_EXCEEDED naming the field, its size and
 * the limit ("description is 10485760 characters; the limit is 4096"); undefined otherwise.
 */
export function limitRefusal(err: FastifyError, request: FastifyRequest): IngotError | undefined {
  const v = err.validation?.[0];
  const unit = v ? SIZE_KEYWORDS[v.keyword] : undefined;
  if (!v || !unit) return undefined;
  const limit = Number((v.params as { limit?: number }).limit);
  const context = err.validationContext ?? 'body';
  const path = v.instancePath.split('/').slice(1);
  const field = path.length > 0 ? path.join('.') : context;
  const value = path.reduce<unknown>(
    (at, key) => (at && typeof at === 'object' ? (at as Record<string, unknown>)[key] : undefined),
    (request as unknown as Record<string, unknown>)[context === 'querystring' ? 'query' : context],
  );
  const size = sizeOf(value);
  const is = size === undefined ? 'is larger than its limit' : `is ${size} ${unit}`;
  return new IngotError('LIMIT_EXCEEDED', `${field} ${is}; the limit is ${limit}`, {
    hint: 'see the limits in /openapi.json and docs/design.md',
    details: { field, ...(size === undefined ? {} : { size }), limit, unit },
  });
}

function sizeOf(value: unknown): number | undefined {
  if (typeof value === 'string') return value.length;
  if (Array.isArray(value)) return value.length;
  if (value && typeof value === 'object') return Object.keys(value).length;
  return undefined;
}

/** A body over its route's bodyLimit, named with both numbers where the length is known. */
export function bodyRefusal(request: FastifyRequest): IngotError {
  const limit = request.routeOptions.bodyLimit;
  const length = Number(request.headers['content-length']);
  const route = `${request.method} ${request.routeOptions.url ?? request.url}`;
  const is = Number.isFinite(length) && length > 0 ? `is ${length} bytes` : `is larger than that`;
  return new IngotError('PAYLOAD_TOO_LARGE', `the body of ${route} ${is}; the limit is ${limit} bytes`, {
    hint: 'see the limits in docs/design.md',
    details: { route, ...(Number.isFinite(length) ? { size: length } : {}), limit },
  });
}

/** A route schema for the OpenAPI document, its description saying the JSON body's limit. */
export function withBodyLimit<S extends { body?: unknown; description?: string }>(
  schema: S,
  bodyLimit: number | undefined,
): S {
  if (!schema?.body) return schema;
  const limit = bodyLimit ?? JSON_BODY_BYTES;
  const line = `The JSON body may be at most ${limit} bytes (${limit / 2 ** 20} MiB).`;
  return { ...schema, description: schema.description ? `${schema.description} ${line}` : line };
}
