/**
 * Reading a file from an http, https or ftp URL, from an offset on: the download half of
 * `image import --url`. http and https go through undici (a proxy by CONNECT for https, by
 * absolute-form requests for http, as curl does), ftp through basic-ftp (passive mode,
 * anonymous unless the URL names a user). A resumed read asks for the rest only
 * (HTTP Range with If-Range on the validator seen first, FTP REST after comparing size and
 * modification time); a source that changed meanwhile is read again from the start, and
 * the answer says so (`offset` 0). Failures become IngotErrors that name the URL.
 */
import { PassThrough, type Readable } from 'node:stream';
import { Client as FtpClient } from 'basic-ftp';
import { Agent, type Dispatcher, interceptors, ProxyAgent, request } from 'undici';
import { IngotError } from '../core/errors.js';
import { batchReader } from '../store/read-batches.js';
import { redactProxy } from './proxy-env.js';
import { CERTIFICATE_ERRORS, EXPIRED_CERTIFICATE_ERRORS, tlsErrorCode } from './tls-errors.js';

export interface UrlAccess {
  /** The proxy to use (chooseProxy), or undefined for a direct connection. */
  readonly proxy?: string | undefined;
  /** PEM CA certificates an https source must check against instead of the system's. */
  readonly cacert?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface Resume {
  readonly offset: number;
  /** The source's validator when the first bytes were read (ETag, Last-Modified, FTP size+time). */
  readonly validator?: string | undefined;
}

export interface Download {
  /** Where `body` begins in the file: the offset asked for, or 0 when the source changed. */
  readonly offset: number;
  /** The whole file's length, when the source says it. */
  readonly total: number | undefined;
  readonly validator: string | undefined;
  /** The bytes, in batches of the pieces that arrived (READ_BATCH_BYTES or more, but at the end). */
  readonly body: AsyncIterable<readonly Buffer[]>;
  /** Ends the connection early (a failure elsewhere); harmless after the body ended. */
  close(): void;
}

export const URL_SCHEMES = ['http:', 'https:', 'ftp:'] as const;

/**
 * A body is read in batches of this many bytes: one wake of the reader per batch rather
 * than a promise and a 'readable' event for each 64 KiB socket read (read-batches.ts).
 */
const READ_BATCH_BYTES = 2 ** 20;

/** The URL parsed, or INVALID_ARGUMENT for one that is malformed or of another scheme. */
export function parseSourceUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new IngotError('INVALID_ARGUMENT', `${JSON.stringify(text)} is not a URL`, {
      hint: 'give an http://, https:// or ftp:// URL of the file to import',
    });
  }
  if (!(URL_SCHEMES as readonly string[]).includes(url.protocol)) {
    throw new IngotError('INVALID_ARGUMENT', `unsupported URL scheme ${url.protocol} in ${redactUrl(url)}`, {
      hint: 'imports read http://, https:// and ftp:// URLs',
      details: { url: redactUrl(url), scheme: url.protocol.replace(/:$/, '') },
    });
  }
  if (url.protocol === 'ftp:' && url.pathname.endsWith('/')) {
    throw new IngotError('INVALID_ARGUMENT', `${redactUrl(url)} names a directory, not a file`);
  }
  return url;
}

export function redactUrl(url: URL): string {
  if (!url.password) return url.toString();
  const u = new URL(url);
  u.password = '***';
  return u.toString();
}

export async function openDownload(url: URL, from: Resume, access: UrlAccess): Promise<Download> {
  if (url.protocol === 'ftp:') return openFtp(url, from, access);
  return openHttp(url, from, access);
}

/** A small text file read whole (a checksum list): at most `maxBytes`, else LIMIT_EXCEEDED. */
export async function readSmall(url: URL, access: UrlAccess, maxBytes: number): Promise<string> {
  return (await readSmallBytes(url, access, maxBytes)).toString('utf8');
}

/** A small file's bytes (a signature): at most `maxBytes`, else LIMIT_EXCEEDED. */
export async function readSmallBytes(url: URL, access: UrlAccess, maxBytes: number): Promise<Buffer> {
  const dl = await openDownload(url, { offset: 0 }, access);
  const parts: Uint8Array[] = [];
  let n = 0;
  try {
    for await (const p of flat(dl.body)) {
      n += p.length;
      if (n > maxBytes) {
        throw new IngotError('LIMIT_EXCEEDED', `${redactUrl(url)} is larger than ${maxBytes} bytes`, {
          details: { url: redactUrl(url), limit: maxBytes },
        });
      }
      parts.push(p);
    }
  } finally {
    dl.close();
  }
  return Buffer.concat(parts);
}

async function* flat(batches: AsyncIterable<readonly Buffer[]>): AsyncGenerator<Buffer> {
  for await (const batch of batches) yield* batch;
}

