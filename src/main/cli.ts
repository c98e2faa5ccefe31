import { Command, CommanderError } from 'commander';
import { bundleCommands } from '../cli/commands/bundle.command.js';
import { followCommands } from '../cli/commands/follow.command.js';
import { imageAddCommand } from '../cli/commands/image-add.command.js';
import {
  gcCommand,
  imageDeleteCommand,
  imageStateCommand,
  imageVerifyCommand,
} from '../cli/commands/image-admin.command.js';
import { imageDeployCommand } from '../cli/commands/image-deploy.command.js';
import { imageListCommand, imageShowCommand } from '../cli/commands/image-query.command.js';
import { imagetypeCommand } from '../cli/commands/imagetype.command.js';
import { jobCommand } from '../cli/commands/job.command.js';
import { peerCommands } from '../cli/commands/peer.command.js';
import { imagePushCommand, replicationCommands } from '../cli/commands/replication.command.js';
import { seriesCommand } from '../cli/commands/series.command.js';
import { templateCommand } from '../cli/commands/template.command.js';
import { ERROR_CODES, EXIT_OK, EXIT_USAGE, IngotError } from '../core/errors.js';
import { serveCommand } from './serve.command.js';
import { VERSION } from './version.js';

/** The composition root of the `ingot` command. Returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[]);
    return EXIT_OK;
  } catch (err) {
    return reportError(err);
  }
}

export function buildProgram(): Command {
  const program = new Command('ingot')
    .description('Ingot stores gold images and moves them between provisioning servers.')
    .version(VERSION)
    .option('--url <url>', 'server API to talk to (default: INGOT_SERVER, else the server of INGOT_HOME)')
    .option('--token <token>', 'admin token (default: INGOT_TOKEN, else $INGOT_HOME/token)')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  program.addHelpText('after', exitCodeHelp());
  serveCommand(program);
  const image = program.command('image').description('Gold images: add, list, show, deploy, verify, delete');
  imageAddCommand(image);
  imageListCommand(image);
  imageShowCommand(image);
  imageDeployCommand(image);
  imageStateCommand(image);
  imageVerifyCommand(image);
  imageDeleteCommand(image);
  imagetypeCommand(program);
  seriesCommand(program);
  jobCommand(program);
  gcCommand(program);
  peerCommands(program);
  replicationCommands(program, image);
  imagePushCommand(image);
  templateCommand(program);
  followCommands(program);
  bundleCommands(program);
  for (const cmd of allCommands(program)) cmd.exitOverride();
  return program;
}

function allCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)]);
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Help and version end through here too, with exit code 0.
    return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  if (err instanceof IngotError) {
    process.stderr.write(`ingot: error [${err.code}]: ${err.message}\n`);
    if (err.details) process.stderr.write(`  details: ${JSON.stringify(err.details)}\n`);
    if (err.hint) process.stderr.write(`  hint: ${err.hint}\n`);
    return err.exitCode;
  }
  process.stderr.write(`ingot: ${err instanceof Error ? err.message : String(err)}\n`);
  return ERROR_CODES.INTERNAL.exit;
}

function exitCodeHelp(): string {
  const byExit = new Map<number, string[]>();
  for (const [code, spec] of Object.entries(ERROR_CODES)) {
    byExit.set(spec.exit, [...(byExit.get(spec.exit) ?? []), code]);
  }
  const lines = [...byExit.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([n, codes]) => `  ${n}  ${codes.join(', ')}`);
  return `\nExit codes:\n  0  success\n${lines.join('\n')}\n\nDocs: docs/cli.md (commands), docs/store-format.md (store and manifest format)\n`;
}
