/**
 * A node's side of a roll (docs/design.md, "Rolling self-update"). When the leader asks
 * this node to install (its step in `install`), it claims the step, installs the release
 * beside the running one, stops (listeners closed, jobs handed back, leader lease let go),
 * and starts the new release's bin with the same arguments and node id, which takes the
 * same ports. It exits once the new process serves (it wrote server.json); if the new one
 * exits or does not serve in time, it records why and starts its own release again.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type pino from 'pino';
import { openDatabase } from '../db/index.js';
import type { NodeRegistry } from '../jobs/node-registry.js';
import type { ReleaseService } from '../jobs/release.service.js';
import { RESTART_TIMEOUT_MS, type RollService } from '../jobs/roll.service.js';
import { type StepRow, UpdatePlanRepository } from '../jobs/update-plan.repository.js';
import type { HomePaths } from '../store/paths.js';
import { installRelease } from './release-install.js';
import type { Tickable } from './scheduler.js';

/** The environment variable that hands a restarted process its node id. */
export const NODE_ID_ENV = 'INGOT_NODE_ID';

export interface SelfRestartDeps {
  readonly nodes: NodeRegistry;
  readonly rolls: RollService;
  readonly releases: ReleaseService;
  readonly paths: HomePaths;
  /** The running release's root (its bin/, dist/ and node_modules). */
  readonly packageRoot: string;
  readonly dbUrl: string;
  readonly logger: pino.Logger;
  /** Stops this server (graceful: requests in flight finish). */
  stop(): Promise<void>;
}

type Started = { ok: true } | { ok: false; why: string };

/** Every node's tick: takes its step of a roll when the leader asks. */
export function selfUpdater(deps: SelfRestartDeps): Tickable {
  let busy = false;
  return {
    what: 'self update',
    async tick() {
      if (busy) return;
      const claimed = await deps.rolls.claimInstall(deps.nodes.id);
      if (!claimed) return;
      busy = true;
      // Not awaited: stopping waits for the tick in flight, this one.
      void restart(deps, claimed.plan.version, claimed.step).catch((err: unknown) => {
        deps.logger.error({ err }, 'self update failed');
        busy = false;
      });
    },
  };
}

async function restart(deps: SelfRestartDeps, version: string, step: StepRow): Promise<void> {
  const { logger } = deps;
  let dir: string;
  try {
    dir = await installRelease(deps.paths, version, await deps.releases.tarball(version), deps.packageRoot);
  } catch (err) {
    await deps.rolls.failed(step, 'restarting', `install of ${version} failed: ${(err as Error).message}`);
    await deps.nodes.undrain(deps.nodes.id);
    throw err;
  }
  logger.info({ version, release: dir }, 'restarting on the new release');
  await deps.stop();
  const started = await startServe(deps, join(dir, 'bin', 'ingot.js'));
  if (started.ok) process.exit(0);
  const why = `ingot ${version} ${started.why}; restarted on ${step.from_version}`;
  process.stderr.write(`ingot: ${why}\n`);
  await recordFailure(deps.dbUrl, step, why);
  const back = await startServe(deps, process.argv[1] as string);
  if (!back.ok) process.stderr.write(`ingot: the old release did not come back either: ${back.why}\n`);
  process.exit(back.ok ? 0 : 1);
}

/** Starts `bin serve` with this process's arguments and node id; settles once it serves or fails. */
function startServe(deps: SelfRestartDeps, bin: string): Promise<Started> {
  const child = spawn(process.execPath, [...process.execArgv, bin, ...process.argv.slice(2)], {
    env: { ...process.env, [NODE_ID_ENV]: deps.nodes.id },
    stdio: 'inherit',
  });
  return new Promise((resolve) => {
    let poll: NodeJS.Timeout | undefined;
    const finish = (r: Started) => {
      clearTimeout(timer);
      clearInterval(poll);
      child.removeAllListeners('exit');
      if (!r.ok && child.exitCode === null) child.kill('SIGKILL');
      child.unref();
      resolve(r);
    };
    const timer = setTimeout(
      () => finish({ ok: false, why: `did not serve within ${RESTART_TIMEOUT_MS / 1000} s` }),
      RESTART_TIMEOUT_MS,
    );
    child.once('exit', (code, signal) =>
      finish({ ok: false, why: `exited with ${signal ?? `code ${code}`} before it served` }),
    );
    child.once('error', (err) => finish({ ok: false, why: `did not start: ${err.message}` }));
    // server.json is written once a server listens and has recorded itself serving.
    poll = setInterval(() => {
      void readFile(deps.paths.serverInfo, 'utf8')
        .then((text) => {
          if ((JSON.parse(text) as { pid?: number }).pid === child.pid) finish({ ok: true });
        })
        .catch(() => undefined);
    }, 100);
  });
}

async function recordFailure(dbUrl: string, step: StepRow, why: string): Promise<void> {
  const db = await openDatabase({ url: dbUrl });
  try {
    const now = new Date().toISOString();
    await new UpdatePlanRepository(db.kysely).move(step, 'restarting', 'failed', now, {
      error: why,
      ended_at: now,
    });
  } finally {
    await db.close();
  }
}
