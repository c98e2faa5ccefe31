import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { IngotError } from '../core/errors.js';
import { segmentKey } from './paths.js';
import type { SegmentBlobs } from './segment-blobs.js';

/**
 * Segments as objects of an S3-compatible bucket, under `prefix/` with the keys of
 * paths.ts: one PutObject per segment (a batch, ~4 MiB, not a 64 KiB chunk: a request
 * costs milliseconds, so an object per chunk would cost a request per chunk both ways), and
 * one ranged GET per run of records read together. Objects are written once under ids no
 * other node uses; a PUT is atomic, so readers see all of a segment or nothing.
 * Credentials come from the SDK's usual chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...).
 */
export interface S3Location {
  readonly bucket: string;
  readonly prefix: string;
  readonly endpoint: string | undefined;
  readonly region: string;
}

export class S3Segments implements SegmentBlobs {
  private constructor(
    private readonly client: S3Client,
    private readonly where: S3Location,
  ) {}

  /** Checks the bucket answers (UNAVAILABLE, saying why, if not). */
  static async open(where: S3Location): Promise<S3Segments> {
    const client = new S3Client({
      region: where.region,
      ...(where.endpoint ? { endpoint: where.endpoint, forcePathStyle: true } : {}),
    });
    try {
      await client.send(new HeadBucketCommand({ Bucket: where.bucket }));
    } catch (err) {
      client.destroy();
      throw new IngotError('UNAVAILABLE', `cannot reach bucket ${where.bucket}: ${reason(err)}`, {
        hint: 'check the bucket, the endpoint and the AWS_* credentials',
      });
    }
    return new S3Segments(client, where);
  }

  async write(id: number, parts: readonly Buffer[]): Promise<void> {
    const body = Buffer.concat(parts as Buffer[]);
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.where.bucket,
        Key: this.key(id),
        Body: body,
        ContentLength: body.length,
      }),
    );
  }

  async read(id: number, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    const range = `bytes=${offset}-${offset + length - 1}`;
    let bytes: Uint8Array;
    try {
      const r = await this.client.send(
        new GetObjectCommand({ Bucket: this.where.bucket, Key: this.key(id), Range: range }),
      );
      bytes = (await r.Body?.transformToByteArray()) ?? new Uint8Array();
    } catch (err) {
      if (nameOf(err) === 'InvalidRange') return Buffer.alloc(0);
      if (nameOf(err) !== 'NoSuchKey') throw err;
      throw new IngotError('NOT_FOUND', `segment ${id} is not in bucket ${this.where.bucket}`, {
        details: { segment: id },
      });
    }
    const n = Math.min(bytes.length, length);
    if (!into) return Buffer.from(bytes.buffer, bytes.byteOffset, n);
    into.set(bytes.subarray(0, n));
    return into.subarray(0, n);
  }

  async remove(id: number): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.where.bucket, Key: this.key(id) }));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private key(id: number): string {
    return this.where.prefix ? `${this.where.prefix}/${segmentKey(id)}` : segmentKey(id);
  }
}

function nameOf(err: unknown): string | undefined {
  return err instanceof S3ServiceException ? err.name : (err as { name?: string })?.name;
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message || err.name : String(err);
}
