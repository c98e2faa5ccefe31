import { Type } from 'typebox';
import { checkName } from '../../core/names.js';
import type { ApiApp } from '../app.js';
import { errorResponses, NameSchema, WorkingCopySchema } from '../schemas.js';

/**
 * Working copies: the deploys recorded with host and path. Forgetting one leaves its files
 * where they are; an image with none recorded can be deleted without `force`.
 */
export function workingCopyRoutes(app: ApiApp): void {
  const { catalog } = app.deps;
  const tags = ['images'];
  const Answer = Type.Object({ workingCopy: WorkingCopySchema });

  app.get(
    '/api/v1/working-copies',
    {
      schema: {
        summary: 'Working copies, by host and path; optionally of one image or on one host',
        tags,
        querystring: Type.Object({
          image: Type.Optional(NameSchema),
          host: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
        }),
        response: { 200: Type.Object({ workingCopies: Type.Array(WorkingCopySchema) }), ...errorResponses },
      },
    },
    async (request) => {
      const { image, host } = request.query;
      return {
        workingCopies: await catalog.listWorkingCopies({
          ...(image === undefined ? {} : { image: checkName('image', image) }),
          ...(host === undefined ? {} : { host }),
        }),
      };
    },
  );

  app.delete(
    '/api/v1/working-copies/:id',
    {
      schema: {
        summary: 'Forget a working copy by its id (its files stay)',
        tags,
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        response: { 200: Answer, ...errorResponses },
      },
    },
    async (request) => ({ workingCopy: await catalog.unregisterWorkingCopy({ id: request.params.id }) }),
  );

  app.delete(
    '/api/v1/images/:name/working-copies',
    {
      schema: {
        summary: "Forget the image's working copy at a host and path (its files stay)",
        tags,
        params: Type.Object({ name: NameSchema }),
        querystring: Type.Object({
          host: Type.String({ minLength: 1, maxLength: 255 }),
          path: Type.String({ minLength: 1, maxLength: 4096 }),
        }),
        response: { 200: Answer, ...errorResponses },
      },
    },
    async (request) => ({
      workingCopy: await catalog.unregisterWorkingCopy({
        ...request.query,
        image: checkName('image', request.params.name),
      }),
    }),
  );
}
