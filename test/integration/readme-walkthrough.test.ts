import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, outcome, REPO, runCli, startIngot, tempDir } from '../support/ingot.js';

/** The indented shell block under a README heading, as a reader would paste it. */
function readmeBlock(heading: string): string {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const after = readme.split(`\n${heading}\n`)[1];
  if (after === undefined) throw new Error(`README has no heading ${heading}`);
  const lines: string[] = [];
  for (const line of after.split('\n')) {
    if (line.startsWith('    ')) lines.push(line.slice(4));
    else if (lines.length > 0 && line.trim() !== '') break;
  }
  return lines.join('\n');
}

/** Pids of the walkthrough's servers still alive 15 s after it ended (then killed). */
async function serversStillRunning(demo: string): Promise<number[]> {
  const pids = ['fpps1', 'fpps2'].flatMap((h) => {
    try {
      return [JSON.parse(readFileSync(join(demo, h, 'server.json'), 'utf8')).pid as number];
    } catch {
      return [];
    }
  });
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + 15_000;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const left = pids.filter(alive);
  for (const pid of left) process.kill(pid, 'SIGKILL');
  return left;
}

describe('the README', () => {
  it('two servers on one host: the walkthrough runs as written in bash', async () => {
    const home = tempDir('ingot-readme-');
    mkdirSync(join(home, 'bin'));
    writeFileSync(join(home, 'bin', 'ingot'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
    chmodSync(join(home, 'bin', 'ingot'), 0o755);
    const script = readmeBlock('### Two servers on one host');
    expect(script).toContain('image pull APP_1_0 --server FPPS_1');
    writeFileSync(join(home, 'walkthrough.sh'), script);
    // -e as a careful reader would run it; the trap stops the servers where a step fails.
    const child = spawn(
      'bash',
      ['-e', '-c', 'trap "kill $(jobs -p) 2>/dev/null || true" EXIT; source walkthrough.sh'],
      {
        cwd: home,
        env: {
          ...process.env,
          HOME: home,
          PATH: `${join(home, 'bin')}:${process.env.PATH ?? ''}`,
          INGOT_HOME: undefined,
          INGOT_SERVER: undefined,
          INGOT_TOKEN: undefined,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const r = await outcome(child);
    // The walkthrough's last line stops both servers: none may be left running.
    const left = await serversStillRunning(join(home, 'ingot-demo'));
    expect(r.stderr).toBe('');
    expect(left).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('APP_1_0: received from FPPS_1');
    expect(r.stdout.trimEnd().endsWith('deployed as added')).toBe(true);
  }, 120_000);
});

describe('ingot status', () => {
  it('says UNAVAILABLE (exit 69) for a home with no server, also after waiting', async () => {
    const home = tempDir('ingot-status-');
    const now = await runCli(['status'], { INGOT_HOME: home });
    expect(now.code).toBe(69);
    expect(now.stderr).toContain('UNAVAILABLE');
    const waited = await runCli(['status', '--wait', '0.5'], { INGOT_HOME: home });
    expect(waited.code).toBe(69);
    expect((await runCli(['status', '--wait', 'soon'], { INGOT_HOME: home })).code).toBe(2);
  });

  it('waits for a server being started, then reports it ready', async () => {
    const home = tempDir('ingot-status-');
    const asking = runCli(['status', '--wait', '60', '--json'], { INGOT_HOME: home });
    const server = await startIngot({ home, name: 'STATUS_1' });
    try {
      const r = await asking;
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ status: 'ok', name: 'STATUS_1', url: server.url });
    } finally {
      await server.stop();
    }
  }, 90_000);
});
