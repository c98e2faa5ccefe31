import type { Role } from '../core/roles.js';

/** The least a route needs: a role, or `none` for the console's static files (never a path under /api/). */
export type LeastRole = Role | 'none';

/**
 * The one table of who may do what: the least role each route needs. A read (GET) needs
 * reader unless listed; every other route must be listed, or the server does not start
 * (`app.ts` checks each route as it is added), so no change is open by oversight. Every
 * DELETE is admin's but the abort of one's own bundle upload; a route that makes the
 * server read a path of its own host (ingest, bundle import) is admin's, since it reads with
 * the server's permissions (which include the token file).
 */
const ROUTE_ROLES: Readonly<Record<string, LeastRole>> = {
  // The web console: its files need no token (it asks for one); what it shows comes
  // through the routes below and the rest of the API, each with its own role.
  'GET /*': 'none',
  'HEAD /*': 'none',
  'GET /api/v1/events': 'reader',
  'GET /api/v1/whoami': 'reader',
  'GET /api/v1/stats': 'reader',
  'GET /api/v1/stats/growth': 'reader',
  // Access
  'GET /api/v1/tokens': 'admin',
  'POST /api/v1/tokens': 'admin',
  'DELETE /api/v1/tokens/:name': 'admin',
  'GET /api/v1/audit': 'admin',
  // Images
  'POST /api/v1/images': 'operator',
  'POST /api/v1/images/preflight': 'operator',
  'POST /api/v1/images/ingest': 'admin',
  // The server reads a URL, not a path of its own host: an operator's.
  'POST /api/v1/images/import': 'operator',
  'PUT /api/v1/images/:name/state': 'operator',
  'DELETE /api/v1/images/:name': 'admin',
  'POST /api/v1/images/:name/verify': 'operator',
  'POST /api/v1/images/:name/working-copies': 'operator',
  // Forgetting a working copy record leaves its files; a deploy's record is the operator's.
  'DELETE /api/v1/images/:name/working-copies': 'operator',
  'DELETE /api/v1/working-copies/:id': 'operator',
  'POST /api/v1/images/:name/push': 'operator',
  // Chunks: uploads and deploys
  'POST /api/v1/chunks/missing': 'operator',
  'PUT /api/v1/chunks': 'operator',
  'POST /api/v1/chunks/signatures': 'operator',
  'POST /api/v1/chunks/fetch': 'operator',
  // Catalog
  'POST /api/v1/imagetypes': 'operator',
  'DELETE /api/v1/imagetypes/:name': 'admin',
  'POST /api/v1/series': 'operator',
  'POST /api/v1/series/:name/images': 'operator',
  'DELETE /api/v1/series/:name/images/:image': 'admin',
  'DELETE /api/v1/series/:name': 'admin',
  // Jobs
  'POST /api/v1/gc': 'admin',
  // Nodes: a drain takes a node out of the balancer's rotation
  'POST /api/v1/nodes/:id/drain': 'admin',
  'POST /api/v1/nodes/:id/undrain': 'admin',
  // Releases and rolls: a release is trusted on the admin's word (its token and the SHA-256)
  'PUT /api/v1/releases': 'admin',
  'POST /api/v1/releases/import': 'admin',
  'POST /api/v1/update/activate': 'admin',
  // The publisher keys a release must be signed by: who may publish this server's software.
  'POST /api/v1/update/keys': 'admin',
  'DELETE /api/v1/update/keys/:key': 'admin',
  // Peers, hosts, transfers
  'POST /api/v1/peers': 'admin',
  'PATCH /api/v1/peers/:name': 'admin',
  'DELETE /api/v1/peers/:name': 'admin',
  'POST /api/v1/peers/:name/instantiate': 'operator',
  'POST /api/v1/peers/:name/uninstantiate': 'operator',
  'POST /api/v1/peers/:name/pull': 'operator',
  'POST /api/v1/hosts': 'admin',
  'DELETE /api/v1/hosts/:kind/:name': 'admin',
  // Templates and sync
  'POST /api/v1/templates': 'operator',
  'DELETE /api/v1/templates/:name': 'admin',
  'POST /api/v1/templates/:name/images': 'operator',
  'DELETE /api/v1/templates/:name/images/:image': 'admin',
  'POST /api/v1/templates/:name/publish': 'operator',
  'POST /api/v1/followings': 'operator',
  'DELETE /api/v1/followings/:upstream/:template': 'admin',
  'POST /api/v1/sync': 'operator',
  // Bundles
  'POST /api/v1/bundles/plan': 'operator',
  'POST /api/v1/bundles/check': 'operator',
  'POST /api/v1/bundles/uploads': 'operator',
  'DELETE /api/v1/bundles/uploads/:id': 'operator',
  'POST /api/v1/bundles/commit': 'operator',
  'POST /api/v1/bundles/import': 'admin',
  // Snapshots: the server writes its keys and token (sealed) to a path of its host.
  'POST /api/v1/snapshots': 'admin',
};

/** The least role for `method` on the route pattern `url`; undefined for a change not listed. */
export function leastRole(method: string, url: string): LeastRole | undefined {
  const listed = ROUTE_ROLES[`${method} ${url}`];
  if (listed) return listed;
  return method === 'GET' || method === 'HEAD' ? 'reader' : undefined;
}

/** Every listed route, for the docs and the check that the table names only real routes. */
export function listedRoutes(): readonly string[] {
  return Object.keys(ROUTE_ROLES);
}
