import { Command, CommanderError } from 'commander';
import { auditCommand } from '../cli/commands/audit.command.js';
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
import { imageImportCommand, importArgv } from '../cli/commands/image-import.command.js';
import { imageListCommand, imageShowCommand } from '../cli/commands/image-query.command.js';
import { imagetypeCommand } from '../cli/commands/imagetype.command.js';
import { jobCommand } from '../cli/commands/job.command.js';
import { nodeCommand, nodesCommand } from '../cli/commands/node.command.js';
import { peerCommands, verbGroup } from '../cli/commands/peer.command.js';
import { imagePushCommand, replicationCommands } from '../cli/commands/replication.command.js';
import { seriesCommand } from '../cli/commands/series.command.js';
import { exportSnapshot } from '../cli/commands/snapshot.command.js';
import { statusCommand } from '../cli/commands/status.command.js';
import { templateCommand } from '../cli/commands/template.command.js';
import { tokenCommand } from '../cli/commands/token.command.js';
import { updateCommand } from '../cli/commands/update.command.js';
import { workingcopyCommand } from '../cli/commands/workingcopy.command.js';
import { endQuietlyOnClosedPipe } from '../cli/output.js';
import { ERROR_CODES, EXIT_OK, EXIT_USAGE, IngotError } from '../core/errors.js';
import { serveCommand } from './serve.command.js';
import { importSnapshotCommand } from './snapshot-import.command.js';
import { VERSION } from './version.js';

/** The composition root of the `ingot` command. Returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  endQuietlyOnClosedPipe();
  const program = buildProgram();
  try {
    await program.parseAsync(importArgv(argv));
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
    .option('--token <token>', "API token (default: INGOT_TOKEN, else $INGOT_HOME/token, the admin's)")
    .option(
      '--cacert <file>',
      "https: trust the server's certificate or its CA in this PEM file (default: INGOT_CACERT)",
    )
    .option(
      '--pin <sha256>',
      "https: the server's certificate must have this SHA-256 fingerprint (default: INGOT_PIN, else server.json's for the server of INGOT_HOME)",
    )
    .exitOverride();
  program.addHelpText('after', exitCodeHelp());
  helpCommand(program);
  serveCommand(program);
  statusCommand(program);
  const image = program.command('image').description('Gold images: add, list, show, deploy, verify, delete');
  imageAddCommand(image);
  imageImportCommand(image);
  imageListCommand(image);
  imageShowCommand(image);
  imageDeployCommand(image);
  imageStateCommand(image);
  imageVerifyCommand(image);
  imageDeleteCommand(image);
  imagetypeCommand(program);
  seriesCommand(program);
  jobCommand(program);
  nodesCommand(program);
  nodeCommand(program);
  updateCommand(program);
  gcCommand(program);
  workingcopyCommand(program);
  peerCommands(program);
  exportSnapshot(verbGroup(program, 'export', 'Export this server’s data'));
  importSnapshotCommand(verbGroup(program, 'import', 'Import a snapshot of a server'));
  replicationCommands(program, image);
  imagePushCommand(image);
  templateCommand(program);
  followCommands(program);
  bundleCommands(program);
  tokenCommand(program);
  auditCommand(program);
  for (const cmd of [program, ...allCommands(program)]) {
    // The parser's own refusals are reported like every other error (reportError), once.
    cmd.configureOutput({ outputError: () => {} }).exitOverride((err) => {
      throw HELP_ENDINGS.has(err.code) ? err : usageError(err, cmd);
    });
  }
  return program;
}

/** Commander's endings that printed help or the version themselves. */
const HELP_ENDINGS = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

/** `ingot help image add`: the help of a command at any depth (commander's takes one word). */
function helpCommand(program: Command): void {
  program
    .command('help [command...]')
    .description('Show the help of a command, e.g. `ingot help image add`')
    .action((words: string[]) => {
      let cmd = program;
      for (const word of words) {
        const sub = cmd.commands.find((c) => c.name() === word || c.aliases().includes(word));
        if (!sub) {
          throw new IngotError('INVALID_ARGUMENT', `unknown command ${JSON.stringify(words.join(' '))}`, {
            hint: `see \`${commandPath(cmd)} --help\` for its commands`,
          });
        }
        cmd = sub;
      }
      cmd.outputHelp();
    });
}

/** A command line commander refused (unknown option, missing argument), in our words. */
function usageError(err: CommanderError, cmd: Command): IngotError {
  const [first = err.message, ...rest] = err.message.replace(/^error: /, '').split('\n');
  const suggestion = rest.join(' ').replace(/^\((.*)\)$/, '$1');
  const usage = `see \`${commandPath(cmd)} --help\``;
  return new IngotError('INVALID_ARGUMENT', first, {
    hint: suggestion ? `${suggestion} (${usage})` : usage,
  });
}

function commandPath(cmd: Command): string {
  return cmd.parent ? `${commandPath(cmd.parent)} ${cmd.name()}` : cmd.name();
}

function allCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)]);
}

function reportError(err: unknown): number {
  // Help and version end through here; help shown for an incomplete command is a usage error.
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
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
