import { type ChildProcess, spawn } from 'node:child_process';

/**
 * A helper process of the benchmark's own, written in TypeScript under bench/lib and run by
 * the Node that runs the benchmark (its execPath and loader flags), optionally behind a
 * command prefix such as `ip netns exec NS`. A service prints {"port":N} once it listens and
 * serves until stopped.
 */

export function nodeCommand(
  prefix: readonly string[],
  script: string,
  args: readonly string[],
): [string, string[]] {
  const [file, ...argv] = [...prefix, process.execPath, ...process.execArgv, script, ...args];
  return [file as string, argv];
}

export class NodeService {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static start(
    prefix: readonly string[],
    script: string,
    args: readonly string[],
    what: string,
  ): Promise<NodeService> {
    const [file, argv] = nodeCommand(prefix, script, args);
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    return new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${what} did not listen within 20 s: ${err}`));
      }, 20_000);
      child.stderr?.on('data', (b: Buffer) => {
        err += b.toString();
      });
      child.stdout?.on('data', (b: Buffer) => {
        out += b.toString();
        const nl = out.indexOf('\n');
        if (nl < 0) return;
        clearTimeout(timer);
        resolve(new NodeService(child, (JSON.parse(out.slice(0, nl)) as { port: number }).port));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${what} exited ${code}: ${err}`));
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const done = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await done;
  }
}
