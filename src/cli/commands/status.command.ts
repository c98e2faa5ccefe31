import type { Command } from 'commander';
import { IngotError } from '../../core/errors.js';
import { examples, globals } from '../command-kit.js';
import { connect } from '../context.js';
import { printFields, printJson } from '../output.js';

interface Health {
  status: 'ok';
  name: string;
  version: string;
}

/** A server is ready when it answers /healthz, which asks its database. */
async function askHealth(cmd: Command): Promise<{ url: string; health: Health }> {
  const client = await connect(globals(cmd));
  try {
    return { url: client.baseUrl, health: await client.json<Health>('GET', '/healthz') };
  } finally {
    await client.close();
  }
}

/**
 * Asks until the server answers or `seconds` have gone: a server being started (no
 * server.json yet, its port not yet listening, its database not yet open) is UNAVAILABLE,
 * which is worth waiting out; any other refusal is not.
 */
async function waitForHealth(cmd: Command, seconds: number): Promise<{ url: string; health: Health }> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      return await askHealth(cmd);
    } catch (err) {
      const waiting = err instanceof IngotError && err.code === 'UNAVAILABLE';
      if (!waiting || Date.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export function statusCommand(program: Command): void {
  const cmd = program
    .command('status')
    .description(
      'Whether the server answers and is ready (its database answers): its name, version and URL. ' +
        'Exits 69 (UNAVAILABLE) when it does not; with --wait, asks until it does',
    )
    .option('--wait <seconds>', 'keep asking for up to this many seconds, for a server being started')
    .option('--json', 'print JSON')
    .action(async (opts: { wait?: string }, self: Command) => {
      const seconds = opts.wait === undefined ? 0 : Number(opts.wait);
      if (!Number.isFinite(seconds) || seconds < 0 || seconds > 3600) {
        throw new IngotError('INVALID_ARGUMENT', `invalid --wait ${JSON.stringify(opts.wait)}`, {
          hint: 'a number of seconds from 0 to 3600',
        });
      }
      const { url, health } = await waitForHealth(self, seconds);
      if (globals(self).json) return printJson({ ...health, url });
      printFields([
        ['name', health.name],
        ['version', health.version],
        ['url', url],
        ['status', 'ready'],
      ]);
    });
  examples(cmd, ['ingot status', 'ingot status --wait 30 --json']);
}
