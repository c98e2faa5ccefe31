import { Type } from 'typebox';
import { checkName } from '../../core/names.js';
import { parseImageState } from '../../core/states.js';
import { redactUrl } from '../../transfer/url-download.js';
import type { ApiApp } from '../app.js';
import {
  CACERT_CHARS,
  checkDraftHoles,
  DRAFT_BODY_BYTES,
  DraftSchema,
  HostSchema,
  PathSchema,
  UrlSchema,
  WordSchema,
} from '../limits.js';
import { errorResponses, NameFilterSchema, NameSchema, WorkingCopySchema } from '../schemas.js';
import { shownJob } from './jobs.routes.js';

const NameParams = Type.Object({ name: NameSchema });

/** What an image is committed with besides its payload: the same on every route that makes one. */
const CommitFields = {
  name: NameSchema,
  type: Type.Optional(NameSchema),
  series: Type.Optional(NameSchema),
  from: Type.Optional(NameSchema),
  state: Type.Optional(WordSchema()),
  private: Type.Optional(Type.Boolean({ description: 'never offered to peers' })),
};
const KindSchema = Type.Union([Type.Literal('tree'), Type.Literal('file')], {
  description: 'tree: a directory; file: one regular file',
});
const SourceSchema = Type.Object({ host: HostSchema, path: PathSchema('where it was read') });

