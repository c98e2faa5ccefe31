import { Type } from 'typebox';
import { PUBLISHER_KEY_CHARS } from '../../core/release-signature.js';
import type { ApiApp } from '../app.js';
import { errorResponses, NameSchema } from '../schemas.js';

const KeySchema = Type.Object({
  keyId: Type.String({ description: "SHA-256 (hex) of the key's SubjectPublicKeyInfo DER" }),
  name: Type.String(),
  publicKeyPem: Type.String({ description: 'the Ed25519 public key, SPKI PEM' }),
  addedAt: Type.String(),
});

/** The publisher keys releases must be signed by, the server's keyring (every node reads the same). */
export function publisherKeyRoutes(app: ApiApp): void {
  const keys = app.deps.releases.publishers;
  const tags = ['updates'];

  app.get(
    '/api/v1/update/keys',
    {
      schema: {
        summary: 'The publisher keys a release must be signed by (none: releases are kept on their SHA-256)',
        tags,
        response: { 200: Type.Array(KeySchema) },
      },
    },
    async () => keys.list(),
  );

  app.post(
    '/api/v1/update/keys',
    {
      schema: {
        summary: 'Trust a publisher key: from then on every release must carry a signature by a trusted key',
        description:
          'An Ed25519 public key in PEM (`openssl pkey -in publisher.key -pubout`); a private key, another ' +
          'algorithm or a PEM that does not parse is INVALID_ARGUMENT. The same key or name again is ' +
          'ALREADY_EXISTS. The name defaults to `key-` and the first 16 hex digits of the key id.',
        tags,
        body: Type.Object({
          publicKeyPem: Type.String({ minLength: 1, maxLength: PUBLISHER_KEY_CHARS }),
          name: Type.Optional(NameSchema),
        }),
        response: { 200: KeySchema, ...errorResponses },
      },
    },
    async (request) => keys.add(request.body.publicKeyPem, request.body.name),
  );

  app.delete(
    '/api/v1/update/keys/:key',
    {
      schema: {
        summary: 'Stop trusting a publisher key, by name or key id; releases it signed stay kept',
        tags,
        params: Type.Object({ key: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: { 200: KeySchema, ...errorResponses },
      },
    },
    async (request) => keys.remove(request.params.key),
  );
}
