import { Readable } from 'node:stream';
import { Agent, type Dispatcher, request } from 'undici';
import { errorFromBody, IngotError } from '../core/errors.js';

/**
 * JSON calls and streamed bodies over HTTP, with the far side's error bodies turned back
 * into IngotError so codes survive the hop: the CLI's way to its server, and a server's
 * way to its peers (then over a mutual-TLS dispatcher).
 */
export interface ApiClient {
  readonly baseUrl: string;
  json<T>(method: HttpMethod, path: string, body?: unknown): Promise<T>;
  /** Sends a binary body; returns the JSON answer. */
  upload<T>(path: string, body: AsyncIterable<Buffer>, contentType: string): Promise<T>;
  /** GETs a binary answer whole, with its headers (small bodies only: manifests). */
  bytes(path: string): Promise<{ body: Buffer; headers: Record<string, string | string[] | undefined> }>;
  /** POSTs JSON and returns the binary answer as a stream. */
  download(path: string, body: unknown): Promise<AsyncIterable<Buffer>>;
  close(): Promise<void>;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface ClientOptions {
  readonly token?: string | undefined;
  readonly dispatcher?: Dispatcher;
  /** Turns a connection failure into the error the caller should see. */
  readonly unreachable?: (base: string, err: unknown) => IngotError | Promise<IngotError>;
}

export function createHttpClient(baseUrl: string, opts: ClientOptions): ApiClient {
  const token = opts.token;
  const dispatcher = opts.dispatcher ?? new Agent({ connections: 16, bodyTimeout: 0, headersTimeout: 0 });
  const unreachableError = opts.unreachable ?? unreachable;
  const headers = (extra: Record<string, string>): Record<string, string> => ({
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    ...extra,
  });
  const base = baseUrl.replace(/\/+$/, '');

  async function send(method: HttpMethod, path: string, opts: Partial<Dispatcher.RequestOptions>) {
    try {
      return await request(`${base}${path}`, { method, dispatcher, ...opts } as Dispatcher.RequestOptions);
    } catch (err) {
      throw await unreachableError(base, err);
    }
  }

  return {
    baseUrl: base,
    async json<T>(method: HttpMethod, path: string, body?: unknown): Promise<T> {
      const res = await send(method, path, {
        headers: headers(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return (await readJson(res)) as T;
    },
    async upload<T>(path: string, body: AsyncIterable<Buffer>, contentType: string): Promise<T> {
      const res = await send('PUT', path, {
        headers: headers({ 'content-type': contentType }),
        body: body instanceof Readable ? body : Readable.from(body),
      });
      return (await readJson(res)) as T;
    },
    async bytes(path: string) {
      const res = await send('GET', path, { headers: headers({}) });
      if (res.statusCode >= 400) await readJson(res);
      return { body: Buffer.from(await res.body.arrayBuffer()), headers: res.headers };
    },
    async download(path: string, body: unknown): Promise<AsyncIterable<Buffer>> {
      const res = await send('POST', path, {
        headers: headers({ 'content-type': 'application/json' }),
        body: JSON.stringify(body),
      });
      if (res.statusCode >= 400) await readJson(res);
      return res.body as AsyncIterable<Buffer>;
    },
    // destroy, not close: a command that failed may leave a response nobody will read (a
    // deploy's next batch, already in flight), which close() would wait for forever, and
    // the process would end with code 0 and no message. A finished command has none left.
    close: () => dispatcher.destroy(),
  };
}

async function readJson(res: Dispatcher.ResponseData): Promise<unknown> {
  const text = await res.body.text();
  let parsed: unknown;
  try {
    parsed = text.length ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (res.statusCode >= 400) {
    throw errorFromBody(parsed, `the server answered HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
  }
  return parsed;
}

/** The CLI's error for a server that does not answer. */
export function unreachable(base: string, err: unknown): IngotError {
  const code = (err as { code?: string }).code ?? '';
  // A server on https closes a plain-http connection without a word.
  const closed = code === 'UND_ERR_SOCKET';
  const why = closed ? 'it closed the connection without an answer' : code || (err as Error).message;
  return new IngotError('UNAVAILABLE', `cannot reach the Ingot server at ${base} (${why})`, {
    hint:
      closed && base.startsWith('http:')
        ? `if it serves https (\`ingot serve --tls\`), use ${base.replace(/^http:/, 'https:')}`
        : 'start it with `ingot serve`, or point at another with --url URL / INGOT_SERVER',
    cause: err,
  });
}
