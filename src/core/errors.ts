/**
 * The one error type of Ingot. Every failure a user or a peer can cause has a stable code
 * from this closed set; the HTTP status and the CLI exit code are derived here and nowhere
 * else, so the API, the CLI and the docs cannot drift apart.
 */

export const ERROR_CODES = {
  INVALID_ARGUMENT: { http: 400, exit: 2, summary: 'a parameter is missing or malformed' },
  INVALID_NAME: { http: 400, exit: 2, summary: 'a name breaks the naming rule' },
  INVALID_MANIFEST: { http: 400, exit: 65, summary: 'a manifest is malformed, unsafe or not canonical' },
  PATH_NOT_FOUND: { http: 400, exit: 66, summary: 'a local path does not exist or cannot be read' },
  UNSAFE_PATH: { http: 400, exit: 65, summary: 'a path would escape its root' },
  DIGEST_MISMATCH: { http: 422, exit: 65, summary: 'bytes do not match their digest' },
  TRUNCATED: { http: 400, exit: 65, summary: 'a stream ended before its end marker' },
  BAD_ARCHIVE: {
    http: 422,
    exit: 65,
    summary:
      'an archive to unpack is corrupt, truncated, unsafe (a path out of its root, a device node) or past a size bound',
  },
  BAD_SIGNATURE: {
    http: 422,
    exit: 65,
    summary:
      "a manifest's signature does not check against its origin's key, or a release's against the trusted publisher keys",
  },
  UNKNOWN_ORIGIN: {
    http: 403,
    exit: 77,
    summary:
      "an image's origin is neither this server nor a registered peer, and no trusted document carries its key",
  },
  MISSING_CHUNKS: { http: 409, exit: 65, summary: 'a manifest names chunks the store does not hold' },
  UNAUTHENTICATED: { http: 401, exit: 77, summary: 'no valid token was presented' },
  FORBIDDEN: { http: 403, exit: 77, summary: 'the caller may not do this' },
  NOT_FOUND: { http: 404, exit: 3, summary: 'the named object does not exist' },
  ALREADY_EXISTS: { http: 409, exit: 4, summary: 'an object with that name already exists' },
  CONFLICT: { http: 409, exit: 4, summary: 'the request conflicts with the current state' },
  AMBIGUOUS_NAME: {
    http: 409,
    exit: 4,
    summary: 'a name is already used here by another server; give it a local one (--as)',
  },
  IDENTITY_MISMATCH: {
    http: 409,
    exit: 78,
    summary: "a node's cluster name or keys are not those of the server its catalog belongs to",
  },
  READ_ONLY: { http: 409, exit: 4, summary: 'the object cannot be changed' },
  CORRUPT: { http: 500, exit: 74, summary: 'stored data failed verification' },
  UNAVAILABLE: { http: 503, exit: 69, summary: 'the server cannot be reached or is not ready' },
  PAYLOAD_TOO_LARGE: { http: 413, exit: 65, summary: 'a request body is larger than allowed' },
  LIMIT_EXCEEDED: {
    http: 413,
    exit: 65,
    summary: 'a field, a list or a count is larger than its documented limit',
  },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, exit: 65, summary: 'a request body has the wrong Content-Type' },
  DISK_FULL: {
    http: 507,
    exit: 73,
    summary: 'the file system has too little free space for the write',
  },
  PEER_UNTRUSTED: {
    http: 502,
    exit: 77,
    summary: "a peer's TLS certificate is not the registered one, or it does not trust ours",
  },
  CERTIFICATE_NOT_VALID: {
    http: 502,
    exit: 77,
    summary: "a TLS certificate between peers is outside its validity dates by one side's clock",
  },
  SERVER_UNTRUSTED: {
    http: 502,
    exit: 77,
    summary:
      "the server's TLS certificate is not the pinned one (server.json, --pin) or does not check against --cacert",
  },
  SOURCE_REFUSED: {
    http: 502,
    exit: 69,
    summary: 'a download URL (or its proxy) answered with a refusal: not found, forbidden, no such file',
  },
  SOURCE_UNTRUSTED: {
    http: 502,
    exit: 77,
    summary: "a download URL's TLS certificate does not check against --cacert or the system's CAs",
  },
  INTERNAL: { http: 500, exit: 70, summary: 'an unexpected failure; see the server log' },
  UNSUPPORTED_RUNTIME: {
    http: 500,
    exit: 78,
    summary: 'started by a Node.js other than the one Ingot runs on',
  },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class IngotError extends Error {
  readonly code: ErrorCode;
  /** What the user can do about it, shown by the CLI under the message. */
  readonly hint: string | undefined;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { hint?: string; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'IngotError';
    this.code = code;
    this.hint = opts.hint;
    this.details = opts.details;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].http;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }

  toJSON(): ErrorBody {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint ? { hint: this.hint } : {}),
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  hint?: string;
  details?: Record<string, unknown>;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** Rebuilds an error that crossed the wire; unknown codes become INTERNAL. */
export function errorFromBody(body: unknown, fallback: string): IngotError {
  if (body && typeof body === 'object') {
    const b = body as Partial<ErrorBody>;
    if (isErrorCode(b.code) && typeof b.message === 'string') {
      return new IngotError(b.code, b.message, {
        ...(b.hint ? { hint: b.hint } : {}),
        ...(b.details ? { details: b.details } : {}),
      });
    }
  }
  return new IngotError('INTERNAL', fallback);
}

/** Exit code of a successful run and of a usage error caught before any request. */
export const EXIT_OK = 0;
export const EXIT_USAGE = 2;
