import { Type } from 'typebox';
import { parseInterval } from '../../core/schedule.js';
import type { ApiApp } from '../app.js';
import { DescriptionSchema, WordSchema } from '../limits.js';
import { errorResponses, NameSchema } from '../schemas.js';

const Any = Type.Object({}, { additionalProperties: true });
const TemplateParams = Type.Object({ name: NameSchema });

/** Templates an upstream publishes, and the followings, syncs and uploads of a follower. */
export function templateRoutes(app: ApiApp): void {
  const { templates, follows, peering } = app.deps;

  app.post(
    '/api/v1/templates',
    {
      schema: {
        summary: 'Create a template',
        tags: ['templates'],
        body: Type.Object({ name: NameSchema, description: Type.Optional(DescriptionSchema) }),
        response: { 201: Any, ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await templates.create(request.body.name, request.body.description)),
  );

  app.get(
    '/api/v1/templates',
    {
      schema: {
        summary: 'Templates, with their latest version',
        tags: ['templates'],
        response: { 200: Type.Object({ templates: Type.Array(Any) }), ...errorResponses },
      },
    },
    async () => ({ templates: await templates.list() }),
  );

  app.get(
    '/api/v1/templates/:name',
    {
      schema: {
        summary: 'One template: members and the latest version',
        tags: ['templates'],
        params: TemplateParams,
        response: { 200: Any, ...errorResponses },
      },
    },
    async (request) => templates.show(request.params.name),
  );

  app.delete(
    '/api/v1/templates/:name',
    {
      schema: {
        summary: 'Delete a template (its images stay)',
        tags: ['templates'],
        params: TemplateParams,
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await templates.delete(request.params.name);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/templates/:name/images',
    {
      schema: {
        summary: 'Add an image to a template (followers get it at the next published version)',
        tags: ['templates'],
        params: TemplateParams,
        body: Type.Object({ image: NameSchema }),
        response: { 200: Any, ...errorResponses },
      },
    },
    async (request) => templates.add(request.params.name, request.body.image),
  );

  app.delete(
    '/api/v1/templates/:name/images/:image',
    {
      schema: {
        summary: 'Take an image out of a template (followers keep what they hold)',
        tags: ['templates'],
        params: Type.Object({ name: NameSchema, image: NameSchema }),
        response: { 200: Any, ...errorResponses },
      },
    },
    async (request) => templates.remove(request.params.name, request.params.image),
  );

  app.post(
    '/api/v1/templates/:name/publish',
    {
      schema: {
        summary: 'Publish the members as a new signed version; every member must be PUBLISHED',
        tags: ['templates'],
        params: TemplateParams,
        response: { 200: Any, ...errorResponses },
      },
    },
    async (request) => templates.publish(request.params.name),
  );

  app.post(
    '/api/v1/followings',
    {
      schema: {
        summary: 'Follow a template of an upstream (a registered peer) on a schedule',
        tags: ['sites'],
        body: Type.Object({
          upstream: NameSchema,
          template: NameSchema,
          every: WordSchema('e.g. 15m'),
          window: Type.Optional(
            Type.Union([WordSchema(), Type.Null()], { description: 'HH:MM-HH:MM, local time' }),
          ),
          maxRate: Type.Optional(Type.Union([Type.Integer({ minimum: 1024 }), Type.Null()])),
        }),
        response: { 200: Any, ...errorResponses },
      },
    },
    async (request) => {
      const b = request.body;
      return follows.follow({
        upstream: b.upstream,
        template: b.template,
        everySeconds: parseInterval(b.every),
        window: b.window ?? null,
        maxRate: b.maxRate ?? null,
      });
    },
  );

  app.get(
    '/api/v1/followings',
    {
      schema: {
        summary: 'What this server follows, and how its last sync went',
        tags: ['sites'],
        response: { 200: Type.Object({ followings: Type.Array(Any) }), ...errorResponses },
      },
    },
    async () => ({ followings: await follows.list() }),
  );

  app.delete(
    '/api/v1/followings/:upstream/:template',
    {
      schema: {
        summary: 'Stop following (nothing held is removed)',
        tags: ['sites'],
        params: Type.Object({ upstream: NameSchema, template: NameSchema }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await follows.unfollow(request.params.upstream, request.params.template);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/sync',
    {
      schema: {
        summary: 'Sync followed templates now; a dry run says what would move and how many bytes',
        tags: ['sites'],
        body: Type.Object({
          upstream: Type.Optional(NameSchema),
          now: Type.Optional(Type.Boolean({ description: 'ignore the window' })),
          dryRun: Type.Optional(Type.Boolean()),
        }),
        response: { 200: Any, ...errorResponses },
      },
    },
    async (request) => follows.syncNow(request.body),
  );

  app.post(
    '/api/v1/images/:name/push',
    {
      schema: {
        summary: 'Upload one of this server’s images to a peer that takes uploads from it (a transfer job)',
        tags: ['sites'],
        params: Type.Object({ name: NameSchema }),
        body: Type.Object({ server: NameSchema }),
        response: { 200: Any, ...errorResponses },
      },
    },
    async (request) => {
      const r = await peering.push(request.body.server, request.params.name);
      return { job: r.job.id, existing: r.existing };
    },
  );
}
