/**
 * A throwaway S3 for the tests that need one: `moto_server` on loopback at a free port,
 * stopped after. Where moto is absent the tests fail, never skip (scripts/test.sh installs
 * it with pip).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from './ingot.js';

export interface RunningMoto {
  readonly endpoint: string;
  /** AWS_* variables a client (or `ingot serve`) talks to this moto with. */
  readonly credentials: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

/**
 * `checkCredentials`: moto checks every request's signature against its own IAM users, of
 * which there are none, so any access key is refused (as a wrong one is by S3).
 */
export async function startMoto(opts: { checkCredentials?: boolean } = {}): Promise<RunningMoto> {
  const port = await freePort();
  const env = opts.checkCredentials ? { ...process.env, INITIAL_NO_AUTH_ACTION_COUNT: '0' } : process.env;
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const seen = (b: Buffer) => {
      log += b.toString();
      if (log.includes(`127.0.0.1:${port}`)) resolve();
    };
    child.stdout?.on('data', seen);
    child.stderr?.on('data', seen);
    child.once('error', (err) =>
      reject(new Error(`cannot run moto_server (pip install "moto[server]"): ${err.message}`)),
    );
    child.once('exit', (code) => reject(new Error(`moto_server exited ${code}: ${log}`)));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    credentials: { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1' },
    stop: () => stop(child),
  };
}

let buckets = 0;

/** A new, empty bucket on `moto`; its name. */
export async function createBucket(moto: RunningMoto): Promise<string> {
  const bucket = `ingot-test-${process.pid}-${++buckets}`;
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: moto.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
  return bucket;
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
