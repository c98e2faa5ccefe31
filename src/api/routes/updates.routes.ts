import { Type } from 'typebox';
import { IngotError } from '../../core/errors.js';
import { RELEASE_BYTES } from '../../jobs/release-package.js';
import type { ApiApp } from '../app.js';
import { RELEASE_TYPE, UrlSchema, VERSION_CHARS } from '../limits.js';
import { DigestSchema, errorResponses } from '../schemas.js';

const Version = Type.String({
  minLength: 5,
  maxLength: VERSION_CHARS,
  pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]+)?$',
  description: 'a release version, X.Y.Z',
});

/** The publisher's Ed25519 signature over `ingot-release-v1 <sha256>`: 64 bytes, base64. */
export const SignatureSchema = Type.String({
  minLength: 88,
  maxLength: 88,
  pattern: '^[A-Za-z0-9+/]{86}==$',
  description: "the publisher's Ed25519 signature over `ingot-release-v1 <sha256 hex>`, 64 bytes in base64",
});

const ReleaseSchema = Type.Object({
  version: Type.String(),
  sha256: Type.String({ description: 'SHA-256 of the tarball, given by the admin who added it' }),
  bytes: Type.Integer(),
  chunks: Type.Integer({ description: 'chunks of the tarball in the chunk store' }),
  dependencies: Type.Record(Type.String(), Type.String()),
  source: Type.String({ description: '`upload`, or the URL it was read from' }),
  addedAt: Type.String(),
  signer: Type.Union(
    [
      Type.Object({
        keyId: Type.String(),
        name: Type.String({ description: "the key's name when it signed" }),
      }),
      Type.Null(),
    ],
    { description: 'the trusted publisher key that signed it; null when kept on its SHA-256 alone' },
  ),
});

const Nullable = (t: ReturnType<typeof Type.String>) => Type.Union([t, Type.Null()]);

const PlanSchema = Type.Object({
  id: Type.Union([Type.Integer(), Type.Null()], { description: 'null for a dry run' }),
  version: Type.String(),
  sha256: Type.String(),
  leader: Type.String({ description: 'the leader that wrote the plan' }),
  state: Type.Union([
    Type.Literal('running'),
    Type.Literal('done'),
    Type.Literal('failed'),
    Type.Literal('dry-run'),
  ]),
  drainSeconds: Type.Number(),
  error: Nullable(Type.String()),
  createdAt: Type.String(),
  endedAt: Nullable(Type.String()),
  steps: Type.Array(
    Type.Object({
      seq: Type.Integer(),
      node: Type.String(),
      fromVersion: Type.String(),
      state: Type.String({ description: 'pending, draining, install, restarting, done or failed' }),
      error: Nullable(Type.String()),
      startedAt: Nullable(Type.String()),
      updatedAt: Type.String(),
      endedAt: Nullable(Type.String()),
    }),
  ),
});

/** Releases of Ingot kept for a roll, and the rolling self-update across this server's nodes. */
export function updateRoutes(app: ApiApp): void {
  const { releases, rolls } = app.deps;
  const tags = ['updates'];

  app.put(
    '/api/v1/releases',
    {
      bodyLimit: RELEASE_BYTES,
      schema: {
        summary: 'Keep a release of Ingot: the npm tarball as the body, checked against the SHA-256 given',
        description:
          'The tarball must match `sha256` and be an Ingot package (package.json named ingot, X.Y.Z, with ' +
          'bin/ingot.js and dist/); its chunks go into the chunk store. While the server trusts publisher keys ' +
          '(GET /api/v1/update/keys), `signature` must check against one of them over the SHA-256 of the bytes ' +
          'received (BAD_SIGNATURE otherwise); with none, a release is kept unsigned and a signature is refused. ' +
          'The same version again with the same bytes is no change; with other bytes, ALREADY_EXISTS.',
        tags,
        consumes: [RELEASE_TYPE],
        querystring: Type.Object({ sha256: DigestSchema, signature: Type.Optional(SignatureSchema) }),
        response: { 200: ReleaseSchema, ...errorResponses },
      },
    },
    async (request) => {
      // Any other body type fastify parses (JSON, text) is not a tarball.
      if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
        throw new IngotError(
          'UNSUPPORTED_MEDIA_TYPE',
          `a release is sent as ${RELEASE_TYPE}, the tarball's bytes`,
          {
            hint: 'ingot update add --file ingot-X.Y.Z.tgz --sha256 HEX',
          },
        );
      }
      return releases.add(request.body, request.query.sha256, request.query.signature);
    },
  );

  app.post(
    '/api/v1/releases/import',
    {
      schema: {
        summary: 'Keep a release of Ingot read by the server from a URL, checked against the SHA-256 given',
        tags,
        description:
          'Checked as PUT /api/v1/releases is; the signature is sent along or read by the server from ' +
          '`signatureUrl` (the 64 raw bytes or their base64, at most 1 KiB), not both.',
        body: Type.Object({
          url: UrlSchema('http://, https:// or ftp:// URL of the tarball'),
          sha256: DigestSchema,
          signature: Type.Optional(SignatureSchema),
          signatureUrl: Type.Optional(UrlSchema('http://, https:// or ftp:// URL of the signature file')),
        }),
        response: { 200: ReleaseSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { url, sha256, signature, signatureUrl } = request.body;
      return releases.addFromUrl(url, sha256, {
        ...(signature !== undefined ? { signature } : {}),
        ...(signatureUrl !== undefined ? { signatureUrl } : {}),
      });
    },
  );

  app.get(
    '/api/v1/releases',
    {
      schema: { summary: 'The releases kept for a roll', tags, response: { 200: Type.Array(ReleaseSchema) } },
    },
    async () => releases.list(),
  );

  app.get(
    '/api/v1/releases/:version',
    {
      schema: {
        summary: 'One kept release',
        tags,
        params: Type.Object({ version: Version }),
        response: { 200: ReleaseSchema, ...errorResponses },
      },
    },
    async (request) => releases.show(request.params.version),
  );

  app.post(
    '/api/v1/update/activate',
    {
      schema: {
        summary: 'Roll every serving node onto a kept release, one at a time, the leader last',
        description:
          'Writes a plan and a step per node (a dry run writes nothing and answers the plan). Each node in turn ' +
          'is drained, left `drainSeconds` for the balancer to stop sending, installs the release under ' +
          'INGOT_HOME/releases/VERSION and restarts on it; the next starts once it serves on the new version. ' +
          'A node that does not come up is restarted on its old release and the roll stops. One roll at a time.',
        tags,
        body: Type.Object({
          version: Version,
          dryRun: Type.Optional(Type.Boolean()),
          drainSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 3600 })),
        }),
        response: { 200: PlanSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { version, dryRun, drainSeconds } = request.body;
      return rolls.activate(version, {
        ...(dryRun !== undefined ? { dryRun } : {}),
        ...(drainSeconds !== undefined ? { drainSeconds } : {}),
      });
    },
  );

  app.get(
    '/api/v1/update/status',
    {
      schema: {
        summary: 'The latest roll and each of its steps, as recorded (null before the first)',
        tags,
        response: { 200: Type.Object({ roll: Type.Union([PlanSchema, Type.Null()]) }), ...errorResponses },
      },
    },
    async () => ({ roll: await rolls.latest() }),
  );
}
