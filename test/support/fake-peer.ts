/**
 * A peer under the test's control: its own TLS certificate and signing key, registered on
 * a real server like any other, so a test can send that server exactly the bytes it wants
 * over the real mutual-TLS peer API (tampered manifests, bad chunks, cut streams).
 */
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { Agent, type Dispatcher, request } from 'undici';
import type { Digest } from '../../src/core/manifest.js';
import { signatureMessage } from '../../src/core/signatures.js';
import { createSelfSignedCertificate } from '../../src/federation/certificate.js';

export interface FakePeer {
  readonly name: string;
  readonly keyPem: string;
  readonly certPem: string;
  readonly serverData: Record<string, unknown>;
  sign(digest: Digest): string;
  /** A mutual-TLS request to `baseUrl` (a server's peer API) as this peer. */
  call(
    baseUrl: string,
    serverCertPem: string,
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: Record<string, unknown> }>;
  agent(serverCertPem: string): Agent;
}

export function fakePeer(name: string, dates: { notBefore?: Date; notAfter?: Date } = {}): FakePeer {
  const tls = createSelfSignedCertificate({ commonName: name, ...dates });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const signing: KeyObject = privateKey;
  const agents = new Map<string, Agent>();
  const agent = (serverCertPem: string) => {
    let a = agents.get(serverCertPem);
    if (!a) {
      a = new Agent({
        connect: {
          key: tls.keyPem,
          cert: tls.certPem,
          ca: [serverCertPem],
          checkServerIdentity: () => undefined,
        },
      });
      agents.set(serverCertPem, a);
    }
    return a;
  };
  return {
    name,
    keyPem: tls.keyPem,
    certPem: tls.certPem,
    serverData: {
      format: 'ingot-serverdata',
      version: 1,
      name,
      endpoint: 'https://127.0.0.1:9',
      certificate: tls.certPem,
      signingKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      exportedAt: new Date().toISOString(),
    },
    sign: (digest) => sign(null, signatureMessage(digest), signing).toString('base64'),
    agent,
    async call(baseUrl, serverCertPem, method, path, body) {
      const isBuffer = Buffer.isBuffer(body);
      const res = await request(`${baseUrl}${path}`, {
        method,
        dispatcher: agent(serverCertPem),
        headers: {
          'content-type': isBuffer ? 'application/vnd.ingot.chunks' : 'application/json',
        },
        ...(body === undefined ? {} : { body: isBuffer ? body : JSON.stringify(body) }),
      } as unknown as Dispatcher.RequestOptions);
      const text = await res.body.text();
      return { status: res.statusCode, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    },
  };
}
