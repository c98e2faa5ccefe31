import type { Command } from 'commander';
import { IngotError } from '../core/errors.js';
import type { ApiClient } from '../transfer/http-client.js';
import { connect, type GlobalOptions } from './context.js';

/**
 * Shared plumbing for command files: global options and a connected client whose
 * connections are closed whatever happens.
 */
export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

export async function withClient<T>(
  cmd: Command,
  fn: (client: ApiClient, g: GlobalOptions) => Promise<T>,
): Promise<T> {
  const g = globals(cmd);
  const client = await connect(g);
  try {
    return await fn(client, g);
  } finally {
    await client.close();
  }
}

/** Example lines for `--help`, so every command teaches its own use. */
export function examples(cmd: Command, lines: readonly string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

/**
 * The answer of a call, or undefined when the token's role may not make it: for the routes
 * that make the server read a path of its own (admin only), which a CLI with a lesser
 * token then does itself, by the upload route.
 */
export async function unlessForbidden<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof IngotError && err.code === 'FORBIDDEN') return undefined;
    throw err;
  }
}