/** A stream's pieces in batches; a failure of the stream is thrown as it came. */
async function* batchesOf(stream: Readable): AsyncGenerator<Buffer[]> {
  const reader = batchReader(stream);
  try {
    for (;;) {
      const batch = await reader.read(READ_BATCH_BYTES);
      if (!batch) return;
      yield batch;
    }
  } finally {
    reader.close();
  }
}

// ---- http and https ----

function dispatcherFor(url: URL, access: UrlAccess): Dispatcher {
  const tls = access.cacert ? { ca: access.cacert } : undefined;
  if (access.proxy) {
    return new ProxyAgent({
      uri: access.proxy,
      // curl's way: a tunnel for https, the absolute-form request for plain http.
      proxyTunnel: url.protocol === 'https:',
      ...(tls ? { requestTls: tls } : {}),
    });
  }
  return new Agent(tls ? { connect: tls } : {});
}

async function openHttp(url: URL, from: Resume, access: UrlAccess): Promise<Download> {
  const dispatcher = dispatcherFor(url, access);
  const headers: Record<string, string> = { 'user-agent': 'ingot', 'accept-encoding': 'identity' };
  if (from.offset > 0) {
    headers.range = `bytes=${from.offset}-`;
    if (from.validator) headers['if-range'] = from.validator;
  }
  let res: Dispatcher.ResponseData<unknown>;
  try {
    res = await request(url, {
      dispatcher: dispatcher.compose(interceptors.redirect({ maxRedirections: 5 })),
      headers,
      ...(access.signal ? { signal: access.signal } : {}),
    });
  } catch (err) {
    await dispatcher.close().catch(() => {});
    throw connectError(url, access, err);
  }
  const close = () => {
    // Destroying emits an abort error on the body: nobody reads it any more.
    res.body.on('error', () => {});
    res.body.destroy();
    dispatcher.close().catch(() => {});
  };
  const status = res.statusCode;
  if (status !== 200 && status !== 206) {
    close();
    throw statusError(url, access, status);
  }
  const h = res.headers;
  const validator = validatorOf(h);
  if (status === 206) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(h['content-range'] ?? ''));
    if (!range || Number(range[1]) !== from.offset) {
      close();
      throw new IngotError('UNAVAILABLE', `${redactUrl(url)} answered a range other than the one asked`, {
        details: { url: redactUrl(url), asked: from.offset, contentRange: h['content-range'] },
      });
    }
    const total = range[3] === '*' ? undefined : Number(range[3]);
    return { offset: from.offset, total, validator, body: bodyOf(url, res.body, from.offset, total), close };
  }
  const length = h['content-length'] === undefined ? undefined : Number(h['content-length']);
  return { offset: 0, total: length, validator, body: bodyOf(url, res.body, 0, length), close };
}

/** A strong ETag if there is one, else Last-Modified: what If-Range compares. */
function validatorOf(h: Record<string, string | string[] | undefined>): string | undefined {
  const etag = typeof h.etag === 'string' ? h.etag : undefined;
  if (etag && !etag.startsWith('W/')) return etag;
  return typeof h['last-modified'] === 'string' ? h['last-modified'] : undefined;
}

/** The body; one that breaks off before the length announced is TRUNCATED (retried from what was stored). */
async function* bodyOf(
  url: URL,
  body: Readable,
  offset: number,
  total: number | undefined,
): AsyncGenerator<Buffer[]> {
  let at = offset;
  try {
    for await (const batch of batchesOf(body)) {
      for (const piece of batch) at += piece.length;
      yield batch;
    }
  } catch (err) {
    if (total !== undefined && at < total && !(err instanceof IngotError))
      throw truncated(url, at, total, err);
    throw droppedError(url, err);
  }
  if (total !== undefined && at < total) throw truncated(url, at, total);
}

export function truncated(url: URL, at: number, total: number, cause?: unknown): IngotError {
  return new IngotError('TRUNCATED', `${redactUrl(url)} ended at byte ${at} of the ${total} it announced`, {
    ...(cause ? { cause } : {}),
    details: { url: redactUrl(url), received: at, expected: total },
    hint: 'the source, a proxy or the network cut the transfer short; the job retries from what it stored',
  });
}

function statusError(url: URL, access: UrlAccess, status: number): IngotError {
  const via = access.proxy ? ` (through proxy ${redactProxy(access.proxy)})` : '';
  const details = {
    url: redactUrl(url),
    status,
    ...(access.proxy ? { proxy: redactProxy(access.proxy) } : {}),
  };
  if (status === 407) {
    return new IngotError(
      'SOURCE_REFUSED',
      `the proxy ${redactProxy(access.proxy)} asks for authentication (407)`,
      {
        details,
        hint: 'give the proxy user and password in its URL: http://user:password@proxy:3128',
      },
    );
  }
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
    return new IngotError('SOURCE_REFUSED', `GET ${redactUrl(url)}${via} answered ${status}`, {
      details,
      hint:
        status === 404
          ? 'check the URL: the server has no such file'
          : 'check the URL and that it may be read',
    });
  }
  return new IngotError('UNAVAILABLE', `GET ${redactUrl(url)}${via} answered ${status}`, { details });
}

