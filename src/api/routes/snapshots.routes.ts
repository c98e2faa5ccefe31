import { Type } from 'typebox';
import type { ApiApp } from '../app.js';
import { PathSchema } from '../limits.js';
import { errorResponses, NameSchema } from '../schemas.js';

/** `export snapshot`: the server writes a snapshot of itself to a directory of its host. */
export function snapshotRoutes(app: ApiApp): void {
  const { snapshots } = app.deps;
  app.post(
    '/api/v1/snapshots',
    {
      schema: {
        summary: "Start a job that writes a snapshot of this server to a directory of the server's host",
        description:
          'The snapshot holds what rebuilds this server elsewhere (`ingot import snapshot`): config.json, the ' +
          'keys and the token sealed with the passphrase read from `passphraseFile`, a consistent copy of the ' +
          'catalog (peers, templates, followings, tokens), the files of `include`, and with `images` (true: ' +
          'all, or a list) those images as a bundle; a signed manifest lists the SHA-256 of every file. The ' +
          'job result is {to, files, bytes, images, rows}.',
        tags: ['system'],
        body: Type.Object({
          to: PathSchema('absolute path of a new or empty directory'),
          images: Type.Optional(
            Type.Union([Type.Literal(true), Type.Array(NameSchema, { maxItems: 100_000 })]),
          ),
          include: Type.Optional(Type.Array(PathSchema('an absolute path to carry'), { maxItems: 100 })),
          passphraseFile: PathSchema('absolute path of a file whose first line is the passphrase'),
          withIngot: Type.Optional(
            Type.Boolean({
              description: 'carry this installation of Ingot and import.mjs, an offline installer',
            }),
          ),
        }),
        response: { 202: Type.Ref('Job'), ...errorResponses },
      },
    },
    async (request, reply) => reply.status(202).send(await snapshots.start(request.body)),
  );
}
