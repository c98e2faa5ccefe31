import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { IngotError } from '../core/errors.js';

/** Where a shared store lives on an S3-compatible object store (`--store s3://...`). */
export interface S3Location {
  readonly bucket: string;
  /** Key prefix, without a trailing slash; may be empty. */
  readonly prefix: string;
  readonly endpoint: string | undefined;
  readonly region: string;
}

/** An object's key relative to the prefix, and when the object store last wrote it. */
export interface ListedObject {
  readonly key: string;
  readonly writtenMs: number;
}

/**
 * One bucket under one key prefix, the few S3 calls the store makes (s3-segments.ts,
 * s3-manifests.ts), with keys relative to the prefix (paths.ts has them). Credentials come
 * from the SDK's usual chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...).
 */
export class S3Bucket {
  private constructor(
    private readonly client: S3Client,
    readonly where: S3Location,
  ) {}

  /**
   * Checks at once that the bucket answers to these credentials, so a server with a wrong
   * `--store` stops at start, having written nothing: UNAVAILABLE, saying which of
   * endpoint, bucket or credentials is wrong.
   */
  static async open(where: S3Location): Promise<S3Bucket> {
    const client = new S3Client({
      region: where.region,
      // A wrong endpoint fails in seconds, not after the SDK's long default backoff.
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 5_000 },
      // Every segment record carries its CRC and digest, checked on read; the SDK's own
      // CRC32 of each 4 MiB body would be hashing on the event loop for nothing.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...(where.endpoint ? { endpoint: where.endpoint, forcePathStyle: true } : {}),
    });
    try {
      await client.send(new HeadBucketCommand({ Bucket: where.bucket }));
    } catch (err) {
      client.destroy();
      throw openError(where, err);
    }
    return new S3Bucket(client, where);
  }

  async put(key: string, body: Buffer): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.where.bucket,
        Key: this.full(key),
        Body: body,
        ContentLength: body.length,
      }),
    );
  }

  /** The object's bytes (`range`: first and last offset, inclusive); undefined when absent. */
  async get(key: string, range?: readonly [number, number]): Promise<Uint8Array | undefined> {
    try {
      const r = await this.client.send(
        new GetObjectCommand({
          Bucket: this.where.bucket,
          Key: this.full(key),
          ...(range ? { Range: `bytes=${range[0]}-${range[1]}` } : {}),
        }),
      );
      return (await r.Body?.transformToByteArray()) ?? new Uint8Array();
    } catch (err) {
      if (nameOf(err) === 'InvalidRange') return new Uint8Array();
      if (nameOf(err) === 'NoSuchKey') return undefined;
      throw err;
    }
  }

  async has(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.where.bucket, Key: this.full(key) }));
      return true;
    } catch (err) {
      if (nameOf(err) === 'NotFound' || statusOf(err) === 404) return false;
      throw err;
    }
  }

  /** Removes an object; one already gone counts as success (S3 says so too). */
  async remove(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.where.bucket, Key: this.full(key) }));
  }

  /** Every object whose key starts with `under`, a page (1000 keys by default) at a time. */
  async *list(under: string, pageSize?: number): AsyncGenerator<ListedObject> {
    const prefix = this.full(under);
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.where.bucket,
          Prefix: prefix,
          ContinuationToken: token,
          MaxKeys: pageSize,
        }),
      );
      for (const o of page.Contents ?? []) {
        if (!o.Key) continue;
        yield { key: o.Key.slice(prefix.length - under.length), writtenMs: o.LastModified?.getTime() ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  close(): void {
    this.client.destroy();
  }

  /** `s3://bucket/prefix` and the endpoint, for messages. */
  get name(): string {
    const at = this.where.endpoint ? ` at ${this.where.endpoint}` : '';
    return `s3://${this.where.bucket}/${this.where.prefix}${at}`;
  }

  private full(key: string): string {
    return this.where.prefix ? `${this.where.prefix}/${key}` : key;
  }
}

function openError(where: S3Location, err: unknown): IngotError {
  const bucket = where.bucket;
  const endpoint = where.endpoint ?? `AWS S3 (${where.region})`;
  const status = statusOf(err);
  if (status === 404 || nameOf(err) === 'NotFound' || nameOf(err) === 'NoSuchBucket') {
    return new IngotError('UNAVAILABLE', `bucket ${bucket} does not exist at ${endpoint}`, {
      hint: 'create the bucket first; Ingot never creates one',
      details: { bucket, endpoint, reason: 'no-such-bucket' },
    });
  }
  if (status === 401 || status === 403 || nameOf(err) === 'CredentialsProviderError') {
    return new IngotError('UNAVAILABLE', `bucket ${bucket} at ${endpoint} refused access: ${reason(err)}`, {
      hint: 'check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the profile) and the bucket policy',
      details: { bucket, endpoint, reason: 'access-denied' },
    });
  }
  return new IngotError('UNAVAILABLE', `cannot reach bucket ${bucket} at ${endpoint}: ${reason(err)}`, {
    hint: 'check the endpoint (?endpoint=) and the network',
    details: { bucket, endpoint, reason: 'unreachable' },
  });
}

function nameOf(err: unknown): string | undefined {
  return err instanceof S3ServiceException ? err.name : (err as { name?: string })?.name;
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

function reason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  const text = err.message && err.message !== 'UnknownError' ? err.message : err.name;
  return code && !text.includes(code) ? `${text} (${code})` : text;
}
