import type { Command } from 'commander';
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
