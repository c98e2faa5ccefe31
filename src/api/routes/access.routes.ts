import { Type } from 'typebox';
import { MAX_AUDIT_LIMIT } from '../../access/index.js';
import { parseLifetime, ROLES } from '../../core/roles.js';
import type { ApiApp } from '../app.js';
import { errorResponses, NameSchema } from '../schemas.js';

const Nullable = (t: ReturnType<typeof Type.String>) => Type.Union([t, Type.Null()]);
const When = Nullable(Type.String({ description: 'ISO 8601 UTC' }));
const RoleSchema = Type.Union([Type.Literal(ROLES[0]), Type.Literal(ROLES[1]), Type.Literal(ROLES[2])], {
  description: 'reader: reads; operator: also moves, adds and changes images; admin: everything',
});
const TokenSchema = Type.Object({
  name: Type.String(),
  role: RoleSchema,
  createdAt: When,
  expiresAt: When,
  lastUsedAt: Type.Union([Type.String(), Type.Null()], { description: 'to the minute' }),
  revokedAt: When,
  status: Type.Union([Type.Literal('active'), Type.Literal('expired'), Type.Literal('revoked')]),
  file: Type.Boolean({ description: "the token of the server's $INGOT_HOME/token file" }),
});
const AuditSchema = Type.Object({
  id: Type.Integer(),
  at: Type.String(),
  token: Type.Union([Type.String(), Type.Null()], { description: "the token's name; null without one" }),
  method: Type.String(),
  route: Type.String(),
  target: Type.Union([Type.String(), Type.Null()]),
  remote: Type.String(),
  status: Type.Integer(),
  code: Type.Union([Type.String(), Type.Null()]),
});
const refusals = { ...errorResponses, 403: Type.Ref('Error') } as const;

export function accessRoutes(app: ApiApp): void {
  const { tokens, audit } = app.deps;
  const tags = ['access'];

  app.post(
    '/api/v1/tokens',
    {
      schema: {
        summary: 'Create a named token with a role; the answer holds its secret, shown this once',
        tags,
        body: Type.Object({
          name: NameSchema,
          role: RoleSchema,
          expires: Type.Optional(
            Type.String({ maxLength: 16, description: 'lifetime: a number and m, h, d or w (30d)' }),
          ),
        }),
        response: { 201: Type.Object({ token: TokenSchema, secret: Type.String() }), ...refusals },
      },
    },
    async (request, reply) => {
      const { name, role, expires } = request.body;
      const created = await tokens.create(
        name,
        role,
        expires === undefined ? undefined : parseLifetime(expires),
      );
      return reply.status(201).send(created);
    },
  );

  app.get(
    '/api/v1/tokens',
    {
      schema: {
        summary: 'Every token: name, role, created, expires, last used, revoked (never a secret)',
        tags,
        response: { 200: Type.Object({ tokens: Type.Array(TokenSchema) }), ...refusals },
      },
    },
    async () => ({ tokens: await tokens.list() }),
  );

  app.delete(
    '/api/v1/tokens/:name',
    {
      schema: {
        summary: 'Revoke a token: refused from now on, listed as revoked',
        tags,
        params: Type.Object({ name: NameSchema }),
        response: { 200: TokenSchema, ...refusals },
      },
    },
    async (request) => tokens.revoke(request.params.name),
  );

  app.get(
    '/api/v1/audit',
    {
      schema: {
        summary: 'The audit record, newest first: every change, and every request refused for permission',
        tags,
        querystring: Type.Object({
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_AUDIT_LIMIT })),
        }),
        response: { 200: Type.Object({ entries: Type.Array(AuditSchema) }), ...refusals },
      },
    },
    async (request) => ({ entries: await audit.list(request.query.limit ?? 50) }),
  );
}
