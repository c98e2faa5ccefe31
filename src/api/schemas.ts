import { Type } from 'typebox';
import { ERROR_CODES, IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import { MAX_REFERENCES } from '../store/frame-codec.js';

/** Schemas shared by several routes; each becomes a component of the OpenAPI document. */

export const DigestSchema = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256, lowercase hex' });
export const NameSchema = Type.String({ minLength: 1, maxLength: 64, description: 'see the naming rule' });
/** A name a list is filtered by: bounded like a name, checked (or matched) by the handler. */
export const NameFilterSchema = Type.String({ maxLength: 64 });

export const ErrorSchema = Type.Object(
  {
    code: Type.Union(Object.keys(ERROR_CODES).map((c) => Type.Literal(c))),
    message: Type.String(),
    hint: Type.Optional(Type.String()),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { $id: 'Error', description: 'Every error answer has this shape' },
);

export const errorResponses = {
  400: Type.Ref('Error'),
  401: Type.Ref('Error'),
  404: Type.Ref('Error'),
  409: Type.Ref('Error'),
} as const;

export const DigestList = Type.Object({
  digests: Type.Array(DigestSchema, { maxItems: 4096 }),
});

/** Per digest of a data request, 1 to 3 chunks to send it as a delta against, or null (whole). */
export const ReferenceLists = Type.Array(
  Type.Union([Type.Array(DigestSchema, { minItems: 1, maxItems: MAX_REFERENCES }), Type.Null()]),
  { maxItems: 4096, description: 'docs/store-format.md §12.4' },
);

/** A data request's references, checked against its digests; undefined without them. */
export function referencesOf(
  digests: readonly string[],
  references: readonly (readonly string[] | null)[] | undefined,
): (Digest[] | undefined)[] | undefined {
  if (!references) return undefined;
  if (references.length !== digests.length) {
    throw new IngotError('INVALID_ARGUMENT', `${references.length} references for ${digests.length} chunks`);
  }
  return references.map((refs) => (refs ?? undefined) as Digest[] | undefined);
}

export const ImageSchema = Type.Object(
  {
    name: Type.String(),
    digest: DigestSchema,
    kind: Type.Union([Type.Literal('tree'), Type.Literal('file')]),
    imageType: Type.String(),
    state: Type.String(),
    parentName: Type.Union([Type.String(), Type.Null()]),
    parentDigest: Type.Union([DigestSchema, Type.Null()]),
    origin: Type.String({ description: 'cluster name of the server that made and signed it' }),
    originKeyId: Type.Union([Type.String(), Type.Null()], {
      description:
        "SHA-256 (hex) of the origin's signing key: which server the origin is, since names may repeat; null when not known",
    }),
    size: Type.Integer({ description: 'logical bytes of the payload' }),
    storedBytes: Type.Integer({
      description: 'bytes its chunks take in the store (shared chunks count fully)',
    }),
    chunkCount: Type.Integer(),
    fileCount: Type.Integer(),
    signature: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String(),
    receivedFrom: Type.Union([Type.String(), Type.Null()], {
      description: 'the peer a replica arrived from; null for images made here',
    }),
    private: Type.Boolean({ description: 'never offered to peers' }),
    uploaded: Type.Boolean({ description: 'sent here by a follower; its state is set here' }),
  },
  { $id: 'Image' },
);

export const WorkingCopySchema = Type.Object(
  {
    id: Type.Integer(),
    imageName: Type.String(),
    host: Type.String(),
    path: Type.String({ description: 'absolute, normalised, no trailing slash' }),
    createdAt: Type.String(),
  },
  { description: 'an image deployed at a path on a host' },
);

export const JobSchema = Type.Object(
  {
    id: Type.Integer(),
    kind: Type.String(),
    state: Type.String(),
    progressDone: Type.Integer(),
    progressTotal: Type.Integer(),
    attempts: Type.Integer(),
    maxAttempts: Type.Integer(),
    error: Type.Union([Type.String(), Type.Null()]),
    result: Type.Unknown(),
    payload: Type.Unknown(),
    createdAt: Type.String(),
    updatedAt: Type.String(),
  },
  { $id: 'Job', additionalProperties: true },
);
