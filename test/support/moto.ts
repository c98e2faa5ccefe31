/**
 * A throwaway S3 for the tests that need one: `moto_server` on loopback at a free port,
 * stopped after. Where moto is absent the tests fail, never skip (scripts/test.sh installs
 * it with pip).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { freePort } from './ingot.js';

export interface RunningMoto {
  readonly endpoint: string;
  stop(): Promise<void>;
}

export async function startMoto(): Promise<RunningMoto> {
  const port = await freePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
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
  return { endpoint: `http://127.0.0.1:${port}`, stop: () => stop(child) };
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
