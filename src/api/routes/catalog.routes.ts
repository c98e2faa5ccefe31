import { Type } from 'typebox';
import { checkName } from '../../core/names.js';
import type { ApiApp } from '../app.js';
import { DescriptionSchema, WordSchema } from '../limits.js';
import { errorResponses, NameSchema } from '../schemas.js';

const ImageTypeSchema = Type.Object({
  name: Type.String(),
  baseType: Type.String(),
  description: Type.String(),
  builtin: Type.Boolean(),
  createdAt: Type.String(),
});

const SeriesSchema = Type.Object({
  name: Type.String(),
  description: Type.String(),
  createdAt: Type.String(),
  imageCount: Type.Optional(Type.Integer()),
  images: Type.Optional(Type.Array(Type.String(), { description: 'oldest first, newest last' })),
});

/** Image types and series: the catalog's classification of images. */
export function catalogRoutes(app: ApiApp): void {
  const { catalog } = app.deps;
  const seriesView = async (name: string) => {
    const d = await catalog.showSeries(name);
    return { ...d.series, images: d.images.map((i) => i.name) };
  };
  const tags = ['catalog'];
  const NameParams = Type.Object({ name: NameSchema });

  app.get(
    '/api/v1/imagetypes',
    {
      schema: {
        summary: 'List image types',
        tags,
        response: { 200: Type.Object({ imageTypes: Type.Array(ImageTypeSchema) }) },
      },
    },
    async () => ({ imageTypes: await catalog.listImageTypes() }),
  );
  app.post(
    '/api/v1/imagetypes',
    {
      schema: {
        summary: 'Add an image type on a base type (SOFTWARE, OSIMAGE, DISKIMAGE, ISO, ARCHIVE)',
        tags,
        body: Type.Object({
          name: NameSchema,
          baseType: WordSchema('SOFTWARE, OSIMAGE, DISKIMAGE, ISO or ARCHIVE'),
          description: Type.Optional(DescriptionSchema),
        }),
        response: { 201: ImageTypeSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const b = request.body;
      return reply.status(201).send(await catalog.createImageType(b.name, b.baseType, b.description));
    },
  );
  app.delete(
    '/api/v1/imagetypes/:name',
    {
      schema: {
        summary: 'Delete an unused image type',
        tags,
        params: NameParams,
        response: { ...errorResponses },
      },
    },
    async (request) => {
      await catalog.deleteImageType(checkName('image type', request.params.name));
      return { deleted: request.params.name };
    },
  );

  app.get(
    '/api/v1/series',
    {
      schema: {
        summary: 'List series',
        tags,
        response: { 200: Type.Object({ series: Type.Array(SeriesSchema) }) },
      },
    },
    async () => ({ series: await catalog.listSeries() }),
  );
  app.post(
    '/api/v1/series',
    {
      schema: {
        summary: 'Add a series',
        tags,
        body: Type.Object({ name: NameSchema, description: Type.Optional(DescriptionSchema) }),
        response: { 201: SeriesSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await catalog.createSeries(request.body.name, request.body.description)),
  );
  app.get(
    '/api/v1/series/:name',
    {
      schema: {
        summary: 'A series with its images, oldest first',
        tags,
        params: NameParams,
        response: { 200: SeriesSchema, ...errorResponses },
      },
    },
    async (request) => seriesView(checkName('series', request.params.name)),
  );
  app.post(
    '/api/v1/series/:name/images',
    {
      schema: {
        summary: 'Append an image to a series (it becomes the newest)',
        tags,
        params: NameParams,
        body: Type.Object({ image: NameSchema }),
        response: { 200: SeriesSchema, ...errorResponses },
      },
    },
    async (request) => {
      const series = checkName('series', request.params.name);
      await catalog.addToSeries(series, checkName('image', request.body.image));
      return seriesView(series);
    },
  );
  app.delete(
    '/api/v1/series/:name/images/:image',
    {
      schema: {
        summary: 'Take an image out of a series',
        tags,
        params: Type.Object({ name: NameSchema, image: NameSchema }),
        response: { 200: SeriesSchema, ...errorResponses },
      },
    },
    async (request) => {
      const series = checkName('series', request.params.name);
      await catalog.removeFromSeries(series, checkName('image', request.params.image));
      return seriesView(series);
    },
  );
  app.delete(
    '/api/v1/series/:name',
    {
      schema: {
        summary: 'Delete a series (its images stay)',
        tags,
        params: NameParams,
        response: { ...errorResponses },
      },
    },
    async (request) => {
      await catalog.deleteSeries(checkName('series', request.params.name));
      return { deleted: request.params.name };
    },
  );
}
