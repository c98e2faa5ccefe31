import type { Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
} from 'fastify';
import { IngotError } from '../core/errors.js';
import type { LocalSideDeps } from '../federation/local-sides.js';
import type { PeerService } from '../federation/peer.service.js';
import type { PeerTransfers } from '../federation/peer-transfers.js';
import type { ReplicationService } from '../federation/replication.service.js';
import type { TemplateService } from '../federation/template.service.js';
import type { TlsIdentity } from '../federation/tls-identity.js';
import type { TransferGrants } from '../federation/transfer-grants.js';
import type { PeerRecord } from '../federation/types.js';
import { CHUNK_STREAM_TYPE } from '../transfer/ports.js';
import type { RateLimits } from '../transfer/rate-limit.js';
import { installErrorHandler } from './error-handler.js';
import { PARAM_BYTES, PEER_BODY_BYTES } from './limits.js';
import type { Metrics } from './metrics.js';
import { RequestLog } from './request-log.js';
import { peerRoutes } from './routes/peer.routes.js';

/**
 * The peer API: the only door other servers use. Mutual TLS with the pinned certificates
 * of registered peers as the only CAs, then the certificate's fingerprint names the peer.
 * Changing the set of peers swaps the TLS context for new handshakes and cuts the live
 * connections of a peer that was unregistered.
 */
export interface PeerApiDeps {
  readonly clusterName: string;
  readonly version: string;
  readonly tls: TlsIdentity;
  readonly peers: PeerService;
  readonly replication: ReplicationService;
  readonly templates: TemplateService;
  readonly local: LocalSideDeps;
  readonly metrics: Metrics;
  /** The same per-peer caps the dialling side uses, so a cap holds whoever dials. */
  readonly limits: RateLimits;
  /** Which chunks each peer may read or write: those of the images in transfers with it. */
  readonly grants: TransferGrants;
  /** The record of each transfer a peer runs with this server, as seen from here. */
  readonly transfers: PeerTransfers;
}

export type PeerApp = FastifyInstance<
  HttpsServer,
  RawRequestDefaultExpression<HttpsServer>,
  RawReplyDefaultExpression<HttpsServer>,
  FastifyBaseLogger,
  TypeBoxTypeProvider
> & { deps: PeerApiDeps };

declare module 'fastify' {
  interface FastifyRequest {
    peer?: PeerRecord;
  }
}

export interface PeerApi {
  readonly app: PeerApp;
  /** Re-reads the registered peers into the TLS context. */
  refreshTrust(): Promise<void>;
  /** Destroys every live connection made with this certificate. */
  cut(fingerprint: string): void;
}

/** Once a minute is enough for "last contact"; every request would be a write. */
const TOUCH_EVERY_MS = 60_000;

export async function buildPeerApi(
  deps: PeerApiDeps,
  opts: { logger: FastifyBaseLogger | false },
): Promise<PeerApi> {
  const trust = async () => {
    const certs = (await deps.peers.list()).map((p) => p.certPem);
    // An empty list would mean "the default CAs"; our own certificate admits nobody else.
    return {
      key: deps.tls.keyPem,
      cert: deps.tls.certPem,
      ca: certs.length > 0 ? certs : [deps.tls.certPem],
    };
  };
  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    bodyLimit: PEER_BODY_BYTES,
    routerOptions: { maxParamLength: PARAM_BYTES },
    // One line per request, at a level by what it did.
    logController: new RequestLog(),
    https: { ...(await trust()), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as PeerApp;
  app.decorate('deps', deps);
  installErrorHandler(app as unknown as FastifyInstance);
  app.addContentTypeParser(CHUNK_STREAM_TYPE, (_request, payload, done) => done(null, payload));

  // A refused handshake never becomes a request: without this line the refusing side
  // would show nothing of why a peer cannot reach it (an unknown or a skewed certificate).
  app.server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    if (!opts.logger) return;
    const reason = String(socket.authorizationError ?? err.code ?? err.message);
    const cert = socket.getPeerCertificate?.();
    const dates = cert?.valid_from ? { validFrom: cert.valid_from, validTo: cert.valid_to } : {};
    opts.logger.warn(
      { remote: socket.remoteAddress, tls: reason, fingerprint: cert?.fingerprint256, ...dates },
      `refused a peer's TLS handshake from ${socket.remoteAddress}: ${reason}`,
    );
  });

  const sockets = new Map<string, Set<TLSSocket>>();
  app.server.on('secureConnection', (socket: TLSSocket) => {
    const fp = socket.getPeerCertificate()?.fingerprint256;
    if (!fp) return;
    const set = sockets.get(fp) ?? new Set<TLSSocket>();
    sockets.set(fp, set);
    set.add(socket);
    socket.once('close', () => set.delete(socket));
  });

  const touched = new Map<string, number>();
  app.addHook('onRequest', async (request) => {
    request.peer = await identify(deps, request);
    const last = touched.get(request.peer.name) ?? 0;
    if (Date.now() - last > TOUCH_EVERY_MS) {
      touched.set(request.peer.name, Date.now());
      await deps.peers.touch(request.peer.name);
    }
  });
  peerRoutes(app);
  await app.ready();
  return {
    app,
    async refreshTrust() {
      app.server.setSecureContext(await trust());
    },
    cut(fingerprint) {
      for (const s of sockets.get(fingerprint) ?? []) s.destroy();
      sockets.delete(fingerprint);
    },
  };
}

async function identify(deps: PeerApiDeps, request: FastifyRequest): Promise<PeerRecord> {
  const socket = request.raw.socket as TLSSocket;
  const fp = socket.authorized ? socket.getPeerCertificate()?.fingerprint256 : undefined;
  const peer = fp ? await deps.peers.byFingerprint(fp) : undefined;
  if (!peer) {
    // Unregistered since the handshake: its connection goes too.
    socket.destroy();
    throw new IngotError('FORBIDDEN', 'this certificate does not belong to a registered peer');
  }
  return peer;
}
