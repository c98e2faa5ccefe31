import { Type } from 'typebox';
import type { ApiApp } from '../app.js';
import { BUNDLE_BODY_BYTES, PathSchema } from '../limits.js';
import { errorResponses, NameSchema } from '../schemas.js';

const Any = Type.Object({}, { additionalProperties: true });
const Document = Type.Object({
  document: Type.Object({
    body: Type.String({ maxLength: BUNDLE_BODY_BYTES }),
    signature: Type.String({ maxLength: 256 }),
  }),
});

/** The offline route: the CLI writes and reads the bundle files, the server signs and checks. */
export function bundleRoutes(app: ApiApp): void {
  const { bundles, bundleImport, bundleUploads } = app.deps;

  app.get(
    '/api/v1/inventory',
    {
      schema: {
        summary: 'What this server holds (image names and digests), for a minimal bundle made elsewhere',
        tags: ['bundles'],
        response: { 200: Any, ...errorResponses },
      },
    },
    async () => bundles.inventory(),
  );

  app.post(
    '/api/v1/bundles/plan',
    {
      bodyLimit: BUNDLE_BODY_BYTES,
      schema: {
        summary:
          'A signed bundle header for these images and the chunks to carry (minus a base or an inventory)',
        tags: ['bundles'],
        body: Type.Object({
          images: Type.Array(NameSchema, { minItems: 1, maxItems: 1000 }),
          base: Type.Optional(NameSchema),
          have: Type.Optional(Type.Unknown({ description: 'an inventory from `ingot inventory`' })),
        }),
        response: { 200: Any, ...errorResponses },
      },
    },
    async (request) => {
      const b = request.body;
      return bundles.plan(b.images, {
        ...(b.base ? { base: b.base } : {}),
        ...(b.have !== undefined ? { have: b.have } : {}),
      });
    },
  );

  app.post(
    '/api/v1/bundles/check',
    {
      bodyLimit: BUNDLE_BODY_BYTES,
      schema: {
        summary: 'Check a bundle header before importing: trusted creator, signature, digests, names',
        tags: ['bundles'],
        body: Document,
        response: { 200: Any, ...errorResponses },
      },
    },
    async (request) => bundles.check(request.body.document),
  );

  app.post(
    '/api/v1/bundles/uploads',
    {
      bodyLimit: BUNDLE_BODY_BYTES,
      schema: {
        summary: 'Check a bundle header and start an upload of its chunks, staged until the commit',
        description:
          'Answers the check of /api/v1/bundles/check and an upload id. Chunks sent with ' +
          '`?upload=ID` (POST /api/v1/chunks/missing, PUT /api/v1/chunks) are staged for it, not ' +
          'stored; the commit with that id moves them into the store if the bundle checks, else ' +
          'drops them. An upload idle for an hour, or one a restart interrupts, is dropped.',
        tags: ['bundles'],
        body: Document,
        response: { 200: Any, ...errorResponses },
      },
    },
    async (request) => bundleUploads.start(request.body.document),
  );

  app.delete(
    '/api/v1/bundles/uploads/:id',
    {
      schema: {
        summary: 'Abort a bundle upload: drop every chunk staged for it',
        tags: ['bundles'],
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        response: { 200: Type.Object({}), ...errorResponses },
      },
    },
    async (request) => {
      await bundleUploads.abort(request.params.id);
      return {};
    },
  );

  app.post(
    '/api/v1/bundles/commit',
    {
      schema: {
        summary: 'List the images of an imported bundle once all their chunks are stored (all or none)',
        description:
          'With `upload`, the staged chunks of that upload are checked (every chunk the images name ' +
          'is there, every chunk sent is named by one of them) and moved into the store first; a ' +
          'refusal drops them, so nothing is stored.',
        tags: ['bundles'],
        body: Type.Intersect([
          Document,
          Type.Object({ upload: Type.Optional(Type.String({ maxLength: 64 })) }),
        ]),
        response: { 200: Any, ...errorResponses },
      },
    },
    async (request) =>
      request.body.upload === undefined
        ? bundles.commit(request.body.document)
        : bundleUploads.commit(request.body.upload, request.body.document),
  );

  app.post(
    '/api/v1/bundles/import',
    {
      schema: {
        summary: "Start a job that imports a bundle file on the server's own host (read by the server)",
        description:
          'The server opens the file with its own permissions and checks its header (trusted creator, ' +
          'signature, names) before the job is queued; the job verifies the whole bundle, stages the chunks ' +
          'this server lacks, moves them into the store only if the bundle checks (else it stores nothing) ' +
          'and lists every image or none. The job result is {createdBy, images, chunks, ' +
          'stored, storedBytes}.',
        tags: ['bundles'],
        body: Type.Object({
          path: PathSchema('absolute path of the .ingot file or its .001 part'),
        }),
        response: { 202: Type.Ref('Job'), ...errorResponses },
      },
    },
    async (request, reply) => reply.status(202).send(await bundleImport.start(request.body.path)),
  );
}