export function imageRoutes(app: ApiApp): void {
  const { images, catalog, jobs, metrics, ingest, urlImport } = app.deps;

  app.get(
    '/api/v1/images',
    {
      schema: {
        summary: 'List images, optionally by type, series, state or a part of the name; a page of them',
        description:
          'Without `limit`, every match. With it, at most `limit` after the first `offset`; `total` says how ' +
          'many match in all.',
        tags: ['images'],
        querystring: Type.Object({
          q: Type.Optional(
            Type.String({ maxLength: 64, description: 'only names that contain this, ignoring case' }),
          ),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000, default: 0 })),
          type: Type.Optional(NameFilterSchema),
          series: Type.Optional(NameFilterSchema),
          state: Type.Optional(WordSchema()),
          receivedFrom: Type.Optional(
            Type.String({ maxLength: 64, description: 'only replicas that arrived from this peer' }),
          ),
        }),
        response: {
          200: Type.Object({
            images: Type.Array(Type.Ref('Image')),
            total: Type.Integer({ description: 'how many match, on every page' }),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const q = request.query;
      const filter = {
        ...(q.type ? { type: q.type } : {}),
        ...(q.series ? { series: q.series } : {}),
        ...(q.state ? { state: parseImageState(q.state) } : {}),
        ...(q.receivedFrom ? { receivedFrom: q.receivedFrom } : {}),
        ...(q.q ? { nameContains: q.q } : {}),
      };
      if (q.limit !== undefined) return catalog.pageImages(filter, { limit: q.limit, offset: q.offset ?? 0 });
      const images = await catalog.listImages(filter);
      return { images, total: images.length };
    },
  );

  app.post(
    '/api/v1/images',
    {
      bodyLimit: DRAFT_BODY_BYTES,
      schema: {
        summary: 'Commit an image: check the draft manifest, require every chunk, sign, list',
        tags: ['images'],
        body: Type.Object({
          ...CommitFields,
          source: Type.Optional(SourceSchema),
          draft: DraftSchema,
        }),
        response: { 201: Type.Ref('Image'), ...errorResponses },
      },
    },
    async (request, reply) => {
      checkDraftHoles(request.body.draft);
      const image = await images.commit(request.body);
      metrics.imagesCommitted.inc();
      request.log.info({ image: image.name, digest: image.digest }, 'image committed');
      return reply.status(201).send(image);
    },
  );

  app.post(
    '/api/v1/images/preflight',
    {
      schema: {
        summary: 'Check what a commit would refuse, before a byte of the payload is read or sent',
        description:
          'Name free and valid, state, parent (`from`), type against the payload kind, series: each ' +
          'refusal is the one the commit would give. Answers the type and series the image will get ' +
          '(those of `from` unless given). Nothing is changed.',
        tags: ['images'],
        body: Type.Object({ ...CommitFields, kind: KindSchema, source: Type.Optional(SourceSchema) }),
        response: {
          200: Type.Object({ imageType: Type.String(), series: Type.Optional(Type.String()) }),
          ...errorResponses,
        },
      },
    },
    (request) => images.preflight(request.body),
  );

  app.post(
    '/api/v1/images/ingest',
    {
      schema: {
        summary:
          "Start a job that ingests a path on the server's own host: read once, chunked, hashed, stored, then committed",
        description:
          'The server reads the path with its own permissions. Name, path, type, parent and series are checked ' +
          'before the job is queued; the image is listed only when the job has stored every chunk. ' +
          'The job result is {image, upload, warnings}.',
        tags: ['images'],
        body: Type.Object({
          ...CommitFields,
          path: PathSchema('absolute path on the server host'),
          kind: KindSchema,
        }),
        response: { 202: Type.Ref('Job'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const job = await ingest.start(request.body);
      request.log.info(
        { image: request.body.name, path: request.body.path, job: job.id },
        'local ingest queued',
      );
      return reply.status(202).send(job);
    },
  );

  app.post(
    '/api/v1/images/import',
    {
      schema: {
        summary: 'Start a job that downloads a file image from an http, https or ftp URL, then commits it',
        description:
          'The server downloads the URL itself, through the proxy given or the one its environment names ' +
          '(HTTPS_PROXY, HTTP_PROXY, NO_PROXY, read as curl does), chunking and storing as it reads. A killed ' +
          'server or a dropped connection resumes from the last stored stretch (HTTP Range with If-Range, FTP ' +
          'REST). The image is listed only when the whole file matched the SHA-256 asked for (sha256, or the ' +
          "line for the URL's file name in the sha256sum list at sha256Url); one of them is required unless " +
          'noChecksum. Name, type, series and parent are checked before the job is queued. The job result is ' +
          '{image, upload, sha256, checked, proxy, resumedAt, seconds, bytesPerSecond, unpacked, warnings}. An archive ' +
          'that cannot be unpacked safely (a path out of its root, a device node, past a size bound, cut) fails ' +
          'the job with BAD_ARCHIVE and lists nothing.',
        tags: ['images'],
        body: Type.Object({
          ...CommitFields,
          url: UrlSchema('http://, https:// or ftp:// URL of the file'),
          sha256: Type.Optional(Type.String({ minLength: 64, maxLength: 64, description: 'SHA-256, hex' })),
          sha256Url: Type.Optional(UrlSchema('a sha256sum list that names the file')),
          noChecksum: Type.Optional(Type.Boolean({ description: 'import without a checksum (a warning)' })),
          proxy: Type.Optional(UrlSchema('http://host:port of a proxy; default: the server environment')),
          unpack: Type.Optional(
            Type.Array(Type.Union([Type.Literal('zip'), Type.Literal('iso')]), {
              minItems: 1,
              maxItems: 2,
              uniqueItems: true,
              description:
                '["zip","iso"]: a tree image of the ISO the zip holds; ["zip"]: a file image of that ISO; ["iso"]: a tree image of the ISO. The SHA-256 is of the download',
            }),
          ),
          cacert: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: CACERT_CHARS,
              description: 'PEM CA certificates for https',
            }),
          ),
        }),
        response: { 202: Type.Ref('Job'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const job = await urlImport.start(request.body);
      request.log.info(
        { image: request.body.name, url: redactUrl(new URL(request.body.url)), job: job.id },
        'url import queued',
      );
      return reply.status(202).send(shownJob(job));
    },
  );

  app.get(
    '/api/v1/images/:name',
    {
      schema: {
        summary: 'One image with its lineage and series',
        tags: ['images'],
        params: NameParams,
        response: {
          200: Type.Object({
            image: Type.Ref('Image'),
            ancestors: Type.Array(Type.String()),
            descendants: Type.Array(Type.String()),
            series: Type.Array(Type.String()),
            workingCopies: Type.Array(WorkingCopySchema, { description: 'where it is deployed' }),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const name = checkName('image', request.params.name);
      const image = await catalog.getImage(name);
      const lineage = await catalog.lineage(name);
      return {
        image,
        ancestors: lineage.ancestors.map((i) => i.name),
        descendants: lineage.descendants.map((i) => i.name),
        series: await catalog.seriesOfImage(name),
        workingCopies: await catalog.listWorkingCopies({ image: name }),
      };
    },
  );

  app.get(
    '/api/v1/images/:name/manifest',
    {
      schema: {
        summary: 'The signed manifest, canonical bytes; digest and signature in headers',
        tags: ['images'],
        params: NameParams,
        response: { ...errorResponses },
      },
    },
    async (request, reply) => {
      const { image, bytes } = await images.manifestBytes(checkName('image', request.params.name));
      return reply
        .header('x-ingot-digest', image.digest)
        .header('x-ingot-signature', image.signature ?? '')
        .header('x-ingot-origin', image.origin)
        .header('x-ingot-origin-key', image.originKeyId ?? '')
        .type('application/json')
        .send(bytes);
    },
  );

  app.put(
    '/api/v1/images/:name/state',
    {
      schema: {
        summary: 'Set the state: PUBLISHED, RESTRICTED or TESTABLE',
        tags: ['images'],
        params: NameParams,
        body: Type.Object({ state: WordSchema('PUBLISHED, RESTRICTED or TESTABLE') }),
        response: { 200: Type.Ref('Image'), ...errorResponses },
      },
    },
    async (request) =>
      catalog.setState(checkName('image', request.params.name), parseImageState(request.body.state)),
  );

  app.delete(
    '/api/v1/images/:name',
    {
      schema: {
        summary: 'Delete an image from the catalog; its chunks go at the next gc',
        tags: ['images'],
        params: NameParams,
        querystring: Type.Object({ force: Type.Optional(Type.Boolean()) }),
        response: { 200: Type.Object({ deleted: Type.String() }), ...errorResponses },
      },
    },
    async (request) => {
      const name = checkName('image', request.params.name);
      await catalog.deleteImage(name, { force: request.query.force === true });
      return { deleted: name };
    },
  );

  app.post(
    '/api/v1/images/:name/verify',
    {
      schema: {
        summary: 'Start a job that reads and re-hashes every chunk of the image',
        tags: ['images'],
        params: NameParams,
        response: { 202: Type.Ref('Job'), ...errorResponses },
      },
    },
    async (request, reply) => {
      const image = await catalog.getImage(checkName('image', request.params.name));
      const job = await jobs.enqueue('verify', { image: image.name }, { maxAttempts: 1 });
      app.deps.wakeJobs();
      return reply.status(202).send(job);
    },
  );

  app.post(
    '/api/v1/images/:name/working-copies',
    {
      schema: {
        summary: 'Record a working copy deployed from this image (so images made from it get it as parent)',
        tags: ['images'],
        params: NameParams,
        body: Type.Object({ host: HostSchema, path: PathSchema('where the copy is') }),
        response: {
          201: Type.Object({ image: Type.String(), host: Type.String(), path: Type.String() }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const name = checkName('image', request.params.name);
      await catalog.registerWorkingCopy(name, request.body.host, request.body.path);
      return reply.status(201).send({ image: name, ...request.body });
    },
  );
}