function connectError(url: URL, access: UrlAccess, err: unknown): IngotError {
  if (err instanceof IngotError) return err;
  const code = tlsErrorCode(err);
  if (code && (CERTIFICATE_ERRORS.has(code) || EXPIRED_CERTIFICATE_ERRORS.has(code))) {
    return new IngotError('SOURCE_UNTRUSTED', `the TLS certificate of ${url.host} does not check (${code})`, {
      cause: err,
      details: { url: redactUrl(url), code },
      hint: access.cacert
        ? 'the certificate is not signed by the CA of --cacert: give the CA that signed it'
        : "give the CA that signed it with --cacert (the system's CAs do not know it)",
    });
  }
  const message = (err as Error)?.message ?? String(err);
  const refused = /Proxy response \((\d+)\)/.exec(message);
  if (refused) {
    const status = Number(refused[1]);
    return new IngotError(
      'SOURCE_REFUSED',
      `the proxy ${redactProxy(access.proxy)} refused to connect to ${url.host} (${status})`,
      {
        cause: err,
        details: { url: redactUrl(url), proxy: redactProxy(access.proxy), status },
        hint:
          status === 407
            ? 'give the proxy user and password in its URL: http://user:password@proxy:3128'
            : 'check that the proxy allows this host and port, or set NO_PROXY for it',
      },
    );
  }
  const target = access.proxy ? `the proxy ${redactProxy(access.proxy)}` : url.host;
  return new IngotError(
    'UNAVAILABLE',
    `cannot read ${redactUrl(url)}: ${describe(err)} (connecting to ${target})`,
    {
      cause: err,
      details: { url: redactUrl(url) },
    },
  );
}

function droppedError(url: URL, err: unknown): IngotError {
  if (err instanceof IngotError) return err;
  return new IngotError('UNAVAILABLE', `the download of ${redactUrl(url)} broke off: ${describe(err)}`, {
    cause: err,
    details: { url: redactUrl(url) },
  });
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.code ?? e.cause?.message ?? e.message ?? String(err);
}

// ---- ftp ----

/** basic-ftp connects directly: an ftp URL that a proxy would carry is refused, not sent around it. */
export function refuseFtpProxy(url: URL, proxy: string | undefined): void {
  if (url.protocol !== 'ftp:' || !proxy) return;
  throw new IngotError('INVALID_ARGUMENT', `ftp through a proxy (${redactProxy(proxy)}) is not supported`, {
    hint: 'import the file over http(s), or list the FTP host in NO_PROXY to connect directly',
  });
}

async function openFtp(url: URL, from: Resume, access: UrlAccess): Promise<Download> {
  refuseFtpProxy(url, access.proxy);
  const client = new FtpClient(60_000);
  const path = decodeURIComponent(url.pathname);
  const onAbort = () => client.close();
  access.signal?.addEventListener('abort', onAbort, { once: true });
  const close = () => {
    access.signal?.removeEventListener('abort', onAbort);
    client.close();
  };
  let total: number;
  let validator: string;
  try {
    await client.access({
      host: url.hostname,
      port: url.port ? Number(url.port) : 21,
      user: url.username ? decodeURIComponent(url.username) : 'anonymous',
      password: url.password ? decodeURIComponent(url.password) : 'anonymous@',
      secure: false,
    });
    total = await client.size(path);
    const modified = await client.lastMod(path).catch(() => undefined);
    validator = `${total}:${modified?.toISOString() ?? ''}`;
  } catch (err) {
    close();
    throw ftpError(url, err);
  }
  const offset = from.offset > 0 && from.validator === validator ? from.offset : 0;
  const pass = new PassThrough({ highWaterMark: 1024 * 1024 });
  const done = client.downloadTo(pass, path, offset).then(
    () => close(),
    (err: unknown) => {
      close();
      pass.destroy(ftpError(url, err));
    },
  );
  async function* body(): AsyncGenerator<Buffer[]> {
    try {
      yield* batchesOf(pass);
    } catch (err) {
      throw droppedError(url, err);
    }
    await done;
  }
  return {
    offset,
    total,
    validator,
    body: body(),
    close: () => {
      close();
      pass.destroy();
    },
  };
}

function ftpError(url: URL, err: unknown): IngotError {
  if (err instanceof IngotError) return err;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number' && code >= 500) {
    return new IngotError(
      'SOURCE_REFUSED',
      `${redactUrl(url)}: the FTP server answered ${(err as Error).message}`,
      {
        details: { url: redactUrl(url), status: code },
        hint: 'check the URL: the server has no such file, or may not give it',
      },
    );
  }
  return new IngotError('UNAVAILABLE', `cannot read ${redactUrl(url)}: ${describe(err)}`, {
    cause: err,
    details: { url: redactUrl(url) },
  });
}
